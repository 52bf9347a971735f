"""Command line: ``python -m vizlab render [SCENE ...] --quality l|m|h --out DIR``, ``python -m vizlab slides
[SCENE ...] --quality l|m|h --out DIR`` and ``python -m vizlab list``.

``render`` renders the named scenes (all, in story order, by default) to ``DIR/<SceneName>.mp4`` plus a
last-frame poster ``DIR/<SceneName>.png``, skipping scenes whose code and inputs are unchanged since the
last render into ``DIR`` (``DIR/manifest.json``; ``--force`` renders anyway).  ``slides`` renders the same
scenes as slide decks and writes one offline RevealJS presentation, a PDF handout and a deck per scene
(``vizlab.slides``; default ``DIR`` ``book/_static/slides``).  Exit codes: 0 success, 1 some scene failed to
render (the others are still rendered) or the decks could not be built, 2 usage error (unknown scene or
option, an ``--out`` that is a file, lies under a file or holds a NUL byte: checked before anything renders).
Every error is one line ``error: ...``; a reader that closes stdout early (``list | head``) ends it quietly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vizlab.scenes import SCENE_NAMES, SCENES

_ROOT = Path(__file__).resolve().parents[1]
# in a checkout, media/videos beside the code; installed from the wheel (no pyproject.toml above the package,
# which lies in site-packages), media/videos under the current folder, never inside site-packages
DEFAULT_OUT = (_ROOT if (_ROOT / "pyproject.toml").is_file() else Path()) / "media" / "videos"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not the usage block
        self.exit(2, f"error: {' '.join(message.split())} (see {self.prog} --help)\n")


def _out_path(raw: str) -> Path:
    if not raw.strip() or "\x00" in raw:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a usable folder: give a folder name (not empty, no NUL byte)")
    return Path(raw)


_out_path.__name__ = "folder"


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m vizlab", description="Render ELBO Lab's lecture animations.")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    r = sub.add_parser("render", help="render scenes to DIR/<SceneName>.mp4 (all by default)")
    r.add_argument("scenes", nargs="*", metavar="SCENE", help="scene names (see `list`); default: all")
    r.add_argument("--quality", "-q", choices=["l", "m", "h"], default="l",
                   help="l = 480p15 (default), m = 720p30, h = 1080p60")
    r.add_argument("--out", type=_out_path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    r.add_argument("--force", action="store_true", help="render even if unchanged")
    sl = sub.add_parser("slides", help="render slide decks: one offline HTML presentation + a PDF handout")
    sl.add_argument("scenes", nargs="*", metavar="SCENE", help="scene names (see `list`); default: all")
    sl.add_argument("--quality", "-q", choices=["l", "m", "h"], default="l",
                    help="l = 480p15 (default), m = 720p30, h = 1080p60 (for the lecture hall)")
    sl.add_argument("--out", type=_out_path, default=None,
                    help="output directory (default book/_static/slides in a checkout, ./slides when installed)")
    sl.add_argument("--force", action="store_true", help="render even if unchanged")
    sub.add_parser("list", help="list the scenes in story order")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (0, 1 a scene or the decks failed, 2 usage)."""
    from training.cli import run_main

    # one line for every error (a closed pipe: quiet, exit 0; a disk or permission error: named, exit 1)
    return run_main(lambda: _main(argv), memory_hint="render fewer scenes at once or a lower --quality")


def _main(argv: list[str] | None) -> int:
    from training.cli import check_folder
    from training.io import UsageError

    args = _parser().parse_args(argv)
    if args.cmd == "list":
        for s in SCENES:
            print(f"{s.name:<22} {s.module:<16} {s.summary}")
        sys.stdout.flush()
        return 0
    unknown = [n for n in args.scenes if n not in SCENE_NAMES]
    if unknown:
        print(f"error: unknown scene {', '.join(map(repr, unknown))}; valid: {', '.join(SCENE_NAMES)}",
              file=sys.stderr)
        return 2
    if args.cmd == "slides":
        from vizlab.slides import DEFAULT_OUT as SLIDES_OUT

        args.out = args.out or SLIDES_OUT
    try:  # a file, a path under a file (or under /dev/null), an unwritable folder: refused before any render
        args.out = check_folder(args.out, "--out")
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.cmd == "slides":
        from vizlab.slides import SlidesError, build_slides

        try:
            build_slides(args.scenes or None, quality=args.quality, out=args.out, force=args.force)
        except SlidesError as exc:
            print(f"error: vizlab slides: {' '.join(str(exc).split())}", file=sys.stderr)
            return 1
        return 0
    from vizlab.render import render

    results = render(args.scenes or None, quality=args.quality, out=args.out, force=args.force)
    return 1 if any(r.status == "failed" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

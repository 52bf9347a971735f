"""``python -m vizlab slides``: every scene as an offline RevealJS slide deck, one presentation, a PDF handout.

Each scene is a ``vizlab.lecture.LectureScene`` (a manim-slides ``Slide``): one render gives its video and
its slides (a clip per ``self.step(...)``, with the step's speaker notes).  ``build_slides`` renders the
scenes (skipping unchanged ones, as ``python -m vizlab render`` does) and converts them with manim-slides'
converters into ``OUT`` (default ``book/_static/slides``)::

    OUT/elbo-lab.html           all scenes in story order, one presentation (assets in elbo-lab_assets/)
    OUT/elbo-lab.pdf            the handout: the last frame of every slide
    OUT/<SceneName>.html        one deck per scene, for the book's chapters (assets in <SceneName>_assets/)
    OUT/slides.json             scene -> its deck, its first slide in the presentation, its slide count
    OUT/reveal.js/dist/...      the RevealJS files the decks load (copied from the npm package)
    OUT/_build/                 the renders (videos, manifest, manim-slides' JSON and clips)

Nothing is fetched at run time: manim-slides' template loads RevealJS from ``cdn_url``, which is set to the
local copy ``reveal.js`` (relative to the decks), taken from the npm package ``reveal.js`` installed by
``scripts/setup.sh`` into ``.venv/npm`` (``$ELBO_LAB_REVEALJS`` points elsewhere).  The version matches
manim-slides' ``reveal_version``.  Present with any browser: open ``OUT/elbo-lab.html``; ``S`` opens the
speaker view with the notes, arrows or space advance.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from vizlab.render import render
from vizlab.scenes import SCENES, get_spec

__all__ = ["SlidesError", "SlidesResult", "DEFAULT_OUT", "PRESENTATION", "revealjs_dir", "build_slides"]

REPO_ROOT = Path(__file__).resolve().parents[1]
_CHECKOUT = (REPO_ROOT / "pyproject.toml").is_file()  # False when installed from the wheel (site-packages)
DEFAULT_OUT = REPO_ROOT / "book" / "_static" / "slides" if _CHECKOUT else Path("slides")
PRESENTATION = "elbo-lab"  # OUT/elbo-lab.html, OUT/elbo-lab.pdf
ENV_REVEALJS = "ELBO_LAB_REVEALJS"
DEFAULT_REVEALJS = REPO_ROOT / ".venv" / "npm" / "node_modules" / "reveal.js"
#: The files of the npm package that manim-slides' RevealJS template loads (paths under the package).
REVEAL_FILES = ("dist/reveal.css", "dist/reset.css", "dist/reveal.js", "dist/theme/black.css",
                "dist/plugin/notes.js", "dist/plugin/markdown.js", "dist/plugin/highlight/zenburn.css")
LOCAL_CDN = "reveal.js"  # the decks' cdn_url: OUT/reveal.js, relative to the decks


class SlidesError(RuntimeError):
    """A deck cannot be built (RevealJS missing, a scene failed); the message is one line with the fix."""


@dataclass
class SlidesResult:
    presentation: Path
    pdf: Path
    decks: dict[str, Path] = field(default_factory=dict)
    index: dict = field(default_factory=dict)
    renders: list = field(default_factory=list)  # vizlab.render.RenderResult per scene


def revealjs_dir() -> Path:
    """The npm package ``reveal.js`` (``$ELBO_LAB_REVEALJS``, else ``.venv/npm/node_modules/reveal.js``).

    Raises ``SlidesError`` if any file of ``REVEAL_FILES`` is missing."""
    root = Path(os.environ.get(ENV_REVEALJS) or DEFAULT_REVEALJS)
    missing = [f for f in REVEAL_FILES if not (root / f).is_file()]
    if missing:
        raise SlidesError(f"reveal.js not found at {root} (missing {missing[0]}): run scripts/setup.sh, which "
                          f"installs it with npm, or set {ENV_REVEALJS}")
    return root


def _copy_revealjs(src: Path, out: Path) -> None:
    for rel in REVEAL_FILES:
        dst = out / LOCAL_CDN / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, dst)


def _reveal_version(src: Path) -> str:
    return json.loads((src / "package.json").read_text())["version"]


def build_slides(names: list[str] | None = None, quality: str = "l", out: Path | str = DEFAULT_OUT,
                 force: bool = False, log=print) -> SlidesResult:
    """Render ``names`` (all scenes by default, in story order) and write the decks, the presentation and
    the PDF handout into ``out`` (layout in the module docstring).

    Raises ``KeyError`` for an unknown scene, ``SlidesError`` if RevealJS is missing or a scene fails."""
    from manim_slides.config import PresentationConfig
    from manim_slides.convert import PDF, RevealJS

    specs = [get_spec(n) for n in names] if names else list(SCENES)
    reveal = revealjs_dir()  # fail before rendering anything
    out = Path(out).resolve()
    build = out / "_build"
    results = render([s.name for s in specs], quality=quality, out=build / "videos", force=force, log=log,
                     slides_dir=build / "scenes")
    failed = [r for r in results if r.status == "failed"]
    if failed:
        raise SlidesError(f"{len(failed)} scene(s) failed to render: "
                          + "; ".join(f"{r.name}: {r.error}" for r in failed))
    _copy_revealjs(reveal, out)
    configs = {s.name: PresentationConfig.from_file(build / "scenes" / f"{s.name}.json") for s in specs}
    common = {"cdn_url": LOCAL_CDN, "reveal_version": _reveal_version(reveal), "background_color": "black"}
    res = SlidesResult(out / f"{PRESENTATION}.html", out / f"{PRESENTATION}.pdf", renders=results)
    first = 0
    for spec in specs:
        cfg = configs[spec.name]
        deck = out / f"{spec.name}.html"
        RevealJS(presentation_configs=[cfg], title=f"ELBO Lab: {spec.summary}", **common).convert_to(deck)
        res.decks[spec.name] = deck
        res.index[spec.name] = {"deck": deck.name, "presentation": f"{res.presentation.name}#/{first}",
                                "first_slide": first, "slides": len(cfg.slides), "summary": spec.summary}
        first += len(cfg.slides)
    RevealJS(presentation_configs=list(configs.values()), title="ELBO Lab", **common).convert_to(res.presentation)
    with contextlib.redirect_stderr(io.StringIO()):  # manim-slides' PDF converter draws a progress bar
        PDF(presentation_configs=list(configs.values())).convert_to(res.pdf)
    (out / "slides.json").write_text(json.dumps({"presentation": res.presentation.name, "pdf": res.pdf.name,
                                                 "quality": quality, "scenes": res.index}, indent=2) + "\n")
    log(f"slides: {first} slides of {len(specs)} scenes -> {res.presentation}, {res.pdf.name}, "
        f"{len(res.decks)} scene decks")
    return res

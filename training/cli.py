"""The validation layer shared by the trainer's commands (``train``, ``evaluate``, ``reproduce``, ``prior_study``)
and by ``python -m vizlab``.

Every option is checked while the command line is parsed, before any work and before any file is written:

- :func:`number` builds an ``argparse`` type for an integer or a float with its bounds; ``nan``, ``inf`` and
  values too large for a float are refused. :func:`config_number` takes the bounds of a
  :class:`training.config.TrainConfig` field from ``TrainConfig.BOUNDS``, so a bound shared by ``train`` and
  ``reproduce`` is written once; :func:`config_text` checks a text field (``--device``, ``--prior``) with the
  same rule ``TrainConfig.validate`` applies.
- :func:`name` checks a results name or tag: a file-name component (no separator, no ``..``, bounded length).
- :func:`check_folder` checks, without creating anything, that a folder can be created or written;
  :func:`inside` proves that a path a command is about to write lies inside the folder the user named.
- :class:`OneLineParser` prints a usage error as one line ``error: ...`` and exits with 2.
- :func:`run_main` runs a command and turns every error into one line on stderr with the documented exit code
  (2 usage, 1 failure, 130 interrupted), including out of memory, permission and disk errors, and a reader that
  closed the pipe early (quiet, exit 0).

Nothing here imports torch at module level.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import sys
from pathlib import Path
from typing import Callable

from .io import NAME_RE, TrainingError, UsageError


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (problem, then where the help is), exit code 2."""

    def error(self, message: str):
        self.exit(2, f"error: {' '.join(message.split())} (see {self.prog} --help)\n")


def _parse(raw: str, kind: type) -> int | float:
    text = raw.strip()
    if kind is int:
        if not text.lstrip("+-").isascii() or not text.lstrip("+-").isdigit() or len(text) > 30:
            raise argparse.ArgumentTypeError(f"{raw!r} is not an integer")
        return int(text)
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"{raw!r} is not a finite number")
    return v


def number(kind: type, lo: float, hi: float, *, lo_open: bool = False, what: str = "") -> Callable[[str], int | float]:
    """An ``argparse`` type: ``kind`` (``int`` or ``float``) within ``[lo, hi]`` (``(lo, hi]`` if ``lo_open``).

    The error (shown after ``argument --FLAG:``) names the value and the range to use; ``what`` adds a word on
    the meaning (e.g. ``"0 = never"``).
    """
    word = "an integer" if kind is int else "a number"
    rng = f"greater than {lo} and at most {hi}" if lo_open else f"from {lo} to {hi}"
    hint = f" ({what})" if what else ""

    def convert(raw: str):
        try:
            v = _parse(raw, kind)
        except argparse.ArgumentTypeError as e:
            raise argparse.ArgumentTypeError(f"{e}: use {word} {rng}{hint}") from None
        if not ((lo < v) if lo_open else (lo <= v)) or not v <= hi:
            raise argparse.ArgumentTypeError(f"{raw!r} is out of range: use {word} {rng}{hint}")
        return v

    convert.__name__ = kind.__name__  # argparse names the type in some messages
    return convert


def config_number(field: str, *, lo: float | None = None, hi: float | None = None, what: str = ""):
    """:func:`number` with the bounds of ``TrainConfig.BOUNDS[field]`` (optionally narrowed by ``lo``/``hi``)."""
    from .config import TrainConfig

    f_lo, f_hi = TrainConfig.BOUNDS[field]
    kind = float if isinstance(f_lo, float) or isinstance(f_hi, float) else int
    return number(kind, f_lo if lo is None else max(lo, f_lo), f_hi if hi is None else min(hi, f_hi), what=what)


_FIELD_DEFAULT = object()  # add_config_option: the field's own default

#: Bounds of ``evaluate``'s numeric options (also ``reproduce``'s and ``prior_study``'s): name -> (lowest, highest).
#: At least 2 IWAE images: the bound's standard error is over images.
EVALUATE_BOUNDS = {"iwae_k": (1, 100_000), "iwae_images": (2, 10_000), "train_subset": (2, 60_000),
                   "threads": (0, 256)}


def eval_number(field: str, *, lo: int | None = None, what: str = ""):
    """:func:`number` (integers) with the bounds of :data:`EVALUATE_BOUNDS` ``[field]``."""
    f_lo, f_hi = EVALUATE_BOUNDS[field]
    return number(int, f_lo if lo is None else max(lo, f_lo), f_hi, what=what)


def add_config_option(p: argparse.ArgumentParser, field: str, *, help_prefix: str = "", help_suffix: str = "",
                      default=_FIELD_DEFAULT, checked: bool = True) -> None:
    """Add the option of :class:`training.config.TrainConfig` field ``field`` to ``p``, made from the field itself:
    the flag (``--field-name``), the help text (``metadata["help"]``, with the default), the default and the type.

    ``default``: another default (e.g. ``argparse.SUPPRESS``, so that the options given are known). ``checked``:
    check the value while parsing (the field's bounds for a number, the config's own rule for a text), so a bad
    value is refused before any work; ``train`` parses unchecked and lets the config refuse it, naming the field.
    Used by ``train`` (every field) and ``reproduce`` (the options it shares with ``train``).
    """
    import dataclasses

    from .config import TrainConfig

    f = {x.name: x for x in dataclasses.fields(TrainConfig)}[field]
    fdefault = f.default
    shown = "" if fdefault is None else " (default: %s)" % (
        " ".join(map(str, fdefault)) if isinstance(fdefault, tuple) else fdefault)
    kw = dict(dest=field, default=fdefault if default is _FIELD_DEFAULT else default,
              help=help_prefix + f.metadata["help"].replace("%", "%%") + help_suffix + shown)
    flag = "--" + field.replace("_", "-")
    if isinstance(fdefault, bool):
        p.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
    elif field == "hidden":
        p.add_argument(flag, type=int, nargs="+", metavar="WIDTH", **kw)
    elif checked:
        p.add_argument(flag, type=config_number(field) if field in TrainConfig.BOUNDS else config_text(field), **kw)
    else:
        p.add_argument(flag, type={"int": int, "float": float, "str": str}[str(f.type).removesuffix(" | None")], **kw)


def config_argv(cfg) -> list[str]:
    """The ``python -m training train`` flags that make ``cfg`` (a :class:`training.config.TrainConfig`): every field
    as ``--field-name=VALUE`` (floats by ``repr``, exact), booleans as ``--x``/``--no-x``; a ``None`` field is left
    out (its default is ``None``; on ``--resume``, the checkpoint's value, which a run's identity keeps)."""
    import dataclasses

    out: list[str] = []
    for f in dataclasses.fields(cfg):
        v, flag = getattr(cfg, f.name), "--" + f.name.replace("_", "-")
        if v is None:
            continue
        if isinstance(v, bool):
            out.append(flag if v else "--no-" + flag[2:])
        elif isinstance(v, (tuple, list)):
            out += [flag, *map(str, v)]
        else:
            out.append(f"{flag}={v!r}" if isinstance(v, float) else f"{flag}={v}")
    return out


def config_text(field: str) -> Callable[[str], str]:
    """An ``argparse`` type for a text field of :class:`training.config.TrainConfig` (``device``, ``prior``, ...),
    checked by ``TrainConfig.validate`` itself (the rule is written once, in the config)."""

    def convert(raw: str) -> str:
        from .config import ConfigError, TrainConfig

        try:
            TrainConfig(**{field: raw})  # validated as it is made
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return raw

    convert.__name__ = "text"
    return convert


def name(flag: str, *, empty_ok: bool = False, max_len: int = 64) -> Callable[[str], str]:
    """An ``argparse`` type for a name that becomes part of file names (a results name, a tag): 1 to ``max_len``
    letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit, no ``..`` (so no separator and no
    way out of the folder)."""

    def convert(raw: str) -> str:
        if raw == "" and empty_ok:
            return raw
        if not NAME_RE.fullmatch(raw) or ".." in raw or len(raw) > max_len:
            raise argparse.ArgumentTypeError(
                f"{raw!r} is not a plain name: use 1-{max_len} letters, digits, '.', '_' or '-' starting with a "
                f"letter or digit, no '/' and no '..' (e.g. {flag} run1); it becomes part of file names")
        return raw

    convert.__name__ = "name"
    return convert


def path_text(raw: str) -> str:
    """An ``argparse`` type for a path: not empty, no NUL byte (the OS would refuse it later, mid-way)."""
    if not raw.strip() or "\x00" in raw:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a usable path: give a path (not empty, no NUL byte)")
    return raw


path_text.__name__ = "path"


def check_folder(path: str | os.PathLike, flag: str) -> Path:
    """Check, creating nothing, that ``path`` is a folder or can be made one, and that it can be written;
    return it absolute (``~`` expanded, relative to the current working directory).

    Raises:
        UsageError: empty or NUL path; the path or one of its parents is a file (or a device such as
        ``/dev/null``); the nearest existing folder cannot be written. The message names ``flag``.
    """
    raw = str(path)
    if not raw.strip() or "\x00" in raw:
        raise UsageError(f"{flag} {raw!r} is not a usable path: give a folder, e.g. {flag} out")
    p = Path(raw).expanduser().absolute()
    probe = p
    while True:
        try:
            exists = probe.exists()
        except OSError as e:  # e.g. ENAMETOOLONG, ENOTDIR on a parent
            if e.errno == errno.ENOTDIR:
                raise UsageError(f"{flag} {p}: a part of this path is a file, not a folder: choose another {flag}") from None
            raise UsageError(f"{flag} {p} is not a usable path ({e.strerror}): choose another {flag}") from None
        if exists:
            break
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        where = "is" if probe == p else f"lies under {probe}, which is"
        raise UsageError(f"{flag} {p} {where} a file, not a folder: choose another {flag}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {p} cannot be written (no permission in {probe}): choose a folder you can write to")
    return p


def inside(folder: str | os.PathLike, path: str | os.PathLike, flag: str) -> Path:
    """``path`` if it lies inside ``folder`` (symlinks and ``..`` resolved), else :class:`UsageError`.

    Called on every path a command writes, so a name can never lead a write out of the folder the user named.
    """
    root = Path(folder).expanduser().resolve()
    target = Path(path).expanduser()
    resolved = (target.parent.resolve() / target.name) if target.name not in ("", ".", "..") else target.resolve()
    if resolved == root or root not in resolved.parents:
        raise UsageError(f"{path} would lie outside {flag} {root}: use a plain name (no '/', no '..')")
    return target


def is_out_of_memory(e: BaseException) -> bool:
    """Whether ``e`` is an allocation failure (``MemoryError``, torch's CPU allocator, CUDA out of memory)."""
    if isinstance(e, MemoryError):
        return True
    if type(e).__name__ == "OutOfMemoryError":
        return True
    msg = str(e).lower()
    return isinstance(e, RuntimeError) and ("can't allocate memory" in msg or "out of memory" in msg
                                            or "not enough memory" in msg)


def quiet_broken_pipe() -> None:
    """After the reader of stdout went away: point stdout at /dev/null, so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def run_main(fn: Callable[[], int | None], *, memory_hint: str = "use a smaller model or fewer samples",
             interrupted: str = "run the same command again") -> int:
    """Run ``fn`` and return its exit code; every error becomes one line ``error: ...`` on stderr.

    Exit codes: ``fn``'s own (0 if it returns None); a :class:`training.io.TrainingError`'s ``exit_code`` (2 usage,
    1 failure); 1 out of memory, disk full or another OS error (permission errors named as such); 130 Ctrl-C or
    SIGTERM (handled by the caller as ``KeyboardInterrupt``); 0 when the reader of stdout closed the pipe early.
    ``ELBO_LAB_DEBUG=1`` re-raises an unexpected error with its traceback.
    """
    try:
        rc = fn()
        sys.stdout.flush()
        return 0 if rc is None else int(rc)
    except BrokenPipeError:
        quiet_broken_pipe()
        return 0
    except TrainingError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"interrupted: files are written atomically, nothing is half-written; {interrupted}", file=sys.stderr)
        return 130
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            print(f"error: disk full ({e.filename or 'writing'}): free space and run the same command again",
                  file=sys.stderr)
        elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            print(f"error: permission denied: {e.filename or e}: choose a path you can read and write",
                  file=sys.stderr)
        else:
            print(f"error: {' '.join(str(e.strerror or e).split())} ({e.filename}): check the path and run again",
                  file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - the promise is one line, never a traceback
        if is_out_of_memory(e):
            print(f"error: out of memory ({type(e).__name__}): {memory_hint}", file=sys.stderr)
            return 1
        if os.environ.get("ELBO_LAB_DEBUG"):
            raise
        msg = " ".join(str(e).split())[:300]
        print(f"error: unexpected {type(e).__name__}: {msg} (ELBO_LAB_DEBUG=1 shows the traceback; please report "
              f"it)", file=sys.stderr)
        return 1


def run_parsed(argv, parser: argparse.ArgumentParser, body: Callable[[argparse.Namespace], int | None], *,
               memory_hint: str) -> int:
    """The usual ``main`` of a command: refuse a NUL byte, parse ``argv`` with ``parser`` (argparse's own exit
    code on ``--help`` or a usage error), run ``body(args)``, all under :func:`run_main`."""
    def go() -> int | None:
        nul_in_argv(argv)
        try:
            a = parser.parse_args(argv)
        except SystemExit as e:
            return int(e.code or 0)
        return body(a)

    return run_main(go, memory_hint=memory_hint)


def nul_in_argv(argv: list[str]) -> None:
    """:class:`UsageError` naming the option whose value holds a NUL byte (no path, name or number can)."""
    at = next((i for i, a in enumerate(argv) if "\x00" in a), None)
    if at is not None:
        flag = argv[at - 1] if at and argv[at - 1].startswith("-") else argv[at].split("=", 1)[0]
        raise UsageError(f"{flag}: the value {argv[at]!r} contains a NUL byte: remove it")


__all__ = ["OneLineParser", "number", "config_number", "eval_number", "EVALUATE_BOUNDS", "config_text", "name", "path_text", "check_folder", "inside",
           "is_out_of_memory", "quiet_broken_pipe", "run_main", "run_parsed", "nul_in_argv"]

"""``python -m derivations``: prove and check every ELBO identity; exit non-zero on any failure.

Usage::

    python -m derivations                 # the table: identity, proof, numeric check, wrong twins, seconds
    python -m derivations --only elbo_gap # one identity
    python -m derivations --json          # machine-readable (schema elbo-lab/derivations-report/v1)
    python -m derivations --list          # names in story order
    python -m derivations --seed 3 --no-twins
    python -m derivations check FILE      # check your own derivation (.md/.tex aligned block): see derivations.check

Exit codes: 0 all ok; 1 a proof, a numeric check or a wrong-twin rejection failed; 2 bad arguments.
"""
from __future__ import annotations

import argparse
import json
import sys
import time


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not the usage block
        message = " ".join(message.split())  # one line, whatever control characters the arguments held
        print(f"python -m derivations: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def _seed(raw: str) -> int:
    """``--seed``: an integer from 0 to 2**32 - 1 (NumPy's and SymPy's seeds); anything else is a usage error."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= 2**32 - 1):
        raise argparse.ArgumentTypeError(f"{raw!r} is not a seed: use an integer from 0 to {2**32 - 1}")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m derivations", description="Prove and numerically check the ELBO identities.")
    p.add_argument("--only", metavar="NAME", action="append", help="run only this identity (repeatable)")
    p.add_argument("--json", action="store_true", help="print a JSON report instead of the table")
    p.add_argument("--list", action="store_true", help="list identity names in story order and exit")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the numeric checks, 0 to 2**32 - 1 (default 0)")
    p.add_argument("--no-twins", action="store_true", help="skip the wrong-twin rejections")
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["check"]:  # python -m derivations check FILE: a derivation of your own (derivations.check)
        from derivations.check import cli

        return cli(argv[1:])
    args = _parser().parse_args(argv)
    from derivations import REGISTRY
    from derivations.report import SCHEMA, evaluate, render_table

    if args.list:
        for name, ident in REGISTRY.items():
            print(f"{name:30s} {ident.title}")
        sys.stdout.flush()
        return 0
    names = list(REGISTRY)
    if args.only:
        unknown = [n for n in args.only if n not in REGISTRY]
        if unknown:
            print(f"python -m derivations: error: unknown identity {unknown[0]!r}; known: {', '.join(REGISTRY)}",
                  file=sys.stderr)
            return 2
        names = [n for n in names if n in args.only]
    t0 = time.perf_counter()
    rows = []
    for name in names:
        rows.append(evaluate(REGISTRY[name], seed=args.seed, twins=not args.no_twins))
        if not rows[-1]["ok"]:
            _PIPE_RC[0] = 1
        if not args.json:
            print(f"  {name}: {'ok' if rows[-1]['ok'] else 'FAILED'} ({rows[-1]['seconds']['total']:.1f} s)",
                  file=sys.stderr, flush=True)
    total = time.perf_counter() - t0
    ok = all(r["ok"] for r in rows)
    if args.json:
        print(json.dumps({"schema": SCHEMA, "ok": ok, "seed": args.seed, "units": "nats",
                          "total_seconds": total, "identities": rows}, indent=2, default=float))
    else:
        render_table(rows, total)
    sys.stdout.flush()  # a closed pipe shows here, inside main, not at the interpreter's exit
    return 0 if ok else 1


_PIPE_RC = [0]  # the exit code to give if the reader goes away (1 once an identity failed)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null after its reader went away, so the interpreter's last flush is quiet too."""
    import os

    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):
        pass


def run(argv=None) -> int:
    """:func:`main` for the command line: a reader that closes stdout early (``| head``, ``| true``) ends it
    quietly, with the exit code of the identities checked so far (0 for ``--list``), never a traceback."""
    try:
        return main(argv)
    except BrokenPipeError:
        _quiet_stdout()
        return _PIPE_RC[0]


if __name__ == "__main__":
    sys.exit(run())

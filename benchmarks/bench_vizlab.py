"""Benchmark: render every vizlab scene at low quality (480p15) and compare with the 5-minute budget.

    .venv/bin/python benchmarks/bench_vizlab.py [--out DIR] [--budget SECONDS]

Renders into a fresh temporary directory (``--force``, nothing skipped) so the numbers are cold-render
times, prints seconds per scene and the total, and exits 1 if the total exceeds the budget.  On these
machines (2 cores shared with training) expect noise of +-30 %.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BUDGET_S = 300.0  # `make videos` at -ql must stay under five minutes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=None, help="output directory (default: a temporary one)")
    p.add_argument("--budget", type=float, default=BUDGET_S, help="seconds allowed for all scenes")
    args = p.parse_args(argv)

    from vizlab.render import render

    with tempfile.TemporaryDirectory(prefix="bench-vizlab-") as tmp:
        out = args.out or Path(tmp) / "videos"
        t0 = time.perf_counter()
        results = render(None, quality="l", out=out, force=True, log=lambda _line: None)
        wall = time.perf_counter() - t0
    print(f"{'scene':<22} {'seconds':>8}")
    for r in results:
        print(f"{r.name:<22} {r.seconds:8.1f}")
    total = sum(r.seconds for r in results)
    ok = wall <= args.budget
    print(f"{'total (render)':<22} {total:8.1f}")
    print(f"{'wall (incl. imports)':<22} {wall:8.1f}   budget {args.budget:.0f} s  -> {'OK' if ok else 'OVER BUDGET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

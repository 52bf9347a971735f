"""Benchmark: render every scene's slide deck at low quality and convert (``python -m vizlab slides -q l``).

    .venv/bin/python benchmarks/bench_slides.py [--budget SECONDS] [--out DIR]

Cold: renders into a fresh temporary directory with ``force`` (nothing skipped), then writes the RevealJS
presentation, the per-scene decks and the PDF handout.  Prints seconds per scene render, the conversion time,
the wall time, and beside it the machine's matrix-multiply rate (float64, 1024 x 1024, NumPy's BLAS) measured
just before and after, so a slow run on a busy machine can be told from a slow renderer.  Goal (issue 13):
all decks under 5 minutes.  Exits 1 over the budget.  The 2 cores of these machines are shared: expect noise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BUDGET_S = 300.0


def matmul_gflops(n: int = 1024, repeats: int = 5) -> float:
    """Best-of-``repeats`` rate of an ``n x n`` float64 matrix product, in GFLOP/s (2 n^3 flops)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=None, help="output directory (default: a temporary one)")
    p.add_argument("--budget", type=float, default=BUDGET_S, help="seconds allowed for all decks")
    args = p.parse_args(argv)

    from vizlab.slides import build_slides

    rate_before = matmul_gflops()
    with tempfile.TemporaryDirectory(prefix="bench-slides-") as tmp:
        out = args.out or Path(tmp) / "slides"
        t0 = time.perf_counter()
        res = build_slides(None, quality="l", out=out, force=True, log=lambda _line: None)
        wall = time.perf_counter() - t0
        n_slides = sum(e["slides"] for e in res.index.values())
    rate_after = matmul_gflops()
    render_s = sum(r.seconds for r in res.renders)
    print(f"{'scene':<22} {'seconds':>8}")
    for r in res.renders:
        print(f"{r.name:<22} {r.seconds:8.1f}")
    print(f"{'renders':<22} {render_s:8.1f}")
    print(f"{'conversion + imports':<22} {wall - render_s:8.1f}")
    ok = wall <= args.budget
    print(f"{'wall':<22} {wall:8.1f}   {n_slides} slides of {len(res.renders)} scenes; budget {args.budget:.0f} s "
          f"-> {'OK' if ok else 'OVER BUDGET'}")
    print(f"matmul rate (float64, 1024^2): {rate_before:.1f} GFLOP/s before, {rate_after:.1f} GFLOP/s after")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: rebuild the book with nothing changed (what `make book` costs on a second run).

Runs ``scripts/build_book.sh`` once to bring the build up to date (not timed unless it was already
current), then times a second run, in which no scene is re-rendered and no notebook re-executed.
Budget: 3 minutes on this machine (2 shared cores).  Exit code 1 when over budget or when a build fails.

    .venv/bin/python benchmarks/bench_book.py
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 180.0


def build() -> float:
    """Run the build script; return its wall time in seconds (raises on failure)."""
    t0 = time.perf_counter()
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "build_book.sh")], cwd=ROOT,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise RuntimeError(f"scripts/build_book.sh failed with exit code {proc.returncode}")
    return seconds


def main() -> int:
    try:
        warm = build()
        print(f"bench_book: bringing the build up to date took {warm:.1f} s")
        cached = build()
    except RuntimeError as exc:
        print(f"bench_book: {exc}", file=sys.stderr)
        return 1
    verdict = "OK" if cached <= BUDGET_S else "OVER BUDGET"
    print(f"bench_book: rebuild with nothing changed: {cached:.1f} s (budget {BUDGET_S:.0f} s) {verdict}")
    return 0 if cached <= BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())

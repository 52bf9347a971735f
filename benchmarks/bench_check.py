"""Benchmark: ``check`` on a 5-line derivation (4 steps) answers in under 5 s.

Run ``python benchmarks/bench_check.py``.  Each derivation is checked in a fresh process (the proof engine
memoizes links, so a second check in one process would be faster than a student's first), the import of the
package (SymPy, lark, the engine) timed apart; the budget is judged on import + check, what a student waits for.  Prints the wall time per derivation, the process CPU time, and this machine's matrix-product
rate (``training.plan.matmul_gflops``, float32 at 1 thread) so a time can be read against the speed of the
machine; exits 1 over the 5 s budget (judged on CPU time when the machine is shared, load above its cores).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BUDGET_S = 5.0
FILES = ["elbo_gap_right.md", "elbo_gap_wrong_kl_direction.md", "gaussian_kl_right.tex", "jensen_right.md",
         "score_function_right.md"]

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter(); c0 = time.process_time()
from derivations.check import check_file
t1 = time.perf_counter(); c1 = time.process_time()
res = check_file(sys.argv[1])
t2 = time.perf_counter(); c2 = time.process_time()
print(json.dumps({"import": t1 - t0, "icpu": c1 - c0, "wall": t2 - t1, "cpu": c2 - c1, "steps": len(res.steps),
                  "verdicts": [s.verdict for s in res.steps]}))
"""


def main() -> int:
    from training.plan import matmul_gflops

    rate = matmul_gflops()
    cpus = os.cpu_count() or 1
    load = os.getloadavg()[0]
    print(f"machine: {cpus} cores, load average {load:.1f}; matrix products at 1 thread: {rate:.1f} GFLOP/s")
    print(f"{'derivation':36s} {'lines':>5s} {'import':>7s} {'check':>7s} {'cpu':>7s}  verdicts")
    worst = 0.0
    ok = True
    for name in FILES:
        path = ROOT / "derivations" / "examples" / name
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, env=env,
                             cwd=ROOT, timeout=300)
        if out.returncode != 0:
            print(f"{name}: failed: {out.stderr.strip().splitlines()[-1]}")
            ok = False
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{name:36s} {r['steps'] + 1:5d} {r['import']:7.2f} {r['wall']:7.2f} {r['cpu']:7.2f}  "
              f"{', '.join(r['verdicts'])}")
        judged = (r["icpu"] + r["cpu"]) if load > cpus else (r["import"] + r["wall"])
        worst = max(worst, judged)
    within = worst <= BUDGET_S
    print(f"slowest import + check {worst:.2f} s ({'process CPU: the machine is shared' if load > cpus else 'wall'}) vs budget {BUDGET_S:.0f} s: "
          f"{'WITHIN' if within else 'OVER'} budget; matmul rate {rate:.1f} GFLOP/s")
    return 0 if ok and within else 1


if __name__ == "__main__":
    sys.exit(main())

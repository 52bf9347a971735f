"""Benchmark: time to Table 1 -- the reproduce recipe against the previous recipe (Adam 1e-3, constant, batch 100).

Two parts, both printed as tables:

1. **Same run, shortened schedule** (``--epochs``, default 6): the recipe (:data:`training.recipe.RECIPE`) and
   the previous recipe (:data:`training.recipe.PREVIOUS_RECIPE`) train the same model (``--latent-dim``, default
   20) side by side, one process and one torch thread each, at the same time -- so both see the same machine and
   the same load. Per epoch: cumulative wall time and training ELBO (the epoch's running average over its
   minibatches, dynamic binarization, nats). Printed: the wall time at which each reached the other's final ELBO,
   and the time to within 1 nat of the paper's ELBO (usually not reached on a short schedule; then "not reached",
   with the best value).
2. **The committed job** (``training/results/vae_d*.json``, written by ``python -m training reproduce``): per
   model the wall time to within 1 nat of Hoffman & Johnson's training ELBO (from the per-epoch metrics, running
   averages; the evaluated ELBO of the final model is in the results file), the job's wall time, and the load
   average the job recorded.

Beside the wall times it prints this machine's matrix-product rate (GFLOP/s at 1 thread, the products of one
training step at batch 100, as in ``bench_training.py``) and the load average, so a time can be read against the
speed of the machine that produced it.

    python benchmarks/bench_reproduce.py [--epochs 6] [--latent-dim 20] [--train-subset N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.plan import matmul_gflops  # noqa: E402
from training.recipe import time_to  # noqa: E402  (the job records the same rate)


def _fmt(t: float | None) -> str:
    return "not reached" if t is None else f"{t / 60:.1f} min"


def side_by_side(d: int, epochs: int, train_subset: int | None, data_root: str | None) -> dict:
    from training.recipe import PREVIOUS_RECIPE, RECIPE, run_config
    from training.workers import train_args
    from training.result_files import PAPER_TABLE1

    tmp = Path(tempfile.mkdtemp(prefix="bench_reproduce_"))
    procs, runs = {}, {}
    t0 = time.perf_counter()
    for name, recipe in (("recipe", RECIPE), ("previous", PREVIOUS_RECIPE)):
        cfg = run_config(d, epochs, recipe, tmp / name, 1, "cpu", data_root, train_subset)
        runs[name] = tmp / name
        procs[name] = subprocess.Popen([sys.executable, *train_args(cfg, resume=False)],
                                       env=dict(os.environ, OMP_NUM_THREADS="1"),
                                       cwd=Path(__file__).resolve().parent.parent)
    loads = []
    while any(p.poll() is None for p in procs.values()):
        loads.append(os.getloadavg()[0])
        time.sleep(5)
    wall = time.perf_counter() - t0
    if any(p.returncode for p in procs.values()):
        raise SystemExit(f"a training run failed: see {tmp}")
    out = {}
    for name, rd in runs.items():
        out[name] = [json.loads(l) for l in (rd / "metrics.jsonl").read_text().splitlines() if l.strip()]
    paper = PAPER_TABLE1.get(d, {}).get("elbo")
    print(f"\n1. Same run, D = {d}, {epochs} epochs each, side by side (1 thread each); wall {wall / 60:.1f} min, "
          f"load average mean {sum(loads) / max(len(loads), 1):.1f}")
    print("| epoch | recipe: wall (min) | recipe: ELBO | previous: wall (min) | previous: ELBO |")
    print("|---|---|---|---|---|")
    tr, tp = 0.0, 0.0
    for a, b in zip(out["recipe"], out["previous"]):
        tr += a["seconds"]
        tp += b["seconds"]
        print(f"| {a['epoch']} | {tr / 60:.1f} | {a['elbo']:.2f} | {tp / 60:.1f} | {b['elbo']:.2f} |")
    fr, fp = out["recipe"][-1]["elbo"], out["previous"][-1]["elbo"]
    print(f"recipe reaches the previous recipe's final ELBO ({fp:.2f}) after {_fmt(time_to(out['recipe'], fp))}; "
          f"the previous recipe reaches the recipe's final ELBO ({fr:.2f}) after {_fmt(time_to(out['previous'], fr))}")
    if paper is not None:
        print(f"within 1 nat of the paper ({paper}): recipe {_fmt(time_to(out['recipe'], paper - 1))}, "
              f"previous {_fmt(time_to(out['previous'], paper - 1))}")
    return out


def committed_job() -> None:
    from training.result_files import PAPER_TABLE1, RESULTS_DIR

    print("\n2. The committed reproduce job (training/results/)")
    print("| D | epochs | to within 1 nat of the paper (training metrics) | best epoch ELBO | evaluated ELBO | paper |")
    print("|---|---|---|---|---|---|")
    job = None
    for d in (2, 10, 20):
        p = RESULTS_DIR / f"vae_d{d}.json"
        if not p.exists():
            continue
        r = json.loads(p.read_text())
        job = r["provenance"].get("reproduce") or job
        mp = RESULTS_DIR / r["files"]["metrics"]
        metrics = [json.loads(l) for l in mp.read_text().splitlines() if l.strip()]
        paper = PAPER_TABLE1[d]["elbo"]
        print(f"| {d} | {r['provenance']['epochs']} | {_fmt(time_to(metrics, paper - 1))} | "
              f"{max(m['elbo'] for m in metrics):.2f} | {r['train']['terms']['elbo']['value']:.2f} | {paper} |")
    if job:
        la = job.get("loadavg_1min") or {}
        print(f"job wall time {job['job_wall_time_s'] / 60:.1f} min (--minutes {job['plan']['minutes']}), "
              f"load average mean {la.get('mean', float('nan')):.1f} (max {la.get('max', float('nan')):.1f}) on "
              f"{la.get('cpu_count')} cores")
    else:
        print("(these results were not written by python -m training reproduce)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--latent-dim", type=int, default=20)
    ap.add_argument("--train-subset", type=int, default=None)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--skip-runs", action="store_true", help="only part 2 (no training)")
    a = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; matrix products at 1 thread: "
          f"{matmul_gflops():.1f} GFLOP/s")
    if not a.skip_runs:
        side_by_side(a.latent_dim, a.epochs, a.train_subset, a.data_root)
    committed_job()


if __name__ == "__main__":
    main()

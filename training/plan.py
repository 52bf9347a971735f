r"""Calibration and planning of ``python -m training reproduce``: how many epochs fit the ``--minutes`` budget.

- :func:`matmul_gflops` and :func:`calibrate` measure this machine (the latter in worker processes side by side,
  :func:`measure_side_by_side`, as the runs will go); :func:`estimate_eval_seconds` the evaluation's share;
- :func:`make_plan` fixes the epochs once (``plan.json``); :func:`read_plan` and :func:`plan_differences` tell a
  resumed job from another one; :func:`replan` refits the epochs to the budget at the measured speed;
- :func:`job_command` is the command line that made a plan; :func:`result_name` the results name of one model.
"""

from __future__ import annotations

import json
import math
import os
import time
import datetime as _dt
from pathlib import Path

from .recipe import N_TRAIN, PAPER_DIMS, recipe_for
from .workers import ReproduceError, calibrate_args, spawn

#: Plan entries that define the job: a plan.json that differs in one of them is another job.
PLAN_IDENTITY = ("dims", "prior", "recipe_name", "seed", "train_subset", "tag")


def now() -> str:
    """UTC now, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def result_name(plan: dict, dim: int) -> str:
    """Results name: ``vae_d{D}`` for the standard prior, ``vae_d{D}_{prior}`` otherwise, ``_{tag}`` appended."""
    name = f"vae_d{dim}" if plan["prior"] == "standard" else f"vae_d{dim}_{plan['prior'].replace(':', '')}"
    return name + (f"_{plan['tag']}" if plan.get("tag") else "")


def epochs_done(run_dir: Path) -> int:
    """Epochs finished by the run in ``run_dir`` (the last row of its ``metrics.jsonl``; 0 if none)."""
    m = run_dir / "metrics.jsonl"
    if not m.exists():
        return 0
    lines = [l for l in m.read_text().splitlines() if l.strip()]
    return json.loads(lines[-1])["epoch"] if lines else 0


def read_plan(plan_path: Path) -> dict | None:
    """The plan in ``plan_path``, or None if it is not a readable plan."""
    try:
        plan = json.loads(plan_path.read_text())
    except (OSError, ValueError):
        return None
    ok = (isinstance(plan, dict) and isinstance(plan.get("epochs"), int) and plan["epochs"] >= 1
          and isinstance(plan.get("dims"), list) and all(isinstance(d, int) for d in plan["dims"])
          and all(k in plan for k in ("recipe", "prior", "device", "parallel_runs", "threads_per_run", "minutes")))
    return plan if ok else None


def plan_differences(plan: dict, wanted: dict) -> list[str]:
    """Which job-defining options of ``wanted`` (a fresh plan's entries) differ from ``plan``."""
    defaults = {"prior": "standard", "recipe_name": "recipe", "seed": 0, "train_subset": None, "tag": ""}
    diff = [k for k in PLAN_IDENTITY if plan.get(k, defaults.get(k)) != wanted[k]]
    # an --epochs given that the plan did not fix (without --epochs, the plan's epochs are kept, as --minutes is)
    if not wanted["calibration_wanted"] and (plan.get("calibration") or plan["epochs"] != wanted["epochs"]):
        diff.append("epochs")
    return diff


# ----------------------------------------------------------------------------------------------------------------
# throughput calibration


def matmul_gflops(latent_dim: int = 20, batch: int = 100, reps: int = 20, repeats: int = 3) -> float:
    """This machine's rate on one training step's matrix products, GFLOP/s (float32, 1 torch thread, best of
    ``repeats`` timings of ``reps`` steps).

    The products are those of the 784-500-500-D MLP VAE at ``batch`` images: each layer's forward product, its
    weight gradient and (except the data layer) its input gradient, 2 * in * out FLOPs per image each. It is
    recorded beside every wall time of a job (``plan["matmul_gflops"]`` at the start, ``matmul_gflops_at_end``
    in the results' provenance), so a time can be read against the speed of the machine that produced it
    (machines of one kind differ by up to 2x).
    """
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        widths = [784, 500, 500, 2 * latent_dim]
        shapes = list(zip(widths, widths[1:])) + [(latent_dim, 500), (500, 500), (500, 784)]
        g = torch.Generator().manual_seed(0)
        mats = [(torch.randn(batch, i, generator=g), torch.randn(o, i, generator=g), torch.randn(batch, o, generator=g))
                for i, o in shapes]
        flops = sum(2.0 * batch * i * o * (2 if k == 0 else 3) for k, (i, o) in enumerate(shapes))
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(reps):
                for k, (x, w, gy) in enumerate(mats):
                    torch.matmul(x, w.t())
                    torch.matmul(gy.t(), x)
                    if k:
                        torch.matmul(gy, w)
            best = min(best, time.perf_counter() - t0)
        return flops * reps / best / 1e9
    finally:
        torch.set_num_threads(old)


def calibrate(batch_sizes: list[int], seconds: float, threads: int, latent_dim: int = 20, device: str = "cpu",
              gradients: str = "manual") -> dict:
    """Images/s of the training step (784-500-500-D, one process) at each batch size, measured for ``seconds``.

    Random grey levels stand in for MNIST (the step's cost does not depend on the pixels).
    """
    import torch

    from .data import binarize
    from .elbo_step import ManualElboStep
    from .model import VAE

    torch.set_num_threads(threads)
    dev = torch.device(device)
    torch.manual_seed(0)
    x_all = torch.rand(4000, 784, device=dev) * 0.5
    out = {}
    for bs in batch_sizes:
        model = VAE(latent_dim).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
        step = ManualElboStep(model) if gradients == "manual" else None

        def one(i):
            x = binarize(x_all[(i * bs) % (4000 - bs):][:bs])
            if step is not None:
                step.step(x)
            else:
                opt.zero_grad(set_to_none=True)
                (-model(x).elbo.mean()).backward()
            opt.step()

        for i in range(3):
            one(i)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            one(n)
            n += 1
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        out[str(bs)] = n * bs / (time.perf_counter() - t0)
    return out


def measure_side_by_side(parallel: int, threads: int, batch_sizes: list[int], seconds: float, device: str,
                         log: Path) -> dict:
    """Run ``parallel`` calibration processes at once (as the real runs will run); per-process images/s (median)."""
    procs = [spawn(calibrate_args(batch_sizes, seconds, threads, device), log, threads) for _ in range(parallel)]
    for p in procs:
        p.wait()
    rates = {str(b): [] for b in batch_sizes}
    for line in log.read_text().splitlines():
        if line.startswith("CALIBRATION "):
            for b, r in json.loads(line[len("CALIBRATION "):]).items():
                rates[b].append(r)
    if any(len(v) < parallel for v in rates.values()):
        raise ReproduceError(f"throughput calibration failed: see {log}")
    return {b: sorted(v)[len(v) // 2] for b, v in rates.items()}


# ----------------------------------------------------------------------------------------------------------------
# plan


def estimate_eval_seconds(rate: float, iwae_k: int, iwae_images: int, n_train: int = N_TRAIN) -> float:
    """Rough wall time of one ``evaluate`` at a training rate of ``rate`` images/s (one process).

    A decoder pass for one IWAE sample costs about 1/6 of a training image (forward of encoder and decoder plus
    twice that backward); the training set is encoded and decoded twice (reconstruction term), and the marginal
    KL's (N x N) log-density matrix adds about 40 s at N = 60000 on one core of this machine (bench_surgery).
    """
    samples = iwae_k * iwae_images + 3 * (n_train + 10000)
    return samples / (6.0 * rate) + 40.0 * (n_train / N_TRAIN) ** 2 + 15.0


def make_plan(args, device: str) -> dict:
    """The plan of a new job from the parsed ``reproduce`` options: the recipe, the runs' layout, and the epochs
    (``--epochs``, or fitted to ``--minutes`` from a side-by-side throughput measurement). Not written here."""
    recipe = recipe_for(args.recipe, args.train_subset)
    parallel = 1 if device.startswith("cuda") else len(args.dims)
    threads = args.threads_per_run
    n_train = args.train_subset or N_TRAIN
    calib = {}
    if args.epochs:
        epochs = int(args.epochs)
    else:
        sizes = sorted({recipe["batch_size"], recipe["batch_size_late"] or recipe["batch_size"]})
        calib = measure_side_by_side(parallel, threads, sizes, args.calibration_seconds, device,
                                     Path(args.out_dir) / "calibration.log")
        r_early = calib[str(recipe["batch_size"])]
        r_late = calib[str(recipe["batch_size_late"] or recipe["batch_size"])]
        f_late = recipe["late_fraction"] if recipe["batch_size_late"] else 0.0
        epoch_s = n_train * ((1 - f_late) / r_early + f_late / r_late)
        eval_s = estimate_eval_seconds(r_early, args.iwae_k, args.iwae_images, n_train)
        waves = math.ceil(len(args.dims) / parallel)  # on CUDA the runs go one after another
        budget = 60.0 * args.minutes - eval_s * waves - args.overhead_seconds
        epochs = max(1, int(budget / (epoch_s * waves)))
        calib = {"images_per_s_per_run": calib, "seconds_per_epoch": epoch_s, "eval_seconds_estimate": eval_s,
                 "training_seconds_budget": budget, "calibration_seconds": args.calibration_seconds}
    return {
        "created": now(), "minutes": args.minutes, "dims": list(args.dims), "epochs": epochs, "recipe": recipe,
        "recipe_name": args.recipe, "prior": args.prior, "device": device, "parallel_runs": parallel,
        "threads_per_run": threads, "cpu_count": os.cpu_count(), "loadavg_at_start": list(os.getloadavg()),
        "matmul_gflops": matmul_gflops(),
        "calibration": calib, "iwae_k": args.iwae_k, "iwae_images": args.iwae_images,
        "train_subset": args.train_subset, "data_root": args.data_root, "seed": args.seed,
        "verify": not args.no_verify, "tag": args.tag,
    }


def replan(plan: dict, runs: dict, state: dict, elapsed: float, at_epochs: int) -> int | None:
    """Refit the epochs to the budget at the measured speed, at epochs ``at_epochs`` x 1, 2, 4, 8, ...

    The calibration sees a few seconds of the machine; the machine is shared and its load moves (seen here: a
    load average from 2 to 16 within minutes). At each re-plan point the median seconds per epoch of every run's
    last three epochs is known: the remaining budget (``--minutes`` minus the job's time so far, the evaluation
    estimate and a minute's margin) divided by it gives the epochs. A re-plan happens only while less than half
    of the planned epochs are done (late changes would bend the end of the decay) and only if it moves the epochs
    by more than 10%. Every re-plan is recorded in ``plan["replans"]``, so a resumed job keeps the last one.
    Returns the new epoch count, or None (no change).
    """
    if not plan.get("calibration") or at_epochs <= 0 or any(state[d] != "train" for d in runs):
        return None
    done = {d: epochs_done(rd) for d, rd in runs.items()}
    e_min, e_now = min(done.values()), max(done.values())
    points = [at_epochs * 2 ** i for i in range(12)]
    due = [pt for pt in points if pt <= e_min]
    checked = plan.setdefault("replan_points_checked", [])
    if not due or due[-1] in checked or e_now >= plan["epochs"] / 2:
        return None
    checked.append(due[-1])
    secs = []
    for rd in runs.values():
        ms = [json.loads(l) for l in (rd / "metrics.jsonl").read_text().splitlines() if l.strip()]
        recent = [m["seconds"] for m in ms[1:]][-3:]  # epoch 1 includes start-up
        secs += recent or [ms[-1]["seconds"]]
    sec = sorted(secs)[len(secs) // 2]
    c = plan["calibration"]
    r = plan["recipe"]
    rates = c["images_per_s_per_run"]
    f_late = r["late_fraction"] if r["batch_size_late"] else 0.0
    # the late (larger) batches at the calibrated ratio of speeds, capped at 1: a larger batch is not slower per
    # image; a few seconds of calibration on a loaded machine can say otherwise when the load moves in between
    late_ratio = min(1.0, rates[str(r["batch_size"])] / rates[str(r["batch_size_late"] or r["batch_size"])])
    frac_left_late = f_late  # (re-plans happen in the first half, before any late epoch)
    sec_mean = sec * ((1 - frac_left_late) + frac_left_late * late_ratio)
    # the evaluation slows down with the machine as training did: scale its estimate by the measured slow-down
    slow = max(1.0, sec / c["seconds_per_epoch"])
    remaining = 60.0 * plan["minutes"] - elapsed - c["eval_seconds_estimate"] * slow - 60.0
    new_e = max(e_now + 1, e_now + int(remaining / sec_mean))
    old = plan["epochs"]
    record = {"at_epoch": e_now, "seconds_per_epoch": sec, "eval_seconds_estimate": c["eval_seconds_estimate"] * slow,
              "elapsed_s": elapsed, "epochs_before": old,
              "epochs_after": new_e, "loadavg": list(os.getloadavg()), "time": now()}
    if abs(new_e - old) <= 0.1 * old:
        record["epochs_after"] = old
        plan.setdefault("replans", []).append(record)
        return None
    plan.setdefault("replans", []).append(record)
    plan["replan"] = record
    plan["epochs"] = new_e
    return new_e


def job_command(plan: dict) -> str:
    """The command line that made ``plan`` (the flags that change the results; ``--out-dir`` and paths left out)."""
    parts = ["python -m training reproduce"]
    parts.append(f"--minutes {plan['minutes']:g}" if plan.get("calibration") else f"--epochs {plan['epochs']}")
    if list(plan["dims"]) != list(PAPER_DIMS):
        parts.append("--dims " + " ".join(map(str, plan["dims"])))
    for flag, key, default in (("--prior", "prior", "standard"), ("--recipe", "recipe_name", "recipe"),
                               ("--tag", "tag", ""), ("--seed", "seed", 0), ("--train-subset", "train_subset", None)):
        if plan.get(key, default) not in (default, None):
            parts.append(f"{flag} {plan[key]}")
    return " ".join(parts)


__all__ = ["PLAN_IDENTITY", "calibrate", "epochs_done", "estimate_eval_seconds", "job_command", "make_plan",
           "matmul_gflops", "measure_side_by_side", "now", "plan_differences", "read_plan", "replan", "result_name"]

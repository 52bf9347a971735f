r"""``python -m training reproduce``: Hoffman & Johnson's Table 1 (D = 2, 10, 20) from scratch in one command.

    python -m training reproduce --minutes 60          # train the three VAEs, evaluate them, write training/results/
    python -m training reproduce --minutes 60          # the same command again after a kill: resumes where it was

What it does, in order (everything under ``--out-dir``, default ``runs/reproduce``):

1. **Plan** (``plan.json``, written once): it measures this machine's training throughput *now* (a few seconds of
   the recipe's steps, run side by side as the real runs will be), subtracts the estimated evaluation time from
   the ``--minutes`` budget, and fixes the number of epochs. The learning-rate and batch-size schedules are
   defined in epochs, so a resumed job follows exactly the plan it started with; ``--minutes`` given again on
   resume is ignored (the plan says so).
2. **Train**: the three models run side by side, one process and ``--threads-per-run`` torch threads each (on
   CUDA: one after another on the GPU). Each checkpoints after every epoch (:mod:`training.train`).
3. **Evaluate** each model as soon as it is trained (``python -m training evaluate``, the same code as by hand),
   into ``OUT_DIR/results``; when all are done the files are copied to ``--results-dir`` (``training/results``)
   with the job's provenance added: the plan, the recipe, the job's wall time, and the machine's load average
   sampled during the run (``os.getloadavg``: other processes on the machine slow the job; the numbers say how
   much they were there).

One progress bar covers the whole job (epochs of all runs, then the evaluations). A kill at any point loses at
most the running epoch of each run: the children die with the parent (``PR_SET_PDEATHSIG``), every file is
written atomically, and a restarted job skips what is complete.

**The recipe** (:data:`RECIPE`, chosen for time-to-quality on a 2-core CPU; ``book`` explains it from
``plan.json``'s copy in the results' provenance): Adam, linear warm-up then cosine decay of the learning rate
to ~0 (SGDR without restarts, Loshchilov & Hutter 2017), batch 100 for the first part of the run, a larger
batch late (fewer, cheaper-per-image steps when the noise of small batches no longer helps), and the written-out
gradient of :mod:`training.elbo_step`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PAPER_DIMS = (2, 10, 20)
N_TRAIN = 60000
#: At most this many latent sizes in one job; a tag of at most this many characters (names stay <= 64).
MAX_DIMS = 8
MAX_TAG = 32
#: Plan entries that define the job: a plan.json that differs in one of them is another job.
PLAN_IDENTITY = ("dims", "prior", "recipe_name", "seed", "train_subset", "tag")

#: The training recipe of ``reproduce`` (see the module docstring). ``late_fraction``: share of the epochs (the
#: last ones) trained with ``batch_size_late``. ``warmup_epochs`` may be fractional.
RECIPE = {
    "optimizer": "Adam (fused), betas (0.9, 0.999)",
    "lr_schedule": "cosine",
    "lr": 2e-3,
    "warmup_epochs": 2.0,
    "lr_final": 1e-5,
    "batch_size": 100,
    "batch_size_late": 250,
    "late_fraction": 0.5,
    "gradients": "manual",
}

#: The recipe before this command (issue 14): Adam 1e-3, constant, batch 100 (the benchmark's comparison).
PREVIOUS_RECIPE = {"optimizer": "Adam (fused)", "lr_schedule": "constant", "lr": 1e-3, "batch_size": 100,
                   "batch_size_late": 0, "late_fraction": 0.0, "warmup_epochs": 0.0, "lr_final": 0.0,
                   "gradients": "manual"}


from .io import TrainingError, UsageError


class ReproduceError(TrainingError):
    """A step of the job failed; the one-line message names the step, its log and how to continue."""


def recipe_for(name: str, train_subset: int | None) -> dict:
    """The recipe ``name`` (``"recipe"`` or ``"previous"``); on a ``train_subset`` smaller than one of its batches
    (a smoke test), that batch is the whole subset, and ``batch_capped_to_subset`` says so in the plan."""
    recipe = dict(PREVIOUS_RECIPE if name == "previous" else RECIPE)
    if train_subset is not None:
        for key in ("batch_size", "batch_size_late"):
            if recipe[key] > train_subset:
                recipe[key] = train_subset
                recipe["batch_capped_to_subset"] = True
    return recipe


def validate(args) -> dict:
    """Check ``reproduce``'s options together (each was checked alone while parsing) before any work or write.

    Returns the resolved paths: ``out`` (absolute), ``results_dir`` (absolute), ``data_root`` (absolute, the
    same folder ``train`` would use from the user's working directory), ``device`` (resolved).

    Raises:
        UsageError: repeated or too many ``--dims``; a results name that would be too long; a folder that is a file or cannot be written; no CUDA for
        ``--device cuda``; a run config that ``TrainConfig`` refuses. DataError: MNIST missing or corrupt.
    """
    from . import cli
    from .config import ConfigError, resolve_device
    from .data import prepare_mnist, resolve_data_root
    from .io import check_name

    dims = list(args.dims)
    if len(set(dims)) != len(dims):
        raise UsageError(f"--dims {' '.join(map(str, dims))} repeats a size: give each latent size once")
    if len(dims) > MAX_DIMS:
        raise UsageError(f"--dims gives {len(dims)} sizes: give at most {MAX_DIMS} (the paper's are 2 10 20)")
    recipe = recipe_for(args.recipe, args.train_subset)
    plan_like = {"prior": args.prior, "tag": args.tag}
    for d in dims:
        check_name(_name(plan_like, d), "--tag")
    out = cli.check_folder(args.out_dir, "--out-dir")
    results_dir = cli.check_folder(args.results_dir or Path(__file__).resolve().parent / "results", "--results-dir")
    device = str(resolve_device(args.device))
    for d in dims:  # the runs' own check, with the bounds of train (a bound is written once)
        try:
            run_config(d, max(args.epochs, 1), recipe, out / "x", args.threads_per_run, device, None,
                       args.train_subset, args.prior, args.seed).check_batch_fits(args.train_subset or N_TRAIN)
        except ConfigError as e:
            raise UsageError(f"the run of D={d} would be invalid: {e}") from None
    data_root = resolve_data_root(args.data_root)
    prepare_mnist(data_root, verify=not args.no_verify)  # missing or corrupt MNIST: now, not inside a child
    return {"out": out, "results_dir": results_dir, "data_root": str(data_root), "device": device}


def _read_plan(plan_path: Path) -> dict | None:
    """The plan in ``plan_path``, or None if it is not a readable plan."""
    try:
        plan = json.loads(plan_path.read_text())
    except (OSError, ValueError):
        return None
    ok = (isinstance(plan, dict) and isinstance(plan.get("epochs"), int) and plan["epochs"] >= 1
          and isinstance(plan.get("dims"), list) and all(isinstance(d, int) for d in plan["dims"])
          and all(k in plan for k in ("recipe", "prior", "device", "parallel_runs", "threads_per_run", "minutes")))
    return plan if ok else None


def _plan_differences(plan: dict, wanted: dict) -> list[str]:
    """Which job-defining options of ``wanted`` (a fresh plan's entries) differ from ``plan``."""
    defaults = {"prior": "standard", "recipe_name": "recipe", "seed": 0, "train_subset": None, "tag": ""}
    diff = [k for k in PLAN_IDENTITY if plan.get(k, defaults.get(k)) != wanted[k]]
    # an --epochs given that the plan did not fix (without --epochs, the plan's epochs are kept, as --minutes is)
    if not wanted["calibration_wanted"] and (plan.get("calibration") or plan["epochs"] != wanted["epochs"]):
        diff.append("epochs")
    return diff


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _write_json(path: Path, obj) -> None:
    from .io import atomic_write as atomic_write_text

    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def run_config(dim: int, epochs: int, recipe: dict, out_dir: Path, threads: int, device: str,
               data_root: str | None, train_subset: int | None, prior: str = "standard", seed: int = 0,
               verify: bool = True):
    """The :class:`training.config.TrainConfig` of one model of the job."""
    from .config import TrainConfig

    late_from = 0
    if recipe.get("batch_size_late") and recipe.get("late_fraction", 0) > 0:
        late_from = max(1, epochs - int(round(recipe["late_fraction"] * epochs)) + 1)
    return TrainConfig(
        latent_dim=dim, epochs=epochs, batch_size=recipe["batch_size"], lr=recipe["lr"],
        lr_schedule=recipe["lr_schedule"], warmup_epochs=min(recipe["warmup_epochs"], max(epochs - 1, 0)),
        lr_final=recipe["lr_final"], batch_size_late=recipe["batch_size_late"] if late_from else 0,
        batch_late_from=late_from, gradients=recipe["gradients"], prior=prior, seed=seed,
        data_root=data_root, train_subset=train_subset, out_dir=str(out_dir), test_every=0, device=device,
        threads=threads, progress=False, verify_data=verify,
    )


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


def _python() -> str:
    return sys.executable


def _set_pdeathsig() -> None:  # runs in the child before exec: die with the parent (Linux)
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _spawn(args: list[str], log: Path, threads: int) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    for var in ("ELBO_LAB_CACHE", "ELBO_LAB_DATA"):  # the children run in the package's folder: absolute paths
        if env.get(var, "").strip():
            env[var] = str(Path(env[var]).expanduser().absolute())
    log.parent.mkdir(parents=True, exist_ok=True)
    f = open(log, "ab")
    p = subprocess.Popen([_python(), *args], stdout=f, stderr=subprocess.STDOUT, env=env,
                         cwd=Path(__file__).resolve().parent.parent, preexec_fn=_set_pdeathsig)
    f.close()
    return p


def measure_side_by_side(parallel: int, threads: int, batch_sizes: list[int], seconds: float, device: str,
                         log: Path) -> dict:
    """Run ``parallel`` calibration processes at once (as the real runs will run); per-process images/s (median)."""
    procs = [_spawn(["-m", "training.reproduce", "_calibrate", json.dumps({
        "batch_sizes": batch_sizes, "seconds": seconds, "threads": threads, "device": device})], log, threads)
        for _ in range(parallel)]
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
        "created": _now(), "minutes": args.minutes, "dims": list(args.dims), "epochs": epochs, "recipe": recipe,
        "recipe_name": args.recipe, "prior": args.prior, "device": device, "parallel_runs": parallel,
        "threads_per_run": threads, "cpu_count": os.cpu_count(), "loadavg_at_start": list(os.getloadavg()),
        "matmul_gflops": matmul_gflops(),
        "calibration": calib, "iwae_k": args.iwae_k, "iwae_images": args.iwae_images,
        "train_subset": args.train_subset, "data_root": args.data_root, "seed": args.seed,
        "verify": not args.no_verify, "tag": args.tag,
    }


# ----------------------------------------------------------------------------------------------------------------
# the job


def _name(plan: dict, dim: int) -> str:
    """Results name: ``vae_d{D}`` for the standard prior, ``vae_d{D}_{prior}`` otherwise, ``_{tag}`` appended."""
    name = f"vae_d{dim}" if plan["prior"] == "standard" else f"vae_d{dim}_{plan['prior'].replace(':', '')}"
    return name + (f"_{plan['tag']}" if plan.get("tag") else "")


def _epochs_done(run_dir: Path) -> int:
    m = run_dir / "metrics.jsonl"
    if not m.exists():
        return 0
    lines = [l for l in m.read_text().splitlines() if l.strip()]
    return json.loads(lines[-1])["epoch"] if lines else 0


def _results_epochs(path: Path) -> int | None:
    try:
        return int(json.loads(path.read_text())["provenance"]["epochs"])
    except Exception:
        return None


def _read_history(results_dir: Path, name: str) -> list[dict]:
    """The previous results' key numbers (kept in the new file's provenance, for the book's history paragraph)."""
    old = results_dir / f"{name}.json"
    if not old.exists():
        return []
    try:
        r = json.loads(old.read_text())
    except Exception:
        return []
    prev = list(r.get("provenance", {}).get("previous_results", []))
    entry = {
        "created": r["provenance"].get("created"), "git_commit": r["provenance"].get("git_commit"),
        "epochs": r["provenance"].get("epochs"), "wall_time_s": r["provenance"].get("wall_time_s"),
        "recipe": r["provenance"].get("reproduce", {}).get("recipe")
        or {k: r.get("config", {}).get(k) for k in ("lr", "batch_size", "lr_schedule")},
        "note": r["provenance"].get("note", ""),
        "train": {t: r["train"]["terms"][t] for t in ("elbo", "avg_kl", "marginal_kl", "index_code_mi")},
        "test_elbo": r["test"]["elbo"], "iwae": r["test"]["iwae"],
    }
    if not any(h.get("created") == entry["created"] for h in prev):
        prev.append(entry)
    return prev


def reproduce(args) -> Path:
    """Run (or resume) the whole job described by the parsed ``args``; return the results folder.

    Every option is validated first (:func:`validate`); ``plan.json`` is written only after that. A plan left by
    a start that finished no epoch never binds a later command; one whose runs have started does (the command
    that resumes it is named when the options differ).
    """
    from .io import FolderLock, prepare_folder

    paths = validate(args)  # every option, before anything is written
    out = prepare_folder(paths["out"], "--out-dir")
    with FolderLock(out, "--out-dir"):  # one job per folder (a second one is refused at once, nothing written)
        return _run_job(args, paths, out)


def _run_job(args, paths: dict, out: Path) -> Path:
    """The job of :func:`reproduce` in its locked ``out`` folder."""
    from .cli import inside

    args.data_root = paths["data_root"]
    plan_path = out / "plan.json"
    device = paths["device"]
    plan = _read_plan(plan_path) if plan_path.exists() else None
    if plan is not None:
        wanted = {"dims": list(args.dims), "prior": args.prior, "recipe_name": args.recipe, "seed": args.seed,
                  "train_subset": args.train_subset, "tag": args.tag, "iwae_k": args.iwae_k,
                  "iwae_images": args.iwae_images, "verify": not args.no_verify, "epochs": args.epochs,
                  "calibration_wanted": not args.epochs}
        diff = _plan_differences(plan, wanted)
        started = any((out / _name(plan, d) / "checkpoint.pt").exists() for d in plan["dims"])
        if diff and started:
            raise UsageError(f"--out-dir {out} holds a job with other {', '.join(diff)} ({job_command(plan)}): "
                             f"run that command to resume it, or choose another --out-dir")
        if diff:  # a plan from a start that trained nothing (e.g. it failed): it does not bind this command
            print(f"the plan in {plan_path} is from a start that finished no epoch and had other {', '.join(diff)}: "
                  f"planning again")
            plan = None
    elif plan_path.exists():
        if any(p.is_dir() and (p / "checkpoint.pt").exists() for p in out.iterdir()):
            raise TrainingError(f"{plan_path} is damaged and runs were started: restore it, or choose another "
                                f"--out-dir (or delete the folder to start again)")
        print(f"{plan_path} is damaged and no run was started: planning again")
    if plan is not None:
        print(f"resuming the job planned at {plan['created']}: {plan['epochs']} epochs per model "
              f"(--minutes {plan['minutes']} then; the plan is kept so the schedule is the same)")
    else:
        print("measuring this machine's training throughput (side by side, as the runs will go) ...")
        plan = make_plan(args, device)
        _write_json(plan_path, plan)
        c = plan["calibration"]
        if c:
            print(f"plan: {plan['epochs']} epochs per model; {json.dumps(c['images_per_s_per_run'])} images/s per run "
                  f"({plan['parallel_runs']} side by side), ~{c['seconds_per_epoch']:.0f} s per epoch, "
                  f"evaluation ~{c['eval_seconds_estimate']:.0f} s")
    session = {"started": _now(), "t0": time.time(), "loadavg": []}
    sessions_path = out / "sessions.json"
    try:
        sessions = json.loads(sessions_path.read_text()) if sessions_path.exists() else []
        sessions = [x for x in sessions if isinstance(x, dict) and "started" in x] if isinstance(sessions, list) else []
    except (OSError, ValueError):  # a damaged record of earlier sessions: their times are lost, not the job
        sessions = []
    sessions.append({k: v for k, v in session.items() if k != "t0"})
    staging = out / "results"
    results_dir = paths["results_dir"]
    plan["data_root"] = paths["data_root"]  # absolute: the children run in another working directory
    E = plan["epochs"]
    dims = plan["dims"]
    runs = {d: inside(out, out / _name(plan, d), "--out-dir") for d in dims}
    for d in dims:  # every file the job writes lies in --out-dir (the names are plain: proven here)
        for suffix in (".config.json", ".train.log", ".eval.log"):
            inside(out, out / f"{_name(plan, d)}{suffix}", "--out-dir")
        inside(out, staging / _name(plan, d), "--out-dir")
    for d, rd in runs.items():
        cfg = run_config(d, E, plan["recipe"], rd, plan["threads_per_run"], plan["device"], plan["data_root"],
                         plan["train_subset"], plan["prior"], plan["seed"], plan.get("verify", True))
        rd.mkdir(parents=True, exist_ok=True)
        _write_json(out / f"{_name(plan, d)}.config.json", cfg.to_dict())

    from tqdm.auto import tqdm

    n_eval_units = 10  # one evaluation = this many bar units
    total = len(dims) * (E + n_eval_units)
    tty = sys.stderr.isatty()
    bar = tqdm(total=total, desc="reproduce Table 1", unit="epoch", dynamic_ncols=True, mininterval=1 if tty else 60)
    last_draw = 0.0
    procs: dict[int, tuple[str, subprocess.Popen]] = {}
    state = {d: "train" for d in dims}
    for d in dims:
        if _epochs_done(runs[d]) >= E and (runs[d] / "checkpoint.pt").exists():
            state[d] = "eval"
        if state[d] == "eval" and _results_epochs(staging / _name(plan, d) / f"{_name(plan, d)}.json") == E:
            state[d] = "done"
    order = list(dims)
    last_load = 0.0
    elapsed_before = sum(x.get("seconds", 0.0) for x in sessions[:-1])
    try:
        while True:
            # start what can start
            running = sum(1 for d in procs)
            for d in order:
                if d in procs or state[d] == "done" or running >= plan["parallel_runs"]:
                    continue
                name = _name(plan, d)
                if state[d] == "train":
                    procs[d] = ("train", _spawn(["-m", "training.reproduce", "_train", str(out / f"{name}.config.json")]
                                                + (["--resume"] if (runs[d] / "checkpoint.pt").exists() else []),
                                                out / f"{name}.train.log", plan["threads_per_run"]))
                else:
                    note = (f"python -m training reproduce: recipe {plan['recipe_name']} ({json.dumps(plan['recipe'])}), "
                            f"{E} epochs, {plan['parallel_runs']} runs side by side with {plan['threads_per_run']} "
                            f"torch thread(s) each on a {plan['cpu_count']}-core machine shared with other work "
                            f"(load average in provenance.reproduce)")
                    spec = {"run_dir": str(runs[d]), "name": name, "results_dir": str(staging / name),
                            "iwae_k": plan["iwae_k"], "iwae_images": plan["iwae_images"],
                            "threads": plan["threads_per_run"], "note": note, "data_root": plan["data_root"],
                            "train_subset": plan["train_subset"], "verify": plan.get("verify", True),
                            "command": "python -m training reproduce (evaluation step: training.evaluate.evaluate_run)"}
                    procs[d] = ("eval", _spawn(["-m", "training.reproduce", "_evaluate", json.dumps(spec)],
                                               out / f"{name}.eval.log", plan["threads_per_run"]))
                running += 1
            # progress
            done_units = 0
            post = {}
            for d in dims:
                ep = min(_epochs_done(runs[d]), E)
                done_units += ep + (n_eval_units if state[d] == "done" else 0)
                m = runs[d] / "metrics.jsonl"
                if ep and m.exists():
                    last = json.loads([l for l in m.read_text().splitlines() if l.strip()][-1])
                    post[f"D{d}"] = f"{last['elbo']:.1f}"
                else:
                    post[f"D{d}"] = state[d]
            if done_units != bar.n or tty and time.time() - last_draw > 1 or time.time() - last_draw > 60:
                bar.n = done_units
                bar.set_postfix(post, refresh=False)
                bar.refresh()
                last_draw = time.time()
            if time.time() - last_load > 30:
                last_load = time.time()
                session["loadavg"].append([round(time.time() - session["t0"], 1), *os.getloadavg()])
                sessions[-1] = {"started": session["started"], "seconds": time.time() - session["t0"],
                                "loadavg": session["loadavg"]}
                _write_json(sessions_path, sessions)
            if all(s == "done" for s in state.values()):
                break
            n_checked = len(plan.get("replan_points_checked", []))
            new_e = _replan(plan, runs, state, elapsed_before + time.time() - session["t0"], args.replan_epochs)
            if new_e is None and len(plan.get("replan_points_checked", [])) != n_checked:
                _write_json(plan_path, plan)
            if new_e is not None:
                _write_json(plan_path, plan)
                print(f"\nre-plan after {plan['replan']['at_epoch']} epochs: {plan['replan']['seconds_per_epoch']:.0f} s "
                      f"per epoch measured (planned {plan['calibration']['seconds_per_epoch']:.0f}): "
                      f"{plan['replan']['epochs_before']} -> {new_e} epochs", flush=True)
                E = new_e
                for d, rd in runs.items():
                    cfg = run_config(d, E, plan["recipe"], rd, plan["threads_per_run"], plan["device"],
                                     plan["data_root"], plan["train_subset"], plan["prior"], plan["seed"],
                                     plan.get("verify", True))
                    _write_json(out / f"{_name(plan, d)}.config.json", cfg.to_dict())
                for d, (kind, p) in list(procs.items()):
                    if kind == "train":
                        p.terminate()
                        p.wait()
                        del procs[d]
                bar.total = len(dims) * (E + n_eval_units)
                continue
            # reap
            for d, (kind, p) in list(procs.items()):
                rc = p.poll()
                if rc is None:
                    continue
                del procs[d]
                name = _name(plan, d)
                if rc != 0:
                    log = out / f"{name}.{kind}.log"
                    tail = [l for l in log.read_text(errors="replace").splitlines() if l.strip()][-1:] if log.exists() else []
                    raise ReproduceError(f"{kind} of D={d} failed (exit {rc}): {tail[0] if tail else ''} -- see {log}; "
                                         "fix it and run the same command again to resume")
                state[d] = "eval" if kind == "train" else "done"
            time.sleep(args.poll_seconds)
    finally:
        for d, (kind, p) in procs.items():
            if p.poll() is None:
                p.terminate()
        bar.close()
        sessions[-1] = {"started": session["started"], "seconds": time.time() - session["t0"],
                        "loadavg": session["loadavg"]}
        _write_json(sessions_path, sessions)
    publish(plan, out, staging, results_dir, sessions)
    return results_dir


def _replan(plan: dict, runs: dict, state: dict, elapsed: float, at_epochs: int) -> int | None:
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
    done = {d: _epochs_done(rd) for d, rd in runs.items()}
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
              "epochs_after": new_e, "loadavg": list(os.getloadavg()), "time": _now()}
    if abs(new_e - old) <= 0.1 * old:
        record["epochs_after"] = old
        plan.setdefault("replans", []).append(record)
        return None
    plan.setdefault("replans", []).append(record)
    plan["replan"] = record
    plan["epochs"] = new_e
    return new_e


def time_to(metrics: list[dict], target: float) -> float | None:
    """Cumulative training seconds at the end of the first epoch whose ELBO is >= ``target`` nats, or ``None`` if
    none is. ``metrics``: the trainer's per-epoch rows (``seconds``, ``elbo``: the epoch's running average)."""
    t = 0.0
    for m in metrics:
        t += m["seconds"]
        if m["elbo"] >= target:
            return t
    return None


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


def publish(plan: dict, out: Path, staging: Path, results_dir: Path, sessions: list[dict]) -> None:
    """Copy the staged results to ``results_dir`` with the job's provenance (plan, sessions, load, history)."""
    loads = [l for s in sessions for l in s.get("loadavg", [])]
    job = {
        "command": job_command(plan),
        "plan": plan,
        "recipe": plan["recipe"],
        "job_wall_time_s": sum(s.get("seconds", 0.0) for s in sessions),
        "matmul_gflops_at_start": plan.get("matmul_gflops"),
        "matmul_gflops_at_end": matmul_gflops(),
        "sessions": [{"started": s["started"], "seconds": s.get("seconds")} for s in sessions],
        "loadavg_1min": {"mean": sum(l[1] for l in loads) / len(loads), "max": max(l[1] for l in loads),
                         "samples": len(loads), "cpu_count": os.cpu_count(),
                         "what": "os.getloadavg() every 30 s during the job; the job itself adds about "
                                 f"{plan['parallel_runs'] * plan['threads_per_run']}; the rest is other work on the "
                                 "machine"} if loads else None,
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    from . import result_files
    from .io import FolderLock, atomic_write_set

    with FolderLock(results_dir, "--results-dir"):  # no evaluate writes here meanwhile
        for d in plan["dims"]:
            name = _name(plan, d)
            src = staging / name / f"{name}.json"
            r = result_files.load_path(src)  # validated against the schema before anything is published
            history = _read_history(results_dir, name)
            if history and history[-1].get("created") == r["provenance"].get("created"):
                history = history[:-1]  # publishing the same evaluation twice (a resumed publish)
            r["provenance"]["reproduce"] = job
            if history:
                r["provenance"]["previous_results"] = history
            result_files.check(r, src)
            # all of a model's files or none; the JSON, which names the others, goes last
            files = {f: (staging / name / f).read_bytes() for f in r.get("files", {}).values()}
            files[f"{name}.json"] = json.dumps(r, indent=2) + "\n"
            atomic_write_set(results_dir, files)
    print(f"results: {results_dir} ({', '.join(_name(plan, d) for d in plan['dims'])}); job wall time "
          f"{job['job_wall_time_s'] / 60:.1f} min")


# ----------------------------------------------------------------------------------------------------------------
# command line


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``reproduce``'s options. Each is checked while parsing (:mod:`training.cli`), before any work: the options it
    shares with ``train`` and ``evaluate`` take their bounds from ``TrainConfig`` and ``evaluate``'s, so a bound is
    written once."""
    from . import cli
    from .config import TrainConfig

    e_hi = TrainConfig.BOUNDS["epochs"][1]
    meta = {f.name: f.metadata.get("help", "").replace("%", "%%") for f in dataclasses.fields(TrainConfig)}
    p.add_argument("--minutes", type=cli.number(float, 0.0, 100_000.0, lo_open=True), default=60.0,
                   help="wall-time budget of the whole job (sets the epochs), more than 0")
    p.add_argument("--out-dir", type=cli.path_text, default="runs/reproduce",
                   help="run folders, plan, logs (default: runs/reproduce)")
    p.add_argument("--results-dir", type=cli.path_text, default=None,
                   help="where the results go (default: the package's training/results)")
    p.add_argument("--dims", type=cli.config_number("latent_dim"), nargs="+", default=list(PAPER_DIMS),
                   metavar="D", help=f"latent sizes, each from {TrainConfig.BOUNDS['latent_dim'][0]} to "
                   f"{TrainConfig.BOUNDS['latent_dim'][1]}, at most {MAX_DIMS} different (default: 2 10 20)")
    p.add_argument("--epochs", type=cli.number(int, 0, e_hi, what="0 = derived from --minutes"), default=0,
                   help=f"fix the epochs (1-{e_hi}) instead of deriving them from --minutes (0, the default)")
    p.add_argument("--recipe", choices=("recipe", "previous"), default="recipe",
                   help="'recipe' (default) or 'previous' (Adam 1e-3 constant, batch 100: the old way, for comparison)")
    p.add_argument("--prior", type=cli.config_text("prior"), default="standard",
                   help="prior of every model (as train's --prior): " + meta["prior"])
    p.add_argument("--threads-per-run", type=cli.config_number("threads", lo=1), default=1,
                   help="torch threads per run (default 1)")
    p.add_argument("--device", type=cli.config_text("device"), default="auto", help=meta["device"])
    p.add_argument("--iwae-k", type=cli.eval_number("iwae_k"), default=1000,
                   help="importance samples per test image for the IWAE bound (as evaluate's)")
    p.add_argument("--iwae-images", type=cli.eval_number("iwae_images"), default=2000,
                   help="test images for the IWAE bound (as evaluate's)")
    p.add_argument("--data-root", type=cli.path_text, default=None,
                   help="folder holding MNIST/raw (default $ELBO_LAB_DATA, else ./data)")
    p.add_argument("--train-subset", type=cli.eval_number("train_subset"), default=None,
                   help="first n training images only (smoke tests); at least the recipe's batch size")
    p.add_argument("--seed", type=cli.config_number("seed"), default=0, help=meta["seed"] + " (every run)")
    p.add_argument("--no-verify-data", dest="no_verify", action="store_true",
                   help="skip the MNIST checksum (test data), as train's --no-verify-data")
    p.add_argument("--tag", type=cli.name("--tag", empty_ok=True, max_len=MAX_TAG), default="",
                   help=f"appended to the results names (vae_d10_TAG), e.g. for a short budget: a plain name of at "
                        f"most {MAX_TAG} characters")
    p.add_argument("--calibration-seconds", type=cli.number(float, 0.0, 3600.0, lo_open=True), default=6.0,
                   help="seconds of the throughput measurement (default 6)")
    p.add_argument("--overhead-seconds", type=cli.number(float, 0.0, 1e6), default=90.0,
                   help="budget kept for start-up, calibration and copying (default 90)")
    p.add_argument("--poll-seconds", type=cli.number(float, 0.01, 3600.0), default=2.0,
                   help="how often the job looks at its runs (default 2)")
    p.add_argument("--replan-epochs", type=cli.number(int, 0, e_hi, what="0 = never"), default=3,
                   help="after this many epochs, refit the epochs to the budget at the measured speed (0 = never)")


def _child(argv: list[str]) -> int:
    if argv[0] == "_calibrate":
        spec = json.loads(argv[1])
        print("CALIBRATION " + json.dumps(calibrate(spec["batch_sizes"], spec["seconds"], spec["threads"],
                                                     device=spec["device"])), flush=True)
        return 0
    if argv[0] == "_evaluate":
        from .evaluate import evaluate_run

        spec = json.loads(argv[1])
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
        evaluate_run(spec.pop("run_dir"), **spec)
        return 0
    if argv[0] == "_train":
        from .config import TrainConfig
        from .train import train

        cfg = TrainConfig.from_dict(json.loads(Path(argv[1]).read_text()))
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
        train(cfg, resume="--resume" in argv[2:])
        return 0
    raise SystemExit(f"unknown child command {argv[0]!r}")


if __name__ == "__main__":
    if sys.argv[1:2] and sys.argv[1] in ("_calibrate", "_evaluate", "_train"):
        sys.exit(_child(sys.argv[1:]))
    from training.__main__ import main as _main  # ``python -m training.reproduce ...`` = ``python -m training reproduce ...``

    sys.exit(_main(["reproduce", *sys.argv[1:]]))

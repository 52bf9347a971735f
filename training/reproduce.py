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
3. **Evaluate** each model as soon as it is trained (``python -m training evaluate``, the same command as by hand),
   into ``OUT_DIR/results``; when all are done the files are copied to ``--results-dir`` (``training/results``)
   with the job's provenance added: the plan, the recipe, the job's wall time, and the machine's load average
   sampled during the run (``os.getloadavg``: other processes on the machine slow the job; the numbers say how
   much they were there).

One progress bar covers the whole job (epochs of all runs, then the evaluations). A kill at any point loses at
most the running epoch of each run: the children die with the parent (``PR_SET_PDEATHSIG``), every file is
written atomically, and a restarted job skips what is complete.

The job's parts, one module each: the recipe as ``TrainConfig`` values (:mod:`training.recipe`), calibration and
the plan (:mod:`training.plan`), the worker processes, each a public command (:mod:`training.workers`: ``python
-m training train``, ``evaluate``, ``calibrate``), publishing (:mod:`training.publish`). This module is the
command line and the loop that drives them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .io import TrainingError, UsageError
from .plan import (epochs_done, job_command, make_plan, matmul_gflops, measure_side_by_side, now, plan_differences,
                   read_plan, replan, result_name)
from .publish import publish
from .recipe import N_TRAIN, PAPER_DIMS, PREVIOUS_RECIPE, RECIPE, recipe_for, run_config, time_to
from .workers import ReproduceError, evaluate_args, spawn, train_args

#: At most this many latent sizes in one job; a tag of at most this many characters (names stay <= 64).
MAX_DIMS = 8
MAX_TAG = 32
#: ``--recipe`` values and what they are called in the results' provenance note.
RECIPE_NAMES = {"recipe": "recipe of training/recipe.py", "previous": "previous recipe (Adam 1e-3, constant, batch 100)"}


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
        check_name(result_name(plan_like, d), "--tag")
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


def _write_json(path: Path, obj) -> None:
    from .io import atomic_write as atomic_write_text

    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def _results_epochs(path: Path) -> int | None:
    try:
        return int(json.loads(path.read_text())["provenance"]["epochs"])
    except Exception:
        return None


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
    plan = read_plan(plan_path) if plan_path.exists() else None
    if plan is not None:
        wanted = {"dims": list(args.dims), "prior": args.prior, "recipe_name": args.recipe, "seed": args.seed,
                  "train_subset": args.train_subset, "tag": args.tag, "iwae_k": args.iwae_k,
                  "iwae_images": args.iwae_images, "verify": not args.no_verify, "epochs": args.epochs,
                  "calibration_wanted": not args.epochs}
        diff = plan_differences(plan, wanted)
        started = any((out / result_name(plan, d) / "checkpoint.pt").exists() for d in plan["dims"])
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
    session = {"started": now(), "t0": time.time(), "loadavg": []}
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
    runs = {d: inside(out, out / result_name(plan, d), "--out-dir") for d in dims}
    for d in dims:  # every file the job writes lies in --out-dir (the names are plain: proven here)
        for suffix in (".config.json", ".train.log", ".eval.log"):
            inside(out, out / f"{result_name(plan, d)}{suffix}", "--out-dir")
        inside(out, staging / result_name(plan, d), "--out-dir")
    configs = {}
    for d, rd in runs.items():
        configs[d] = run_config(d, E, plan["recipe"], rd, plan["threads_per_run"], plan["device"], plan["data_root"],
                                plan["train_subset"], plan["prior"], plan["seed"], plan.get("verify", True))
        rd.mkdir(parents=True, exist_ok=True)
        _write_json(out / f"{result_name(plan, d)}.config.json", configs[d].to_dict())  # a record of the run

    from tqdm.auto import tqdm

    n_eval_units = 10  # one evaluation = this many bar units
    total = len(dims) * (E + n_eval_units)
    tty = sys.stderr.isatty()
    bar = tqdm(total=total, desc="reproduce Table 1", unit="epoch", dynamic_ncols=True, mininterval=1 if tty else 60)
    last_draw = 0.0
    procs: dict = {}  # latent size -> ("train" | "eval", its subprocess.Popen)
    state = {d: "train" for d in dims}
    for d in dims:
        if epochs_done(runs[d]) >= E and (runs[d] / "checkpoint.pt").exists():
            state[d] = "eval"
        if state[d] == "eval" and _results_epochs(staging / result_name(plan, d) / f"{result_name(plan, d)}.json") == E:
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
                name = result_name(plan, d)
                if state[d] == "train":
                    procs[d] = ("train", spawn(train_args(configs[d], resume=(runs[d] / "checkpoint.pt").exists()),
                                               out / f"{name}.train.log", plan["threads_per_run"]))
                else:
                    note = (f"python -m training reproduce: the {RECIPE_NAMES[plan['recipe_name']]} "
                            f"({json.dumps(plan['recipe'])}), "
                            f"{E} epochs, {plan['parallel_runs']} runs side by side with {plan['threads_per_run']} "
                            f"torch thread(s) each on a {plan['cpu_count']}-core machine shared with other work "
                            f"(load average in provenance.reproduce)")
                    procs[d] = ("eval", spawn(evaluate_args(runs[d], name, staging / name, plan["iwae_k"],
                                                            plan["iwae_images"], plan["threads_per_run"], note,
                                                            plan["data_root"], plan["train_subset"],
                                                            plan.get("verify", True)),
                                              out / f"{name}.eval.log", plan["threads_per_run"]))
                running += 1
            # progress
            done_units = 0
            post = {}
            for d in dims:
                ep = min(epochs_done(runs[d]), E)
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
            new_e = replan(plan, runs, state, elapsed_before + time.time() - session["t0"], args.replan_epochs)
            if new_e is None and len(plan.get("replan_points_checked", [])) != n_checked:
                _write_json(plan_path, plan)
            if new_e is not None:
                _write_json(plan_path, plan)
                print(f"\nre-plan after {plan['replan']['at_epoch']} epochs: {plan['replan']['seconds_per_epoch']:.0f} s "
                      f"per epoch measured (planned {plan['calibration']['seconds_per_epoch']:.0f}): "
                      f"{plan['replan']['epochs_before']} -> {new_e} epochs", flush=True)
                E = new_e
                for d, rd in runs.items():
                    configs[d] = run_config(d, E, plan["recipe"], rd, plan["threads_per_run"], plan["device"],
                                            plan["data_root"], plan["train_subset"], plan["prior"], plan["seed"],
                                            plan.get("verify", True))
                    _write_json(out / f"{result_name(plan, d)}.config.json", configs[d].to_dict())
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
                name = result_name(plan, d)
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


# ----------------------------------------------------------------------------------------------------------------
# command line


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``reproduce``'s options. Each is checked while parsing (:mod:`training.cli`), before any work: the options it
    shares with ``train`` (``--prior``, ``--device``, ``--seed``, ``--data-root``) are made from ``TrainConfig``'s
    field metadata by :func:`training.cli.add_config_option`, as ``train``'s are; the IWAE options take
    ``evaluate``'s bounds: a bound or a help text is written once."""
    from . import cli
    from .config import TrainConfig

    e_hi = TrainConfig.BOUNDS["epochs"][1]
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
    cli.add_config_option(p, "prior", help_prefix="prior of every model (as train's --prior): ")
    p.add_argument("--threads-per-run", type=cli.config_number("threads", lo=1), default=1,
                   help="torch threads per run (default 1)")
    cli.add_config_option(p, "device")
    p.add_argument("--iwae-k", type=cli.eval_number("iwae_k"), default=1000,
                   help="importance samples per test image for the IWAE bound (as evaluate's)")
    p.add_argument("--iwae-images", type=cli.eval_number("iwae_images"), default=2000,
                   help="test images for the IWAE bound (as evaluate's)")
    cli.add_config_option(p, "data_root")
    p.add_argument("--train-subset", type=cli.eval_number("train_subset"), default=None,
                   help="first n training images only (smoke tests); at least the recipe's batch size")
    cli.add_config_option(p, "seed", help_suffix=" (every run)")
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


__all__ = ["MAX_DIMS", "MAX_TAG", "N_TRAIN", "PAPER_DIMS", "PREVIOUS_RECIPE", "RECIPE", "ReproduceError", "add_arguments",
           "job_command", "matmul_gflops", "measure_side_by_side", "reproduce", "run_config", "time_to", "validate"]

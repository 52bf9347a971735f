"""``python -m training reproduce``: schedule, re-plan, the whole job killed and resumed, CUDA step without host syncs."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from training.config import TrainConfig
from training.plan import replan
from training.recipe import RECIPE, run_config
from training.checkpoint import load_model
from training.train import batch_size_at, learning_rate, train

from training_fixtures import write_idx_mnist
ROOT = Path(__file__).resolve().parents[2]


def test_recipe_schedule_warms_up_decays_to_final_and_switches_batch():
    cfg = run_config(20, 10, RECIPE, "/tmp/x", 1, "cpu", None, None)
    steps = 60000 // cfg.batch_size
    assert learning_rate(cfg, 1, 0, steps) < 0.01 * cfg.lr  # warm-up starts near 0
    assert learning_rate(cfg, 3, 0, steps) == pytest.approx(cfg.lr)  # peak right after the 2 warm-up epochs
    last_steps = 60000 // batch_size_at(cfg, 10)
    assert learning_rate(cfg, 10, last_steps - 1, last_steps) == pytest.approx(cfg.lr_final, abs=1e-5)
    assert [batch_size_at(cfg, e) for e in (1, 5, 6, 10)] == [100, 100, 250, 250]  # the last half at 250
    const = run_config(20, 10, {**RECIPE, "lr_schedule": "constant"}, "/tmp/x", 1, "cpu", None, None)
    assert learning_rate(const, 7, 3, steps) == const.lr


def test_replan_fits_epochs_to_the_budget_once_per_point(tmp_path):
    runs = {}
    for d in (2, 10):
        rd = tmp_path / f"vae_d{d}"
        rd.mkdir()
        (rd / "metrics.jsonl").write_text("".join(json.dumps({"epoch": e, "elbo": -100.0, "seconds": 100.0}) + "\n"
                                                  for e in (1, 2, 3)))
        runs[d] = rd
    plan = {"minutes": 30, "epochs": 40, "recipe": dict(RECIPE, late_fraction=0.0, batch_size_late=0),
            "calibration": {"images_per_s_per_run": {"100": 1000.0}, "seconds_per_epoch": 60.0,
                            "eval_seconds_estimate": 120.0}}
    state = {2: "train", 10: "train"}
    new = replan(plan, runs, state, elapsed=400.0, at_epochs=3)
    # remaining = 1800 - 400 - 120 * (100 / 60) - 60 = 1140 s at 100 s/epoch: 11 more epochs after epoch 3
    assert new == 14 and plan["epochs"] == 14 and plan["replans"][-1]["epochs_before"] == 40
    assert replan(plan, runs, state, elapsed=400.0, at_epochs=3) is None  # the same point is not re-done


def _job(args, env):
    return subprocess.Popen([sys.executable, "-m", "training", "reproduce", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_job_killed_then_resumed_writes_valid_results_equal_to_an_uninterrupted_run(tmp_path):
    from training import result_files

    data = write_idx_mnist(tmp_path / "data", n_train=300, n_test=60)
    out, res = tmp_path / "job", tmp_path / "results"
    args = ["--dims", "2", "--epochs", "3", "--no-verify-data", "--data-root", str(data), "--out-dir", str(out),
            "--results-dir", str(res), "--iwae-k", "4", "--iwae-images", "5", "--poll-seconds", "0.2"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = _job(args, env)
    metrics = out / "vae_d2" / "metrics.jsonl"
    t0 = time.time()
    while not (metrics.exists() and metrics.read_text().strip()) and time.time() - t0 < 300 and p.poll() is None:
        time.sleep(0.2)
    assert p.poll() is None, p.stdout.read().decode()[-2000:]
    p.send_signal(signal.SIGKILL)  # the parent dies at once; its trainer dies with it (PR_SET_PDEATHSIG)
    p.wait()
    assert not (res / "vae_d2.json").exists()
    time.sleep(1.0)
    p = _job(args, env)
    log = p.communicate(timeout=600)[0].decode()
    assert p.returncode == 0, log[-2000:]
    assert "resuming the job" in log
    r = json.loads((res / "vae_d2.json").read_text())
    result_files.check(r, res / "vae_d2.json")
    job = r["provenance"]["reproduce"]
    assert job["plan"]["epochs"] == 3 and len(job["sessions"]) == 2 and r["provenance"]["epochs"] == 3
    # the resumed job ends with the parameters of an uninterrupted run of the same config
    cfg = TrainConfig.from_dict({**json.loads((out / "vae_d2.config.json").read_text()),
                                 "out_dir": str(tmp_path / "straight")})
    straight = train(cfg)
    a, b = load_model(straight)[0].state_dict(), load_model(out / "vae_d2")[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda_step_has_no_host_sync_and_trains(tmp_path):
    from training.elbo_step import ManualElboStep
    from training.model import VAE

    dev = torch.device("cuda")
    model = VAE(latent_dim=4, hidden=(32,)).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    step = ManualElboStep(model)
    x = (torch.rand(64, 784, device=dev) < 0.3).float()
    step.step(x)
    opt.step()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any host synchronisation in the step raises
    try:
        for _ in range(3):
            elbo, _, _ = step.step(x)
            opt.step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(elbo).item()
    g = torch.Generator().manual_seed(0)
    images = torch.rand(200, 784, generator=g) * 0.6, torch.rand(50, 784, generator=g) * 0.6
    out = train(TrainConfig(latent_dim=2, hidden=(32,), epochs=2, batch_size=50, device="cuda", progress=False,
                            out_dir=str(tmp_path / "run"), lr_schedule="cosine", warmup_epochs=1.0), data=images)
    assert load_model(out)[2] == 2


@pytest.mark.parametrize("prior", ["mog:3", "vamp:4"])
def test_job_with_a_learned_prior_publishes_its_own_named_results(tmp_path, prior):
    """``reproduce --prior`` trains with the recipe, evaluates with the learned prior and publishes
    ``vae_d2_{prior}`` (the standard-prior file is untouched); a second run resumes and republishes the same."""
    from training import result_files

    data = write_idx_mnist(tmp_path / "data", n_train=300, n_test=60)
    out, res = tmp_path / "job", tmp_path / "results"
    args = ["--dims", "2", "--epochs", "2", "--prior", prior, "--no-verify-data", "--data-root", str(data),
            "--out-dir", str(out), "--results-dir", str(res), "--iwae-k", "4", "--iwae-images", "5",
            "--poll-seconds", "0.2"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    log = _job(args, env).communicate(timeout=600)[0].decode()
    name = "vae_d2_" + prior.replace(":", "")
    assert (res / f"{name}.json").exists(), log[-2000:]
    assert not (res / "vae_d2.json").exists()
    r = result_files.load_path(res / f"{name}.json")
    assert r["config"]["prior"] == prior and r["config"]["lr_schedule"] == RECIPE["lr_schedule"]
    assert r["provenance"]["reproduce"]["matmul_gflops_at_end"] > 0
    t = r["train"]["terms"]
    # the surgery identity holds for the learned prior's terms too: avg KL = MI (estimated directly, not by
    # subtraction) + marginal KL, up to the Monte Carlo errors
    gap = t["avg_kl"]["value"] - t["index_code_mi_direct"]["value"] - t["marginal_kl"]["value"]
    assert abs(gap) < 4 * math.hypot(t["avg_kl"]["se"], t["index_code_mi_direct"]["se"], t["marginal_kl"]["se"]), t
    log2 = _job(args, env).communicate(timeout=600)[0].decode()
    assert "resuming the job" in log2
    assert result_files.load_path(res / f"{name}.json")["train"] == r["train"]


def test_job_command_names_the_flags_that_made_the_results():
    from training.reproduce import job_command

    base = {"minutes": 60.0, "epochs": 205, "dims": [2, 10, 20], "prior": "standard", "recipe_name": "recipe",
            "tag": "", "seed": 0, "train_subset": None}
    assert job_command({**base, "calibration": {"seconds_per_epoch": 16.0}}) == "python -m training reproduce --minutes 60"
    fixed = {**base, "calibration": {}, "epochs": 30, "dims": [10, 20], "prior": "vamp:500", "tag": "x"}
    assert job_command(fixed) == "python -m training reproduce --epochs 30 --dims 10 20 --prior vamp:500 --tag x"


# --- issue 23: every option validated before any work or write; plans never bind a failed start ----------------

def _cli(capsys, *args):
    """``python -m training`` in-process; a failure must be one line ``error: ...``, never a traceback."""
    from training.__main__ import main

    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err + out
    if rc != 0:
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert "unexpected" not in err, err
    return rc, out, err


@pytest.fixture
def job_dirs(tmp_path, monkeypatch):
    """tiny MNIST, a fresh out/results folder pair, and a guard: any start of real work fails the test."""
    import training.reproduce as rp

    data = write_idx_mnist(tmp_path / "data", n_train=300, n_test=60)
    (tmp_path / "f").write_text("a file")

    def no_work(*a, **k):
        raise AssertionError("validation should have refused this before any work")

    monkeypatch.setattr(rp, "make_plan", no_work)
    monkeypatch.setattr(rp, "measure_side_by_side", no_work)
    return data, tmp_path / "job", tmp_path / "res"


BAD_REPRODUCE = [
    (["--epochs", "-3"], "--epochs"), (["--epochs", "1e3"], "--epochs"), (["--dims", "0"], "--dims"),
    (["--dims", "2", "2"], "--dims"), (["--dims", "2000"], "--dims"), (["--threads-per-run", "0"], "--threads-per-run"),
    (["--threads-per-run", "nan"], "--threads-per-run"), (["--iwae-k", "0"], "--iwae-k"),
    (["--iwae-k", "inf"], "--iwae-k"), (["--iwae-images", "1"], "--iwae-images"),
    (["--iwae-images", "-5"], "--iwae-images"), (["--train-subset", "1"], "--train-subset"),
    (["--train-subset", "0"], "--train-subset"), (["--train-subset", "nan"], "--train-subset"), (["--seed", "-1"], "--seed"), (["--seed", "nan"], "--seed"),
    (["--minutes", "0"], "--minutes"), (["--minutes", "nan"], "--minutes"), (["--minutes", "inf"], "--minutes"),
    (["--minutes", "1e400"], "--minutes"), (["--prior", "mog:1000000000000000"], "--prior"),
    (["--prior", "gauss"], "--prior"), (["--calibration-seconds", "0"], "--calibration-seconds"),
    (["--calibration-seconds", "nan"], "--calibration-seconds"), (["--overhead-seconds", "-1"], "--overhead-seconds"),
    (["--overhead-seconds", "inf"], "--overhead-seconds"), (["--replan-epochs", "-1"], "--replan-epochs"),
    (["--poll-seconds", "0"], "--poll-seconds"), (["--poll-seconds", "-inf"], "--poll-seconds"),
    (["--device", "tpu"], "--device"), (["--device", ""], "--device"), (["--tag", "/../../escape"], "--tag"),
    (["--tag", ".."], "--tag"), (["--tag", "a/b"], "--tag"), (["--tag", "x" * 40], "--tag"),
    (["--results-dir", "TMP/f"], "--results-dir"), (["--out-dir", "TMP/f/sub"], "--out-dir"),
    (["--data-root", "TMP/nowhere"], "MNIST"), (["--recipe", "fast"], "--recipe"),
]


@pytest.mark.parametrize("extra, named", BAD_REPRODUCE)
def test_reproduce_refuses_a_bad_option_before_any_work_or_write(job_dirs, capsys, extra, named):
    data, out, res = job_dirs
    tmp = out.parent
    before = sorted(p.relative_to(tmp) for p in tmp.rglob("*"))
    args = ["reproduce", "--dims", "2", "--epochs", "1", "--data-root", data, "--no-verify-data",
            "--out-dir", out, "--results-dir", res] + [a.replace("TMP", str(tmp)) for a in extra]
    rc, _, err = _cli(capsys, *args)
    assert rc == 2 and named in err, err
    assert sorted(p.relative_to(tmp) for p in tmp.rglob("*")) == before  # not even plan.json or --out-dir


def test_a_plan_from_a_failed_start_does_not_block_the_corrected_command(job_dirs, capsys, monkeypatch):
    """A plan left by a start that finished no epoch (a bad value, damaged JSON) is planned again; a plan whose
    runs started binds the folder, and the message names the command that resumes it."""
    import training.reproduce as rp

    data, out, res = job_dirs
    out.mkdir()
    args = ["reproduce", "--dims", "2", "--epochs", "2", "--data-root", data, "--no-verify-data", "--out-dir", out,
            "--results-dir", res]

    class Planned(Exception):
        pass

    def planned(a, device):
        raise Planned(a.epochs)

    monkeypatch.setattr(rp, "make_plan", planned)
    stale = {"created": "x", "minutes": 60, "dims": [2], "epochs": 3, "recipe": RECIPE, "recipe_name": "recipe",
             "prior": "standard", "device": "cpu", "parallel_runs": 1, "threads_per_run": 1, "calibration": {},
             "iwae_k": 1000, "iwae_images": 2000, "train_subset": None, "seed": 0, "verify": False, "tag": ""}
    for content in (json.dumps({**stale, "epochs": -3}), "{damaged", json.dumps(stale)):
        (out / "plan.json").write_text(content)
        with pytest.raises(Planned):  # planned again: the stale plan did not bind the corrected command
            rp.reproduce(rp_args(args))
    (out / "vae_d2").mkdir()
    (out / "vae_d2" / "checkpoint.pt").write_bytes(b"x")  # the planned job started: it binds the folder
    rc, _, err = _cli(capsys, *args)
    assert rc == 2 and "--epochs 3" in err and "choose another --out-dir" in err


def rp_args(args):
    from training.__main__ import build_parser

    return build_parser().parse_args([str(a) for a in args])


def test_reproduce_with_relative_paths_from_another_folder_writes_only_inside_its_folders(tmp_path, monkeypatch,
                                                                                          capsys):
    """A relative --out-dir/--results-dir/--data-root from another working directory, with a tag: the children
    (which run in the package's folder) get absolute paths; every file lands in --out-dir or --results-dir."""
    from training import result_files

    write_idx_mnist(tmp_path / "work" / "data", n_train=300, n_test=60)
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    outside_before = sorted(p for p in tmp_path.rglob("*") if "work" not in p.relative_to(tmp_path).parts)
    rc, out, err = _cli(capsys, "reproduce", "--dims", "2", "--epochs", "1", "--data-root", "data",
                        "--no-verify-data", "--out-dir", "job", "--results-dir", "res", "--tag", "t1",
                        "--iwae-k", "2", "--iwae-images", "2", "--poll-seconds", "0.2", "--train-subset", "200")
    assert rc == 0, err
    r = result_files.load_path(tmp_path / "work" / "res" / "vae_d2_t1.json")
    assert r["provenance"]["epochs"] == 1 and r["train"]["n"] == 200
    # --train-subset 200 (valid for train) is below the recipe's late batch of 250: that batch is the subset
    recipe = r["provenance"]["reproduce"]["recipe"]
    assert recipe["batch_size"] == 100 and recipe["batch_size_late"] == 200 and recipe["batch_capped_to_subset"]
    work = tmp_path / "work"
    for p in work.rglob("*"):
        assert p.relative_to(work).parts[0] in ("data", "job", "res"), p
    assert sorted(p for p in tmp_path.rglob("*") if "work" not in p.relative_to(tmp_path).parts) == outside_before


def test_a_second_job_in_the_same_folder_is_refused_at_once(job_dirs, capsys):
    from training.io import FolderLock

    data, out, res = job_dirs
    out.mkdir()
    with FolderLock(out):  # a first job holds the folder
        rc, _, err = _cli(capsys, "reproduce", "--dims", "2", "--epochs", "1", "--data-root", data,
                          "--no-verify-data", "--out-dir", out, "--results-dir", res)
    assert rc == 1 and "in use by another process" in err
    assert list(out.iterdir()) == []


def test_the_recipe_is_trainconfig_values():
    """Every key of a recipe is a ``TrainConfig`` field, except the few that say how epoch-dependent fields are
    derived; a misspelt key (``learning_rate``) would be refused here, not silently ignored."""
    import dataclasses

    from training.config import TrainConfig
    from training.recipe import PREVIOUS_RECIPE, RECIPE_ONLY

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for recipe in (RECIPE, PREVIOUS_RECIPE):
        assert set(recipe) - set(RECIPE_ONLY) <= fields, set(recipe) - set(RECIPE_ONLY) - fields
        cfg = run_config(10, 8, recipe, Path("x"), 1, "cpu", None, None)
        assert all(getattr(cfg, k) == v for k, v in recipe.items() if k not in RECIPE_ONLY + ("warmup_epochs",))
    with pytest.raises(TypeError):
        run_config(10, 8, {**RECIPE, "learning_rate": 1.0}, Path("x"), 1, "cpu", None, None)


def test_a_worker_trains_the_exact_config_through_the_public_cli():
    """The worker's ``python -m training train`` flags parse back to the very config (floats exact)."""
    from training.__main__ import build_parser
    from training.config import TrainConfig
    from training.workers import train_args

    cfg = run_config(20, 37, {**RECIPE, "lr": 1 / 3}, Path("runs/x y"), 2, "cpu", "/data/a b", 600, "vamp:7", 11,
                     verify=False)  # 1/3: a float that needs all its digits
    args = train_args(cfg, resume=True)
    assert args[:3] == ["-m", "training", "train"] and args[-1] == "--resume"
    parsed = build_parser().parse_args(args[2:])
    given = {k: v for k, v in vars(parsed).items() if k in TrainConfig.__dataclass_fields__}
    given["hidden"] = tuple(given["hidden"])
    assert TrainConfig(**given) == cfg

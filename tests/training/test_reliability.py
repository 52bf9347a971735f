"""Issue 11: no run lost, no traceback, no wrong result written quietly -- one test (or more) per numbered case.

Every command runs in-process through ``training.__main__.main`` on the tiny IDX MNIST of ``conftest.py``
(300 training, 100 test images, a 32-unit network), so each test takes a fraction of a second.
"""

from __future__ import annotations

import copy
import errno
import gzip
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import training.io as tio
from training import result_files
from training.__main__ import main as cli_main
from training.elbo_step import ManualElboStep
from training.evaluate import evaluate_run
from training.io import DiskFull, FolderBusy, FolderLock
from training.result_files import ResultsError
from training.checkpoint import load_checkpoint
from training.train import TrainingDiverged, train

from training_fixtures import train_config, write_idx_mnist

REPO = Path(__file__).resolve().parents[2]
TINY = ["--epochs", "1", "--hidden", "32", "--batch-size", "50", "--threads", "1", "--no-progress", "--test-every", "1"]


def run(capsys, *args) -> tuple[int, str, str]:
    """Run the CLI in-process; a failure must be exactly one line on stderr and never a traceback."""
    rc = cli_main([str(a) for a in args])
    out, err = capsys.readouterr()
    if rc != 0:
        assert err.endswith("\n") and err.count("\n") == 1 and err.startswith(("error: ", "interrupted")), err
    assert "Traceback" not in err
    return rc, out, err


def train_args(data_root: Path, out: Path, *extra) -> list:
    return ["train", "--data-root", data_root, "--no-verify-data", "--out-dir", out, *TINY, *extra]


def eval_args(run_dir: Path, data_root: Path, results: Path, *extra) -> list:
    return ["evaluate", run_dir, "--data-root", data_root, "--no-verify-data", "--results-dir", results,
            "--iwae-k", "5", "--iwae-images", "5", *extra]


def listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


# --- case 1: an existing run is continued only with --resume, replaced only with --overwrite -------------------

@pytest.mark.parametrize("second", [[], ["--latent-dim", "5"], ["--epochs", "3"]])
def test_case1_existing_run_is_not_replaced_without_overwrite(tmp_path, tiny_mnist, capsys, second):
    out = tmp_path / "r"
    assert run(capsys, *train_args(tiny_mnist, out))[0] == 0
    before = listing(out)
    rc, _, err = run(capsys, *train_args(tiny_mnist, out, *second))
    assert rc == 2 and "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert listing(out) == before  # nothing touched
    rc, _, _ = run(capsys, *train_args(tiny_mnist, out, "--overwrite", "--latent-dim", "3"))
    assert rc == 0 and load_checkpoint(out)["config"].latent_dim == 3


def test_case1_resume_and_overwrite_together_is_a_usage_error(tmp_path, tiny_mnist, capsys):
    rc, _, err = run(capsys, *train_args(tiny_mnist, tmp_path / "r", "--resume", "--overwrite"))
    assert rc == 2 and "not allowed with" in err


# --- case 2: one process per run folder --------------------------------------------------------------------

def test_case2_second_writer_of_a_run_folder_is_refused(tmp_path, tiny_mnist, capsys):
    out = tmp_path / "r"
    out.mkdir()
    with FolderLock(out):  # another process's lock (flock locks are per open file description)
        rc, _, err = run(capsys, *train_args(tiny_mnist, out))
        assert rc == 1 and "in use by another process" in err
        assert not (out / "checkpoint.pt").exists()
        with pytest.raises(FolderBusy):
            with FolderLock(out):
                pass
    assert run(capsys, *train_args(tiny_mnist, out))[0] == 0  # the lock is gone with its holder


def test_case2_and_ctrl_c_with_real_processes(tmp_path, tiny_mnist, capsys):
    """A real ``python -m training train`` holds its folder; a second one is refused; SIGINT stops it in one line
    with the command that resumes it, and that command works."""
    out = tmp_path / "r"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "training", *map(str, train_args(tiny_mnist, out, "--epochs", "100000"))]
    # stdout and stderr go to files, not pipes: a tiny epoch takes milliseconds, and a pipe nobody reads fills
    # up (64 KiB) while the second process is refused -- the trainer would then block in write() and never see
    # the SIGINT (seen once in a clean-clone run on a busy machine)
    log_out, log_err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with open(log_out, "w") as fo, open(log_err, "w") as fe:
        # SIG_DFL in the child: a test run started in the background inherits an ignored SIGINT, and Python
        # installs its KeyboardInterrupt handler only when SIGINT is not ignored at start-up
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=fo, stderr=fe, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 120
        while not (out / "checkpoint.pt").exists():
            assert proc.poll() is None and time.time() < deadline, log_err.read_text() if proc.poll() else "slow"
            time.sleep(0.2)
        rc, _, err = run(capsys, *train_args(tiny_mnist, out, "--resume"))
        assert rc == 1 and "in use by another process" in err
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        err = log_err.read_text()
    finally:
        proc.kill()
    assert proc.returncode == 130 and err.count("\n") == 1 and "Traceback" not in err, err
    advice = err.split("continue with: ", 1)[1].strip()
    assert advice.startswith("python -m training train") and "--resume" in advice
    saved = load_checkpoint(out)["epoch"]
    rc, _, _ = run(capsys, *shlex.split(advice)[3:], "--epochs", saved + 1, "--data-root", tiny_mnist,
                   "--no-verify-data")
    assert rc == 0 and load_checkpoint(out)["epoch"] == saved + 1


# --- case 3: metrics cannot be lost; stale temporary files are removed -----------------------------------------

class Killed(BaseException):
    """Stands for kill -9 between two writes (a BaseException, so no handler of ours catches it)."""


def test_case3_kill_between_checkpoint_and_metrics_loses_no_row(tmp_path, tiny_images, monkeypatch):
    full = train(train_config(tmp_path / "a", epochs=3), data=tiny_images)
    real = tio.atomic_write_set
    calls = {"n": 0}

    def dying(folder, files):
        if "metrics.jsonl" in files and calls["n"] >= 2:  # epoch 2's checkpoint is on disk, its metrics are not
            raise Killed
        if "metrics.jsonl" in files:
            calls["n"] += 1
        return real(folder, files)

    monkeypatch.setattr(tio, "atomic_write_set", dying)
    with pytest.raises(Killed):
        train(train_config(tmp_path / "b", epochs=3), data=tiny_images)
    monkeypatch.setattr(tio, "atomic_write_set", real)
    part = tmp_path / "b" / "run"
    assert load_checkpoint(part)["epoch"] == 2
    assert len((part / "metrics.jsonl").read_text().splitlines()) == 1  # the row of epoch 2 missed the file
    train(train_config(tmp_path / "b", epochs=3), resume=True, data=tiny_images)
    rows = [json.loads(line) for line in (part / "metrics.jsonl").read_text().splitlines()]
    ref = [json.loads(line) for line in (full / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert [r["elbo"] for r in rows] == [r["elbo"] for r in ref]  # and the resumed run is the same run
    assert load_checkpoint(part)["metrics"] == rows


def test_case3_stale_temporary_files_are_removed_on_start(tmp_path, tiny_images):
    """Only the tool's own temporary files (unique prefix) are removed; a user's ``*.tmp`` files stay (issue 23)."""
    out = train(train_config(tmp_path), data=tiny_images)
    stale = [out / ".elbo-lab-tmp.checkpoint.pt.4242.deadbeef.tmp"]  # what a killed atomic_write leaves
    users = [out / "notes.tmp", out / ".checkpoint.pt.4242.deadbeef.tmp", out / "draft.tmp"]
    for p in stale + users:
        p.write_bytes(b"\0" * 1000)
    train(train_config(tmp_path, epochs=2), resume=True, data=tiny_images)
    assert not any(p.exists() for p in stale)
    assert all(p.read_bytes() == b"\0" * 1000 for p in users)
    assert not list(out.glob(".elbo-lab-*"))


# --- case 4: evaluate refuses non-finite terms and writes a result set all-or-nothing ---------------------------

def _poison(run_dir: Path, value: float) -> None:
    ckpt = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    for k, v in ckpt["model"].items():
        if k.startswith("encoder"):
            v.fill_(value)
    torch.save(ckpt, run_dir / "checkpoint.pt")


def test_case4_evaluate_on_a_diverged_run_writes_nothing(tmp_path, tiny_mnist, capsys):
    out, res = tmp_path / "r", tmp_path / "res"
    assert run(capsys, *train_args(tiny_mnist, out))[0] == 0
    _poison(out, float("nan"))
    rc, _, err = run(capsys, *eval_args(out, tiny_mnist, res))
    assert rc == 1 and "refusing to write" in err and "NaN" in err and "--allow-flagged" in err
    assert listing(res) == {}
    rc, _, _ = run(capsys, *eval_args(out, tiny_mnist, res, "--allow-flagged"))
    assert rc == 0
    text = (res / "vae_d2.json").read_text()
    assert "NaN" in text and json.loads(text)["train"]["flags"]  # written as strings, flagged ...
    with pytest.raises(ResultsError, match=r"vae_d2.json: field "):  # ... and refused by every reader
        result_files.load(2, res)


def test_case4_disk_full_during_evaluate_keeps_the_previous_set(tmp_path, tiny_mnist, capsys, monkeypatch):
    out, res = tmp_path / "r", tmp_path / "res"
    assert run(capsys, *train_args(tiny_mnist, out, "--epochs", "2"))[0] == 0
    assert run(capsys, *eval_args(out, tiny_mnist, res))[0] == 0
    before = listing(res)
    assert len(before) == 4  # json, metrics, encodings, manifold
    real = tio._write_tmp
    calls = {"n": 0}

    def full_disk(tmp, payload):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
        return real(tmp, payload)

    monkeypatch.setattr(tio, "_write_tmp", full_disk)
    rc, _, err = run(capsys, *eval_args(out, tiny_mnist, res, "--note", "second"))
    assert rc == 1 and "disk full" in err
    assert listing(res) == before  # the old set, whole; no temporary file


# --- case 5: resume accepts the folder however it is spelled, and the NaN advice works ------------------------

def test_case5_resume_with_the_folder_spelled_differently(tmp_path, tiny_mnist, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(capsys, *train_args(tiny_mnist, "runs/r1"))[0] == 0
    spellings = ["./runs/r1", "runs/r1/", str(tmp_path / "runs" / "r1")]
    for epochs, spelled in enumerate(spellings, start=2):
        rc, _, err = run(capsys, "train", "--out-dir", spelled, "--resume", "--epochs", epochs,
                         "--data-root", tiny_mnist, "--no-verify-data")
        assert rc == 0, err
    (tmp_path / "runs" / "r1").rename(tmp_path / "moved")
    rc, _, err = run(capsys, "train", "--out-dir", "moved", "--resume", "--epochs", 5, "--data-root",
                     tiny_mnist, "--no-verify-data")
    assert rc == 0, err
    ckpt = load_checkpoint(tmp_path / "moved")
    assert ckpt["epoch"] == 5 and [h["event"] for h in ckpt["history"]] == ["start"] + ["resume"] * 4
    assert all("out_dir" not in h["changed"] for h in ckpt["history"][1:4])  # same folder, other spelling
    assert "out_dir" in ckpt["history"][4]["changed"]  # moved: recorded


def test_case5_the_nan_advice_works_and_is_recorded(tmp_path, tiny_mnist, capsys, monkeypatch):
    out, res = tmp_path / "r", tmp_path / "res"
    assert run(capsys, *train_args(tiny_mnist, out))[0] == 0
    orig = ManualElboStep.step
    monkeypatch.setattr(ManualElboStep, "step", lambda self, x: tuple(t * float("nan") for t in orig(self, x)))
    rc, _, err = run(capsys, *train_args(tiny_mnist, out, "--resume", "--epochs", "2"))
    assert rc == 1 and "non-finite ELBO" in err and "kept up to epoch 1" in err
    monkeypatch.setattr(ManualElboStep, "step", orig)
    advice = shlex.split(err.split("continue with a lower learning rate: ", 1)[1].split(" (")[0])
    assert advice[:4] == ["python", "-m", "training", "train"] and "--lr" in advice
    rc, _, err = run(capsys, *advice[3:], "--epochs", 2, "--data-root", tiny_mnist, "--no-verify-data")
    assert rc == 0, err
    lowered = float(advice[advice.index("--lr") + 1])
    ckpt = load_checkpoint(out)
    assert ckpt["epoch"] == 2 and ckpt["config"].lr == lowered
    assert ckpt["optimizer"]["param_groups"][0]["lr"] == lowered  # Adam used it (load_state_dict restores the old)
    assert ckpt["history"][-1]["changed"]["lr"] == [1e-3, lowered]
    assert run(capsys, *eval_args(out, tiny_mnist, res))[0] == 0
    prov = result_files.load(2, res)["provenance"]
    assert prov["history"][-1]["changed"]["lr"] == [1e-3, lowered]  # carried into the results


# --- case 6: names stay inside their folder; counts are never negative ----------------------------------------

@pytest.mark.parametrize("extra, word", [
    (["--name", "../../x"], "--name"), (["--name", "/tmp/x"], "--name"), (["--name", ".."], "--name"),
    (["--iwae-images", "-3"], "--iwae-images"), (["--train-subset", "-100"], "--train-subset"),
    (["--iwae-k", "0"], "--iwae-k"), (["--threads", "100000"], "--threads"), (["--results-dir", ""], "--results-dir"),
    (["--note", "a\x00b"], "--note"),
])
def test_case6_evaluate_options_are_bounded(tmp_path, tiny_mnist, capsys, extra, word):
    out, res = tmp_path / "r", tmp_path / "a" / "b" / "res"
    assert run(capsys, *train_args(tiny_mnist, out))[0] == 0
    rc, _, err = run(capsys, *eval_args(out, tiny_mnist, res, *extra))
    assert rc == 2 and word in err
    assert not (tmp_path / "x").exists() and not (tmp_path / "a" / "x").exists() and listing(res) == {}


def test_case6_negative_train_subset_is_refused_by_train(tmp_path, tiny_mnist, capsys):
    rc, _, err = run(capsys, *train_args(tiny_mnist, tmp_path / "r", "--train-subset", "-5"))
    assert rc == 2 and "train_subset" in err and not (tmp_path / "r" / "checkpoint.pt").exists()


# --- case 7: one line, never a traceback ---------------------------------------------------------------------

@pytest.mark.parametrize("flag", ["--data-root", "--results-dir"])
def test_case7_nul_byte_in_a_path_is_a_usage_error(tmp_path, tiny_mnist, capsys, flag):
    """Found by the fuzz test: a NUL in a path reached os.stat and came out as 'unexpected ValueError'."""
    out = tmp_path / "r"
    assert run(capsys, *train_args(tiny_mnist, out))[0] == 0
    rc, _, err = run(capsys, *eval_args(out, tiny_mnist, tmp_path / "res"), flag, str(tmp_path / "a\x00b"))
    assert rc == 2 and "NUL" in err and "unexpected" not in err and err.count("\n") == 1


def test_case7_out_dir_that_is_a_file(tmp_path, tiny_mnist, capsys):
    (tmp_path / "f").write_text("x")
    rc, _, err = run(capsys, *train_args(tiny_mnist, tmp_path / "f"))
    assert rc == 2 and "is a file" in err
    rc, _, err = run(capsys, *train_args(tiny_mnist, tmp_path / "f" / "sub"))
    assert rc == 2 and "--out-dir" in err


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="needs a folder no one may write to")
def test_case7_out_dir_that_cannot_be_written(tmp_path, tiny_mnist, capsys):
    rc, _, err = run(capsys, *train_args(tiny_mnist, "/sys/elbo-lab-run"))
    assert rc == 2 and "cannot be created" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_case7_read_only_out_dir(tmp_path, tiny_mnist, capsys):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    rc, _, err = run(capsys, *train_args(tiny_mnist, ro))
    assert rc == 2 and "not writable" in err


def _data_root_with(tmp_path, tiny_mnist, name, content=None, make=None) -> Path:
    root = tmp_path / "bad"
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (tiny_mnist / "MNIST" / "raw").iterdir():
        (raw / f.name).write_bytes(f.read_bytes())
    target = raw / name
    target.unlink(missing_ok=True)
    if content is not None:
        target.write_bytes(content)
    if make is not None:
        make(target)
    return root


def _truncated(tiny_mnist):
    return (tiny_mnist / "MNIST" / "raw" / "train-images-idx3-ubyte").read_bytes()[:5000]


@pytest.mark.parametrize("case", ["truncated", "overlong", "not idx", "folder", "fifo", "gz garbage", "gz truncated"])
def test_case7_bad_data_files(tmp_path, tiny_mnist, capsys, monkeypatch, case):
    monkeypatch.setenv("ELBO_LAB_CACHE", str(tmp_path / "cache"))
    good = (tiny_mnist / "MNIST" / "raw" / "train-images-idx3-ubyte").read_bytes()
    name = "train-images-idx3-ubyte"
    spec = {
        "truncated": dict(content=good[:5000]),
        "overlong": dict(content=good + b"\0" * 10),
        "not idx": dict(content=b"<html>not found</html>" * 50),
        "folder": dict(make=lambda p: p.mkdir()),
        "fifo": dict(make=lambda p: os.mkfifo(p)),
        "gz garbage": dict(content=b"this is not gzip"),
        "gz truncated": dict(content=gzip.compress(good)[:3000]),
    }[case]
    if case.startswith("gz"):
        root = _data_root_with(tmp_path, tiny_mnist, name + ".gz", **spec)
        (root / "MNIST" / "raw" / name).unlink()
    else:
        root = _data_root_with(tmp_path, tiny_mnist, name, **spec)
    rc, _, err = run(capsys, *train_args(root, tmp_path / "r"))
    assert rc == 1 and "MNIST file" in err and name in err


def test_case7_checksum_error_names_the_real_flag(tmp_path, tiny_mnist, capsys):
    rc, _, err = run(capsys, "train", "--data-root", tiny_mnist, "--out-dir", tmp_path / "r", *TINY)
    assert rc == 1 and "sha256" in err and "--no-verify-data" in err
    rc, out, _ = run(capsys, "train", "--help")
    assert rc == 0 and "--no-verify-data" in out


@pytest.mark.parametrize("damage", ["truncated", "random", "empty", "nonsense config", "wrong fields"])
def test_case7_damaged_checkpoint(tmp_path, tiny_mnist, capsys, damage):
    out = tmp_path / "r"
    assert run(capsys, *train_args(tiny_mnist, out))[0] == 0
    path = out / "checkpoint.pt"
    raw = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "random":
        path.write_bytes(np.random.default_rng(0).bytes(len(raw)))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "nonsense config":
        ckpt = torch.load(path, weights_only=True)
        ckpt["config"]["latent_dim"] = "banana"
        torch.save(ckpt, path)
    else:
        torch.save({"model": [1, 2, 3], "epoch": "x"}, path)
    rc, _, err = run(capsys, *train_args(tiny_mnist, out, "--resume", "--epochs", "2"))
    assert rc == 1 and str(path) in err and ("damaged" in err or "config inside" in err) and "--overwrite" in err
    rc, _, err = run(capsys, *eval_args(out, tiny_mnist, tmp_path / "res"))
    assert rc == 1 and str(path) in err


def test_case7_corrupt_metrics_file_is_rebuilt_from_the_checkpoint(tmp_path, tiny_mnist, capsys):
    out = tmp_path / "r"
    assert run(capsys, *train_args(tiny_mnist, out, "--epochs", "2"))[0] == 0
    (out / "metrics.jsonl").write_text('{"epoch": 1, "elbo": NaN}\n{garbage\n')
    assert run(capsys, *train_args(tiny_mnist, out, "--resume", "--epochs", "3"))[0] == 0
    rows = result_files.read_metrics(out / "metrics.jsonl")
    assert [r["epoch"] for r in rows] == [1, 2, 3]


def test_case7_corrupt_metrics_of_an_older_checkpoint_is_one_line(tmp_path, tiny_mnist, capsys):
    out = tmp_path / "r"
    assert run(capsys, *train_args(tiny_mnist, out, "--epochs", "2"))[0] == 0
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    del ckpt["metrics"], ckpt["history"]  # as written before metrics lived in the checkpoint
    torch.save(ckpt, out / "checkpoint.pt")
    (out / "metrics.jsonl").write_text('{"epoch": 1, "elbo": -100.0, "reconstruction": -90.0, "kl": 10.0}\n{garb\n')
    rc, _, err = run(capsys, *train_args(tiny_mnist, out, "--resume", "--epochs", "3"))
    assert rc == 1 and "metrics.jsonl:2" in err and "not valid JSON" in err


def test_case7_disk_full_while_training_keeps_the_last_checkpoint(tmp_path, tiny_mnist, capsys, monkeypatch):
    out = tmp_path / "r"
    assert run(capsys, *train_args(tiny_mnist, out))[0] == 0
    before = (out / "checkpoint.pt").read_bytes()

    def full_disk(tmp, payload):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tio, "_write_tmp", full_disk)
    rc, _, err = run(capsys, *train_args(tiny_mnist, out, "--resume", "--epochs", "2"))
    assert rc == 1 and err.startswith("error: disk full")
    assert (out / "checkpoint.pt").read_bytes() == before and not list(out.glob("*.tmp"))


def test_case7_ctrl_c_says_how_to_resume(tmp_path, tiny_mnist, capsys, monkeypatch):
    out = tmp_path / "r"
    assert run(capsys, *train_args(tiny_mnist, out))[0] == 0
    orig = ManualElboStep.step
    monkeypatch.setattr(ManualElboStep, "step", lambda self, x: (_ for _ in ()).throw(KeyboardInterrupt))
    rc, _, err = run(capsys, *train_args(tiny_mnist, out, "--resume", "--epochs", "3"))
    assert rc == 130 and "kept up to epoch 1" in err and f"--out-dir {out} --resume" in err
    monkeypatch.setattr(ManualElboStep, "step", orig)
    assert run(capsys, *train_args(tiny_mnist, out, "--resume", "--epochs", "3"))[0] == 0


@pytest.mark.parametrize("args", [
    ["--lr", "nan"], ["--lr", "inf"], ["--lr", "-1"], ["--lr", "1e400"], ["--threads", "1000000"],
    ["--epochs", "0"], ["--epochs", "10000000000"], ["--hidden", "0"], ["--hidden"], ["--seed", "-1"],
    ["--max-minutes", "nan"], ["--latent-dim", "1e3"], ["--device", "cuda:x"], ["--prior", "vamp:-1"],
    ["--warmup-epochs", "-1"], ["--batch-size-late", "-5"], ["--bogus"], ["--out-dir", ""],
    ["--data-root", ""], ["--test-every", "-1"], ["--batch-size", "0"],
])
def test_case7_bad_values_are_one_line_usage_errors(tmp_path, tiny_mnist, capsys, args):
    rc, _, err = run(capsys, *train_args(tiny_mnist, tmp_path / "r"), *args)
    assert rc == 2, err
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


# --- case 8: readers refuse results that would render garbage ------------------------------------------------

@pytest.mark.parametrize("field, value, named", [
    (("train", "terms", "elbo", "value"), float("nan"), "train.terms.elbo.value is NaN"),
    (("test", "iwae", "value"), 1e308, "test.iwae.value"),
    (("train", "terms", "avg_kl", "value"), -0.5, "train.terms.avg_kl.value"),
    (("train", "terms", "index_code_mi", "value"), 12.5, "train.terms.index_code_mi.value"),
    (("train", "terms", "marginal_kl", "se"), float("inf"), "train.terms.marginal_kl.se is Infinity"),
    (("model", "latent_dim"), "2", "model.latent_dim"),
    (("files", "encodings"), "../../etc/passwd", "files.encodings"),
])
def test_case8_readers_refuse_bad_results(tmp_path, field, value, named):
    good = result_files.load(2)  # the committed file passes
    bad = copy.deepcopy(good)
    node = bad
    for key in field[:-1]:
        node = node[key]
    node[field[-1]] = value
    if field[-1] == "value" and field[-2] == "index_code_mi":
        bad["train"]["terms"]["marginal_kl"]["value"] = bad["train"]["terms"]["avg_kl"]["value"] - value
    (tmp_path / "vae_d2.json").write_text(json.dumps(bad))
    with pytest.raises(ResultsError) as e:
        result_files.load(2, tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path / "vae_d2.json") in msg and named in msg
    with pytest.raises(ResultsError):
        result_files.table1_rows(tmp_path)


def test_case8_npz_with_non_finite_values_is_refused(tmp_path):
    res = result_files.load(2)
    (tmp_path / "vae_d2.json").write_text(json.dumps(res))
    enc = result_files.load_npz(res, "encodings")  # the committed encodings pass
    enc["mu"][0, 0] = np.nan
    np.savez(tmp_path / res["files"]["encodings"], **enc)
    with pytest.raises(ResultsError, match="field mu holds non-finite"):
        result_files.load_npz(res, "encodings", tmp_path)


def test_committed_results_and_metrics_pass_the_schema():
    for d in result_files.available():
        res = result_files.load(d)
        rows = result_files.load_metrics(d)
        assert len(rows) == res["provenance"]["epochs"] and all("avg_kl" in r for r in rows)


# --- issue 23: all-or-nothing sets, the tool's own temporary files, messages that name the real cause ----------

def test_issue23_a_rename_failing_mid_set_restores_the_old_set(tmp_path, tiny_mnist, capsys, monkeypatch):
    out, res = tmp_path / "r", tmp_path / "res"
    assert run(capsys, *train_args(tiny_mnist, out, "--epochs", "2"))[0] == 0
    assert run(capsys, *eval_args(out, tiny_mnist, res))[0] == 0
    before = listing(res)
    real, calls = os.replace, {"n": 0}

    def failing_replace(src, dst):
        if Path(dst).parent == res and not Path(dst).name.startswith(".elbo-lab"):
            calls["n"] += 1
            if calls["n"] == 3:  # two files of the new set are in place already
                raise OSError(errno.EIO, "Input/output error", str(dst))
        return real(src, dst)

    monkeypatch.setattr(tio.os, "replace", failing_replace)
    rc, _, err = run(capsys, *eval_args(out, tiny_mnist, res, "--note", "second"))
    assert rc == 1 and calls["n"] >= 3  # (the roll-back renames count too)
    assert listing(res) == before  # the old set, whole; no temporary file, journal or backup left


_KILL_MID_SET = r"""
import os, sys
import training.io as tio
real, n = os.replace, [0]
def replace(src, dst):
    if not os.path.basename(dst).startswith(".elbo-lab"):
        n[0] += 1
        if n[0] == 2:
            os._exit(9)  # killed between the renames of the set
    return real(src, dst)
tio.os.replace = replace
tio.atomic_write_set(sys.argv[1], {"a.npz": b"new a", "b.npz": b"new b", "r.json": b"new r"})
"""


def test_issue23_a_kill_between_renames_is_rolled_back_by_the_next_writer(tmp_path):
    folder = tmp_path / "res"
    folder.mkdir()
    tio.atomic_write_set(folder, {"a.npz": b"old a", "b.npz": b"old b", "r.json": b"old r"})
    (folder / "notes.tmp").write_text("mine")
    p = subprocess.run([sys.executable, "-c", _KILL_MID_SET, str(folder)], cwd=REPO, capture_output=True,
                       env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert p.returncode == 9, p.stderr
    assert (folder / "a.npz").read_bytes() == b"new a" and (folder / "r.json").read_bytes() == b"old r"  # mixed
    with FolderLock(folder):
        tio.remove_stale_temps(folder)  # what evaluate, train and reproduce's publish do first, under the lock
    assert listing(folder) == {"a.npz": b"old a", "b.npz": b"old b", "notes.tmp": b"mine", "r.json": b"old r"}


def test_issue23_evaluate_refuses_a_json_target_that_is_a_folder_before_replacing_anything(tmp_path, tiny_mnist,
                                                                                             capsys):
    out, res = tmp_path / "r", tmp_path / "res"
    assert run(capsys, *train_args(tiny_mnist, out))[0] == 0
    assert run(capsys, *eval_args(out, tiny_mnist, res))[0] == 0
    (res / "vae_d2.json").unlink()
    (res / "vae_d2.json").mkdir()
    (res / "draft.tmp").write_text("a user's draft")
    files = lambda: {p.name: p.read_bytes() for p in sorted(res.iterdir()) if p.is_file()}  # noqa: E731
    before = files()
    rc, _, err = run(capsys, *eval_args(out, tiny_mnist, res, "--note", "second"))
    assert rc == 2 and "vae_d2.json" in err and "not a regular file" in err
    assert files() == before and (res / "vae_d2.json").is_dir()
    (res / "vae_d2.json").rmdir()
    assert run(capsys, *eval_args(out, tiny_mnist, res))[0] == 0
    assert (res / "draft.tmp").read_text() == "a user's draft"  # evaluate deletes only its own temporary files


def test_issue23_iwae_images_1_is_a_usage_error_not_an_invalid_result(tmp_path, tiny_mnist, capsys):
    out, res = tmp_path / "r", tmp_path / "res"
    assert run(capsys, *train_args(tiny_mnist, out))[0] == 0
    rc, _, err = run(capsys, *eval_args(out, tiny_mnist, res)[:-4], "--iwae-k", "5", "--iwae-images", "1")
    assert rc == 2 and "--iwae-images" in err and "from 2 to" in err and listing(res) == {}


def test_issue23_resume_command_is_shell_quoted(tmp_path, tiny_mnist, capsys, monkeypatch):
    out = tmp_path / "my runs" / "it's r"
    assert run(capsys, *train_args(tiny_mnist, out))[0] == 0
    orig = ManualElboStep.step
    monkeypatch.setattr(ManualElboStep, "step", lambda self, x: (_ for _ in ()).throw(KeyboardInterrupt))
    rc, _, err = run(capsys, *train_args(tiny_mnist, out, "--resume", "--epochs", "3"))
    assert rc == 130
    cmd = err.split("continue with: ", 1)[1].strip()
    words = shlex.split(cmd)  # pasted into a shell, the folder is one word
    assert words[:3] == ["python", "-m", "training"] and words[words.index("--out-dir") + 1] == str(out)
    monkeypatch.setattr(ManualElboStep, "step", orig)


def test_issue23_reproduce_interrupt_prints_a_quoted_command(tmp_path, tiny_mnist, capsys, monkeypatch):
    import training.reproduce as rp

    monkeypatch.setattr(rp, "make_plan", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    out = tmp_path / "a job"
    rc, _, err = run(capsys, "reproduce", "--dims", "2", "--epochs", "1", "--data-root", tiny_mnist,
                     "--no-verify-data", "--out-dir", out, "--results-dir", tmp_path / "res")
    assert rc == 130 and "interrupted" in err
    words = shlex.split(err.split("continue with: ", 1)[1])
    assert words[words.index("--out-dir") + 1] == str(out)


@pytest.mark.parametrize("raised, said", [
    (MemoryError(), "out of memory"),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to "
                  "allocate 80000000000000 bytes"), "out of memory"),
    (PermissionError(errno.EACCES, "Permission denied", "/x/y"), "permission denied"),
])
def test_issue23_out_of_memory_and_permission_errors_are_named(tmp_path, tiny_mnist, capsys, monkeypatch, raised,
                                                               said):
    import training.train as tt

    def boom(*a, **k):
        raise raised

    monkeypatch.setattr(tt, "_train_locked", boom)
    rc, _, err = run(capsys, *train_args(tiny_mnist, tmp_path / "r"))
    assert rc == 1 and said in err and "unexpected" not in err


def test_issue23_a_huge_prior_is_a_usage_error(tmp_path, tiny_mnist, capsys):
    rc, _, err = run(capsys, *train_args(tiny_mnist, tmp_path / "r", "--prior", "mog:1000000000000000"))
    assert rc == 2 and "prior" in err and "100000" in err


def _gz_mnist(root: Path) -> Path:

    write_idx_mnist(root)
    raw = root / "MNIST" / "raw"
    for f in list(raw.iterdir()):
        (raw / (f.name + ".gz")).write_bytes(gzip.compress(f.read_bytes()))
        f.unlink()
    return root


def test_issue23_unreadable_gz_is_named_as_unreadable(tmp_path, monkeypatch):
    from training import data as td

    root = _gz_mnist(tmp_path / "d")
    monkeypatch.setenv("ELBO_LAB_CACHE", str(tmp_path / "cache"))

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(a[0]))

    monkeypatch.setattr(td.gzip, "open", denied)
    with pytest.raises(td.DataError, match="cannot be read \\(Permission denied\\)") as e:
        td.load_mnist(True, root, verify=False)
    assert "damaged" not in str(e.value) and e.value.exit_code == 2


def test_issue23_damaged_copy_in_the_cache_is_rebuilt(tmp_path, monkeypatch):
    from training import data as td

    root = _gz_mnist(tmp_path / "d")
    monkeypatch.setenv("ELBO_LAB_CACHE", str(tmp_path / "cache"))
    x, _ = td.load_mnist(True, root, verify=False)
    cached = next((tmp_path / "cache").rglob("train-images-idx3-ubyte"))
    cached.write_bytes(cached.read_bytes()[:1000])  # truncated in the cache (a disk error, a killed copy)
    y, _ = td.load_mnist(True, root, verify=False)
    assert torch.equal(x, y)


@pytest.mark.parametrize("value", ["", "   "])
def test_issue23_empty_elbo_lab_cache_is_treated_as_unset(tmp_path, monkeypatch, value):
    from training import data as td

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ELBO_LAB_CACHE", value)
    assert td.cache_root() == Path.home() / ".cache" / "elbo-lab"
    monkeypatch.setenv("ELBO_LAB_CACHE", "rel")
    assert td.cache_root() == tmp_path / "rel"  # absolute: children in other folders use the same cache


_SIGTERM_MID_SET = r"""
import os, signal, sys
import training.io as tio
real, n = os.replace, [0]
def replace(src, dst):
    if not os.path.basename(dst).startswith(".elbo-lab"):
        n[0] += 1
        if n[0] == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # a kill (SIGTERM) arrives between the renames
    return real(src, dst)
tio.os.replace = replace
tio.atomic_write_set(sys.argv[1], {"a.npz": b"new a", "b.npz": b"new b", "r.json": b"new r"})
print("not reached")
"""


def test_issue23_sigterm_between_renames_waits_for_the_whole_set(tmp_path):
    folder = tmp_path / "res"
    folder.mkdir()
    tio.atomic_write_set(folder, {"a.npz": b"old a", "b.npz": b"old b", "r.json": b"old r"})
    p = subprocess.run([sys.executable, "-c", _SIGTERM_MID_SET, str(folder)], cwd=REPO, capture_output=True,
                       env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert p.returncode == -signal.SIGTERM and b"not reached" not in p.stdout  # it did die of the SIGTERM ...
    assert listing(folder) == {"a.npz": b"new a", "b.npz": b"new b", "r.json": b"new r"}  # ... after the set


def test_issue23_ctrl_c_between_renames_is_raised_after_the_whole_set(tmp_path, monkeypatch):
    """As under the CLI, where SIGTERM becomes KeyboardInterrupt: it is raised once the new set is whole."""
    folder = tmp_path / "res"
    folder.mkdir()
    tio.atomic_write_set(folder, {"a.npz": b"old a", "r.json": b"old r"})
    real = os.replace

    def replace(src, dst):
        if not Path(dst).name.startswith(".elbo-lab"):
            os.kill(os.getpid(), signal.SIGINT)
        return real(src, dst)

    monkeypatch.setattr(tio.os, "replace", replace)
    # a test run started in the background (nohup ... &) inherits an ignored SIGINT: restore Python's handler
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            tio.atomic_write_set(folder, {"a.npz": b"new a", "r.json": b"new r"})
    finally:
        signal.signal(signal.SIGINT, previous)
    assert listing(folder) == {"a.npz": b"new a", "r.json": b"new r"}


def test_issue23_a_wrong_data_root_is_refused_before_any_folder_is_made(tmp_path, tiny_mnist, capsys):
    run_dir = tmp_path / "r"
    assert run(capsys, *train_args(tiny_mnist, run_dir))[0] == 0
    rc, _, err = run(capsys, *train_args(tmp_path / "nowhere", tmp_path / "new"))
    assert rc == 2 and "not found" in err and not (tmp_path / "new").exists()
    rc, _, err = run(capsys, *eval_args(run_dir, tmp_path / "nowhere", tmp_path / "a" / "res"))
    assert rc == 2 and "not found" in err and not (tmp_path / "a").exists()


def test_issue23_an_unreadable_checkpoint_is_named_as_unreadable(tmp_path, tiny_mnist, capsys, monkeypatch):
    out = tmp_path / "r"
    assert run(capsys, *train_args(tiny_mnist, out))[0] == 0

    def denied(path, *a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(torch, "load", denied)  # (chmod 000 does not stop root, who runs these tests here)
    rc, _, err = run(capsys, *eval_args(out, tiny_mnist, tmp_path / "res"))
    assert rc == 2 and "cannot be read (Permission denied)" in err and "damaged" not in err


def test_issue23_a_set_being_written_by_a_live_process_is_not_rolled_back(tmp_path):
    """Two processes may write into one folder (e.g. the MNIST cache): one's recovery must not undo the other's
    set in progress; only a journal whose writer is gone is rolled back."""
    folder = tmp_path / "res"
    folder.mkdir()
    (folder / "a.npz").write_bytes(b"new a")
    (folder / ".elbo-lab-old.a.npz.1.deadbeef").write_bytes(b"old a")
    entries = [{"target": "a.npz", "tmp": ".elbo-lab-tmp.a.npz.1.deadbeef.tmp", "backup": ".elbo-lab-old.a.npz.1.deadbeef"}]
    live = folder / f".elbo-lab-set.{os.getpid()}.deadbeef.json"
    live.write_text(json.dumps(entries))
    assert tio.recover_sets(folder) == [] and (folder / "a.npz").read_bytes() == b"new a"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    live.rename(folder / f".elbo-lab-set.{int(dead.stdout)}.deadbeef.json")  # its writer has exited
    assert tio.recover_sets(folder) == ["a.npz"] and (folder / "a.npz").read_bytes() == b"old a"
    assert sorted(p.name for p in folder.iterdir()) == ["a.npz"]


def test_issue23_train_and_evaluate_write_only_inside_the_folders_named(tmp_path, tiny_mnist, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ELBO_LAB_CACHE", str(tmp_path / "cache"))
    before = {p for p in tmp_path.rglob("*")}
    assert run(capsys, *train_args(tiny_mnist, "runs/r"))[0] == 0
    assert run(capsys, *eval_args("runs/r", tiny_mnist, "res", "--name", "x.y-z"))[0] == 0
    made = {p for p in tmp_path.rglob("*")} - before
    assert made and all(p.relative_to(tmp_path).parts[0] in ("runs", "res") for p in made), sorted(made)
    assert {p.name for p in (tmp_path / "res").iterdir()} == {"x.y-z.json", "x.y-z.metrics.jsonl",
                                                             "x.y-z.encodings.npz", "x.y-z.manifold.npz"}

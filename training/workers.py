"""The worker pool of ``python -m training reproduce``: each step of the job runs in its own process, through the
public command line (``python -m training train``, ``evaluate``, ``calibrate``), so a step can be rerun by hand
with the same command.

- :func:`spawn` starts one (its output in a log file; it dies with the job: ``PR_SET_PDEATHSIG``);
- :func:`train_args`, :func:`evaluate_args`, :func:`calibrate_args` are the command lines of the three steps.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from .io import TrainingError


class ReproduceError(TrainingError):
    """A step of the job failed; the one-line message names the step, its log and how to continue."""


def _set_pdeathsig() -> None:  # runs in the child before exec: die with the parent (Linux)
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def spawn(args: list[str], log: Path, threads: int) -> subprocess.Popen:
    """Start ``python ARGS`` (this interpreter) in the package's folder with ``threads`` OpenMP/MKL threads, its
    output appended to ``log``; it dies with this process (Linux). Returns the ``Popen``."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    for var in ("ELBO_LAB_CACHE", "ELBO_LAB_DATA"):  # the children run in the package's folder: absolute paths
        if env.get(var, "").strip():
            env[var] = str(Path(env[var]).expanduser().absolute())
    log.parent.mkdir(parents=True, exist_ok=True)
    f = open(log, "ab")
    p = subprocess.Popen([sys.executable, *args], stdout=f, stderr=subprocess.STDOUT, env=env,
                         cwd=Path(__file__).resolve().parent.parent, preexec_fn=_set_pdeathsig)
    f.close()
    return p


def train_args(cfg, resume: bool) -> list[str]:
    """``python -m training train`` with every field of ``cfg`` (a :class:`training.config.TrainConfig`) as a flag
    (:func:`training.cli.config_argv`), plus ``--resume`` to continue the run in ``cfg.out_dir``."""
    from .cli import config_argv

    return ["-m", "training", "train", *config_argv(cfg), *(["--resume"] if resume else [])]


def evaluate_args(run_dir: Path, name: str, results_dir: Path, iwae_k: int, iwae_images: int, threads: int,
                  note: str, data_root: str | None, train_subset: int | None, verify: bool) -> list[str]:
    """``python -m training evaluate`` of one run, its results named ``name`` in ``results_dir``."""
    args = ["-m", "training", "evaluate", str(run_dir), "--name", name, "--results-dir", str(results_dir),
            "--iwae-k", str(iwae_k), "--iwae-images", str(iwae_images), "--threads", str(threads), "--note", note,
            "--verify-data" if verify else "--no-verify-data"]
    if data_root is not None:
        args += ["--data-root", str(data_root)]
    if train_subset is not None:
        args += ["--train-subset", str(train_subset)]
    return args


def calibrate_args(batch_sizes: list[int], seconds: float, threads: int, device: str) -> list[str]:
    """``python -m training calibrate``: the training step's images/s at each batch size, one JSON line."""
    return ["-m", "training", "calibrate", "--batch-sizes", *map(str, batch_sizes), "--seconds", repr(float(seconds)),
            "--threads", str(threads), "--device", device]


__all__ = ["ReproduceError", "calibrate_args", "evaluate_args", "spawn", "train_args"]

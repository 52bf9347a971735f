"""Checkpoint I/O of a run folder: the file names, reading a checkpoint back, and the model it holds.

A run folder (``TrainConfig.out_dir``, written by :func:`training.train.train`) holds ``checkpoint.pt`` (model,
Adam and RNG states after the last finished epoch, the config, the run's history and every epoch's metrics row),
``metrics.jsonl`` and ``config.json``. This module only reads them, so the commands that measure a trained model
(:mod:`training.evaluate`, :mod:`training.prior_study`, :mod:`training.samples`) need not import the training loop.
Checkpoints are loaded with ``weights_only=True``: no code in a checkpoint runs.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import torch

from .config import ConfigError, TrainConfig
from .io import TrainingError
from .model import VAE, build_model

#: The files of a run folder.
CHECKPOINT, METRICS, CONFIG = "checkpoint.pt", "metrics.jsonl", "config.json"


class CheckpointError(TrainingError):
    """A checkpoint is missing, truncated, not a checkpoint, or holds a config that makes no sense."""


def load_checkpoint(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> dict:
    """The checkpoint of ``run_dir`` as a dict with a validated ``config`` (a :class:`TrainConfig`).

    Loaded with ``weights_only=True`` (no code in a checkpoint runs). Keys: ``model``, ``optimizer``, ``rng``,
    ``epoch``, ``config``, ``history`` (list, empty for checkpoints written before it existed), ``metrics`` (list,
    or ``None`` for older checkpoints).

    Raises:
        CheckpointError: missing, truncated, not a checkpoint, or a config that fails validation (one line).
    """
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise CheckpointError(f"{path} not found: train first (python -m training train --out-dir {shlex.quote(str(run_dir))})",
                              exit_code=2)
    damaged = f"{path} is damaged (truncated, empty or not a checkpoint)"
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except PermissionError as e:
        raise CheckpointError(f"{path} cannot be read ({e.strerror}): make it readable, or run as its owner",
                              exit_code=2) from None
    except Exception:  # noqa: BLE001 - torch raises RuntimeError, UnpicklingError, EOFError, ... for bad bytes
        raise CheckpointError(f"{damaged}: restore it, or start the run again with --overwrite") from None
    needed = {"model": dict, "optimizer": dict, "rng": dict, "epoch": int, "config": dict}
    if not isinstance(ckpt, dict) or any(not isinstance(ckpt.get(k), t) for k, t in needed.items()):
        raise CheckpointError(f"{damaged} (fields {sorted(needed)} expected): restore it, or start again with "
                              f"--overwrite")
    try:
        cfg = TrainConfig.from_dict(ckpt["config"])  # validated as it is made
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"the config inside {path} is invalid ({e}): restore the checkpoint, or start "
                              f"again with --overwrite") from None
    if ckpt["epoch"] < 0 or ckpt["epoch"] > cfg.BOUNDS["epochs"][1]:
        raise CheckpointError(f"{damaged} (epoch {ckpt['epoch']}): restore it, or start again with --overwrite")
    ckpt["config"] = cfg
    ckpt.setdefault("history", [])
    ckpt.setdefault("metrics", None)
    return ckpt


def model_from_checkpoint(ckpt: dict, path: str | os.PathLike, device: str | torch.device = "cpu") -> VAE:
    """The model (eval mode) of a checkpoint loaded by :func:`load_checkpoint`. Raises :class:`CheckpointError`."""
    model = build_model(ckpt["config"]).to(device)
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path} does not fit its own config ({type(e).__name__}): restore it") from None
    model.eval()
    return model


def load_model(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[VAE, TrainConfig, int]:
    """Load ``run_dir/checkpoint.pt`` -> ``(model in eval mode, config, epochs trained)``.

    Raises:
        CheckpointError: see :func:`load_checkpoint`.
    """
    ckpt = load_checkpoint(run_dir, device)
    model = model_from_checkpoint(ckpt, Path(run_dir) / CHECKPOINT, device)
    return model, ckpt["config"], int(ckpt["epoch"])


__all__ = ["CHECKPOINT", "CONFIG", "METRICS", "CheckpointError", "load_checkpoint", "load_model",
           "model_from_checkpoint"]

"""Helpers of the trainer's tests (a tiny run config, a tiny MNIST in torchvision's IDX layout, a NaN-poisoned
forward pass), imported by name: ``from training_fixtures import train_config``.

A uniquely named module, not ``conftest``: tests/training and tests/vizlab each have a ``conftest.py``, and when
both folders are collected in one run ``import conftest`` finds whichever was loaded last.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from training.config import TrainConfig


def train_config(tmp_path, **kw) -> TrainConfig:
    """A tiny, fast run config (hidden 32, 1 epoch, 1 thread) writing into ``tmp_path/run``; ``kw`` overrides."""
    base = dict(latent_dim=2, hidden=(32,), epochs=1, batch_size=50, out_dir=str(tmp_path / "run"),
                progress=False, test_every=1, threads=1, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def write_idx_mnist(root: Path, n_train: int = 300, n_test: int = 100, seed: int = 0) -> Path:
    """Write the four MNIST IDX files (uncompressed) under ``root/MNIST/raw`` with random digits-like images."""
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = (rng.random((n, 28, 28)) < 0.15).astype(np.uint8) * rng.integers(100, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + labels.tobytes())
    return root


def poison_forward(monkeypatch) -> None:
    """Make ``VAE.forward`` return a NaN ELBO (the autograd path's divergence), for the NaN-stop tests."""
    from training.model import VAE

    orig = VAE.forward

    def poisoned(self, x):
        t = orig(self, x)
        t.elbo = t.elbo * float("nan")
        return t

    monkeypatch.setattr(VAE, "forward", poisoned)

"""Fixtures for the trainer's tests: a tiny MNIST in torchvision's IDX layout, written by the tests themselves.

The helpers behind them live in ``training_fixtures.py``; test modules import those by name from there, never
from ``conftest`` (tests/vizlab has a ``conftest`` too).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from training_fixtures import train_config, write_idx_mnist


@pytest.fixture
def tiny_mnist(tmp_path) -> Path:
    return write_idx_mnist(tmp_path / "data")


@pytest.fixture
def tiny_images() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(300, 784, generator=g) * 0.6, torch.rand(100, 784, generator=g) * 0.6


@pytest.fixture
def make_cfg():
    """The factory :func:`train_config` as a fixture: ``make_cfg(tmp_path, epochs=2)``."""
    return train_config


@pytest.fixture
def tiny_labeled(tiny_images):
    """``((train_x, train_y), (test_x, test_y))`` for :func:`training.evaluate.evaluate_run` (labels all 0)."""
    return (tiny_images[0], torch.zeros(300, dtype=torch.int64)), (tiny_images[1], torch.zeros(100, dtype=torch.int64))

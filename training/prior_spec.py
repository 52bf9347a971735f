"""The prior spec of the command line and the config -- ``"standard"``, ``"mog:K"``, ``"vamp:K"`` -- parsed in one place.

Used by :class:`training.config.TrainConfig` (validation), :func:`training.priors.build_prior` (the model),
``vizlab/data.py`` and the book (names of fitted priors). No torch, nothing runs at import.
"""

from __future__ import annotations

from typing import NamedTuple

from .io import ConfigError

#: The most components (mog) or pseudo-inputs (vamp) a prior may have (a VampPrior of K holds K x 784 numbers).
MAX_COMPONENTS = 100_000

#: Display names of the prior kinds (pages, figures).
KIND_NAMES = {"standard": "N(0, I)", "mog": "MoG", "vamp": "VampPrior"}


class PriorSpec(NamedTuple):
    """A parsed prior: ``kind`` ("standard", "mog" or "vamp") and ``k`` components (0 for "standard")."""

    kind: str
    k: int

    @property
    def text(self) -> str:
        """The spec as written: ``"standard"``, ``"mog:K"`` or ``"vamp:K"``."""
        return "standard" if self.kind == "standard" else f"{self.kind}:{self.k}"

    @property
    def display_name(self) -> str:
        """For people: ``"N(0, I)"``, ``"MoG, K = 3"``, ``"VampPrior, K = 500"``."""
        return KIND_NAMES[self.kind] + (f", K = {self.k}" if self.k else "")


def parse_prior(spec: str) -> PriorSpec:
    """``"standard"`` -> ``PriorSpec("standard", 0)``; ``"mog:K"``/``"vamp:K"`` -> ``PriorSpec(kind, K)``.

    Raises:
        training.io.ConfigError: unknown kind or K not an integer from 1 to MAX_COMPONENTS (one line, with the fix).
    """
    if spec == "standard":
        return PriorSpec("standard", 0)
    kind, _, k = str(spec).partition(":")
    if kind in ("mog", "vamp") and k.isascii() and k.isdigit() and 1 <= int(k) <= MAX_COMPONENTS:
        return PriorSpec(kind, int(k))
    raise ConfigError(f"prior={spec!r} is unknown: use 'standard', 'mog:K' or 'vamp:K' with K an integer from 1 to "
                      f"{MAX_COMPONENTS} (e.g. --prior vamp:500)")


__all__ = ["KIND_NAMES", "MAX_COMPONENTS", "PriorSpec", "parse_prior"]

r"""The VAE of Hoffman & Johnson's Table 1: "a basic VAE" — MLP encoder and decoder, N(0, I) prior.

- Encoder $q_\phi(z \mid x) = \mathcal{N}(z; \mu_\phi(x), \mathrm{diag}\,\sigma^2_\phi(x))$, outputs ``mu`` and
  ``logvar`` $= \log \sigma^2$ (shapes ``(B, D)``).
- Decoder $p_\theta(x \mid z) = \prod_{d=1}^{784} \mathrm{Bernoulli}(x_d; \mathrm{sigmoid}(\ell_\theta(z)_d))$,
  returns logits ``(B, 784)``.
- Prior $p(z) = \mathcal{N}(0, I)$ (Table 1), or a learned prior from :mod:`training.priors` (``prior=``
  ``"mog:K"`` or ``"vamp:K"``, or that spec parsed: a :class:`training.prior_spec.PriorSpec`), whose KL term is then a one-sample Monte Carlo estimate.

Default widths 784-500-500-D with softplus activations: softplus is smooth and has no dead units (a 2-D
latent VAE is sensitive to units that switch off). It is not free: its forward and backward passes take
0.7-1.1 ms of a 14-17 ms training step on this 2-core CPU (the profile printed by
``benchmarks/bench_training.py``), where ReLU would take a fraction of that.

:func:`elbo_terms` returns the ELBO's terms *by name* (all in nats, per image), unlike a loss that returns one
summed number (Kingma & Welling 2014, eq. 10; Rezende et al. 2014).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

from .priors import build_prior

# the formulas live in training/estimators.py; importing them here keeps ``training.model.<name>`` working
from .estimators import (gaussian_kl_per_dim, gaussian_kl_to_standard_normal, kl_to_prior, log_diag_gaussian,  # noqa: F401
                         log_standard_normal, sample_diag_gaussian)


def _mlp(sizes: list[int], activation: str) -> nn.Sequential:
    act = {"softplus": nn.Softplus, "relu": nn.ReLU}[activation]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


@dataclass
class ElboTerms:
    """Per-image ELBO terms in nats, each of shape ``(B,)``."""

    elbo: torch.Tensor  # E_q log p(x|z) - KL(q(z|x) || p(z))
    reconstruction: torch.Tensor  # E_q log p(x|z), one reparameterized sample
    kl: torch.Tensor  # KL(q(z|x) || p(z)): closed form for N(0, I); else log q(z|x) - log p(z) at the same z
    # (B, D) the closed-form KL per latent dimension (N(0, I) prior), for free bits (training/objective.py);
    # None for a learned prior, whose KL does not split over dimensions
    kl_dims: torch.Tensor | None = None


class VAE(nn.Module):
    """MLP VAE. ``x_dim`` pixels (784), ``latent_dim`` = D, ``hidden`` encoder widths (decoder reversed)."""

    def __init__(self, latent_dim: int = 2, hidden: tuple[int, ...] = (500, 500), activation: str = "softplus",
                 x_dim: int = 784, prior="standard"):
        super().__init__()
        self.latent_dim, self.x_dim = latent_dim, x_dim
        # Encoder trunk ends in one layer producing [mu, logvar] together (one GEMM instead of two).
        self.encoder = _mlp([x_dim, *hidden, 2 * latent_dim], activation)
        self.decoder = _mlp([latent_dim, *reversed(hidden), x_dim], activation)
        # built last, so the networks' initialisation does not depend on the prior
        self.prior = build_prior(prior, latent_dim, x_dim)

    def prior_distribution(self) -> torch.distributions.Distribution:
        """$p(z)$ as a ``torch.distributions`` object (``log_prob``: (..., D) -> (...), nats; ``sample``)."""
        return self.prior.distribution(self.encode)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        r"""$\log p(z)$, ``z`` (..., D) -> (...). Nats. Closed form for N(0, I); else the prior's ``log_prob``."""
        if not self.prior.learned:
            return log_standard_normal(z)
        return self.prior_distribution().log_prob(z)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (B, 784) in {0, 1} -> ``(mu, logvar)``, each (B, D)."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``z`` (..., D) -> Bernoulli logits (..., 784)."""
        return self.decoder(z)

    def log_px_given_z(self, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        r"""$\log p_\theta(x \mid z) = \sum_d x_d \log s_d + (1 - x_d)\log(1 - s_d)$, $s=\mathrm{sigmoid}(\ell)$.

        Shapes broadcast: ``x`` (B, 784), ``logits`` (..., B, 784) -> (..., B). Nats.
        """
        return -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)

    def forward(self, x: torch.Tensor) -> ElboTerms:
        """One-sample ELBO terms for a batch ``x`` (B, 784) in {0, 1}; see :class:`ElboTerms`."""
        mu, logvar = self.encode(x)
        # Reparameterization (Kingma & Welling 2014, eq. 4): $z = \mu + \sigma \odot \epsilon$, $\epsilon \sim N(0, I)$
        z = sample_diag_gaussian(mu, logvar)
        reconstruction = self.log_px_given_z(x, self.decode(z))
        kl_dims = None
        if self.prior.learned:
            # no closed form: $\log q(z|x) - \log p(z)$ at the reparameterized z (unbiased for the KL)
            kl = kl_to_prior(mu, logvar, z, self.prior_distribution())
        else:
            kl_dims = kl_to_prior(mu, logvar, per_dim=True)
            kl = kl_dims.sum(-1)
        return ElboTerms(elbo=reconstruction - kl, reconstruction=reconstruction, kl=kl, kl_dims=kl_dims)


def build_model(cfg) -> VAE:
    """The :class:`VAE` a run configuration (a :class:`training.config.TrainConfig`) describes, freshly initialised
    from the global RNG."""
    return VAE(latent_dim=cfg.latent_dim, hidden=tuple(cfg.hidden), activation=cfg.activation, prior=cfg.prior_spec)

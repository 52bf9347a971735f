r"""Priors $p(z)$ for the VAE: the standard normal of Table 1 and two learned priors (issue 15).

Hoffman & Johnson (2016) end on a recommendation: the marginal KL, $\mathrm{KL}(q_{\mathrm{agg}} \| p)$, is the
prior's fault, and the best prior for a fixed encoder is $p = q_{\mathrm{agg}}$ itself. Two learned priors move
toward it:

- ``"standard"``: $p(z) = \mathcal{N}(0, I)$ (no parameters; the KL term has a closed form).
- ``"mog:K"``: a mixture of K diagonal Gaussians with learned weights, means and variances,
  $p(z) = \sum_k \pi_k \mathcal{N}(z; m_k, \mathrm{diag}\, s_k^2)$.
- ``"vamp:K"``: the VampPrior (Tomczak & Welling 2018, eq. 9), the encoder's posterior averaged over K learned
  pseudo-inputs $u_k \in [0, 1]^{784}$: $p(z) = \frac1K \sum_k q_\phi(z \mid u_k)$ -- the aggregated posterior of
  a learned pseudo-dataset of size K.

Every prior is a ``torch.distributions`` object (``MixtureSameFamily`` of ``Independent(Normal)``) built by
:meth:`Prior.distribution`, so there is one formula for its log-density: ``log_prob``, shape ``(..., D) -> (...)``,
in nats. For the learned priors the KL term of the ELBO has no closed form and is estimated by Monte Carlo from
the same reparameterized sample as the reconstruction (:meth:`training.model.VAE.forward`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from .prior_spec import PriorSpec, parse_prior


class Prior(nn.Module):
    """Base class: ``distribution(encode)`` returns the prior as a ``torch.distributions.Distribution``.

    ``encode`` is the VAE's ``encode`` (``x (B, 784) -> (mu, logvar)``), needed by the VampPrior only.
    """

    kind = "standard"
    learned = False

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim

    def distribution(self, encode=None) -> torch.distributions.Distribution:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def components(self, encode=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The prior as a mixture of diagonal Gaussians: ``(weights (K,), means (K, D), logvars (K, D))``."""
        raise NotImplementedError


class StandardPrior(Prior):
    r"""$\mathcal{N}(0, I)$ in D dimensions (Kingma & Welling 2014; Hoffman & Johnson 2016, Table 1)."""

    def __init__(self, latent_dim: int):
        super().__init__(latent_dim)
        # a buffer so the distribution lives on the model's device (not saved: it is always zero)
        self.register_buffer("_zero", torch.zeros(latent_dim), persistent=False)

    def distribution(self, encode=None) -> Independent:
        return Independent(Normal(self._zero, torch.ones_like(self._zero)), 1)

    def describe(self) -> str:
        return "N(0,I)"


class MixturePrior(Prior):
    r"""$p(z) = \sum_{k=1}^K \pi_k \mathcal{N}(z; m_k, \mathrm{diag}\, e^{v_k})$, all of $\pi, m, v$ learned.

    Initialisation (seeded by the caller's global RNG): means $m_k \sim \mathcal{N}(0, I)$, log-variances 0,
    equal weights -- at K = 1 with $m = 0$ it would be the standard prior.
    """

    kind = "mog"
    learned = True

    def __init__(self, latent_dim: int, k: int):
        super().__init__(latent_dim)
        self.k = k
        self.means = nn.Parameter(torch.randn(k, latent_dim))
        self.logvars = nn.Parameter(torch.zeros(k, latent_dim))
        self.logits = nn.Parameter(torch.zeros(k))

    def distribution(self, encode=None) -> MixtureSameFamily:
        comp = Independent(Normal(self.means, torch.exp(0.5 * self.logvars)), 1)
        return MixtureSameFamily(Categorical(logits=self.logits), comp)

    def describe(self) -> str:
        return f"mixture of {self.k} diagonal Gaussians (learned)"

    def components(self, encode=None):
        """Softmax weights (K,), means and log-variances (K, D)."""
        return torch.softmax(self.logits, 0), self.means, self.logvars


class VampPrior(Prior):
    r"""VampPrior (Tomczak & Welling 2018): $p(z) = \frac1K \sum_k q_\phi(z \mid u_k)$, pseudo-inputs learned.

    The pseudo-inputs are ``u = hardtanh(raw, 0, 1)`` (grey levels in [0, 1], as the paper's implementation),
    ``raw`` (K, 784) initialised $\mathcal{N}(0.05, 0.01^2)$ as there. The components are the encoder's own
    Gaussians, so the prior moves with the encoder.
    """

    kind = "vamp"
    learned = True

    def __init__(self, latent_dim: int, k: int, x_dim: int = 784):
        super().__init__(latent_dim)
        self.k = k
        self.pseudo_raw = nn.Parameter(0.05 + 0.01 * torch.randn(k, x_dim))

    def pseudo_inputs(self) -> torch.Tensor:
        """The K pseudo-inputs, shape (K, 784), in [0, 1]."""
        return torch.nn.functional.hardtanh(self.pseudo_raw, 0.0, 1.0)

    def distribution(self, encode=None) -> MixtureSameFamily:
        if encode is None:
            raise TypeError("VampPrior.distribution needs the encoder: pass encode=vae.encode")
        mu, logvar = encode(self.pseudo_inputs())
        comp = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
        mix = Categorical(logits=torch.zeros(self.k, device=mu.device, dtype=mu.dtype))
        return MixtureSameFamily(mix, comp)

    def describe(self) -> str:
        return f"VampPrior with {self.k} learned pseudo-inputs"

    def components(self, encode=None):
        """Weights 1/K, and the encoder's means and log-variances at the K pseudo-inputs (K, D)."""
        if encode is None:
            raise TypeError("VampPrior.components needs the encoder: pass encode=vae.encode")
        mu, logvar = encode(self.pseudo_inputs())
        return torch.full((self.k,), 1.0 / self.k, dtype=mu.dtype, device=mu.device), mu, logvar


def build_prior(spec: "str | PriorSpec", latent_dim: int, x_dim: int = 784) -> Prior:
    """The :class:`Prior` named by ``spec``: a :class:`training.prior_spec.PriorSpec` (already parsed, e.g.
    ``TrainConfig.prior_spec``) or its text (parsed by :func:`training.prior_spec.parse_prior`). Raises
    ``ConfigError`` on a bad spec."""
    kind, k = spec if isinstance(spec, PriorSpec) else parse_prior(spec)
    if kind == "standard":
        return StandardPrior(latent_dim)
    if kind == "mog":
        return MixturePrior(latent_dim, k)
    return VampPrior(latent_dim, k, x_dim)


__all__ = ["MixturePrior", "Prior", "StandardPrior", "VampPrior", "build_prior"]

r"""The estimators every measurement of the trainer is built from: one of each, used by every command.

- **Densities** (nats, broadcasting over leading dims): :func:`log_standard_normal`, :func:`log_diag_gaussian`.
- **The closed-form Gaussian KL** to $\mathcal{N}(0, I)$ (Prince 2023, eq. 17.24; proved in
  ``derivations.gaussian_kl``): :func:`gaussian_kl_to_standard_normal` and its per-dimension terms
  :func:`gaussian_kl_per_dim`.
- **One reparameterized draw** (Kingma & Welling 2014, eq. 4): :func:`reparameterize` is the formula
  $z = \mu + \sigma \odot \epsilon$, :func:`sample_diag_gaussian` draws $\epsilon$ from a seeded generator and
  applies it. (``torch.distributions.Normal.rsample`` draws from the global RNG only; the measurements here
  need their own seeded generator, so that a measurement never moves the training RNG.)
- **One KL term**: :func:`kl_to_prior` chooses between the closed form ($p = \mathcal{N}(0, I)$) and the one-draw
  Monte Carlo $\log q(z \mid x) - \log p(z)$ under any other prior (a ``torch.distributions`` object, e.g.
  :meth:`training.model.VAE.prior_distribution`); :func:`average_kl_estimate` averages it over a dataset.
- **One estimate type**: :class:`Estimate` (value, standard error, sample count), made from samples by
  :func:`mean_se`; results files store its ``{"value", "se"}`` (:meth:`Estimate.term`).
- **Model-level estimators**: :func:`encode_all`, :func:`active_units`, :func:`reconstruction_term`, :func:`log_importance_weights`
  and the IWAE bound :func:`iwae_bound` (Burda et al. 2016).

Used by :mod:`training.model`, :mod:`training.evaluate`, :mod:`training.surgery_estimators` and
:mod:`training.prior_study`; tested in ``tests/training/test_estimators.py``. Nothing runs at import.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

LOG_2PI = math.log(2 * math.pi)

#: Samples per ``prior.log_prob`` call: a mixture's ``log_prob`` makes an (S, K, D) intermediate.
LOG_PROB_CHUNK = 4096


# --- the estimate type -------------------------------------------------------------------------------------------


@dataclass
class Estimate:
    """A Monte Carlo (or exact, ``se == 0``) estimate in nats: its ``value``, standard error ``se`` and the number
    of samples ``n_samples`` it averages (0 when not recorded)."""

    value: float
    se: float
    n_samples: int = 0

    def to_dict(self) -> dict:
        """``{"value", "se", "n_samples"}``."""
        return asdict(self)

    def term(self) -> dict:
        """``{"value", "se"}``: a term of a results file (:mod:`training.result_files`), floats."""
        return {"value": float(self.value), "se": float(self.se)}


def mean_se(x: torch.Tensor, single_se: float = float("nan")) -> Estimate:
    r"""The sample mean of ``x`` (any shape, flattened) and its standard error $s / \sqrt{n}$, in float64.

    ``single_se``: the standard error reported for a single sample (it has none; NaN unless the caller needs a
    finite number in a JSON file).
    """
    x = x.to(torch.float64)
    n = x.numel()
    se = x.std(unbiased=True).item() / math.sqrt(n) if n > 1 else single_se
    return Estimate(x.mean().item(), se, n)


# --- densities and the closed-form KL ---------------------------------------------------------------------------


def log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    r"""$\log \mathcal{N}(z; 0, I) = -\tfrac12 (\|z\|^2 + D \log 2\pi)$; ``z`` (..., D) -> (...). Nats."""
    return -0.5 * (z.pow(2).sum(-1) + z.shape[-1] * LOG_2PI)


def log_diag_gaussian(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""$\log \mathcal{N}(z; \mu, \mathrm{diag}\,e^{\mathrm{logvar}})$, broadcasting over leading dims -> (...). Nats."""
    # $-\tfrac12 \sum_d [(z_d - \mu_d)^2 / \sigma_d^2 + \log \sigma_d^2 + \log 2\pi]$
    return -0.5 * (((z - mu) ** 2) * torch.exp(-logvar) + logvar + LOG_2PI).sum(-1)


def gaussian_kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""$\mathrm{KL}(\mathcal{N}(\mu_d, \sigma_d^2) \,\|\, \mathcal{N}(0, 1))$ per latent dimension: (..., D) -> (..., D).

    Nats. Prince (2023), eq. 17.24; proved in ``derivations.gaussian_kl``.
    """
    # $\mathrm{KL}_d = \tfrac12 (\sigma_d^2 + \mu_d^2 - 1 - \log \sigma_d^2)$
    return 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar)


def gaussian_kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""Closed-form $\mathrm{KL}(\mathcal{N}(\mu, \mathrm{diag}\,\sigma^2) \,\|\, \mathcal{N}(0, I))$ in nats.

    Prince (2023), eq. 17.24; proved in ``derivations.gaussian_kl``. ``mu``, ``logvar`` (..., D) -> (...).
    """
    # $\mathrm{KL} = \tfrac12 \sum_d (\sigma_d^2 + \mu_d^2 - 1 - \log \sigma_d^2)$
    return gaussian_kl_per_dim(mu, logvar).sum(-1)


# --- the reparameterized draw -----------------------------------------------------------------------------------


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    r"""$z = \mu + \sigma \odot \epsilon$ with $\sigma = e^{\mathrm{logvar}/2}$ (Kingma & Welling 2014, eq. 4).

    ``eps`` standard normal, broadcasting against ``mu``, ``logvar`` (..., D); differentiable in both.
    """
    return mu + torch.exp(0.5 * logvar) * eps


def sample_diag_gaussian(mu: torch.Tensor, logvar: torch.Tensor, sample_shape: tuple[int, ...] = (),
                         generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Reparameterized draws $z \sim \mathcal{N}(\mu, \mathrm{diag}\,e^{\mathrm{logvar}})$: ``mu``, ``logvar`` (..., D)
    -> ``(*sample_shape, ..., D)``.

    $\epsilon$ is drawn with ``torch.randn`` of that shape from ``generator`` (the global RNG if None), in the
    dtype and on the device of ``mu``.
    """
    eps = torch.randn((*sample_shape, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
    return reparameterize(mu, logvar, eps)


# --- the KL term ------------------------------------------------------------------------------------------------


def log_prior(z: torch.Tensor, prior=None, chunk_size: int = LOG_PROB_CHUNK) -> torch.Tensor:
    r"""$\log p(z_s)$ for ``z`` (S, D) -> (S,), in ``z``'s dtype: $\mathcal{N}(0, I)$ if ``prior`` is None, else
    ``prior.log_prob`` (any ``torch.distributions`` object over (D,)), evaluated in chunks of ``chunk_size``."""
    if prior is None:
        return log_standard_normal(z)
    return torch.cat([prior.log_prob(z[i : i + chunk_size]).to(z.dtype) for i in range(0, z.shape[0], chunk_size)])


def kl_to_prior(mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor | None = None, prior=None,
                per_dim: bool = False) -> torch.Tensor:
    r"""The KL term of the ELBO, $\mathrm{KL}(q(z \mid x) \,\|\, p(z))$ for $q = \mathcal{N}(\mu, \mathrm{diag}\,\sigma^2)$.

    - ``prior`` None ($p = \mathcal{N}(0, I)$): the closed form (:func:`gaussian_kl_to_standard_normal`; ``z`` is
      not used), exact. ``per_dim=True`` returns its terms per latent dimension, (..., D).
    - otherwise (a distribution with ``log_prob``, e.g. a learned prior): $\log q(z \mid x) - \log p(z)$ at the
      reparameterized draw ``z`` (same shape as ``mu``), an unbiased one-sample estimate. ``z`` (S, D) is
      evaluated in chunks (:func:`log_prior`).

    Shapes ``mu``, ``logvar`` (..., D) -> (...). Nats. Raises ``ValueError`` for a learned prior without ``z``,
    or with ``per_dim`` (such a KL does not split over dimensions).
    """
    if prior is None:
        kl_dims = gaussian_kl_per_dim(mu, logvar)
        return kl_dims if per_dim else kl_dims.sum(-1)
    if z is None or per_dim:
        raise ValueError("a prior other than N(0, I) has no closed-form KL: pass the reparameterized draw z "
                         "(and per_dim=False, its KL does not split over dimensions)")
    lp = log_prior(z, prior) if z.ndim == 2 else prior.log_prob(z)
    # no closed form: $\log q(z|x) - \log p(z)$ at the reparameterized z (unbiased for the KL)
    return log_diag_gaussian(z, mu, logvar) - lp


def average_kl_estimate(mu: torch.Tensor, logvar: torch.Tensor, prior=None,
                        generator: torch.Generator | None = None, z: torch.Tensor | None = None) -> Estimate:
    r"""The average KL $\frac1n \sum_i \mathrm{KL}(q(z \mid x_i) \| p)$ of encodings ``mu``, ``logvar`` (n, D). Nats.

    $\mathcal{N}(0, I)$ (``prior`` None): the closed form in float64, exact (``se`` 0). Any other prior: the mean
    and standard error of :func:`kl_to_prior` at one draw per row -- ``z`` (n, D) if given, else drawn from
    ``generator`` (:func:`sample_diag_gaussian`).
    """
    if prior is None:
        return Estimate(kl_to_prior(mu.double(), logvar.double()).mean().item(), 0.0, mu.shape[0])
    if z is None:
        z = sample_diag_gaussian(mu, logvar, generator=generator)
    return mean_se(kl_to_prior(mu, logvar, z, prior))


# --- model-level estimators -------------------------------------------------------------------------------------


@torch.no_grad()
def encode_all(model, x: torch.Tensor, batch_size: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoder outputs of ``model`` (a :class:`training.model.VAE`) for all rows of ``x`` (n, 784) ->
    ``(mu, logvar)``, each (n, D), in batches of ``batch_size``."""
    outs = [model.encode(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])


@torch.no_grad()
def reconstruction_term(model, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, samples: int = 2,
                        seed: int = 0, batch_size: int = 2000) -> Estimate:
    r"""$\frac1n \sum_i \mathbb{E}_{q(z|x_i)} \log p(x_i|z)$ with ``samples`` (≥ 2) draws per image. Nats.

    ``x`` (n, 784) binary, ``mu``, ``logvar`` (n, D) its encodings. The standard error is
    $\sqrt{\sum_i \hat v_i / S}\,/\,n$, $\hat v_i$ the per-image sample variance: the Monte Carlo error of the
    average over these n images (the images themselves are not resampled). Draws from its own generator
    seeded with ``seed``. ``n_samples`` is n.
    """
    gen = torch.Generator(device=x.device).manual_seed(seed)
    total, var_sum = 0.0, 0.0
    for i in range(0, len(x), batch_size):
        m, lv, xb = mu[i : i + batch_size], logvar[i : i + batch_size], x[i : i + batch_size]
        z = sample_diag_gaussian(m, lv, (samples,), gen)  # (S, B, D)
        r = model.log_px_given_z(xb, model.decode(z)).double()  # (S, B)
        total += r.mean(0).sum().item()
        var_sum += (r.var(0, unbiased=True) / samples).sum().item()
    n = len(x)
    return Estimate(total / n, math.sqrt(var_sum) / n, n)


@torch.no_grad()
def log_importance_weights(model, xi: torch.Tensor, k: int, gen: torch.Generator, chunk: int = 250,
                           prior=None) -> torch.Tensor:
    r"""$\log w_k = \log p(x|z_k) + \log p(z_k) - \log q(z_k|x)$ for $z_k \sim q(z|x)$, $k = 1..K$ (Burda et al. 2016).

    ``xi`` (1, 784) one image -> (K,) float64, nats. ``prior``: a distribution with ``log_prob`` (default: the
    model's own prior, N(0, I) unless learned). Draws from ``gen`` in chunks of ``chunk``.
    """
    if prior is None and model.prior.learned:
        prior = model.prior_distribution()
    mu, logvar = model.encode(xi)
    logw = []
    for j in range(0, k, chunk):
        z = sample_diag_gaussian(mu[0], logvar[0], (min(chunk, k - j),), gen)  # (c, D)
        lp = log_standard_normal(z) if prior is None else prior.log_prob(z)
        logw.append((model.log_px_given_z(xi, model.decode(z)) + lp - log_diag_gaussian(z, mu, logvar)).double())
    return torch.cat(logw)


@torch.no_grad()
def iwae_bound(model, x: torch.Tensor, k: int = 1000, chunk: int = 250, seed: int = 0) -> tuple[Estimate, torch.Tensor]:
    r"""IWAE bound $\mathcal{L}_K(x) = \log \frac1K \sum_k \frac{p(x|z_k)p(z_k)}{q(z_k|x)}$ (Burda et al. 2016, eq. 8).

    ``x`` (n, 784) -> (its average over the n images with the standard error over images, per-image bounds
    (n,) float64). Nats. Needs n ≥ 2 for a standard error (NaN otherwise).
    """
    gen = torch.Generator(device=x.device).manual_seed(seed)
    prior = model.prior_distribution() if model.prior.learned else None  # a learned prior: built once
    per_image = [torch.logsumexp(log_importance_weights(model, x[i : i + 1], k, gen, chunk, prior), 0) - math.log(k)
                 for i in range(len(x))]
    b = torch.stack(per_image)
    return mean_se(b), b


#: Burda et al. (2016, sec. 5.2): a latent unit is active if its encoder mean varies over x by more than this.
ACTIVE_THRESHOLD = 0.01


@torch.no_grad()
def active_units(mu: torch.Tensor, threshold: float = ACTIVE_THRESHOLD) -> dict:
    r"""Burda et al. (2016): unit u is active if $\mathrm{Var}_x(\mu_u(x)) > 0.01$. ``mu`` (n, D) encoder means.

    Returns ``{"count", "of" (D), "threshold", "variance_per_unit"}`` (variances in squared latent units).
    """
    var = mu.double().var(0, unbiased=True)
    return {"count": int((var > threshold).sum().item()), "of": int(mu.shape[1]), "threshold": threshold,
            "variance_per_unit": [float(v) for v in var]}


__all__ = ["ACTIVE_THRESHOLD", "Estimate", "LOG_2PI", "active_units", "average_kl_estimate", "encode_all",
           "gaussian_kl_per_dim", "gaussian_kl_to_standard_normal", "iwae_bound", "kl_to_prior", "log_diag_gaussian", "log_importance_weights",
           "log_prior", "log_standard_normal", "mean_se", "reconstruction_term", "reparameterize",
           "sample_diag_gaussian"]

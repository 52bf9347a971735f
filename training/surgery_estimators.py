r"""ELBO-surgery estimators (Hoffman & Johnson 2016, "ELBO surgery: yet another way to carve up the ELBO").

For N training points with Gaussian encodings $q(z \mid n) = \mathcal{N}(\mu_n, \mathrm{diag}\,\sigma_n^2)$ and the
aggregated posterior $q_{\mathrm{agg}}(z) = \frac1N \sum_n q(z \mid n)$, the average KL to the prior splits as

$$\underbrace{\tfrac1N \textstyle\sum_n \mathrm{KL}(q(z\mid n)\,\|\,p(z))}_{\text{average KL}}
  = \underbrace{\mathrm{KL}(q_{\mathrm{agg}}\,\|\,p)}_{\text{marginal KL}}
  + \underbrace{I_q[n; z]}_{\text{index-code MI}}, \qquad 0 \le I_q[n; z] \le \log N. \quad \text{(H\&J eq. 3)}$$

All estimators take ``mu``, ``logvar`` of shape ``(N, D)`` (float tensors, any device) and return nats. The prior
is any distribution with ``log_prob`` (``(S, D) -> (S,)``, e.g. a ``torch.distributions`` object or
:meth:`training.model.VAE.prior_distribution`); ``None`` means $\mathcal{N}(0, I)$. The identity holds for every
prior: the index-code MI does not involve $p$, the average and marginal KL both do.

- the average KL: the closed form :func:`training.estimators.gaussian_kl_to_standard_normal` per point, exact given
  the encodings (:func:`training.estimators.average_kl_estimate` averages it).
- :func:`aggregated_posterior_estimates` — Monte Carlo as in the poster's eq. (19):
  $\hat n \sim \mathrm{Unif}\{1..N\}$,
  $z \sim q(z \mid \hat n)$, $\log q_{\mathrm{agg}}(z) = \mathrm{logsumexp}_n \log q(z \mid n) - \log N$ over **all**
  N points, in chunks of samples with bounded memory; the (sample, point) log-density matrix is built with one
  GEMM (:func:`log_density_matrix`): the marginal KL, and from the same samples the index-code MI directly,
  $\mathbb{E}[\log q(z \mid \hat n) - \log q_{\mathrm{agg}}(z)]$, and the average KL's Monte Carlo estimate.
- :func:`surgery_terms` — everything together, with standard errors and flags for violations of
  $0 \le I \le \log N$ (reported, never clipped). For a prior without a closed-form KL the average KL is the
  Monte Carlo mean of $\log q(z \mid \hat n) - \log p(z)$ over the same draws.
- :func:`optimal_prior_elbo` — the ELBO the same encoder and decoder would have with the prior $p = q_{\mathrm{agg}}$
  (Hoffman & Johnson's "optimal prior"): ELBO + marginal KL.
- :func:`minibatch_marginal_kl` — the minibatch weighted sampling (MWS) and stratified sampling (MSS) estimators
  of Chen et al. (2018, β-TCVAE, eqs. S5 and S6), which use a minibatch of M points instead of all N and are
  biased; shown beside the full-data estimator.

The index-code MI is one quantity with two estimators here: by subtraction (average KL − marginal KL, the results
files' ``index_code_mi``) and direct (``index_code_mi_direct``); ``derivations`` computes it exactly.

Tested against the exact models of ``derivations.models.surgery_oracles`` in
``tests/training/test_surgery_estimators.py``.
"""

from __future__ import annotations

import math
import torch

from .estimators import (LOG_2PI, Estimate, average_kl_estimate, log_diag_gaussian, log_prior, log_standard_normal,
                         mean_se, sample_diag_gaussian)


def log_density_matrix(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""$L_{sn} = \log \mathcal{N}(z_s; \mu_n, \mathrm{diag}\,\sigma_n^2)$ for all pairs: ``z`` (S, D) -> (S, N).

    Expanding the square makes it one matrix product of shape (S, 2D) x (2D, N):

    $L_{sn} = -\tfrac12\big[\sum_d z_{sd}^2 \sigma_{nd}^{-2} - 2 \sum_d z_{sd}\,\mu_{nd}\sigma_{nd}^{-2}
              + \sum_d (\mu_{nd}^2 \sigma_{nd}^{-2} + \log \sigma_{nd}^2) + D \log 2\pi\big]$.

    Precision: the expansion cancels terms of size $z^2/\sigma^2$; in float32 the error is about
    $10^{-7} \max(z^2, \mu^2)/\sigma^2$ nats, negligible for encodings with $\sigma \gtrsim 10^{-2}$. Pass float64
    tensors when the encodings are sharper.
    """
    prec = torch.exp(-logvar)  # (N, D): $\sigma_{nd}^{-2}$
    # $[z^2, z] \cdot [\sigma^{-2}, -2\mu\sigma^{-2}]^\top$: the two data-dependent sums in one GEMM
    left = torch.cat([z * z, z], dim=1)  # (S, 2D)
    right = torch.cat([prec, -2.0 * mu * prec], dim=1)  # (N, 2D)
    const = (mu * mu * prec + logvar).sum(1) + mu.shape[1] * LOG_2PI  # (N,)
    out = torch.addmm(const.unsqueeze(0), left, right.t())  # (S, N)
    return out.mul_(-0.5)


def log_q_agg(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, chunk_size: int = 2048) -> torch.Tensor:
    r"""$\log q_{\mathrm{agg}}(z_s) = \mathrm{logsumexp}_n \log q(z_s \mid n) - \log N$ over all N; (S, D) -> (S,).

    Memory: one ``(chunk_size, N)`` matrix at a time (2048 x 60000 float32 = 0.5 GB).
    """
    n = mu.shape[0]
    out = torch.empty(z.shape[0], dtype=z.dtype, device=z.device)
    for i in range(0, z.shape[0], chunk_size):
        out[i : i + chunk_size] = logsumexp_rows(log_density_matrix(z[i : i + chunk_size], mu, logvar))
    return out - math.log(n)


#: Terms below $e^{-80}$ of the row's largest are clamped there before ``exp``: at most $N e^{-80}$ (< 1e-30 for
#: N = 60000) relative error in the sum, and it avoids the slow path of ``exp`` on very negative arguments
#: (measured 4x faster on this CPU than ``torch.logsumexp`` for a (2048, 60000) block).
_LSE_FLOOR = -80.0


def logsumexp_rows(a: torch.Tensor) -> torch.Tensor:
    r"""$\log \sum_n e^{a_{sn}}$ over the last axis, in place on ``a`` (which it consumes). (S, N) -> (S,).

    Terms more than 80 nats below the row's largest are floored there (``_LSE_FLOOR``): faster than
    ``torch.logsumexp`` on (2048, 60000) blocks, within 1e-30 relative."""
    m = a.amax(dim=1, keepdim=True)
    # $\log \sum_n e^{a_n} = m + \log \sum_n e^{a_n - m}$, with $a_n - m$ floored at -80
    s = a.sub_(m).clamp_(min=_LSE_FLOOR).exp_().sum(dim=1)
    return s.log_().add_(m.squeeze(1))


def sample_aggregated_posterior(mu: torch.Tensor, logvar: torch.Tensor, num_samples: int,
                                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Draw $\hat n \sim \mathrm{Unif}\{1..N\}$, $z \sim q(z \mid \hat n)$: returns ``(z (S, D), n_hat (S,))``."""
    n_hat = torch.randint(0, mu.shape[0], (num_samples,), generator=generator, device=mu.device)
    # $z = \mu_{\hat n} + \sigma_{\hat n} \odot \epsilon$
    z = sample_diag_gaussian(mu[n_hat], logvar[n_hat], generator=generator)
    return z, n_hat


@torch.no_grad()
def aggregated_posterior_estimates(mu: torch.Tensor, logvar: torch.Tensor, num_samples: int | None = None,
                                   chunk_size: int = 2048, seed: int = 0, prior=None) -> dict[str, Estimate]:
    r"""Three estimates from one set of draws of $q_{\mathrm{agg}}$ over all N points (H&J poster eq. 19): the
    marginal KL, the index-code MI (direct) and the average KL (Monte Carlo).

    Args:
        mu, logvar: encodings, shape (N, D).
        num_samples: S, samples from $q_{\mathrm{agg}}$ (default N).
        chunk_size: samples per (chunk, N) log-density block; bounds the memory.
        seed: seeds the sampling (its own generator; the global RNG is untouched).
        prior: $p(z)$ with ``log_prob`` (None: $\mathcal{N}(0, I)$).

    Returns:
        ``{"marginal_kl": Estimate, "index_code_mi_direct": Estimate, "avg_kl_mc": Estimate}`` with
        $\mathrm{KL}(q_{\mathrm{agg}}\|p) \approx \frac1S \sum_s [\log q_{\mathrm{agg}}(z_s) - \log p(z_s)]$ and
        $I \approx \frac1S \sum_s [\log q(z_s \mid \hat n_s) - \log q_{\mathrm{agg}}(z_s)]$ and the average KL
        $\approx \frac1S \sum_s [\log q(z_s \mid \hat n_s) - \log p(z_s)]$, each with the standard error of its
        sample mean.
    """
    if mu.ndim != 2 or mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must both have shape (N, D); got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    s = mu.shape[0] if num_samples is None else int(num_samples)
    gen = torch.Generator(device=mu.device).manual_seed(seed)
    z, n_hat = sample_aggregated_posterior(mu, logvar, s, gen)
    lq_agg = log_q_agg(z, mu, logvar, chunk_size)
    # $\log q(z_s \mid \hat n_s)$, the sample's own encoder density
    lq_own = log_diag_gaussian(z, mu[n_hat], logvar[n_hat])
    lp = log_prior(z, prior)
    return {
        "marginal_kl": mean_se(lq_agg - lp),
        "index_code_mi_direct": mean_se(lq_own - lq_agg),
        # $\log q(z_s \mid \hat n_s) - \log p(z_s)$: the KL term of :func:`training.estimators.kl_to_prior`
        "avg_kl_mc": mean_se(lq_own - lp),
    }


@torch.no_grad()
def surgery_terms(mu: torch.Tensor, logvar: torch.Tensor, num_samples: int | None = None, chunk_size: int = 2048,
                  seed: int = 0, n_sigma: float = 3.0, prior=None) -> dict:
    r"""All ELBO-surgery terms of the encodings ``mu``, ``logvar`` (N, D), in nats.

    ``prior``: $p(z)$ with ``log_prob``; None is $\mathcal{N}(0, I)$, whose average KL is exact (closed form).

    Returns a dict with ``avg_kl`` (exact, se 0, for N(0, I); else the Monte Carlo mean over the same draws),
    ``marginal_kl`` and ``index_code_mi`` (= avg KL − marginal KL, H&J eq. 3) with the marginal KL's standard
    error (for a learned prior: the standard error of the per-draw difference, which is the direct MI's), ``index_code_mi_direct`` (the direct estimate), ``log_n``,
    and ``flags``: a list of strings naming each violation of $0 \le I \le \log N$ by more than ``n_sigma``
    standard errors, and each disagreement of the two MI estimates beyond ``n_sigma`` combined errors.
    """
    n = mu.shape[0]
    mc = aggregated_posterior_estimates(mu, logvar, num_samples, chunk_size, seed, prior=prior)
    marginal_kl_est, mi_direct = mc["marginal_kl"], mc["index_code_mi_direct"]
    # N(0, I): the closed form (exact); another prior: the Monte Carlo KL term at the same draws as the marginal KL
    avg_est = average_kl_estimate(mu, logvar) if prior is None else mc["avg_kl_mc"]
    # same draws (learned prior): avg KL - marginal KL is, draw by draw, the direct MI's summand
    mi = Estimate(avg_est.value - marginal_kl_est.value, marginal_kl_est.se if prior is None else mi_direct.se, marginal_kl_est.n_samples)
    avg = avg_est.value
    log_n = math.log(n)
    flags = []
    for name, est in (("index_code_mi", mi), ("index_code_mi_direct", mi_direct)):
        if est.value < -n_sigma * est.se:
            flags.append(f"{name} = {est.value:.4f} ± {est.se:.4f} < 0")
        if est.value > log_n + n_sigma * est.se:
            flags.append(f"{name} = {est.value:.4f} ± {est.se:.4f} > log N = {log_n:.4f}")
    if marginal_kl_est.value < -n_sigma * marginal_kl_est.se:
        flags.append(f"marginal_kl = {marginal_kl_est.value:.4f} ± {marginal_kl_est.se:.4f} < 0")
    if abs(mi.value - mi_direct.value) > n_sigma * math.hypot(mi.se, mi_direct.se):
        flags.append(f"MI by subtraction {mi.value:.4f} and direct {mi_direct.value:.4f} disagree")
    return {"avg_kl": avg_est, "marginal_kl": marginal_kl_est, "index_code_mi": mi,
            "index_code_mi_direct": mi_direct, "log_n": log_n, "flags": flags}


def optimal_prior_elbo(elbo: Estimate | dict, marginal: Estimate | dict) -> Estimate:
    r"""ELBO with the optimal prior $p^\star = q_{\mathrm{agg}}$ for the same encoder and decoder, in nats.

    $\mathcal{L}(p) = \text{reconstruction} - \text{MI} - \mathrm{KL}(q_{\mathrm{agg}} \| p)$ (H&J eq. 3); only the last
    term depends on $p$, and it is 0 at $p = q_{\mathrm{agg}}$, so $\mathcal{L}(q_{\mathrm{agg}}) = \mathcal{L}(p) +
    \mathrm{KL}(q_{\mathrm{agg}} \| p)$. The two estimates come from independent draws: their standard errors add
    in quadrature.
    """
    e = elbo if isinstance(elbo, dict) else elbo.to_dict()
    m = marginal if isinstance(marginal, dict) else marginal.to_dict()
    return Estimate(e["value"] + m["value"], math.hypot(e["se"], m["se"]), int(m.get("n_samples", 0)))


@torch.no_grad()
def minibatch_marginal_kl(mu: torch.Tensor, logvar: torch.Tensor, batch_size: int = 100, method: str = "mws",
                          num_batches: int | None = None, seed: int = 0) -> Estimate:
    r"""Minibatch marginal-KL estimators of Chen et al. (2018, β-TCVAE, sec. 4.1 and appendix C): biased.

    For a minibatch of M distinct points $\{n_1..n_M\}$ drawn uniformly and $z_i \sim q(z \mid n_i)$:

    - ``"mws"`` (minibatch weighted sampling):
      $\log q_{\mathrm{agg}}(z_i) \approx \log \sum_j q(z_i \mid n_j) - \log(NM)$;
    - ``"mss"`` (minibatch stratified sampling): the sample's own point exactly, the other $N-1$ points by the
      $M-1$ others of the batch, $q_{\mathrm{agg}}(z_i) \approx \tfrac1N q(z_i \mid n_i) +
      \tfrac{N-1}{N(M-1)} \sum_{j \ne i} q(z_i \mid n_j)$ — unbiased for $q_{\mathrm{agg}}(z_i)$, biased after the
      log. (Their published weight matrix has a known indexing typo, rtqichen/beta-tcvae PR #1; this is the
      estimator as derived.)

    Returns the mean over ``num_batches`` minibatches (default N // M) of $\log q_{\mathrm{agg}}(z) - \log p(z)$,
    nats, with its standard error. Raises ``ValueError`` for an unknown ``method`` or a batch size outside [2, N].
    """
    if method not in ("mws", "mss"):
        raise ValueError(f"method={method!r} is unknown: use 'mws' or 'mss'")
    n, m = mu.shape[0], int(batch_size)
    if m < 2 or m > n:
        raise ValueError(f"batch_size={m} is invalid: use 2 <= batch_size <= N={n}")
    nb = num_batches or max(1, n // m)
    gen = torch.Generator(device=mu.device).manual_seed(seed)
    if method == "mws":
        log_w = torch.full((m, m), -math.log(n * m), dtype=mu.dtype, device=mu.device)
    else:
        log_w = torch.full((m, m), math.log((n - 1) / (n * (m - 1))), dtype=mu.dtype, device=mu.device)
        log_w.fill_diagonal_(-math.log(n))
    vals = []
    for _ in range(nb):
        idx = torch.randperm(n, generator=gen, device=mu.device)[:m]
        z = sample_diag_gaussian(mu[idx], logvar[idx], generator=gen)
        # (M, M): row i = sample z_i, column j = point n_j; weights in log space
        lq = torch.logsumexp(log_density_matrix(z, mu[idx], logvar[idx]) + log_w, dim=1)
        vals.append(lq - log_standard_normal(z))
    return mean_se(torch.cat(vals))

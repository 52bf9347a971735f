r"""EM: the E-step makes the bound tight, so EM never decreases the likelihood.

.. math::
    q^*(z) = p(z \mid x, \theta) \;\Rightarrow\; \mathcal{L}(q^*, \theta) = \log p(x \mid \theta),
    \qquad
    \log p(x \mid \theta') \ge \mathcal{L}(q^*, \theta') \ge \mathcal{L}(q^*, \theta) = \log p(x \mid \theta).

Sources: Lecture 5 (Isachenko), 'EM-algorithm' (E-step :math:`q^* = \arg\min_q \mathrm{KL}(q \| p(z \mid x, \theta^*))`,
M-step) and 'Variational decomposition'; UDL (Prince) ch. 17, fig. 17.6.

Main derivation (symbolic, a latent with :math:`K = 3` states, prior :math:`\pi_k`, likelihoods :math:`\ell_k`):
with :math:`q^*_k = \pi_k \ell_k / \sum_j \pi_j \ell_j`, :math:`\sum_k q^*_k \log(\pi_k \ell_k / q^*_k) = \log \sum_j \pi_j \ell_j`.
Side derivation ``linear_gaussian``: :math:`\mathcal{L}(m_\star, v_\star) = \log p(x)` in closed form.  The
chain of inequalities above is then the ELBO bound (identity ``elbo_gap``) plus the M-step's maximization.

Numeric check: EM on a 1-D Gaussian mixture (3 components, ``N_POINTS`` points) from ``N_SEEDS`` random
initializations (seeds ``seed .. seed + N_SEEDS - 1``), ``N_ITERS`` iterations each.  After every E-step the
ELBO equals the log-likelihood (|gap| <= 1e-9 per point, floating point), and the log-likelihood never
decreases (each increment >= -1e-9 per point).

Wrong twin ``prior_estep``: the E-step sets :math:`q = \pi` (the prior) instead of the posterior -- the bound is
not tight (gap = KL(prior || posterior)), rejected symbolically and numerically.
"""
from __future__ import annotations

import numpy as np
import sympy as sp
from scipy.special import logsumexp
from scipy.stats import norm

from derivations.models import linear_gaussian as lg
from derivations.identity import make_identity
from derivations.steps import Derivation, NumericResult, Step
from derivations.notation import LOG_PX

N_POINTS = 300
N_SEEDS = 20
N_ITERS = 30
ATOL_PER_POINT = 1e-9

NAME = "em"
TITLE = "EM: the E-step makes the bound tight; the likelihood never decreases"
SOURCE = "Lecture 5 (Isachenko), 'EM-algorithm', 'Variational decomposition'; UDL (Prince) ch. 17, fig. 17.6"
TWINS = {"prior_estep": "E-step with q = prior p(z) (not the posterior) makes the bound tight"}

ELBO_QSTAR = sp.Symbol(r"\mathcal{L}(q^{*}, \theta)", real=True)


def _build(variant):
    a = sp.symbols("a1:4", positive=True)
    ell = sp.symbols("ell1:4", positive=True)
    pi = [ak / sum(a) for ak in a]
    # $p(x) = \sum_k \pi_k \ell_k$
    px = sum(pk * lk for pk, lk in zip(pi, ell))
    # E-step: $q^*_k = p(k \mid x) = \pi_k \ell_k / p(x)$ (the twin uses the prior $\pi_k$)
    q = pi if variant == "prior_estep" else [pk * lk / px for pk, lk in zip(pi, ell)]
    steps = [
        # $\mathcal{L}(q^*, \theta) = \sum_k q^*_k \log \frac{\pi_k \ell_k}{q^*_k}$
        Step(sum(qk * sp.log(pk * lk / qk) for qk, pk, lk in zip(q, pi, ell)), "ELBO of the E-step's q"),
        # $= \sum_k q^*_k \log p(x)$
        Step(sum(qk * sp.log(px) for qk in q), "Bayes: pi_k l_k / p(k|x) = p(x) for every k"),
        # $= \log p(x)$
        Step(sp.log(px), "sum_k q_k = 1"),
    ]
    out = {"statement": sp.Eq(ELBO_QSTAR, LOG_PX), "definitions": {ELBO_QSTAR: steps[0].expr, LOG_PX: sp.log(px)},
           "steps": steps}
    if variant is None:
        mp, vp = lg.posterior_mean_expr(), lg.posterior_var_expr()
        out["side"] = [Derivation("linear_gaussian", [
            Step(lg.elbo_expr(mp, vp), "closed-form ELBO at q = p(z|x) = N(m*, v*)"),
            Step(lg.log_evidence_expr(), "equals the closed-form log-evidence: KL(q*||p(z|x)) = 0"),
        ])]
    return out


def run_em(data, k: int = 3, n_iters: int = N_ITERS, seed: int = 0, estep: str = "posterior") -> dict:
    r"""EM for a 1-D Gaussian mixture; records the log-likelihood and the ELBO after each E-step.

    Args:
        data: ``(N,)`` array.  k: components.  seed: initialization seed.
        estep: ``"posterior"`` (correct) or ``"prior"`` (the wrong twin: responsibilities = mixing weights).
    Returns:
        dict ``loglik`` and ``elbo_after_estep``: arrays ``(n_iters,)`` in nats (sums over points);
        ``params``: final ``(pi, mean, var)``.
    """
    rng = np.random.default_rng(seed)
    n = len(data)
    pi = np.full(k, 1.0 / k)
    mean = rng.choice(data, k, replace=False)
    var = np.full(k, data.var())
    lls, elbos = [], []
    for _ in range(n_iters):
        # $\log \pi_k \mathcal{N}(x_n; \mu_k, \sigma_k^2)$, shape (N, K)
        logj = np.log(pi) + norm.logpdf(data[:, None], loc=mean, scale=np.sqrt(var))
        # $\log p(x_n \mid \theta) = \log \sum_k \pi_k \mathcal{N}(x_n; \mu_k, \sigma_k^2)$
        logpx = logsumexp(logj, axis=1)
        lls.append(logpx.sum())
        # E-step: $q_{nk} = p(k \mid x_n, \theta)$ (twin: $q_{nk} = \pi_k$)
        r = np.exp(logj - logpx[:, None]) if estep == "posterior" else np.broadcast_to(pi, (n, k)).copy()
        # $\mathcal{L}(q, \theta) = \sum_{n,k} q_{nk} (\log \pi_k \mathcal{N}(x_n) - \log q_{nk})$
        elbos.append(float((r * (logj - np.log(np.clip(r, 1e-300, None)))).sum()))
        # M-step: maximize $\mathcal{L}(q, \theta)$ over $\theta$
        nk = r.sum(0) + 1e-12
        pi = nk / n
        mean = (r * data[:, None]).sum(0) / nk
        var = np.maximum((r * (data[:, None] - mean) ** 2).sum(0) / nk, 1e-6)
    return {"loglik": np.array(lls), "elbo_after_estep": np.array(elbos), "params": (pi, mean, var)}


def mixture_data(seed: int = 0, n: int = N_POINTS) -> np.ndarray:
    """``(n,)`` points from the 3-component mixture 0.3 N(-2, 0.5^2) + 0.5 N(1, 1) + 0.2 N(4, 0.7^2)."""
    rng = np.random.default_rng(10_000 + seed)
    comp = rng.choice(3, n, p=[0.3, 0.5, 0.2])
    return np.array([-2.0, 1.0, 4.0])[comp] + np.array([0.5, 1.0, 0.7])[comp] * rng.standard_normal(n)


def _check(seed, variant):
    data = mixture_data(seed)
    estep = "prior" if variant == "prior_estep" else "posterior"
    worst_gap, worst_drop = 0.0, np.inf
    for s in range(seed, seed + N_SEEDS):
        out = run_em(data, seed=s, estep=estep)
        # tightness: $\mathcal{L}(q, \theta) - \log p(x \mid \theta)$ after the E-step
        gap = np.abs(out["elbo_after_estep"] - out["loglik"]).max()
        worst_gap = max(worst_gap, float(gap))
        worst_drop = min(worst_drop, float(np.diff(out["loglik"]).min()))
    tol = ATOL_PER_POINT * N_POINTS
    ok_tight = worst_gap <= tol
    ok_mono = worst_drop >= -tol
    msg = (f"max |ELBO(q) - log p(x|theta)| after E-steps = {worst_gap:.3g} nats (tol {tol:.1g}, "
           f"{'ok' if ok_tight else 'NOT TIGHT'}); min log-likelihood increment = {worst_drop:.3g} "
           f"({'never decreases' if ok_mono else 'DECREASED'}) over {N_SEEDS} seeds x {N_ITERS} iterations")
    return NumericResult(bool(ok_tight and ok_mono), worst_gap, 0.0, 0.0, tol, msg)


IDENTITY = make_identity(NAME, TITLE, SOURCE, _build, _check, TWINS)

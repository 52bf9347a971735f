r"""KL divergence: non-negative (Gibbs), and in closed form between Gaussians.

.. math::
    \mathrm{KL}\big(\mathcal{N}(\mu, \Sigma) \,\|\, \mathcal{N}(0, I)\big)
      = \tfrac12\big(\operatorname{tr}\Sigma + \mu^\top \mu - D - \log\det\Sigma\big),
    \qquad \mathrm{KL}(q \| p) \ge 0 \text{ with equality iff } q = p.

Sources: UDL (Prince) ch. 17, eq. (17.24) 'Computing KL divergence'; Gupta & Wang slide after eq. (9)
('KL ... available in closed form (Gaussian)'); the labml line in STYLE.md.

Main derivation: :math:`\Sigma = \mathrm{diag}(v_1, v_2, v_3)` (:math:`D = 3`); SymPy integrates each coordinate
(``sympy.stats`` expectation against the Gaussian density), sums, and rewrites as trace / inner product /
log-determinant.  Side derivations: the general 1-D KL between two Gaussians; Gibbs' inequality for a discrete
:math:`K = 3` distribution (witness :math:`\sum_k p_k G(q_k/p_k)`); :math:`\mathrm{KL} \ge 0` for the Gaussian
closed form (witness :math:`\tfrac12 G(v) + \tfrac12 m^2`) and its equality case :math:`m = 0, v = 1`.

Numeric check: for a diagonal Gaussian in :math:`D = 4`, the closed form against
``torch.distributions.kl_divergence`` (to 1e-5) and against a Monte Carlo estimate of
:math:`\mathbb{E}_q[\log q - \log p]` (``N_SAMPLES`` draws, fixed seed, 4 SE).

Wrong twin ``missing_D``: :math:`\tfrac12(\operatorname{tr}\Sigma + \mu^\top\mu - \log\det\Sigma)` -- off by
:math:`D/2` nats.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from derivations.identity import make_identity
from derivations.numeric import within
from derivations.rv import expect_rv, normal_rv
from derivations.steps import Derivation, NumericResult, Step
from derivations.witnesses import GibbsG

N_SAMPLES = 100_000
D_SYMBOLIC = 3

NAME = "gaussian_kl"
TITLE = "KL >= 0, and KL(N(mu, Sigma) || N(0, I)) in closed form"
SOURCE = "UDL (Prince) ch. 17, eq. (17.24); Gupta & Wang (after eq. 9)"
TWINS = {"missing_D": "KL(N(mu, Sigma) || N(0, I)) = (tr Sigma + mu^T mu - log det Sigma) / 2  (missing -D)"}

KL_STD = sp.Symbol(r"\mathrm{KL}(\mathcal{N}(\mu, \Sigma) \| \mathcal{N}(0, I))", real=True)
TR = sp.Symbol(r"\operatorname{tr} \Sigma", real=True)
MUMU = sp.Symbol(r"\mu^{\top} \mu", real=True)
DIM = sp.Symbol("D", positive=True, integer=True)
LOGDET = sp.Symbol(r"\log \det \Sigma", real=True)


def _log_normal(y, mean, var):
    return -sp.log(2 * sp.pi * var) / 2 - (y - mean) ** 2 / (2 * var)


def kl_diag_standard_normal(mu, logvar):
    r"""Closed-form $\mathrm{KL}(\mathcal{N}(\mu, \mathrm{diag}\,e^{\text{logvar}}) \| \mathcal{N}(0, I))$ in nats.

    Args: ``mu``, ``logvar``: NumPy arrays ``(..., D)``.  Returns: array ``(...)``.
    """
    mu, logvar = np.asarray(mu, float), np.asarray(logvar, float)
    # $\mathrm{KL} = \tfrac12 \sum_d (\sigma_d^2 + \mu_d^2 - 1 - \log \sigma_d^2)$
    return 0.5 * (np.exp(logvar) + mu**2 - 1.0 - logvar).sum(-1)


def _build(variant):
    D = D_SYMBOLIC
    mu = sp.symbols(f"mu1:{D + 1}", real=True)
    var = sp.symbols(f"v1:{D + 1}", positive=True)
    Zs = [normal_rv(f"z{d + 1}", mu[d], var[d]) for d in range(D)]
    mvec = sp.Matrix(mu)
    Sigma = sp.diag(*var)
    drop = 0 if variant == "missing_D" else 1
    # $\tfrac12(\operatorname{tr}\Sigma + \mu^\top\mu - D - \log\det\Sigma)$
    closed = (Sigma.trace() + (mvec.T * mvec)[0, 0] - drop * D - sp.log(Sigma.det())) / 2
    steps = [
        # $\mathbb{E}_q[\log q(z) - \log \mathcal{N}(z; 0, I)]$, a diagonal q factorizes over coordinates
        Step(expect_rv(sum(_log_normal(Zs[d], mu[d], var[d]) - _log_normal(Zs[d], 0, 1) for d in range(D))),
             "definition of KL for a diagonal Gaussian: log-densities are sums over coordinates"),
        # $= \sum_d \tfrac12 (v_d + \mu_d^2 - 1 - \log v_d)$
        Step(sum((var[d] + mu[d] ** 2 - 1 - sp.log(var[d])) / 2 for d in range(D)),
             "integrate each coordinate against N(mu_d, v_d) (SymPy integration)"),
        # $= \tfrac12(\operatorname{tr}\Sigma + \mu^\top\mu - D - \log\det\Sigma)$
        Step(closed, "sum_d v_d = tr Sigma, sum_d mu_d^2 = mu^T mu, sum_d log v_d = log det Sigma"),
    ]
    statement = sp.Eq(KL_STD, sp.Mul(sp.Rational(1, 2), TR + MUMU - drop * DIM - LOGDET, evaluate=False))
    defs = {KL_STD: steps[0].expr, TR: Sigma.trace(), MUMU: (mvec.T * mvec)[0, 0], DIM: D, LOGDET: sp.log(Sigma.det())}
    out = {"statement": statement, "definitions": defs, "steps": steps}
    if variant is not None:
        return out
    m1, m2 = sp.symbols("m1 m2", real=True)
    v1, v2 = sp.symbols("v1 v2", positive=True)
    Z = normal_rv("z", m1, v1)
    a = sp.symbols("a1:4", positive=True)
    c = sp.symbols("c1:4", positive=True)
    p = [ak / sum(a) for ak in a]
    q = [ck / sum(c) for ck in c]
    m, v = sp.Symbol("m", real=True), sp.Symbol("v", positive=True)
    out["side"] = [
        Derivation("kl_1d_general", [
            Step(expect_rv(_log_normal(Z, m1, v1) - _log_normal(Z, m2, v2)), "KL(N(m1, v1) || N(m2, v2)) = E_q[log q - log p]"),
            Step((sp.log(v2 / v1) + (v1 + (m1 - m2) ** 2) / v2 - 1) / 2, "Gaussian moments (SymPy integration)"),
        ]),
        Derivation("gibbs_discrete", [
            Step(sum(pk * sp.log(pk / qk) for pk, qk in zip(p, q)), "KL(p || q) for K = 3 states"),
            Step(sp.Integer(0), "sum_k p_k (q_k/p_k - 1) = 0, so KL = sum_k p_k G(q_k/p_k) >= 0 (Gibbs)",
                 rel=">=", witness=sum(pk * GibbsG(qk / pk) for pk, qk in zip(p, q))),
        ]),
        Derivation("gibbs_equality", [
            Step(sum(pk * sp.log(pk / pk) for pk in p), "KL(p || p)"),
            Step(sp.Integer(0), "log 1 = 0: equality when q = p"),
        ]),
        Derivation("kl_gauss_nonneg", [
            Step((m**2 + v - 1 - sp.log(v)) / 2, "KL(N(m, v) || N(0, 1))"),
            Step(sp.Integer(0), "= G(v)/2 + m^2/2 >= 0, zero iff m = 0 and v = 1", rel=">=",
                 witness=GibbsG(v) / 2 + m**2 / 2),
        ]),
        Derivation("kl_gauss_equality", [
            Step(((m**2 + v - 1 - sp.log(v)) / 2).subs({m: 0, v: 1}), "KL(N(0, 1) || N(0, 1))"),
            Step(sp.Integer(0), "q = p"),
        ]),
    ]
    return out


def _check(seed, variant):
    import torch
    from torch.distributions import Independent, Normal, kl_divergence

    D = 4
    rng = np.random.default_rng(seed)
    mu = np.array([0.5, -1.0, 0.2, 1.5])
    logvar = np.array([-0.5, 0.3, -1.2, 0.0])
    drop = 0.0 if variant == "missing_D" else 1.0
    # the claimed closed form (the twin forgets $-D$)
    claimed = 0.5 * (np.exp(logvar) + mu**2 - drop - logvar).sum()
    qd = Independent(Normal(torch.tensor(mu), torch.tensor(np.exp(0.5 * logvar))), 1)
    pd = Independent(Normal(torch.zeros(D, dtype=torch.float64), torch.ones(D, dtype=torch.float64)), 1)
    kl_torch = float(kl_divergence(qd, pd))
    ok_torch = abs(kl_torch - claimed) <= 1e-5
    # Monte Carlo: $\mathbb{E}_q[\log q(z) - \log p(z)]$, $z = \mu + \sigma \epsilon$
    eps = rng.standard_normal((N_SAMPLES, D))
    zz = mu + np.exp(0.5 * logvar) * eps
    log_q = (-0.5 * np.log(2 * np.pi) - 0.5 * logvar - 0.5 * eps**2).sum(-1)
    log_p = (-0.5 * np.log(2 * np.pi) - 0.5 * zz**2).sum(-1)
    diff = log_q - log_p
    est, se = float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(N_SAMPLES))
    ok_mc, tol = within(est, se, claimed)
    msg = (f"MC KL = {est:.4f} ± {se:.4f} vs closed form {claimed:.4f} (tol {tol:.4f}, {'ok' if ok_mc else 'FAIL'}); "
           f"torch kl_divergence {kl_torch:.6f} ({'ok' if ok_torch else 'MISMATCH'})")
    return NumericResult(bool(ok_mc and ok_torch), est, se, float(claimed), tol, msg)


IDENTITY = make_identity(NAME, TITLE, SOURCE, _build, _check, TWINS)

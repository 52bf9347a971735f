r"""Monte Carlo estimates of the evidence, importance sampling, and the IWAE bounds.

.. math::
    p(x) = \int p(x \mid z) p(z)\, dz = \mathbb{E}_{p(z)}\, p(x \mid z)
         = \mathbb{E}_{q(z)} \frac{p(x \mid z) p(z)}{q(z)},
    \qquad
    \mathcal{L}(q) = \mathcal{L}_1 \le \mathcal{L}_K \le \mathcal{L}_{K+1} \le \log p(x),

with :math:`\mathcal{L}_K = \mathbb{E}_{z_{1:K} \sim q} \log \frac1K \sum_k \frac{p(x, z_k)}{q(z_k)}` (IWAE).

Sources: Lecture 5 (Isachenko), 'Naive Monte-Carlo estimation' and 'ELBO gradients (M-step)' (the naive
estimator; "the variational posterior assigns typically more probability mass in a smaller region than the
prior"); Burda, Grosse & Salakhutdinov, *Importance Weighted Autoencoders*, ICLR 2016, Theorem 1.

Main derivation (linear-Gaussian model, :mod:`derivations.models.linear_gaussian`): the posterior density integrates
to 1; Bayes' rule :math:`p(x)p(z \mid x) = p(x \mid z) p(z)` under the integral gives the naive form; multiplying
and dividing by :math:`q` gives importance sampling -- both estimators are unbiased.  Side derivation
``iwae_monotone_K3``: the :math:`K`-sample average is the mean of its leave-one-out :math:`(K-1)`-averages, so
by Jensen :math:`\log \tfrac13 \sum_k w_k \ge \tfrac13 \sum_i \log \tfrac12 \sum_{k \ne i} w_k` (witness
:math:`\sum_i \tfrac13 G(A_i / m)`); taking expectations over exchangeable samples gives
:math:`\mathcal{L}_3 \ge \mathcal{L}_2` (Burda et al., Thm. 1).  :math:`\mathcal{L}_K \le \log p(x)` is Jensen
(identity ``jensen``) applied to the unbiased estimate.

Numeric check (fixed seed): naive and importance-sampling estimates of :math:`p(x)` within 4 SE of the exact
evidence, the IS variance at least ``MIN_VARIANCE_RATIO`` times smaller than the naive one when q is near the
posterior; IWAE estimates for ``KS`` with ``N_REP`` replicates each: :math:`\mathcal{L}_1` matches the exact
ELBO, every :math:`\mathcal{L}_K \le \log p(x)` and the sequence is non-decreasing, each within 4 SE.

Wrong twin ``log_unbiased``: "the log of an unbiased estimator is unbiased", :math:`\mathbb{E}_q \log w = \log p(x)`
-- rejected symbolically (the residual is the KL) and numerically (off by about 2.9 nats).
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from derivations.models import linear_gaussian as lg
from derivations.identity import make_identity
from derivations.numeric import within
from derivations.rv import expect_rv, normal_rv
from derivations.steps import Derivation, NumericResult, Step
from derivations.witnesses import GibbsG
from derivations.notation import LOG_PX, P_X

N_SAMPLES = 100_000
KS = (1, 2, 5, 20, 100)
N_REP = 2_000
MIN_VARIANCE_RATIO = 10.0

NAME = "evidence_monte_carlo"
TITLE = "Evidence by Monte Carlo: naive, importance sampling, IWAE bounds"
SOURCE = ("Lecture 5 (Isachenko), 'Naive Monte-Carlo estimation'; Burda, Grosse & Salakhutdinov 2016 "
          "(IWAE), Theorem 1")
TWINS = {"log_unbiased": "E_q log[p(x,z)/q(z)] = log p(x)  (the log of an unbiased estimator taken as unbiased)"}

IS_FORM = sp.Symbol(r"\mathbb{E}_{q(z)} \frac{p(x \mid z) p(z)}{q(z)}", real=True)
E_LOG_W = sp.Symbol(r"\mathbb{E}_{q(z)} \log \frac{p(x, z)}{q(z)}", real=True)


def _build(variant):
    z = lg.z
    m, v = lg.m, lg.v
    inf = (z, -sp.oo, sp.oo)
    if variant == "log_unbiased":
        Z = normal_rv("z", m, v)
        steps = [
            Step(lg.log_evidence_expr(), "exact log-evidence"),
            Step(expect_rv(lg.log_joint_expr(Z) - lg.log_q_expr(Z)), "'log of an unbiased estimate is unbiased'"),
        ]
        return {"statement": sp.Eq(LOG_PX, E_LOG_W), "definitions": {LOG_PX: steps[0].expr, E_LOG_W: steps[1].expr},
                "steps": steps}
    px = sp.exp(lg.log_evidence_expr())
    post = sp.exp(lg.log_posterior_expr())
    joint = sp.exp(lg.log_likelihood_expr()) * sp.exp(lg.log_normal(z, 0, 1))
    q = sp.exp(lg.log_q_expr())
    steps = [
        # $p(x) = \mathcal{N}(x; b, w^2 + s^2)$
        Step(px, "closed-form evidence"),
        # $= p(x) \int p(z \mid x)\, dz$
        Step(px * sp.Integral(post, inf), "the posterior density integrates to 1"),
        # $= \int p(x) p(z \mid x)\, dz$
        Step(sp.Integral(px * post, inf), "p(x) does not depend on z"),
        # $= \int p(x \mid z) p(z)\, dz = \mathbb{E}_{p(z)} p(x \mid z)$: the naive estimator is unbiased
        Step(sp.Integral(joint, inf), "Bayes: p(x) p(z|x) = p(x|z) p(z); this is E_{p(z)} p(x|z) (naive MC)"),
        # $= \int q(z) \frac{p(x \mid z) p(z)}{q(z)}\, dz$: importance sampling is unbiased
        Step(sp.Integral(q * (joint / q), inf), "multiply and divide by q(z) > 0: E_q[p(x|z)p(z)/q(z)] (IS)"),
    ]
    wv = sp.symbols("w1:4", positive=True)
    total = sum(wv)
    loo = [(total - wi) / 2 for wi in wv]  # leave-one-out (K-1)-averages
    mean_loo = sum(loo) / 3
    side = [Derivation("iwae_monotone_K3", [
        Step(sp.log(total / 3), "log of the K = 3 average of importance weights"),
        Step(sum(sp.log(a) for a in loo) / 3,
             "the 3-average is the mean of the leave-one-out 2-averages; Jensen (Burda et al. Thm 1)",
             rel=">=", witness=sum(GibbsG(a / mean_loo) for a in loo) / 3),
    ])]
    return {"statement": sp.Eq(P_X, IS_FORM), "definitions": {P_X: px, IS_FORM: steps[-1].expr},
            "steps": steps, "side": side}


def _log_joint_np(zz, p):
    return lg.log_normal_np(p["x"], p["w"] * zz + p["b"], p["s"] ** 2) + lg.log_normal_np(zz, 0.0, 1.0)


def evidence_estimators(seed: int = 0, n: int = N_SAMPLES, params: dict | None = None) -> dict:
    r"""Naive and importance-sampling estimates of $p(x)$ on the linear-Gaussian model.

    The proposal is near the posterior: $q = \mathcal{N}(m_\star + 0.1\sqrt{v_\star},\ 1.3\, v_\star)$.
    Returns dict: ``exact`` ($p(x)$), ``naive`` / ``naive_se``, ``is`` / ``is_se``, the per-sample
    ``naive_var`` / ``is_var`` and the sample arrays ``naive_samples`` / ``is_samples`` (shape ``(n,)``).
    """
    p = dict(lg.DEFAULT, **(params or {}))
    rng = np.random.default_rng(seed)
    mp, vp = lg.posterior(p["x"], p["w"], p["b"], p["s"])
    # naive: $z \sim p(z)$, average $p(x \mid z)$
    z0 = rng.standard_normal(n)
    naive = np.exp(lg.log_normal_np(p["x"], p["w"] * z0 + p["b"], p["s"] ** 2))
    # importance sampling: $z \sim q$, average $p(x, z) / q(z)$
    qm, qv = mp + 0.1 * np.sqrt(vp), 1.3 * vp
    z1 = qm + np.sqrt(qv) * rng.standard_normal(n)
    iw = np.exp(_log_joint_np(z1, p) - lg.log_normal_np(z1, qm, qv))
    return {
        "exact": float(np.exp(lg.log_evidence(p["x"], p["w"], p["b"], p["s"]))),
        "naive": float(naive.mean()), "naive_se": float(naive.std(ddof=1) / np.sqrt(n)),
        "is": float(iw.mean()), "is_se": float(iw.std(ddof=1) / np.sqrt(n)),
        "naive_var": float(naive.var(ddof=1)), "is_var": float(iw.var(ddof=1)),
        "naive_samples": naive, "is_samples": iw,
    }


def iwae_curve(ks=KS, n_rep: int = N_REP, seed: int = 0, params: dict | None = None) -> dict:
    r"""IWAE bounds $\mathcal{L}_K$ (nats) with $q = \mathcal{N}(m, v)$ from ``params`` (default: far from the posterior).

    Returns dict: ``k`` (list), ``iwae`` and ``se`` (lists, ``n_rep`` replicates each), ``elbo`` (exact
    $\mathcal{L}_1$), ``log_px`` (exact).
    """
    p = dict(lg.DEFAULT, **(params or {}))
    rng = np.random.default_rng(seed)
    vals, ses = [], []
    for k in ks:
        zz = p["m"] + np.sqrt(p["v"]) * rng.standard_normal((n_rep, k))
        # $\log w_k = \log p(x, z_k) - \log q(z_k)$
        logw = _log_joint_np(zz, p) - lg.log_normal_np(zz, p["m"], p["v"])
        # $\log \frac1K \sum_k w_k$ (log-sum-exp)
        mx = logw.max(axis=1, keepdims=True)
        est = (mx[:, 0] + np.log(np.exp(logw - mx).mean(axis=1)))
        vals.append(float(est.mean()))
        ses.append(float(est.std(ddof=1) / np.sqrt(n_rep)))
    return {"k": list(ks), "iwae": vals, "se": ses,
            "elbo": float(lg.elbo(p["m"], p["v"], p["x"], p["w"], p["b"], p["s"])),
            "log_px": float(lg.log_evidence(p["x"], p["w"], p["b"], p["s"]))}


def _check(seed, variant):
    cur = iwae_curve(seed=seed)
    if variant == "log_unbiased":
        # the twin's claim: $\mathcal{L}_1 = \mathbb{E}_q \log w$ equals $\log p(x)$
        est, se = cur["iwae"][0], cur["se"][0]
        ok, tol = within(est, se, cur["log_px"])
        return NumericResult(ok, est, se, cur["log_px"], tol,
                             f"E_q log w = {est:.4f} ± {se:.4f} vs log p(x) = {cur['log_px']:.4f} (tol {tol:.4f})")
    ev = evidence_estimators(seed)
    ok_naive, tol_n = within(ev["naive"], ev["naive_se"], ev["exact"])
    ok_is, tol_is = within(ev["is"], ev["is_se"], ev["exact"])
    ratio = ev["naive_var"] / ev["is_var"]
    ok_ratio = ratio >= MIN_VARIANCE_RATIO
    ok_l1, _ = within(cur["iwae"][0], cur["se"][0], cur["elbo"])
    ok_upper = all(val <= cur["log_px"] + 4 * se for val, se in zip(cur["iwae"], cur["se"]))
    ok_mono = all(b >= a - 4 * np.hypot(sa, sb) for a, b, sa, sb in
                  zip(cur["iwae"], cur["iwae"][1:], cur["se"], cur["se"][1:]))
    curve = ", ".join(f"L_{k}={val:.3f}±{se:.3f}" for k, val, se in zip(cur["k"], cur["iwae"], cur["se"]))
    msg = (f"IS p(x) = {ev['is']:.5f} ± {ev['is_se']:.5f} vs exact {ev['exact']:.5f} ({'ok' if ok_is else 'FAIL'}); "
           f"naive {ev['naive']:.5f} ± {ev['naive_se']:.5f} ({'ok' if ok_naive else 'FAIL'}); "
           f"variance ratio naive/IS = {ratio:.1f} ({'ok' if ok_ratio else 'FAIL'}, need >= {MIN_VARIANCE_RATIO:g}); "
           f"ELBO {cur['elbo']:.3f} <= {curve} <= log p(x) {cur['log_px']:.3f} "
           f"(L_1 = ELBO {'ok' if ok_l1 else 'FAIL'}, upper {'ok' if ok_upper else 'FAIL'}, "
           f"non-decreasing {'ok' if ok_mono else 'FAIL'})")
    ok = ok_naive and ok_is and ok_ratio and ok_l1 and ok_upper and ok_mono
    return NumericResult(bool(ok), ev["is"], ev["is_se"], ev["exact"], tol_is, msg)


IDENTITY = make_identity(NAME, TITLE, SOURCE, _build, _check, TWINS)

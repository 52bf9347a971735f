r"""Monte Carlo estimates of the evidence, importance sampling, and the IWAE bounds.

.. math::
    p(x) = \int p(x \mid z) p(z)\, dz = \mathbb{E}_{p(z)}\, p(x \mid z)
         = \mathbb{E}_{q(z)} \frac{p(x \mid z) p(z)}{q(z)},
    \qquad
    \mathcal{L}(q) = \mathcal{L}_1 \le \mathcal{L}_K \le \mathcal{L}_{K+1} \le \log p(x),

with :math:`\mathcal{L}_K = \mathbb{E}_{z_{1:K} \sim q} \log \frac1K \sum_k \frac{p(x, z_k)}{q(z_k)}` (IWAE), for every
model and every proposal :math:`q` positive where :math:`p(x \mid z) p(z)` is.

Sources: R. Isachenko, *Deep Generative Models*, Lecture 5, slides "Naive Monte-Carlo estimation" and "ELBO
gradients (M-step)" ("the variational posterior assigns typically more probability mass in a smaller region than
the prior"); Y. Burda, R. Grosse & R. Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016, Theorem 1.

General proof (undefined densities, :mod:`derivations.expectation`): the evidence is the marginal
:math:`\int p(x \mid z) p(z)\,dz`, read as an expectation under the prior (the naive estimator is unbiased);
multiplying and dividing by :math:`q` gives importance sampling (unbiased too).  Side derivations (general): the
IWAE bound is monotone in :math:`K` for every :math:`K` -- the :math:`(K+1)`-average of the weights is the mean of
its :math:`K+1` leave-one-out :math:`K`-averages :math:`A_i`, so by Jensen
:math:`\log \frac{1}{K+1}\sum_k w_k \ge \frac{1}{K+1}\sum_i \log A_i` (witness
:math:`\frac{1}{K+1}\sum_i G(A_i / m)`), and the expectation over exchangeable samples gives
:math:`\mathcal{L}_{K+1} \ge \mathcal{L}_K`; and :math:`\mathcal{L}_K \le \log p(x)` (Jensen on the unbiased
average).  Worked instances: the linear-Gaussian model (the chain with every density a Gaussian) and the
monotonicity step for :math:`K = 2 \to 3`.

Numeric check (fixed seed): naive and importance-sampling estimates of :math:`p(x)` against the exact evidence;
the IS variance at least ``MIN_VARIANCE_RATIO`` times smaller than the naive one when q is near the posterior;
IWAE estimates for ``KS`` (``N_REP`` replicates; :math:`\mathcal{L}_1` with ``N_REP_CHECK``): :math:`\mathcal{L}_1`
matches the exact ELBO, every
:math:`\mathcal{L}_K \le \log p(x)`, the sequence is non-decreasing; a 5% error in the evidence or in
:math:`\mathcal{L}_1` is rejected; every density integrates to one.

Wrong twins: ``log_unbiased`` (:math:`\mathbb{E}_q \log w = \log p(x)`: the log of an unbiased estimate taken
as unbiased), ``iwae_no_1_over_K`` (:math:`\mathbb{E} \log \sum_k w_k` without :math:`1/K`, which exceeds
:math:`\log p(x)` by up to :math:`\log K`), ``naive_under_q`` (:math:`p(x) = \mathbb{E}_q\, p(x \mid z)`:
sampling from q without the weight :math:`p(z)/q(z)`).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from derivations.expectation import Expect, NormalPDF, density
from derivations.identity import make_identity
from derivations.models import linear_gaussian
from derivations.notation import M_STAR, P_X, V_STAR, evid, lik, prior, q, q_inst, x, z
from derivations.numeric import Component, normalization_claims, result_of
from derivations.steps import GIVEN_RULES, Derivation, Step
from derivations.witnesses import GibbsFunction

N_SAMPLES = 100_000
KS = (1, 2, 5, 20, 100)
N_REP = 2_000
#: replicates per K in the numeric check: sized so that a 5% error in L_1 is > 8 standard errors
N_REP_CHECK = 20_000
MIN_VARIANCE_RATIO = 10.0

NAME = "evidence_monte_carlo"
TITLE = (r"The evidence by Monte Carlo: naive and importance sampling, "
         r"$p(x) = \mathbb{E}_{q(z)}[p(x \mid z)\, p(z) / q(z)]$, and the IWAE bounds")
SOURCE = ("R. Isachenko, *Deep Generative Models*, Lecture 5, slide 'Naive Monte-Carlo estimation'; Y. Burda, "
          "R. Grosse & R. Salakhutdinov, 'Importance Weighted Autoencoders', ICLR 2016, Theorem 1")
TWINS = {
    "log_unbiased": (r"the log of an unbiased estimate taken as unbiased: "
                     r"$\log p(x) = \mathbb{E}_{q}\left[\log \frac{p(x \mid z)\, p(z)}{q(z)}\right]$"),
    "iwae_no_1_over_K": (r"the IWAE bound without its $1/K$: "
                         r"$\mathbb{E}\left[\log \sum_{k=1}^{K} w_k\right] \le \log p(x)$"),
    "naive_under_q": (r"samples of $q$ used without the weight $p(z) / q(z)$: "
                      r"$p(x) = \mathbb{E}_{q}\left[p(x \mid z)\right]$"),
}

IS_FORM = sp.Symbol(r"\mathbb{E}_{q(z)} \frac{p(x \mid z) p(z)}{q(z)}", real=True)
NAIVE_Q = sp.Symbol(r"\mathbb{E}_{q(z)}\, p(x \mid z)", real=True)
E_LOG_W = sp.Symbol(r"\mathbb{E}_{q(z)} \log \frac{p(x, z)}{q(z)}", real=True)
LOG_P_X = sp.Symbol(r"\log p(x)", real=True)

# IWAE symbols
k = sp.Symbol("k", integer=True, positive=True)
i = sp.Symbol("i", integer=True, positive=True)
K = sp.Symbol("K", integer=True, positive=True)
wts = sp.IndexedBase("w", positive=True)
A = sp.IndexedBase("A", positive=True)
S_ALL = sp.Sum(wts[k], (k, 1, K + 1))
zeta = sp.Symbol(r"\zeta", real=True)  # the K samples z_{1:K}, drawn from Q = prod_k q(z_k)
Qs = density("Q")
Wbar = sp.Function(r"\bar{w}", positive=True)  # the average of the K importance weights

SCOPE = (r"for every model $p(x \mid z)\, p(z)$ and every proposal $q(z)$ positive where $p(x \mid z) p(z)$ is; "
         r"the IWAE bounds for every $K \ge 1$")
MODEL = (r"Worked instance (the linear-Gaussian model): $z \sim \mathcal{N}(0, 1)$, "
         r"$x \mid z \sim \mathcal{N}(w z + b, s^2)$, so $p(x) = \mathcal{N}(x; b, w^2 + s^2)$ and "
         r"$p(z \mid x) = \mathcal{N}(m_\star, v_\star)$; proposal $q = \mathcal{N}(m, v)$.  The numeric check uses "
         r"$x = 3$, $w = 2$, $b = 0.5$, $s = 0.8$; importance sampling with $q = \mathcal{N}(m_\star + "
         r"0.1\sqrt{v_\star}, 1.3 v_\star)$ and the IWAE bounds with $q = \mathcal{N}(0.3, 0.5)$.")



#: the lines, as written
IS_TEX = r"\mathbb{E}_{q(z)}\left[\frac{p(x \mid z)\, p(z)}{q(z)}\right]"
NAIVE_Q_TEX = r"\mathbb{E}_{q(z)}\left[p(x \mid z)\right]"
LOG_W_TEX = r"\mathbb{E}_{q(z)}\left[\log \frac{p(x \mid z)\, p(z)}{q(z)}\right]"
#: the K samples and their average weight, as a lecturer writes them (read as the engine's zeta, Q, w-bar)
SAMPLES_TEX = r"z_1, \dots, z_K \sim q"
AVG_TEX = r"\frac{1}{K}\sum_{k=1}^{K} w_k"
SUM_TEX = r"\sum_{k=1}^{K} w_k"
IWAE_NAMES = {SAMPLES_TEX: Qs(zeta), AVG_TEX: Wbar(zeta)}
#: the symbols this identity introduces (the notation page defines the rest)
SYMBOLS = {
    r"w_k": r"the importance weight of the sample $z_k \sim q$, $w_k = p(x, z_k) / q(z_k)$",
    r"\mathcal{L}_K": (r"the IWAE bound with $K$ samples, "
                       r"$\mathbb{E}_{z_1, \dots, z_K \sim q}\left[\log \frac{1}{K}\sum_{k=1}^{K} w_k\right]$; "
                       r"$\mathcal{L}_1 = \mathcal{L}(q)$"),
    r"\zeta": r"the $K$ samples $z_1, \dots, z_K$ of $q$, taken together",
    r"Q(\zeta)": r"their joint density $q(z_1) \cdots q(z_K)$ (independent draws of $q$)",
    r"\bar{w}(\zeta)": r"their average importance weight $\frac{1}{K}\sum_{k=1}^{K} w_k$",
    r"A_i": r"the leave-one-out average $\frac{1}{K}\sum_{k \ne i} w_k$ of $K + 1$ weights",
    r"G(t)": r"Gibbs' function $t - 1 - \log t \ge 0$ ({ref}`ch-jensen`), the gap of Jensen's inequality for $\log$",
    "w": r"the weight of the linear-Gaussian model, $x \mid z \sim \mathcal{N}(wz + b, s^2)$",
    "b": r"the offset of the linear-Gaussian model",
    "s": r"the noise scale of the linear-Gaussian model, $s > 0$",
    "m": r"the mean of the proposal $q(z) = \mathcal{N}(z; m, v)$ on the worked instance",
    "v": r"the variance of the proposal $q(z) = \mathcal{N}(z; m, v)$, $v > 0$",
    r"m_{\star}": r"the posterior mean of the linear-Gaussian model, $m_\star = w (x - b) / (w^2 + s^2)$",
    r"v_{\star}": r"the posterior variance of the linear-Gaussian model, $v_\star = s^2 / (w^2 + s^2)$",
}


def _general_steps(mistake) -> list:
    Q = q(z)
    marg = sp.Integral(lik(x, z) * prior(z), (z, -sp.oo, sp.oo))
    last, shown, why, last_tex = {
        None: (Expect(lik(x, z) * prior(z) / Q, z, Q), None,
               r"Importance sampling: multiply and divide by $q(z) > 0$ where $p(x \mid z) p(z) > 0$; the "
               r"average of $w_s = p(x \mid z_s) p(z_s) / q(z_s)$, $z_s \sim q$, is unbiased.", IS_TEX),
        "naive_under_q": (Expect(lik(x, z), z, Q), None, r"'Sample $z$ from $q$ and average $p(x \mid z)$.'",
                          NAIVE_Q_TEX),
    }[mistake]
    return [
        Step(evid(x), r"The evidence.", tex=r"p(x)"),
        Step(marg, r"The sum rule: $p(x) = \int p(x, z)\, dz$ with $p(x, z) = p(x \mid z)\, p(z)$.",
             tex=r"\int p(x \mid z)\, p(z) \, dz"),
        Step(Expect(lik(x, z), z, prior(z)), r"An expectation under the prior: the naive estimator "
             r"$\frac{1}{S} \sum_s p(x \mid z_s)$, $z_s \sim p(z)$, is unbiased.",
             tex=r"\mathbb{E}_{p(z)}\left[p(x \mid z)\right]"),
        Step(last, why, display=shown, tex=last_tex),
    ]


def _iwae_general(no_normalizer: bool = False) -> list:
    """Pointwise: log of the (K+1)-average >= mean of the logs of the leave-one-out K-averages."""
    m = S_ALL / (K + 1)
    a_i = (S_ALL - wts[i]) / K
    return [
        Step(sp.log(m), r"The $(K+1)$-sample average of the importance weights $w_k = p(x, z_k) / q(z_k)$.",
             tex=r"\log \frac{1}{K + 1}\sum_{k=1}^{K + 1} w_k"),
        Step(sp.log(sp.Sum(A[i], (i, 1, K + 1)) / (K + 1)), r"It is the mean of its $K+1$ leave-one-out "
             r"$K$-averages $A_i = \frac{1}{K} \sum_{k \ne i} w_k$.",
             tex=r"\log \frac{1}{K + 1}\sum_{i=1}^{K + 1} A_i"),
        Step(sp.Sum(sp.log(A[i]), (i, 1, K + 1)) / (K + 1), r"Jensen's inequality for the concave log: "
             r"the gap is $\frac{1}{K+1} \sum_i G(A_i / m) \ge 0$.  Taking $\mathbb{E}$ over $z_1, \dots, z_{K+1}$ "
             r"i.i.d. from $q$, each $\log A_i$ has expectation $\mathcal{L}_K$: so $\mathcal{L}_{K+1} \ge "
             r"\mathcal{L}_K$ (Burda et al. 2016, Theorem 1).", rel=">=",
             witness=sp.Sum(GibbsFunction(A[i] * (K + 1) / S_ALL), (i, 1, K + 1)) / (K + 1),
             tex=r"\frac{1}{K + 1}\sum_{i=1}^{K + 1} \log A_i"),
    ]


def _iwae_upper(no_normalizer: bool = False) -> list:
    """E log(average) <= log E(average) = log p(x)."""
    Q = Qs(zeta)
    avg = K * Wbar(zeta) if no_normalizer else Wbar(zeta)
    avg_tex = SUM_TEX if no_normalizer else AVG_TEX
    e_tex = r"\mathbb{E}_{" + SAMPLES_TEX + "}"
    return [
        Step(Expect(sp.log(avg), zeta, Q), r"$\mathcal{L}_K$: the expected log of the average of the $K$ importance weights "
             r"$w_k = p(x, z_k) / q(z_k)$ of $z_1, \dots, z_K \sim q$." if not no_normalizer else
             r"'$\mathbb{E} \log \sum_k w_k$'.", tex=e_tex + r"\left[\log " + avg_tex + r"\right]"),
        Step(sp.log(Expect(avg, zeta, Q)), r"Jensen for the concave log: the gap is "
             r"$\mathbb{E}\, G(\bar w / \mathbb{E} \bar w) \ge 0$, $\bar w = \frac{1}{K}\sum_k w_k$.", rel="<=",
             witness=Expect(GibbsFunction(avg / Expect(avg, zeta, Q)), zeta, Q),
             tex=r"\log " + e_tex + r"\left[" + avg_tex + r"\right]"),
        Step(sp.log(evid(x)), r"The average of the weights is unbiased, $\mathbb{E}\, \bar w = p(x)$ (taken as given) "
             r"(the main chain and linearity over the $K$ samples).", tex=r"\log p(x)"),
    ]


def _instance() -> list:
    zz = linear_gaussian.z
    inf = (zz, -sp.oo, sp.oo)
    px = NormalPDF(linear_gaussian.x, linear_gaussian.b, linear_gaussian.w**2 + linear_gaussian.s**2)
    post = NormalPDF(zz, M_STAR, V_STAR)
    joint = NormalPDF(linear_gaussian.x, linear_gaussian.w * zz + linear_gaussian.b, linear_gaussian.s**2) * NormalPDF(zz, 0, 1)
    Qn = q_inst(zz)
    joint_tex = r"\mathcal{N}(x; wz + b, s^2)\, \mathcal{N}(z; 0, 1)"
    px_tex = r"\mathcal{N}(x; b, w^2 + s^2)"
    return [
        Step(px, r"The closed-form evidence $\mathcal{N}(x; b, w^2 + s^2)$.", tex=px_tex),
        Step(sp.Integral(px * post, inf), r"The posterior density integrates to 1, and $p(x)$ does not depend on $z$.",
             tex=r"\int " + px_tex + r"\, \mathcal{N}(z; m_{\star}, v_{\star}) \, dz"),
        Step(sp.Integral(joint, inf), r"Bayes: $p(x)\, p(z \mid x) = p(x \mid z)\, p(z)$ (complete the square).",
             tex=r"\int " + joint_tex + r" \, dz"),
        Step(Expect(joint / Qn, zz, Qn), r"Multiply and divide by $q(z) = \mathcal{N}(z; m, v) > 0$: importance "
             r"sampling.", tex=r"\mathbb{E}_{q(z)}\left[\frac{" + joint_tex + r"}{q(z)}\right]"),
    ]


def _iwae_k3() -> Derivation:
    wv = sp.symbols("w1:4", positive=True)
    total = sum(wv)
    loo = [(total - wi) / 2 for wi in wv]
    mean_loo = sum(loo) / 3
    return Derivation("iwae_monotone_K3", [
        Step(sp.log(total / 3), r"The log of the $K = 3$ average of importance weights.",
             tex=r"\log \frac{w_1 + w_2 + w_3}{3}"),
        Step(sum(sp.log(a) for a in loo) / 3, r"The mean of the three leave-one-out 2-averages; Jensen.",
             rel=">=", witness=sum(GibbsFunction(a / mean_loo) for a in loo) / 3,
             tex=(r"\frac{1}{3}\left(\log \frac{w_2 + w_3}{2} + \log \frac{w_1 + w_3}{2} "
                  r"+ \log \frac{w_1 + w_2}{2}\right)")),
    ], kind="instance", title=r"Worked instance: $\mathcal{L}_2 \le \mathcal{L}_3$, pointwise",
        names={f"w_{j + 1}": wv[j] for j in range(3)})


def _build(mistake):
    rules = {evid(x): sp.Integral(lik(x, z) * prior(z), (z, -sp.oo, sp.oo)),
             A[i]: (S_ALL - wts[i]) / K, Expect(Wbar(zeta), zeta, Qs(zeta)): evid(x),
             # taken as given: the unbiasedness of the average weight over K i.i.d. samples (exchangeability)
             GIVEN_RULES: sp.Tuple(Expect(Wbar(zeta), zeta, Qs(zeta)))}
    hyps = [r"p(x) = \int p(x \mid z)\, p(z)\, dz", r"q(z) > 0 \text{ where } p(x \mid z) p(z) > 0"]
    common = {"hypotheses": hyps, "kind": "general", "scope": SCOPE, "model": MODEL,
              "title": r"General proof: every model and every proposal $q$"}
    if mistake == "log_unbiased":
        Q = q(z)
        steps = [Step(sp.log(evid(x)), r"The log-evidence.", tex=r"\log p(x)"),
                 Step(Expect(sp.log(lik(x, z) * prior(z) / Q), z, Q), r"'The log of an unbiased estimate is "
                      r"unbiased.'", tex=LOG_W_TEX)]
        defs = {**rules, LOG_P_X: sp.log(evid(x)), E_LOG_W: steps[1].expr}
        return {"statement": sp.Eq(LOG_P_X, E_LOG_W), "steps": steps, "definitions": defs, **common,
                "statement_tex": r"\log p(x) = " + LOG_W_TEX}
    if mistake == "iwae_no_1_over_K":
        steps = _iwae_upper(no_normalizer=True)
        return {"statement": sp.LessThan(steps[0].expr, steps[-1].expr), "steps": steps, "definitions": rules,
                **common, "statement_tex": steps[0].tex + r" \le " + steps[-1].tex,
                "names": {SAMPLES_TEX: Qs(zeta), SUM_TEX: K * Wbar(zeta)}}
    steps = _general_steps(mistake)
    target = IS_FORM if mistake is None else NAIVE_Q
    defs = {**rules, P_X: evid(x), target: steps[-1].expr}
    out = {"statement": sp.Eq(P_X, target), "steps": steps, "definitions": defs, **common,
           "statement_tex": r"p(x) = " + steps[-1].tex}
    if mistake is not None:
        return out
    defs.update({M_STAR: linear_gaussian.posterior_mean_expr(), V_STAR: linear_gaussian.posterior_var_expr(),
                 q_inst(linear_gaussian.z): NormalPDF(linear_gaussian.z, linear_gaussian.m, linear_gaussian.v)})
    out["side"] = [
        Derivation("iwae_monotone", _iwae_general(), kind="general",
                   title=r"IWAE: $\mathcal{L}_K \le \mathcal{L}_{K+1}$ for every $K \ge 1$"),
        Derivation("iwae_upper", _iwae_upper(), kind="general", names=IWAE_NAMES,
                   title=r"IWAE: $\mathcal{L}_K \le \log p(x)$, with $K$ samples of $q$"),
        Derivation("instance", _instance(), kind="instance", names={r"q(z)": q_inst(linear_gaussian.z)},
                   title="Worked instance: the same chain on the linear-Gaussian model"),
        _iwae_k3(),
    ]
    out["symbols"] = SYMBOLS
    return out


def _log_joint_np(zz, p):
    return linear_gaussian.log_normal_np(p["x"], p["w"] * zz + p["b"], p["s"] ** 2) + linear_gaussian.log_normal_np(zz, 0.0, 1.0)


def evidence_estimators(seed: int = 0, n: int = N_SAMPLES, params: dict | None = None) -> dict:
    r"""Naive and importance-sampling estimates of $p(x)$ on the linear-Gaussian model.

    The proposal is near the posterior: $q = \mathcal{N}(m_\star + 0.1\sqrt{v_\star},\ 1.3\, v_\star)$.
    Returns dict: ``exact`` ($p(x)$), ``naive`` / ``naive_se``, ``is`` / ``is_se``, the per-sample
    ``naive_var`` / ``is_var`` and the sample arrays ``naive_samples`` / ``is_samples`` (shape ``(n,)``).
    """
    p = dict(linear_gaussian.DEFAULT, **(params or {}))
    rng = np.random.default_rng(seed)
    mp, vp = linear_gaussian.posterior(p["x"], p["w"], p["b"], p["s"])
    # naive: $z \sim p(z)$, average $p(x \mid z)$
    z0 = rng.standard_normal(n)
    naive = np.exp(linear_gaussian.log_normal_np(p["x"], p["w"] * z0 + p["b"], p["s"] ** 2))
    # importance sampling: $z \sim q$, average $p(x, z) / q(z)$
    qm, qv = mp + 0.1 * np.sqrt(vp), 1.3 * vp
    z1 = qm + np.sqrt(qv) * rng.standard_normal(n)
    iw = np.exp(_log_joint_np(z1, p) - linear_gaussian.log_normal_np(z1, qm, qv))
    return {
        "exact": float(np.exp(linear_gaussian.log_evidence(p["x"], p["w"], p["b"], p["s"]))),
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
    from scipy.special import logsumexp

    p = dict(linear_gaussian.DEFAULT, **(params or {}))
    rng = np.random.default_rng(seed)
    vals, ses = [], []
    for k in ks:
        zz = p["m"] + np.sqrt(p["v"]) * rng.standard_normal((n_rep, k))
        # $\log w_k = \log p(x, z_k) - \log q(z_k)$
        logw = _log_joint_np(zz, p) - linear_gaussian.log_normal_np(zz, p["m"], p["v"])
        # $\log \frac1K \sum_k w_k$ (log-sum-exp)
        est = logsumexp(logw, axis=1) - np.log(k)
        vals.append(float(est.mean()))
        ses.append(float(est.std(ddof=1) / np.sqrt(n_rep)))
    return {"k": list(ks), "iwae": vals, "se": ses,
            "elbo": float(linear_gaussian.elbo(p["m"], p["v"], p["x"], p["w"], p["b"], p["s"])),
            "log_px": float(linear_gaussian.log_evidence(p["x"], p["w"], p["b"], p["s"]))}


@lru_cache(maxsize=8)
def _estimates(seed: int) -> tuple:
    """Evidence estimators, the IWAE curve (``N_REP`` replicates per K) and L_1 alone with ``N_REP_CHECK``."""
    return evidence_estimators(seed), iwae_curve(seed=seed), iwae_curve(ks=(1,), n_rep=N_REP_CHECK, seed=seed + 1)


def check_components(seed: int = 0, mistake=None) -> tuple[list, list]:
    """Components (evidence by naive and IS sampling, L_1 against the ELBO) and claims (variance ratio,
    L_K <= log p(x), monotone in K, normalization)."""
    ev, cur, l1 = _estimates(seed)
    p = dict(linear_gaussian.DEFAULT)
    extra = []
    if mistake == "naive_under_q":
        # the twin: average $p(x \mid z)$ over $z \sim q$ (the IS proposal), no weight $p(z)/q(z)$
        rng = np.random.default_rng(seed)
        mp, vp = linear_gaussian.posterior(p["x"], p["w"], p["b"], p["s"])
        zq = mp + 0.1 * np.sqrt(vp) + np.sqrt(1.3 * vp) * rng.standard_normal(N_SAMPLES)
        vals = np.exp(linear_gaussian.log_normal_np(p["x"], p["w"] * zq + p["b"], p["s"] ** 2))
        comps = [Component("E_q p(x|z) vs p(x)", vals.mean(), vals.std(ddof=1) / np.sqrt(N_SAMPLES), ev["exact"])]
    else:
        comps = [Component("IS p(x)", ev["is"], ev["is_se"], ev["exact"]),
                 Component("naive p(x)", ev["naive"], ev["naive_se"], ev["exact"])]
    target = cur["log_px"] if mistake == "log_unbiased" else cur["elbo"]
    comps.append(Component("L_1 = E_q log w vs " + ("log p(x)" if mistake == "log_unbiased" else "ELBO"),
                           l1["iwae"][0], l1["se"][0], target))
    vals = np.array(cur["iwae"]) + (np.log(cur["k"]) if mistake == "iwae_no_1_over_K" else 0.0)
    ratio = ev["naive_var"] / ev["is_var"]
    extra.append((f"variance ratio naive/IS = {ratio:.1f} >= {MIN_VARIANCE_RATIO:g}", ratio >= MIN_VARIANCE_RATIO))
    curve = ", ".join(f"L_{kk}={val:.3f}±{se:.3f}" for kk, val, se in zip(cur["k"], vals, cur["se"]))
    extra.append((f"{curve} <= log p(x) = {cur['log_px']:.3f}",
                  all(val <= cur["log_px"] + 4 * se for val, se in zip(vals, cur["se"]))))
    extra.append(("non-decreasing in K", all(b >= a - 4 * np.hypot(sa, sb) for a, b, sa, sb in
                                             zip(vals, vals[1:], cur["se"], cur["se"][1:]))))
    mp, vp = linear_gaussian.posterior(p["x"], p["w"], p["b"], p["s"])
    extra += normalization_claims({
        "prior N(0, 1)": lambda t: np.exp(linear_gaussian.log_normal_np(t, 0.0, 1.0)),
        "likelihood p(x | z = 0.7) over x": lambda t: np.exp(linear_gaussian.log_normal_np(t, p["w"] * 0.7 + p["b"], p["s"] ** 2)),
        "IS proposal q": lambda t: np.exp(linear_gaussian.log_normal_np(t, mp + 0.1 * np.sqrt(vp), 1.3 * vp)),
        "IWAE q = N(m, v)": lambda t: np.exp(linear_gaussian.log_normal_np(t, p["m"], p["v"]))})
    return comps, extra


def _check(seed, mistake):
    comps, extra = check_components(seed, mistake)
    return result_of(comps, extra)


IDENTITY = make_identity(NAME, TITLE, SOURCE, _build, _check, TWINS)

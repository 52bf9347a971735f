r"""Evidence = ELBO + KL to the posterior (the project's skeleton identity).

.. math::
    \log p(x) = \mathcal{L}(q) + \mathrm{KL}\big(q(z) \,\|\, p(z \mid x)\big),
    \qquad \mathcal{L}(q) = \mathbb{E}_{q} \log \frac{p(x, z)}{q(z)},

for every model :math:`p(x, z)` with :math:`p(x) = \int p(x, z)\,dz > 0` and every density :math:`q(z)` positive
where :math:`p(x, z)` is (a sum replaces the integral for a discrete :math:`z`).

Sources: R. Isachenko, *Deep Generative Models*, Lecture 5, slides "ELBO derivation 1 (inequality)", "ELBO
derivation 2 (equality)" and "Variational decomposition"; K. Gupta & T. Wang, *ELBO and KL-Divergence*
(UCSD, 2018), eqs. (1)-(6); S. J. D. Prince, *Understanding Deep Learning* (MIT Press, 2023), ch. 17, "ELBO
properties".

General proof (densities are undefined functions, :mod:`derivations.expectation`): :math:`\log p(x)` is a
constant under :math:`\mathbb{E}_q`; Bayes' rule :math:`p(z \mid x) = p(x, z) / p(x)`; multiply and divide by
:math:`q(z)`; linearity.  Side derivations (general): :math:`\log p(x) \ge \mathcal{L}(q)` by Jensen with the
witness :math:`\mathbb{E}_q G(w / p(x))`, :math:`w = p(x, z)/q(z)`; :math:`\mathrm{KL}(q \| p(z \mid x)) \ge 0`
(Gibbs, witness :math:`\mathbb{E}_q G(p(z \mid x) / q(z))`).  Worked instance: the same chain on the
linear-Gaussian model of :mod:`derivations.models.linear_gaussian`, where every expectation is a Gaussian moment,
with Bayes' rule checked pointwise ("bayes"), the bound with its closed-form gap, and the stationarity of
:math:`\mathcal{L}` at :math:`q = p(z \mid x)`.

Numeric check (linear-Gaussian model, ``N_SAMPLES`` draws of q, common random numbers): the Monte Carlo ELBO and
KL each against their closed forms, and their per-sample sum against :math:`\log p(x)`; a 5% error in any of
the three is rejected.  Every density of the model (prior, likelihood over x, q, posterior) integrates to one.

Wrong twins: ``kl_sign`` (:math:`\log p(x) = \mathcal{L} - \mathrm{KL}`), ``kl_reversed`` (the KL in the wrong
direction, :math:`\mathrm{KL}(p(z \mid x) \| q)`), ``no_entropy`` (:math:`\log p(x) = \mathbb{E}_q \log p(x, z) +
\mathrm{KL}`: the :math:`-\log q` term of the ELBO forgotten).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from derivations.expectation import Expect, NormalPDF
from derivations.gaussian_kl import kl_normal_1d
from derivations.identity import make_identity
from derivations.models import linear_gaussian
from derivations.notation import (ELBO, KL_POST, LOG_PX, M_STAR, V_STAR, evid, joint, post, post_inst, q, q_inst,
                                  x, z)
from derivations.numeric import Component, normalization_claims, result_of
from derivations.steps import Derivation, Step
from derivations.witnesses import GibbsFunction

#: Monte Carlo samples of q (common random numbers for both terms).
N_SAMPLES = 200_000

NAME = "elbo_gap"
TITLE = (r"The evidence is the ELBO plus the KL to the posterior: "
         r"$\log p(x) = \mathcal{L}(q) + \mathrm{KL}(q \,\|\, p(z \mid x))$")
SOURCE = ("R. Isachenko, *Deep Generative Models*, Lecture 5, slides 'ELBO derivation 1 (inequality)', "
          "'ELBO derivation 2 (equality)', 'Variational decomposition'; K. Gupta & T. Wang, *ELBO and KL-Divergence* "
          "(UCSD, 2018), eqs. (1)-(6); S. J. D. Prince, *Understanding Deep Learning* "
          "(MIT Press, 2023), ch. 17")
TWINS = {
    "kl_sign": r"the KL sign flipped: $\log p(x) = \mathcal{L}(q) - \mathrm{KL}(q \,\|\, p(z \mid x))$",
    "kl_reversed": (r"the KL in the wrong direction: "
                    r"$\log p(x) = \mathcal{L}(q) + \mathrm{KL}(p(z \mid x) \,\|\, q)$"),
    "no_entropy": (r"the $-\log q(z)$ term of the ELBO forgotten: "
                   r"$\log p(x) = \mathbb{E}_{q}[\log p(x, z)] + \mathrm{KL}(q \,\|\, p(z \mid x))$"),
}

#: the model's definitions: the evidence is the marginal of the joint, the posterior is Bayes' rule
MODEL_RULES = {evid(x): sp.Integral(joint(x, z), (z, -sp.oo, sp.oo)), post(z, x): joint(x, z) / evid(x)}
HYPOTHESES = [r"p(x) = \int p(x, z)\, dz > 0", r"p(z \mid x) = p(x, z) / p(x)",
              r"q(z) > 0 \text{ where } p(x, z) > 0"]
SCOPE = (r"for every model $p(x, z)$ with $p(x) > 0$ and every density $q(z)$ that is positive where $p(x, z)$ "
         r"is, for a continuous or a discrete $z$")
MODEL = (r"Worked instance (the linear-Gaussian model): $z \sim \mathcal{N}(0, 1)$, "
         r"$x \mid z \sim \mathcal{N}(w z + b, s^2)$ with $s > 0$, and $q(z) = \mathcal{N}(m, v)$ with $v > 0$. "
         r"Then $p(x) = \mathcal{N}(x; b, w^2 + s^2)$ and $p(z \mid x) = \mathcal{N}(m_\star, v_\star)$ with "
         r"$m_\star = w (x - b) / (w^2 + s^2)$, $v_\star = s^2 / (w^2 + s^2)$.  The numeric check uses "
         r"$x = 3$, $w = 2$, $b = 0.5$, $s = 0.8$, $m = 0.3$, $v = 0.5$.")

# Instance display symbols
ELBO_MV = sp.Function(r"\mathcal{L}", real=True)(linear_gaussian.m, linear_gaussian.v)
KL_MV = sp.Function(r"\mathrm{KL}", real=True)(linear_gaussian.m, linear_gaussian.v)


def _general_steps(mistake) -> list:
    Q = q(z)
    elbo = Expect(sp.log(joint(x, z) / Q), z, Q)
    kl = Expect(sp.log(Q / post(z, x)), z, Q)
    last = {
        None: elbo + kl,
        "kl_sign": elbo - kl,
        "kl_reversed": elbo + Expect(sp.log(post(z, x) / Q), z, post(z, x)),
        "no_entropy": Expect(sp.log(joint(x, z)), z, Q) + kl,
    }[mistake]
    shown = {None: ELBO + KL_POST, "kl_sign": ELBO - KL_POST}.get(mistake)
    kl_tex = r"\mathrm{KL}\left(q(z) \,\|\, p(z \mid x)\right)"
    last_tex = {
        None: r"\mathcal{L}(q) + " + kl_tex,
        "kl_sign": r"\mathcal{L}(q) - " + kl_tex,
        "kl_reversed": r"\mathcal{L}(q) + \mathrm{KL}\left(p(z \mid x) \,\|\, q(z)\right)",
        "no_entropy": r"\mathbb{E}_{q(z)}\left[\log p(x, z)\right] + " + kl_tex,
    }[mistake]
    return [
        Step(sp.log(evid(x)), r"The log-evidence, $p(x) = \int p(x, z)\,dz$.", tex=r"\log p(x)"),
        Step(Expect(sp.log(evid(x)), z, Q), r"$\log p(x)$ does not depend on $z$ and $q$ is a density: "
             r"$\mathbb{E}_q[c] = c$.", tex=r"\mathbb{E}_{q(z)}\left[\log p(x)\right]"),
        Step(Expect(sp.log(joint(x, z) / post(z, x)), z, Q), r"Bayes' rule $p(z \mid x) = p(x, z) / p(x)$, "
             r"for every $z$.", tex=r"\mathbb{E}_{q(z)}\left[\log \frac{p(x, z)}{p(z \mid x)}\right]"),
        Step(Expect(sp.log(joint(x, z) / Q) + sp.log(Q / post(z, x)), z, Q),
             r"Multiply and divide by $q(z) > 0$ inside the log.",
             tex=r"\mathbb{E}_{q(z)}\left[\log \frac{p(x, z)}{q(z)} + \log \frac{q(z)}{p(z \mid x)}\right]"),
        Step(elbo + kl, r"Linearity of $\mathbb{E}_q$.",
             tex=r"\mathbb{E}_{q(z)}\left[\log \frac{p(x, z)}{q(z)}\right] + \mathbb{E}_{q(z)}\left[\log \frac{q(z)}{p(z \mid x)}\right]"),
        Step(last, r"The definitions: $\mathcal{L}(q) = \mathbb{E}_q \log \frac{p(x, z)}{q(z)}$ and "
             r"$\mathrm{KL}(q \| p) = \mathbb{E}_q \log \frac{q}{p}$ (Kullback & Leibler, 1951).", display=shown,
             tex=last_tex),
    ]


#: the line that writes the instance's KL to the posterior in closed form
KL_MV_TEX = (r"\frac{1}{2}\left(\frac{v + (m - m_{\star})^2}{v_{\star}} - 1 + \log \frac{v_{\star}}{v}\right)")
#: the ELBO of q = N(m, v) on the linear-Gaussian model, written as a lecturer does: reconstruction, then the KL
#: to the prior N(0, 1)
ELBO_MV_TEX = (r"-\frac{1}{2}\log 2\pi s^2 - \frac{(x - wm - b)^2 + w^2 v}{2 s^2} "
               r"- \frac{1}{2}\left(m^2 + v - 1 - \log v\right)")
LIK_TEX, PRIOR_TEX, EVID_TEX = (r"\mathcal{N}(x; wz + b, s^2)", r"\mathcal{N}(z; 0, 1)",
                                r"\mathcal{N}(x; b, w^2 + s^2)")
POST_TEX = r"\mathcal{N}(z; m_{\star}, v_{\star})"


#: the partial derivatives of the instance's ELBO at the posterior, as written (a names entry: the reader does
#: not read an evaluation bar)
D_M_TEX = r"\left.\frac{\partial \mathcal{L}(m, v)}{\partial m}\right|_{m = m_{\star},\, v = v_{\star}}"
D_V_TEX = r"\left.\frac{\partial \mathcal{L}(m, v)}{\partial v}\right|_{m = m_{\star},\, v = v_{\star}}"
#: the symbols this identity introduces (the notation page defines the rest)
SYMBOLS = {
    "w": r"the weight of the linear-Gaussian model, $x \mid z \sim \mathcal{N}(wz + b, s^2)$",
    "b": r"the offset of the linear-Gaussian model",
    "s": r"the noise scale of the linear-Gaussian model, $s > 0$",
    "m": r"the mean of $q(z) = \mathcal{N}(z; m, v)$ on the worked instance",
    "v": r"the variance of $q(z) = \mathcal{N}(z; m, v)$, $v > 0$",
    r"m_{\star}": r"the posterior mean of the linear-Gaussian model, $m_\star = w (x - b) / (w^2 + s^2)$",
    r"v_{\star}": r"the posterior variance of the linear-Gaussian model, $v_\star = s^2 / (w^2 + s^2)$",
    r"\mathcal{L}(m, v)": (r"the ELBO of $q = \mathcal{N}(m, v)$ on the linear-Gaussian model, in closed form "
                           r"(the instance's bound)"),
    r"G(t)": r"Gibbs' function $t - 1 - \log t \ge 0$, the gap of the tangent line of $\log$ at $t = 1$",
}


def _instance() -> list:
    """The same chain on the linear-Gaussian model: every expectation is a Gaussian moment."""
    zz = linear_gaussian.z
    Q = q_inst(zz)
    lik, prior, posterior = NormalPDF(linear_gaussian.x, linear_gaussian.w * zz + linear_gaussian.b, linear_gaussian.s**2), NormalPDF(zz, 0, 1), post_inst(zz, linear_gaussian.x)
    return [
        Step(sp.log(NormalPDF(linear_gaussian.x, linear_gaussian.b, linear_gaussian.w**2 + linear_gaussian.s**2)), r"The evidence of the model, "
             r"$p(x) = \mathcal{N}(x; b, w^2 + s^2)$ (the instance lemma on Bayes' rule).", tex=r"\log " + EVID_TEX),
        Step(Expect(sp.log(lik * prior / Q), zz, Q) + Expect(sp.log(Q / posterior), zz, Q),
             r"Bayes' rule under $\mathbb{E}_q$, $\log p(x) = \log p(x \mid z) p(z) - \log p(z \mid x)$ for "
             r"every $z$; add and subtract $\log q(z)$, $q(z) = \mathcal{N}(z; m, v)$; linearity.",
             tex=(r"\mathbb{E}_{q(z)}\left[\log \frac{" + LIK_TEX + r"\, " + PRIOR_TEX + r"}{q(z)}\right] + "
                  r"\mathrm{KL}\left(q(z) \,\|\, " + POST_TEX + r"\right)")),
        Step(ELBO_MV + KL_MV, r"Gaussian moments $\mathbb{E}_q z = m$, $\mathbb{E}_q z^2 = m^2 + v$: the ELBO "
             r"$\mathcal{L}(m, v)$ and the KL in closed form.", tex=r"\mathcal{L}(m, v) + " + KL_MV_TEX),
    ]


def _build(mistake):
    statement = {None: sp.Eq(LOG_PX, ELBO + KL_POST), "kl_sign": sp.Eq(LOG_PX, ELBO - KL_POST)}.get(mistake)
    steps = _general_steps(mistake)
    if statement is None:
        statement = sp.Eq(LOG_PX, steps[-1].expr)
    defs = {LOG_PX: sp.log(evid(x)), ELBO: Expect(sp.log(joint(x, z) / q(z)), z, q(z)),
            KL_POST: Expect(sp.log(q(z) / post(z, x)), z, q(z)), **MODEL_RULES}
    out = {"statement": statement, "definitions": defs, "steps": steps, "hypotheses": HYPOTHESES,
           "kind": "general", "scope": SCOPE, "model": MODEL,
           "statement_tex": r"\log p(x) = " + steps[-1].tex,
           "title": r"General proof: every model $p(x, z)$ and every density $q(z)$"}
    if mistake is not None:
        return out
    Q = q(z)
    wgt = joint(x, z) / Q
    mp, vp = linear_gaussian.posterior_mean_expr(), linear_gaussian.posterior_var_expr()
    out["definitions"].update({
        M_STAR: mp, V_STAR: vp, ELBO_MV: linear_gaussian.elbo_expr(), KL_MV: linear_gaussian.kl_posterior_expr(),
        q_inst(linear_gaussian.z): NormalPDF(linear_gaussian.z, linear_gaussian.m, linear_gaussian.v), post_inst(linear_gaussian.z, linear_gaussian.x): NormalPDF(linear_gaussian.z, M_STAR, V_STAR)})
    zz, m, v = linear_gaussian.z, linear_gaussian.m, linear_gaussian.v
    out["names"] = {r"\mathcal{L}(m, v)": ELBO_MV}
    out["symbols"] = SYMBOLS
    lik, prior = NormalPDF(linear_gaussian.x, linear_gaussian.w * zz + linear_gaussian.b, linear_gaussian.s**2), NormalPDF(zz, 0, 1)
    out["side"] = [
        Derivation("bound", [
            Step(sp.log(evid(x)), r"The log-evidence.", tex=r"\log p(x)"),
            Step(sp.log(Expect(wgt, z, Q)), r"Importance sampling: $p(x) = \int p(x, z)\,dz = "
                 r"\mathbb{E}_q[p(x, z) / q(z)]$ for $q(z) > 0$ where $p(x, z) > 0$.",
                 tex=r"\log \mathbb{E}_{q(z)}\left[\frac{p(x, z)}{q(z)}\right]"),
            Step(Expect(sp.log(wgt), z, Q), r"Jensen's inequality for the concave log, in its continuous form: "
                 r"the gap is $\mathbb{E}_q\, G\left(\frac{p(x, z)}{q(z)\, p(x)}\right) \ge 0$.", rel=">=",
                 witness=Expect(GibbsFunction(wgt / evid(x)), z, Q),
                 tex=r"\mathbb{E}_{q(z)}\left[\log \frac{p(x, z)}{q(z)}\right]"),
        ], title=r"The bound: $\log p(x) \ge \mathcal{L}(q)$, for every $q$", kind="general"),
        Derivation("kl_nonneg", [
            Step(Expect(sp.log(Q / post(z, x)), z, Q), r"The KL divergence from $q$ to the posterior.",
                 tex=r"\mathrm{KL}\left(q(z) \,\|\, p(z \mid x)\right)"),
            Step(sp.Integer(0), r"Gibbs' inequality: the KL is $\mathbb{E}_q\, G(p(z \mid x) / q(z)) \ge 0$ "
                 r"because $\int p(z \mid x)\, dz = 1$.", rel=">=", witness=Expect(GibbsFunction(post(z, x) / Q), z, Q),
                 tex="0"),
        ], title=r"$\mathrm{KL}(q \| p(z \mid x)) \ge 0$, zero iff $q = p(z \mid x)$", kind="general"),
        Derivation("bayes", [
            Step(sp.log(lik * prior), r"$\log p(x \mid z) + \log p(z)$ on the linear-Gaussian model.",
                 tex=r"\log " + LIK_TEX + r" + \log " + PRIOR_TEX),
            Step(sp.log(NormalPDF(linear_gaussian.x, linear_gaussian.b, linear_gaussian.w**2 + linear_gaussian.s**2)) + sp.log(NormalPDF(zz, M_STAR, V_STAR)),
                 r"Complete the square in $z$: $\log p(x) + \log p(z \mid x)$.",
                 tex=r"\log " + EVID_TEX + r" + \log " + POST_TEX),
        ], title=r"Instance lemma: Bayes' rule gives the evidence and the posterior", kind="instance"),
        Derivation("instance_bound", [
            Step(sp.log(NormalPDF(linear_gaussian.x, linear_gaussian.b, linear_gaussian.w**2 + linear_gaussian.s**2)), r"$\log p(x)$ on the instance.",
                 tex=r"\log " + EVID_TEX),
            Step(ELBO_MV, r"The gap is $\frac{1}{2} G(v / v_\star) + (m - m_\star)^2 / 2 v_\star \ge 0$: the "
                 r"ELBO $\mathcal{L}(m, v)$ in closed form.", rel=">=",
                 witness=GibbsFunction(v / V_STAR) / 2 + (m - M_STAR) ** 2 / (2 * V_STAR), tex=ELBO_MV_TEX),
        ], title=r"Instance: the bound, with the ELBO $\mathcal{L}(m, v)$ in closed form", kind="instance"),
        Derivation("instance", _instance(), title="Worked instance: the same chain on the linear-Gaussian model",
                   kind="instance", names={r"q(z)": q_inst(zz)}),
        Derivation("stationary_m", [
            Step(sp.Subs(sp.Derivative(ELBO_MV, m), (m, v), (M_STAR, V_STAR)),
                 r"$\partial \mathcal{L} / \partial m$ at $q = p(z \mid x)$.", tex=D_M_TEX),
            Step(sp.Integer(0), r"The ELBO is stationary where $\mathrm{KL}(q \| p(z \mid x)) = 0$.", tex="0"),
        ], title=r"Instance: $\mathcal{L}$ is stationary at $q = p(z \mid x)$", kind="instance",
            names={D_M_TEX: sp.Subs(sp.Derivative(ELBO_MV, m), (m, v), (M_STAR, V_STAR))}),
        Derivation("stationary_v", [
            Step(sp.Subs(sp.Derivative(ELBO_MV, v), (m, v), (M_STAR, V_STAR)),
                 r"$\partial \mathcal{L} / \partial v$ at $q = p(z \mid x)$.", tex=D_V_TEX),
            Step(sp.Integer(0), r"The ELBO is stationary where $\mathrm{KL}(q \| p(z \mid x)) = 0$.", tex="0"),
        ], title=r"Instance: $\mathcal{L}$ is stationary in $v$ too", kind="instance",
            names={D_V_TEX: sp.Subs(sp.Derivative(ELBO_MV, v), (m, v), (M_STAR, V_STAR))}),
    ]
    return out


def _normalization_claims(p: dict) -> list:
    """Every density of the linear-Gaussian model integrates to one (as implemented in NumPy)."""
    mp, vp = linear_gaussian.posterior(p["x"], p["w"], p["b"], p["s"])
    dens = {
        "prior N(0, 1)": lambda t: np.exp(linear_gaussian.log_normal_np(t, 0.0, 1.0)),
        "likelihood p(x | z = 0.7) over x": lambda t: np.exp(linear_gaussian.log_normal_np(t, p["w"] * 0.7 + p["b"], p["s"] ** 2)),
        "q = N(m, v)": lambda t: np.exp(linear_gaussian.log_normal_np(t, p["m"], p["v"])),
        "posterior N(m*, v*)": lambda t: np.exp(linear_gaussian.log_normal_np(t, mp, vp)),
    }
    return normalization_claims(dens)


def monte_carlo_terms(seed: int = 0, n: int = N_SAMPLES, params: dict | None = None) -> dict:
    r"""Monte Carlo estimates of the ELBO and of KL(q || p(z|x)) on the linear-Gaussian model.

    Both terms use the same draws of q (common random numbers), so their per-sample sum is exactly
    :math:`\log p(x)` for the true identity.

    Args:
        seed: NumPy seed.  n: number of draws of q.
        params: ``x, w, b, s, m, v`` (defaults :data:`derivations.models.linear_gaussian.DEFAULT`).
    Returns:
        dict with per-sample arrays ``elbo_samples``, ``kl_samples``, ``log_joint_samples`` (shape ``(n,)``),
        their means ``elbo``, ``kl`` and standard errors ``elbo_se``, ``kl_se`` (nats), the exact
        ``elbo_exact``, ``kl_exact``, ``log_px``, and ``kl_reversed_exact`` = KL(p(z|x) || q).
    """
    p = dict(linear_gaussian.DEFAULT, **(params or {}))
    rng = np.random.default_rng(seed)
    mp, vp = linear_gaussian.posterior(p["x"], p["w"], p["b"], p["s"])
    zz = p["m"] + np.sqrt(p["v"]) * rng.standard_normal(n)
    # $\log p(x, z) = \log \mathcal{N}(x; wz + b, s^2) + \log \mathcal{N}(z; 0, 1)$
    log_joint = linear_gaussian.log_normal_np(p["x"], p["w"] * zz + p["b"], p["s"] ** 2) + linear_gaussian.log_normal_np(zz, 0.0, 1.0)
    log_q = linear_gaussian.log_normal_np(zz, p["m"], p["v"])
    # $\log \frac{p(x, z)}{q(z)}$ and $\log \frac{q(z)}{p(z \mid x)}$
    elbo_s = log_joint - log_q
    kl_s = log_q - linear_gaussian.log_normal_np(zz, mp, vp)
    se = lambda a: float(a.std(ddof=1) / np.sqrt(n))  # noqa: E731
    return {
        "elbo_samples": elbo_s, "kl_samples": kl_s, "log_joint_samples": log_joint,
        "elbo": float(elbo_s.mean()), "elbo_se": se(elbo_s), "kl": float(kl_s.mean()), "kl_se": se(kl_s),
        "elbo_exact": float(linear_gaussian.elbo(p["m"], p["v"], p["x"], p["w"], p["b"], p["s"])),
        "kl_exact": float(linear_gaussian.kl_to_posterior(p["m"], p["v"], p["x"], p["w"], p["b"], p["s"])),
        # $\mathrm{KL}(\mathcal{N}(m_\star, v_\star) \| \mathcal{N}(m, v))$, the proved 1-D closed form
        "kl_reversed_exact": float(kl_normal_1d(mp, vp, p["m"], p["v"])),
        "log_px": float(linear_gaussian.log_evidence(p["x"], p["w"], p["b"], p["s"])),
    }


@lru_cache(maxsize=8)
def _terms(seed: int) -> dict:
    return monte_carlo_terms(seed)


@lru_cache(maxsize=1)
def _normalization() -> tuple:
    return tuple(_normalization_claims(dict(linear_gaussian.DEFAULT)))


def check_components(seed: int = 0, mistake=None) -> tuple[list, list]:
    """Components: MC ELBO and MC KL against their closed forms, the claimed log p(x) against the exact one."""
    t = _terms(seed)
    n = len(t["elbo_samples"])
    comps = [Component("MC ELBO", t["elbo"], t["elbo_se"], t["elbo_exact"]),
             Component("MC KL(q || p(z|x))", t["kl"], t["kl_se"], t["kl_exact"])]
    if mistake is None:
        claimed = t["elbo_samples"] + t["kl_samples"]  # per sample: exactly log p(x)
    elif mistake == "kl_sign":
        claimed = t["elbo_samples"] - t["kl_samples"]
    elif mistake == "no_entropy":
        claimed = t["log_joint_samples"] + t["kl_samples"]
    else:  # kl_reversed: the ELBO plus the closed-form KL(p(z|x) || q)
        claimed = t["elbo_samples"] + t["kl_reversed_exact"]
    comps.insert(0, Component("claimed log p(x)", claimed.mean(), claimed.std(ddof=1) / np.sqrt(n), t["log_px"]))
    return comps, list(_normalization())


def _check(seed, mistake):
    comps, extra = check_components(seed, mistake)
    return result_of(comps, extra)


IDENTITY = make_identity(NAME, TITLE, SOURCE, _build, _check, TWINS)

r"""KL divergence: non-negative (Gibbs), and in closed form between Gaussians, in any dimension :math:`D`.

.. math::
    \mathrm{KL}\big(\mathcal{N}(\mu, \Sigma) \,\|\, \mathcal{N}(0, I)\big)
      = \tfrac12\big(\operatorname{tr}\Sigma + \mu^\top \mu - D - \log\det\Sigma\big)
    \qquad (\Sigma = \operatorname{diag}(v_1, \dots, v_D),\ v_d > 0),

and :math:`\mathrm{KL}(q \| p) \ge 0` for every pair of densities, with equality iff :math:`q = p`.

Sources: S. J. D. Prince, *Understanding Deep Learning* (MIT Press, 2023), ch. 17, eq. (17.24) "Computing KL
divergence"; K. Gupta & T. Wang, *ELBO and KL-Divergence* (UCSD, 2018), the slide after eq. (9) ("KL ...
available in closed form (Gaussian)"); D. P. Kingma & M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014,
appendix B.

General proof (symbolic dimension :math:`D`, sums to :math:`D` over ``IndexedBase`` coordinates): both densities
factorize over coordinates, so the log-ratio is a sum over :math:`d`; linearity puts each term under its marginal
:math:`\mathcal{N}(z_d; \mu_d, v_d)`; Gaussian moments :math:`\mathbb{E} z_d = \mu_d`,
:math:`\mathbb{E} z_d^2 = \mu_d^2 + v_d` give :math:`\tfrac12(v_d + \mu_d^2 - 1 - \log v_d)`; summing,
:math:`\sum_{d=1}^{D} 1 = D`, :math:`\sum_d v_d = \operatorname{tr}\Sigma`, :math:`\sum_d \log v_d = \log\det\Sigma`.
Side derivations: Gibbs' inequality for every pair of densities (witness :math:`\mathbb{E}_q G(p/q)`), the 1-D KL
between two Gaussians, :math:`\mathrm{KL} \ge 0` for the closed form (witness :math:`\tfrac12 G(v) + \tfrac12 m^2`),
and the worked instance :math:`D = 3`.

Numeric check (a diagonal Gaussian in :math:`D = 4`): the closed form against a Monte Carlo estimate of
:math:`\mathbb{E}_q[\log q - \log p]`, against per-coordinate quadrature and against the helper
:func:`kl_diag_standard_normal`; a 5% error is rejected by each; every density integrates to one.  (The tests also
compare it with ``torch.distributions.kl_divergence``; torch is not imported here, to keep the report fast.)

Wrong twins (mistakes of the field): ``missing_D`` (the :math:`-D` forgotten), ``logdet_from_std``
(:math:`\log\det\Sigma` computed from standard deviations, :math:`\sum_d \log \sigma_d`), ``reversed``
(:math:`\mathrm{KL}(\mathcal{N}(0, I) \| \mathcal{N}(\mu, \Sigma))` used for the encoder's KL), ``bits`` (the KL in
bits, :math:`\log_2`, reported as nats).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from derivations.expectation import DiagNormalPDF, Expect, NormalPDF, density
from derivations.identity import make_identity
from derivations.models.gaussian import kl_diag_standard_normal  # the per-coordinate term of step 3, in NumPy
from derivations.numeric import Component, integrates_to_one, result_of
from derivations.steps import Derivation, Step
from derivations.witnesses import GibbsFunction

N_SAMPLES = 200_000
D_INSTANCE = 3

NAME = "gaussian_kl"
TITLE = (r"Gibbs' inequality $\mathrm{KL}(q \,\|\, p) \ge 0$, and "
         r"$\mathrm{KL}\left(\mathcal{N}(\mu, \Sigma) \,\|\, \mathcal{N}(0, I)\right)$ in closed form")
SOURCE = ("S. J. D. Prince, *Understanding Deep Learning* (MIT Press, 2023), ch. 17, eq. (17.24); K. Gupta & "
          "T. Wang, *ELBO and KL-Divergence* (UCSD, 2018), after eq. (9); D. P. Kingma & M. Welling, "
          "'Auto-Encoding Variational Bayes', ICLR 2014, appendix B")
TWINS = {
    "missing_D": (r"the $-D$ forgotten: $\mathrm{KL} = \frac{1}{2}\left(\operatorname{tr}\Sigma + \mu^\top \mu - "
                  r"\log\det\Sigma\right)$"),
    "logdet_from_std": (r"$\log\det\Sigma$ computed from the standard deviations: $\mathrm{KL} = \frac{1}{2}\left("
                        r"\operatorname{tr}\Sigma + \mu^\top \mu - D - \sum_{d=1}^{D} \log \sigma_d\right)$"),
    "reversed": (r"the KL in the wrong direction, $\mathrm{KL}\left(\mathcal{N}(0, I) \,\|\, \mathcal{N}(\mu, "
                 r"\Sigma)\right)$, used for the encoder's: $\frac{1}{2}\left(\sum_{d=1}^{D} \frac{1 + \mu_d^2}{v_d} "
                 r"- D + \log\det\Sigma\right)$"),
    "bits": (r"bits reported as nats: $\mathrm{KL} = \frac{1}{2 \log 2}\left(\operatorname{tr}\Sigma + \mu^\top \mu "
             r"- D - \log\det\Sigma\right)$"),
}

#: the starting expression of the statement, as written (a named quantity: its definition is the main chain's line 0)
KL_TEX = r"\mathrm{KL}\left(\mathcal{N}(\mu, \Sigma) \,\|\, \mathcal{N}(0, I)\right)"
#: the per-coordinate closed form each mistake claims, as written (``v_d`` the variance of coordinate d)
COORD_TEX = {
    None: r"\frac{1}{2}\left(v_d + \mu_d^2 - 1 - \log v_d\right)",
    "bits": r"\frac{1}{2}\left(v_d + \mu_d^2 - 1 - \log v_d\right)",
    "missing_D": r"\frac{1}{2}\left(v_d + \mu_d^2 - \log v_d\right)",
    "logdet_from_std": r"\frac{1}{2}\left(v_d + \mu_d^2 - 1 - \log \sqrt{v_d}\right)",
    "reversed": r"\frac{1}{2}\left(\frac{1 + \mu_d^2}{v_d} - 1 + \log v_d\right)",
}
_S = r"\sum_{d=1}^{D} "
#: the closed form summed coordinate by coordinate, as written
SUMS_TEX = {
    None: rf"\frac{{1}}{{2}}\left({_S}v_d + {_S}\mu_d^2 - D - {_S}\log v_d\right)",
    "bits": rf"\frac{{1}}{{2 \log 2}}\left({_S}v_d + {_S}\mu_d^2 - D - {_S}\log v_d\right)",
    "missing_D": rf"\frac{{1}}{{2}}\left({_S}v_d + {_S}\mu_d^2 - {_S}\log v_d\right)",
    "logdet_from_std": rf"\frac{{1}}{{2}}\left({_S}v_d + {_S}\mu_d^2 - D - {_S}\log \sqrt{{v_d}}\right)",
    "reversed": rf"\frac{{1}}{{2}}\left({_S}\frac{{1 + \mu_d^2}}{{v_d}} - D + {_S}\log v_d\right)",
}
#: the closed form in matrix notation, as written
CLOSED_TEX = {
    None: r"\frac{1}{2}\left(\operatorname{tr}\Sigma + \mu^\top \mu - D - \log\det\Sigma\right)",
    "bits": r"\frac{1}{2 \log 2}\left(\operatorname{tr}\Sigma + \mu^\top \mu - D - \log\det\Sigma\right)",
    "missing_D": r"\frac{1}{2}\left(\operatorname{tr}\Sigma + \mu^\top \mu - \log\det\Sigma\right)",
    "logdet_from_std": (r"\frac{1}{2}\left(\operatorname{tr}\Sigma + \mu^\top \mu - D - "
                        r"\sum_{d=1}^{D} \log \sigma_d\right)"),
    "reversed": rf"\frac{{1}}{{2}}\left({_S}\frac{{1 + \mu_d^2}}{{v_d}} - D + \log\det\Sigma\right)",
}

KL_STD = sp.Symbol(r"\mathrm{KL}(\mathcal{N}(\mu, \Sigma) \| \mathcal{N}(0, I))", real=True)
TR = sp.Symbol(r"\operatorname{tr} \Sigma", real=True)
MUMU = sp.Symbol(r"\mu^{\top} \mu", real=True)
DIM = sp.Symbol("D", positive=True, integer=True)
LOGDET = sp.Symbol(r"\log \det \Sigma", real=True)
LOG_SIGMA = sp.Symbol(r"\sum_{d} \log \sigma_d", real=True)
PREC_TERM = sp.Symbol(r"\sum_{d} \frac{1 + \mu_d^2}{v_d}", real=True)

d = sp.Symbol("d", integer=True, positive=True)
mu = sp.IndexedBase(r"\mu", real=True)
var = sp.IndexedBase("v", positive=True)
zv = sp.IndexedBase("z", real=True)

q_vec, p_vec = density("q_vec", symbol="q"), density("p_vec", symbol="p")  # named for display
q_d = density("q_coord", symbol="q_d")
q_k = [density(f"q_{i + 1}", symbol=f"q_{i + 1}") for i in range(D_INSTANCE)]

SCOPE = (r"in every dimension $D \ge 1$, for every mean $\mu \in \mathbb{R}^D$ and diagonal "
         r"$\Sigma = \operatorname{diag}(v_1, \dots, v_D)$ with $v_d > 0$; $\mathrm{KL} \ge 0$ for every pair "
         r"of densities")
MODEL = (r"Worked instance: $D = 3$, $\Sigma = \operatorname{diag}(v_1, v_2, v_3)$.  Numeric check: $D = 4$, "
         r"$\mu = (0.5, -1, 0.2, 1.5)$, $\log v = (-0.5, 0.3, -1.2, 0)$.")


#: the symbols this identity introduces beyond the notation page
SYMBOLS = {
    r"\Sigma": r"the covariance of $q$, diagonal: $\Sigma = \operatorname{diag}(v_1, \dots, v_D)$",
    r"v_d": r"the variance of coordinate $d$ of $q$, $v_d > 0$",
    r"\mu_d": r"coordinate $d$ of the mean $\mu \in \mathbb{R}^D$",
    r"z_d": r"coordinate $d$ of $z$",
    r"q(z)": r"here $q(z) = \mathcal{N}(z; \mu, \Sigma)$, the encoder's Gaussian",
    r"p(z)": r"here $p(z) = \mathcal{N}(z; 0, I)$, the standard normal prior ($I$ the $D \times D$ identity)",
    r"\sigma_d": r"the standard deviation of coordinate $d$, $\sigma_d = \sqrt{v_d}$",
    r"G(t)": r"Gibbs' function $G(t) = t - 1 - \log t \ge 0$, zero only at $t = 1$",
    r"m, v": r"the mean and the variance of a 1-D Gaussian $\mathcal{N}(m, v)$",
    r"m_1, v_1, m_2, v_2": r"the means and variances of two 1-D Gaussians",
}


_M1, _M2 = sp.symbols("m1 m2", real=True)
_V1, _V2 = sp.symbols("v1 v2", positive=True)
#: the proved closed form of the lemma 'kl_1d_general': KL(N(m1, v1) || N(m2, v2))
KL_1D_EXPR = (sp.log(_V2 / _V1) + (_V1 + (_M1 - _M2) ** 2) / _V2 - 1) / 2


def kl_normal_1d(m1, v1, m2, v2):
    r"""$\mathrm{KL}(\mathcal{N}(m_1, v_1) \| \mathcal{N}(m_2, v_2))$ in nats (``v`` are variances); broadcasts.

    The lambdified closed form proved by the side derivation ``kl_1d_general`` (Gaussian moments).
    Raises: nothing; non-positive variances give NaN.
    """
    fn = _lambdified_kl_1d()
    return fn(np.asarray(m1, float), np.asarray(v1, float), np.asarray(m2, float), np.asarray(v2, float))


@lru_cache(maxsize=1)
def _lambdified_kl_1d():
    return sp.lambdify((_M1, _V1, _M2, _V2), KL_1D_EXPR, "numpy")


def _half(*terms):
    """``(t_1 + t_2 + ...) / 2`` kept unevaluated, the terms in the order given (as a lecturer writes them)."""
    return sp.Mul(sp.Rational(1, 2), sp.Add(*terms, evaluate=False), evaluate=False)


def _sum(e):
    return sp.Sum(e, (d, 1, DIM))


def _coord_term(mistake, mm, vv):
    """The per-coordinate closed form each mistake claims (nats)."""
    return {
        None: _half(vv, mm**2, -1, -sp.log(vv)),
        "bits": _half(vv, mm**2, -1, -sp.log(vv)),
        "missing_D": _half(vv, mm**2, -sp.log(vv)),
        "logdet_from_std": _half(vv, mm**2, -1, -sp.log(sp.sqrt(vv))),
        "reversed": _half((1 + mm**2) / vv, -1, sp.log(vv)),
    }[mistake]


def _build(mistake):
    q, p = q_vec(zv), p_vec(zv)
    qd, pd = q_d(zv[d]), NormalPDF(zv[d], 0, 1)
    coord = _coord_term(mistake, mu[d], var[d])
    sums = {TR: _sum(var[d]), MUMU: _sum(mu[d] ** 2), LOGDET: _sum(sp.log(var[d])),
            LOG_SIGMA: _sum(sp.log(sp.sqrt(var[d]))), PREC_TERM: _sum((1 + mu[d] ** 2) / var[d])}
    closed, shown = {
        None: (_half(sums[TR], sums[MUMU], -DIM, -sums[LOGDET]), _half(TR, MUMU, -DIM, -LOGDET)),
        "missing_D": (_half(sums[TR], sums[MUMU], -sums[LOGDET]), _half(TR, MUMU, -LOGDET)),
        "logdet_from_std": (_half(sums[TR], sums[MUMU], -DIM, -sums[LOG_SIGMA]), _half(TR, MUMU, -DIM, -LOG_SIGMA)),
        "reversed": (_half(sums[PREC_TERM], -DIM, sums[LOGDET]), _half(PREC_TERM, -DIM, LOGDET)),
        "bits": (_half(sums[TR], sums[MUMU], -DIM, -sums[LOGDET]) / sp.log(2),
                 _half(TR, MUMU, -DIM, -LOGDET) / sp.log(2)),
    }[mistake]
    steps = [
        Step(Expect(sp.log(q / p), zv, q), r"The KL of $q = \mathcal{N}(\mu, \Sigma)$ from "
             r"$p = \mathcal{N}(0, I)$: $\mathbb{E}_q[\log q(z) - \log p(z)]$; write "
             r"$q_d(z_d) = \mathcal{N}(z_d; \mu_d, v_d)$ for the $d$-th marginal of $q$.",
             tex=r"\mathbb{E}_{q(z)}\left[\log \frac{q(z)}{p(z)}\right]"),
        Step(Expect(_sum(sp.log(qd) - sp.log(pd)), zv, q), r"Both densities factorize over the $D$ coordinates "
             r"($\Sigma$ diagonal), so the log-ratio is a sum over $d$.",
             tex=(r"\mathbb{E}_{q(z)}\left[\sum_{d=1}^{D} \left(\log \mathcal{N}(z_d; \mu_d, v_d) - "
                  r"\log \mathcal{N}(z_d; 0, 1)\right)\right]")),
        Step(_sum(Expect(sp.log(qd) - sp.log(pd), zv[d], qd)), r"Linearity: each term depends on $z_d$ only, "
             r"so its expectation is under the marginal $\mathcal{N}(z_d; \mu_d, v_d)$.",
             tex=(r"\sum_{d=1}^{D} \mathbb{E}_{\mathcal{N}(z_d; \mu_d, v_d)}\left[\log \mathcal{N}(z_d; \mu_d, v_d) "
                  r"- \log \mathcal{N}(z_d; 0, 1)\right]")),
        Step(_sum(coord), r"Gaussian moments $\mathbb{E} z_d = \mu_d$, $\mathbb{E} z_d^2 = \mu_d^2 + v_d$.",
             tex=_S + COORD_TEX[mistake]),
        Step(closed, r"Linearity of the sum, and $\sum_{d=1}^{D} 1 = D$.", tex=SUMS_TEX[mistake]),
        Step(closed, r"$\Sigma = \operatorname{diag}(v)$: $\operatorname{tr}\Sigma = \sum_d v_d$, "
             r"$\mu^\top\mu = \sum_d \mu_d^2$, $\log\det\Sigma = \sum_d \log v_d$.", display=shown,
             tex=CLOSED_TEX[mistake]),
    ]
    defs = {KL_STD: steps[0].expr, **sums, q: DiagNormalPDF(zv, mu, var, DIM, d), p: DiagNormalPDF(zv, 0, 1, DIM, d),
            qd: NormalPDF(zv[d], mu[d], var[d])}
    out = {"statement": sp.Eq(KL_STD, shown), "definitions": defs, "steps": steps, "kind": "general",
           "scope": SCOPE, "model": MODEL, "hypotheses": [r"\Sigma = \operatorname{diag}(v_1, \dots, v_D)",
                                                          r"v_d > 0", r"D \ge 1"],
           "title": r"General proof: every dimension $D$",
           "statement_tex": f"{KL_TEX} = {CLOSED_TEX[mistake]}",
           # matrix quantities the reader does not compute: each is defined (``defs``) as its sum over d
           "names": {KL_TEX: KL_STD, r"\operatorname{tr}\Sigma": TR, r"\mu^\top \mu": MUMU,
                     r"\log\det\Sigma": LOGDET, r"\sum_{d=1}^{D} \log \sigma_d": LOG_SIGMA},
           "main_names": {r"q(z)": q, r"p(z)": p},
           "symbols": SYMBOLS}
    if mistake is not None:
        return out
    # side derivations
    zs = sp.Symbol("z", real=True)
    qf, pf = density("q"), density("p")
    m1, m2, v1, v2 = _M1, _M2, _V1, _V2
    m, v = sp.Symbol("m", real=True), sp.Symbol("v", positive=True)
    mus = sp.symbols("mu1:4", real=True)
    vs = sp.symbols("v1:4", positive=True)
    z3 = sp.symbols("z1:4", real=True)
    Sig = sp.diag(*vs)
    mvec = sp.Matrix(mus)
    defs.update({q_k[k](z3[k]): NormalPDF(z3[k], mus[k], vs[k]) for k in range(D_INSTANCE)})
    out["side"] = [
        Derivation("gibbs", [
            Step(Expect(sp.log(qf(zs) / pf(zs)), zs, qf(zs)), r"$\mathrm{KL}(q \| p)$ for any densities $q, p$ "
                 r"of $z$ ($q > 0$).", tex=r"\mathrm{KL}\left(q(z) \,\|\, p(z)\right)"),
            Step(sp.Integer(0), r"Gibbs' inequality: $\mathrm{KL} = \mathbb{E}_q\, G(p / q) \ge 0$, because "
                 r"$\mathbb{E}_q[p / q] = \int p\, dz = 1$; zero iff $p = q$ ($G(t) = 0$ iff $t = 1$).", rel=">=",
                 witness=Expect(GibbsFunction(pf(zs) / qf(zs)), zs, qf(zs)), tex="0"),
        ], title=r"$\mathrm{KL}(q \,\|\, p) \ge 0$ for every pair of densities (Gibbs)", kind="general",
            names={r"p(z)": pf(zs)}),
        Derivation("kl_1d_general", [
            Step(Expect(sp.log(NormalPDF(zs, m1, v1) / NormalPDF(zs, m2, v2)), zs, NormalPDF(zs, m1, v1)),
                 r"$\mathrm{KL}(\mathcal{N}(m_1, v_1) \| \mathcal{N}(m_2, v_2))$.",
                 tex=r"\mathrm{KL}\left(\mathcal{N}(m_1, v_1) \,\|\, \mathcal{N}(m_2, v_2)\right)"),
            Step(KL_1D_EXPR, r"Gaussian moments.",
                 tex=r"\frac{1}{2}\left(\log \frac{v_2}{v_1} + \frac{v_1 + (m_1 - m_2)^2}{v_2} - 1\right)"),
        ], title="Two 1-D Gaussians", kind="lemma",
            names={r"m_1": m1, r"m_2": m2, r"v_1": v1, r"v_2": v2}),
        Derivation("kl_gauss_nonneg", [
            Step(_half(v, m**2, -1, -sp.log(v)), r"$\mathrm{KL}(\mathcal{N}(m, v) \| \mathcal{N}(0, 1))$.",
                 tex=r"\frac{1}{2}\left(v + m^2 - 1 - \log v\right)"),
            Step(sp.Integer(0), r"$= \tfrac12 G(v) + \tfrac12 m^2 \ge 0$, zero iff $m = 0$ and $v = 1$.", rel=">=",
                 witness=GibbsFunction(v) / 2 + m**2 / 2, tex="0"),
        ], title=r"The closed form is $\ge 0$", kind="lemma"),
        Derivation("instance_D3", [
            Step(sum(Expect(sp.log(q_k[k](z3[k]) / NormalPDF(z3[k], 0, 1)), z3[k], q_k[k](z3[k]))
                     for k in range(D_INSTANCE)),
                 r"The sum over $d$ of the coordinate KLs, $D = 3$, $q_d = \mathcal{N}(\mu_d, v_d)$.",
                 tex=" + ".join(rf"\mathrm{{KL}}\left(\mathcal{{N}}(\mu_{k}, v_{k}) \,\|\, \mathcal{{N}}(0, 1)\right)"
                                for k in range(1, D_INSTANCE + 1))),
            Step(sp.Add(*[_half(vs[k], mus[k] ** 2, -1, -sp.log(vs[k])) for k in range(D_INSTANCE)], evaluate=False),
                 r"Gaussian moments, coordinate by coordinate.",
                 tex=" + ".join(rf"\frac{{1}}{{2}}\left(v_{k} + \mu_{k}^2 - 1 - \log v_{k}\right)"
                                for k in range(1, D_INSTANCE + 1))),
            Step(_half(Sig.trace(), (mvec.T * mvec)[0, 0], -D_INSTANCE, -sp.log(Sig.det())),
                 r"$\operatorname{tr}\Sigma + \mu^\top\mu - 3 - \log\det\Sigma$.",
                 tex=(r"\frac{1}{2}\left(v_1 + v_2 + v_3 + \mu_1^2 + \mu_2^2 + \mu_3^2 - 3 - "
                      r"\log v_1 v_2 v_3\right)")),
        ], title=r"Worked instance: $D = 3$", kind="instance",
            names={**{rf"\mu_{k + 1}": mus[k] for k in range(D_INSTANCE)},
                   **{rf"v_{k + 1}": vs[k] for k in range(D_INSTANCE)}}),
    ]
    return out


#: the numeric check's encoder output, D = 4
MU = np.array([0.5, -1.0, 0.2, 1.5])
LOGVAR = np.array([-0.5, 0.3, -1.2, 0.0])


def claimed_kl(mu_, logvar_, mistake=None) -> float:
    """The closed form each mistake claims, evaluated by lambdifying its per-coordinate proved term (nats)."""
    mm, vv = sp.Symbol("m", real=True), sp.Symbol("v", positive=True)
    f = sp.lambdify((mm, vv), _coord_term(mistake, mm, vv), "numpy")
    total = float(np.sum(f(np.asarray(mu_), np.exp(np.asarray(logvar_)))))
    return total / np.log(2) if mistake == "bits" else total


@lru_cache(maxsize=8)
def _measurements(seed: int) -> dict:
    """MC estimate (mean, se), quadrature and helper values of the KL, and normalization claims."""
    from scipy.integrate import quad

    from derivations.rv import log_normal

    rng = np.random.default_rng(seed)
    sd = np.exp(0.5 * LOGVAR)
    # Monte Carlo: $\mathbb{E}_q[\log q(z) - \log p(z)]$, $z = \mu + \sigma \epsilon$
    from derivations.models.linear_gaussian import log_normal_np

    eps = rng.standard_normal((N_SAMPLES, len(MU)))
    zz = MU + sd * eps
    diff = (log_normal_np(zz, MU, sd**2) - log_normal_np(zz, 0.0, 1.0)).sum(-1)
    # per-coordinate quadrature of $q_d \log(q_d / p_d)$ (with the one SymPy log-density, lambdified)
    t, mm, vv = sp.symbols("t m v")
    logn = sp.lambdify((t, mm, vv), log_normal(t, mm, vv), "numpy")
    quad_total, extra = 0.0, []
    for k in range(len(MU)):
        qd = lambda u, k=k: np.exp(logn(u, MU[k], sd[k] ** 2))  # noqa: E731
        quad_total += quad(lambda u: qd(u) * (logn(u, MU[k], sd[k] ** 2) - logn(u, 0.0, 1.0)), -np.inf, np.inf,
                           epsabs=1e-12, epsrel=1e-12)[0]
        ok, mass = integrates_to_one(qd)
        extra.append((f"q_{k + 1} integrates to {mass:.9f}", ok))
    ok, mass = integrates_to_one(lambda u: np.exp(logn(u, 0.0, 1.0)))
    extra.append((f"p = N(0, 1) integrates to {mass:.9f}", ok))
    return {"mc": (float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(N_SAMPLES))), "quad": quad_total,
            "helper": float(kl_diag_standard_normal(MU, LOGVAR)),
            "extra": extra}


def check_components(seed: int = 0, mistake=None) -> tuple[list, list]:
    """Components: MC, quadrature and the helper against the claimed closed form; normalization of every density."""
    claimed = claimed_kl(MU, LOGVAR, mistake)
    ms = _measurements(seed)
    comps = [Component("MC KL vs claimed closed form", *ms["mc"], claimed),
             Component("quadrature KL vs claimed", ms["quad"], 0.0, claimed),
             Component("kl_diag_standard_normal helper vs claimed", ms["helper"], 0.0, claimed)]
    return comps, list(ms["extra"])


def _check(seed, mistake):
    comps, extra = check_components(seed, mistake)
    return result_of(comps, extra)


IDENTITY = make_identity(NAME, TITLE, SOURCE, _build, _check, TWINS)

r"""Jensen's inequality: for a concave :math:`\varphi`, :math:`\varphi(\mathbb{E}[y]) \ge \mathbb{E}[\varphi(y)]`.

.. math::
    \varphi\Big(\sum_{k=1}^{K} w_k y_k\Big) \;\ge\; \sum_{k=1}^{K} w_k\, \varphi(y_k)
    \qquad (\varphi \text{ concave},\ w_k \ge 0,\ \textstyle\sum_k w_k = 1,\ K \ge 1),

in particular :math:`\log \mathbb{E}[y] \ge \mathbb{E}[\log y]` for :math:`y > 0`, the step that turns the
log-evidence into the ELBO.

Sources: S. J. D. Prince, *Understanding Deep Learning*, MIT Press 2023, ch. 17, fig. 17.4 "Jensen's inequality
(discrete case)" and the bound :math:`\log \int \Pr(y) y\,dy \ge \int \Pr(y) \log y\,dy`; R. Isachenko, *Deep
Generative Models*, Lecture 5, slide "ELBO derivation 1 (inequality)"; J. L. W. V. Jensen, "Sur les fonctions
convexes et les inégalités entre les valeurs moyennes", Acta Math. 30 (1906).

General proof (tangent-line witness, every concave :math:`\varphi` and every :math:`K`): with
:math:`m = \sum_k w_k y_k`, the weighted average of the tangent line at :math:`m` is
:math:`\sum_k w_k[\varphi(m) + \varphi'(m)(y_k - m)] = \varphi(m)`, and concavity puts :math:`\varphi` below that
line: the gap is :math:`\sum_k w_k T_\varphi(y_k; m) \ge 0`.  Side derivations: the logarithm
(witness :math:`\sum_k w_k G(y_k/m)`, :math:`G(t) = t - 1 - \log t`), the continuous form
:math:`\varphi(\mathbb{E}_q y) \ge \mathbb{E}_q \varphi(y)` for every density :math:`q`, the equality case
(:math:`y` constant), the Gibbs lemma :math:`G \ge 0`, and the worked instance :math:`K = 3`, :math:`\varphi = \log`.

Numeric check (continuous distributions): for :math:`y \sim \mathrm{LogNormal}(\mu, \sigma^2)` the gap is
:math:`\sigma^2/2`; for :math:`y \sim \mathrm{Gamma}(k, \theta)` it is :math:`\log k - \psi(k)`.  The gap is
estimated without bias as the exact :math:`\log \mathbb{E} y` minus the Monte Carlo mean of :math:`\log y`
(``N_SAMPLES`` draws, fixed seed); it must match the closed form within 4 SE (a 5% error in either gap is
more than 7 SE) and be positive, and both densities must integrate to one.

Wrong twins (mistakes of the field): ``reversed`` (:math:`\log \mathbb{E} y \le \mathbb{E} \log y`, concavity
read backwards), ``convex_phi`` (the concave inequality applied to the convex :math:`\varphi(y) = y^2`),
``log_linear`` (:math:`\log \mathbb{E} y = \mathbb{E} \log y`: the log treated as linear, "the ELBO is the
log-evidence").

:func:`jensen_gap` is the helper for scenes (fig. 17.4: points on the log curve and their mean).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from derivations.expectation import Expect, density
from derivations.identity import make_identity
from derivations.numeric import Component, integrates_to_one, result_of
from derivations.steps import Derivation, Step
from derivations.witnesses import GibbsFunction, gibbs_lemma_steps, tangent_gap

N_SAMPLES = 200_000

NAME = "jensen"
TITLE = (r"Jensen's inequality: $\varphi(\mathbb{E}[y]) \ge \mathbb{E}[\varphi(y)]$ for a concave $\varphi$, "
         r"so $\log \mathbb{E}[y] \ge \mathbb{E}[\log y]$")
SOURCE = ("S. J. D. Prince, *Understanding Deep Learning* (MIT Press, 2023), ch. 17, fig. 17.4; "
          "R. Isachenko, *Deep Generative Models*, Lecture 5, slide 'ELBO derivation 1 (inequality)'; "
          "J. L. W. V. Jensen, Acta Mathematica 30 (1906)")
TWINS = {
    "reversed": (r"concavity read backwards: $\varphi(\mathbb{E}[y]) \le \mathbb{E}[\varphi(y)]$, so "
                 r"$\log \mathbb{E}[y] \le \mathbb{E}[\log y]$"),
    "convex_phi": (r"Jensen applied to a convex function: $(\mathbb{E}[y])^2 \ge \mathbb{E}[y^2]$ for "
                   r"$\varphi(y) = y^2$"),
    "log_linear": (r"$\varphi$ treated as linear: $\varphi(\mathbb{E}[y]) = \mathbb{E}[\varphi(y)]$; for the "
                   r"logarithm, 'the ELBO equals the log-evidence'"),
}

# Symbols of the general statement
k = sp.Symbol("k", integer=True, positive=True)
K = sp.Symbol("K", integer=True, positive=True)
w = sp.IndexedBase("w", nonnegative=True)
y = sp.IndexedBase("y", real=True)
y_pos = sp.IndexedBase("y", positive=True)  # the log's domain
w_pos = sp.IndexedBase("w", positive=True)
phi = sp.Function("varphi", real=True)
dphi = sp.Function("dvarphi", real=True)
dphi._latex = lambda self, printer: r"\varphi'\left(%s\right)" % printer._print(self.args[0])
M = sp.Symbol("m", real=True)
M_POS = sp.Symbol("m", positive=True)
T = tangent_gap(phi, dphi, concave=True)  # the hypothesis: varphi concave, dvarphi a supergradient
A3 = sp.symbols("a1:4", positive=True)  # worked instance: weights w_k = a_k / (a_1 + a_2 + a_3)
W3 = sp.symbols("w1:4", positive=True)


def _sum(e, upper=K):
    return sp.Sum(e, (k, 1, upper))


def jensen_gap(y, weights=None) -> dict:
    r"""Both sides of Jensen's inequality for the log, at points ``y > 0`` with optional weights (default: equal).

    The gap is the proved expression :math:`\log \sum_k w_k y_k - \sum_k w_k \log y_k \ge 0` (nats).

    Args:
        y: array of shape ``(K,)``, positive.  weights: ``(K,)`` non-negative, normalized internally.
    Returns:
        dict ``mean_y`` (E y), ``log_mean`` (log E y), ``mean_log`` (E log y), ``gap`` (>= 0, nats).
    Raises:
        ValueError: if some ``y <= 0`` or the weights do not have a positive sum.
    """
    y = np.asarray(y, dtype=float)
    if np.any(y <= 0):
        raise ValueError("Jensen's inequality for log needs y > 0")
    wts = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
    if wts.sum() <= 0 or np.any(wts < 0):
        raise ValueError("weights must be non-negative with a positive sum")
    wts = wts / wts.sum()
    # $\mathbb{E}[y] = \sum_k w_k y_k$
    mean_y = float(wts @ y)
    # $\mathbb{E}[\log y] = \sum_k w_k \log y_k$
    mean_log = float(wts @ np.log(y))
    return {"mean_y": mean_y, "log_mean": float(np.log(mean_y)), "mean_log": mean_log,
            "gap": float(np.log(mean_y) - mean_log)}


#: the lines, as written: the weighted mean of the points, phi of it, the weighted mean of phi
MEAN_TEX = r"\sum_{k=1}^{K} w_k y_k"
PHI_MEAN_TEX = r"\varphi\left(" + MEAN_TEX + r"\right)"
MEAN_PHI_TEX = r"\sum_{k=1}^{K} w_k \varphi(y_k)"
#: the symbols this identity introduces (the notation page defines the rest)
SYMBOLS = {
    r"\varphi": r"a concave function, $\varphi'$ its derivative (a supergradient where it has a kink)",
    "K": r"the number of points, $K \ge 1$",
    r"y_k": r"the points, $k = 1, \dots, K$, in the domain of $\varphi$",
    r"w_k": r"the weights, $w_k \ge 0$ with $\sum_k w_k = 1$",
    "m": r"the weighted mean of the points, $m = \sum_k w_k y_k$",
    r"T_\varphi(y; m)": (r"the gap of the tangent line of $\varphi$ at $m$, "
                         r"$\varphi(m) + \varphi'(m)(y - m) - \varphi(y) \ge 0$ for a concave $\varphi$"),
    r"G(t)": r"Gibbs' function $t - 1 - \log t \ge 0$, the tangent-line gap of $\log$ at $t = 1$",
    r"y(z)": r"in the continuous form: a real function of $z \sim q$, any density $q(z)$",
    r"\bar{m}": r"the mean $\mathbb{E}_q[y]$ of the continuous form",
    "c": r"the common value of the points in the equality case",
    r"a_k": r"positive numbers that give the weights of the worked instance, $w_k = a_k / (a_1 + a_2 + a_3)$",
}


def _instance_k3() -> Derivation:
    """The log case on K = 3 points, every weight a closed form: the old worked example."""
    yy = sp.symbols("y1:4", positive=True)
    wts = [W3[i] for i in range(3)]
    mean = sum(wk * yk for wk, yk in zip(wts, yy))
    wdef = {W3[i]: A3[i] / sum(A3) for i in range(3)}
    names = {**{f"w_{i + 1}": W3[i] for i in range(3)}, **{f"y_{i + 1}": yy[i] for i in range(3)}}
    return Derivation("instance_K3_log", [
        Step(sp.log(mean.xreplace(wdef)), r"The log of the mean of $K = 3$ points $y_k > 0$ with weights "
             r"$w_k = a_k / (a_1 + a_2 + a_3)$.", display=sp.log(mean),
             tex=r"\log\left(w_1 y_1 + w_2 y_2 + w_3 y_3\right)"),
        Step(sum(wk * sp.log(yk) for wk, yk in zip(wts, yy)).xreplace(wdef),
             r"The same tangent-line argument: the gap is $\sum_k w_k\, G(y_k / m) \ge 0$.", rel=">=",
             witness=sum(wk * GibbsFunction(yk / mean) for wk, yk in zip(wts, yy)).xreplace(wdef),
             display=sum(wk * sp.log(yk) for wk, yk in zip(wts, yy)),
             tex=r"w_1 \log y_1 + w_2 \log y_2 + w_3 \log y_3"),
    ], title=r"Worked instance: $K = 3$ points, $\varphi = \log$", kind="instance", names=names)


def _build(mistake):
    m_def = _sum(w[k] * y[k])
    hyps = [r"\varphi \text{ concave}", r"w_k \ge 0", sp.Eq(_sum(w[k]), 1), r"K \ge 1"]
    defs = {M: m_def}
    if mistake == "convex_phi":
        sq = sp.Lambda(sp.Symbol("t"), sp.Symbol("t") ** 2)
        dsq = sp.Lambda(sp.Symbol("t"), 2 * sp.Symbol("t"))
        Tsq = tangent_gap(sq, dsq, name="T_sq")
        steps = [
            Step(m_def ** 2, r"Square of the mean, $\varphi(y) = y^2$.", tex=r"\left(" + MEAN_TEX + r"\right)^2"),
            Step(_sum(w[k] * (M**2 + 2 * M * (y[k] - M))), r"The tangent line of $y^2$ at $m$, averaged.",
                 tex=r"\sum_{k=1}^{K} w_k \left(m^2 + 2m(y_k - m)\right)"),
            Step(_sum(w[k] * y[k] ** 2), r"'Concavity' of $y^2$ (it is convex).", rel=">=",
                 witness=_sum(w[k] * Tsq(y[k], M)), tex=r"\sum_{k=1}^{K} w_k y_k^2"),
        ]
        statement = sp.GreaterThan(m_def ** 2, _sum(w[k] * y[k] ** 2))
        return {"statement": statement, "steps": steps, "definitions": defs, "hypotheses": hyps, "kind": "general",
                "statement_tex": steps[0].tex + r" \ge " + steps[-1].tex, "symbols": SYMBOLS}
    tangent_avg = _sum(w[k] * (phi(M) + dphi(M) * (y[k] - M)))
    rhs = _sum(w[k] * phi(y[k]))
    names = {r"\varphi'(m)": dphi(M)}
    if mistake == "log_linear":
        steps = [Step(phi(m_def), r"$\varphi$ of the mean.", tex=PHI_MEAN_TEX),
                 Step(rhs, r"'$\varphi$ is linear': the mean of $\varphi$.", tex=MEAN_PHI_TEX)]
        return {"statement": sp.Eq(phi(m_def), rhs), "steps": steps, "definitions": defs, "hypotheses": hyps,
                "kind": "general", "statement_tex": PHI_MEAN_TEX + " = " + MEAN_PHI_TEX, "symbols": SYMBOLS}
    rel = "<=" if mistake == "reversed" else ">="
    steps = [
        Step(phi(m_def), r"Write $m = \sum_k w_k y_k$ for the mean of the points.", tex=PHI_MEAN_TEX),
        Step(tangent_avg, r"The tangent line of $\varphi$ at $m$, averaged with the weights: since "
             r"$\sum_k w_k = 1$ and $\sum_k w_k y_k = m$ it equals $\varphi(m)$.",
             tex=r"\sum_{k=1}^{K} w_k \left(\varphi(m) + \varphi'(m)(y_k - m)\right)"),
        Step(rhs, r"Concavity: $\varphi$ lies below each tangent line, $\varphi(y) \le \varphi(m) + "
             r"\varphi'(m)(y - m)$; the gaps $T_\varphi(y_k; m) \ge 0$ are weighted by $w_k \ge 0$ "
             r"(Boyd & Vandenberghe, *Convex Optimization*, 2004, eq. 3.2).",
             rel=rel, witness=_sum(w[k] * T(y[k], M)), tex=MEAN_PHI_TEX),
    ]
    statement = (sp.LessThan if mistake == "reversed" else sp.GreaterThan)(phi(m_def), rhs)
    out = {
        "statement": statement, "steps": steps, "definitions": defs, "hypotheses": hyps, "kind": "general",
        "statement_tex": PHI_MEAN_TEX + (r" \le " if mistake == "reversed" else r" \ge ") + MEAN_PHI_TEX,
        "names": names, "symbols": SYMBOLS,
        "title": r"General proof: every concave $\varphi$, every $K \ge 1$ (tangent-line witness)",
        "scope": (r"for every concave $\varphi$, every $K \ge 1$, all points $y_1, \dots, y_K$ in its domain "
                  r"and all weights $w_k \ge 0$ with $\sum_k w_k = 1$; the continuous form for every density $q$"),
        "model": (r"Worked instance: $K = 3$ points $y_1, y_2, y_3 > 0$, weights $w_k = a_k / (a_1 + a_2 + a_3)$ "
                  r"with $a_k > 0$, and $\varphi = \log$.  Numeric check: $y \sim \mathrm{LogNormal}(0.3, 0.8^2)$ "
                  r"and $y \sim \mathrm{Gamma}(k = 2, \theta = 1.5)$."),
    }
    if mistake is not None:
        return out
    mp_def = _sum(w_pos[k] * y_pos[k])
    z = sp.Symbol("z", real=True)
    q = density("q")
    yz = sp.Function("y", real=True)(z)
    yz_pos = sp.Function("y", positive=True)(z)
    m_c = sp.Symbol(r"\bar{m}", real=True)
    c = sp.Symbol("c", real=True)
    out["definitions"] = {**defs, M_POS: mp_def, m_c: Expect(yz, z, q(z)), **{W3[i]: A3[i] / sum(A3) for i in range(3)}}
    out["hypotheses"] = hyps + [sp.Eq(_sum(w_pos[k]), 1)]
    out["side"] = [
        Derivation("log", [
            Step(sp.log(mp_def), r"$\varphi = \log$ on points $y_k > 0$; $m = \sum_k w_k y_k$.",
                 tex=r"\log " + MEAN_TEX),
            Step(_sum(w_pos[k] * sp.log(y_pos[k])),
                 r"The tangent line of the log, $\log y \le \log m + (y - m)/m$: the gap is "
                 r"$\sum_k w_k\, G(y_k / m) \ge 0$ with $G(t) = t - 1 - \log t$.",
                 rel=">=", witness=_sum(w_pos[k] * GibbsFunction(y_pos[k] / M_POS)), tex=r"\sum_{k=1}^{K} w_k \log y_k"),
        ], title=r"The logarithm: $\log \mathbb{E}[y] \ge \mathbb{E}[\log y]$ for $y > 0$, every $K$", kind="general"),
        Derivation("continuous", [
            Step(phi(Expect(yz, z, q(z))), r"The continuous form: $y(z)$ with $z \sim q$, any density $q$; "
                 r"write $\bar m = \mathbb{E}_q[y]$.", tex=r"\varphi\left(\mathbb{E}_{q(z)}\left[y(z)\right]\right)"),
            Step(Expect(phi(m_c) + dphi(m_c) * (yz - m_c), z, q(z)),
                 r"The tangent line at $\bar m$ in expectation: $\mathbb{E}_q[1] = 1$ and "
                 r"$\mathbb{E}_q[y] = \bar m$ (linearity).",
                 tex=r"\mathbb{E}_{q(z)}\left[\varphi(\bar{m}) + \varphi'(\bar{m})\left(y(z) - \bar{m}\right)\right]"),
            Step(Expect(phi(yz), z, q(z)), r"Concavity pointwise, then monotonicity of $\mathbb{E}_q$: "
                 r"$\mathbb{E}_q[T_\varphi(y; \bar m)] \ge 0$.", rel=">=", witness=Expect(T(yz, m_c), z, q(z)),
                 tex=r"\mathbb{E}_{q(z)}\left[\varphi(y(z))\right]"),
        ], title=r"Continuous form: $\varphi(\mathbb{E}_q[y]) \ge \mathbb{E}_q[\varphi(y)]$ for every density $q$",
            kind="general", names={r"\varphi'(\bar{m})": dphi(m_c), r"\bar{m}": m_c, r"y(z)": yz}),
        Derivation("equality_constant", [
            Step(phi(_sum(w[k] * c)), r"Equality case: every $y_k = c$.",
                 tex=r"\varphi\left(\sum_{k=1}^{K} w_k c\right)"),
            Step(_sum(w[k] * phi(c)), r"$\sum_k w_k c = c$ and $\sum_k w_k \varphi(c) = \varphi(c)$: equality.",
                 tex=r"\sum_{k=1}^{K} w_k \varphi(c)")
        ], title=r"Equality when $y$ is constant", kind="general"),
        Derivation("gibbs_lemma", gibbs_lemma_steps(), title=r"Lemma: $G(t) = t - 1 - \log t \ge 0$", kind="lemma"),
        _instance_k3(),
    ]
    return out


@lru_cache(maxsize=8)
def _cases(seed: int) -> list:
    """(label, pdf for quadrature, support, samples of y, exact log E y, exact E y^2, exact gap log E y - E log y)."""
    from scipy import stats
    from scipy.special import digamma

    rng = np.random.default_rng(seed)
    mu, sig = 0.3, 0.8
    kk, theta = 2.0, 1.5
    ln = stats.lognorm(s=sig, scale=np.exp(mu))
    ga = stats.gamma(a=kk, scale=theta)
    return [
        # $\log \mathbb{E} y = \mu + \sigma^2/2$, gap $= \sigma^2/2$
        ("LogNormal(0.3, 0.8^2)", ln.pdf, rng.lognormal(mu, sig, N_SAMPLES), mu + sig**2 / 2,
         float(ln.moment(2)), sig**2 / 2),
        # $\log \mathbb{E} y = \log k\theta$, gap $= \log k - \psi(k)$
        ("Gamma(2, 1.5)", ga.pdf, rng.gamma(kk, theta, N_SAMPLES), np.log(kk * theta),
         float(ga.moment(2)), float(np.log(kk) - digamma(kk))),
    ]


_MASSES: dict = {}


def _mass(label, pdf):
    if label not in _MASSES:
        _MASSES[label] = integrates_to_one(pdf, 0.0, np.inf)
    return _MASSES[label]


def check_components(seed: int = 0, mistake=None) -> tuple[list, list]:
    """The numeric components (one gap per distribution) and extra claims (sign, normalization)."""
    comps, extra = [], []
    for label, pdf, ys, log_mean, m2, gap in _cases(seed):
        ok_norm, mass = _mass(label, pdf)
        extra.append((f"{label} density integrates to {mass:.9f}", ok_norm))
        if mistake == "convex_phi":
            # claimed: $(\mathbb{E} y)^2 - \mathbb{E}[y^2] \ge 0$; exact value $-\mathrm{Var}\,y$
            vals = ys**2
            est = np.exp(2 * log_mean) - vals.mean()
            exact = np.exp(2 * log_mean) - m2
        else:
            # $\widehat{\text{gap}} = \log \mathbb{E}[y] - \overline{\log y}$ (unbiased)
            vals = np.log(ys)
            est = log_mean - vals.mean()
            exact = gap
        sign = -1.0 if mistake == "reversed" else 1.0  # the twin claims E log y - log E y >= 0
        se = vals.std(ddof=1) / np.sqrt(len(vals))
        comp = Component(f"{label} claimed gap", sign * est, se, sign * exact)
        comps.append(comp)
        if mistake == "log_linear":
            comps.append(Component(f"{label} claimed gap = 0", est, se, 0.0))
        else:
            extra.append((f"{label}: claimed gap >= 0", comp.estimate >= -comp.tol))
    return comps, extra


def _check(seed, mistake):
    comps, extra = check_components(seed, mistake)
    return result_of(comps, extra)


IDENTITY = make_identity(NAME, TITLE, SOURCE, _build, _check, TWINS)

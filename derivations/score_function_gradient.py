r"""The score-function (REINFORCE / log-derivative) gradient estimator.

.. math::
    \nabla_\theta \mathbb{E}_{q(z \mid \theta)} f(z) = \mathbb{E}_{q(z \mid \theta)}\big[f(z)\, \nabla_\theta \log q(z \mid \theta)\big].

Sources: Gupta & Wang, *ELBO and KL-divergence* (UCSD, 2018), eqs. (10)-(15); Isachenko, *Deep Generative
Models*, Lecture 5, 'ELBO gradients (E-step)'.

General proof (main chain): for every density family :math:`q(z \mid \theta)` differentiable in
:math:`\theta` and every :math:`f` not depending on :math:`\theta` (undefined SymPy functions), under the
hypothesis that differentiation and integration commute (dominated convergence): Leibniz, then
:math:`\nabla_\theta q = q\, \nabla_\theta \log q` (the log-derivative trick), read as an expectation.
Worked instances (``mu``, ``sigma``): :math:`q = \mathcal{N}(\mu, \sigma^2)` and the cubic
:math:`f(z) = c_1 z + c_2 z^2 + c_3 z^3`, evaluated exactly with SymPy's Gaussian moments.

Numeric check: the per-draw estimates :math:`(f(z) - b)\nabla_{(\mu,\sigma)} \log q(z)` of
:func:`derivations.models.gradient_estimators.score_function_terms` (eq. 15), ``N_PAIRS`` antithetic pairs
:math:`(\epsilon, -\epsilon)` and a constant baseline :math:`b` (the mean of :math:`f` on an independent pilot
sample; unbiased because :math:`\mathbb{E}_q \nabla \log q = 0`).  Sized so that a 5% error in either
component is more than 8 standard errors away (measured: 14.6 SE for d/dmu and 8.9 SE for d/dsigma at
seed 0), so with the 4-SE tolerance it is rejected; ``tests/derivations`` perturb each component by 5%.
The exact gradient :func:`derivations.models.gradient_estimators.exact_gradient` is itself checked against
the instance's proved closed form (``tests/derivations``).

Wrong twins (real mistakes): ``score_sign`` (:math:`\nabla_\mu \log q = (\mu - z)/\sigma^2`), ``no_log``
(:math:`\mathbb{E}_q[f\,\nabla_\theta q]`: the score without the log), ``dlog_dvariance`` (the σ-score taken
as :math:`\partial \log q / \partial \sigma^2`, the variance, while the gradient is reported per σ).
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from derivations.expectation import Expect, density
from derivations.models import gradient_estimators as gradients
from derivations.steps import LEIBNIZ
from derivations.operator_rules import make_rule_identity
from derivations.steps import Derivation, NumericResult, Step

N_PAIRS = 400_000
N_PILOT = 2_000

NAME = "score_function_gradient"
TITLE = (r"The score-function gradient: $\nabla_\theta \mathbb{E}_{q(z \mid \theta)}\left[f(z)\right] = "
         r"\mathbb{E}_{q(z \mid \theta)}\left[f(z)\, \nabla_\theta \log q(z \mid \theta)\right]$")
SOURCE = ("Gupta & Wang, 'ELBO and KL-divergence' (UCSD, 2018), eqs. (10)-(15); Isachenko, Deep Generative Models, "
          "Lecture 5, 'ELBO gradients (E-step)'")
TWINS = {
    "score_sign": (r"a sign error in the score: $\nabla_\mu \log \mathcal{N}(z; \mu, \sigma^2) = "
                   r"\frac{\mu - z}{\sigma^2}$"),
    "no_log": (r"the score function without the log: $\nabla_\theta \mathbb{E}_{q(z \mid \theta)}\left[f(z)\right] = "
               r"\mathbb{E}_{q(z \mid \theta)}\left[f(z)\, \nabla_\theta q(z \mid \theta)\right]$"),
    "dlog_dvariance": (r"variance and standard deviation mixed up: the score in $\sigma$ taken as "
                       r"$\frac{\partial \log q}{\partial \sigma^2}$"),
}
#: the symbols this identity introduces beyond the notation page
SYMBOLS = {
    r"\theta": r"the parameter of a generic density family $q(z \mid \theta)$ (the encoder's $\phi$ in a VAE)",
    r"f(z)": r"any function of $z$ that does not depend on $\theta$",
    r"\mu, \sigma": r"the mean and the standard deviation of $q(z) = \mathcal{N}(z; \mu, \sigma^2)$ on the worked "
                    r"instances, $\sigma > 0$",
    r"c_1, c_2, c_3": r"the real coefficients of the instances' cubic $f(z) = c_1 z + c_2 z^2 + c_3 z^3$",
}
_STATEMENT_TEX = (r"\nabla_\theta \mathbb{E}_{q(z \mid \theta)}\left[f(z)\right] = "
                  r"\mathbb{E}_{q(z \mid \theta)}\left[f(z)\, \nabla_\theta \log q(z \mid \theta)\right]")
_N = r"\mathcal{N}(z; \mu, \sigma^2)"
SCOPE = (r"for every density family $q(z \mid \theta)$ differentiable in $\theta$ and every $f$ that does not depend on "
         r"$\theta$, when differentiation under the integral sign is allowed (dominated convergence); the "
         r"instances below check the same chain for $q = \mathcal{N}(\mu, \sigma^2)$ and a cubic $f$")
MODEL = (r"Worked instances: $q(z) = \mathcal{N}(z; \mu, \sigma^2)$ with $\sigma > 0$, and "
         r"$f(z) = c_1 z + c_2 z^2 + c_3 z^3$ with real coefficients; $\theta = \mu$, then $\theta = \sigma$.")

# general symbols
theta = sp.Symbol("theta", real=True)
z = sp.Symbol("z", real=True)
q = density("q", 1)
f = sp.Function("f", real=True)
# instance symbols
mu = sp.Symbol("mu", real=True)
sigma = sp.Symbol("sigma", positive=True)
c = sp.symbols("c1:4", real=True)

GRAD_LHS = sp.Symbol(r"\nabla_{\theta} \mathbb{E}_{q(z \mid \theta)} f(z)", real=True)
GRAD_RHS = sp.Symbol(r"\mathbb{E}_{q(z \mid \theta)}[f(z) \nabla_{\theta} \log q(z \mid \theta)]", real=True)


def f_expr(zz=z):
    r"""$f(z) = c_1 z + c_2 z^2 + c_3 z^3$ (the instances' test function)."""
    return c[0] * zz + c[1] * zz**2 + c[2] * zz**3


def _general(mistake):
    qz = q(z, theta)
    score = sp.Derivative(sp.log(qz), theta)
    if mistake == "score_sign":
        score = -score
    sign = "-" if mistake == "score_sign" else ""
    steps = [
        Step(sp.Derivative(Expect(f(z), z, qz), theta), r"The gradient of an expectation whose density depends on "
                                                        r"$\theta$ (Gupta & Wang 2018, eq. 10).",
             tex=r"\nabla_\theta \mathbb{E}_{q(z \mid \theta)}\left[f(z)\right]"),
        Step(sp.Integral(sp.Derivative(qz, theta) * f(z), (z, -sp.oo, sp.oo)),
             r"Differentiate under the integral sign; $f$ does not depend on $\theta$ (Gupta & Wang 2018, eq. 10).",
             tex=r"\int f(z)\, \nabla_\theta q(z \mid \theta) \, dz"),
        Step(sp.Integral(qz * score * f(z), (z, -sp.oo, sp.oo)),
             r"The log-derivative trick $\nabla_\theta q = q\, \nabla_\theta \log q$ (Gupta & Wang 2018, eqs. 11-12).",
             tex=sign + r"\int f(z)\, q(z \mid \theta)\, \nabla_\theta \log q(z \mid \theta) \, dz"),
        Step(Expect(f(z) * score, z, qz), r"An integral against $q$ is an expectation under $q$ (Gupta & Wang 2018, "
                                          r"eq. 13): it can be estimated from samples of $q$ alone (eq. 15 there).",
             tex=(r"\mathbb{E}_{q(z \mid \theta)}\left[" + sign + r"f(z)\, \nabla_\theta \log q(z \mid \theta)"
                  r"\right]")),
    ]
    if mistake == "no_log":
        steps[2:] = [Step(Expect(f(z) * sp.Derivative(qz, theta), z, qz),
                          r"Read $\int \nabla_\theta q\, f\, dz$ as $\mathbb{E}_q[f \nabla_\theta q]$.",
                          tex=r"\mathbb{E}_{q(z \mid \theta)}\left[f(z)\, \nabla_\theta q(z \mid \theta)\right]")]
    return steps


def _instance(phi, mistake):
    """The chain on q = N(mu, sigma^2) and the cubic f, collapsed to three lines: the gradient, the
    score-function integral, the closed form (Gaussian moments up to order 4)."""
    inf = (z, -sp.oo, sp.oo)
    # $\log q(z) = \log \mathcal{N}(z; \mu, \sigma^2)$
    logq = -sp.log(2 * sp.pi * sigma**2) / 2 - (z - mu) ** 2 / (2 * sigma**2)
    qd = sp.exp(logq)
    score = sp.Derivative(logq, phi)
    score_tex = r"\frac{z - \mu}{\sigma^2}" if phi == mu else \
        r"\left(\frac{(z - \mu)^2}{\sigma^3} - \frac{1}{\sigma}\right)"
    if mistake == "score_sign" and phi == mu:
        score = -score
        score_tex = r"\frac{\mu - z}{\sigma^2}"
    if mistake == "dlog_dvariance" and phi == sigma:
        v = sp.Symbol("v", positive=True)  # differentiate in the variance v = sigma^2
        score = sp.diff(logq.subs(sigma, sp.sqrt(v)), v).subs(v, sigma**2)
        score_tex = r"\left(\frac{(z - \mu)^2}{2\sigma^4} - \frac{1}{2\sigma^2}\right)"
    exact = sp.diff(c[0] * mu + c[1] * (mu**2 + sigma**2) + c[2] * (mu**3 + 3 * mu * sigma**2), phi)
    name = sp.latex(phi)
    exact_tex = r"c_1 + 2 c_2 \mu + 3 c_3 \left(\mu^2 + \sigma^2\right)" if phi == mu else \
        r"2 c_2 \sigma + 6 c_3 \mu \sigma"
    return Derivation(f"instance_{phi}", [
        Step(sp.Derivative(sp.Integral(qd * f_expr(), inf), phi), rf"The gradient in ${name}$ of $\mathbb{{E}}_q f$.",
             tex=rf"\frac{{\partial}}{{\partial {name}}} \int {_N}\, f(z) \, dz"),
        Step(sp.Integral(qd * score.doit() * f_expr(), inf),
             rf"Differentiate under the integral sign and use $\nabla q = q\, \nabla \log q$: the integrand is "
             rf"$q$ times the score $\partial \log q / \partial {name}$ times $f$, that is "
             rf"$\mathbb{{E}}_q[f\, \partial \log q / \partial {name}]$.",
             tex=rf"\int {_N} {score_tex} f(z) \, dz"),
        Step(exact, r"Gaussian moments up to order 4 (SymPy): the exact gradient, "
                    rf"$\partial_{{{name}}}(c_1 \mu + c_2(\mu^2 + \sigma^2) + c_3(\mu^3 + 3\mu\sigma^2))$.",
             tex=exact_tex),
    ], rf"Worked instance: $q = \mathcal{{N}}(\mu, \sigma^2)$, cubic $f$, $\theta = {name}$", "instance",
        names={_N: qd, "f(z)": f_expr(), "c_1": c[0], "c_2": c[1], "c_3": c[2]})


def _build(mistake):
    steps = _general(mistake)
    return {"statement": sp.Eq(GRAD_LHS, GRAD_RHS),
            "definitions": {GRAD_LHS: steps[0].expr, GRAD_RHS: Expect(f(z) * sp.Derivative(sp.log(q(z, theta)), theta),
                                                                        z, q(z, theta))},
            "steps": steps, "kind": "general", "title": r"General proof: every $q(z \mid \theta)$ and every $f$",
            "statement_tex": _STATEMENT_TEX, "symbols": SYMBOLS,
            "hypotheses": [r"q(z \mid \theta) \text{ differentiable in } \theta",
                           LEIBNIZ],
            "scope": SCOPE, "model": MODEL,
            "side": [_instance(mu, mistake), _instance(sigma, mistake)]}


def estimate(seed: int = 0, mistake=None, scale=(1.0, 1.0), n_pairs: int = N_PAIRS) -> dict:
    r"""Score-function estimate of $(\partial_\mu, \partial_\sigma)\, \mathbb{E}_{\mathcal{N}(\mu, \sigma^2)} f$ (default point).

    ``mistake``: a wrong twin's estimator; ``scale``: multiplies each component of the per-draw estimator (a
    deliberately wrong estimator, for the power tests).  Returns dict ``mean``, ``se``, ``exact`` (``(2,)`` arrays).
    """
    mu_, sg, cf = gradients.MU, gradients.SIGMA, gradients.COEFFS
    pilot = np.random.default_rng(10_000 + seed).standard_normal(N_PILOT)
    b = float(gradients.f_values(mu_ + sg * pilot, cf)[0].mean())
    k = np.asarray(scale, float)

    def terms(eps):
        t = gradients.score_function_terms(eps, mu_, sg, cf, baseline=b)
        if mistake == "score_sign":
            t[:, 0] = -t[:, 0]
        elif mistake == "no_log":  # f * grad q = f * q * grad log q
            from scipy.stats import norm

            t = t * norm.pdf(mu_ + sg * eps, mu_, sg)[:, None]
        elif mistake == "dlog_dvariance":  # d log q / d sigma^2 = (d log q / d sigma) / (2 sigma)
            t[:, 1] = t[:, 1] / (2 * sg)
        return t * k

    mean, se = gradients.antithetic_mean(terms, n_pairs, seed)
    return {"mean": mean, "se": se, "exact": gradients.exact_gradient(mu_, sg, cf)}


def check_with(seed: int = 0, mistake=None, scale=(1.0, 1.0)) -> NumericResult:
    """The numeric check, optionally on a twin's or a scaled estimator (see :func:`estimate`)."""
    g = estimate(seed, mistake, scale)
    oks, tols, parts = gradients.judge(g["mean"], g["se"], g["exact"], "score-function")
    ok_norm = gradients.densities_normalized()
    msg = (f"{'; '.join(parts)} [{N_PAIRS} antithetic pairs, baseline from {N_PILOT} pilot draws]; q and the noise "
           f"density integrate to one ({'ok' if ok_norm else 'FAIL'})")
    return NumericResult(all(oks) and ok_norm, float(g["mean"][1]), float(g["se"][1]), float(g["exact"][1]), tols[1], msg)


def _check(seed, mistake):
    return check_with(seed, mistake)


IDENTITY = make_rule_identity(NAME, TITLE, SOURCE, _build, _check, TWINS)

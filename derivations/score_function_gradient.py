r"""The score-function (REINFORCE / log-derivative) gradient estimator.

.. math::
    \nabla_\phi \mathbb{E}_{q_\phi(z)} f(z) = \mathbb{E}_{q_\phi(z)}\big[f(z)\, \nabla_\phi \log q_\phi(z)\big].

Source: Gupta & Wang, eqs. (10)-(15); Lecture 5 (Isachenko), 'ELBO gradients (E-step)'.

Main derivation (:math:`\phi = \mu`) and side derivation ``sigma`` (:math:`\phi = \sigma`), for
:math:`q = \mathcal{N}(\mu, \sigma^2)` and a cubic :math:`f(z) = c_1 z + c_2 z^2 + c_3 z^3` with symbolic
coefficients: differentiate under the integral (eq. 10), :math:`\nabla q = q \nabla \log q` (eqs. 11-12),
read it as an expectation (eq. 13), evaluate exactly with SymPy.

Numeric check: ``N_SAMPLES`` per-sample estimates :math:`f(z)\nabla_\phi \log q(z)` (eq. 15; see
:func:`derivations.models.gradient_estimators.gradient_samples`); both components' means within 4 SE of the exact gradient.

Wrong twin ``score_sign``: :math:`\nabla_\mu \log q = (\mu - z)/\sigma^2` (sign error): the integrands of
eqs. 11 and 12 no longer match, and the estimate has the wrong sign.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from derivations.models import gradient_estimators as gradients
from derivations.core import E, Derivation, NumericResult, Step, make_identity, normal_rv, within

N_SAMPLES = 200_000

NAME = "score_function_gradient"
TITLE = "Score-function gradient: grad E_q f = E_q[f grad log q]"
SOURCE = "Gupta & Wang eqs. (10)-(15); Lecture 5 (Isachenko), 'ELBO gradients (E-step)'"
TWINS = {"score_sign": "grad_mu log q(z) = (mu - z)/sigma^2  (sign error in the score)"}

mu = sp.Symbol("mu", real=True)
sigma = sp.Symbol("sigma", positive=True)
z = sp.Symbol("z", real=True)
c = sp.symbols("c1:4", real=True)

GRAD_LHS = sp.Symbol(r"\nabla_{\mu} \mathbb{E}_{q_{\phi}} f(z)", real=True)
GRAD_RHS = sp.Symbol(r"\mathbb{E}_{q_{\phi}}[f(z) \nabla_{\mu} \log q_{\phi}(z)]", real=True)


def f_expr(zz=z):
    r"""$f(z) = c_1 z + c_2 z^2 + c_3 z^3$."""
    return c[0] * zz + c[1] * zz**2 + c[2] * zz**3


def _chain(phi, sign):
    Z = normal_rv("z", mu, sigma**2)
    inf = (z, -sp.oo, sp.oo)
    # $q_\phi(z) = \mathcal{N}(z; \mu, \sigma^2)$
    logq = -sp.log(2 * sp.pi * sigma**2) / 2 - (z - mu) ** 2 / (2 * sigma**2)
    q = sp.exp(logq)
    score = sign * sp.diff(logq, phi)
    exact = sp.diff(c[0] * mu + c[1] * (mu**2 + sigma**2) + c[2] * (mu**3 + 3 * mu * sigma**2), phi)
    return [
        # eq. (10): $\nabla_\phi \int q_\phi(z) f(z)\, dz$
        Step(sp.Derivative(sp.Integral(q * f_expr(), inf), phi), "gradient of E_q f (eq. 10)"),
        # $= \int \nabla_\phi q_\phi(z) f(z)\, dz$
        Step(sp.Integral(sp.diff(q, phi) * f_expr(), inf), "differentiate under the integral sign (eq. 10)"),
        # eqs. (11)-(12): $= \int q_\phi(z) \nabla_\phi \log q_\phi(z) f(z)\, dz$
        Step(sp.Integral(q * score * f_expr(), inf), "grad q = q grad log q (eqs. 11-12)"),
        # eq. (13): $= \mathbb{E}_{q_\phi}[f(z) \nabla_\phi \log q_\phi(z)]$
        Step(E(f_expr(Z) * score.subs(z, Z)), "an expectation under q (eq. 13)"),
        # closed form
        Step(sign * exact, "Gaussian moments up to order 4 (SymPy): the exact gradient"),
    ]


def _build(variant):
    sign = -1 if variant == "score_sign" else 1
    steps = _chain(mu, sign)
    out = {"statement": sp.Eq(GRAD_LHS, GRAD_RHS),
           "definitions": {GRAD_LHS: steps[0].expr, GRAD_RHS: steps[3].expr}, "steps": steps[:4]}
    # the closed form is checked as a side derivation so the statement's rhs is the expectation of eq. 13
    out["side"] = [Derivation("closed_form_mu", steps[3:])]
    if variant is None:
        out["side"].append(Derivation("sigma", _chain(sigma, 1)))
    return out


def _check(seed, variant):
    g = gradients.gradient_samples(N_SAMPLES, seed=seed)
    sign = -1.0 if variant == "score_sign" else 1.0
    est = sign * g["mean"]["score_function"]
    se = g["se"]["score_function"]
    oks = [within(est[i], se[i], g["exact"][i]) for i in range(2)]
    msg = "; ".join(
        f"d/d{p}: score-function {est[i]:.4f} ± {se[i]:.4f} vs exact {g['exact'][i]:.4f} ({'ok' if oks[i][0] else 'FAIL'})"
        for i, p in enumerate(("mu", "sigma")))
    return NumericResult(all(o for o, _ in oks), float(est[0]), float(se[0]), float(g["exact"][0]), oks[0][1], msg)


IDENTITY = make_identity(NAME, TITLE, SOURCE, _build, _check, TWINS)

r"""The reparameterization (pathwise) gradient estimator.

.. math::
    z = g_\phi(\epsilon) = \mu + \sigma \epsilon,\ \epsilon \sim \mathcal{N}(0, 1):
    \qquad \nabla_\phi \mathbb{E}_{q_\phi(z)} f(z) = \mathbb{E}_{\epsilon}\, \nabla_\phi f(g_\phi(\epsilon)).

Sources: Gupta & Wang eqs. (16)-(17); Lecture 5 (Isachenko), 'Reparametrization trick (LOTUS trick)';
UDL (Prince) ch. 17, fig. 17.11 'Reparameterization trick'.

Main derivation (:math:`\phi = \sigma`, where the chain rule's factor :math:`\partial z / \partial\sigma = \epsilon`
matters) and side derivation ``mu``, for a cubic :math:`f` with symbolic coefficients: LOTUS moves the
expectation to :math:`\epsilon`, whose density does not depend on :math:`\phi`, so the gradient moves inside;
SymPy evaluates every expectation exactly.

Numeric check: ``N_SAMPLES`` per-sample pathwise gradients :math:`f'(z)\,(1, \epsilon)` (eq. 17), both
components within 4 SE of the exact gradient; the per-sample variance is reported against the score-function
estimator computed on the same draws, and must be smaller for both components (it is, by a factor of 5-20
for this f).  :func:`derivations.models.gradient_estimators.gradient_samples` returns both per-sample arrays for the scenes.

Wrong twin ``drop_dz_dsigma``: :math:`\nabla_\sigma f(\mu + \sigma\epsilon) = f'(z)` (the factor
:math:`\epsilon` forgotten) -- rejected at the step that differentiates inside, and numerically.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from derivations.models import gradient_estimators as gradients
from derivations.identity import make_identity
from derivations.numeric import within
from derivations.rv import expect_rv as E, normal_rv
from derivations.steps import Derivation, NumericResult, Step
from derivations.score_function_gradient import c, f_expr, mu, sigma

N_SAMPLES = 200_000

#: Both estimators' per-sample gradients, for the scenes' histograms (re-exported from ``derivations.models.gradient_estimators``).
gradient_samples = gradients.gradient_samples

NAME = "reparameterization_gradient"
TITLE = "Reparameterization gradient: grad E_q f = E_eps grad f(mu + sigma eps)"
SOURCE = "Gupta & Wang eqs. (16)-(17); Lecture 5 (Isachenko), 'Reparametrization trick'; UDL (Prince) fig. 17.11"
TWINS = {"drop_dz_dsigma": "grad_sigma f(mu + sigma eps) = f'(z)  (chain-rule factor eps dropped)"}

GRAD_LHS = sp.Symbol(r"\nabla_{\sigma} \mathbb{E}_{q_{\phi}} f(z)", real=True)
GRAD_RHS = sp.Symbol(r"\mathbb{E}_{\epsilon} \nabla_{\sigma} f(\mu + \sigma \epsilon)", real=True)


def _chain(phi, variant=None):
    Zq = normal_rv("z", mu, sigma**2)
    eps = normal_rv("epsilon", 0, 1)
    zeta = sp.Symbol("zeta", real=True)
    inner = sp.diff(f_expr(mu + sigma * eps), phi)
    if variant == "drop_dz_dsigma":
        # the mistake: $f'(z)$ without $\partial z / \partial \sigma = \epsilon$
        inner = sp.diff(f_expr(zeta), zeta).subs(zeta, mu + sigma * eps)
    exact = sp.diff(c[0] * mu + c[1] * (mu**2 + sigma**2) + c[2] * (mu**3 + 3 * mu * sigma**2), phi)
    return [
        # $\nabla_\phi \mathbb{E}_{q_\phi} f(z)$
        Step(sp.Derivative(E(f_expr(Zq)), phi), "gradient of E_q f"),
        # LOTUS: $= \nabla_\phi \mathbb{E}_\epsilon f(\mu + \sigma\epsilon)$
        Step(sp.Derivative(E(f_expr(mu + sigma * eps)), phi), "LOTUS: z = mu + sigma eps with eps ~ N(0, 1)"),
        # $= \mathbb{E}_\epsilon \nabla_\phi f(\mu + \sigma \epsilon)$
        Step(E(inner), "the density of eps does not depend on phi: differentiate inside (eq. 17)"),
        # closed form
        Step(exact, "Gaussian moments (SymPy): the exact gradient"),
    ]


def _build(variant):
    steps = _chain(sigma, variant)
    out = {"statement": sp.Eq(GRAD_LHS, GRAD_RHS),
           "definitions": {GRAD_LHS: steps[0].expr, GRAD_RHS: steps[2].expr}, "steps": steps[:3]}
    out["side"] = [Derivation("closed_form_sigma", steps[2:])]
    if variant is None:
        out["side"].append(Derivation("mu", _chain(mu)))
    return out


def _check(seed, variant):
    g = gradients.gradient_samples(N_SAMPLES, seed=seed)
    rp = g["reparameterization"].copy()
    if variant == "drop_dz_dsigma":
        rp[:, 1] = rp[:, 0]  # f'(z) instead of f'(z) * eps
    est = rp.mean(0)
    se = rp.std(0, ddof=1) / np.sqrt(len(rp))
    var_rp = rp.var(0, ddof=1)
    var_sf = g["var"]["score_function"]
    oks = [within(est[i], se[i], g["exact"][i]) for i in range(2)]
    ok_var = bool(np.all(var_rp < var_sf))
    parts = [f"d/d{p}: reparameterization {est[i]:.4f} ± {se[i]:.4f} vs exact {g['exact'][i]:.4f} "
             f"({'ok' if oks[i][0] else 'FAIL'}); variance {var_rp[i]:.3g} vs score function {var_sf[i]:.3g}"
             for i, p in enumerate(("sigma", "mu")[::-1])]
    msg = "; ".join(parts) + f" ({'lower variance ok' if ok_var else 'NOT lower variance'})"
    ok = all(o for o, _ in oks) and ok_var
    return NumericResult(bool(ok), float(est[1]), float(se[1]), float(g["exact"][1]), oks[1][1], msg)


IDENTITY = make_identity(NAME, TITLE, SOURCE, _build, _check, TWINS)

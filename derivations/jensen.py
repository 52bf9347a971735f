r"""Jensen's inequality for the logarithm.

.. math::
    \log \mathbb{E}[y] \;\ge\; \mathbb{E}[\log y] \qquad (y > 0),
    \quad\text{with equality iff } y \text{ is constant.}

Source: UDL (Prince) ch. 17, fig. 17.4 'Jensen's inequality (discrete case)' and the bound
:math:`\log \int \Pr(y) y\,dy \ge \int \Pr(y) \log y\,dy`; Lecture 5 (Isachenko), 'ELBO derivation 1'.

Proof (symbolic, any positive weights; shown for :math:`K = 3` points, :math:`w_k = a_k / \sum_j a_j`):
with :math:`m = \sum_k w_k y_k`, the tangent line of the concave log at :math:`m` gives
:math:`\log y \le \log m + (y - m)/m`, i.e.

.. math::
    \log m - \sum_k w_k \log y_k = \sum_k w_k\, G(y_k / m) \ge 0, \qquad G(t) = t - 1 - \log t,

and :math:`G \ge 0` with equality iff :math:`t = 1` (convexity lemma, side derivation ``gibbs_lemma``):
equality holds iff every :math:`y_k = m`, i.e. :math:`y` is constant (side derivation ``equality_constant``).

Numeric check (continuous distributions): for :math:`y \sim \mathrm{LogNormal}(\mu, \sigma^2)` the gap is
:math:`\sigma^2/2`; for :math:`y \sim \mathrm{Gamma}(k, \theta)` it is :math:`\log k - \psi(k)`.  The gap is
estimated without bias as the exact :math:`\log \mathbb{E} y` minus the Monte Carlo mean of
:math:`\log y` (``N_SAMPLES`` draws, fixed seed); it must match the closed form within 4 SE and be positive.

Wrong twin ``reversed``: :math:`\log \mathbb{E}[y] \le \mathbb{E}[\log y]` -- no non-negativity proof exists
(a numeric counterexample is reported) and the estimated gap has the wrong sign.

:func:`jensen_gap` is the helper for scenes (fig. 17.4: points on the log curve and their mean).
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from derivations.identity import make_identity
from derivations.numeric import within
from derivations.steps import Derivation, NumericResult, Step
from derivations.witnesses import GibbsG, gibbs_lemma_steps

N_SAMPLES = 200_000

NAME = "jensen"
TITLE = "Jensen's inequality: log E[y] >= E[log y]"
SOURCE = "UDL (Prince) ch. 17, fig. 17.4; Lecture 5 (Isachenko), 'ELBO derivation 1 (inequality)'"
TWINS = {"reversed": "log E[y] <= E[log y]  (concavity read backwards)"}

LOG_E_Y = sp.Symbol(r"\log \mathbb{E}[y]", real=True)
E_LOG_Y = sp.Symbol(r"\mathbb{E}[\log y]", real=True)


def jensen_gap(y, weights=None) -> dict:
    r"""Both sides of Jensen's inequality for points ``y > 0`` with optional weights (default: equal).

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


def _build(variant):
    a = sp.symbols("a1:4", positive=True)
    y = sp.symbols("y1:4", positive=True)
    wts = [ak / sum(a) for ak in a]
    # $m = \sum_k w_k y_k$
    mean = sum(wk * yk for wk, yk in zip(wts, y))
    lhs = sp.log(mean)
    rhs = sum(wk * sp.log(yk) for wk, yk in zip(wts, y))
    # witness: $\sum_k w_k G(y_k / m) \ge 0$
    witness = sum(wk * GibbsG(yk / mean) for wk, yk in zip(wts, y))
    rel = "<=" if variant == "reversed" else ">="
    steps = [
        Step(lhs, "log of the weighted mean m = sum_k w_k y_k (K = 3, w_k = a_k / sum a)"),
        Step(rhs, "tangent line log y <= log m + (y - m)/m, summed: gap = sum_k w_k G(y_k/m) >= 0",
             rel=rel, witness=witness if variant is None else None),
    ]
    statement = (sp.LessThan if variant == "reversed" else sp.GreaterThan)(LOG_E_Y, E_LOG_Y)
    out = {"statement": statement, "definitions": {LOG_E_Y: lhs, E_LOG_Y: rhs}, "steps": steps}
    if variant is None:
        c = sp.Symbol("c", positive=True)
        out["side"] = [
            Derivation("gibbs_lemma", gibbs_lemma_steps()),
            Derivation("equality_constant", [
                Step(lhs.subs({yk: c for yk in y}), "y constant: log E[y] with every y_k = c"),
                Step(rhs.subs({yk: c for yk in y}), "= log c = E[log y]: equality"),
            ]),
        ]
    return out


def _check(seed, variant):
    from scipy.special import digamma

    rng = np.random.default_rng(seed)
    cases = []
    # $y \sim \mathrm{LogNormal}(0.3, 0.8^2)$: $\log \mathbb{E} y = \mu + \sigma^2/2$, gap $= \sigma^2/2$
    mu, sig = 0.3, 0.8
    y = rng.lognormal(mu, sig, N_SAMPLES)
    cases.append(("LogNormal(0.3, 0.8^2)", mu + sig**2 / 2, np.log(y), sig**2 / 2))
    # $y \sim \mathrm{Gamma}(k=2, \theta=1.5)$: gap $= \log k - \psi(k)$
    k, theta = 2.0, 1.5
    y = rng.gamma(k, theta, N_SAMPLES)
    cases.append(("Gamma(2, 1.5)", np.log(k * theta), np.log(y), np.log(k) - digamma(k)))
    sign = -1.0 if variant == "reversed" else 1.0  # the twin claims E log y - log E y >= 0
    ok_all, parts, head = True, [], None
    for label, log_mean, logs, gap_exact in cases:
        # $\widehat{\text{gap}} = \log \mathbb{E}[y] - \overline{\log y}$ (unbiased)
        est = sign * (log_mean - logs.mean())
        se = logs.std(ddof=1) / np.sqrt(len(logs))
        ok_val, tol = within(est, se, sign * gap_exact)
        ok_sign = est >= -tol  # the claimed inequality
        ok_all &= ok_val and ok_sign
        parts.append(f"{label}: claimed-nonneg gap {est:.4f} ± {se:.4f} (exact {sign * gap_exact:.4f}, "
                     f"{'>= 0 ok' if ok_sign else 'NEGATIVE: inequality violated'})")
        head = head or (est, se, sign * gap_exact, tol)
    return NumericResult(bool(ok_all), float(head[0]), float(head[1]), float(head[2]), float(head[3]), "; ".join(parts))


IDENTITY = make_identity(NAME, TITLE, SOURCE, _build, _check, TWINS)

r"""Witnesses of inequalities: named non-negative functions the proof engine can expand.

An inequality link :math:`a \ge b` is proved with a witness :math:`W` such that :math:`a - b - W` reduces to
0 and :math:`W \ge 0`.  A :class:`Witness` is a SymPy function that (i) says when it is non-negative and (ii)
can be replaced by its definition (:func:`expand_witnesses`), so the engine can check the algebra:

* :class:`GibbsFunction` -- :math:`G(t) = t - 1 - \log t \ge 0` for :math:`t > 0` (proved by :func:`gibbs_lemma_steps`);
* :func:`tangent_gap` -- for a concave :math:`\varphi` with supergradient :math:`\varphi'`, the gap below the
  tangent line, :math:`T(y; m) = \varphi(m) + \varphi'(m)(y - m) - \varphi(y) \ge 0` (the definition of
  concavity: the graph lies below each tangent; Boyd & Vandenberghe, *Convex Optimization*, 2004, eq. 3.2).
"""
from __future__ import annotations

from typing import Callable

import sympy as sp

from derivations.steps import Step

__all__ = ["Witness", "GibbsFunction", "tangent_gap", "expand_witnesses", "gibbs_lemma_steps", "CONCAVE"]

#: undefined functions declared concave (a hypothesis of the theorem) -> their declared supergradient;
#: read by :mod:`derivations.instances`, which then draws a random concave function and its exact derivative
CONCAVE: dict = {}


class Witness(sp.Function):
    """Base class: a function known non-negative under stated conditions, with a definition to expand."""

    def definition(self) -> sp.Expr:  # pragma: no cover - abstract
        raise NotImplementedError


class GibbsFunction(Witness):
    r"""The Gibbs function :math:`G(t) = t - 1 - \log t`, non-negative for :math:`t > 0`, zero iff :math:`t = 1`.

    Used as a witness for inequalities (Jensen for the log, Gibbs, KL >= 0).  SymPy's assumption system is
    told :math:`G(t) \ge 0` for positive ``t``; that fact is itself proved by :func:`gibbs_lemma_steps`.
    """

    nargs = 1

    @classmethod
    def eval(cls, t):
        if t == 1:
            return sp.Integer(0)
        return None

    def definition(self) -> sp.Expr:
        t = self.args[0]
        return t - 1 - sp.log(t)

    def _eval_is_nonnegative(self):
        if self.args[0].is_positive:
            return True
        return None

    def _eval_is_real(self):
        if self.args[0].is_positive:
            return True
        return None

    def _latex(self, printer):
        return r"G\left(%s\right)" % printer._print(self.args[0])


def tangent_gap(phi: Callable, dphi: Callable, name: str = "T", positive_domain: bool = False,
                concave: bool = False) -> type:
    r"""The witness class :math:`T(y; m) = \varphi(m) + \varphi'(m)(y - m) - \varphi(y) \ge 0` of a concave ``phi``.

    Args:
        phi, dphi: callables (e.g. undefined ``sympy.Function`` s) for :math:`\varphi` and a supergradient
            :math:`\varphi'`.  The hypothesis "``phi`` is concave" *is* the statement that this gap is
            non-negative for every ``y, m`` in the domain; the class carries it as an assumption.
        positive_domain: the domain of ``phi`` is :math:`(0, \infty)` (e.g. the logarithm).
        concave: for an *undefined* ``phi``, the hypothesis "``phi`` is concave and ``dphi`` is a supergradient
            of it", which the theorem must then state.  Without it the gap of an undefined ``phi`` is not known
            to be non-negative (an undefined function is not concave by default).  Ignored for a concrete ``phi``,
            whose concavity is checked.
    Returns:
        a :class:`Witness` subclass of two arguments ``(y, m)``, rendered :math:`T_\varphi(y; m)`.
        For an undefined ``phi`` the non-negativity is the declared hypothesis ``concave=True``; for a concrete ``phi`` it is granted only
        when SymPy shows :math:`\varphi'' \le 0` on the domain and ``dphi`` is the derivative of ``phi``, so a
        convex :math:`\varphi` (a real mistake: Jensen applied the wrong way round) is not a witness.
    """
    t = sp.Symbol("t", positive=True) if positive_domain else sp.Symbol("t", real=True)
    from sympy.core.function import AppliedUndef

    if isinstance(phi(t), AppliedUndef) and hasattr(type(phi(t)), "_imp_"):
        phi_t = type(phi(t))._imp_(t)  # an implemented function is concrete: its concavity is checked
        dphi_t = dphi(t)
        if isinstance(dphi_t, AppliedUndef) and hasattr(type(dphi_t), "_imp_"):
            dphi_t = type(dphi_t)._imp_(t)
        second = sp.simplify(sp.diff(phi_t, t, 2))
        slope_ok = sp.simplify(sp.diff(phi_t, t) - dphi_t) == 0
        concave = bool(slope_ok and (second == 0 or (-second).is_nonnegative is True))
    elif isinstance(phi(t), AppliedUndef):
        concave = bool(concave)
        if concave:
            CONCAVE[phi] = dphi  # the random instances draw a concave phi with dphi its derivative
    else:
        second = sp.simplify(sp.diff(phi(t), t, 2))
        slope_ok = sp.simplify(sp.diff(phi(t), t) - dphi(t)) == 0
        concave = bool(slope_ok and (second == 0 or (-second).is_nonnegative is True))

    def definition(self):
        y, m = self.args
        return phi(m) + dphi(m) * (y - m) - phi(y)

    def _latex(self, printer):
        y, m = self.args
        return r"T_{\varphi}\left(%s;\, %s\right)" % (printer._print(y), printer._print(m))

    return type(name, (Witness,), {
        "nargs": 2, "definition": definition, "_latex": _latex,
        "_eval_is_nonnegative": lambda self: True if concave and all(
            (a.is_positive if positive_domain else a.is_real) for a in self.args) else None,
        "_eval_is_real": lambda self: True if all(
            (a.is_positive if positive_domain else a.is_real) for a in self.args) else None,
        "concave_hypothesis": (phi, dphi) if concave and isinstance(phi(t), AppliedUndef) else None,
    })


def expand_witnesses(expr: sp.Basic) -> sp.Basic:
    """Replace every :class:`Witness` by its definition (innermost first)."""
    if not expr.has(Witness):
        return expr
    return expr.replace(lambda e: isinstance(e, Witness), lambda e: e.definition())


def gibbs_lemma_steps() -> list:
    r"""Proof that :math:`G(t) = t - 1 - \log t \ge 0` for :math:`t > 0` (equality iff :math:`t = 1`).

    Convexity certificate: :math:`G''(t) = 1/t^2 > 0`, the only stationary point is :math:`t = 1`,
    where :math:`G(1) = 0`.  Equivalently :math:`\log y \le \log m + (y - m)/m`, the tangent line of the
    concave logarithm (Prince, *Understanding Deep Learning*, 2023, fig. 17.4).
    """
    t = sp.Symbol("t", positive=True)
    return [
        Step(t - 1 - sp.log(t), r"The Gibbs function $G(t) = t - 1 - \log t$ for $t > 0$.", tex=r"t - 1 - \log t"),
        Step(sp.Integer(0), r"$G$ is convex ($G''(t) = 1/t^2 > 0$) and its only stationary point is $t = 1$, "
             r"where $G(1) = 0$; so $G \ge 0$, with equality only at $t = 1$.", rel=">=", var=t, tex="0"),
    ]

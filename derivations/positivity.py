r"""Positivity by rules: when is an expression known non-negative or positive, and when may a log be split?

The proof engine trusts a non-negativity only when it follows from these rules (never from a declared
assumption of a symbol that a rule defines: the engine substitutes definitions first):

* SymPy's assumptions on symbols and functions that no rule defines (``positive=True`` densities, hypotheses
  such as :math:`\sigma > 0`);
* sums, products and real powers of non-negatives; even powers; :math:`\log u \ge 0` for :math:`u \ge 1`;
* expectations and finite sums of non-negatives (monotonicity), integrals of positives;
* :class:`~derivations.witnesses.GibbsFunction` of a positive argument, a tangent gap under its concavity hypothesis;
* the lemma :math:`\sum_{m} g_m - g_n \ge 0` for :math:`g \ge 0` when :math:`n` runs over the same range.

:func:`safe_expand_log` splits :math:`\log(ab) = \log a + \log b` and :math:`\log a^b = b \log a` only for
factors known positive (and real exponents): for real factors of unknown sign the principal logarithm does not
split (:math:`\log((-1)(-1)) \ne 2 \log(-1)`), so such a log stays one atom.
"""
from __future__ import annotations

from typing import Optional

import sympy as sp

from derivations.witnesses import GibbsFunction, Witness

__all__ = ["known_nonnegative", "known_positive", "safe_expand_log"]


def _is_expect(e) -> bool:
    return getattr(type(e), "is_expectation", False)


def _sum_minus_term(w: sp.Add, ranges: dict, strict: bool) -> bool:
    r"""The lemma :math:`\sum_{m=lo}^{hi} g_m - g_n \ge 0` for :math:`g \ge 0` and :math:`n` the index of an
    enclosing sum over the same range (so :math:`g_n` is one of the terms); :math:`> 0` when :math:`g > 0` and
    the range has at least two terms.  Other terms of ``w`` must be non-negative (positive) themselves."""
    terms = list(w.args)
    for i, t in enumerate(terms):
        if not (isinstance(t, sp.Sum) and len(t.limits) == 1):
            continue
        m, lo, hi = t.limits[0]
        for j, u in enumerate(terms):
            c, h = u.as_coeff_Mul()
            if j == i or c != -1:
                continue
            for n, (nlo, nhi) in ranges.items():
                if h != t.function.xreplace({m: n}) or sp.simplify(nlo - lo) != 0 or sp.simplify(nhi - hi) != 0:
                    continue
                inner = {**ranges, m: (lo, hi)}
                ok = known_positive(t.function, inner) if strict else known_nonnegative(t.function, inner)
                if strict and (hi - lo).is_positive is not True:
                    ok = False
                others = [a for k, a in enumerate(terms) if k not in (i, j)]
                if ok and all(known_nonnegative(a, ranges) for a in others):
                    return True
    return False


def _add_holds(e: sp.Add, ranges: dict, strict: bool) -> bool:
    """A sum is non-negative (``strict``: positive) when every term is, or by :func:`_sum_minus_term`; else its
    ``together`` form, a product, when every factor is (a factor that is a sum by the same two tests)."""
    test = known_positive if strict else known_nonnegative

    def sum_holds(add: sp.Add) -> bool:
        return all(test(a, ranges) for a in add.args) or _sum_minus_term(add, ranges, strict=strict)

    if sum_holds(e):
        return True
    tog = sp.together(e)
    return isinstance(tog, sp.Mul) and tog != e and all(
        sum_holds(a) if isinstance(a, sp.Add) else test(a, ranges) for a in tog.args)


def known_nonnegative(w: sp.Basic, ranges: Optional[dict] = None) -> bool:
    """Is ``w >= 0`` by the rules: witnesses, squares, sums/products of non-negatives, E_q and Sum of
    non-negatives (monotonicity), a sum minus one of its own terms, SymPy's assumptions?

    ``ranges``: ``{index: (lo, hi)}`` of the sums enclosing ``w`` (filled in by the recursion).
    """
    ranges = ranges or {}
    if w.is_nonnegative is True:
        return True
    if isinstance(w, GibbsFunction):
        return known_positive(w.args[0], ranges)
    if isinstance(w, Witness):
        return w.is_nonnegative is True
    if isinstance(w, sp.Add):
        return _add_holds(w, ranges, strict=False)
    if isinstance(w, sp.Mul):
        return all(known_nonnegative(a, ranges) for a in w.args)
    if isinstance(w, sp.Pow):
        if w.exp.is_even:
            return True
        return known_positive(w.base, ranges) and w.exp.is_real is True
    if isinstance(w, sp.log):  # log u >= 0 iff u >= 1
        return known_nonnegative(sp.together(sp.expand(w.args[0] - 1)), ranges)
    if _is_expect(w):
        return known_nonnegative(w.expr, ranges)
    if isinstance(w, sp.Integral):  # an integral of a non-negative function over an interval run forwards
        forwards = all(len(lim) == 1 or (lim[2] - lim[1]).is_nonnegative is True or
                       (lim[1] == -sp.oo) or (lim[2] == sp.oo and lim[1] != sp.oo) for lim in w.limits)
        return forwards and known_nonnegative(w.function, ranges)
    if isinstance(w, sp.Sum) and len(w.limits) == 1:  # an empty sum is 0, also non-negative
        k, lo, hi = w.limits[0]
        return known_nonnegative(w.function, {**ranges, k: (lo, hi)})
    return False


def known_positive(e: sp.Basic, ranges: Optional[dict] = None) -> bool:
    """Is ``e > 0`` by the rules: positive symbols and densities combined by +, *, /, real powers; integrals,
    sums and expectations of positive functions; a sum of at least two positive terms minus one of them?"""
    ranges = ranges or {}
    if e.is_positive is True:
        return True
    if isinstance(e, sp.Add):
        return _add_holds(e, ranges, strict=True)
    if isinstance(e, sp.Mul):
        return all(known_positive(a, ranges) for a in e.args)
    if isinstance(e, sp.Pow):
        return known_positive(e.base, ranges) and e.exp.is_real is True
    if isinstance(e, sp.Integral):
        return known_positive(e.function, ranges)
    if isinstance(e, sp.Sum) and len(e.limits) == 1:
        k, lo, hi = e.limits[0]
        return (hi - lo).is_nonnegative is True and known_positive(e.function, {**ranges, k: (lo, hi)})
    if _is_expect(e):
        return known_positive(e.expr, ranges)
    return False




def _split_log(a: sp.Expr) -> sp.Expr:
    if isinstance(a, sp.Mul):
        pos, rest = [], []
        for f in a.args:
            (pos if (f.is_positive is True or known_positive(f)) else rest).append(f)
        if pos:
            return sp.Add(*[_split_log(f) for f in pos]) + (sp.log(sp.Mul(*rest)) if rest else 0)
        return sp.log(a)
    if isinstance(a, sp.Pow) and (a.base.is_positive is True or known_positive(a.base)) and a.exp.is_real:
        return a.exp * _split_log(a.base)
    return sp.log(a)


def safe_expand_log(e: sp.Basic) -> sp.Basic:
    """Expand the logs in ``e`` over factors known positive only (see the module docstring)."""
    if not e.has(sp.log):
        return e
    return e.replace(lambda t: isinstance(t, sp.log), lambda t: _split_log(t.args[0]))

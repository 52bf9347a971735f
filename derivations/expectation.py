r"""General proofs: densities as undefined functions, an unevaluated expectation operator, and its rules.

A lecturer's proof of an ELBO identity holds for *every* density.  Here a density is an undefined
``sympy.Function`` (positive, so logs of products expand), and

.. math::  \mathbb{E}_{q(z)}[f] = \int q(z) f(z)\, dz \quad(\text{a sum for a discrete } z)

is the unevaluated operator :class:`Expect`.  The proof engine never integrates an unknown density; it uses
only the rules the operator obeys (each a textbook fact, e.g. Bishop, *Pattern Recognition and Machine
Learning*, 2006, §1.2.2):

1. **linearity** -- :math:`\mathbb{E}_q[a f + b g] = a\,\mathbb{E}_q f + b\,\mathbb{E}_q g`;
2. **constants out** -- a factor free of the variable :math:`z` leaves the expectation;
3. **normalization** -- :math:`\mathbb{E}_q[1] = 1` and :math:`\int_{-\infty}^{\infty} p(z \mid \cdot)\,dz = 1`
   only when ``q`` is a declared density of the variable the expectation runs over (:func:`is_density_of`) and
   the integral runs over the whole space; otherwise :math:`\mathbb{E}_\mu[1]` is the mass
   :math:`\int \mu\, dz` (so :math:`\mathbb{E}_{2q}[1] = 2`), kept as an atom when unknown;
4. **pointwise equality** -- :math:`\mathbb{E}_q f = \mathbb{E}_{q'} g` when :math:`q f = q' g` for every
   :math:`z` (this covers importance sampling, :math:`\mathbb{E}_p f = \mathbb{E}_q[f p / q]` for :math:`q > 0`);
5. **monotonicity** -- :math:`f \ge 0 \Rightarrow \mathbb{E}_q f \ge 0` (so an expectation of a witness is one);
6. **Gaussian moments** -- under :class:`NormalPDF` :math:`\mathcal{N}(z; \mu, v)`, :math:`\mathbb{E} z = \mu`,
   :math:`\mathbb{E} z^2 = \mu^2 + v`, for integrands that are polynomials of degree <= 2 in :math:`z`.

Sums to a symbolic bound (``Sum`` over an ``IndexedBase``) obey the same linearity and constants-out rules, and
:math:`\sum_{k=1}^{K} c = K c`; a finite sum and an integral commute.  Under a derivative, Leibniz's rule
(:func:`leibniz`, with its boundary terms and side conditions) moves it inside; a limit moves inside an
expectation only under a declared density free of the limit's variable and the stated dominated-convergence
hypothesis (:func:`permits`), else it stays an atom around an integral.  :func:`linear_form` -- the one linear
normal form of the package, also the canonical form of :mod:`derivations.operator_rules` -- applies rules 1-3, 6,
the sum rules, Leibniz and the limit rule; the engine
(:mod:`derivations.engine`) then treats each remaining expectation, sum or unknown function as an opaque atom
(rule 4 is its fallback: expectations over the same variable are merged into one integrand).
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager

import sympy as sp
from sympy.core.function import AppliedUndef

from derivations.positivity import known_nonnegative, safe_expand_log
from derivations.rv import log_normal
from derivations.steps import PERMIT_LEIBNIZ, PERMIT_LIMIT
from derivations.witnesses import expand_witnesses

__all__ = ["Expect", "density", "NormalPDF", "DiagNormalPDF", "linear_form", "leibniz", "is_density_of",
           "DENSITY_VARS", "density_vars"]

#: density class -> number of leading arguments that are its variables (the rest are conditioned on)
DENSITY_VARS: dict = {}


def density(name: str, n_vars: int = 1, symbol: str | None = None):
    r"""An undefined, positive density function, rendered :math:`p(a, b \mid c)`.

    Args:
        name: SymPy name (must be unique per density, e.g. ``"p_lik"``).
        n_vars: how many leading arguments are the density's variables; the others are conditioned on
            (printed after a bar).  ``q = density("q")``; ``q(z, x)`` prints :math:`q(z \mid x)`.
        symbol: LaTeX of the function letter (default ``name``).
    Returns:
        an undefined ``sympy.Function`` class (``positive=True``).
    """
    f = sp.Function(name, positive=True)
    letter = symbol or name

    def _latex(self, printer):
        args = [printer._print(a) for a in self.args]
        head, tail = args[:n_vars], args[n_vars:]
        inner = ", ".join(head) + (r" \mid " + ", ".join(tail) if tail else "")
        return r"%s\left(%s\right)" % (letter, inner)

    f._latex = _latex
    f._density_vars = n_vars  # read by density_vars(): the class, not its name, is the density
    DENSITY_VARS[name] = n_vars
    return f


def density_vars(f) -> int | None:
    """How many leading arguments of the undefined function (class) ``f`` are its variables, if ``f`` was
    declared with :func:`density`; None for any other function -- even one that happens to share a density's
    name (``Function("r")`` is not the density ``r``)."""
    return getattr(f, "_density_vars", None)


def is_density_of(expr: sp.Basic, var: sp.Basic) -> bool:
    """Is ``expr`` a registered density (or :class:`NormalPDF`) whose only variable is ``var``?"""
    if isinstance(expr, NormalPDF):  # a density only for a variance known positive
        return expr.args[0] == var and expr.args[2].is_positive is True and not any(a.has(var) for a in expr.args[1:])
    if getattr(expr, "is_density_first_arg", False):  # densities declared elsewhere, normalized in arg 0
        return expr.args[0] == var and not any(a.has(var) for a in expr.args[1:])
    if isinstance(expr, AppliedUndef) and density_vars(expr.func) is not None:
        n = density_vars(expr.func)
        return n == 1 and expr.args[0] == var and not any(a.has(var) for a in expr.args[1:])
    return False


class NormalPDF(sp.Function):
    r"""The Gaussian density :math:`\mathcal{N}(z; \mu, v)` (``v`` a variance), kept unevaluated for display.

    ``log NormalPDF`` is expanded by :func:`linear_form` to
    :math:`-\tfrac12 \log 2\pi v - (z - \mu)^2 / 2v` (:func:`derivations.rv.log_normal`).
    """

    nargs = 3

    def _eval_is_positive(self):
        return True if self.args[2].is_positive else None  # N(z; mu, v) is a density only for v > 0

    def _eval_is_real(self):
        return True if self.args[2].is_positive else None

    def log_expanded(self) -> sp.Expr:
        return log_normal(*self.args)

    def explicit(self) -> sp.Expr:
        return sp.exp(self.log_expanded())

    def _latex(self, printer):
        z, mu, v = (printer._print(a) for a in self.args)
        return r"\mathcal{N}\left(%s;\, %s,\, %s\right)" % (z, mu, v)


class DiagNormalPDF(sp.Function):
    r"""The diagonal Gaussian :math:`\mathcal{N}(z; \mu, \mathrm{diag}\, v)` of a vector ``z`` (an ``IndexedBase``).

    Args: ``z`` (``IndexedBase``), ``mu`` and ``v`` (``IndexedBase`` s or scalars shared by every coordinate),
    ``D`` (the dimension, a symbol), ``d`` (the coordinate index symbol).  Its log is the sum over coordinates
    :math:`\sum_{d=1}^{D} \log \mathcal{N}(z_d; \mu_d, v_d)`, and the expectation of a function of one
    coordinate :math:`z_d` is taken under the marginal :math:`\mathcal{N}(z_d; \mu_d, v_d)`.
    """

    nargs = 5

    def _eval_is_positive(self):
        return True

    def _coord(self, a, d):
        return a[d] if isinstance(a, sp.IndexedBase) else a

    def log_expanded(self) -> sp.Expr:
        z, mu, v, D, d = self.args
        return sp.Sum(NormalPDF(z[d], self._coord(mu, d), self._coord(v, d)).log_expanded(), (d, 1, D))

    def marginal(self, g):
        """``(z_i, N(z_i; mu_i, v_i))`` if ``g`` depends on ``z`` through one coordinate ``z_i`` only, else None."""
        z = self.args[0]
        coords = {t for t in g.atoms(sp.Indexed) if t.base == z}
        if len(coords) != 1:
            return None
        zi = coords.pop()
        i = zi.indices[0]
        _, mu, v, _, _ = self.args
        return zi, NormalPDF(zi, self._coord(mu, i), self._coord(v, i))

    def _latex(self, printer):
        z, mu, v, _, _ = (printer._print(a) for a in self.args)
        return r"\mathcal{N}\left(%s;\, %s,\, \operatorname{diag} %s\right)" % (z, mu, v)


class Expect(sp.Expr):
    r"""Unevaluated expectation :math:`\mathbb{E}_{q(z)}[f]` of ``expr`` over ``var`` under ``dens``.

    Args:
        expr: the integrand :math:`f` (any SymPy expression).
        var: the variable integrated over (a ``Symbol`` or an ``Indexed`` such as ``z[d]``).
        dens: the density of ``var``, an applied function such as ``q(z, x)`` or ``NormalPDF(z, m, v)``.
    The operator obeys the rules listed in :mod:`derivations.expectation`; ``doit()`` leaves it unevaluated.
    """

    is_commutative = True

    def __new__(cls, expr, var, dens):
        return sp.Expr.__new__(cls, sp.sympify(expr), sp.sympify(var), sp.sympify(dens))

    @property
    def expr(self):
        return self.args[0]

    @property
    def var(self):
        return self.args[1]

    @property
    def dens(self):
        return self.args[2]

    @property
    def free_symbols(self):
        bound = {self.var}
        if isinstance(self.var, sp.Indexed):
            bound |= {self.var.base.label}
        inner = self.expr.free_symbols | self.dens.free_symbols
        return (inner - bound) | (self.var.free_symbols - bound)

    def doit(self, **hints):
        return Expect(self.expr.doit(**hints), self.var, self.dens)

    def _eval_is_real(self):
        return True if self.expr.is_real else None

    is_expectation = True  # read by derivations.positivity (which does not import this module)

    def _eval_is_nonnegative(self):
        return True if known_nonnegative(self.expr) else None

    def _latex(self, printer):
        return r"\mathbb{E}_{%s}\left[%s\right]" % (printer._print(self.dens), printer._print(self.expr))

    def _sympystr(self, printer):
        return "E_{%s}[%s]" % (printer._print(self.dens), printer._print(self.expr))


# ---------------------------------------------------------------------------------------------------------
# The linear normal form
# ---------------------------------------------------------------------------------------------------------

def _expand_logs(e: sp.Expr) -> sp.Expr:
    """Expand ``log NormalPDF`` and the logs of products/quotients of positive factors, then distribute."""
    if e.has(sp.log):
        e = safe_expand_log(e)  # logs split over factors known positive (densities, weights) only
    if e.has(NormalPDF, DiagNormalPDF):
        e = e.replace(lambda t: isinstance(t, sp.log) and isinstance(t.args[0], (NormalPDF, DiagNormalPDF)),
                      lambda t: t.args[0].log_expanded())
    return sp.expand(e)


def _split(e: sp.Expr, var) -> list:
    """``e`` as a list of ``(coefficient free of var, rest)`` pairs (rest == 1 for a constant term)."""
    out = []
    for term in sp.Add.make_args(e):
        c, g = term.as_independent(var, as_Add=False)
        out.append((c, g))
    return out


def _gaussian_moments(g: sp.Expr, var, dens: "NormalPDF"):
    """E[g] under N(var; mu, v) when g is a polynomial of degree <= 2 in var, else None."""
    _, mu, v = dens.args
    if v.is_positive is not True:
        return None  # N(z; mu, v) is no density unless v > 0: no moments
    t = sp.Dummy("t")
    gt = g.xreplace({var: t})
    if gt.has(var):
        return None
    try:
        poly = sp.Poly(gt, t)
    except sp.PolynomialError:
        return None
    if poly.degree() > 2:
        return None
    coeffs = {m[0]: c for m, c in zip(poly.monoms(), poly.coeffs())}
    moments = {0: sp.Integer(1), 1: mu, 2: mu**2 + v}
    return sp.Add(*[c * moments[k] for k, c in coeffs.items()])


def _lin_expect(e: Expect) -> sp.Expr:
    var, dens = e.var, e.dens
    f = _expand_logs(linear_form(e.expr))
    out = sp.Integer(0)
    normalized = isinstance(var, (sp.Symbol, sp.Indexed)) and (is_density_of(dens, var) or (
        isinstance(dens, NormalPDF) and dens.args[0] == var and dens.args[2].is_positive is True
        and not any(a.has(var) for a in dens.args[1:]))) or (
        isinstance(dens, DiagNormalPDF) and dens.args[0] == var)
    for c, g in _split(f, var):
        if g == 1:
            if normalized:
                out += c  # normalization: E_q[1] = 1 for a normalized density q of var
            elif isinstance(var, sp.Symbol) and not isinstance(dens, DiagNormalPDF):
                out += c * _lin_integral(sp.Integral(dens, (var, -sp.oo, sp.oo)))  # E_mu[1] = the mass of mu
            else:
                out += c * Expect(g, var, dens)
        elif isinstance(g, sp.Sum) and not any(lim.has(var) for lim in g.limits[0][1:]):
            k, lo, hi = g.limits[0]  # E of a sum = sum of E (finite sum, linearity)
            out += c * linear_form(sp.Sum(Expect(g.function, var, dens), (k, lo, hi)))
        elif isinstance(dens, NormalPDF) and dens.args[0] == var and _gaussian_moments(g, var, dens) is not None:
            out += c * _gaussian_moments(g, var, dens)
        elif isinstance(dens, DiagNormalPDF) and dens.marginal(g) is not None:
            out += c * _lin_expect(Expect(g, *dens.marginal(g)))  # a function of z_d integrates against q_d
        elif isinstance(var, sp.Symbol) and not isinstance(dens, DiagNormalPDF):
            # E_q f = integral of q f over the space of var: expectations under different densities compare
            out += c * _lin_integral(sp.Integral(dens * g, (var, -sp.oo, sp.oo)))
        else:
            out += c * Expect(g, var, dens)
    return out


def _canonical_sum(g: sp.Expr, k, lo, hi) -> sp.Sum:
    """``Sum(g, (k, lo, hi))`` with its index renamed by nesting height, so equal sums written with different
    letters (or reached by different routes) are one atom."""
    inner = [int(str(t.limits[0][0]).split("_")[-1]) for t in g.atoms(sp.Sum) if str(t.limits[0][0]).startswith("iota_")]
    canon = sp.Symbol(f"iota_{1 + max(inner or [0])}", integer=True)
    if canon != k and not g.has(canon):
        g, k = g.xreplace({k: canon}), canon
    return sp.Sum(g, (k, lo, hi))


def _lin_sum(e: sp.Sum) -> sp.Expr:
    if len(e.limits) != 1:
        return e
    k, lo, hi = e.limits[0]
    f = _expand_logs(linear_form(e.function))
    out = sp.Integer(0)
    for c, g in _split(f, k):
        if g == 1:
            out += c * (hi - lo + 1)  # sum of a constant
        else:
            out += c * _canonical_sum(g, k, lo, hi)
    return out


def _lin_integral(e: sp.Integral) -> sp.Expr:
    if len(e.limits) != 1 or len(e.limits[0]) == 2:
        return e
    lim = e.limits[0]
    var = lim[0]
    if len(lim) == 1:  # an integral over the whole space, written without limits
        lim = (var, -sp.oo, sp.oo)
    whole = lim[1] == -sp.oo and lim[2] == sp.oo
    f = _expand_logs(linear_form(e.function))
    out = sp.Integer(0)
    for c, g in _split(f, var):
        summed = _sum_factor(g, var)
        if whole and is_density_of(g, var):
            out += c  # a density of var integrates to 1 over the whole space (not over a part of it)
        elif summed is not None:
            # a finite sum and an integral commute: int (sum_m a_m) b dz = sum_m int a_m b dz (b free of m)
            s, rest = summed
            m, lo, hi = s.limits[0]
            fresh = sp.Dummy("m", integer=True)
            out += c * linear_form(sp.Sum(sp.Integral(s.function.xreplace({m: fresh}) * rest, lim), (fresh, lo, hi)))
        else:
            out += c * sp.Integral(g, lim)
    return out


def _sum_factor(g: sp.Expr, var):
    """``(Sum, rest)`` when ``g`` is a finite sum whose summand depends on ``var`` (times a rest), else None."""
    for s in sp.Mul.make_args(g):
        if isinstance(s, sp.Sum) and len(s.limits) == 1 and len(s.limits[0]) == 3 and s.function.has(var) \
                and not any(b.has(var) for b in s.limits[0][1:]):
            return s, g / s
    return None


def _lin_limit(e: sp.Limit) -> sp.Expr:
    r"""A limit: moved inside an expectation under a declared density free of the limit's variable (dominated
    convergence, a stated hypothesis; :func:`_limit_inside`); kept as an opaque atom around any other integral;
    else evaluated (a polynomial by substitution, anything else by SymPy's ``limit``)."""
    body, var, point = e.args[0], e.args[1], e.args[2]
    if isinstance(body, Expect):
        body = sp.Integral(body.dens * body.expr, (body.var, -sp.oo, sp.oo))
    moved = _limit_inside(body, var, point)
    if moved is not None:
        return linear_form(moved)
    if body.has(Expect, sp.Integral):
        return e  # no rule moves a limit inside any other integral: the limit stays an opaque atom
    inner = sp.expand(linear_form(body))
    if point.is_finite and inner.is_polynomial(var):
        return linear_form(inner.subs(var, point))  # a polynomial in var is continuous
    try:
        done = sp.Limit(inner, var, point).doit()
    except (NotImplementedError, ValueError, TypeError):  # SymPy cannot decide it (a sign it does not know)
        return e
    return e if done == e or done.has(sp.Limit) else linear_form(done)


def _full_space(lim: tuple) -> bool:
    return len(lim) == 1 or (len(lim) == 3 and lim[1] == -sp.oo and lim[2] == sp.oo)


def _limit_inside(body: sp.Basic, var, point):
    """``Integral(phi(eps) g, eps over the whole line)`` with ``phi`` a declared density of ``eps`` free of the
    limit's variable -> ``Integral(phi(eps) Limit(g), ...)``; None for any other integral (no rule moves the
    limit)."""
    if isinstance(body, sp.Add):  # a sum of integrals over the same variable: one integral of the sum
        parts = []
        for t in body.args:
            ints = [a for a in sp.Mul.make_args(t) if isinstance(a, sp.Integral)]
            if len(ints) != 1:
                return None
            c = t / ints[0]
            if c.free_symbols & set(ints[0].variables):
                return None
            parts.append((c, ints[0]))
        lims = {i.limits for _, i in parts}
        if len(lims) != 1:
            return None
        body = sp.Integral(sp.Add(*[c * i.function for c, i in parts]), *lims.pop())
    if not (isinstance(body, sp.Integral) and len(body.limits) == 1 and _full_space(body.limits[0])):
        return None
    eps = body.limits[0][0]
    if eps == var or not permitted("limit"):
        return None  # dominated convergence must be a stated hypothesis of the theorem
    terms = sp.Add.make_args(body.function)
    for f in sp.Mul.make_args(terms[0]):
        if density_vars(type(f)) == 1 and f.args[0] == eps and not f.has(var) \
                and not any(a.has(eps) for a in f.args[1:]) and all(f in sp.Mul.make_args(t) for t in terms):
            rest = sp.Add(*[t / f for t in terms])
            return sp.Integral(f * sp.Limit(rest, var, point), body.limits[0])
    return None


_PERMITS: contextvars.ContextVar = contextvars.ContextVar("permits", default=frozenset())


@contextmanager
def permits(rules: dict | None):
    """Within the block, the rules unlocked by the identity's stated hypotheses (``PERMIT_*`` sentinels of
    :mod:`derivations.steps` among ``rules``) may be applied."""
    names = frozenset(n for n, k in (("leibniz", PERMIT_LEIBNIZ), ("limit", PERMIT_LIMIT)) if (rules or {}).get(k))
    token = _PERMITS.set(names)
    try:
        yield
    finally:
        _PERMITS.reset(token)


def permitted(name: str) -> bool:
    """Is the rule ``name`` (``"leibniz"``: under an integral over an infinite interval; ``"limit"``: a limit
    inside an expectation) unlocked by a stated hypothesis in the current proof?"""
    return name in _PERMITS.get()


def leibniz(e: sp.Derivative):
    r"""Leibniz's rule for ``Derivative(Integral | Expect | Sum, theta)``, or None where it does not apply.

    :math:`\frac{d}{d\theta} \int_{a(\theta)}^{b(\theta)} f\, dz = \int_a^b \partial_\theta f\, dz
    + f(b)\, b'(\theta) - f(a)\, a'(\theta)` (the boundary terms vanish for limits free of :math:`\theta`; an
    infinite limit is free of it).  Only a first derivative in one variable, of one integral or finite sum whose
    integration variable is not :math:`\theta`, and whose integrand has no kink or jump in :math:`\theta`.  Over
    an infinite interval (an expectation included) the exchange needs a dominating integrable bound on
    :math:`\partial_\theta f`: the rule applies only when the identity states the hypothesis
    :data:`derivations.steps.LEIBNIZ` (see :func:`permits`).
    """
    inner = e.expr
    if len(e.variable_count) != 1 or e.variable_count[0][1] != 1:
        return None
    theta = e.variable_count[0][0]
    infinite = isinstance(inner, Expect) or (isinstance(inner, sp.Integral) and any(
        len(lim) == 1 or not (lim[1].is_finite and lim[2].is_finite) for lim in inner.limits))
    if infinite and not permitted("leibniz"):
        return None  # over an infinite interval the exchange needs a dominating bound: a stated hypothesis
    kinks = (sp.Piecewise, sp.Heaviside, sp.Abs, sp.Max, sp.Min, sp.sign, sp.floor, sp.ceiling, sp.DiracDelta)
    if any(isinstance(t, kinks) and t.has(theta) for t in sp.preorder_traversal(inner)):
        return None  # an integrand with a kink or a jump in theta: no differentiation under the integral sign
    if isinstance(inner, Expect):
        if inner.var == theta:
            return None
        inner = sp.Integral(inner.dens * inner.expr, (inner.var, -sp.oo, sp.oo))
    if len(inner.limits) != 1:
        return None
    lim = inner.limits[0]
    v = lim[0]
    if v == theta:
        return None
    if isinstance(inner, sp.Sum):
        if any(b.has(theta) for b in lim[1:]):
            return None  # a sum whose number of terms moves with theta has no derivative
        return sp.Sum(sp.diff(inner.function, theta), lim)
    body = sp.diff(inner.function, theta)
    if len(lim) == 1:
        return sp.Integral(body, lim)
    lo, hi = lim[1], lim[2]
    out = sp.Integral(body, lim)
    for bound, sign in ((hi, 1), (lo, -1)):
        if bound.has(theta):
            if not bound.is_finite and bound.is_finite is not None:
                continue
            out += sign * inner.function.xreplace({v: bound}) * sp.diff(bound, theta)
    return out


def linear_form(e: sp.Basic) -> sp.Basic:
    """Apply linearity, constants-out, normalization, Gaussian moments and the sum rules everywhere in ``e``.

    Witnesses are expanded first.  The result is a sum of coefficients times atoms (expectations, sums,
    integrals of coefficient-free integrands) that :mod:`derivations.engine` compares term by term.
    """
    e = expand_witnesses(e)
    if isinstance(e, sp.log) and e.args[0].has(NormalPDF, DiagNormalPDF):
        return linear_form(_expand_logs(e))
    if isinstance(e, Expect):
        return _lin_expect(e)
    if isinstance(e, sp.Sum):
        return _lin_sum(e)
    if isinstance(e, sp.Integral):
        return _lin_integral(e)
    if isinstance(e, sp.Limit):
        return _lin_limit(e)
    if isinstance(e, sp.Derivative) and isinstance(e.expr, (sp.Integral, Expect, sp.Sum)):
        moved = leibniz(e)  # differentiation under the integral sign, boundary terms included
        if moved is not None:
            return linear_form(moved)
    elif isinstance(e, sp.Derivative):
        try:
            done = e.doit()  # a derivative of a known expression: the chain rule (SymPy)
        except (NotImplementedError, ValueError, TypeError):
            done = e
        if done != e:
            return linear_form(done)
    if not e.args or isinstance(e, (sp.Indexed, sp.IndexedBase)):
        return e
    new = [linear_form(a) for a in e.args]
    return e.func(*new) if any(n is not a for n, a in zip(new, e.args)) else e

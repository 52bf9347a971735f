r"""The proof machinery shared by every identity: steps, proofs, numeric checks.

An identity is a chain of SymPy expressions

.. math::  e_0 \;R_1\; e_1 \;R_2\; e_2 \cdots e_n, \qquad R_i \in \{=, \ge, \le\},

each :class:`Step` carrying a one-line justification.  :meth:`Identity.prove` checks every link:

* ``=`` : the residual :math:`e_{i-1} - e_i` is reduced to ``0`` by :func:`reduces_to_zero` -- never a bare
  ``==`` (which compares structure, as in SymPy's own tests).  Integrals/expectations over the same variable
  are compared through their integrands (differentiation under the integral sign allowed); otherwise
  integrals, expectations, limits and derivatives are evaluated.  The residual is then put in a normal form
  (every log argument factored into irreducible polynomials, logs expanded, coefficients cancelled exactly
  in the field of rational functions), with ``simplify`` as the last resort;
* ``>=`` / ``<=`` : the difference is shown non-negative, either directly by SymPy's assumption system
  or through a *witness* :math:`W` with :math:`e_{i-1} - e_i - W \equiv 0` and :math:`W \ge 0` by
  assumptions.  Witnesses are built from :class:`GibbsG`, :math:`G(t) = t - 1 - \log t \ge 0`
  (:math:`t>0`), proved once by convexity (:func:`gibbs_lemma_steps`); or, for a univariate difference,
  by a convexity certificate (``var=``): positive second derivative, value at every stationary point
  non-negative.

Each symbolic verdict is backed by evaluation at random points (positive values for positive symbols),
as SymPy's tests do; a failed link reports a numeric counterexample when one is found.

Finally the *statement* (what the book and the scenes render with ``sympy.latex``) is tied to the chain:
after substituting its display symbols by their definitions, its left side must reduce to the first step
and its right side to the last one.  So the formula shown is the formula proved.

Numeric checks return :class:`NumericResult`; their tolerances follow from standard errors
(``Z_TOL = 4`` standard errors plus a floating-point floor, see :func:`within`).
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import sympy as sp

__all__ = [
    "Step",
    "Derivation",
    "ProofResult",
    "NumericResult",
    "Identity",
    "GibbsG",
    "UnknownIdentityError",
    "reduces_to_zero",
    "gibbs_lemma_steps",
    "within",
    "Z_TOL",
    "make_identity",
    "normal_rv",
    "E",
]

#: Monte Carlo tolerance, in standard errors.  With a fixed seed the checks are deterministic; 4 SE
#: means a correct identity would fail with probability about 6e-5 under a fresh seed.
Z_TOL = 4.0


class UnknownIdentityError(KeyError):
    """Raised by :func:`derivations.get_identity` for a name not in the registry; lists the known names."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown identity"


class GibbsG(sp.Function):
    r"""The Gibbs function :math:`G(t) = t - 1 - \log t`, non-negative for :math:`t > 0`, zero iff :math:`t = 1`.

    Used as a witness for inequalities (Jensen, Gibbs, KL >= 0).  SymPy's assumption system is told
    :math:`G(t) \ge 0` for positive ``t``; that fact is itself proved by :func:`gibbs_lemma_steps`.
    """

    @classmethod
    def eval(cls, t):
        if t == 1:
            return sp.Integer(0)
        return None

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


def expand_gibbs(expr: sp.Expr) -> sp.Expr:
    r"""Replace every :math:`G(t)` by :math:`t - 1 - \log t`."""
    return expr.replace(GibbsG, lambda t: t - 1 - sp.log(t))


@dataclass(frozen=True)
class Step:
    r"""One link of a derivation.

    Attributes:
        expr: the SymPy expression after this step.
        why: one-line justification (rendered beside the step in the book).
        rel: relation of the *previous* expression to this one: ``"="``, ``">="`` or ``"<="``
            (ignored on the first step).
        witness: for ``">="``/``"<="``, an expression ``W`` with ``(larger - smaller) - W == 0`` and ``W >= 0``
            by SymPy's assumptions (e.g. a positive combination of :class:`GibbsG` terms and squares).
        var: for an inequality without witness, a symbol in which the difference is convex; the proof then
            checks the second derivative is positive and the value at each stationary point is >= 0.
    """

    expr: sp.Expr
    why: str
    rel: str = "="
    witness: Optional[sp.Expr] = None
    var: Optional[sp.Symbol] = None


@dataclass(frozen=True)
class Derivation:
    """A labelled chain of steps; an identity has a main derivation and optional side derivations."""

    label: str
    steps: list


@dataclass(frozen=True)
class ProofResult:
    """Outcome of :meth:`Identity.prove`.

    Attributes:
        ok: every link of every derivation checked, and the statement matches the main chain.
        failed_step: index (into the failing derivation's steps) of the first step that does not follow,
            ``None`` if ok or if the failure is in the statement itself.
        message: human-readable verdict; on failure names the derivation, the step, its justification and
            the unreduced residual (and a numeric counterexample when one was found).
    """

    ok: bool
    failed_step: Optional[int]
    message: str
    derivation: str = "main"


@dataclass(frozen=True)
class NumericResult:
    """Outcome of :meth:`Identity.check`: an estimate (Monte Carlo or quadrature) against a closed form.

    Attributes (nats unless the message says otherwise):
        ok: every numeric claim held within its tolerance.
        estimate: the headline estimate; se: its standard error (0 for quadrature);
        exact: the closed-form value it is compared with; tol: the tolerance used (``Z_TOL * se`` + floor).
        message: the headline comparison and every sub-check, one per clause.
    """

    ok: bool
    estimate: float
    se: float
    exact: float
    tol: float
    message: str


def within(estimate: float, se: float, exact: float, floor: float = 1e-9) -> tuple[bool, float]:
    r"""Is ``|estimate - exact| <= Z_TOL * se + floor * (1 + |exact|)``?  Returns ``(ok, tol)``.

    The floor absorbs floating-point round-off for zero-variance (or quadrature) estimates.
    """
    tol = Z_TOL * float(se) + floor * (1.0 + abs(float(exact)))
    return bool(abs(float(estimate) - float(exact)) <= tol), float(tol)


# ---------------------------------------------------------------------------------------------------------
# Reducing residuals
# ---------------------------------------------------------------------------------------------------------

def _evaluate(expr: sp.Expr) -> sp.Expr:
    """Evaluate unevaluated objects (Expectation, Integral, Limit, Derivative, Sum) and expand G."""
    expr = expand_gibbs(expr)
    if expr.has(sp.Derivative, sp.Integral, sp.Limit, sp.Sum, sp.Subs) or _has_stats(expr):
        expr = expr.doit()
    return expr


def _has_stats(expr: sp.Expr) -> bool:
    from sympy.stats.rv import RandomSymbol  # local: sympy.stats is imported lazily

    return bool(expr.atoms(RandomSymbol)) or any(type(a).__name__ == "Expectation" for a in sp.preorder_traversal(expr))


def _log_of_rational(n: sp.Rational) -> sp.Expr:
    n = sp.Rational(n)
    fac = {**sp.factorint(n.p), **{k: -v for k, v in sp.factorint(n.q).items()}}
    return sp.Add(*[v * sp.log(k) for k, v in fac.items() if k != 1]) if fac else sp.Integer(0)


def _expanded_log(arg: sp.Expr) -> sp.Expr:
    """``log(arg)`` as a sum of logs of irreducible polynomial factors (and of primes for the constant).

    Built as a sum directly, because SymPy would re-distribute a numeric factor over a sum inside the log.
    """
    if arg.is_Rational:
        return _log_of_rational(arg)
    num, den = sp.fraction(sp.together(arg))
    out = sp.Integer(0)
    for part, sign in ((num, 1), (den, -1)):
        coeff, factors = sp.factor_list(part)
        if coeff.is_Rational:
            out += sign * _log_of_rational(abs(coeff))
            if coeff < 0:
                out += sign * sp.log(-1)
        else:
            out += sign * sp.log(coeff)
        for fac, e in factors:
            out += sign * e * sp.log(fac)
    return out


def _log_rational_zero(d: sp.Expr) -> Optional[bool]:
    r"""Zero test for sums of (rational function) x (products of logs).

    Every log argument is factored into irreducible polynomials and the logs expanded, so each log atom is
    the log of an irreducible factor; the residual is then a polynomial in those atoms whose coefficients are
    rational functions, and it is zero if every coefficient cancels to 0 in the field of rational functions
    (exact polynomial arithmetic, no heuristics).  Returns None when the expression is outside this class.
    """
    from collections import defaultdict

    try:
        e = d.replace(lambda t: isinstance(t, sp.log), lambda t: _expanded_log(t.args[0]))
        logs = sorted(e.atoms(sp.log), key=sp.default_sort_key)
        consts = [c for c in (sp.pi, sp.E) if e.has(c)]
        dums = [sp.Dummy() for _ in logs]
        e = e.xreplace(dict(zip(logs, dums)))
        cd = [sp.Dummy() for _ in consts]
        e = sp.expand_mul(e.xreplace(dict(zip(consts, cd))))
        groups = defaultdict(list)
        for term in sp.Add.make_args(e):
            rest, dpart = term.as_independent(*dums, as_Add=False)
            groups[dpart].append(rest)
        for rests in groups.values():
            syms = sorted(sp.Add(*rests).free_symbols, key=sp.default_sort_key)
            if not syms:
                if sp.nsimplify(sp.Add(*rests)) != 0:
                    return False
                continue
            field = sp.QQ.frac_field(*syms)
            if sum((field.from_sympy(t) for t in rests), field.zero) != field.zero:
                return False
        return True
    except Exception:  # outside the class (sqrt, exp of symbols, ...): let the caller try simplify
        return None


def _cheap_zero(d: sp.Expr, thorough: bool = True) -> bool:
    if d == 0:
        return True
    if sp.expand(d) == 0:
        return True
    verdict = _log_rational_zero(d)  # also decides plain rational functions
    if verdict is not None:
        return verdict
    if not thorough:
        return False
    for f in (
        lambda e: sp.expand(e),
        lambda e: sp.expand(sp.expand_log(e, force=True)),
        lambda e: sp.cancel(sp.expand(sp.expand_log(e, force=True))),
        lambda e: sp.simplify(sp.expand_log(e, force=True)),
    ):
        try:
            if f(d) == 0:
                return True
        except Exception:  # pragma: no cover - SymPy internals
            continue
    return False


def _integrands_match(a: sp.Expr, b: sp.Expr) -> bool:
    """``Integral(f) = Integral(g)`` over the same variable and limits when ``f - g`` reduces to 0."""
    a, b = _to_integral(a), _to_integral(b)
    if not (isinstance(a, sp.Integral) and isinstance(b, sp.Integral)) or len(a.limits) != len(b.limits):
        return False
    fb = b.function
    for (va, *la), (vb, *lb) in zip(a.limits, b.limits):
        if la != lb:
            return False
        fb = fb.subs(vb, va)  # rename the dummy variable (an Expectation's density uses its own symbol)
    fa = a.function
    if fa.has(sp.exp):
        # products of exponentials (densities): compare logarithms, which turns them into sums; a sign
        # difference leaves log(-1) = i*pi behind, so this cannot equate f and -f
        la, lb = sp.expand_log(sp.log(fa), force=True), sp.expand_log(sp.log(fb), force=True)
        if _cheap_zero(la - lb, thorough=False):
            return True
    return _cheap_zero(fa - fb)


def _to_integral(e: sp.Expr) -> sp.Expr:
    """Expectation -> Integral against its density; Derivative(Integral) -> Integral(Derivative) (Leibniz)."""
    if type(e).__name__ == "Expectation":
        e = e.rewrite(sp.Integral)
    if isinstance(e, sp.Derivative) and isinstance(e.expr, sp.Integral):
        inner = e.expr
        return sp.Integral(sp.diff(inner.function, *e.variables), *inner.limits)
    if isinstance(e, sp.Mul):
        ints = [f for f in e.args if isinstance(f, sp.Integral)]
        if len(ints) == 1:
            inner = ints[0]
            coef = sp.Mul(*[f for f in e.args if f is not inner])
            if not (coef.free_symbols & set(inner.variables)):
                return sp.Integral(coef * inner.function, *inner.limits)  # a constant moves inside
    return e


def reduces_to_zero(d: sp.Expr, a: sp.Expr | None = None, b: sp.Expr | None = None) -> bool:
    r"""Does the residual ``d`` reduce to 0?

    Tries, in order: cheap algebraic reduction of ``d``; equality of integrands when ``a`` and ``b`` are
    integrals (or expectations) over the same variable (differentiation under the integral sign allowed);
    then full evaluation (integrals, expectations, limits, derivatives) followed by ``simplify``.
    """
    d = expand_gibbs(d)
    if d.has(sp.Integral, sp.Derivative, sp.Limit, sp.Sum, sp.Subs) or _has_stats(d):
        if a is not None and b is not None and _integrands_match(a, b):
            return True
        try:
            d = _evaluate(d)
        except Exception:  # pragma: no cover
            return False
    if _spot_check(d, "zero", trials=2, seed=12345) is not None:
        return False  # a numeric counterexample disproves the link; no need to simplify
    return _cheap_zero(d)


def _random_point(expr: sp.Expr, rng: random.Random) -> dict:
    point = {}
    for s in expr.free_symbols:
        if s.is_positive:
            point[s] = sp.Float(rng.uniform(0.2, 3.0))
        elif s.is_nonnegative:
            point[s] = sp.Float(rng.uniform(0.0, 3.0))
        else:
            point[s] = sp.Float(rng.uniform(-2.0, 2.0))
    return point


def _numeric_value(expr: sp.Expr, point: dict) -> Optional[float]:
    """Evaluate at ``point`` with 30-digit mpmath arithmetic (lambdify: much faster than ``evalf(subs=)``)."""
    import mpmath

    syms = sorted(point, key=sp.default_sort_key)
    try:
        fn = sp.lambdify(syms, expand_gibbs(expr), modules="mpmath")
        with mpmath.workdps(30):
            v = complex(fn(*[mpmath.mpf(str(point[k])) for k in syms]))
    except Exception:
        return None
    if abs(v.imag) > 1e-9 * (1 + abs(v.real)):
        return None
    return v.real


def _spot_check(d: sp.Expr, kind: str, trials: int = 4, seed: int = 0) -> Optional[str]:
    """Evaluate residual ``d`` at random points.  ``kind`` is ``"zero"`` or ``"nonneg"``.

    Returns a counterexample description, or None if none was found (or the expression cannot be
    evaluated numerically, e.g. an unevaluated integral).
    """
    rng = random.Random(seed)
    if _has_stats(d) or d.has(sp.Integral, sp.Limit):
        return None  # evaluating those numerically is not cheap; the symbolic verdict stands
    for _ in range(trials):
        point = _random_point(d, rng)
        v = _numeric_value(d, point)
        if v is None:
            continue
        bad = abs(v) > 1e-8 * (1 + abs(v)) if kind == "zero" else v < -1e-9
        if bad:
            pt = ", ".join(f"{k}={float(val):.3g}" for k, val in sorted(point.items(), key=lambda kv: kv[0].name))
            return f"residual = {v:.6g} at {pt}"
    return None


def _reduced(d: sp.Expr) -> sp.Expr:
    """Best-effort simplified residual, for failure messages."""
    try:
        e = _evaluate(d)
        if e.has(sp.log):
            e = e.replace(lambda t: isinstance(t, sp.log), lambda t: _expanded_log(t.args[0]))
        return sp.expand(e)  # cheap on purpose: simplify() on a wrong step can take seconds
    except Exception:  # pragma: no cover
        return d


def _convex_nonneg(d: sp.Expr, var: sp.Symbol) -> bool:
    """Certificate: d'' > 0 in ``var`` (assumptions) and d >= 0 at every stationary point."""
    d = expand_gibbs(d)
    second = sp.simplify(sp.diff(d, var, 2))
    if second.is_positive is not True:
        return False
    crit = sp.solve(sp.Eq(sp.diff(d, var), 0), var)
    if not crit:
        return False
    for c in crit:
        val = sp.simplify(d.subs(var, c))
        if not (val == 0 or val.is_nonnegative is True):
            return False
    return True


def _nonneg(d: sp.Expr, witness: Optional[sp.Expr], var: Optional[sp.Symbol]) -> bool:
    if witness is not None:
        if not reduces_to_zero(d - witness):
            return False
        return witness.is_nonnegative is True
    if d.is_nonnegative is True or sp.simplify(d).is_nonnegative is True:
        return True
    if var is not None:
        return _convex_nonneg(d, var)
    return False


_LINK_CACHE: dict = {}


def check_link(prev: Step, step: Step, seed: int = 0) -> tuple[bool, str]:
    """Check one link ``prev.expr  step.rel  step.expr``.  Returns ``(ok, detail)``.

    Verdicts are memoized on the (structural) link, so a wrong twin that shares its first links with the
    true identity does not redo them.
    """
    key = (prev.expr, step.expr, step.rel, step.witness, step.var, seed)
    try:
        return _LINK_CACHE[key]
    except (KeyError, TypeError):
        pass
    out = _check_link(prev, step, seed)
    try:
        _LINK_CACHE[key] = out
    except TypeError:  # pragma: no cover - unhashable expression
        pass
    return out


def _check_link(prev: Step, step: Step, seed: int = 0) -> tuple[bool, str]:
    a, b = prev.expr, step.expr
    if step.rel == "=":
        d = a - b
        ok = reduces_to_zero(d, a, b)
        cex = _spot_check(d, "zero", seed=seed)
        if ok and cex:
            return False, f"SymPy reduced the residual to 0 but a numeric spot check disagrees: {cex}"
        if not ok:
            shown = sp.sstr(_reduced(d))
            shown = shown if len(shown) < 300 else shown[:297] + "..."
            return False, f"residual does not reduce to 0: {shown}" + (f"; counterexample: {cex}" if cex else "")
        return True, "ok"
    if step.rel in (">=", "<="):
        d = a - b if step.rel == ">=" else b - a
        ok = _nonneg(d, step.witness, step.var)
        cex = _spot_check(d, "nonneg", seed=seed)
        if ok and cex:
            return False, f"non-negativity 'proved' but a numeric spot check disagrees: {cex}"
        if not ok:
            how = "witness does not match or is not non-negative" if step.witness is not None else "non-negativity not proved"
            return False, f"{how}" + (f"; counterexample: {cex}" if cex else "")
        return True, "ok"
    return False, f"unknown relation {step.rel!r}"


def prove_chain(steps: list, label: str = "main") -> ProofResult:
    """Check every link of a chain; report the first failing step with its justification."""
    if not steps:
        return ProofResult(False, None, f"[{label}] empty derivation", label)
    for i in range(1, len(steps)):
        ok, detail = check_link(steps[i - 1], steps[i], seed=i)
        if not ok:
            msg = f"[{label}] step {i} ('{steps[i].why}') does not follow from step {i - 1}: {detail}"
            return ProofResult(False, i, msg, label)
    return ProofResult(True, None, f"[{label}] {len(steps) - 1} links checked", label)


def chain_relation(steps: list) -> str:
    """The relation a chain proves between its first and last expressions: '=', '>=' or '<='."""
    rels = {s.rel for s in steps[1:]} - {"="}
    if not rels:
        return "="
    if len(rels) == 1:
        return rels.pop()
    return "mixed"


# ---------------------------------------------------------------------------------------------------------
# The Gibbs lemma
# ---------------------------------------------------------------------------------------------------------

def gibbs_lemma_steps() -> list:
    r"""Proof that :math:`G(t) = t - 1 - \log t \ge 0` for :math:`t > 0` (equality iff :math:`t = 1`).

    Convexity certificate: :math:`G''(t) = 1/t^2 > 0`, the only stationary point is :math:`t = 1`,
    where :math:`G(1) = 0`.  Equivalently :math:`\log y \le \log m + (y - m)/m`, the tangent line of the
    concave logarithm (UDL fig. 17.4).
    """
    t = sp.Symbol("t", positive=True)
    return [
        Step(t - 1 - sp.log(t), "the Gibbs function G(t)"),
        Step(sp.Integer(0), "convex (G'' = 1/t^2 > 0) with its only stationary point t = 1, G(1) = 0", rel=">=", var=t),
    ]


# ---------------------------------------------------------------------------------------------------------
# Identity
# ---------------------------------------------------------------------------------------------------------

@dataclass
class Identity:
    r"""One ELBO identity: statement, derivation(s), numeric check and wrong twins.

    ``build`` is called once, lazily, and returns a dict with keys ``statement`` (a SymPy relational over
    display symbols), ``definitions`` (display symbol -> concrete expression), ``steps`` (the main chain)
    and optionally ``side`` (a list of :class:`Derivation`).  ``check_fn(seed) -> NumericResult``.
    ``twin_factories`` build the wrong twins (themselves :class:`Identity` objects) on first access.
    Nothing heavy runs at construction time.
    """

    name: str
    title: str
    source: str
    build: Callable[[], dict] = field(repr=False)
    check_fn: Callable[[int], NumericResult] = field(repr=False)
    twin_factories: list = field(default_factory=list, repr=False)
    mistake: str = ""  # for wrong twins: what the plausible mistake is
    _built: Optional[dict] = field(default=None, init=False, repr=False)
    _twins: Optional[list] = field(default=None, init=False, repr=False)

    def _get(self) -> dict:
        if self._built is None:
            self._built = self.build()
        return self._built

    @property
    def statement(self) -> sp.Basic:
        """SymPy relational (``Eq``, ``GreaterThan``...) to render with ``sympy.latex``."""
        return self._get()["statement"]

    @property
    def definitions(self) -> dict:
        """Display symbol -> concrete expression, as substituted when the statement is tied to the chain."""
        return self._get().get("definitions", {})

    @property
    def steps(self) -> list:
        """The main derivation: ``list[Step]``."""
        return self._get()["steps"]

    @property
    def side(self) -> list:
        """Side derivations (``list[Derivation]``): lemmas, equality cases, a second model."""
        return self._get().get("side", [])

    @property
    def derivations(self) -> list:
        """All derivations, main first."""
        return [Derivation("main", self.steps)] + list(self.side)

    @property
    def wrong_twins(self) -> list:
        """Plausible mistakes (``list[Identity]``) that :meth:`prove` and :meth:`check` must reject."""
        if self._twins is None:
            self._twins = [f() for f in self.twin_factories]
        return self._twins

    def prove(self) -> ProofResult:
        """Check every derivation link and tie the statement to the main chain.  Never raises on a bad step."""
        try:
            for der in self.derivations:
                res = prove_chain(der.steps, der.label)
                if not res.ok:
                    return res
            return self._prove_statement()
        except Exception as exc:  # a SymPy crash is a failed proof, reported, not a traceback
            return ProofResult(False, None, f"proof raised {type(exc).__name__}: {exc}")

    def _prove_statement(self) -> ProofResult:
        st = self.statement
        defs = self.definitions
        steps = self.steps
        rel = chain_relation(steps)
        kinds = {sp.Eq: "=", sp.GreaterThan: ">=", sp.LessThan: "<="}
        st_rel = kinds.get(type(st))
        if st_rel is None:
            return ProofResult(False, None, f"statement is not an Eq/>=/<= relational: {st}")
        lhs, rhs = st.lhs.subs(defs), st.rhs.subs(defs)
        if st_rel != rel:
            return ProofResult(False, None, f"statement relation '{st_rel}' but the chain proves '{rel}'")
        first, last = Step(lhs, "statement lhs"), Step(rhs, "statement rhs")
        ok1, d1 = check_link(first, Step(steps[0].expr, "first step"))
        ok2, d2 = check_link(last, Step(steps[-1].expr, "last step"))
        if not ok1:
            return ProofResult(False, 0, f"statement's left side is not step 0: {d1}")
        if not ok2:
            return ProofResult(False, len(steps) - 1, f"statement's right side is not the last step: {d2}")
        n = sum(len(d.steps) - 1 for d in self.derivations)
        return ProofResult(True, None, f"proved: {n} links in {len(self.derivations)} derivation(s); statement matches")

    def check(self, seed: int = 0) -> NumericResult:
        """Run the numeric check with a fixed seed.  Deterministic for a given seed."""
        return self.check_fn(seed)

    def latex(self) -> str:
        """``sympy.latex(self.statement)``."""
        return sp.latex(self.statement)


def make_identity(name: str, title: str, source: str, build: Callable, check: Callable, twins: dict) -> Identity:
    """Build an :class:`Identity` and its wrong twins from one builder and one checker.

    ``build(variant) -> dict`` and ``check(seed, variant) -> NumericResult`` are called with
    ``variant=None`` for the true identity and with each key of ``twins`` (variant -> description of the
    mistake) for the wrong twins, so the twins go through *the same* proof machinery and numeric check.
    Twins are named ``"<name>~<variant>"``.
    """

    def make(variant=None) -> Identity:
        return Identity(
            name=name if variant is None else f"{name}~{variant}",
            title=title if variant is None else f"WRONG: {twins[variant]}",
            source=source,
            build=lambda: build(variant),
            check_fn=lambda seed=0: check(seed, variant),
            twin_factories=[] if variant is not None else [lambda t=t: make(t) for t in twins],
            mistake="" if variant is None else twins[variant],
        )

    return make(None)


def normal_rv(name: str, mean, var):
    """A SymPy ``stats.Normal`` random symbol with the given mean and *variance*."""
    from sympy.stats import Normal

    return Normal(name, mean, sp.sqrt(var))


def E(expr):
    """Unevaluated expectation over the random symbols in ``expr`` (rendered as E[...])."""
    from sympy.stats import Expectation

    return Expectation(expr)


def timed(fn: Callable, *args, **kwargs):
    """Run ``fn`` and return ``(result, seconds)``."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0

r"""The proof engine: checks each link of a chain of SymPy expressions.

* ``=`` : the residual :math:`e_{i-1} - e_i` is reduced to ``0`` by :func:`reduces_to_zero` -- never a bare
  ``==`` (which compares structure, as in SymPy's own tests).  First the identity's *rules* (definitions of
  display symbols and model quantities, hypotheses such as :math:`\sum_k w_k = 1`) are substituted and the
  *linear normal form* of :mod:`derivations.expectation` is taken (linearity of expectations and sums,
  constants out, normalization of densities); every remaining expectation, sum, integral or unknown function is
  an opaque atom, and the residual must vanish as an expression in those atoms.  Failing that, expectations
  over the same variable are merged and compared pointwise, and (for worked instances) integrals,
  ``sympy.stats`` expectations, limits and derivatives are evaluated.  The residual is then put in a normal form
  (every log argument factored into irreducible polynomials, logs expanded, coefficients cancelled exactly
  in the field of rational functions), with ``simplify`` as the last resort;
* ``>=`` / ``<=`` : the difference is shown non-negative, either directly by SymPy's assumption system
  or through a *witness* :math:`W` with :math:`e_{i-1} - e_i - W \equiv 0` and :math:`W \ge 0`
  (:func:`known_nonnegative`: sums, products, expectations and sums of witnesses of :mod:`derivations.witnesses`);
  or, for a univariate difference, by a convexity certificate (``var=``): positive second derivative, value at
  every stationary point non-negative.

Logs are split only over factors known positive (:func:`derivations.positivity.safe_expand_log`): densities,
positive symbols, weights; a log of a real quantity of unknown sign stays one atom.

Each symbolic verdict is backed by evaluation at random points (positive values for positive symbols; opaque
atoms become random numbers with their assumptions), as SymPy's tests do; a failed link reports a numeric
counterexample when one is found.
"""
from __future__ import annotations

import random
from collections import defaultdict
from functools import lru_cache
from typing import Optional

import sympy as sp
from sympy.core.function import AppliedUndef

from derivations.expectation import DiagNormalPDF, Expect, NormalPDF, density_vars, leibniz, linear_form, permits
from derivations.instances import Unevaluable, World, constraints_of, evaluate, outermost, refute_link
from derivations.steps import ProofResult, Step
from derivations.positivity import known_nonnegative, known_positive, safe_expand_log
from derivations.witnesses import GibbsFunction, Witness, expand_witnesses

__all__ = ["reduces_to_zero", "check_link", "prove_chain", "chain_relation", "apply_rules",
           "witness_nonnegative", "instance_check"]

# A limit is an atom too: replacing an integral inside it by a constant would hide its dependence on the
# limit's variable (lim_n c(n) * I(n) is not lim_n c(n) * I).
_ATOMS = (Expect, sp.Sum, sp.Integral, AppliedUndef, sp.Indexed, sp.Derivative, sp.Subs, NormalPDF, DiagNormalPDF,
          sp.Limit)


# ---------------------------------------------------------------------------------------------------------
# Algebraic zero test (rational functions of logs)
# ---------------------------------------------------------------------------------------------------------

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
    out, leftover = sp.Integer(0), sp.Integer(1)
    for part, sign in ((num, 1), (den, -1)):
        coeff, factors = sp.factor_list(part)
        if coeff.is_Rational and coeff > 0:
            out += sign * _log_of_rational(coeff)
        else:
            leftover *= coeff ** sign
        for fac, e in factors:
            if fac.is_positive is True or known_positive(fac):
                out += sign * e * sp.log(fac)  # log(P L) = log P + log L only for P > 0
            else:
                leftover *= fac ** (sign * e)  # factors of unknown sign stay together in one log
    return out + (sp.log(leftover) if leftover != 1 else 0)


def _log_rational_zero(d: sp.Expr) -> Optional[bool]:
    r"""Zero test for sums of (rational function) x (products of logs).

    Every log argument is factored into irreducible polynomials and the logs expanded, so each log atom is
    the log of an irreducible factor; the residual is then a polynomial in those atoms whose coefficients are
    rational functions, and it is zero if every coefficient cancels to 0 in the field of rational functions
    (exact polynomial arithmetic, no heuristics).  Returns None when the expression is outside this class.
    """
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
        lambda e: sp.expand(safe_expand_log(e)),
        lambda e: sp.cancel(sp.expand(safe_expand_log(e))),
        lambda e: sp.simplify(safe_expand_log(e)),
    ):
        try:
            if f(d) == 0:
                return True
        except Exception:  # pragma: no cover - SymPy internals
            continue
    return False


# ---------------------------------------------------------------------------------------------------------
# General proofs: rules, linear normal form, opaque atoms
# ---------------------------------------------------------------------------------------------------------

def apply_rules(e: sp.Basic, rules: dict) -> sp.Basic:
    """Substitute the identity's rules (display symbol or model quantity -> definition) until nothing changes.

    A rule whose left side is a sum (``Sum(w[k], (k, 1, K)) -> 1``) is matched in the linear normal form too.
    """
    e = sp.sympify(e)
    if rules and any(not isinstance(v, sp.Basic) or not isinstance(k, sp.Basic) for k, v in rules.items()):
        rules = {sp.sympify(k): sp.sympify(v) for k, v in rules.items()}  # a rule written with Python numbers
    if rules and any(isinstance(k, (sp.Sum, Expect)) for k in rules):
        rules = {**rules, **{linear_form(k): v for k, v in rules.items() if isinstance(k, (sp.Sum, Expect))}}
    for _ in range(6):
        new = e.xreplace(rules) if rules else e
        if new == e:
            return new
        e = new
    return e


def _general(e: sp.Basic) -> bool:
    return e.has(Expect, AppliedUndef, sp.Indexed, NormalPDF, DiagNormalPDF) or any(
        isinstance(s, sp.Sum) and not all(lim.is_number for lim in s.limits[0][1:]) for s in e.atoms(sp.Sum))


def _outer_atoms(e: sp.Basic) -> list:
    """The atoms of ``e`` not contained in another atom, outermost first."""
    return outermost(e, _ATOMS)


def _dummy_like(t: sp.Basic) -> sp.Dummy:
    if t.is_positive:
        return sp.Dummy(positive=True)
    if t.is_nonnegative:
        return sp.Dummy(nonnegative=True)
    if t.is_real:
        return sp.Dummy(real=True)
    return sp.Dummy()


def _atomize(e: sp.Basic) -> sp.Basic:
    """Replace each opaque atom by a dummy symbol carrying its assumptions (equal atoms share a dummy)."""
    atoms = _outer_atoms(e)
    return e.xreplace({a: _dummy_like(a) for a in atoms}) if atoms else e


def _zero_atomwise(d: sp.Basic, rules: dict) -> bool:
    lf = apply_rules(linear_form(apply_rules(d, rules)), rules)
    lf = apply_rules(linear_form(lf), rules)
    flat = _atomize(sp.expand(lf))
    if _spot_check(flat, "zero", trials=2, seed=7) is not None:
        return False
    return _cheap_zero(flat)


def _rename(t: sp.Basic, old, new) -> sp.Basic:
    return t.xreplace({old: new}) if old != new else t


def _zero_pointwise(d: sp.Basic, rules: dict) -> bool:
    """Rule 4: merge expectations/integrals over the same variable, and sums with the same limits, into one
    integrand (resp. summand) each; the residual is zero if every merged integrand is zero pointwise (checked
    with the indexed symbols as fresh symbols) and what is left is zero."""
    lf = sp.expand(apply_rules(linear_form(apply_rules(d, rules)), rules))
    groups: dict = defaultdict(lambda: sp.Integer(0))
    rest = sp.Integer(0)
    for term in sp.Add.make_args(lf):
        atoms = [a for a in sp.Mul.make_args(term) if isinstance(a, (Expect, sp.Integral, sp.Sum))]
        if len(atoms) != 1:
            rest += term
            continue
        a = atoms[0]
        coef = term / a
        if isinstance(a, Expect):
            if not isinstance(a.var, sp.Symbol):
                rest += term
                continue
            key, body = ("int", a.var, -sp.oo, sp.oo), a.dens * a.expr  # E_q f = the integral over the whole line
        elif isinstance(a, sp.Integral) and len(a.limits) == 1 and len(a.limits[0]) == 3:
            key, body = ("int",) + tuple(a.limits[0]), a.function  # integrals merge only over the same interval
        elif isinstance(a, sp.Sum) and len(a.limits) == 1:
            k, lo, hi = a.limits[0]
            key, body = ("sum", lo, hi), _rename(a.function, k, _STD_INDEX)
        else:
            rest += term
            continue
        if coef.has(key[1] if key[0] == "int" else _STD_INDEX):
            rest += term
            continue
        groups[key] += coef * body
    if not groups:
        return False
    for key, body in groups.items():
        if _zero_atomwise(_deindex(body), rules):
            continue
        terms = sp.Add.make_args(sp.expand(body))
        if len(terms) == 2 and _zero_atomwise(_deindex(sp.log(terms[0]) - sp.log(-terms[1])), rules):
            continue  # two products of densities: equal when their logs are (Gaussians complete the square)
        if not reduces_to_zero(_deindex(body), rules=rules):
            return False
    return _zero_atomwise(rest, rules) if rest != 0 else True


_STD_INDEX = sp.Symbol("k__", integer=True)


def _same_integrand(a, b, rules: dict) -> bool:
    """Two integrals over the same variable and limits with integrands equal pointwise (directly, or as logs
    of products of positive densities, e.g. Bayes' rule for Gaussians by completing the square)."""
    if a is None or b is None:
        return False
    a, b = apply_rules(a, rules), apply_rules(b, rules)
    if not (isinstance(a, sp.Integral) and isinstance(b, sp.Integral)) or a.limits != b.limits:
        return False
    fa, fb = a.function, b.function
    if _zero_atomwise(fa - fb, rules):
        return True
    return known_positive(fa) and known_positive(fb) and _zero_atomwise(sp.log(fa) - sp.log(fb), rules)


def _deindex(e: sp.Basic) -> sp.Basic:
    """Indexed symbols as fresh symbols with the base's assumptions (a summand zero for a generic index)."""
    idx = list(e.atoms(sp.Indexed))
    return e.xreplace({t: _dummy_like(t) for t in idx}) if idx else e


# ---------------------------------------------------------------------------------------------------------
# Instances: evaluation of integrals and sympy.stats expectations
# ---------------------------------------------------------------------------------------------------------

def _has_stats(expr: sp.Basic) -> bool:
    from sympy.stats.rv import RandomSymbol  # local: sympy.stats is imported lazily

    return bool(expr.atoms(RandomSymbol)) or any(type(a).__name__ == "Expectation" for a in sp.preorder_traversal(expr))


def _evaluate(expr: sp.Expr) -> sp.Expr:
    """Evaluate unevaluated objects (Expectation, Integral, Limit, Derivative, Sum) and expand witnesses."""
    expr = expand_witnesses(expr)
    if expr.has(sp.Derivative, sp.Integral, sp.Limit, sp.Sum, sp.Subs) or _has_stats(expr):
        expr = expr.doit()
    return expr


def _to_integral(e: sp.Expr) -> sp.Expr:
    """Expectation -> Integral against its density; Derivative(Integral) -> Integral(Derivative) (Leibniz)."""
    if type(e).__name__ == "Expectation":
        e = e.rewrite(sp.Integral)
    if isinstance(e, sp.Derivative) and isinstance(e.expr, sp.Integral):
        moved = leibniz(e)  # with the boundary terms; None where the rule does not apply
        return e if moved is None else moved
    if isinstance(e, sp.Mul):
        ints = [f for f in e.args if isinstance(f, sp.Integral)]
        if len(ints) == 1:
            inner = ints[0]
            coef = sp.Mul(*[f for f in e.args if f is not inner])
            if not (coef.free_symbols & set(inner.variables)):
                return sp.Integral(coef * inner.function, *inner.limits)  # a constant moves inside
    return e


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
        la, lb = safe_expand_log(sp.log(fa)), safe_expand_log(sp.log(fb))
        if _cheap_zero(la - lb, thorough=False):
            return True
    return _cheap_zero(fa - fb)


def reduces_to_zero(d: sp.Expr, a: sp.Expr | None = None, b: sp.Expr | None = None, rules: dict | None = None) -> bool:
    r"""Does the residual ``d`` reduce to 0 (after substituting ``rules``)?

    General route (expectations of unknown densities, symbolic sums, unknown functions): the linear normal form,
    atom by atom, then pointwise merging.  Instance route: equality of integrands when ``a`` and ``b`` are
    integrals (or expectations) over the same variable, then full evaluation followed by the log/rational
    normal form and ``simplify``.
    """
    rules = rules or {}
    d = apply_rules(d, rules)
    if _general(d):
        if _zero_atomwise(d, rules) or _zero_pointwise(d, rules) or _same_integrand(a, b, rules):
            return True
        if d.has(AppliedUndef, Expect):
            return False  # unknown densities cannot be evaluated
    d = expand_witnesses(d)
    if d.has(sp.Integral, sp.Derivative, sp.Limit, sp.Sum, sp.Subs) or _has_stats(d):
        if a is not None and b is not None and _integrands_match(apply_rules(a, rules), apply_rules(b, rules)):
            return True
        try:
            d = _evaluate(d)
        except Exception:  # pragma: no cover
            return False
    if _spot_check(d, "zero", trials=2, seed=12345) is not None:
        return False  # a numeric counterexample disproves the link; no need to simplify
    return _cheap_zero(d)


# ---------------------------------------------------------------------------------------------------------
# Numeric spot checks
# ---------------------------------------------------------------------------------------------------------

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
        fn = sp.lambdify(syms, expand_witnesses(expr), modules="mpmath")
        with mpmath.workdps(30):
            v = complex(fn(*[mpmath.mpf(str(point[k])) for k in syms]))
    except Exception:
        return None
    if abs(v.imag) > 1e-9 * (1 + abs(v.real)):
        return None
    return v.real


def _spot_check(d: sp.Expr, kind: str, trials: int = 4, seed: int = 0) -> Optional[str]:
    """Evaluate residual ``d`` at random points.  ``kind`` is ``"zero"`` or ``"nonneg"``.

    Opaque atoms (expectations, sums, unknown functions) become random numbers with their assumptions.
    Returns a counterexample description, or None if none was found (or the expression cannot be
    evaluated numerically, e.g. an unevaluated integral of a known density).
    """
    rng = random.Random(seed)
    if _has_stats(d) or d.has(sp.Limit):
        return None  # evaluating those numerically is not cheap; the symbolic verdict stands
    if d.has(sp.Integral) and not _general(d):
        return None
    d = _atomize(expand_witnesses(d)) if _general(d) else d
    for _ in range(trials):
        point = _random_point(d, rng)
        v = _numeric_value(d, point)
        if v is None:
            continue
        bad = abs(v) > 1e-8 * (1 + abs(v)) if kind == "zero" else v < -1e-9
        if bad:
            pt = ", ".join(f"{k}={float(val):.3g}" for k, val in sorted(point.items(), key=lambda kv: str(kv[0])))
            return f"residual = {v:.6g} at {pt}"
    return None


def _reduced(d: sp.Expr) -> sp.Expr:
    """Best-effort simplified residual, for failure messages."""
    try:
        if _general(d):
            return sp.expand(linear_form(d))
        e = _evaluate(d)
        if e.has(sp.log):
            e = e.replace(lambda t: isinstance(t, sp.log), lambda t: _expanded_log(t.args[0]))
        return sp.expand(e)  # cheap on purpose: simplify() on a wrong step can take seconds
    except Exception:  # pragma: no cover
        return d


# ---------------------------------------------------------------------------------------------------------
# Inequalities
# ---------------------------------------------------------------------------------------------------------

def _redefines(witness: sp.Basic, rules: dict) -> bool:
    """Does a rule redefine a function whose concavity a tangent-gap witness in ``witness`` assumes?"""
    heads = set()
    for t in sp.preorder_traversal(witness):
        hyp = getattr(type(t), "concave_hypothesis", None)
        if hyp:
            heads |= {f.__name__ for f in hyp}
    return any(type(k).__name__ in heads or (isinstance(k, type) and k.__name__ in heads) for k in rules)


def witness_nonnegative(witness: sp.Basic, rules: dict) -> bool:
    """A witness is non-negative because of its *definition*: the identity's rules are substituted first (so a
    rule-defined symbol's declared sign is never trusted), and a tangent gap's concavity hypothesis must not be
    contradicted by a rule that redefines the concave function."""
    rules = rules or {}
    if _redefines(witness, rules):
        return False
    w = apply_rules(witness, rules)
    # a rule-defined head that survives the substitution (used with other arguments than its definition's)
    # carries only its declared sign, which is not trusted
    heads = {type(k) for k in rules if isinstance(k, AppliedUndef)}
    bases = {k.base for k in rules if isinstance(k, sp.Indexed)} | {k for k in rules if isinstance(k, sp.Symbol)}
    if any(type(t) in heads for t in w.atoms(AppliedUndef)) or any(t.base in bases for t in w.atoms(sp.Indexed)) \
            or (w.free_symbols & bases):
        return False
    return known_nonnegative(w)


def _convex_nonneg(d: sp.Expr, var: sp.Symbol) -> bool:
    """Certificate: d'' > 0 in ``var`` (assumptions) and d >= 0 at every stationary point."""
    d = expand_witnesses(d)
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


def _nonneg(d: sp.Expr, witness: Optional[sp.Expr], var: Optional[sp.Symbol], rules: dict) -> bool:
    if witness is not None:
        if not reduces_to_zero(d - witness, rules=rules):
            return False
        return witness_nonnegative(witness, rules)
    d = apply_rules(d, rules)
    if known_nonnegative(d) or sp.simplify(d).is_nonnegative is True:
        return True
    if var is not None:
        return _convex_nonneg(d, var)
    return False


# ---------------------------------------------------------------------------------------------------------
# Links and chains
# ---------------------------------------------------------------------------------------------------------

def _freeze(rules: dict | None) -> tuple:
    return tuple(sorted((rules or {}).items(), key=lambda kv: sp.default_sort_key(kv[0])))


def check_link(prev: Step, step: Step, seed: int = 0, rules: dict | None = None) -> tuple[bool, str]:
    """Check one link ``prev.expr  step.rel  step.expr`` under ``rules``.  Returns ``(ok, detail)``.

    Verdicts are memoized on the (structural) link, so a wrong twin that shares its first links with the
    true identity does not redo them.
    """
    try:
        return _check_link_cached(prev.expr, step.expr, step.rel, step.witness, step.var, seed, _freeze(rules))
    except TypeError:  # pragma: no cover - unhashable expression
        return _check_link(prev.expr, step.expr, step.rel, step.witness, step.var, seed, rules or {})


@lru_cache(maxsize=4096)
def _check_link_cached(a, b, rel, witness, var, seed, frozen_rules):
    return _check_link(a, b, rel, witness, var, seed, dict(frozen_rules))


def instance_check(a, b, rel: str, rules: dict, seed: int = 0) -> Optional[str]:
    """The second line of defence (:mod:`derivations.instances`): the link ``a rel b`` with the rules substituted,
    evaluated on random concrete models.  Returns a refutation message, or None (held, or not evaluable)."""
    defs = {k: v for k, v in rules.items() if is_definition(k)}
    claims = len(defs) < len(rules)
    cons = constraints_of(rules)
    try:
        A, B = apply_rules(a, defs), apply_rules(b, defs)
    except Exception:  # pragma: no cover
        return None
    verdict, detail = refute_link(A, B, rel, seed=seed, constraints=cons)
    if verdict == "refuted" and claims:
        # the link may rest on a stated claim (a rule whose left side is not a name), taken as given: it is
        # refuted only if it fails with the claims substituted as well
        A2, B2 = apply_rules(a, rules), apply_rules(b, rules)
        if refute_link(A2, B2, rel, seed=seed, constraints=cons)[0] != "refuted":
            return None
    if verdict == "refuted":
        return detail
    return None


_SENTINELS = ("given_rules", "permit_leibniz", "permit_limit_exchange")


def given_rules(rules: dict) -> list:
    """The left sides of the rules an identity takes as given (see :data:`derivations.steps.GIVEN_RULES`)."""
    for k, v in (rules or {}).items():
        if isinstance(k, sp.Symbol) and k.name == "given_rules":
            return list(v)
    return []


def claims(rules: dict) -> dict:
    """The rules that are claims (left side not a name), sentinels and summation hypotheses left out."""
    cons = constraints_of(rules)
    out = {}
    for k, v in (rules or {}).items():
        if is_definition(k):
            continue
        if isinstance(k, sp.Sum) and isinstance(k.function, sp.Indexed) and k.function.base.label in cons:
            continue
        out[k] = v
    return out


@lru_cache(maxsize=256)
def _validate_rules_cached(frozen: tuple) -> Optional[str]:
    rules = dict(frozen)
    defs = {k: v for k, v in rules.items() if is_definition(k)}
    cons = constraints_of(rules)
    given = set(given_rules(rules))
    # a definition of a declared density must define a normalized density of its variable
    for lhs, rhs in defs.items():
        if not isinstance(lhs, AppliedUndef) or density_vars(lhs.func) != 1:
            continue
        var = lhs.args[0]
        if not isinstance(var, sp.Symbol) or any(a.has(var) for a in lhs.args[1:]):
            continue
        mass = sp.Integral(apply_rules(rhs, defs), (var, -sp.oo, sp.oo))
        masses = []
        for seed in (17, 7936, 15855):
            try:
                masses.append(complex(evaluate(mass, World(seed, cons))).real)
            except Unevaluable:
                break
        # refused when the mass is the same number, not 1, on every instance (a definition off by a factor);
        # a mass that varies with the instance depends on how the other free densities relate (Bayes' rule
        # rearranged, p(x | z) := p(z | x) p(x) / p(z)), which random densities cannot decide
        if len(masses) == 3 and all(abs(m - 1) > 1e-4 for m in masses) and max(masses) - min(masses) < 1e-4:
            return (f"the rule defining the density {sp.sstr(lhs)} does not define a normalized density of "
                    f"{var}: its integral over {var} is {masses[0]:.6g} on every random instance, not 1")
    # every claim (a rule whose left side is not a name) is checked unless the identity takes it as given
    for lhs, rhs in claims(rules).items():
        if lhs in given:
            continue
        verdict, detail = refute_link(apply_rules(lhs, defs), apply_rules(rhs, defs), "=", trials=3,
                                      constraints=cons)
        if verdict == "refuted":
            return (f"the rule {sp.sstr(lhs)} = {sp.sstr(rhs)} is not true in general: {detail}; "
                    "state it as taken as given (GIVEN_RULES) if it is a hypothesis")
    return None


def validate_rules(rules: dict | None) -> Optional[str]:
    """Check an identity's rules before they are used: a rule that defines a declared density must define a
    normalized one, and a *claim* among the rules (``E[w] = p(x)``) must hold on random instances unless the
    identity takes it as given.  Returns the reason a rule is refused, or None."""
    if not rules:
        return None
    try:
        return _validate_rules_cached(_freeze(rules))
    except TypeError:  # pragma: no cover - unhashable
        return None


def is_definition(lhs: sp.Basic) -> bool:
    """Is a rule ``lhs -> rhs`` a *definition* (its left side a name: a symbol, an indexed symbol, or an
    undefined function applied to symbols), rather than a *claim* about compound expressions (``E[w] = p(x)``,
    ``sum_k w_k = 1``), which an identity must list as taken as given?"""
    if isinstance(lhs, (sp.Symbol, sp.Indexed)):
        return True
    if isinstance(lhs, AppliedUndef) or (isinstance(lhs, sp.Function) and not lhs.func.__module__.startswith("sympy")):
        if density_vars(type(lhs)) is None:
            return True  # notation: a display function defined where it is used (f'(mu + sigma eps) := ...)
        # a declared density is defined only as a function of names; a value at a compound point is a claim
        return all(isinstance(a, (sp.Symbol, sp.Indexed, sp.IndexedBase, AppliedUndef)) or a.is_number
                   for a in lhs.args)
    return False


def _check_link(a, b, rel, witness, var, seed, rules) -> tuple[bool, str]:
    with permits(rules):
        ok, detail = _check_link_rules(a, b, rel, witness, var, seed, rules)
    if not ok:
        return ok, detail
    refuted = instance_check(a, b, rel, rules, seed)
    if refuted:
        return False, f"it holds by the rules but fails on a random instance: {refuted}"
    return ok, detail


def _check_link_rules(a, b, rel, witness, var, seed, rules) -> tuple[bool, str]:
    general = _general(apply_rules(a - b, rules))

    def counterexample(d, kind):
        if general:  # a real counterexample: a random concrete model on which the link fails
            return instance_check(a, b, rel, rules, seed)
        return _spot_check(apply_rules(d, rules), kind, seed=seed)

    if rel == "=":
        d = a - b
        ok = reduces_to_zero(d, a, b, rules=rules)
        if ok and general:
            return True, "ok"  # the general routes run their own spot checks on the merged forms
        cex = counterexample(d, "zero")
        if ok and cex:
            return False, f"SymPy reduced the residual to 0 but a numeric spot check disagrees: {cex}"
        if not ok:
            shown = sp.sstr(_reduced(apply_rules(d, rules)))
            shown = shown if len(shown) < 300 else shown[:297] + "..."
            return False, f"residual does not reduce to 0: {shown}" + (
                f"; counterexample: {cex}" if cex else
                ("; no random instance refutes it either: the rules may not cover this step (cannot decide)"
                 if general else ""))
        return True, "ok"
    if rel in (">=", "<="):
        d = a - b if rel == ">=" else b - a
        ok = _nonneg(d, witness, var, rules)
        cex = None if (ok and general) else counterexample(d, "nonneg")
        if ok and cex:
            return False, f"non-negativity 'proved' but a numeric spot check disagrees: {cex}"
        if not ok:
            how = "witness does not match or is not non-negative" if witness is not None else "non-negativity not proved"
            return False, f"{how}" + (f"; counterexample: {cex}" if cex else "")
        return True, "ok"
    return False, f"unknown relation {rel!r}"


def prove_chain(steps: list, label: str = "main", rules: dict | None = None, link=None) -> ProofResult:
    """Check every link of a chain (and every step's display form); report the first failing step.

    ``link(prev, step, seed) -> (ok, detail)`` checks one link (default: :func:`check_link` under ``rules``;
    :func:`derivations.operator_rules.prove_general` passes its operator rules).
    """
    if link is None:
        def link(prev, step, seed):
            return check_link(prev, step, seed=seed, rules=rules)
    if not steps:
        return ProofResult(False, None, f"[{label}] empty derivation", label)
    bad_rule = validate_rules(rules)
    if bad_rule:
        return ProofResult(False, None, f"[{label}] {bad_rule}", label)
    for i, st in enumerate(steps):
        if i > 0 and st.given:
            continue  # a step taken as given (a hypothesis of the theorem, listed in its box): not checked
        if i > 0:
            ok, detail = link(steps[i - 1], st, i)
            if not ok:
                msg = f"[{label}] step {i} ('{st.why}') does not follow from step {i - 1}: {detail}"
                return ProofResult(False, i, msg, label)
        if st.display is not None:
            ok, detail = link(Step(st.display, "display"), Step(st.expr, "checked"), 0)
            if not ok:
                msg = f"[{label}] step {i} ('{st.why}'): its display form is not the checked expression: {detail}"
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

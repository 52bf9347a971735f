r"""The rules a lecturer uses on integrals of undefined densities, as a zero test for general chains.

General statements (ELBO surgery for every :math:`N` and every encoder, EM for every model, the gradient
identities for every :math:`f`, the flow limit in :math:`D` dimensions) are written with densities as undefined
SymPy functions (:func:`derivations.expectation.density`), expectations
(:class:`derivations.expectation.Expect`, read here as :math:`\mathbb{E}_{q(z)} f = \int q f\, dz`), integrals :math:`\int \cdot \, dz` over the whole space (Lebesgue measure for a continuous
:math:`z`, counting measure for a discrete one: the rules below hold for both), and sums over a symbolic
:math:`N` (``Sum`` over an ``IndexedBase``).  A link :math:`a = b` of such a chain is accepted when the
residual :math:`a - b` reduces to :math:`0` by these rules only.  Rules 1, 2, 4 and 5 are the engine's one
linear normal form, :func:`derivations.expectation.linear_form` (an expectation read as an integral over the
whole space); this module adds the change of variables (6) and the merging of integrals over one variable (3):

1. **linearity** of :math:`\int dz` and of :math:`\sum_{n=1}^N`: sums split, factors free of the variable
   move out; a finite sum and an integral commute;
2. **normalization**: :math:`\int q(z, \dots)\, dz = 1` for a declared density :math:`q` of :math:`z`
   (its first argument), and :math:`\sum_{n=1}^N c = N c` for :math:`c` free of :math:`n`;
3. **pointwise algebra** inside one integral: logs of positive quantities expand
   (:math:`\log ab = \log a + \log b`), then the integrand must cancel exactly;
4. **differentiation under the integral sign** (Leibniz; dominated convergence is a hypothesis of the
   theorem): :math:`\partial_\theta \int_{a}^{b} g\, dz = \int_a^b \partial_\theta g\, dz + g(b) b' - g(a) a'`,
   the boundary terms present whenever a limit depends on :math:`\theta`
   (:func:`derivations.expectation.leibniz`);
5. **limits**: :math:`\lim_{\sigma \to 0} \mathbb{E}_{\phi(\epsilon)} g_\sigma = \mathbb{E}_{\phi(\epsilon)}
   \lim_{\sigma \to 0} g_\sigma` only under a declared probability density :math:`\phi` free of :math:`\sigma`
   (dominated convergence, a hypothesis of the theorem), then SymPy's ``limit`` on the integrand; a limit of
   any other integral stays an opaque atom;
6. **change of variables** :math:`z = h(\epsilon)` when the chain declares it (``substitutions``), for an affine
   :math:`h` of known orientation, with :math:`|h'|` and mapped limits (:func:`change_of_variables`).

Every link these rules accept is also evaluated on random concrete instances (:mod:`derivations.instances`);
a link that fails on one is refused.

Inequalities :math:`a \ge b` need a witness :math:`W` with :math:`a - b - W \equiv 0` (by the rules above) and
:math:`W \ge 0` structurally (:func:`derivations.engine.witness_nonnegative`, by the one positivity test
:func:`derivations.positivity.known_nonnegative`): sums, products, integrals and finite sums of non-negative
terms, densities, :math:`G(t) = t - 1 - \log t` of a positive argument, :math:`\log(1 + u)` with
:math:`u \ge 0`.  The index names of sums are canonicalized (dummy renaming), so
:math:`\sum_n q_n` and :math:`\sum_m q_m` are one object.

These rules are sound (each is a theorem for finite :math:`N`, densities and integrable integrands) and
deliberately incomplete: a wrong chain is never accepted, a true one may need an extra displayed line.  They
complement :mod:`derivations.engine` (whose atom-wise zero test and pointwise merging are tried as well): the
identities ``em``, ``score_function_gradient``, ``reparameterization_gradient``, ``flow_as_dirac_vae`` and
``elbo_surgery`` are :class:`RuleIdentity` objects, whose links are accepted by either.  Instance links
(explicit integrands) get a fast path: :func:`integrands_equal`, and :func:`integrand_counterexample` to reject.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import sympy as sp
from sympy.core.function import AppliedUndef

from derivations.engine import (apply_rules, chain_relation, check_link, instance_check, prove_chain,
                                witness_nonnegative)
from derivations.expectation import Expect, NormalPDF, density_vars, leibniz, linear_form, permits
from derivations.positivity import safe_expand_log
from derivations.identity import Identity, make_identity, title_overclaims
from derivations.steps import ProofResult, Step
from derivations.witnesses import expand_witnesses

__all__ = ["RawSymbol", "is_density", "linearize", "reduces_by_rules", "link_ok", "prove_general",
           "RuleIdentity", "make_rule_identity"]


def is_density(e: sp.Basic) -> bool:
    """Is ``e`` an application of a :func:`derivations.expectation.density` with one variable (its first argument)?"""
    return density_vars(type(e)) == 1


def _expect_to_integral(e: sp.Basic) -> sp.Basic:
    r""":math:`\mathbb{E}_{q(z)}[f] = \int q(z) f\, dz` over the whole space (a sum for a discrete z)."""
    if not e.has(Expect):
        return e
    return e.replace(lambda t: isinstance(t, Expect), lambda t: sp.Integral(t.dens * t.expr, (t.var,)))


def linearize(e: sp.Basic) -> sp.Basic:
    """The canonical form used by :func:`reduces_by_rules`: the one linear normal form
    (:func:`derivations.expectation.linear_form`: rules 1-5) with logs expanded over positive factors."""
    out = linear_form(sp.expand(safe_expand_log(expand_witnesses(e))))
    return sp.expand(safe_expand_log(out))


def change_of_variables(i: sp.Integral, substitutions: dict) -> sp.Integral:
    r"""Rule 6: :math:`\int_a^b f(z)\, dz = \int_{h^{-1}(a)}^{h^{-1}(b)} f(h(\epsilon))\, |h'(\epsilon)|\, d\epsilon`
    for a declared *affine* :math:`z = h(\epsilon) = \alpha + \beta \epsilon` with the sign of :math:`\beta`
    known: the limits are mapped (and swapped when :math:`\beta < 0`, which turns :math:`h'` into
    :math:`|h'|`).  An integral that does not qualify is returned unchanged (the link then cannot use it)."""
    if len(i.limits) != 1 or i.limits[0][0] not in substitutions:
        return i
    lim = i.limits[0]
    z = lim[0]
    h, eps = substitutions[z]
    beta = sp.diff(h, eps)
    if beta.has(eps) or beta == 0:
        return i  # only affine changes of variables
    alpha = sp.expand(h - beta * eps)
    if beta.is_positive:
        sign = 1
    elif beta.is_negative:
        sign = -1
    else:
        return i  # the orientation is unknown
    lo, hi = (lim[1], lim[2]) if len(lim) == 3 else (-sp.oo, sp.oo)

    def inv(bound):
        if bound in (sp.oo, -sp.oo):
            return bound * sign
        return (bound - alpha) / beta

    a, b = inv(lo), inv(hi)
    if sign < 0:
        a, b = b, a  # the orientation flips: swap the limits, |h'| = -h'
    body = i.function.xreplace({z: h}) * sign * beta
    if a == -sp.oo and b == sp.oo and len(lim) == 1:
        return sp.Integral(body, (eps,))
    return sp.Integral(body, (eps, a, b))


def reduces_by_rules(d: sp.Expr, substitutions: Optional[dict] = None, rules: Optional[dict] = None) -> bool:
    r"""Does the residual ``d`` reduce to 0 by the rules of this module?

    ``substitutions``: ``{z: (h(eps), eps)}`` changes of variables the chain declares; every integral over ``z``
    is rewritten by ``Integral.transform(z, h)`` before the zero test.  ``rules``: the identity's definitions
    (display symbol or defined function -> expression), substituted first.
    """
    d = _expect_to_integral(apply_rules(d, rules or {}))
    if substitutions:
        d = d.replace(lambda t: isinstance(t, sp.Integral), lambda i: change_of_variables(i, substitutions))
    try:
        e = linearize(d)
    except Exception:  # pragma: no cover - outside the rules
        return False
    if e == 0:
        return True
    # a last pass: merge integrals over the same variable into one integrand and cancel it
    groups: dict = {}
    rest = sp.Integer(0)
    for t in sp.Add.make_args(e):
        ints = [a for a in sp.Mul.make_args(t) if isinstance(a, sp.Integral)]
        if len(ints) == 1:
            i = ints[0]
            c = t / i
            groups.setdefault(i.limits, []).append(c * i.function)
        else:
            rest += t
    if sp.expand(rest) != 0:
        return False
    for lims, parts in groups.items():
        if linearize(sp.Add(*parts)) != 0:
            return False
    return True


def _leibniz(e: sp.Basic) -> sp.Basic:
    """Derivative(Integral) -> Integral(Derivative) (rule 4) when the limits are free of the parameter; a constant
    factor moves inside an integral."""
    if isinstance(e, sp.Derivative) and isinstance(e.expr, sp.Integral):
        moved = leibniz(e)
        return moved if isinstance(moved, sp.Integral) else e  # boundary terms: not a single integral
    if isinstance(e, sp.Mul):
        ints = [t for t in e.args if isinstance(t, sp.Integral)]
        if len(ints) == 1 and not (sp.Mul(*[t for t in e.args if t is not ints[0]]).free_symbols
                                   & set(ints[0].variables)):
            return sp.Integral(e / ints[0] * ints[0].function, *ints[0].limits)
    return e


def integrands_equal(a: sp.Basic, b: sp.Basic) -> bool:
    r"""Fast zero test for two integrals of explicit integrands over the same variable and limits.

    The integrands' difference is divided by one of its exponentials (a Gaussian density), exponentials are
    combined and the rest must cancel as a rational function; a sufficient test (never accepts a non-zero).
    """
    a, b = _leibniz(a), _leibniz(b)
    if not (isinstance(a, sp.Integral) and isinstance(b, sp.Integral)) or a.limits != b.limits:
        return False
    d = (a.function - b.function).doit()
    exps = sorted(d.atoms(sp.exp), key=sp.count_ops)
    if exps:
        d = sp.powsimp(sp.expand(d / exps[-1]), combine="exp")
        d = sp.expand(sp.powsimp(sp.expand(d)))
    try:
        return sp.cancel(d) == 0
    except Exception:  # pragma: no cover
        return False


def integrand_counterexample(a: sp.Basic, b: sp.Basic, seed: int = 0) -> Optional[str]:
    """A point where two integrals' explicit integrands differ (so a link between them fails), or None."""
    import random

    a, b = _leibniz(a), _leibniz(b)
    if not (isinstance(a, sp.Integral) and isinstance(b, sp.Integral)) or a.limits != b.limits:
        return None
    d = (a.function - b.function).doit()
    if d.has(sp.Integral, sp.Derivative, AppliedUndef):
        return None
    syms = sorted(d.free_symbols, key=sp.default_sort_key)
    rng = random.Random(seed)
    try:
        fn = sp.lambdify(syms, d, modules="mpmath")
        for _ in range(3):
            pt = [rng.uniform(0.3, 2.0) if s.is_positive else rng.uniform(-1.5, 1.5) for s in syms]
            v = complex(fn(*pt))
            if abs(v.imag) < 1e-12 and abs(v.real) > 1e-8:
                shown = ", ".join(f"{s}={x:.3g}" for s, x in zip(syms, pt))
                return f"the integrands differ by {v.real:.6g} at {shown}"
    except Exception:  # pragma: no cover - not evaluable
        return None
    return None


class RawSymbol(sp.Symbol):
    """A display symbol printed verbatim (SymPy would read ``_`` in its name as a subscript)."""

    def _latex(self, printer):
        return self.name


def _explicit(e: sp.Basic) -> sp.Basic:
    """``NormalPDF(z, m, v)`` (a display form) -> its explicit density."""
    return e.replace(lambda t: isinstance(t, NormalPDF), lambda t: t.explicit()) if e.has(NormalPDF) else e


def link_ok(prev: Step, step: Step, substitutions: Optional[dict] = None, rules: Optional[dict] = None) -> tuple:
    """Check one link by these rules; fall back to the core engine (instances, closed forms)."""
    with permits(rules):
        return _link_ok(prev, step, substitutions, rules)


def _link_ok(prev: Step, step: Step, substitutions: Optional[dict] = None, rules: Optional[dict] = None) -> tuple:
    a, b = _explicit(prev.expr), _explicit(step.expr)
    prev, step = dataclasses.replace(prev, expr=a), dataclasses.replace(step, expr=b)
    general = (a - b).has(AppliedUndef, Expect) or (step.witness is not None and step.witness.has(AppliedUndef, Expect))
    if not general:
        if step.rel == "=" and integrands_equal(apply_rules(a, rules or {}), apply_rules(b, rules or {})):
            return _instances_agree(a, b, step.rel, rules, "ok (integrands equal)")
        if step.rel == "=":
            cex = integrand_counterexample(apply_rules(a, rules or {}), apply_rules(b, rules or {}))
            if cex:
                return False, f"residual does not reduce to 0; counterexample: {cex}"
        return check_link(prev, step, rules=rules)  # an instance: the core engine evaluates it
    if step.rel == "=":
        if reduces_by_rules(a - b, substitutions, rules):
            return _instances_agree(a, b, step.rel, rules, "ok (operator rules)")
    elif step.rel in (">=", "<="):
        d = a - b if step.rel == ">=" else b - a
        w = step.witness
        if w is not None and reduces_by_rules(d - w, substitutions, rules) and witness_nonnegative(w, rules or {}):
            return _instances_agree(a, b, step.rel, rules, "ok (operator rules, witness)")
    return check_link(prev, step, rules=rules)


def _instances_agree(a, b, rel, rules, detail) -> tuple:
    """A link the rules accept must also hold on random concrete instances (:mod:`derivations.instances`)."""
    refuted = instance_check(a, b, rel, rules or {})
    return (False, f"it holds by the rules but fails on a random instance: {refuted}") if refuted else (True, detail)


def prove_general(steps: list, label: str, substitutions: Optional[dict] = None,
                  rules: Optional[dict] = None) -> ProofResult:
    """:func:`derivations.engine.prove_chain` with the operator rules of this module (display forms too)."""
    return prove_chain(steps, label, rules, link=lambda prev, step, seed: link_ok(prev, step, substitutions, rules))


class RuleIdentity(Identity):
    """An :class:`~derivations.identity.Identity` whose links may also be accepted by this module's rules.

    ``build`` may return ``substitutions`` (``{label: {z: (h(eps), eps)}}``, changes of variables per derivation).
    """

    def prove(self) -> ProofResult:
        try:
            rules = self.rules
            subs = self._get().get("substitutions", {})
            for der in self.derivations:
                claim = title_overclaims(der, rules)
                if claim:
                    return ProofResult(False, None, f"[{der.label}] {claim}", der.label)
                res = prove_general(der.steps, der.label, subs.get(der.label), rules)
                if not res.ok:
                    return res
            st, steps = self.statement, self.steps
            kinds = {sp.Eq: "=", sp.GreaterThan: ">=", sp.LessThan: "<="}
            if kinds.get(type(st)) != chain_relation(steps):
                return ProofResult(False, None, f"statement {type(st).__name__} but the chain proves "
                                                f"'{chain_relation(steps)}'")
            for side, end in (("left", 0), ("right", -1)):
                pair = [Step(st.lhs if end == 0 else st.rhs, f"statement {side} side"), Step(steps[end].expr, "chain")]
                if not prove_general(pair, "statement", subs.get("main"), rules).ok:
                    return ProofResult(False, end % len(steps), f"statement's {side} side is not the chain's "
                                                                f"{'first' if end == 0 else 'last'} step")
            n = sum(len(d.steps) - 1 for d in self.derivations)
            return ProofResult(True, None, f"proved: {n} links in {len(self.derivations)} derivation(s); "
                                           "statement matches")
        except Exception as exc:  # a SymPy crash is a failed proof, reported, not a traceback
            return ProofResult(False, None, f"proof raised {type(exc).__name__}: {exc}")


def _as_rule_identity(ident: Identity) -> RuleIdentity:
    return RuleIdentity(ident.name, ident.title, ident.source, build=ident.build, check_fn=ident.check_fn,
                        twin_factories=[lambda f=f: _as_rule_identity(f()) for f in ident.twin_factories],
                        mistake=ident.mistake)


def make_rule_identity(name: str, title: str, source: str, build, check, twins: dict) -> RuleIdentity:
    """:func:`derivations.identity.make_identity`, with :class:`RuleIdentity` objects (twins included)."""
    return _as_rule_identity(make_identity(name, title, source, build, check, twins))

r"""Issue 19's adversarial suite: wrong chains a student could write with the public API are never certified.

Every case of :mod:`adversarial_chains` is built as an identity with the package's own constructors
(:func:`derivations.identity.make_identity` -> route ``core``, :func:`derivations.operator_rules.make_rule_identity`
-> route ``rules``) and proved with ``prove()``.  A wrong chain must come back ``ok=False``, failing at the step
that is wrong (``fail_at``) when the case pins one; a control (a correct chain of the same shape) must prove.
The seven false theorems of the issue are also run through the lower-level entry points
(:func:`derivations.engine.prove_chain`, :func:`derivations.operator_rules.prove_general`).

Ids: ``c<cause>-<name>[route]``; causes as in the issue (1 limits, 2 normalization, 3 Leibniz, 4 limit
exchange, 5 change of variables, 6 witness definitions, 7 concavity, 8 rules / complex values / titles).
"""
from __future__ import annotations

import signal

import pytest
import sympy as sp

from adversarial_chains import ANY, CONTROLS, WRONG, _iwae_upper, evid, x
from derivations.engine import prove_chain
from derivations.identity import make_identity
from derivations.operator_rules import make_rule_identity, prove_general
from derivations.steps import NumericResult

#: seconds one proof may take before the case fails as a hang (a refusal must come in reasonable time)
PROOF_TIMEOUT_S = 60

_RESULTS: dict = {}


class ProofTimeout(BaseException):
    """Raised by the alarm; a BaseException so that ``Identity.prove``'s ``except Exception`` cannot turn a hang
    into a refusal."""


def _alarm(signum, frame):  # pragma: no cover - only on a hang
    raise ProofTimeout(f"proof took more than {PROOF_TIMEOUT_S} s")


def _not_checked(seed, mistake):
    return NumericResult(False, 0.0, 0.0, 0.0, 0.0, "numeric check not run (adversarial chain)")


def prove_case(cs, route: str):
    """``prove()`` of the case built as an identity by ``route`` (cached: each case is proved once per route)."""
    key = (cs.id, route)
    if key not in _RESULTS:
        maker = {"core": make_identity, "rules": make_rule_identity}[route]
        ident = maker(f"adv_{cs.id}", cs.claim, "issue 19 adversarial suite", lambda mistake: cs.build(),
                      _not_checked, {})
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(PROOF_TIMEOUT_S)
        try:
            _RESULTS[key] = ident.prove()
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
    return _RESULTS[key]


def _params(cases):
    out = []
    for cs in cases:
        for route in cs.routes:
            marks = [pytest.mark.xfail(strict=False, reason=cs.xfail)] if cs.xfail else []
            out.append(pytest.param(cs, route, id=f"{cs.id}[{route}]", marks=marks))
    return out


def test_suite_size():
    """The issue asks for at least 60 wrong chains over the eight causes, and controls of the same shapes."""
    assert len(WRONG) >= 60, len(WRONG)
    assert {cs.cause for cs in WRONG} == set(range(1, 9))
    assert len(CONTROLS) >= 10
    assert len({cs.id for cs in WRONG + CONTROLS}) == len(WRONG + CONTROLS)


@pytest.mark.parametrize("cs,route", _params(WRONG))
def test_wrong_chain_is_refused(cs, route):
    res = prove_case(cs, route)
    assert res.ok is False, f"CERTIFIED a wrong chain ({cs.claim}): {res.message}"
    assert not res.message.startswith("proof raised"), f"refused only by a crash, not by a reason: {res.message}"
    if cs.fail_in is not ANY:
        assert res.derivation == cs.fail_in, f"failed in '{res.derivation}', expected '{cs.fail_in}': {res.message}"
    if cs.fail_at is not ANY:
        allowed = cs.fail_at if isinstance(cs.fail_at, tuple) else (cs.fail_at,)
        assert res.failed_step in allowed, (
            f"refused at step {res.failed_step}, but the wrong link is step {cs.fail_at}: {res.message}")
        if res.failed_step is not None:
            assert f"step {res.failed_step}" in res.message, res.message


@pytest.mark.parametrize("cs,route", _params(CONTROLS))
def test_control_still_proves(cs, route):
    res = prove_case(cs, route)
    assert res.ok is True, f"a correct chain ({cs.claim}) is refused: {res.message}"


FALSE_THEOREMS = [cs for cs in WRONG if "-FALSE_" in cs.id]


def test_the_issues_seven_false_theorems_are_here():
    """The issue's seven false theorems; its fourth (E_{2q}[1] = 1 and E_{p(x,z)}[log p(x)] = log p(x)) is two cases."""
    assert len(FALSE_THEOREMS) == 8, [cs.id for cs in FALSE_THEOREMS]


@pytest.mark.parametrize("cs", FALSE_THEOREMS, ids=[cs.id for cs in FALSE_THEOREMS])
def test_false_theorem_refused_by_the_low_level_entry_points(cs):
    """``prove_chain`` and ``prove_general`` called directly on the main chain (what a student may call)."""
    built = cs.build()
    rules = {**built.get("definitions", {})}
    for h in built.get("hypotheses", []):
        if hasattr(h, "lhs") and not isinstance(h, str):
            rules[h.lhs] = h.rhs
    subs = built.get("substitutions", {}).get("main")
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(PROOF_TIMEOUT_S)
    try:
        results = {"prove_general": prove_general(built["steps"], "main", subs, rules)}
        if subs is None:  # the core engine has no changes of variables
            results["prove_chain"] = prove_chain(built["steps"], "main", rules=rules)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    for name, res in results.items():
        assert res.ok is False, f"{name} certified {cs.claim}: {res.message}"
        if cs.fail_at not in (ANY, None):
            allowed = cs.fail_at if isinstance(cs.fail_at, tuple) else (cs.fail_at,)
            assert res.failed_step in allowed, f"{name}: refused at step {res.failed_step}: {res.message}"


def test_tampered_rule_declared_given_is_shown():
    """A student may declare a (tampered) rule taken as given: then the chain may be certified, but only with the
    rule shown in the theorem box (``taken_as_given``), never silently."""
    ident = make_identity("adv_given_half_px", "L_K <= log p(x) - log 2", "issue 19 adversarial suite",
                          lambda mistake: _iwae_upper(evid(x) / 2, sp.log(evid(x) / 2), declare_given=True),
                          _not_checked, {})
    res = ident.prove()
    if res.ok:
        given = getattr(ident, "taken_as_given", [])
        shown = [g for g in given if r"\bar{w}" in g and r"\frac{p\left(x\right)}{2}" in g]
        assert shown, f"certified with the tampered rule E[w-bar] = p(x)/2 not shown as taken as given: {given!r}"

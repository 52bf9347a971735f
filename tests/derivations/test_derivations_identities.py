"""Every identity is proved and numerically confirmed; every wrong twin is rejected by both."""
import math

import pytest
import sympy as sp

from derivations import REGISTRY
from derivations.steps import Step
from _deriv_cache import TWIN_CASES, check_of, proof_of

NAMES = list(REGISTRY)


def test_registry_has_all_ten_identities_in_story_order():
    """The story order is written once, ``registry.ORDER`` (module names); each module's identity bears its name."""
    from derivations.registry import ORDER

    assert len(NAMES) == 10 and NAMES == ORDER


@pytest.mark.parametrize("name", NAMES)
def test_shape_of_identity(name):
    ident = REGISTRY[name]
    assert ident.name == name
    assert ident.title and ident.source
    assert isinstance(ident.statement, (sp.Equality, sp.GreaterThan, sp.LessThan))
    assert len(ident.steps) >= 2
    assert all(isinstance(s, Step) and isinstance(s.expr, sp.Basic) and s.why.strip() for s in ident.steps)
    assert ident.latex() == ident.statement_tex, "the statement is shown as written (derivations.latex)"
    assert len(ident.latex()) > 5
    assert ident.wrong_twins, "each identity has at least one wrong twin"
    mod = __import__(f"derivations.{name}", fromlist=["x"])
    assert mod.__doc__ and "Source" in mod.__doc__, "module docstring states its source"


@pytest.mark.parametrize("name", NAMES)
def test_prove(name):
    res = proof_of(name)
    assert res.ok, res.message
    assert res.failed_step is None


@pytest.mark.parametrize("name", NAMES)
def test_check(name):
    res = check_of(name)
    assert res.ok, res.message
    assert math.isfinite(res.estimate) and math.isfinite(res.exact)
    assert res.tol >= 0 and res.se >= 0
    assert abs(res.estimate - res.exact) <= res.tol, res.message


@pytest.mark.parametrize("name,k", TWIN_CASES, ids=[f"{n}~{k}" for n, k in TWIN_CASES])
def test_wrong_twin_rejected_by_proof(name, k):
    res = proof_of(name, k)
    assert not res.ok, f"wrong twin proved: {res.message}"
    assert "step" in res.message


@pytest.mark.parametrize("name,k", TWIN_CASES, ids=[f"{n}~{k}" for n, k in TWIN_CASES])
def test_wrong_twin_rejected_by_check(name, k):
    res = check_of(name, k)
    assert not res.ok, f"wrong twin passed the numeric check: {res.message}"


def test_checks_are_deterministic_for_a_seed():
    a = REGISTRY["elbo_gap"].check(seed=3)
    b = REGISTRY["elbo_gap"].check(seed=3)
    assert a.estimate == b.estimate and a.se == b.se


@pytest.mark.parametrize("seed", [1, 2])
def test_monte_carlo_checks_pass_for_other_seeds(seed):
    # tolerance is 4 standard errors: a fresh seed fails with probability ~6e-5 per comparison
    for name in ("elbo_gap", "elbo_decompositions", "score_function_gradient", "reparameterization_gradient"):
        res = REGISTRY[name].check(seed)
        assert res.ok, f"{name} seed {seed}: {res.message}"

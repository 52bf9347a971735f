"""Score-function and reparameterization identities: general proofs, worked instances, power of the checks."""

import numpy as np
import pytest
import sympy as sp

from derivations import REGISTRY
from derivations import reparameterization_gradient as rg
from derivations import score_function_gradient as sf
from derivations.models import gradient_estimators as ge
from _deriv_cache import check_of, proof_of

MODULES = {"score_function_gradient": sf, "reparameterization_gradient": rg}


@pytest.mark.parametrize("name", list(MODULES))
def test_general_proof_with_instances_and_three_twins(name):
    ident = REGISTRY[name]
    assert proof_of(name).ok, proof_of(name).message
    assert ident.kind == "general" and "every" in ident.scope and ident.model
    kinds = [d.kind for d in ident.derivations]
    assert kinds[0] == "general" and kinds.count("instance") == 2
    assert len(ident.wrong_twins) >= 3
    for k, twin in enumerate(ident.wrong_twins):
        assert not proof_of(name, k).ok, twin.name
        assert not check_of(name, k).ok, twin.name


@pytest.mark.parametrize("name", list(MODULES))
@pytest.mark.parametrize("component", [0, 1])
@pytest.mark.parametrize("factor", [1.05, 0.95])
def test_a_five_percent_error_in_any_component_is_rejected(name, component, factor):
    scale = [1.0, 1.0]
    scale[component] = factor
    assert MODULES[name].check_with(0, scale=tuple(scale)).ok is False


@pytest.mark.parametrize("name", list(MODULES))
def test_five_percent_is_more_than_eight_standard_errors(name):
    g = MODULES[name].estimate(0)
    assert np.all(0.05 * np.abs(g["exact"]) >= 8 * g["se"]), (g["se"], g["exact"])
    assert np.all(np.abs(g["mean"] - g["exact"]) <= 4 * g["se"])


@pytest.mark.parametrize("seed", [1, 2])
def test_checks_pass_for_other_seeds(seed):
    assert sf.check_with(seed).ok and rg.check_with(seed).ok


def test_exact_gradient_helper_matches_the_proved_closed_form():
    rng = np.random.default_rng(3)
    for phi, col, label in ((sf.mu, 0, "instance_mu"), (sf.sigma, 1, "instance_sigma")):
        der = {d.label: d for d in REGISTRY["score_function_gradient"].derivations}[label]
        closed = der.steps[-1].expr
        fn = sp.lambdify((sf.mu, sf.sigma, *sf.c), closed)
        for _ in range(5):
            m, s = rng.normal(), rng.uniform(0.2, 2.0)
            cf = tuple(rng.normal(size=3))
            assert ge.exact_gradient(m, s, cf)[col] == pytest.approx(fn(m, s, *cf), rel=1e-12, abs=1e-12)


def test_per_draw_terms_match_gradient_samples_and_their_derivatives():
    eps = np.random.default_rng(0).standard_normal(1000)
    g = ge.gradient_samples(1000, seed=0)
    np.testing.assert_allclose(ge.score_function_terms(eps), g["score_function"], rtol=1e-12)
    np.testing.assert_allclose(ge.reparameterization_terms(eps), g["reparameterization"], rtol=1e-12)
    # the pathwise terms are the derivatives of f(mu + sigma eps) (central differences)
    h = 1e-6
    f = lambda m, s: ge.f_values(m + s * eps)[0]  # noqa: E731
    num = np.stack([(f(ge.MU + h, ge.SIGMA) - f(ge.MU - h, ge.SIGMA)) / (2 * h),
                    (f(ge.MU, ge.SIGMA + h) - f(ge.MU, ge.SIGMA - h)) / (2 * h)], 1)
    np.testing.assert_allclose(ge.reparameterization_terms(eps), num, rtol=1e-6, atol=1e-8)


def test_antithetic_mean_rejects_tiny_samples():
    with pytest.raises(ValueError):
        ge.antithetic_mean(ge.reparameterization_terms, 1)

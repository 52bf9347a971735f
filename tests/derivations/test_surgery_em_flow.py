"""ELBO surgery, EM and the flow limit: general proofs, worked instances, twins, helpers against the proofs."""

import numpy as np
import pytest
import sympy as sp

from derivations import REGISTRY
from derivations import em
from derivations import flow_as_dirac_vae as fl
from derivations.engine import apply_rules
from derivations.expectation import Expect, density
from derivations.models.surgery_oracles import discrete_surgery_terms
from derivations.operator_rules import reduces_by_rules
from derivations.positivity import known_nonnegative
from _deriv_cache import check_of, proof_of

NAMES = ["elbo_surgery", "em", "flow_as_dirac_vae"]


@pytest.mark.parametrize("name", NAMES)
def test_general_proof_and_its_scope(name):
    ident = REGISTRY[name]
    res = proof_of(name)
    assert res.ok, res.message
    assert ident.kind == "general" and ident.derivations[0].kind == "general"
    assert "every" in ident.scope and ident.model
    assert any(d.kind == "instance" for d in ident.derivations)


@pytest.mark.parametrize("name", NAMES)
def test_three_twins_rejected_by_proof_and_check(name):
    twins = REGISTRY[name].wrong_twins
    assert len(twins) >= 3
    for k in range(len(twins)):
        assert not proof_of(name, k).ok, twins[k].name
        assert not check_of(name, k).ok, twins[k].name


def test_surgery_lemmas_cover_both_mi_bounds():
    labels = {d.label for d in REGISTRY["elbo_surgery"].derivations}
    assert {"mi_nonneg", "mi_le_log_n", "marginal_kl_nonneg", "elbo_split", "instance"} <= labels


def test_discrete_oracle_matches_the_proved_instance_expressions():
    ident = REGISTRY["elbo_surgery"]
    inst = {d.label: d for d in ident.derivations}["instance"]
    first, last = (apply_rules(inst.steps[i].expr, ident.rules) for i in (0, -1))
    syms = sorted(first.free_symbols, key=lambda s: s.name)
    assert [s.name for s in syms] == ["a1", "a2", "c1_1", "c1_2", "c2_1", "c2_2"]
    avg, split = sp.lambdify(syms, first), sp.lambdify(syms, last)
    rng = np.random.default_rng(5)
    for _ in range(5):
        vals = dict(zip([s.name for s in syms], rng.uniform(0.1, 3.0, size=len(syms))))
        q = np.array([[vals["c1_1"], vals["c1_2"]], [vals["c2_1"], vals["c2_2"]]])
        q = q / q.sum(1, keepdims=True)
        p = np.array([vals["a1"], vals["a2"]]) / (vals["a1"] + vals["a2"])
        t = discrete_surgery_terms(q, p)
        args = [vals[s.name] for s in syms]
        assert t["avg_kl"] == pytest.approx(avg(*args), rel=1e-12)
        assert t["marginal_kl"] + t["index_code_mi_entropy"] == pytest.approx(split(*args), rel=1e-12)


def test_run_em_twins_leave_a_gap_and_bad_estep_is_an_error():
    data = em.mixture_data(0)
    good = em.run_em(data, seed=0)
    assert np.abs(good["elbo_after_estep"] - good["loglik"]).max() < 1e-9 * len(data)
    for estep in ("prior", "unnormalized", "likelihood_only"):
        out = em.run_em(data, seed=0, estep=estep)
        assert np.abs(out["elbo_after_estep"] - out["loglik"]).max() > 1.0, estep
    with pytest.raises(ValueError):
        em.run_em(data, estep="posterior_typo")


def test_flow_helpers_match_the_proved_affine_instance():
    inst = {d.label: d for d in REGISTRY["flow_as_dirac_vae"].derivations}["instance_affine"]
    exact_elbo = sp.lambdify((fl.x, fl.a, fl.c, fl.sigma), inst.steps[1].expr.args[0])
    log_px = sp.lambdify((fl.x, fl.a, fl.c), inst.steps[-1].expr)
    sig = np.array([0.7, 0.2, 1e-2])
    for xv, av, cv in [(0.7, 2.0, 0.5), (-1.3, 0.6, -0.2)]:
        np.testing.assert_allclose(fl.elbo_of_sigma(sig, x=xv, a=av, c=cv), exact_elbo(xv, av, cv, sig), atol=1e-10)
        assert fl.log_px(xv, "affine", av, cv) == pytest.approx(log_px(xv, av, cv), abs=1e-12)


def test_flow_decoder_integrates_to_one_and_bad_arguments_fail():
    pytest.importorskip("torch")
    assert fl.decoder_mass() == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError):
        fl.flow_dirac_elbo(decoder="identity")
    with pytest.raises(ValueError):
        fl.flow_dirac_elbo(sigma=0.0)


def test_operator_rules_are_not_fooled():
    z = sp.Symbol("z", real=True)
    q, p = density("q_t", 1), density("p_t", 1)
    g = sp.Function("g", positive=True)
    E = lambda f, d: Expect(f, z, d)  # noqa: E731
    # linearity and normalization
    assert reduces_by_rules(E(2 * sp.log(q(z)) + 3, q(z)) - 2 * E(sp.log(q(z)), q(z)) - 3)
    # an integral of a non-density is not 1; two different expectations are not equal
    assert not reduces_by_rules(sp.Integral(g(z), (z,)) - 1)
    assert not reduces_by_rules(E(sp.log(q(z)), q(z)) - E(sp.log(p(z)), p(z)))
    # KL(q || p) >= 0 only through a witness that matches
    from derivations.witnesses import GibbsFunction
    assert known_nonnegative(E(GibbsFunction(p(z) / q(z)), q(z)))
    assert not known_nonnegative(E(sp.log(p(z) / q(z)), q(z)))


def test_flow_log_kind_helpers_match_the_proved_log_instance():
    inst = {d.label: d for d in REGISTRY["flow_as_dirac_vae"].derivations}["nonlinear_log"]
    xp = sorted(inst.steps[-1].expr.free_symbols, key=lambda s: s.name)[0]
    exact = sp.lambdify(xp, inst.steps[-1].expr)
    for xv in (0.4, 0.7, 2.5):
        assert fl.log_px(xv, "log") == pytest.approx(exact(xv), abs=1e-12)
        assert fl.elbo_of_sigma([1e-4], x=xv, kind="log")[0] == pytest.approx(exact(xv), abs=1e-6)


@pytest.mark.parametrize("which", ["log_pf", "logdet"])
def test_flow_check_rejects_a_five_percent_error_in_either_term(which):
    pytest.importorskip("torch")
    from derivations.numeric import within

    out = fl.flow_dirac_elbo()
    terms = {"log_pf": out["log_pf"], "logdet": out["logdet"]}
    assert within(out["elbo"], out["se"], sum(terms.values()), floor=0)[1] + fl.BIAS_ALLOWANCE >= abs(out["elbo"] - out["log_px"])
    terms[which] *= 1.05
    wrong = sum(terms.values())
    _, tol = within(out["elbo"], out["se"], wrong)
    assert abs(out["elbo"] - wrong) > tol + fl.BIAS_ALLOWANCE

"""The random-instance evaluator (derivations.instances): the engine's second line of defence (issue 19).

Each test pins one property the refutations rely on: quadrature accuracy, normalized random densities,
concave draws for a declared concave function, a hypothesis sum_k w_k = 1 honoured, complex values compared,
and the verdicts of ``refute_link`` on a true and a false link.  Plus what an identity takes as given.
"""
import math

import pytest
import sympy as sp

from derivations import REGISTRY
from derivations.expectation import Expect, NormalPDF, density
from derivations.instances import Unevaluable, World, evaluate, refute_link
from derivations.witnesses import tangent_gap

z = sp.Symbol("z", real=True)
x = sp.Symbol("x", real=True)
t = sp.Symbol("t", positive=True)
q = density("q_inst_test")
pc = density("p_cond_inst_test")  # p(z | x)


def test_quadrature_matches_closed_forms():
    w = World(0)
    mu, v = sp.Rational(3, 10), sp.Rational(7, 5)
    # E_N(mu, v)[z^2] = mu^2 + v ; integral of exp(-t) on [0, oo) = 1 ; integral of z^3 on [-1, 2] = 15/4
    assert abs(evaluate(Expect(z**2, z, NormalPDF(z, mu, v)), w) - float(mu**2 + v)) < 1e-9
    assert abs(evaluate(sp.Integral(sp.exp(-z), (z, 0, sp.oo)), w) - 1.0) < 1e-9
    assert abs(evaluate(sp.Integral(z**3, (z, -1, 2)), w) - 3.75) < 1e-9


@pytest.mark.parametrize("seed", range(5))
def test_random_densities_are_normalized_in_their_variable(seed):
    w = World(seed)
    assert abs(evaluate(sp.Integral(q(z), (z, -sp.oo, sp.oo)), w) - 1.0) < 1e-8
    # a conditional density integrates to one over its first argument, whatever the conditioning value
    assert abs(evaluate(sp.Integral(pc(z, x), (z, -sp.oo, sp.oo)), w) - 1.0) < 1e-8
    # and not over a half line (a Gaussian mixture has mass on both sides)
    half = evaluate(sp.Integral(q(z), (z, 0, sp.oo)), w)
    assert 0.0 < half < 1.0


@pytest.mark.parametrize("seed", range(5))
def test_a_declared_concave_function_is_drawn_concave_with_its_derivative(seed):
    phi, dphi = sp.Function("phi_cc_test", real=True), sp.Function("dphi_cc_test", real=True)
    tangent_gap(phi, dphi, name="T_cc_test", concave=True)
    w = World(seed)
    y = sp.Symbol("y", real=True)
    vals = [evaluate(phi(sp.Float(a)), w) for a in (-1.0, 0.0, 1.0)]
    assert vals[0] + vals[2] <= 2 * vals[1] + 1e-12  # midpoint concavity
    h = 1e-5
    num = (evaluate(phi(sp.Float(0.3 + h)), w) - evaluate(phi(sp.Float(0.3 - h)), w)) / (2 * h)
    assert abs(num - evaluate(dphi(sp.Float(0.3)), w)) < 1e-6
    assert y  # the symbol is only used to build expressions above


def test_undeclared_undefined_function_is_not_concave():
    phi, dphi = sp.Function("phi_nc_test", real=True), sp.Function("dphi_nc_test", real=True)
    T = tangent_gap(phi, dphi, name="T_nc_test")  # no concavity hypothesis
    assert T(sp.Symbol("a", real=True), sp.Symbol("b", real=True)).is_nonnegative is not True


def test_weights_hypothesis_is_honoured():
    k, K = sp.Symbol("k", integer=True, positive=True), sp.Symbol("K", integer=True, positive=True)
    w_ = sp.IndexedBase("w_inst_test", positive=True)
    total = sp.Sum(w_[k], (k, 1, K))
    for seed in range(4):
        world = World(seed, {w_.label: (k, 1, K, sp.Integer(1))})
        assert abs(evaluate(total, world) - 1.0) < 1e-12


def test_complex_values_are_compared_not_skipped():
    y = sp.Symbol("y", real=True)
    # log(y^2) = 2 log y fails for y < 0 (2 pi i apart): some instance must show it
    verdict, detail = refute_link(sp.log(y**2), 2 * sp.log(y), "=", trials=6)
    assert verdict == "refuted" and "right side" in detail


def test_refute_link_refutes_a_false_normalization_and_keeps_a_true_one():
    # E_{2q}[1] = 1 is false; E_q[1] = 1 is true
    assert refute_link(Expect(1, z, 2 * q(z)), sp.Integer(1), "=")[0] == "refuted"
    assert refute_link(Expect(1, z, q(z)), sp.Integer(1), "=")[0] == "held"
    # integral of a density over [0, oo) is not 1
    assert refute_link(sp.Integral(q(z), (z, 0, sp.oo)), sp.Integer(1), "=")[0] == "refuted"


def test_leibniz_without_boundary_term_is_refuted_numerically():
    theta = sp.Symbol("theta", positive=True)
    lhs = sp.Derivative(sp.Integral(z / theta, (z, 0, theta)), theta)  # d/dtheta (theta/2) = 1/2
    wrong = sp.Integral(sp.diff(z / theta, theta), (z, 0, theta))  # -1/2
    assert refute_link(lhs, wrong, "=")[0] == "refuted"
    assert refute_link(lhs, sp.Rational(1, 2), "=")[0] == "held"


def test_unevaluable_constructs_say_so():
    from sympy.stats import Expectation, Normal

    with pytest.raises(Unevaluable):
        evaluate(Expectation(Normal("X", 0, 1) ** 2), World(0))


def test_inequality_between_complex_values_fails():
    y = sp.Symbol("y", real=True)
    assert refute_link(sp.log(y), sp.Integer(-100), ">=", trials=6)[0] == "refuted"


@pytest.mark.parametrize("name, needle", [
    ("em", "M-step"),
    ("evidence_monte_carlo", r"\bar{w}"),
    ("flow_as_dirac_vae", "Taylor"),
    ("score_function_gradient", "integrable bound"),
    ("reparameterization_gradient", "integrable bound"),
])
def test_what_each_identity_takes_as_given_is_named(name, needle):
    given = REGISTRY[name].taken_as_given
    assert any(needle in g for g in given), given


@pytest.mark.parametrize("name", ["elbo_gap", "elbo_decompositions", "gaussian_kl", "elbo_surgery", "jensen"])
def test_identities_that_take_nothing_as_given(name):
    assert REGISTRY[name].taken_as_given == []


def test_quadrature_of_a_narrow_peak_is_resolved():
    # a Gaussian of sd 0.01 centred off the panel edges: the adaptive rule must see it
    assert math.isclose(evaluate(sp.Integral(NormalPDF(z, sp.Rational(37, 100), sp.Rational(1, 10000)),
                                             (z, -sp.oo, sp.oo)), World(0)), 1.0, rel_tol=1e-6)

"""The ELBO-surgery oracles (derivations.models.surgery_oracles) used to test training.surgery."""
import numpy as np
import pytest
from scipy import integrate, stats

from derivations.models.surgery_oracles import discrete_surgery_terms, gaussian_surgery_terms


def test_discrete_identity_and_bounds():
    rng = np.random.default_rng(0)
    for n, k in [(2, 2), (5, 7), (30, 4)]:
        q = rng.dirichlet(np.ones(k), size=n)
        p = rng.dirichlet(np.ones(k))
        t = discrete_surgery_terms(q, p)
        assert t["avg_kl"] == pytest.approx(t["marginal_kl"] + t["index_code_mi"], abs=1e-12)
        assert t["index_code_mi"] == pytest.approx(t["index_code_mi_entropy"], abs=1e-12)
        assert 0 <= t["index_code_mi"] <= np.log(n) + 1e-12 and t["marginal_kl"] >= 0


def test_discrete_extremes():
    # one-hot, distinct encoders: I = log N; identical encoders: I = 0; prior = q_agg: marginal KL = 0
    t = discrete_surgery_terms(np.eye(4), np.full(4, 0.25))
    assert t["index_code_mi"] == pytest.approx(np.log(4)) and t["marginal_kl"] == pytest.approx(0.0, abs=1e-15)
    same = np.tile([0.2, 0.3, 0.5], (3, 1))
    t = discrete_surgery_terms(same, np.array([0.5, 0.25, 0.25]))
    assert t["index_code_mi"] == pytest.approx(0.0, abs=1e-15)
    assert t["avg_kl"] == pytest.approx(t["marginal_kl"], abs=1e-15)


def test_discrete_bad_input_raises():
    with pytest.raises(ValueError):
        discrete_surgery_terms(np.array([[0.5, 0.6]]), np.array([0.5, 0.5]))
    with pytest.raises(ValueError):
        discrete_surgery_terms(np.array([[0.5, 0.5]]), np.array([1.0, 0.0]))
    with pytest.raises(ValueError):
        discrete_surgery_terms(np.ones((2, 3)) / 3, np.ones(2) / 2)


def test_gaussian_decomposition_2d():
    rng = np.random.default_rng(1)
    mu = rng.normal(size=(6, 2)) * 1.5
    logvar = rng.uniform(-2.5, 0.0, size=(6, 2))
    t = gaussian_surgery_terms(mu, logvar)
    assert abs(t["decomposition_error"]) < 1e-6
    assert t["index_code_mi"] == pytest.approx(t["index_code_mi_entropy"], abs=1e-6)
    assert 0 <= t["index_code_mi"] <= t["log_n"] and t["marginal_kl"] >= 0


def test_gaussian_1d_against_adaptive_quadrature():
    mu = np.array([[-1.0], [0.7]])
    logvar = np.array([[-1.0], [-0.3]])
    t = gaussian_surgery_terms(mu, logvar)
    sd = np.exp(0.5 * logvar[:, 0])

    def qagg(z):
        return 0.5 * (stats.norm.pdf(z, mu[0, 0], sd[0]) + stats.norm.pdf(z, mu[1, 0], sd[1]))

    mkl = integrate.quad(lambda z: qagg(z) * (np.log(qagg(z)) - stats.norm.logpdf(z)), -15, 15, limit=200)[0]
    assert t["marginal_kl"] == pytest.approx(mkl, abs=1e-7)


def test_gaussian_extremes():
    # encoders equal to the prior: everything is zero
    t = gaussian_surgery_terms(np.zeros((3, 2)), np.zeros((3, 2)))
    assert abs(t["avg_kl"]) < 1e-12 and abs(t["marginal_kl"]) < 1e-7 and abs(t["index_code_mi"]) < 1e-7
    # far apart, narrow encoders: I -> log N
    t = gaussian_surgery_terms(np.array([[-4.0], [0.0], [4.0]]), np.full((3, 1), 2 * np.log(0.2)))
    assert t["index_code_mi"] == pytest.approx(np.log(3), abs=1e-6)


def test_gaussian_bad_input_raises():
    with pytest.raises(ValueError):
        gaussian_surgery_terms(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError):
        gaussian_surgery_terms(np.zeros((2, 2)), np.zeros((2, 1)))
    with pytest.raises(ValueError):
        gaussian_surgery_terms(np.zeros((2, 2)), np.full((2, 2), -20.0))  # too narrow for max_grid

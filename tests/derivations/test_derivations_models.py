"""The exact toy models and helpers exposed to vizlab, book and training."""
import numpy as np
import pytest
import sympy as sp

from derivations.models import gradient_estimators as gradients, linear_gaussian
from derivations.evidence_monte_carlo import evidence_estimators, iwae_curve
from derivations.flow_as_dirac_vae import elbo_of_sigma, log_px
from derivations import gaussian_kl
from derivations.models.gaussian import kl_diag_standard_normal
from derivations.jensen import jensen_gap


def test_linear_gaussian_numpy_matches_sympy_and_the_gap_identity():
    rng = np.random.default_rng(0)
    for _ in range(5):
        m, x, w, b = rng.normal(size=4)
        v, s = rng.uniform(0.2, 2.0, size=2)
        point = {linear_gaussian.m: m, linear_gaussian.v: v, linear_gaussian.x: x, linear_gaussian.w: w, linear_gaussian.b: b, linear_gaussian.s: s}
        assert linear_gaussian.elbo(m, v, x, w, b, s) == pytest.approx(float(linear_gaussian.elbo_expr().subs(point)), rel=1e-12)
        assert linear_gaussian.kl_to_posterior(m, v, x, w, b, s) >= 0
        # $\log p(x) = \mathcal{L} + \mathrm{KL}$
        assert linear_gaussian.log_evidence(x, w, b, s) == pytest.approx(linear_gaussian.elbo(m, v, x, w, b, s) + linear_gaussian.kl_to_posterior(m, v, x, w, b, s), abs=1e-10)
        mp, vp = linear_gaussian.posterior(x, w, b, s)
        assert linear_gaussian.kl_to_posterior(mp, vp, x, w, b, s) == pytest.approx(0.0, abs=1e-12)
        assert linear_gaussian.elbo(mp, vp, x, w, b, s) == pytest.approx(linear_gaussian.log_evidence(x, w, b, s), abs=1e-10)


def test_linear_gaussian_broadcasts():
    m = np.linspace(-1, 1, 7)
    out = linear_gaussian.elbo(m, 0.5, 1.0, 2.0, 0.0, 0.5)
    assert out.shape == (7,) and np.argmax(out) == np.argmin(linear_gaussian.kl_to_posterior(m, 0.5, 1.0, 2.0, 0.0, 0.5))
    assert isinstance(linear_gaussian.elbo_expr(), sp.Expr)


def test_jensen_gap():
    out = jensen_gap([1.0, 2.0, 4.0])
    assert out["gap"] > 0 and out["log_mean"] == pytest.approx(np.log(7 / 3))
    assert jensen_gap([3.0, 3.0])["gap"] == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError):
        jensen_gap([1.0, -1.0])


def test_gradient_samples_shapes_and_unbiasedness():
    g = gradients.gradient_samples(n=50_000, seed=1)
    assert g["score_function"].shape == (50_000, 2) and g["reparameterization"].shape == (50_000, 2)
    for key in ("score_function", "reparameterization"):
        assert np.all(np.abs(g["mean"][key] - g["exact"]) <= 4 * g["se"][key])
    assert np.all(g["var"]["reparameterization"] < g["var"]["score_function"])
    with pytest.raises(ValueError):
        gradients.gradient_samples(sigma=0.0)


def test_evidence_estimators_and_iwae():
    ev = evidence_estimators(seed=2, n=20_000)
    assert abs(ev["is"] - ev["exact"]) <= 4 * ev["is_se"]
    assert ev["naive_var"] > 10 * ev["is_var"]
    cur = iwae_curve(ks=(1, 10, 100), n_rep=500, seed=2)
    assert cur["iwae"][0] < cur["iwae"][1] < cur["iwae"][2] <= cur["log_px"] + 4 * cur["se"][2]


@pytest.mark.parametrize("kind,x", [("affine", 0.7), ("log", 1.8)])
def test_elbo_of_sigma_tends_to_log_px(kind, x):
    sig = np.array([1.0, 0.3, 0.1, 1e-3])
    curve = elbo_of_sigma(sig, x=x, kind=kind)
    assert curve.shape == (4,)
    assert abs(curve[-1] - log_px(x, kind)) < 1e-5
    assert abs(curve[0] - log_px(x, kind)) > abs(curve[-1] - log_px(x, kind))
    if kind == "affine":  # exact: log p(x) - sigma^2 / 2
        np.testing.assert_allclose(curve, log_px(x, kind) - sig**2 / 2, atol=1e-10)
    with pytest.raises(ValueError):
        elbo_of_sigma([0.0], kind=kind)


def test_kl_diag_standard_normal_matches_torch_and_the_identity():
    """The model's closed form (models.gaussian, which a model may import) is torch's KL; the identity uses it."""
    torch = pytest.importorskip("torch")
    from torch.distributions import Independent, Normal, kl_divergence

    for mu, logvar in ((np.array([[0.1, -2.0], [1.0, 0.5]]), np.array([[0.3, -1.0], [0.0, 2.0]])),
                       (gaussian_kl.MU, gaussian_kl.LOGVAR)):
        q = Independent(Normal(torch.tensor(mu), torch.tensor(np.exp(0.5 * logvar))), 1)
        zero, one = torch.zeros(mu.shape, dtype=torch.float64), torch.ones(mu.shape, dtype=torch.float64)
        p = Independent(Normal(zero, one), 1)
        np.testing.assert_allclose(kl_diag_standard_normal(mu, logvar), kl_divergence(q, p).numpy(), rtol=1e-12)
    # log sigma read as a log-variance is caught by the same comparison
    assert not np.allclose(kl_diag_standard_normal(mu, logvar / 2), kl_divergence(q, p).numpy())
    assert gaussian_kl.kl_diag_standard_normal is kl_diag_standard_normal  # the identity uses the model's one copy

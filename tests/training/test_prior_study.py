"""training.prior_study: the IWAE bound against K, active units, the fitted priors (on a tiny model)."""

import math

import pytest
import torch

from training.model import VAE
from training.prior_study import active_units, fit_prior, iwae_vs_k
from training.surgery_estimators import marginal_kl


def _model_and_data(seed=0):
    torch.manual_seed(seed)
    model = VAE(latent_dim=2, hidden=(16,)).eval()
    x = (torch.rand(12, 784, generator=torch.Generator().manual_seed(1)) < 0.2).float()
    return model, x


def test_iwae_k1_is_the_elbo_and_the_bound_rises_with_k():
    model, x = _model_and_data()
    b = iwae_vs_k(model, x, ks=(1, 10, 100), chunk=37, seed=0)
    with torch.no_grad():
        elbo = torch.stack([model(x).elbo for _ in range(300)]).double()  # (300, 12)
    ref = elbo.mean()
    se_ref = elbo.mean(1).std() / math.sqrt(300)
    # L_1 averaged over 100 groups of one draw per image is the ELBO of these images
    assert abs(b["1"]["value"] - ref.item()) < 4 * math.hypot(se_ref.item(), elbo.std().item() / math.sqrt(12 * 100))
    assert b["1"]["value"] < b["10"]["value"] < b["100"]["value"]  # Burda et al. (2016), theorem 1
    with pytest.raises(ValueError, match="divide"):
        iwae_vs_k(model, x, ks=(3, 10))


def test_active_units_counts_variance_above_threshold():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(20000, 3, generator=g) * torch.tensor([1.0, 0.2, 0.05])  # variances 1, 0.04, 0.0025
    a = active_units(mu)
    assert a["count"] == 2 and a["of"] == 3
    assert a["variance_per_unit"][1] == pytest.approx(0.04, rel=0.05)


def test_fitted_mixture_prior_lowers_the_marginal_kl():
    g = torch.Generator().manual_seed(0)
    mu = torch.cat([torch.randn(200, 2, generator=g) * 0.3 + 3.0, torch.randn(200, 2, generator=g) * 0.3 - 3.0])
    logvar = torch.full_like(mu, -2.0)
    model, _ = _model_and_data()
    prior, trace, _ = fit_prior(model, mu, logvar, "mog", 4, steps=300, seed=0)
    with torch.no_grad():
        fitted = marginal_kl(mu, logvar, num_samples=4000, seed=1, prior=prior.distribution())["marginal_kl"]
    standard = marginal_kl(mu, logvar, num_samples=4000, seed=1)["marginal_kl"]
    assert fitted.value < standard.value - 4 * math.hypot(fitted.se, standard.se)
    assert trace[-1] > trace[0]


@pytest.mark.parametrize("spec", ["mog:3", "vamp:4"])
def test_learned_prior_components_rebuild_the_trained_prior(spec):
    """The components stored for the 2-D scene are the model's own prior: the mixture they define has its log-density."""
    from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

    from training.prior_study import learned_prior_components

    torch.manual_seed(0)
    model = VAE(latent_dim=2, hidden=(16,), prior=spec).eval()
    with torch.no_grad():
        model.prior.pseudo_raw.uniform_(0, 1) if spec.startswith("vamp") else model.prior.logits.normal_()
        c = {k: torch.as_tensor(v) for k, v in learned_prior_components(model).items()}
        rebuilt = MixtureSameFamily(Categorical(probs=c["learned_weights"]),
                                    Independent(Normal(c["learned_means"], torch.exp(0.5 * c["learned_logvars"])), 1))
        z = torch.randn(50, 2, generator=torch.Generator().manual_seed(2)) * 2
        torch.testing.assert_close(rebuilt.log_prob(z), model.prior_distribution().log_prob(z), rtol=1e-5, atol=1e-5)
        # a wrong component set (the means moved by 0.3) is told apart
        wrong = MixtureSameFamily(Categorical(probs=c["learned_weights"]),
                                  Independent(Normal(c["learned_means"] + 0.3, torch.exp(0.5 * c["learned_logvars"])), 1))
        assert not torch.allclose(wrong.log_prob(z), model.prior_distribution().log_prob(z), atol=1e-3)


def test_learned_prior_components_refuse_the_standard_prior():
    from training.prior_study import learned_prior_components

    with pytest.raises(ValueError, match="not learned"):
        learned_prior_components(VAE(latent_dim=2, hidden=(16,)))

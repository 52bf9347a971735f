"""``training.estimators``: the KL term, the reparameterized draw and the estimate type, against torch.distributions
and against each other.

Monte Carlo checks are seeded and use 4 standard errors (two-sided failure probability ~6e-5 if the estimator is
right); each has a wrong twin that the same check rejects.
"""

import math

import pytest
import torch
from torch.distributions import Independent, MixtureSameFamily, Categorical, Normal, kl_divergence

from training.estimators import (Estimate, average_kl_estimate, gaussian_kl_per_dim, gaussian_kl_to_standard_normal,
                                 kl_to_prior, log_diag_gaussian, log_prior, log_standard_normal, mean_se,
                                 reparameterize, sample_diag_gaussian)


def _encodings(n=50, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, d, generator=g, dtype=torch.float64)


def test_kl_closed_form_matches_torch_distributions():
    mu, logvar = _encodings()
    q = Normal(mu, torch.exp(0.5 * logvar))
    ref = kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu)))  # (n, D)
    assert torch.allclose(gaussian_kl_per_dim(mu, logvar), ref, atol=1e-12)
    assert torch.allclose(gaussian_kl_to_standard_normal(mu, logvar), ref.sum(-1), atol=1e-12)
    assert torch.allclose(kl_to_prior(mu, logvar), ref.sum(-1), atol=1e-12)
    assert torch.allclose(kl_to_prior(mu, logvar, per_dim=True), ref, atol=1e-12)
    wrong = 0.5 * (logvar.exp() + mu.pow(2) - logvar).sum(-1)  # wrong twin: missing the -D
    assert not torch.allclose(wrong, ref.sum(-1), atol=1e-2)


def test_densities_match_torch_distributions():
    mu, logvar = _encodings(n=7, d=3)
    z = torch.randn(5, 7, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ref = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1).log_prob(z)
    assert torch.allclose(log_diag_gaussian(z, mu, logvar), ref, atol=1e-10)
    std = Independent(Normal(torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)), 1)
    assert torch.allclose(log_standard_normal(z), std.log_prob(z), atol=1e-10)
    flat = z.reshape(-1, 3)
    assert torch.allclose(log_prior(flat, std, chunk_size=4), std.log_prob(flat), atol=1e-12)  # chunked = whole


def test_reparameterized_draw_has_the_encoder_moments_and_gradients():
    mu = torch.tensor([0.5, -2.0], dtype=torch.float64, requires_grad=True)
    logvar = torch.tensor([0.0, -1.5], dtype=torch.float64, requires_grad=True)
    z = sample_diag_gaussian(mu, logvar, (20_000,), torch.Generator().manual_seed(0))  # (S, D)
    se_mean = torch.exp(0.5 * logvar).detach() / math.sqrt(len(z))
    assert ((z.mean(0) - mu).abs() < 4 * se_mean).all()
    # the variance of a normal sample variance is 2 sigma^4 / (S - 1)
    var = logvar.exp().detach()
    assert ((z.var(0) - var).abs() < 4 * var * math.sqrt(2 / (len(z) - 1))).all()
    z.sum().backward()  # dz/dmu = 1, dz/dlogvar = eps sigma / 2: gradients flow through the draw
    assert torch.allclose(mu.grad, torch.full_like(mu, len(z)))
    eps = torch.tensor([1.0, -2.0])
    assert torch.allclose(reparameterize(torch.zeros(2), torch.log(torch.tensor([4.0, 9.0])), eps),
                          torch.tensor([2.0, -6.0]))
    wrong = torch.zeros(2) + torch.tensor([4.0, 9.0]) * eps  # wrong twin: sigma^2 for sigma
    assert not torch.allclose(wrong, torch.tensor([2.0, -6.0]))


def test_monte_carlo_kl_term_is_unbiased_for_the_closed_form():
    # under the N(0, I) prior given as a distribution, log q(z|x) - log p(z) at z ~ q averages to the closed form
    mu, logvar = _encodings(n=20_000, d=3, seed=4)
    prior = Independent(Normal(torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)), 1)
    exact = average_kl_estimate(mu, logvar)
    assert exact.se == 0.0 and exact.n_samples == len(mu)
    mc = average_kl_estimate(mu, logvar, prior, torch.Generator().manual_seed(5))
    assert mc.n_samples == len(mu) and mc.se > 0
    assert abs(mc.value - exact.value) < 4 * mc.se
    # wrong twin: the prior's log density added instead of subtracted -- rejected by the same check
    z = sample_diag_gaussian(mu, logvar, generator=torch.Generator().manual_seed(5))
    wrong = mean_se(log_diag_gaussian(z, mu, logvar) + prior.log_prob(z))
    assert abs(wrong.value - exact.value) > 4 * wrong.se


def test_kl_to_prior_refuses_a_learned_prior_without_a_draw():
    mu, logvar = _encodings(n=3, d=2)
    mog = MixtureSameFamily(Categorical(logits=torch.zeros(2, dtype=torch.float64)),
                            Independent(Normal(torch.zeros(2, 2, dtype=torch.float64),
                                               torch.ones(2, 2, dtype=torch.float64)), 1))
    with pytest.raises(ValueError, match="no closed-form KL"):
        kl_to_prior(mu, logvar, prior=mog)
    with pytest.raises(ValueError, match="does not split"):
        kl_to_prior(mu, logvar, z=mu, prior=mog, per_dim=True)


def test_mean_se_and_estimate():
    x = torch.tensor([1.0, 2.0, 3.0, 6.0])
    e = mean_se(x)
    assert e == Estimate(3.0, math.sqrt(14 / 3) / 2, 4)  # sample sd with n - 1, over sqrt(n)
    assert e.term() == {"value": 3.0, "se": e.se} and e.to_dict()["n_samples"] == 4
    assert math.isnan(mean_se(torch.tensor([2.0])).se) and mean_se(torch.tensor([2.0]), single_se=0.0).se == 0.0

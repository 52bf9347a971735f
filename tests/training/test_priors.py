"""Learned priors (training.priors): log-densities against scipy, the Monte Carlo KL, resume and NaN stop per prior,
the surgery estimators with a mixture prior against an exact quadrature reference, and evaluate with a learned prior.

derivations/ has no oracle for a mixture prior (its surgery oracle, ``gaussian_surgery_terms``, is for N(0, I)), so
the exact reference for a mixture prior is written here, by 1-D quadrature with scipy.
Monte Carlo checks use fixed seeds and 4 standard errors.
"""

import json
import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import norm

from training.config import ConfigError
from training.model import VAE, gaussian_kl_to_standard_normal
from training.prior_spec import parse_prior
from training.priors import MixturePrior, StandardPrior, VampPrior
from training.surgery_estimators import optimal_prior_elbo, surgery_terms
from training.checkpoint import load_model
from training.train import TrainingDiverged, train

from training_fixtures import poison_forward, train_config as _cfg
def test_parse_prior_accepts_the_three_kinds_and_refuses_others():
    assert parse_prior("standard") == ("standard", 0)
    assert parse_prior("mog:7") == ("mog", 7)
    assert parse_prior("vamp:500") == ("vamp", 500)
    for bad in ("vamp", "mog:0", "mog:-1", "vamp:x", "flow:3", ""):
        with pytest.raises(ConfigError, match="prior="):
            parse_prior(bad)


def test_mixture_log_prob_matches_scipy():
    torch.manual_seed(0)
    p = MixturePrior(3, 4)
    with torch.no_grad():
        p.logvars.normal_(0, 0.5)
        p.logits.normal_(0, 1)
    z = torch.randn(9, 3)
    got = p.distribution().log_prob(z).detach().numpy()
    m, s = p.means.detach().numpy(), np.exp(0.5 * p.logvars.detach().numpy())
    logw = p.logits.detach().numpy() - logsumexp(p.logits.detach().numpy())
    comp = norm.logpdf(z.numpy()[:, None, :], m[None], s[None]).sum(-1)  # (9, K)
    ref = logsumexp(comp + logw[None], axis=1)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4)
    # wrong twin: forgetting the mixture weights is caught by the same comparison
    assert np.abs(logsumexp(comp, axis=1) - math.log(4) - ref).max() > 1e-2


def test_vamp_log_prob_is_the_encoder_averaged_over_pseudo_inputs():
    torch.manual_seed(0)
    vae = VAE(latent_dim=2, hidden=(16,), prior="vamp:5")
    z = torch.randn(7, 2)
    got = vae.prior_distribution().log_prob(z).detach().numpy()
    mu, logvar = vae.encode(vae.prior.pseudo_inputs())
    mu, s = mu.detach().numpy(), np.exp(0.5 * logvar.detach().numpy())
    ref = logsumexp(norm.logpdf(z.numpy()[:, None, :], mu[None], s[None]).sum(-1), axis=1) - math.log(5)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4)
    assert vae.prior.pseudo_inputs().min() >= 0 and vae.prior.pseudo_inputs().max() <= 1
    with pytest.raises(TypeError, match="encode"):
        VampPrior(2, 3).distribution()


def test_standard_prior_has_no_parameters_and_keeps_checkpoints_loadable():
    vae = VAE(latent_dim=3, hidden=(8,))
    assert isinstance(vae.prior, StandardPrior) and not list(vae.prior.parameters())
    assert not any(k.startswith("prior.") for k in vae.state_dict())  # old checkpoints load unchanged


def test_monte_carlo_kl_is_unbiased_for_a_prior_equal_to_n01():
    """A one-component mixture at 0 with unit variance is N(0, I): the MC KL must match the closed form."""
    torch.manual_seed(1)
    vae = VAE(latent_dim=4, hidden=(16,), prior="mog:1")
    with torch.no_grad():
        vae.prior.means.zero_()
        vae.prior.logvars.zero_()
    x = (torch.rand(50, 784) < 0.3).float()
    mu, logvar = vae.encode(x)
    exact = gaussian_kl_to_standard_normal(mu, logvar).detach()
    draws = torch.stack([vae(x).kl.detach() for _ in range(400)])  # (400, 50)
    mean, se = draws.mean(0), draws.std(0) / math.sqrt(400)
    assert ((mean - exact).abs() < 4 * se + 1e-6).float().mean() >= 0.96
    assert abs(mean.mean() - exact.mean()) < 4 * (draws.mean(1).std() / math.sqrt(400))
    # wrong twin: a KL that dropped the log-variance term is far from these draws
    wrong = 0.5 * (logvar.exp() + mu.pow(2) - 1.0).sum(-1).detach()
    assert ((wrong - mean).abs() > 4 * se).float().mean() > 0.5


@pytest.mark.parametrize("prior", ["standard", "mog:3", "vamp:4"])
def test_resume_ends_with_same_parameters_per_prior(tmp_path, tiny_images, prior):
    full = train(_cfg(tmp_path / "a", epochs=3, prior=prior, lr_schedule="cosine", warmup_epochs=1.0, lr=2e-3,
                      batch_size_late=100, batch_late_from=3), data=tiny_images)
    train(_cfg(tmp_path / "b", epochs=1, prior=prior, lr_schedule="cosine", warmup_epochs=1.0, lr=2e-3,
               batch_size_late=100, batch_late_from=3), data=tiny_images)
    # the planned epochs are part of the schedule: resume with the full count (as reproduce does)
    part = train(_cfg(tmp_path / "b", epochs=3, prior=prior, lr_schedule="cosine", warmup_epochs=1.0, lr=2e-3,
                      batch_size_late=100, batch_late_from=3), resume=True, data=tiny_images)
    a, b = load_model(full)[0].state_dict(), load_model(part)[0].state_dict()
    assert set(a) == set(b)
    if prior != "standard":
        assert any(k.startswith("prior.") for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("prior", ["mog:3", "vamp:4"])
def test_nan_stops_learned_prior_runs(tmp_path, tiny_images, monkeypatch, prior):
    out = train(_cfg(tmp_path, epochs=1, prior=prior), data=tiny_images)
    poison_forward(monkeypatch)
    with pytest.raises(TrainingDiverged, match="non-finite ELBO"):
        train(_cfg(tmp_path, epochs=2, prior=prior), resume=True, data=tiny_images)
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 1


def _mixture_reference(mu, logvar, w, m, s):
    """Exact (1-D quadrature) average KL, marginal KL and MI for encodings N(mu_n, e^logvar_n) and the mixture prior."""
    sd = np.exp(0.5 * logvar)
    grid = np.linspace(min(mu.min() - 12 * sd.max(), m.min() - 12 * s.max()),
                       max(mu.max() + 12 * sd.max(), m.max() + 12 * s.max()), 200_001)
    dz = grid[1] - grid[0]
    lq = norm.logpdf(grid[None], mu[:, None], sd[:, None])  # (N, G)
    lagg = logsumexp(lq, axis=0) - math.log(len(mu))
    lp = logsumexp(norm.logpdf(grid[None], m[:, None], s[:, None]) + np.log(w)[:, None], axis=0)
    q = np.exp(lq)
    avg = float((q * (lq - lp[None])).sum(1).mean() * dz)
    marg = float((np.exp(lagg) * (lagg - lp)).sum() * dz)
    return {"avg_kl": avg, "marginal_kl": marg, "index_code_mi": avg - marg}


def test_surgery_with_a_mixture_prior_matches_exact_quadrature():
    g = torch.Generator().manual_seed(0)
    n = 30
    mu = 2.0 * torch.randn(n, 1, generator=g, dtype=torch.float64)
    logvar = -1.0 + 0.5 * torch.randn(n, 1, generator=g, dtype=torch.float64)
    w, m, s = np.array([0.2, 0.5, 0.3]), np.array([-2.0, 0.5, 3.0]), np.array([0.7, 1.2, 0.5])
    prior = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(probs=torch.tensor(w)),
        torch.distributions.Independent(torch.distributions.Normal(torch.tensor(m)[:, None],
                                                                   torch.tensor(s)[:, None]), 1))
    exact = _mixture_reference(mu[:, 0].numpy(), logvar[:, 0].numpy(), w, m, s)
    est = surgery_terms(mu, logvar, num_samples=40_000, seed=3, prior=prior)
    for key in ("avg_kl", "marginal_kl", "index_code_mi"):
        assert abs(est[key].value - exact[key]) < 4 * est[key].se, (key, est[key], exact[key])
    assert est["flags"] == []
    # wrong twin: the same draws scored against N(0, 1) instead of the mixture are rejected
    wrong = surgery_terms(mu, logvar, num_samples=40_000, seed=3)
    assert abs(wrong["marginal_kl"].value - exact["marginal_kl"]) > 4 * wrong["marginal_kl"].se
    # the optimal prior adds back exactly the marginal KL
    opt = optimal_prior_elbo({"value": -100.0, "se": 0.3}, est["marginal_kl"])
    assert opt.value == pytest.approx(-100.0 + est["marginal_kl"].value)
    assert opt.se == pytest.approx(math.hypot(0.3, est["marginal_kl"].se))


def test_evaluate_with_a_learned_prior_writes_a_valid_results_file(tmp_path, tiny_images, tiny_labeled):
    from training import result_files
    from training.evaluate import evaluate_run

    run = train(_cfg(tmp_path, epochs=1, prior="mog:3"), data=tiny_images)
    path = evaluate_run(run, name="t_mog", results_dir=tmp_path / "res", data=tiny_labeled, iwae_k=8,
                        iwae_images=10, verify=False)
    r = json.loads(path.read_text())
    result_files.check(r, path)
    assert "mixture of 3" in r["model"]["prior"]
    assert r["train"]["terms"]["avg_kl"]["se"] > 0  # Monte Carlo, not closed form
    t = r["train"]["terms"]
    assert t["avg_kl"]["value"] == pytest.approx(t["marginal_kl"]["value"] + t["index_code_mi"]["value"])

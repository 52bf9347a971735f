"""The ELBO-surgery estimators against the exact oracles of ``derivations.models.surgery_oracles`` (Hoffman & Johnson 2016).

Monte Carlo checks use fixed seeds and tolerances of 4 standard errors (two-sided failure probability ~6e-5 per
check if the estimator is right); the wrong twins show the same check rejects a plausible mistake.
"""

import math

import numpy as np
import pytest
import torch

from derivations.models.surgery_oracles import gaussian_surgery_terms
from training.estimators import gaussian_kl_to_standard_normal
from training.surgery_estimators import (aggregated_posterior_estimates, log_density_matrix, log_q_agg, logsumexp_rows,
                                        minibatch_marginal_kl, surgery_terms)


def _encodings(n=40, d=2, seed=0, spread=1.5, scale=-1.0):
    g = torch.Generator().manual_seed(seed)
    mu = spread * torch.randn(n, d, generator=g, dtype=torch.float64)
    logvar = scale + 0.5 * torch.randn(n, d, generator=g, dtype=torch.float64)
    return mu, logvar


def test_log_density_matrix_matches_torch_distributions():
    mu, logvar = _encodings(n=30, d=5)
    z = torch.randn(17, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ref = torch.distributions.Normal(mu[None], torch.exp(0.5 * logvar)[None]).log_prob(z[:, None]).sum(-1)
    assert torch.allclose(log_density_matrix(z, mu, logvar), ref, atol=1e-9)


def test_log_q_agg_is_chunk_invariant():
    mu, logvar = _encodings(n=50)
    z = torch.randn(33, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert torch.allclose(log_q_agg(z, mu, logvar, chunk_size=7), log_q_agg(z, mu, logvar, chunk_size=1000))


@pytest.mark.parametrize("seed, d", [(0, 2), (1, 2), (2, 1)])
def test_full_data_estimators_match_quadrature_oracle(seed, d):
    mu, logvar = _encodings(seed=seed, d=d)
    exact = gaussian_surgery_terms(mu.numpy(), logvar.numpy())
    est = surgery_terms(mu, logvar, num_samples=40_000, seed=seed)
    assert est["avg_kl"].value == pytest.approx(exact["avg_kl"], abs=1e-9)
    for key in ("marginal_kl", "index_code_mi", "index_code_mi_direct"):
        e = est[key]
        ref = exact["index_code_mi"] if key == "index_code_mi_direct" else exact[key]
        assert abs(e.value - ref) < 4 * e.se, (key, e, ref)
    assert est["flags"] == []
    # Wrong twin: a marginal KL that forgets the -log N of q_agg is off by log N, far beyond 4 se.
    wrong = est["marginal_kl"].value + math.log(mu.shape[0])
    assert abs(wrong - exact["marginal_kl"]) > 4 * est["marginal_kl"].se


def test_mi_reaches_log_n_for_separated_encodings_and_is_zero_for_one_point():
    n = 16
    mu = torch.zeros(n, 2, dtype=torch.float64)
    mu[:, 0] = torch.arange(n) * 30.0  # far apart: q(n|z) is one-hot, I = log N
    logvar = torch.zeros(n, 2, dtype=torch.float64)
    est = surgery_terms(mu, logvar, num_samples=4000)
    assert est["index_code_mi_direct"].value == pytest.approx(math.log(n), abs=1e-6)
    same = surgery_terms(torch.zeros(n, 2, dtype=torch.float64) + 0.3, torch.zeros(n, 2, dtype=torch.float64) - 1,
                         num_samples=4000)
    assert same["index_code_mi_direct"].value == pytest.approx(0.0, abs=1e-9)  # identical encodings: I = 0
    assert same["marginal_kl"].value == pytest.approx(same["avg_kl"].value, abs=5 * same["marginal_kl"].se)


def test_violation_of_mi_bounds_is_flagged_not_hidden(monkeypatch):
    import training.surgery_estimators as s

    mu, logvar = _encodings()
    real = s.aggregated_posterior_estimates

    def inflated(*a, **k):  # a marginal KL above the average KL makes MI negative
        out = real(*a, **k)
        out["marginal_kl"] = s.Estimate(out["marginal_kl"].value + 5.0, out["marginal_kl"].se, 1)
        return out

    monkeypatch.setattr(s, "aggregated_posterior_estimates", inflated)
    flags = s.surgery_terms(mu, logvar, num_samples=2000)["flags"]
    assert any("index_code_mi" in f and "< 0" in f for f in flags)


def test_minibatch_estimators_are_biased_full_data_is_not():
    """MWS with small M over-estimates q_agg's spread; the full-data estimator agrees with the oracle."""
    mu, logvar = _encodings(n=400, seed=5, spread=2.0, scale=-3.0)
    exact = gaussian_surgery_terms(mu.numpy(), logvar.numpy())["marginal_kl"]
    full = aggregated_posterior_estimates(mu, logvar, num_samples=20_000, seed=1)["marginal_kl"]
    mws = minibatch_marginal_kl(mu, logvar, batch_size=20, method="mws", num_batches=1000, seed=1)
    mss = minibatch_marginal_kl(mu, logvar, batch_size=20, method="mss", num_batches=1000, seed=1)
    assert abs(full.value - exact) < 4 * full.se
    assert abs(mws.value - exact) > 4 * mws.se  # the bias is visible beyond the noise
    assert abs(mss.value - exact) > 4 * mss.se
    # MWS's log(1/(NM) sum over the batch) under-counts q_agg: its estimate of KL is biased low here
    assert mws.value < exact


def test_minibatch_bad_arguments():
    mu, logvar = _encodings(n=10)
    with pytest.raises(ValueError, match="method"):
        minibatch_marginal_kl(mu, logvar, method="xyz")
    with pytest.raises(ValueError, match="batch_size"):
        minibatch_marginal_kl(mu, logvar, batch_size=11)


def test_closed_form_kl_float32_equals_float64():
    mu, logvar = _encodings(n=100, d=20)
    assert torch.allclose(gaussian_kl_to_standard_normal(mu.float(), logvar.float()).double(),
                          gaussian_kl_to_standard_normal(mu, logvar), atol=1e-4)


def test_floored_logsumexp_matches_torch_on_wide_ranges():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(64, 5000, generator=g) * 300.0  # entries spread over hundreds of nats, most far below the max
    ref = torch.logsumexp(a, dim=1)
    assert torch.allclose(logsumexp_rows(a.clone()), ref, rtol=0, atol=1e-4)
    # wrong twin: dropping the max-shift overflows/underflows and is rejected by the same comparison
    naive = a.exp().sum(1).log()
    assert not torch.allclose(naive, ref, rtol=0, atol=1e-4)

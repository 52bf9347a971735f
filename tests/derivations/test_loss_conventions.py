"""The bug-zoo checks: each loss-convention mistake is recognised, the correct convention passes."""
import numpy as np
import pytest

from derivations.gaussian_kl import kl_diag_standard_normal
from derivations.loss_conventions import (check_kl_direction, check_kl_weight, check_logvar, check_reduction,
                                          check_units, kl_reverse_diag_standard_normal)

RNG = np.random.default_rng(0)
M, P, D, N = 64, 784, 10, 60_000
MU = RNG.normal(size=(M, D))
LOGVAR = RNG.normal(scale=0.5, size=(M, D)) - 1.0
PER_PIXEL = -RNG.uniform(0.0, 0.7, size=(M, P))  # per-pixel log p(x | z), nats


def test_kl_weight():
    kl = kl_diag_standard_normal(MU, LOGVAR)
    assert check_kl_weight(kl.mean(), kl, N).ok
    bad = check_kl_weight(kl.mean() * M / N, kl, N)
    assert not bad.ok and bad.convention == "M/N weight" and "per image" in bad.message
    assert check_kl_weight(kl.mean() * N / M, kl, N).convention == "N/M weight"
    assert check_kl_weight(kl.mean() * 1.01, kl, N).convention == "unknown"
    with pytest.raises(ValueError):
        check_kl_weight(1.0, kl, n_train=M - 1)


@pytest.mark.parametrize("reported,convention", [
    (PER_PIXEL.sum(1).mean(), "correct"),
    (PER_PIXEL.sum(1).mean() / P, "mean over pixels"),
    (PER_PIXEL.sum(), "sum over batch"),
    (PER_PIXEL.mean(), "mean over pixels"),
    (PER_PIXEL.mean(1).sum(), "mean over pixels, sum over batch"),
])
def test_reduction(reported, convention):
    f = check_reduction(reported, PER_PIXEL)
    assert f.convention == convention and f.ok == (convention == "correct")


def test_reduction_single_image_and_bad_shape():
    assert check_reduction(PER_PIXEL[:1].sum(), PER_PIXEL[:1]).ok
    with pytest.raises(ValueError):
        check_reduction(1.0, np.zeros(5))


def test_kl_direction():
    right = kl_diag_standard_normal(MU, LOGVAR).mean()
    wrong = kl_reverse_diag_standard_normal(MU, LOGVAR).mean()
    assert check_kl_direction(right, MU, LOGVAR).ok
    f = check_kl_direction(wrong, MU, LOGVAR)
    assert not f.ok and f.convention == "KL(p || q)"


def test_reverse_kl_matches_torch():
    torch = pytest.importorskip("torch")
    from torch.distributions import Independent, Normal, kl_divergence

    q = Independent(Normal(torch.tensor(MU), torch.tensor(np.exp(0.5 * LOGVAR))), 1)
    p = Independent(Normal(torch.zeros(M, D, dtype=torch.float64), torch.ones(M, D, dtype=torch.float64)), 1)
    np.testing.assert_allclose(kl_reverse_diag_standard_normal(MU, LOGVAR), kl_divergence(p, q).numpy(), rtol=1e-12)


def test_logvar_vs_log_sigma():
    assert check_logvar(kl_diag_standard_normal(MU, LOGVAR).mean(), MU, LOGVAR).ok
    f = check_logvar(kl_diag_standard_normal(MU, LOGVAR / 2).mean(), MU, LOGVAR)
    assert f.convention == "log sigma read as logvar"
    assert check_logvar(kl_diag_standard_normal(MU, 2 * LOGVAR).mean(), MU, LOGVAR).convention == "logvar read as log sigma"


def test_units():
    v = -95.3
    assert check_units(v, v).ok
    assert check_units(v / np.log(2), v).convention == "bits"
    assert check_units(v / (P * np.log(2)), v, n_dims=P).convention == "bits per dimension"
    with pytest.raises(ValueError):
        check_units(float("nan"), v)

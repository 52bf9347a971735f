"""The hand-written ELBO gradient (training/elbo_step.py) against autograd, with a twin that must be caught."""

import pytest
import torch
from torch import nn

from training.elbo_step import ManualElboStep
from training.model import VAE, gaussian_kl_to_standard_normal
from training.checkpoint import load_model
from training.train import train

from training_fixtures import train_config as _cfg


def _autograd_grads(model, x, seed, detach_sigma=False):
    """Autograd's gradient of -mean ELBO; ``detach_sigma`` drops the reparameterization path through sigma."""
    for p in model.parameters():
        p.grad = None
    torch.manual_seed(seed)
    mu, logvar = model.encode(x)
    std = torch.exp(0.5 * logvar)
    z = mu + (std.detach() if detach_sigma else std) * torch.randn_like(mu)
    rec = model.log_px_given_z(x, model.decode(z))
    elbo = rec - gaussian_kl_to_standard_normal(mu, logvar)
    (-elbo.mean()).backward()
    return elbo.sum().detach(), [p.grad.clone() for p in model.parameters()]


def _manual(model, x, seed):
    for p in model.parameters():
        p.grad = None
    step = ManualElboStep(model)
    torch.manual_seed(seed)
    elbo, rec, kl = step.step(x)
    return elbo, rec, kl, [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("activation", ["softplus", "relu"])
@pytest.mark.parametrize("hidden", [(7,), (7, 5)])
def test_manual_gradient_equals_autograd(activation, hidden):
    torch.manual_seed(0)
    model = VAE(latent_dim=3, hidden=hidden, activation=activation, x_dim=11).double()
    x = (torch.rand(6, 11, dtype=torch.double) < 0.4).double()
    elbo_ref, ref = _autograd_grads(model, x, seed=1)
    elbo, rec, kl, got = _manual(model, x, seed=1)
    assert elbo.item() == pytest.approx(elbo_ref.item(), rel=1e-12)
    assert elbo.item() == pytest.approx((rec - kl).item(), rel=1e-12) and kl.item() > 0
    for (name, _), g, r in zip(model.named_parameters(), got, ref):
        assert torch.allclose(g, r, rtol=1e-10, atol=1e-12), name


def test_dropping_the_path_through_sigma_is_caught():
    # twin: autograd without d z / d sigma is a wrong reparameterization gradient; the same comparison rejects it
    torch.manual_seed(0)
    model = VAE(latent_dim=3, hidden=(7,), x_dim=11).double()
    x = (torch.rand(6, 11, dtype=torch.double) < 0.4).double()
    _, wrong = _autograd_grads(model, x, seed=1, detach_sigma=True)
    *_, got = _manual(model, x, seed=1)
    assert not all(torch.allclose(g, r, rtol=1e-10, atol=1e-12) for g, r in zip(got, wrong))


def test_unknown_activation_is_refused():
    model = VAE(latent_dim=2, hidden=(5,), x_dim=11)
    model.encoder[1] = nn.Tanh()
    with pytest.raises(TypeError, match="autograd"):
        ManualElboStep(model)


def test_training_with_manual_gradients_tracks_autograd(tmp_path, tiny_images):
    # float32, 2 epochs x 6 Adam steps: the two paths differ only by rounding
    a = train(_cfg(tmp_path / "a", epochs=2, gradients="manual"), data=tiny_images)
    b = train(_cfg(tmp_path / "b", epochs=2, gradients="autograd"), data=tiny_images)
    ma, _, _ = load_model(a)
    mb, _, _ = load_model(b)
    for (name, pa), pb in zip(ma.state_dict().items(), mb.state_dict().values()):
        assert torch.allclose(pa, pb, rtol=1e-4, atol=1e-5), name

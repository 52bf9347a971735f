r"""The ELBO's gradient written out by hand: one training step's forward and backward pass without autograd.

For a batch ``x`` (B, 784) in {0, 1}, one reparameterized sample per image, the loss is the negative mean ELBO

$$ \mathcal{L} = -\frac1B \sum_b \Big[ \log p_\theta(x_b \mid z_b) - \mathrm{KL}\big(q_\phi(z \mid x_b) \,\|\, \mathcal{N}(0, I)\big) \Big],
\qquad z_b = \mu_b + \sigma_b \odot \epsilon_b,\ \epsilon_b \sim \mathcal{N}(0, I) $$

(Kingma & Welling 2014, eqs. 7 and 10). Its gradients, layer by layer from the output back:

- Bernoulli decoder: $\partial \mathcal{L} / \partial \ell = (\mathrm{sigmoid}(\ell) - x) / B$ for the logits $\ell$;
- each linear layer $a = h W^\top + b$: $\partial W = g^\top h$, $\partial b = \sum_b g$, $\partial h = g W$;
- softplus: $\mathrm{softplus}'(a) = \mathrm{sigmoid}(a)$; ReLU: $\mathbb{1}[a > 0]$;
- the reparameterization (``derivations.reparameterization_gradient``):
  $\partial \mathcal{L}/\partial \mu = \partial \mathcal{L}/\partial z + \mu / B$ and
  $\partial \mathcal{L}/\partial \log\sigma^2 = \tfrac12\, \partial \mathcal{L}/\partial z \odot \epsilon \odot \sigma
  + \tfrac12 (\sigma^2 - 1) / B$, the second terms from the Gaussian KL's closed form
  (``derivations.gaussian_kl``).

What it teaches: the ELBO's gradient is ordinary backpropagation plus two terms that belong to the VAE -- the
reparameterization path $\partial z/\partial\mu = 1$, $\partial z/\partial\log\sigma^2 = \tfrac12 \epsilon\sigma$,
and the closed-form KL's own gradient -- so every line above can be read against its equation. It covers the
N(0, I) prior only (a learned prior's KL is a Monte Carlo estimate through ``torch.distributions``; those runs
use autograd). Whether it pays for itself in speed depends on the machine and the thread count:
``benchmarks/bench_training.py`` measures it against autograd (the numbers are in its output, not here). The
result is the same gradient as autograd's to float rounding: ``tests/training/test_elbo_step.py`` checks it,
together with a twin that shows a wrong gradient (the path through $\sigma$ dropped) is caught.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .estimators import gaussian_kl_per_dim, gaussian_kl_to_standard_normal
from .model import VAE
from .objective import free_bits_mask, kl_penalty


class ManualElboStep:
    r"""Computes the one-sample ELBO of a batch and writes $\nabla(-\text{mean ELBO})$ into each ``p.grad``.

    Args:
        model: a :class:`training.model.VAE` (its ``encoder`` and ``decoder`` are ``nn.Sequential`` stacks of
            ``nn.Linear`` with ``nn.Softplus`` (beta 1) or ``nn.ReLU`` between them).

    Raises:
        TypeError: the model has a layer or activation this step does not know how to differentiate.

    Call ``step(x)`` with ``x`` (B, 784) of 0/1 floats. It returns ``(elbo_sum, reconstruction_sum, kl_sum)``,
    0-d tensors summed over the batch, in nats: the true ELBO's terms whatever the objective. With
    ``kl_weight`` $w$ and ``free_bits`` $\lambda$ (arguments of ``step``, or the attributes) the gradient is
    that of the objective $-\mathcal{O}_w$ of :mod:`training.objective` instead: the KL's own gradient terms are multiplied by $w$ and, when $\lambda > 0$,
    zeroed in the dimensions whose batch-mean KL is at most $\lambda$; the objective's value is left in
    ``last_objective`` (0-d tensor, nats per image). Gradients overwrite ``.grad`` (no ``zero_grad`` is needed; do not
    set the grads to ``None`` between steps, they are reused buffers). The noise $\epsilon$ is drawn with
    ``torch.randn`` after the caller's binarization, in the same order as :meth:`VAE.forward`, so both paths
    consume the global RNG identically.
    """

    def __init__(self, model: VAE):
        self.model = model
        self.encoder = self._linears(model.encoder)
        self.decoder = self._linears(model.decoder)
        acts = {type(m) for m in [*model.encoder, *model.decoder] if not isinstance(m, nn.Linear)}
        if acts == {nn.Softplus}:
            for m in [*model.encoder, *model.decoder]:
                if isinstance(m, nn.Softplus) and (m.beta != 1 or m.threshold != 20):
                    raise TypeError("ManualElboStep supports nn.Softplus(beta=1, threshold=20) only: use gradients='autograd'")
            self.activation = "softplus"
        elif acts == {nn.ReLU}:
            self.activation = "relu"
        else:
            raise TypeError(f"ManualElboStep knows softplus or ReLU MLPs, got {sorted(a.__name__ for a in acts)}: "
                            "use gradients='autograd'")
        #: the objective's KL weight w and free bits lambda used by ``step(x)`` (1 and 0: the ELBO itself)
        self.kl_weight, self.free_bits = 1.0, 0.0
        self.last_objective: torch.Tensor | None = None
        for p in model.parameters():
            if p.grad is None:
                p.grad = torch.zeros_like(p)

    @staticmethod
    def _linears(seq: nn.Sequential) -> list[nn.Linear]:
        layers = []
        for m in seq:
            if isinstance(m, nn.Linear):
                layers.append(m)
            elif not isinstance(m, (nn.Softplus, nn.ReLU)):
                raise TypeError(f"ManualElboStep cannot differentiate {type(m).__name__}: use gradients='autograd'")
        return layers

    def _act(self, a: torch.Tensor) -> torch.Tensor:
        return F.softplus(a) if self.activation == "softplus" else torch.relu(a)

    def _act_backward(self, g: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        if self.activation == "softplus":
            return torch.ops.aten.softplus_backward(g, a, 1.0, 20.0)  # g * sigmoid(a)
        return torch.ops.aten.threshold_backward(g, a, 0.0)  # g * 1[a > 0]

    def _forward(self, layers: list[nn.Linear], h: torch.Tensor):
        """Returns the inputs of every layer and the pre-activations of the hidden ones, and the output."""
        inputs, pre = [], []
        for i, lin in enumerate(layers):
            inputs.append(h)
            a = torch.addmm(lin.bias, h, lin.weight.t())
            if i < len(layers) - 1:
                pre.append(a)
                h = self._act(a)
            else:
                h = a
        return inputs, pre, h

    def _backward(self, layers: list[nn.Linear], inputs, pre, g: torch.Tensor, input_grad: bool):
        """``g`` = dL/d(output) -> writes dL/dW, dL/db; returns dL/d(input) if ``input_grad``."""
        for i in reversed(range(len(layers))):
            lin = layers[i]
            torch.mm(g.t(), inputs[i], out=lin.weight.grad)
            torch.sum(g, 0, out=lin.bias.grad)
            if i == 0 and not input_grad:
                return None
            g_in = torch.mm(g, lin.weight)
            g = self._act_backward(g_in, pre[i - 1]) if i > 0 else g_in
        return g

    @torch.no_grad()
    def step(self, x: torch.Tensor, kl_weight: float | None = None,
             free_bits: float | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Forward and backward pass for ``x`` (B, 784); see the class docstring for what is returned.

        ``kl_weight`` / ``free_bits``: the objective of this step; ``None`` uses the attributes of the same names
        (how :func:`training.train.train` sets them, so ``step(x)`` keeps its one-argument form).
        """
        kl_weight = self.kl_weight if kl_weight is None else kl_weight
        free_bits = self.free_bits if free_bits is None else free_bits
        B = x.shape[0]
        enc_in, enc_pre, out = self._forward(self.encoder, x)
        mu, logvar = out.chunk(2, dim=-1)
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(mu)
        z = torch.addcmul(mu, std, eps)  # reparameterization: z = mu + sigma * eps
        dec_in, dec_pre, logits = self._forward(self.decoder, z)

        # log p(x|z) and the closed-form KL, summed over the batch
        reconstruction = self.model.log_px_given_z(x, logits).sum()
        var = std * std
        w = float(kl_weight)
        if free_bits > 0:
            kl_dims = gaussian_kl_per_dim(mu, logvar)  # (B, D)
            kl = kl_dims.sum()
            self.last_objective = reconstruction / B - w * kl_penalty(kl_dims, free_bits)
            # d max(lambda, mean_b KL_bd) / d KL_bd = 1[mean_b KL_bd > lambda] / B: the KL gradient of the floored dims is 0
            mask = free_bits_mask(kl_dims, free_bits)
            g_kl_mu, g_kl_var = mu * mask, (var - 1.0) * mask
        else:
            kl = gaussian_kl_to_standard_normal(mu, logvar).sum()
            self.last_objective = (reconstruction - w * kl) / B
            g_kl_mu, g_kl_var = mu, var - 1.0

        g_logits = (torch.sigmoid(logits) - x).div_(B)
        g_z = self._backward(self.decoder, dec_in, dec_pre, g_logits, input_grad=True)
        # the KL's gradient, weighted: w * mu / B and w * (sigma^2 - 1) / (2B)  (B / w = B exactly when w = 1)
        g_mu = g_kl_mu.div(B / w).add_(g_z)
        g_logvar = (g_z * eps * std).add_(g_kl_var, alpha=w / B).mul_(0.5)
        self._backward(self.encoder, enc_in, enc_pre, torch.cat([g_mu, g_logvar], dim=-1), input_grad=False)
        return reconstruction - kl, reconstruction, kl

r"""The training objective: the ELBO with a weighted KL term, a KL warm-up and free bits.

The ELBO of one image is $\mathbb{E}_{q_\phi(z|x)} \log p_\theta(x \mid z) - \mathrm{KL}(q_\phi(z \mid x) \,\|\, p(z))$.
Training may weight its KL term and floor it; the *objective* maximised over a minibatch of $B$ images is

$$ \mathcal{O}_w = \frac1B \sum_b \mathbb{E}_q \log p_\theta(x_b \mid z) \;-\; w \cdot R_\lambda,
\qquad R_\lambda = \begin{cases} \frac1B \sum_b \mathrm{KL}_b & \lambda = 0 \\
\sum_{d=1}^{D} \max\big(\lambda,\ \frac1B \sum_b \mathrm{KL}_{b,d}\big) & \lambda > 0 \end{cases} $$

- $w$, the **KL weight** (:func:`kl_weight`): $\beta$ (Higgins et al. 2017, the β-VAE), ramped linearly from 0
  to $\beta$ over the first ``kl_warmup`` epochs when asked (KL annealing, Bowman et al. 2016). $\beta = 1$ with
  no warm-up is the ELBO itself.
- $\lambda$, **free bits** in nats per latent dimension (Kingma et al. 2016, "Improved variational inference with
  inverse autoregressive flow", with one group per latent dimension): a dimension whose minibatch-average KL
  is below $\lambda$ costs a flat $\lambda$, so the objective does not push it further towards the prior
  (its KL gradient is zero). $\mathrm{KL}_{b,d} = \tfrac12(\sigma_{b,d}^2 + \mu_{b,d}^2 - 1 - \log\sigma_{b,d}^2)$,
  the N(0, I) prior's closed form, which splits over dimensions; a learned prior's KL does not, so free bits
  need ``prior="standard"``.

Only the objective is weighted. Every ELBO the trainer *reports* (the metrics' ``elbo``, ``reconstruction``,
``avg_kl``, the test ELBO, and everything :mod:`training.evaluate` writes) is the true ELBO ($\beta = 1$, no floor),
so runs with different $\beta$ are compared on the same bound of $\log p(x)$. The metrics rows add the epoch's
average objective (``objective``) and the KL weight at its last step (``kl_weight``).
"""

from __future__ import annotations

import torch


def kl_weight(beta: float, kl_warmup: int, epoch: int, step: int, steps_per_epoch: int) -> float:
    r"""The KL weight $w$ of step ``step`` (0-based) of epoch ``epoch`` (1-based); a function of these only.

    $w = \beta \min(1, t / W)$ with $t$ = epochs done after this step (``epoch - 1 + (step + 1) / steps_per_epoch``)
    and $W$ = ``kl_warmup`` epochs; $w = \beta$ when $W = 0$. The ramp reaches $\beta$ at the last step of
    epoch $W$ and never gives 0 (the first step has $\beta / (W \cdot \text{steps\_per\_epoch})$). A resumed run
    recomputes the same weights from its stored config (Bowman et al. 2016, KL cost annealing).
    """
    if kl_warmup <= 0:
        return float(beta)
    t = epoch - 1 + (step + 1) / steps_per_epoch
    return float(beta) * min(1.0, t / kl_warmup)


def kl_penalty(kl_dims: torch.Tensor, free_bits: float) -> torch.Tensor:
    r"""$R_\lambda$ of the module docstring: the (floored) KL term of the objective, per image. Nats.

    ``kl_dims`` (B, D): $\mathrm{KL}_{b,d}$, the per-dimension KL of each image (B, D); ``free_bits`` $\lambda \ge 0$.
    Returns a 0-d tensor: the batch-mean KL ($\lambda = 0$), or $\sum_d \max(\lambda, \text{batch-mean KL}_d)$.
    """
    if free_bits <= 0:
        return kl_dims.sum(-1).mean()
    return torch.clamp(kl_dims.mean(0), min=float(free_bits)).sum()


def free_bits_mask(kl_dims: torch.Tensor, free_bits: float) -> torch.Tensor:
    r"""(D,) 1.0 where a dimension's batch-mean KL exceeds $\lambda$ (its KL gradient flows), else 0.0.

    The derivative of $\max(\lambda, \bar k_d)$ in $\bar k_d$ (taken as 0 at the tie, as ``torch.clamp`` does).
    """
    return (kl_dims.mean(0) > free_bits).to(kl_dims.dtype)


def objective(reconstruction: torch.Tensor, kl_dims: torch.Tensor, weight: float, free_bits: float) -> torch.Tensor:
    r"""$\mathcal{O}_w$ of the module docstring for one minibatch (a 0-d tensor, nats per image; maximise it).

    ``reconstruction`` (B,): $\log p_\theta(x_b \mid z_b)$ at one reparameterized sample; ``kl_dims`` (B, D) the
    per-dimension KL, or (B,) the per-image KL when ``free_bits`` is 0 (a learned prior's Monte Carlo KL).
    With ``weight`` 1 and ``free_bits`` 0 it is the one-sample ELBO, averaged over the batch.

    Raises:
        ValueError: ``free_bits`` > 0 with a per-image KL of shape (B,) (free bits need the KL per dimension).
    """
    if kl_dims.dim() == 1:
        if free_bits > 0:
            raise ValueError("free bits need the KL per latent dimension (B, D), got (B,): use the N(0, I) prior")
        return reconstruction.mean() - weight * kl_dims.mean()
    return reconstruction.mean() - weight * kl_penalty(kl_dims, free_bits)


__all__ = ["free_bits_mask", "kl_penalty", "kl_weight", "objective"]

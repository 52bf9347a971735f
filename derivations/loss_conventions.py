r"""Checks that catch the loss-convention mistakes of VAE code (the book's "bug zoo").

The ELBO of a dataset of :math:`N` images with :math:`P` pixels each, in the units the paper reports
(Hoffman & Johnson 2016, Table 1; Kingma & Welling, *Auto-Encoding Variational Bayes*, ICLR 2014, eq. 10):

.. math::
    \frac1N \sum_{n=1}^N \Big[\underbrace{\sum_{p=1}^P \log p(x_{np} \mid z_n)}_{\text{reconstruction, per image}}
      - \mathrm{KL}\big(q(z \mid x_n) \,\|\, \mathcal{N}(0, I)\big)\Big] \quad \text{nats per image},

estimated on a minibatch of :math:`M` images by the batch mean of the per-image terms (an unbiased estimate).
Each function below takes the numbers a piece of code reports together with the per-image (or per-pixel)
terms it was computed from, recomputes the correct convention and every mistaken one, and says which one the
reported number matches:

* :func:`check_kl_weight` -- the KL weighted by :math:`M/N` (the weight of a *global* KL, e.g. Bayes by
  Backprop, applied to the per-image KL of a VAE), or by :math:`N/M`;
* :func:`check_reduction` -- reconstruction averaged over pixels instead of summed per image, or summed over
  the batch instead of averaged (``reduction="mean"`` vs ``"sum"`` in ``binary_cross_entropy``);
* :func:`check_kl_direction` -- :math:`\mathrm{KL}(p \| q)` instead of :math:`\mathrm{KL}(q \| p)`;
* :func:`check_logvar` -- the encoder's second output read as :math:`\log\sigma` where the KL formula expects
  :math:`\log\sigma^2` (or the reverse);
* :func:`check_units` -- bits (or bits per dimension) reported as nats.

Every function returns a :class:`Finding`; none raises on a mistake (a mistake is a finding), only on bad
input (``ValueError``, one line).  Matching is relative (``rtol``, default 1e-6: the reported number is assumed
computed from the same terms in float64 or float32 -- use ``rtol=1e-4`` for float32 code).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from derivations.gaussian_kl import kl_diag_standard_normal

__all__ = ["Finding", "check_kl_weight", "check_reduction", "check_kl_direction", "check_logvar", "check_units",
           "kl_reverse_diag_standard_normal"]

LN2 = float(np.log(2.0))


@dataclass(frozen=True)
class Finding:
    """The verdict of a convention check.

    Attributes:
        ok: the reported number matches the correct convention.
        convention: the name of the convention it matches (``"correct"``, a mistake's name, or ``"unknown"``).
        expected: the correct value (nats per image unless said otherwise).
        reported: the number the code reported.
        message: one sentence: what was found and, for a mistake, its fix.
        candidates: every convention's value, by name.
    """

    ok: bool
    convention: str
    expected: float
    reported: float
    message: str
    candidates: dict


def _classify(reported: float, candidates: dict, fixes: dict, what: str, rtol: float) -> Finding:
    reported = float(reported)
    if not np.isfinite(reported):
        raise ValueError(f"{what}: reported value is not finite ({reported})")
    expected = float(candidates["correct"])

    def close(v):
        return abs(reported - v) <= rtol * max(abs(v), abs(reported), 1e-12)

    if close(expected):
        return Finding(True, "correct", expected, reported, f"{what}: {reported:.6g} matches the correct convention.",
                       candidates)
    for name, v in candidates.items():
        if name != "correct" and close(float(v)):
            return Finding(False, name, expected, reported,
                           f"{what}: {reported:.6g} is the '{name}' convention, not {expected:.6g}; {fixes[name]}",
                           candidates)
    return Finding(False, "unknown", expected, reported,
                   f"{what}: {reported:.6g} matches no known convention (correct: {expected:.6g}).", candidates)


def _as_2d(name: str, arr) -> np.ndarray:
    a = np.asarray(arr, dtype=float)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty (M, D) array, got shape {a.shape}")
    return a


def check_kl_weight(reported_kl: float, per_image_kl, n_train: int, rtol: float = 1e-6) -> Finding:
    r"""Is the KL term of a minibatch objective weighted 1 per image (not :math:`M/N` or :math:`N/M`)?

    Args:
        reported_kl: the KL term the code adds to its per-image loss for this batch (nats per image).
        per_image_kl: ``(M,)`` per-image :math:`\mathrm{KL}(q(z \mid x_m) \| p(z))` of the batch (nats).
        n_train: :math:`N`, the training-set size.
    Returns: :class:`Finding`; conventions ``correct`` (batch mean), ``M/N weight``, ``N/M weight``.
    Raises: ValueError for an empty batch or ``n_train < len(per_image_kl)``.
    """
    kl = np.asarray(per_image_kl, dtype=float).ravel()
    m = kl.size
    if m == 0 or n_train < m:
        raise ValueError(f"need a non-empty batch and n_train >= batch size, got M={m}, N={n_train}")
    mean = float(kl.mean())
    cands = {"correct": mean, "M/N weight": mean * m / n_train, "N/M weight": mean * n_train / m}
    fixes = {"M/N weight": "each image has its own KL: weight it 1 per image (the M/N factor belongs to a "
                           "global KL over weights, not to a VAE's per-image KL).",
             "N/M weight": "drop the N/M factor, or apply it to the reconstruction term as well."}
    return _classify(reported_kl, cands, fixes, "KL weight", rtol)


def check_reduction(reported: float, per_pixel, rtol: float = 1e-6) -> Finding:
    r"""Is a reconstruction term summed over pixels and averaged over the batch (nats per image)?

    Args:
        reported: the reconstruction term (or its negative, the loss, given with the same sign as ``per_pixel``).
        per_pixel: ``(M, P)`` per-pixel terms, e.g. :math:`\log p(x_{mp} \mid z_m)` or per-pixel BCE.
    Returns: :class:`Finding`; conventions ``correct`` (sum over pixels, mean over batch), ``mean over pixels``
        (= the mean over pixels and batch, ``reduction="mean"``), ``sum over batch`` (= the sum over pixels and
        batch, ``reduction="sum"``), ``mean over pixels, sum over batch``.
    """
    t = _as_2d("per_pixel", per_pixel)
    m, p = t.shape
    per_image = t.sum(1)
    cands = {"correct": per_image.mean(), "mean over pixels": per_image.mean() / p,
             "sum over batch": per_image.sum(), "mean over pixels, sum over batch": t.mean(1).sum()}
    if m == 1:  # batch sum and mean coincide
        cands = {k: v for k, v in cands.items() if k not in ("sum over batch", "mean over pixels, sum over batch")}
    fixes = {"mean over pixels": f"sum over the P = {p} pixels (reduction='sum' per image), or the KL is "
                                 f"over-weighted {p}x relative to the reconstruction.",
             "sum over batch": f"divide by the batch size M = {m}: the loss scale then depends on M.",
             "mean over pixels, sum over batch": f"sum over the P = {p} pixels and average over the M = {m} images."}
    return _classify(reported, cands, fixes, "reconstruction reduction", rtol)


def kl_reverse_diag_standard_normal(mu, logvar) -> np.ndarray:
    r""":math:`\mathrm{KL}(\mathcal{N}(0, I) \| \mathcal{N}(\mu, \mathrm{diag}\,e^{\mathrm{logvar}}))` in nats, ``(..., D) -> (...)``.

    The reverse direction of the VAE's KL (used to recognise the mistake), closed form per coordinate:
    :math:`\tfrac12(\log\sigma^2 + (1 + \mu^2)/\sigma^2 - 1)`.
    """
    mu, logvar = np.asarray(mu, float), np.asarray(logvar, float)
    # $\mathrm{KL}(p \| q) = \tfrac12 \sum_d (\log \sigma_d^2 + (1 + \mu_d^2) e^{-\log\sigma_d^2} - 1)$
    return 0.5 * (logvar + (1.0 + mu**2) * np.exp(-logvar) - 1.0).sum(-1)


def check_kl_direction(reported_kl: float, mu, logvar, rtol: float = 1e-6) -> Finding:
    r"""Is the reported batch-mean KL :math:`\mathrm{KL}(q \| p)` (not :math:`\mathrm{KL}(p \| q)`)?

    Args:
        reported_kl: the KL term (nats per image, batch mean).
        mu, logvar: ``(M, D)`` encoder outputs, ``logvar`` = :math:`\log\sigma^2`.
    """
    mu, logvar = _as_2d("mu", mu), _as_2d("logvar", logvar)
    if mu.shape != logvar.shape:
        raise ValueError(f"mu {mu.shape} and logvar {logvar.shape} differ")
    cands = {"correct": float(kl_diag_standard_normal(mu, logvar).mean()),
             "KL(p || q)": float(kl_reverse_diag_standard_normal(mu, logvar).mean())}
    fixes = {"KL(p || q)": "the ELBO's KL is KL(q(z|x) || p(z)): expectation under the encoder q, "
                           "0.5 * sum(exp(logvar) + mu^2 - 1 - logvar)."}
    return _classify(reported_kl, cands, fixes, "KL direction", rtol)


def check_logvar(reported_kl: float, mu, second_output, rtol: float = 1e-6) -> Finding:
    r"""Is the encoder's second output used consistently as :math:`\log\sigma^2` in the reported KL?

    Args:
        reported_kl: the KL term (nats per image, batch mean).
        mu: ``(M, D)``; second_output: ``(M, D)``, the encoder's second head, meant as ``logvar`` = :math:`\log\sigma^2`.
    Returns: :class:`Finding`; conventions ``correct``, ``log sigma read as logvar`` (the formula got
        :math:`\log\sigma`, i.e. ``second_output / 2``), ``logvar read as log sigma`` (``2 * second_output``).
    """
    mu, s = _as_2d("mu", mu), _as_2d("second_output", second_output)
    if mu.shape != s.shape:
        raise ValueError(f"mu {mu.shape} and second_output {s.shape} differ")
    cands = {"correct": float(kl_diag_standard_normal(mu, s).mean()),
             "log sigma read as logvar": float(kl_diag_standard_normal(mu, s / 2).mean()),
             "logvar read as log sigma": float(kl_diag_standard_normal(mu, 2 * s).mean())}
    fixes = {"log sigma read as logvar": "the formula expects logvar = 2 log sigma; sample with "
                                         "sigma = exp(0.5 * logvar) and use logvar in the KL.",
             "logvar read as log sigma": "the head outputs log sigma^2; pass it as logvar, not 2 * it."}
    return _classify(reported_kl, cands, fixes, "logvar convention", rtol)


def check_units(reported: float, value_nats: float, n_dims: Optional[int] = None, rtol: float = 1e-6) -> Finding:
    r"""Is a quantity reported in nats (not bits, not bits per dimension)?

    Args:
        reported: the number as reported.  value_nats: the same quantity in nats.
        n_dims: pixels per image, to recognise bits per dimension (``value / (P ln 2)``) as well.
    """
    cands = {"correct": float(value_nats), "bits": float(value_nats) / LN2}
    if n_dims:
        cands["bits per dimension"] = float(value_nats) / (n_dims * LN2)
        cands["nats per dimension"] = float(value_nats) / n_dims
    fixes = {"bits": "multiply by ln 2 = 0.6931 to get nats (the paper's Table 1 is in nats).",
             "bits per dimension": f"multiply by {n_dims} * ln 2 to get nats per image.",
             "nats per dimension": f"multiply by {n_dims} to get nats per image."}
    return _classify(reported, cands, fixes, "units", rtol)

r"""Closed forms of the diagonal Gaussian that the exact models use (NumPy; no identity imported).

A model sits below the identities: it may not import one (``tests/test_import_graph.py``).  The closed form here
is the one the identity :mod:`derivations.gaussian_kl` proves (and imports from here); the test
``tests/derivations/test_derivations_models.py`` holds it equal to ``torch.distributions``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["kl_diag_standard_normal"]


def kl_diag_standard_normal(mu, logvar):
    r"""Closed-form :math:`\mathrm{KL}(\mathcal{N}(\mu, \mathrm{diag}\, e^{\text{logvar}}) \| \mathcal{N}(0, I))`
    in nats: :math:`\tfrac12 \sum_d (\sigma_d^2 + \mu_d^2 - 1 - \log \sigma_d^2)`.

    Args: ``mu``, ``logvar``: arrays ``(..., D)`` (``logvar`` is the log-variance, not log sigma).
    Returns: array ``(...)``, summed over the last axis.
    Source: Kingma & Welling, *Auto-Encoding Variational Bayes*, 2014, appendix B; proved per coordinate by
    the identity ``gaussian_kl``.
    """
    mu, logvar = np.asarray(mu, float), np.asarray(logvar, float)
    return 0.5 * (np.exp(logvar) + mu**2 - 1.0 - logvar).sum(-1)

r"""The linear-Gaussian latent-variable model: every ELBO quantity in closed form.

.. math::
    z \sim \mathcal{N}(0, 1), \qquad x \mid z \sim \mathcal{N}(w z + b, s^2), \qquad q(z) = \mathcal{N}(m, v).

Closed forms (all in nats):

.. math::
    \log p(x) = \log \mathcal{N}(x;\, b,\, w^2 + s^2), \qquad
    p(z \mid x) = \mathcal{N}\!\Big(\tfrac{w (x - b)}{w^2 + s^2},\; \tfrac{s^2}{w^2 + s^2}\Big),

.. math::
    \mathcal{L}(m, v) = -\tfrac12 \log 2\pi s^2 - \frac{(x - w m - b)^2 + w^2 v}{2 s^2}
      - \tfrac12 \log 2\pi - \tfrac12 (m^2 + v) + \tfrac12 \log 2\pi e v,

.. math::
    \mathrm{KL}(q \| p(z \mid x)) = \tfrac12\Big(\log\frac{v_\star}{v} + \frac{v + (m - m_\star)^2}{v_\star} - 1\Big).

The evidence and the posterior follow from Bayes' rule :math:`p(x \mid z)p(z) = p(x)p(z \mid x)`, which
``derivations.elbo_gap`` checks pointwise in SymPy.  Sources: Lecture 5 (Isachenko), 'ELBO derivation 2';
Gupta & Wang eqs. 1-9.

Two interfaces, the same formulas:

* SymPy: the symbols ``x, z, w, b, s, m, v`` and the functions :func:`log_normal`, :func:`log_evidence_expr`,
  :func:`posterior_mean_expr`, :func:`posterior_var_expr`, :func:`elbo_expr`, :func:`kl_posterior_expr`,
  :func:`log_joint_expr`, :func:`log_q_expr`, :func:`log_posterior_expr`.
* NumPy (``lambdify`` of the SymPy expressions, broadcasting over arrays): :func:`log_evidence`,
  :func:`posterior`, :func:`elbo`, :func:`kl_to_posterior`.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from derivations.rv import log_normal  # the package's one SymPy Gaussian log-density

__all__ = [
    "x", "z", "w", "b", "s", "m", "v",
    "log_normal", "log_evidence_expr", "posterior_mean_expr", "posterior_var_expr", "elbo_expr",
    "kl_posterior_expr", "log_joint_expr", "log_q_expr", "log_posterior_expr", "log_likelihood_expr",
    "log_evidence", "posterior", "elbo", "kl_to_posterior", "log_normal_np", "DEFAULT",
]

# Symbols (SymPy-tests style: assumptions make the identities exact)
x = sp.Symbol("x", real=True)
z = sp.Symbol("z", real=True)
w = sp.Symbol("w", real=True)
b = sp.Symbol("b", real=True)
s = sp.Symbol("s", positive=True)
m = sp.Symbol("m", real=True)
v = sp.Symbol("v", positive=True)

#: Default numeric parameters used by the checks and offered to scenes: q deliberately off the posterior.
DEFAULT = {"x": 3.0, "w": 2.0, "b": 0.5, "s": 0.8, "m": 0.3, "v": 0.5}



def log_evidence_expr():
    r"""$\log p(x) = \log \mathcal{N}(x; b, w^2 + s^2)$."""
    return log_normal(x, b, w**2 + s**2)


def posterior_mean_expr():
    r"""$m_\star = w (x - b) / (w^2 + s^2)$."""
    return w * (x - b) / (w**2 + s**2)


def posterior_var_expr():
    r"""$v_\star = s^2 / (w^2 + s^2)$."""
    return s**2 / (w**2 + s**2)


def log_likelihood_expr(zz=z):
    r"""$\log p(x \mid z) = \log \mathcal{N}(x; w z + b, s^2)$."""
    return log_normal(x, w * zz + b, s**2)


def log_joint_expr(zz=z):
    r"""$\log p(x, z) = \log \mathcal{N}(x; wz + b, s^2) + \log \mathcal{N}(z; 0, 1)$."""
    return log_likelihood_expr(zz) + log_normal(zz, 0, 1)


def log_q_expr(zz=z, mm=m, vv=v):
    r"""$\log q(z) = \log \mathcal{N}(z; m, v)$."""
    return log_normal(zz, mm, vv)


def log_posterior_expr(zz=z):
    r"""$\log p(z \mid x) = \log \mathcal{N}(z; m_\star, v_\star)$."""
    return log_normal(zz, posterior_mean_expr(), posterior_var_expr())


def elbo_expr(mm=m, vv=v):
    r"""Closed-form ELBO $\mathcal{L}(m, v)$ (nats): Gaussian moments $\mathbb{E}z = m$, $\mathbb{E}z^2 = m^2 + v$."""
    # $\mathbb{E}_q \log p(x \mid z) = -\tfrac12 \log 2\pi s^2 - ((x - wm - b)^2 + w^2 v) / 2s^2$
    recon = -sp.log(2 * sp.pi * s**2) / 2 - ((x - w * mm - b) ** 2 + w**2 * vv) / (2 * s**2)
    # $\mathbb{E}_q \log p(z) = -\tfrac12 \log 2\pi - \tfrac12 (m^2 + v)$
    prior = -sp.log(2 * sp.pi) / 2 - (mm**2 + vv) / 2
    # $\mathbb{H}[q] = \tfrac12 \log 2\pi e v$
    entropy = sp.log(2 * sp.pi * sp.E * vv) / 2
    return recon + prior + entropy


def kl_posterior_expr(mm=m, vv=v):
    r"""$\mathrm{KL}(q \| p(z \mid x)) = \tfrac12(\log(v_\star/v) + (v + (m - m_\star)^2)/v_\star - 1)$ (nats)."""
    mp, vp = posterior_mean_expr(), posterior_var_expr()
    return (sp.log(vp / vv) + (vv + (mm - mp) ** 2) / vp - 1) / 2


# ---------------------------------------------------------------------------------------------------------
# NumPy callables (lambdified on first use; nothing compiled at import)
# ---------------------------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _fn(name: str):
    exprs = {
        "log_evidence": ((x, w, b, s), log_evidence_expr()),
        "post_mean": ((x, w, b, s), posterior_mean_expr()),
        "post_var": ((x, w, b, s), posterior_var_expr()),
        "elbo": ((m, v, x, w, b, s), elbo_expr()),
        "kl": ((m, v, x, w, b, s), kl_posterior_expr()),
    }
    args, expr = exprs[name]
    return sp.lambdify(args, expr, modules="numpy")


def log_evidence(x, w, b, s):
    r"""$\log p(x)$ in nats; broadcasts over NumPy arrays.  ``s > 0`` (decoder std)."""
    return np.asarray(_fn("log_evidence")(x, w, b, s), dtype=float)


def posterior(x, w, b, s):
    r"""Posterior $p(z \mid x) = \mathcal{N}(m_\star, v_\star)$: returns ``(mean, var)``; broadcasts."""
    mean = np.asarray(_fn("post_mean")(x, w, b, s), dtype=float)
    var = np.broadcast_to(np.asarray(_fn("post_var")(x, w, b, s), dtype=float), mean.shape)
    return mean, np.array(var)


def elbo(m, v, x, w, b, s):
    r"""ELBO $\mathcal{L}(m, v)$ of $q = \mathcal{N}(m, v)$ in nats (``v > 0`` a variance); broadcasts."""
    return np.asarray(_fn("elbo")(m, v, x, w, b, s), dtype=float)


def kl_to_posterior(m, v, x, w, b, s):
    r"""$\mathrm{KL}(\mathcal{N}(m, v) \| p(z \mid x))$ in nats; broadcasts.  ``log_evidence = elbo + kl``."""
    return np.asarray(_fn("kl")(m, v, x, w, b, s), dtype=float)


def log_normal_np(y, mean, var):
    r"""NumPy $\log \mathcal{N}(y; \mu, \sigma^2)$ in nats (``var`` is a variance, > 0), broadcasting.

    ``scipy.stats.norm.logpdf`` with ``scale = sqrt(var)``; tested against :func:`log_normal` (SymPy).
    """
    from scipy.stats import norm

    return norm.logpdf(np.asarray(y, float), loc=np.asarray(mean, float), scale=np.sqrt(np.asarray(var, float)))

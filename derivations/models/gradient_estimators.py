r"""Per-sample gradient estimators of $\nabla_\phi \mathbb{E}_{q_\phi} f(z)$ for $q_\phi = \mathcal{N}(\mu, \sigma^2)$.

Shared by the identities ``score_function_gradient`` and ``reparameterization_gradient``, and exposed for the
scenes (histograms of the two estimators).  The test function is the cubic
$f(z) = c_1 z + c_2 z^2 + c_3 z^3$, for which the exact gradient is

.. math::
    \partial_\mu \mathbb{E} f = c_1 + 2 c_2 \mu + 3 c_3 (\mu^2 + \sigma^2), \qquad
    \partial_\sigma \mathbb{E} f = 2 c_2 \sigma + 6 c_3 \mu \sigma .

Sources: Gupta & Wang eqs. (10)-(15) (score function) and (16)-(17) (pathwise / reparameterization);
Lecture 5 (Isachenko), 'Reparametrization trick (LOTUS trick)'.
"""
from __future__ import annotations

import numpy as np

#: Default $(c_1, c_2, c_3)$, $\mu$, $\sigma$ used by the checks.
COEFFS = (1.0, -0.5, 0.3)
MU = 0.5
SIGMA = 0.8


def exact_gradient(mu: float = MU, sigma: float = SIGMA, coeffs=COEFFS) -> np.ndarray:
    r"""$(\partial_\mu, \partial_\sigma)\, \mathbb{E}_{\mathcal{N}(\mu, \sigma^2)} f$, shape ``(2,)``."""
    c1, c2, c3 = coeffs
    return np.array([c1 + 2 * c2 * mu + 3 * c3 * (mu**2 + sigma**2), 2 * c2 * sigma + 6 * c3 * mu * sigma])


def f_values(z, coeffs=COEFFS):
    r"""$f(z) = c_1 z + c_2 z^2 + c_3 z^3$ and $f'(z)$ (arrays shaped like ``z``)."""
    c1, c2, c3 = coeffs
    return c1 * z + c2 * z**2 + c3 * z**3, c1 + 2 * c2 * z + 3 * c3 * z**2


def score_function_terms(eps, mu: float = MU, sigma: float = SIGMA, coeffs=COEFFS, baseline: float = 0.0) -> np.ndarray:
    r"""Per-draw score-function gradients $(f(z) - b)\,\nabla_{(\mu, \sigma)} \log q(z)$, $z = \mu + \sigma\epsilon$.

    $\nabla_\mu \log q = (z - \mu)/\sigma^2 = \epsilon/\sigma$, $\nabla_\sigma \log q = ((z-\mu)^2 - \sigma^2)/\sigma^3
    = (\epsilon^2 - 1)/\sigma$ (Gupta & Wang eq. 15).  A constant baseline ``b`` keeps the estimator unbiased
    because $\mathbb{E}_q \nabla \log q = 0$.  ``eps``: ``(n,)`` -> ``(n, 2)`` (columns d/dmu, d/dsigma).
    """
    eps = np.asarray(eps, float)
    z = mu + sigma * eps
    f, _ = f_values(z, coeffs)
    return np.stack([(f - baseline) * (z - mu) / sigma**2, (f - baseline) * ((z - mu) ** 2 - sigma**2) / sigma**3], 1)


def reparameterization_terms(eps, mu: float = MU, sigma: float = SIGMA, coeffs=COEFFS) -> np.ndarray:
    r"""Per-draw pathwise gradients $\nabla_{(\mu, \sigma)} f(\mu + \sigma\epsilon) = f'(z)\,(1, \epsilon)$ (eq. 17).

    ``eps``: ``(n,)`` -> ``(n, 2)`` (columns d/dmu, d/dsigma).
    """
    eps = np.asarray(eps, float)
    _, fp = f_values(mu + sigma * eps, coeffs)
    return np.stack([fp, fp * eps], 1)


def antithetic_mean(terms, n_pairs: int, seed: int = 0) -> tuple:
    r"""Mean and standard error of ``terms(eps)`` over antithetic pairs $(\epsilon, -\epsilon)$, $\epsilon \sim \mathcal{N}(0, 1)$.

    ``terms``: a callable ``(n,) -> (n, k)``.  The pair averages $\tfrac12(h(\epsilon) + h(-\epsilon))$ are i.i.d., so
    the standard error is their standard deviation over $\sqrt{n_{\text{pairs}}}$; pairing cancels the part of $h$
    that is odd in $\epsilon$ (common random numbers for the two halves).  Returns ``(mean (k,), se (k,))``.
    Raises ValueError for ``n_pairs < 2``.
    """
    if n_pairs < 2:
        raise ValueError("need n_pairs >= 2")
    eps = np.random.default_rng(seed).standard_normal(n_pairs)
    pairs = 0.5 * (terms(eps) + terms(-eps))
    return pairs.mean(0), pairs.std(0, ddof=1) / np.sqrt(n_pairs)


def gradient_samples(n: int = 100_000, mu: float = MU, sigma: float = SIGMA, seed: int = 0, coeffs=COEFFS) -> dict:
    r"""Per-sample score-function and reparameterization gradients, from the *same* draws $\epsilon$.

    Args:
        n: number of samples.  mu, sigma: parameters of $q$ (``sigma > 0``, a standard deviation).
        seed: NumPy seed.  coeffs: $(c_1, c_2, c_3)$ of $f$.
    Returns:
        dict ``score_function`` and ``reparameterization``: arrays ``(n, 2)`` (columns: d/dmu, d/dsigma);
        ``exact``: ``(2,)``; ``mean``/``se``/``var``: dicts of ``(2,)`` arrays per estimator.
    Raises:
        ValueError: if ``sigma <= 0`` or ``n < 2``.
    """
    if sigma <= 0 or n < 2:
        raise ValueError("need sigma > 0 and n >= 2")
    c1, c2, c3 = coeffs
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal(n)
    # $z = g_\phi(\epsilon) = \mu + \sigma \epsilon$
    z = mu + sigma * eps
    f = c1 * z + c2 * z**2 + c3 * z**3
    fprime = c1 + 2 * c2 * z + 3 * c3 * z**2
    # score function: $f(z) \nabla_\phi \log q_\phi(z)$, $\nabla_\mu \log q = (z - \mu)/\sigma^2$,
    # $\nabla_\sigma \log q = ((z - \mu)^2 - \sigma^2)/\sigma^3$
    score = np.stack([f * (z - mu) / sigma**2, f * ((z - mu) ** 2 - sigma**2) / sigma**3], axis=1)
    # reparameterization: $\nabla_\phi f(g_\phi(\epsilon)) = f'(z) (1, \epsilon)$
    reparam = np.stack([fprime, fprime * eps], axis=1)
    out = {"score_function": score, "reparameterization": reparam, "exact": exact_gradient(mu, sigma, coeffs),
           "mean": {}, "se": {}, "var": {}}
    for key, arr in (("score_function", score), ("reparameterization", reparam)):
        out["mean"][key] = arr.mean(0)
        out["var"][key] = arr.var(0, ddof=1)
        out["se"][key] = np.sqrt(out["var"][key] / n)
    return out


def densities_normalized(mu: float = MU, sigma: float = SIGMA) -> bool:
    r"""$q = \mathcal{N}(\mu, \sigma^2)$ and the noise density $\mathcal{N}(0, 1)$ integrate to one (``scipy.integrate.quad``)."""
    from scipy.stats import norm

    from derivations.numeric import integrates_to_one

    return integrates_to_one(lambda u: norm.pdf(u, mu, sigma))[0] and integrates_to_one(norm.pdf)[0]


def judge(mean, se, exact, label: str) -> tuple:
    r"""Each component within ``Z_TOL`` standard errors of the exact gradient?  Returns ``(oks, tols, parts)``.

    ``parts``: one clause per component (d/dmu, d/dsigma) naming the estimate, its SE, the exact value and how
    many SE a 5% error in that component is (the power of the check).
    """
    from derivations.numeric import within

    res = [within(mean[i], se[i], exact[i]) for i in range(2)]
    parts = [f"d/d{p}: {label} {mean[i]:.5f} ± {se[i]:.5f} vs exact {exact[i]:.5f} ({'ok' if res[i][0] else 'FAIL'}; "
             f"a 5% error is {0.05 * abs(exact[i]) / se[i]:.1f} SE)" for i, p in enumerate(("mu", "sigma"))]
    return [r[0] for r in res], [r[1] for r in res], parts


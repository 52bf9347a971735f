r"""A normalizing flow is a VAE with a Dirac encoder and decoder.

.. math::
    q(z \mid x) = \mathcal{N}(f(x), \sigma^2),\ \ p(x \mid z) = \mathcal{N}\big(f^{-1}(z),\, \sigma^2 (J_f^\top J_f)^{-1}\big):
    \qquad \lim_{\sigma \to 0} \mathcal{L}_\sigma(x) = \log p(f(x)) + \log|\det J_f(x)| = \log p(x).

Source: Lecture 5 (Isachenko), 'Normalizing flow as VAE' (theorem and proof: Dirac delta property, CoV theorem
and Bayes theorem, log-likelihood decomposition); table 'VAE vs Normalizing flows'.

Main derivation (affine :math:`f(x) = a x + c`, :math:`a > 0`): SymPy evaluates the ELBO exactly,
:math:`\mathcal{L}_\sigma = \log a + \log \mathcal{N}(f(x); 0, 1) - \sigma^2/2`, takes the limit
:math:`\sigma \to 0`, and matches the change-of-variables density of :math:`x`.  Side derivations:
``decoder_bayes`` (:math:`\log p(x \mid z) - \log q(z \mid x) = \log|a|` for every z: the CoV + Bayes step of the
lecture), ``elbo_sigma`` (the exact :math:`\mathcal{L}_\sigma = \log p(x) - \sigma^2/2`), and ``nonlinear_log``
(:math:`f(x) = \log x` on :math:`x > 0`: the limit of the ELBO integrand, pointwise in :math:`\epsilon`, is
:math:`\log p(\log x) - \log x`, the log-normal log-density; the expectation follows by dominated convergence).

Numeric check: a 2-D flow of two affine coupling layers (fixed random weights, float64, torch).  Its
change-of-variables :math:`\log p(x)` (log-det from the coupling scales, cross-checked against
``torch.linalg.slogdet`` of the autograd Jacobian) is compared with a Monte Carlo estimate of the Dirac-ELBO
at :math:`\sigma =` ``SIGMA`` (``N_SAMPLES`` draws, fixed seed), tolerance 4 SE plus the
:math:`O(\sigma^2)` bias allowance ``BIAS_ALLOWANCE``.

Wrong twin ``no_logdet``: :math:`\lim \mathcal{L}_\sigma = \log p(f(x))` (log-determinant dropped).

:func:`elbo_of_sigma` gives :math:`\mathcal{L}_\sigma(x)` on a grid of :math:`\sigma` (Gauss-Hermite quadrature)
for a scene that shrinks :math:`\sigma`; :func:`log_px` the limit.
"""
from __future__ import annotations

import numpy as np
import sympy as sp
from scipy.stats import norm

from derivations.identity import make_identity
from derivations.numeric import within
from derivations.rv import expect_rv as E, normal_rv
from derivations.steps import Derivation, NumericResult, Step
from derivations.notation import LOG_PX

SIGMA = 1e-3
N_SAMPLES = 4_000
BIAS_ALLOWANCE = 1e-4  # |L_sigma - log p(x)| = O(sigma^2) = 1e-6 times a curvature constant

NAME = "flow_as_dirac_vae"
TITLE = "A normalizing flow is a VAE with Dirac encoder and decoder"
SOURCE = "Lecture 5 (Isachenko), 'Normalizing flow as VAE' (theorem, proof), 'VAE vs Normalizing flows'"
TWINS = {"no_logdet": "lim ELBO = log p(f(x))  (log |det J_f| dropped)"}

x = sp.Symbol("x", real=True)
a = sp.Symbol("a", positive=True)
c = sp.Symbol("c", real=True)
sigma = sp.Symbol("sigma", positive=True)

LIM_ELBO = sp.Symbol(r"\lim_{\sigma \to 0} \mathcal{L}_{\sigma}(x)", real=True)
LOG_PF = sp.Symbol(r"\log p(f(x))", real=True)


def _ln(y, mean, var):
    return -sp.log(2 * sp.pi * var) / 2 - (y - mean) ** 2 / (2 * var)


def _build(variant):
    Z = normal_rv("z", a * x + c, sigma**2)
    zz = sp.Symbol("z", real=True)
    # per-sample ELBO: $\log p(x \mid z) + \log p(z) - \log q(z \mid x)$ with the matched decoder
    integrand = lambda t: _ln(x, (t - c) / a, sigma**2 / a**2) + _ln(t, 0, 1) - _ln(t, a * x + c, sigma**2)  # noqa: E731
    log_pf = _ln(a * x + c, 0, 1)
    steps = [
        # $\lim_{\sigma \to 0} \mathbb{E}_{q}[\log p(x \mid z) + \log p(z) - \log q(z \mid x)]$
        Step(sp.Limit(E(integrand(Z)), sigma, 0), "the Dirac-VAE ELBO as sigma -> 0"),
        # $\mathcal{L}_\sigma = \log a + \log \mathcal{N}(f(x); 0, 1) - \sigma^2 / 2$
        Step(sp.Limit(sp.log(a) + log_pf - sigma**2 / 2, sigma, 0), "Gaussian moments: exact ELBO for every sigma"),
    ]
    if variant == "no_logdet":
        steps.append(Step(log_pf, "sigma -> 0: log p(f(x))  [log |det J| dropped]"))
        return {"statement": sp.Eq(LIM_ELBO, LOG_PF), "definitions": {LIM_ELBO: steps[0].expr, LOG_PF: log_pf},
                "steps": steps}
    steps += [
        # $\log p(f(x)) + \log |\det J_f|$
        Step(log_pf + sp.log(a), "sigma -> 0: log p(f(x)) + log |det J_f|  (Dirac delta property)"),
        # change of variables: $x = (z - c)/a$, $z \sim \mathcal{N}(0, 1)$ gives $x \sim \mathcal{N}(-c/a, 1/a^2)$
        Step(_ln(x, -c / a, 1 / a**2), "change of variables: x = f^{-1}(z) ~ N(-c/a, 1/a^2)"),
    ]
    xp = sp.Symbol("x", positive=True)
    eps = sp.Symbol("epsilon", real=True)
    zl = sp.log(xp) + sigma * eps
    h = _ln(xp, sp.exp(zl), sigma**2 * sp.exp(2 * zl)) + _ln(zl, 0, 1) - _ln(zl, sp.log(xp), sigma**2)
    side = [
        Derivation("decoder_bayes", [
            Step(_ln(x, (zz - c) / a, sigma**2 / a**2) - _ln(zz, a * x + c, sigma**2), "log p(x|z) - log q(z|x)"),
            Step(sp.log(a), "= log |det J_f| for every z (CoV + Bayes)"),
        ]),
        Derivation("elbo_sigma", [
            Step(E(integrand(Z)), "the ELBO at noise level sigma"),
            Step(_ln(x, -c / a, 1 / a**2) - sigma**2 / 2, "= log p(x) - sigma^2/2 <= log p(x)"),
        ]),
        Derivation("nonlinear_log", [
            Step(sp.Limit(h, sigma, 0), "f(x) = log x: limit of the ELBO integrand at z = log x + sigma eps"),
            Step(_ln(sp.log(xp), 0, 1) - sp.log(xp), "log p(f(x)) + log |f'(x)|, f'(x) = 1/x"),
            Step(-sp.log(xp) - sp.log(2 * sp.pi) / 2 - sp.log(xp) ** 2 / 2, "CoV: x = exp(z) is log-normal"),
        ]),
    ]
    return {"statement": sp.Eq(LIM_ELBO, LOG_PX), "definitions": {LIM_ELBO: steps[0].expr, LOG_PX: steps[-1].expr},
            "steps": steps, "side": side}


# ---------------------------------------------------------------------------------------------------------
# 1-D curves for the scenes
# ---------------------------------------------------------------------------------------------------------

def _lnp(y, mean, var):
    """NumPy $\log \mathcal{N}(y; \mu, \sigma^2)$ (``var`` a variance), ``scipy.stats.norm.logpdf``."""
    return norm.logpdf(y, loc=mean, scale=np.sqrt(var))


def log_px(x: float = 0.7, kind: str = "affine", a: float = 2.0, c: float = 0.5) -> float:
    r"""$\log p(x) = \log p(f(x)) + \log|f'(x)|$ for ``kind`` ``"affine"`` ($f = ax + c$) or ``"log"`` ($f = \log x$, x > 0)."""
    if kind == "affine":
        return float(_lnp(a * x + c, 0.0, 1.0) + np.log(abs(a)))
    if kind == "log":
        if x <= 0:
            raise ValueError("kind='log' needs x > 0")
        return float(_lnp(np.log(x), 0.0, 1.0) - np.log(x))
    raise ValueError(f"unknown kind {kind!r}; use 'affine' or 'log'")


def elbo_of_sigma(sigmas, x: float = 0.7, kind: str = "affine", a: float = 2.0, c: float = 0.5, n_quad: int = 64) -> np.ndarray:
    r"""The Dirac-VAE ELBO $\mathcal{L}_\sigma(x)$ (nats) for each $\sigma$ in ``sigmas`` (shape ``(S,)`` -> ``(S,)``).

    $q(z \mid x) = \mathcal{N}(f(x), \sigma^2)$ and the matched decoder; the expectation over
    $\epsilon \sim \mathcal{N}(0, 1)$ by ``n_quad``-point Gauss-Hermite quadrature (exact for the affine
    case, where $\mathcal{L}_\sigma = \log p(x) - \sigma^2/2$).  Tends to :func:`log_px` as $\sigma \to 0$.

    Raises: ValueError for a non-positive sigma, an unknown ``kind``, or ``x <= 0`` with ``kind="log"``.
    """
    sig = np.atleast_1d(np.asarray(sigmas, dtype=float))
    if np.any(sig <= 0):
        raise ValueError("sigmas must be positive")
    nodes, weights = np.polynomial.hermite_e.hermegauss(n_quad)
    weights = weights / np.sqrt(2 * np.pi)
    s = sig[:, None]
    eps = nodes[None, :]
    if kind == "affine":
        zz = a * x + c + s * eps
        h = _lnp(x, (zz - c) / a, s**2 / a**2) + _lnp(zz, 0.0, 1.0) - _lnp(zz, a * x + c, s**2)
    elif kind == "log":
        if x <= 0:
            raise ValueError("kind='log' needs x > 0")
        zz = np.log(x) + s * eps
        h = _lnp(x, np.exp(zz), s**2 * np.exp(2 * zz)) + _lnp(zz, 0.0, 1.0) - _lnp(zz, np.log(x), s**2)
    else:
        raise ValueError(f"unknown kind {kind!r}; use 'affine' or 'log'")
    return (h * weights).sum(1)


# ---------------------------------------------------------------------------------------------------------
# The torch coupling flow of the numeric check
# ---------------------------------------------------------------------------------------------------------

def _coupling_flow(seed: int = 0):
    """Two affine coupling layers on R^2 with fixed random weights (float64). Returns ``(f, f_inv, logdet)``."""
    import torch

    g = torch.Generator().manual_seed(1234 + seed)
    layers = []
    for _ in range(2):
        W1 = torch.randn(8, 1, generator=g, dtype=torch.float64)
        b1 = torch.randn(8, generator=g, dtype=torch.float64)
        Ws = torch.randn(1, 8, generator=g, dtype=torch.float64) * 0.5
        Wt = torch.randn(1, 8, generator=g, dtype=torch.float64)
        layers.append((W1, b1, Ws, Wt))

    def st(u, layer):
        W1, b1, Ws, Wt = layer
        hdn = torch.tanh(u[..., None] * W1[:, 0] + b1)
        # scale $s(u) = 0.4 + 0.3 \tanh(\cdot)$ keeps $\log|\det J| \approx 0.8$ nats
        return 0.4 + 0.3 * torch.tanh(hdn @ Ws[0]), hdn @ Wt[0]

    def f(xx):
        y = xx
        for layer in layers:
            s, t = st(y[..., 0], layer)
            # $y_2' = y_2 e^{s(y_1)} + t(y_1)$, then swap the coordinates
            y = torch.stack([y[..., 1] * torch.exp(s) + t, y[..., 0]], -1)
        return y

    def f_inv(zz):
        y = zz
        for layer in reversed(layers):
            u = y[..., 1]
            s, t = st(u, layer)
            y = torch.stack([u, (y[..., 0] - t) * torch.exp(-s)], -1)
        return y

    def logdet(xx):
        y, total = xx, 0.0
        for layer in layers:
            s, t = st(y[..., 0], layer)
            total = total + s
            y = torch.stack([y[..., 1] * torch.exp(s) + t, y[..., 0]], -1)
        return total

    return f, f_inv, logdet


def flow_dirac_elbo(sigma: float = SIGMA, n: int = N_SAMPLES, seed: int = 0) -> dict:
    r"""Monte Carlo Dirac-ELBO of the 2-D coupling flow at ``x = (0.3, -0.8)``, and its exact $\log p(x)$.

    Returns dict: ``elbo``/``se`` (MC, nats), ``log_px`` (change of variables), ``log_pf`` ($\log p(f(x))$),
    ``logdet`` (coupling scales) and ``logdet_autograd`` (slogdet of the autograd Jacobian).
    """
    import torch

    f, f_inv, logdet = _coupling_flow(0)

    def batch_jacobian(pts):
        # rows of $J_f$ by reverse mode; each output depends only on its own input point
        pts = pts.detach().requires_grad_(True)
        y = f(pts)
        rows = [torch.autograd.grad(y[:, i].sum(), pts, retain_graph=True)[0] for i in range(2)]
        return torch.stack(rows, 1).detach()  # (n, 2, 2), J[n, i, j] = dy_i / dx_j

    xx = torch.tensor([0.3, -0.8], dtype=torch.float64)
    fx = f(xx)
    two_pi = torch.tensor(2 * np.pi, dtype=torch.float64)
    log_pf = float((-0.5 * torch.log(two_pi) - 0.5 * fx**2).sum())
    ld = float(logdet(xx))
    ld_ag = float(torch.linalg.slogdet(batch_jacobian(xx[None]))[1][0])
    g = torch.Generator().manual_seed(seed)
    eps = torch.randn(n, 2, generator=g, dtype=torch.float64)
    # $z \sim q(z \mid x) = \mathcal{N}(f(x), \sigma^2 I)$
    zz = fx + sigma * eps
    xhat = f_inv(zz)
    J = batch_jacobian(xhat)  # (n, 2, 2), $J_f$ at $f^{-1}(z)$
    r = torch.einsum("nij,nj->ni", J, xx - xhat)
    # $\log p(x \mid z) = -\log 2\pi\sigma^2 + \log|\det J_f(\hat x)| - \|J_f(\hat x)(x - \hat x)\|^2 / 2\sigma^2$
    log_dec = -torch.log(two_pi * sigma**2) + torch.linalg.slogdet(J)[1] - 0.5 * (r**2).sum(-1) / sigma**2
    log_prior = (-0.5 * torch.log(two_pi) - 0.5 * zz**2).sum(-1)
    log_q = -torch.log(two_pi * sigma**2) - 0.5 * (eps**2).sum(-1)
    per = (log_dec + log_prior - log_q).numpy()
    return {"elbo": float(per.mean()), "se": float(per.std(ddof=1) / np.sqrt(n)), "log_px": log_pf + ld,
            "log_pf": log_pf, "logdet": ld, "logdet_autograd": ld_ag}


def _check(seed, variant):
    out = flow_dirac_elbo(seed=seed)
    exact = out["log_pf"] if variant == "no_logdet" else out["log_px"]
    ok, tol = within(out["elbo"], out["se"], exact)
    tol += BIAS_ALLOWANCE
    ok = abs(out["elbo"] - exact) <= tol
    ok_ld = abs(out["logdet"] - out["logdet_autograd"]) <= 1e-10
    curve = elbo_of_sigma([1e-1, 1e-2, 1e-3], kind="log")
    ok_curve = abs(curve[-1] - log_px(kind="log")) <= 1e-5
    msg = (f"Dirac-ELBO(sigma={SIGMA:g}) = {out['elbo']:.6f} ± {out['se']:.2g} vs "
           f"{'log p(f(x))' if variant == 'no_logdet' else 'log p(x)'} = {exact:.6f} (tol {tol:.2g}); "
           f"log|det J| = {out['logdet']:.6f} (autograd {out['logdet_autograd']:.6f}, {'ok' if ok_ld else 'MISMATCH'}); "
           f"1-D f = log: ELBO(sigma=1e-3) = {curve[-1]:.6f} vs log p(x) = {log_px(kind='log'):.6f} "
           f"({'ok' if ok_curve else 'FAIL'})")
    return NumericResult(bool(ok and ok_ld and ok_curve), out["elbo"], out["se"], exact, tol, msg)


IDENTITY = make_identity(NAME, TITLE, SOURCE, _build, _check, TWINS)

r"""A normalizing flow is a VAE with a Dirac encoder and decoder.

Notation (Isachenko, Lecture 5): the flow maps data to latents, :math:`z = f(x)`; its inverse generates,
:math:`x = g(z)` with :math:`f = g^{-1}`; :math:`J_f` is the Jacobian of :math:`f` and :math:`p(z)` the prior.
The objective whose limit is taken is the ELBO of a VAE with encoder and decoder

.. math::
    q_\sigma(z \mid x) = \mathcal{N}\big(z;\ f(x),\ \sigma^2 I_D\big), \qquad
    p_\sigma(x \mid z) = \mathcal{N}\big(x;\ g(z),\ \sigma^2 (J^\top J)^{-1}\big),\ J = J_f(g(z)),

:math:`\mathcal{L}_\sigma(x) = \mathbb{E}_{q_\sigma(z \mid x)}[\log p_\sigma(x \mid z) + \log p(z) - \log q_\sigma(z \mid x)]`:
the decoder's covariance shrinks with the encoder's, mapped through the flow, so both tend to Dirac deltas
:math:`\delta(z - f(x))` and :math:`\delta(x - g(z))` as :math:`\sigma \to 0`.  The theorem:

.. math::
    \lim_{\sigma \to 0} \mathcal{L}_\sigma(x) = \log p(f(x)) + \log|\det J_f(x)| = \log p(x).

Source: Isachenko, *Deep Generative Models*, Lecture 5, 'Normalizing flow as VAE' (theorem and proof: Dirac
delta property, change-of-variables (CoV) and Bayes theorems, log-likelihood decomposition) and the table 'VAE vs
Normalizing flows'.

General proof (main chain): every dimension :math:`D \ge 1` (symbolic), every invertible :math:`f` with
:math:`f, g` twice continuously differentiable with bounded derivatives, every prior with :math:`\log p \in C^1`.
With :math:`z = f(x) + \sigma\epsilon`, the Gaussian normalizers cancel for every :math:`D`
(:math:`\log\det(\sigma^2 (J^\top J)^{-1}) = 2D\log\sigma - 2\log|\det J|`), first-order Taylor expansions
(:math:`J(x - g(z))/\sigma = -\epsilon + \sigma\rho(\epsilon)`, :math:`\log|\det J_f(g(z))| = \log|\det J_f(x)| +
\sigma r_J(\epsilon)`, :math:`\log p(z) = \log p(f(x)) + \sigma r_p(\epsilon)`, remainders bounded) leave only
:math:`O(\sigma)` terms, and the limit moves inside :math:`\mathbb{E}_\epsilon` (dominated convergence).  The
checked algebra is the cancellation of the :math:`1/\sigma^2` quadratic forms and of the :math:`D`-dimensional
normalizers; the Taylor expansions and the matrix-determinant rules are the stated steps.  Worked instances:
``instance_affine`` (:math:`D = 1`, :math:`f(x) = ax + c`: the ELBO exactly :math:`\log p(x) - \sigma^2/2`),
``decoder_bayes`` and ``nonlinear_log`` (:math:`f = \log` on :math:`x > 0`).

Numeric check: a 2-D flow of two affine coupling layers (fixed random weights, float64, torch); its
change-of-variables :math:`\log p(x)` at :math:`x = (0.3, -0.8)` (log-det from the coupling scales,
cross-checked against the autograd Jacobian by ``torch.func.vmap(jacrev(f))``) against a Monte Carlo estimate
of :math:`\mathcal{L}_\sigma` at :math:`\sigma =` ``SIGMA`` (``N_SAMPLES`` draws, fixed seed), tolerance 4 SE plus
the :math:`O(\sigma^2)` allowance ``BIAS_ALLOWANCE``.  The decoder density is shown to integrate to one (grid
quadrature at :math:`\sigma = 0.3`); the 1-D curve of the scene (:math:`f = \log`) reaches its limit.

Wrong twins (real mistakes): ``no_logdet`` (a flow without its log-determinant), ``logdet_sign``
(:math:`\log p(f(x)) - \log|\det J_f|`: the Jacobian of the wrong direction), ``fixed_decoder_cov`` (decoder
covariance :math:`\sigma^2 I`, not shrunk with the Jacobian: the limit misses :math:`\log|\det J_f|` and keeps
:math:`-\frac12\mathbb{E}[\|J_f^{-1}\epsilon\|^2 - \|\epsilon\|^2]`).

:func:`elbo_of_sigma` gives :math:`\mathcal{L}_\sigma(x)` on a grid of :math:`\sigma` (Gauss-Hermite quadrature)
for a scene that shrinks :math:`\sigma`; :func:`log_px` the limit.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp
from scipy.stats import norm

from derivations.expectation import Expect, density
from derivations.notation import LOG_PX
from derivations.numeric import within
from derivations.steps import DOMINATED_CONVERGENCE
from derivations.operator_rules import RawSymbol, make_rule_identity
from derivations.rv import expect_rv as E, normal_rv
from derivations.steps import Derivation, NumericResult, Step

SIGMA = 1e-3
N_SAMPLES = 4_000
BIAS_ALLOWANCE = 1e-4  # |L_sigma - log p(x)| = O(sigma^2) = 1e-6 times a curvature constant

NAME = "flow_as_dirac_vae"
TITLE = "A normalizing flow is a VAE with a Dirac encoder and decoder"
SOURCE = ("Isachenko, Deep Generative Models, Lecture 5, 'Normalizing flow as VAE' (theorem, proof), "
          "'VAE vs Normalizing flows'")
TWINS = {
    "no_logdet": (r"a flow without its log-determinant: $\lim_{\sigma \to 0} \mathcal{L}_\sigma(x) = "
                  r"\log p(f(x))$"),
    "logdet_sign": (r"the Jacobian of the wrong direction: $\lim_{\sigma \to 0} \mathcal{L}_\sigma(x) = "
                    r"\log p(f(x)) - \log|\det J_f(x)|$"),
    "fixed_decoder_cov": (r"the decoder's covariance not shrunk with the flow: $\sigma^2 I_D$ instead of "
                          r"$\sigma^2 (J^\top J)^{-1}$, claimed to give the flow's $\log p(x)$"),
}
SCOPE = (r"for every dimension $D \ge 1$, every invertible $f: \mathbb{R}^D \to \mathbb{R}^D$ ($x = g(z)$, $f = g^{-1}$) "
         r"with $f, g$ twice continuously differentiable with bounded derivatives, and every prior with "
         r"$\log p \in C^1$; the Taylor steps and the determinant rules are stated, the cancellations checked; "
         r"the instances below are exact for $D = 1$")
MODEL = (r"Worked instances ($D = 1$): the affine flow $f(x) = ax + c$, $a > 0$, prior $p(z) = \mathcal{N}(0, 1)$ "
         r"(so $x = g(z) = (z - c)/a$); and $f(x) = \log x$ on $x > 0$ (so $x = e^z$ is log-normal).  Numeric "
         r"check: two affine coupling layers on $\mathbb{R}^2$ at $x = (0.3, -0.8)$.")

#: the symbols the lines use beyond the notation page (the theorem box lists them first)
SYMBOLS = {
    r"f": r"the flow, an invertible map of $\mathbb{R}^D$: $z = f(x)$",
    r"g": r"the flow's inverse, $x = g(z)$, $f = g^{-1}$",
    r"J_f(x)": r"the Jacobian of $f$ at $x$; $J = J_f(g(z))$",
    r"\sigma": r"the scale of the encoder's and the decoder's noise, $\sigma > 0$, taken to $0$",
    r"\epsilon": r"the encoder's noise, $\epsilon \sim \mathcal{N}(0, I_D)$, $z = f(x) + \sigma\epsilon$",
    r"q_\sigma(z \mid x)": r"the encoder $\mathcal{N}(z; f(x), \sigma^2 I_D)$",
    r"p_\sigma(x \mid z)": r"the decoder $\mathcal{N}(x; g(z), \sigma^2 (J^\top J)^{-1})$",
    r"\log q_\sigma(z \mid x)": (r"at $z = f(x) + \sigma\epsilon$: $-\frac{D}{2} \log 2\pi - D \log \sigma - "
                                 r"\frac{1}{2} \|\epsilon\|^2$"),
    r"\log p_\sigma(x \mid z)": (r"$-\frac{D}{2} \log 2\pi - \frac{1}{2} \log\det\left(\sigma^2 (J^\top J)^{-1}"
                                 r"\right) - \frac{1}{2\sigma^2} \left\|J (x - g(z))\right\|^2$"),
    r"\mathcal{L}_\sigma(x)": (r"the ELBO of this VAE: the expectation under $q_\sigma(z \mid x)$ of "
                              r"$\log p_\sigma(x \mid z) + \log p(z) - \log q_\sigma(z \mid x)$"),
    r"\rho(\epsilon)": (r"the Taylor remainder of the decoder's mean, $J (x - g(z)) / \sigma = -\epsilon + "
                         r"\sigma \rho(\epsilon)$ (bounded)"),
    r"r_J(\epsilon)": (r"the Taylor remainder (bounded) of the log-determinant: $\log|\det J_f(g(z))| = "
                       r"\log|\det J_f(x)| + \sigma r_J(\epsilon)$"),
    r"r_p(\epsilon)": (r"the Taylor remainder (bounded) of the prior: $\log p(z) = \log p(f(x)) + "
                       r"\sigma r_p(\epsilon)$"),
    r"a": r"in the affine instance, the slope of $f(x) = ax + c$, $a > 0$",
    r"c": r"in the affine instance, the offset of $f(x) = ax + c$",
}
#: the ``fixed_decoder_cov`` twin's decoder
SYMBOLS_FIXED = {**SYMBOLS,
                 r"p_\sigma(x \mid z)": r"the twin's decoder $\mathcal{N}(x; g(z), \sigma^2 I_D)$",
                 r"\log p_\sigma(x \mid z)": (r"$-\frac{D}{2} \log 2\pi - \frac{1}{2} \log\det\left(\sigma^2 I_D\right) - "
                                              r"\frac{1}{2\sigma^2} \left\|x - g(z)\right\|^2$")}

x = sp.Symbol("x", real=True)
a = sp.Symbol("a", positive=True)
c = sp.Symbol("c", real=True)
sigma = sp.Symbol("sigma", positive=True)
D = sp.Symbol("D", integer=True, positive=True)

LIM_ELBO = RawSymbol(r"\lim_{\sigma \to 0} \mathcal{L}_{\sigma}(x)", real=True)
LOG_PF = RawSymbol(r"\log p(f(x))", real=True)
LOG_DET_JF = RawSymbol(r"\log|\det J_f(x)|", real=True)


def _named(latex: str, **assumptions):
    """An undefined function of epsilon printed as ``latex`` (a term of the general chain)."""
    cls = sp.Function(latex.replace("\\", "").replace(" ", ""), **assumptions)
    cls._latex = lambda self, printer: latex
    return cls


epsv = sp.Symbol(r"\epsilon", real=True)               # the encoder's noise, epsilon ~ N(0, I_D)
phi = density("phi", 1, symbol=r"\mathcal{N}_{0, I}")
NORM_EPS = _named(r"\|\epsilon\|^2", nonnegative=True)(epsv)
NORM_JINV_EPS = _named(r"\|J_f(x)^{-1}\epsilon\|^2", nonnegative=True)(epsv)
R_J, R_P, R_Q, R_QQ = (_named(t, real=True)(epsv) for t in (r"r_J(\epsilon)", r"r_p(\epsilon)",
                                                            r"\epsilon^\top \rho(\epsilon)", r"\|\rho(\epsilon)\|^2"))
LDJ_Z = RawSymbol(r"\log|\det J_f(g(z))|", real=True)
LOGP_Z = RawSymbol(r"\log p(z)", real=True)
LOGDET_DEC = RawSymbol(r"\log\det(\sigma^2 (J^\top J)^{-1})", real=True)
DEC_Q = RawSymbol(r"\tfrac{1}{\sigma^2}\|J (x - g(z))\|^2", real=True)


def _ln(y, mean, var):
    return -sp.log(2 * sp.pi * var) / 2 - (y - mean) ** 2 / (2 * var)


def _general(mistake):
    fixed = mistake == "fixed_decoder_cov"
    # Taylor expansions around sigma = 0 (stated; remainders bounded) and the determinant rule
    rules = {LDJ_Z: LOG_DET_JF + sigma * R_J, LOGP_Z: LOG_PF + sigma * R_P,
             LOGDET_DEC: 2 * D * sp.log(sigma) - (0 if fixed else 2) * LDJ_Z,
             DEC_Q: (NORM_JINV_EPS + sigma * R_Q) if fixed else NORM_EPS - 2 * sigma * R_Q + sigma**2 * R_QQ,
             LOG_PX: LOG_PF + LOG_DET_JF}
    half_log_2pi = D * sp.log(2 * sp.pi) / 2
    # $\log p_\sigma(x \mid z) + \log p(z) - \log q_\sigma(z \mid x)$ at $z = f(x) + \sigma\epsilon$
    dec = -half_log_2pi - LOGDET_DEC / 2 - DEC_Q / 2
    enc = -half_log_2pi - D * sp.log(sigma) - NORM_EPS / 2
    h0 = dec + LOGP_Z - enc
    lim = lambda e: sp.Limit(Expect(e, epsv, phi(epsv)), sigma, 0)  # noqa: E731
    h1 = LOGP_Z - (DEC_Q - NORM_EPS) / 2 + (0 if fixed else LDJ_Z)
    end = {"no_logdet": LOG_PF, "logdet_sign": LOG_PF - LOG_DET_JF}.get(mistake, LOG_PF + LOG_DET_JF)
    dq = _DEC_Q_FIXED if fixed else _DEC_Q
    lim_t = lambda body: rf"\lim_{{\sigma \to 0}} \mathbb{{E}}_{{\epsilon \sim {_EPS_LAW}}}\left[{body}\right]"  # noqa: E731
    line2 = (r"\log p(f(x)) + \sigma r_p(\epsilon) - \frac{1}{2}\left(\|J_f(x)^{-1}\epsilon\|^2 - \|\epsilon\|^2\right) "
             r"- \frac{\sigma}{2} \epsilon^\top \rho(\epsilon)" if fixed else
             r"\log p(f(x)) + \log|\det J_f(x)| + \sigma \left(r_p(\epsilon) + r_J(\epsilon) + \epsilon^\top \rho(\epsilon)"
             r"\right) - \frac{\sigma^2}{2} \|\rho(\epsilon)\|^2")
    end_t = {"no_logdet": r"\log p(f(x))", "logdet_sign": r"\log p(f(x)) - \log|\det J_f(x)|"}.get(
        mistake, r"\log p(f(x)) + \log|\det J_f(x)|")
    steps = [
        Step(lim(h0), why=r"The ELBO $\mathcal{L}_\sigma(x)$ with $z = f(x) + \sigma\epsilon$: the Gaussian log-densities "
                          r"of the decoder $\mathcal{N}(g(z), \sigma^2 (J^\top J)^{-1})$, the prior and the encoder "
                          r"$\mathcal{N}(f(x), \sigma^2 I_D)$, for $D$ dimensions.",
             tex=lim_t(r"\log p_\sigma(x \mid z) + \log p(z) - \log q_\sigma(z \mid x)")),
        Step(lim(h1), r"The normalizers cancel for every $D$: $\log\det(\sigma^2 (J^\top J)^{-1}) = 2D \log\sigma "
                      r"- 2 \log|\det J|$ ($\det cA = c^D \det A$, $\det A^{-1} = 1/\det A$): the CoV + Bayes step "
                      r"of the lecture.",
             tex=lim_t(r"\log p(z) - \frac{1}{2}\left(" + dq + r" - \|\epsilon\|^2\right)"
                       + ("" if fixed else r" + \log|\det J_f(g(z))|"))),
        Step(lim(sp.expand(h1.xreplace(rules))),
             r"First-order Taylor expansions: $g(f(x) + \sigma\epsilon) = x + \sigma J_f(x)^{-1}\epsilon + O(\sigma^2)$, "
             r"so $J(x - g(z))/\sigma = -\epsilon + \sigma\rho(\epsilon)$; $\log|\det J_f|$ and $\log p$ are $C^1$.",
             tex=lim_t(line2)),
        Step(end, r"Dominated convergence moves the limit inside $\mathbb{E}_\epsilon$; every $O(\sigma)$ term "
                  r"vanishes and $\mathbb{E}_\epsilon 1 = 1$ (the Dirac delta property of the lecture).", tex=end_t),
        Step(LOG_PX, r"Change of variables: $p(x) = p(f(x))\, |\det J_f(x)|$ (Isachenko, Deep Generative Models, "
                     r"Lecture 5, 'Normalizing flow as VAE').", tex=r"\log p(x)"),
    ]
    names = {
        r"\log p_\sigma(x \mid z)": dec, r"\log q_\sigma(z \mid x)": enc,
        r"\mathcal{L}_\sigma(x)": Expect(h0, epsv, phi(epsv)), _EPS_LAW: phi(epsv),
        dq: DEC_Q, r"\log p(z)": LOGP_Z, r"\|\epsilon\|^2": NORM_EPS, r"\log|\det J_f(g(z))|": LDJ_Z,
        r"\log p(f(x))": LOG_PF, r"\log|\det J_f(x)|": LOG_DET_JF, r"r_J(\epsilon)": R_J, r"r_p(\epsilon)": R_P,
        r"\epsilon^\top \rho(\epsilon)": R_Q, r"\|\rho(\epsilon)\|^2": R_QQ, r"\|J_f(x)^{-1}\epsilon\|^2": NORM_JINV_EPS,
        r"\log p(x)": LOG_PX,
    }
    return steps, rules, names


#: the law of the encoder's noise as written, and the decoder's quadratic form (its covariance shrunk with the
#: flow's Jacobian; the ``fixed_decoder_cov`` twin's is not)
_EPS_LAW = r"\mathcal{N}(0, I_D)"
_DEC_Q = r"\frac{1}{\sigma^2}\left\|J (x - g(z))\right\|^2"
_DEC_Q_FIXED = r"\frac{1}{\sigma^2}\left\|x - g(z)\right\|^2"

LOGN_LOG_X = RawSymbol(r"\log \mathcal{N}(\log x; 0, 1)", real=True)
ABS_FPRIME = RawSymbol(r"|f'(x)|", positive=True)


def _instances():
    Z = normal_rv("z", a * x + c, sigma**2)
    zz = sp.Symbol("z", real=True)
    integrand = lambda t: _ln(x, (t - c) / a, sigma**2 / a**2) + _ln(t, 0, 1) - _ln(t, a * x + c, sigma**2)  # noqa: E731
    log_pf = _ln(a * x + c, 0, 1)
    xp = sp.Symbol("x", positive=True)
    eps = sp.Symbol("epsilon", real=True)
    zl = sp.log(xp) + sigma * eps
    h = _ln(xp, sp.exp(zl), sigma**2 * sp.exp(2 * zl)) + _ln(zl, 0, 1) - _ln(zl, sp.log(xp), sigma**2)
    return [
        Derivation("instance_affine", [
            Step(sp.Limit(E(integrand(Z)), sigma, 0), r"The Dirac-VAE ELBO of the affine flow as $\sigma \to 0$, "
                 r"with $q_\sigma(z \mid x) = \mathcal{N}(z; ax + c, \sigma^2)$ and "
                 r"$p_\sigma(x \mid z) = \mathcal{N}(x; (z - c)/a, \sigma^2/a^2)$.",
                 tex=r"\lim_{\sigma \to 0} \mathcal{L}_\sigma(x)"),
            Step(sp.Limit(sp.log(a) + log_pf - sigma**2 / 2, sigma, 0),
                 r"Gaussian moments: the exact ELBO for every $\sigma$.",
                 tex=r"\lim_{\sigma \to 0} \left(\log \mathcal{N}(ax + c; 0, 1) + \log a - \frac{\sigma^2}{2}\right)"),
            Step(log_pf + sp.log(a), r"$\sigma \to 0$: $\log p(f(x)) + \log|\det J_f|$ with $J_f = a$.",
                 tex=r"\log \mathcal{N}(ax + c; 0, 1) + \log a"),
            Step(_ln(x, -c / a, 1 / a**2), r"Change of variables: $x = (z - c)/a \sim \mathcal{N}(-c/a, 1/a^2)$.",
                 tex=r"\log \mathcal{N}\left(x; -\frac{c}{a}, \frac{1}{a^2}\right)"),
        ], r"Worked instance: $D = 1$, $f(x) = ax + c$", "instance",
            names={r"\mathcal{L}_\sigma(x)": E(integrand(Z))}),
        Derivation("decoder_bayes", [
            Step(_ln(x, (zz - c) / a, sigma**2 / a**2) - _ln(zz, a * x + c, sigma**2),
                 r"$\log p_\sigma(x \mid z) - \log q_\sigma(z \mid x)$ for the affine flow.",
                 tex=r"\log \mathcal{N}\left(x; \frac{z - c}{a}, \frac{\sigma^2}{a^2}\right) - "
                     r"\log \mathcal{N}(z; ax + c, \sigma^2)"),
            Step(sp.log(a), r"$= \log|\det J_f|$ for every $z$: CoV + Bayes.", tex=r"\log a"),
        ], r"Worked instance: decoder over encoder, pointwise", "instance"),
        Derivation("nonlinear_log", [
            Step(sp.Limit(h, sigma, 0), r"$f(x) = \log x$: the limit of the ELBO integrand at $z = \log x + \sigma\epsilon$.",
                 tex=r"\lim_{\sigma \to 0} \left(\log \mathcal{N}\left(x; \exp z, \sigma^2 \exp 2z\right) + "
                     r"\log \mathcal{N}(z; 0, 1) - \log \mathcal{N}(z; \log x, \sigma^2)\right)"),
            Step(_ln(sp.log(xp), 0, 1) - sp.log(xp), r"$\log p(f(x)) + \log|f'(x)|$, $f'(x) = 1/x$.",
                 display=LOGN_LOG_X + sp.log(ABS_FPRIME), tex=r"\log \mathcal{N}(\log x; 0, 1) + \log \frac{1}{x}"),
            Step(-sp.log(xp) - sp.log(2 * sp.pi) / 2 - sp.log(xp) ** 2 / 2, r"CoV: $x = e^z$ is log-normal.",
                 tex=r"-\frac{1}{2} \log 2\pi - \frac{1}{2} (\log x)^2 - \log x"),
        ], r"Worked instance: $D = 1$, $f(x) = \log x$", "instance", names={"z": zl}),
    ]


def _build(mistake):
    steps, rules, names = _general(mistake)
    xp = sp.Symbol("x", positive=True)
    defs = {LIM_ELBO: steps[0].expr, **rules, LOGN_LOG_X: _ln(sp.log(xp), 0, 1), ABS_FPRIME: 1 / xp}
    return {"statement": sp.Eq(LIM_ELBO, LOG_PX), "definitions": defs, "steps": steps, "kind": "general",
            "statement_tex": r"\lim_{\sigma \to 0} \mathcal{L}_\sigma(x) = \log p(x)", "names": names,
            "symbols": SYMBOLS_FIXED if mistake == "fixed_decoder_cov" else SYMBOLS,
            "title": r"General proof: every invertible $f$ on $\mathbb{R}^D$",
            "hypotheses": [r"x = g(z),\ f = g^{-1}", r"f, g \in C^2", r"\sigma > 0", DOMINATED_CONVERGENCE],
            "given": [r"the first-order Taylor expansions $\log|\det J_f(g(z))| = \log|\det J_f(x)| + \sigma r_J(\epsilon)$, "
                      r"$\log p(z) = \log p(f(x)) + \sigma r_p(\epsilon)$ and of the decoder's quadratic form, "
                      r"at $z = f(x) + \sigma\epsilon$ (stated as rules, not derived)",
                      r"the determinant rule $\log\det(\sigma^2 (J^\top J)^{-1}) = 2D \log\sigma - 2\log|\det J_f|$",
                      r"the change of variables $\log p(x) = \log p(f(x)) + \log|\det J_f(x)|$ (a rule)"],
            "scope": SCOPE, "model": MODEL, "side": _instances() if mistake is None else []}


# ---------------------------------------------------------------------------------------------------------
# 1-D curves for the scenes
# ---------------------------------------------------------------------------------------------------------

def _lnp(y, mean, var):
    r"""NumPy $\log \mathcal{N}(y; \mu, \sigma^2)$ (``var`` a variance), ``scipy.stats.norm.logpdf``."""
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


def _batch_jacobian(f, pts):
    r"""$J_f$ at each row of ``pts`` ``(n, 2)`` -> ``(n, 2, 2)``, ``J[n, i, j] = df_i/dx_j`` (``torch.func.vmap(jacrev(f))``)."""
    from torch.func import jacrev, vmap

    return vmap(jacrev(f))(pts)


def _log_decoder(x_pt, xhat, J, sigma: float, decoder: str):
    r"""$\log p_\sigma(x \mid z)$ for $x$ ``(..., 2)`` given $g(z)$ = ``xhat`` and $J = J_f(g(z))$ (torch, nats).

    ``decoder="matched"``: $\mathcal{N}(g(z), \sigma^2 (J^\top J)^{-1})$, i.e.
    $-\log 2\pi\sigma^2 + \log|\det J| - \|J(x - g(z))\|^2 / 2\sigma^2$ in 2-D; ``"isotropic"`` (the twin):
    $\mathcal{N}(g(z), \sigma^2 I)$.
    """
    import torch

    from torch.distributions import MultivariateNormal

    if decoder == "matched":
        prec = torch.einsum("...ki,...kj->...ij", J, J) / sigma**2  # precision (J^T J) / sigma^2
        return MultivariateNormal(xhat, precision_matrix=prec).log_prob(x_pt)
    cov = sigma**2 * torch.eye(2, dtype=xhat.dtype).expand(*xhat.shape[:-1], 2, 2)
    return MultivariateNormal(xhat, covariance_matrix=cov).log_prob(x_pt)


def flow_dirac_elbo(sigma: float = SIGMA, n: int = N_SAMPLES, seed: int = 0, decoder: str = "matched") -> dict:
    r"""Monte Carlo Dirac-ELBO $\mathcal{L}_\sigma$ of the 2-D coupling flow at ``x = (0.3, -0.8)``, and its exact $\log p(x)$.

    Args:
        sigma: encoder scale (> 0).  n: draws.  seed: torch seed.  decoder: ``"matched"`` (the theorem's
            $\sigma^2 (J^\top J)^{-1}$) or ``"isotropic"`` ($\sigma^2 I$, the ``fixed_decoder_cov`` twin).
    Returns dict: ``elbo``/``se`` (MC, nats), ``log_px`` (change of variables), ``log_pf`` ($\log p(f(x))$),
    ``logdet`` (coupling scales) and ``logdet_autograd`` (slogdet of the autograd Jacobian).
    Raises: ValueError for ``sigma <= 0`` or an unknown decoder.
    """
    return dict(_flow_dirac_elbo(float(sigma), int(n), int(seed), decoder))


@lru_cache(maxsize=16)
def _flow_dirac_elbo(sigma: float, n: int, seed: int, decoder: str) -> dict:
    """:func:`flow_dirac_elbo`, cached: the true identity and its twins share one run per decoder."""
    import torch
    from torch.distributions import Independent, Normal

    if sigma <= 0 or decoder not in ("matched", "isotropic"):
        raise ValueError("need sigma > 0 and decoder in {'matched', 'isotropic'}")
    f, f_inv, logdet = _coupling_flow(0)
    xx = torch.tensor([0.3, -0.8], dtype=torch.float64)
    fx = f(xx)
    std_normal = Independent(Normal(torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)), 1)
    log_pf = float(std_normal.log_prob(fx))
    ld = float(logdet(xx))
    ld_ag = float(torch.linalg.slogdet(_batch_jacobian(f, xx[None]))[1][0])
    g = torch.Generator().manual_seed(seed)
    eps = torch.randn(n, 2, generator=g, dtype=torch.float64)
    # $z \sim q_\sigma(z \mid x) = \mathcal{N}(f(x), \sigma^2 I)$
    zz = fx + sigma * eps
    xhat = f_inv(zz)
    J = _batch_jacobian(f, xhat)  # $J_f$ at $g(z)$
    log_dec = _log_decoder(xx, xhat, J, sigma, decoder)
    log_q = Independent(Normal(fx, sigma * torch.ones(2, dtype=torch.float64)), 1).log_prob(zz)
    per = (log_dec + std_normal.log_prob(zz) - log_q).numpy()
    return {"elbo": float(per.mean()), "se": float(per.std(ddof=1) / np.sqrt(n)), "log_px": log_pf + ld,
            "log_pf": log_pf, "logdet": ld, "logdet_autograd": ld_ag}


@lru_cache(maxsize=4)
def decoder_mass(sigma: float = 0.3, half_width: float = 8.0, points: int = 401) -> float:
    r"""$\int p_\sigma(x \mid z)\, dx$ of the matched decoder at $z = f((0.3, -0.8))$, by grid quadrature (should be 1)."""
    import torch

    f, f_inv, _ = _coupling_flow(0)
    z0 = f(torch.tensor([0.3, -0.8], dtype=torch.float64))
    xhat = f_inv(z0)
    J = _batch_jacobian(f, xhat[None])[0]
    cov = sigma**2 * torch.linalg.inv(J.T @ J)
    sd = torch.sqrt(torch.diagonal(cov))
    axes = [torch.linspace(float(xhat[i] - half_width * sd[i]), float(xhat[i] + half_width * sd[i]), points,
                           dtype=torch.float64) for i in range(2)]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
    dens = torch.exp(_log_decoder(grid, xhat, J, sigma, "matched"))
    cell = float((axes[0][1] - axes[0][0]) * (axes[1][1] - axes[1][0]))
    return float(dens.sum()) * cell


def _check(seed, mistake):
    out = flow_dirac_elbo(seed=seed, decoder="isotropic" if mistake == "fixed_decoder_cov" else "matched")
    exact = {"no_logdet": out["log_pf"], "logdet_sign": out["log_pf"] - out["logdet"]}.get(mistake, out["log_px"])
    _, tol = within(out["elbo"], out["se"], exact)
    tol += BIAS_ALLOWANCE
    ok = abs(out["elbo"] - exact) <= tol
    ok_ld = abs(out["logdet"] - out["logdet_autograd"]) <= 1e-10
    mass = decoder_mass()
    ok_mass = abs(mass - 1.0) <= 1e-6
    curve = elbo_of_sigma([1e-1, 1e-2, 1e-3], kind="log")
    ok_curve = abs(curve[-1] - log_px(kind="log")) <= 1e-5
    msg = (f"Dirac-ELBO(sigma={SIGMA:g}) = {out['elbo']:.6f} ± {out['se']:.2g} vs "
           f"{'log p(f(x))' if mistake == 'no_logdet' else 'the claimed limit'} = {exact:.6f} (tol {tol:.2g}); "
           f"log|det J| = {out['logdet']:.6f} (autograd {out['logdet_autograd']:.6f}, {'ok' if ok_ld else 'MISMATCH'}); "
           f"decoder integrates to {mass:.8f} ({'ok' if ok_mass else 'FAIL'}); "
           f"1-D f = log: ELBO(sigma=1e-3) = {curve[-1]:.6f} vs log p(x) = {log_px(kind='log'):.6f} "
           f"({'ok' if ok_curve else 'FAIL'})")
    return NumericResult(bool(ok and ok_ld and ok_curve and ok_mass), out["elbo"], out["se"], exact, tol, msg)


IDENTITY = make_rule_identity(NAME, TITLE, SOURCE, _build, _check, TWINS)

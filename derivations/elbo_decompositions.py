r"""Two ways to write the ELBO.

.. math::
    \mathcal{L}(q) = \mathbb{E}_q \log p(x \mid z) - \mathrm{KL}(q(z) \,\|\, p(z))
                   = \mathbb{E}_q \log p(x, z) + \mathbb{H}[q],

for every likelihood :math:`p(x \mid z)`, prior :math:`p(z)` and density :math:`q(z)` (positive where the prior is);
for pixels independent given :math:`z` the reconstruction term is a *sum* over pixels,
:math:`\mathbb{E}_q \log p(x \mid z) = \sum_{i=1}^{P} \mathbb{E}_q \log p(x_i \mid z)`.

Sources: K. Gupta & T. Wang, *ELBO and KL-Divergence* (UCSD, 2018), eqs. (7)-(9); S. J. D. Prince,
*Understanding Deep Learning* (MIT Press, 2023), ch. 17, "ELBO as reconstruction loss minus KL divergence"
(eq. 17.21); R. Isachenko, *Deep Generative Models*, Lecture 5, slide "Variational lower bound (ELBO)".

General proof (undefined densities, :mod:`derivations.expectation`): factor :math:`p(x, z) = p(x \mid z) p(z)`,
expand the log, linearity.  Side derivations (general): energy + entropy; the sum over pixels.  Worked
instance: the same chain on the linear-Gaussian model (:mod:`derivations.models.linear_gaussian`), where
:math:`\mathrm{KL}(\mathcal{N}(m, v) \| \mathcal{N}(0, 1)) = \tfrac12(m^2 + v - 1 - \log v)` and
:math:`\mathbb{H}[q] = \tfrac12 \log 2\pi e v` come out of Gaussian moments.

Numeric check (a ``P = 4``-pixel linear-Gaussian model, ``N_SAMPLES`` draws of q): the reconstruction minus KL
and the energy plus entropy, each against the exact ELBO :math:`\log p(x) - \mathrm{KL}(q \| p(z \mid x))` from
Gaussian conjugacy; a 5% error in either is rejected; every density integrates to one.

Wrong twins: ``kl_plus`` (the KL added), ``kl_reversed`` (:math:`\mathrm{KL}(p(z) \| q)`, the wrong
direction), ``sum_vs_mean`` (the reconstruction averaged over pixels while the KL is per image, the
per-pixel-mean loss of many VAE codes).
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from derivations.expectation import Expect, NormalPDF, density
from derivations.gaussian_kl import kl_diag_standard_normal, kl_normal_1d
from derivations.identity import make_identity
from derivations.models import linear_gaussian
from derivations.notation import E_LOG_JOINT, ELBO, ENTROPY, KL_PRIOR, RECON, joint, lik, prior, q, q_inst, x, z
from derivations.numeric import Component, normalization_claims, result_of
from derivations.steps import Derivation, Step

N_SAMPLES = 200_000

NAME = "elbo_decompositions"
TITLE = "The ELBO as reconstruction minus the KL to the prior, and as energy plus entropy"
SOURCE = ("K. Gupta & T. Wang, *ELBO and KL-Divergence* (UCSD, 2018), eqs. (7)-(9); S. J. D. Prince, "
          "*Understanding Deep Learning* (MIT Press, 2023), ch. 17, eq. 17.21; R. Isachenko, *Deep Generative "
          "Models*, Lecture 5, slide 'Variational lower bound (ELBO)'")
TWINS = {
    "kl_plus": (r"the KL added, not subtracted: $\mathcal{L}(q) = \mathbb{E}_{q(z)}\left[\log p(x \mid z)\right] + "
                r"\mathrm{KL}\left(q(z) \,\|\, p(z)\right)$"),
    "kl_reversed": (r"the KL in the wrong direction: $\mathcal{L}(q) = \mathbb{E}_{q(z)}\left[\log p(x \mid z)\right] - "
                    r"\mathrm{KL}\left(p(z) \,\|\, q(z)\right)$"),
    "sum_vs_mean": (r"the reconstruction averaged over the $P$ pixels while the KL is per image: $\mathcal{L}(q) = "
                    r"\frac{1}{P} \mathbb{E}_{q(z)}\left[\log p(x \mid z)\right] - \mathrm{KL}\left(q(z) \,\|\, "
                    r"p(z)\right)$"),
}
_RECON_TEX = r"\mathbb{E}_{q(z)}\left[\log p(x \mid z)\right]"
_KL_TEX = r"\mathrm{KL}\left(q(z) \,\|\, p(z)\right)"
#: the last line (and the statement's right side) each mistake writes
LAST_TEX = {
    None: f"{_RECON_TEX} - {_KL_TEX}",
    "kl_plus": f"{_RECON_TEX} + {_KL_TEX}",
    "kl_reversed": rf"{_RECON_TEX} - \mathrm{{KL}}\left(p(z) \,\|\, q(z)\right)",
    "sum_vs_mean": rf"\frac{{1}}{{P}} {_RECON_TEX} - {_KL_TEX}",
}
#: the symbols this identity introduces beyond the notation page
SYMBOLS = {
    r"P": "the number of pixels of an observation",
    r"x_i": r"pixel $i$ of the observation $x$",
    r"p(x_i \mid z)": r"the likelihood of pixel $i$ given $z$",
    r"m, v": r"the mean and the variance of $q(z) = \mathcal{N}(z; m, v)$ on the worked instance",
    r"w, b, s": r"the weight, the offset and the noise standard deviation of the linear-Gaussian model",
}

pix = density("p_pix", n_vars=1, symbol="p")
i = sp.Symbol("i", integer=True, positive=True)
P = sp.Symbol("P", integer=True, positive=True)
X = sp.IndexedBase("x", real=True)
RECON_MEAN = sp.Symbol(r"\frac{1}{P} \sum_{i} \mathbb{E}_{q} \log p(x_i \mid z)", real=True)
KL_PRIOR_REV = sp.Symbol(r"\mathrm{KL}(p(z) \| q(z))", real=True)

SCOPE = (r"for every likelihood $p(x \mid z)$, prior $p(z)$ and density $q(z)$ positive where $p(z)$ is "
         r"(continuous or discrete $z$); the reconstruction is a sum over $P$ pixels independent given $z$")
MODEL = (r"Worked instance (the linear-Gaussian model): $p(z) = \mathcal{N}(0, 1)$, "
         r"$p(x \mid z) = \mathcal{N}(x; w z + b, s^2)$ with $s > 0$, and $q(z) = \mathcal{N}(m, v)$ with $v > 0$. "
         r"The numeric check uses $P = 4$ pixels $x_i \mid z \sim \mathcal{N}(w_i z + b_i, s^2)$, "
         r"$x = (3, -1, 0.5, 2)$, $w = (2, -0.5, 1, 0.3)$, $b = (0.5, 0, 0.2, -0.3)$, $s = 0.8$, $m = 0.3$, $v = 0.5$.")


_INST_RECON = r"\mathbb{E}_{q(z)}\left[\log \mathcal{N}(x; w z + b, s^2)\right]"


def _build(mistake):
    Q = q(z)
    elbo = Expect(sp.log(joint(x, z) / Q), z, Q)
    recon = Expect(sp.log(lik(x, z)), z, Q)
    kl = Expect(sp.log(Q / prior(z)), z, Q)
    last, shown = {
        None: (recon - kl, RECON - KL_PRIOR),
        "kl_plus": (recon + kl, RECON + KL_PRIOR),
        "kl_reversed": (recon - Expect(sp.log(prior(z) / Q), z, prior(z)), RECON - KL_PRIOR_REV),
        "sum_vs_mean": (recon / P - kl, RECON_MEAN - KL_PRIOR),
    }[mistake]
    steps = [
        Step(elbo, r"The ELBO, $\mathcal{L}(q) = \mathbb{E}_q \log \frac{p(x, z)}{q(z)}$.",
             tex=r"\mathbb{E}_{q(z)}\left[\log \frac{p(x, z)}{q(z)}\right]"),
        Step(Expect(sp.log(lik(x, z) * prior(z) / Q), z, Q), r"The model factorizes: "
             r"$p(x, z) = p(x \mid z)\, p(z)$.",
             tex=r"\mathbb{E}_{q(z)}\left[\log \frac{p(x \mid z)\, p(z)}{q(z)}\right]"),
        Step(sp.Add(recon, -kl, evaluate=False), r"The log of a product is a sum of logs; linearity of "
             r"$\mathbb{E}_q$.", tex=rf"{_RECON_TEX} - \mathbb{{E}}_{{q(z)}}\left[\log \frac{{q(z)}}{{p(z)}}\right]"),
        Step(last, r"The definitions of the reconstruction term and of $\mathrm{KL}(q \| p) = "
             r"\mathbb{E}_q \log \frac{q}{p}$ (Kullback & Leibler, 1951).", display=shown, tex=LAST_TEX[mistake]),
    ]
    defs = {ELBO: elbo, RECON: recon, KL_PRIOR: kl, joint(x, z): lik(x, z) * prior(z), RECON_MEAN: recon / P,
            KL_PRIOR_REV: Expect(sp.log(prior(z) / Q), z, prior(z))}
    out = {"statement": sp.Eq(ELBO, shown), "definitions": defs, "steps": steps, "kind": "general",
           "scope": SCOPE, "model": MODEL, "hypotheses": [r"p(x, z) = p(x \mid z)\, p(z)", r"q(z) > 0"],
           "title": r"General proof: every likelihood, prior and $q$",
           "statement_tex": rf"\mathcal{{L}}(q) = {LAST_TEX[mistake]}", "symbols": SYMBOLS}
    if mistake is not None:
        return out
    defs[E_LOG_JOINT] = Expect(sp.log(joint(x, z)), z, Q)
    defs[ENTROPY] = -Expect(sp.log(Q), z, Q)
    zz, m, v = linear_gaussian.z, linear_gaussian.m, linear_gaussian.v
    Qn = q_inst(zz)
    defs[q_inst(zz)] = NormalPDF(zz, m, v)
    lik_n, prior_n = NormalPDF(linear_gaussian.x, linear_gaussian.w * zz + linear_gaussian.b, linear_gaussian.s**2), NormalPDF(zz, 0, 1)
    recon_n = Expect(sp.log(lik_n), zz, Qn)
    out["side"] = [
        Derivation("energy_entropy", [
            Step(elbo, r"The ELBO.", tex=r"\mathbb{E}_{q(z)}\left[\log \frac{p(x, z)}{q(z)}\right]"),
            Step(Expect(sp.log(joint(x, z)), z, Q) - Expect(sp.log(Q), z, Q), r"Linearity of $\mathbb{E}_q$.",
                 tex=r"\mathbb{E}_{q(z)}\left[\log p(x, z)\right] - \mathbb{E}_{q(z)}\left[\log q(z)\right]"),
            Step(Expect(sp.log(joint(x, z)), z, Q) - Expect(sp.log(Q), z, Q),
                 r"The energy $\mathbb{E}_q \log p(x, z)$ plus the entropy $\mathbb{H}[q] = -\mathbb{E}_q \log q$.",
                 display=E_LOG_JOINT + ENTROPY, tex=r"\mathbb{E}_{q(z)}\left[\log p(x, z)\right] + \mathbb{H}[q]"),
        ], title=r"Energy plus entropy: $\mathcal{L}(q) = \mathbb{E}_{q(z)}\left[\log p(x, z)\right] + \mathbb{H}[q]$",
            kind="general"),
        Derivation("pixels", [
            Step(Expect(sp.Sum(sp.log(pix(X[i], z)), (i, 1, P)), z, Q), r"$P$ pixels independent given $z$: "
                 r"$\log p(x \mid z) = \sum_{i=1}^{P} \log p(x_i \mid z)$.",
                 tex=r"\mathbb{E}_{q(z)}\left[\sum_{i=1}^{P} \log p(x_i \mid z)\right]"),
            Step(sp.Sum(Expect(sp.log(pix(X[i], z)), z, Q), (i, 1, P)), r"Linearity: the reconstruction term is "
                 r"a sum over pixels, not a mean.",
                 tex=r"\sum_{i=1}^{P} \mathbb{E}_{q(z)}\left[\log p(x_i \mid z)\right]"),
        ], title=r"The reconstruction term sums over the $P$ pixels", kind="general",
            names={r"p(x_i \mid z)": pix(X[i], z)}),
        Derivation("instance", [
            Step(Expect(sp.log(lik_n * prior_n / Qn), zz, Qn), r"The ELBO of the linear-Gaussian model, "
                 r"$q(z) = \mathcal{N}(z; m, v)$.",
                 tex=(r"\mathbb{E}_{q(z)}\left[\log \frac{\mathcal{N}(x; w z + b, s^2)\, \mathcal{N}(z; 0, 1)}"
                      r"{q(z)}\right]")),
            Step(sp.Add(recon_n, -Expect(sp.log(Qn / prior_n), zz, Qn), evaluate=False),
                 r"Factorize, expand the log, linearity.", tex=_INST_RECON + r" - \mathrm{KL}\left(q(z) \,\|\, "
                                                              r"\mathcal{N}(0, 1)\right)"),
            Step(sp.Add(recon_n, -sp.Mul(sp.Rational(1, 2), sp.Add(m**2, v, -1, -sp.log(v), evaluate=False),
                                         evaluate=False), evaluate=False), r"Gaussian moments: $\mathrm{KL}(\mathcal{N}(m, v) \| "
                 r"\mathcal{N}(0, 1)) = \tfrac12(m^2 + v - 1 - \log v)$ (Prince 2023, eq. 17.24 with $D = 1$).",
                 tex=_INST_RECON + r" - \frac{1}{2}\left(m^2 + v - 1 - \log v\right)"),
        ], title="Worked instance: the same chain on the linear-Gaussian model", kind="instance",
            names={r"q(z)": Qn}),
        Derivation("instance_entropy", [
            Step(-Expect(sp.log(Qn), zz, Qn), r"The entropy of $q = \mathcal{N}(m, v)$.",
                 tex=r"-\mathbb{E}_{q(z)}\left[\log q(z)\right]"),
            Step(sp.log(2 * sp.pi * sp.E * v) / 2, r"Gaussian moments: $\mathbb{H}[q] = \frac{1}{2} \log 2\pi \mathrm{e} v$, with "
                 r"$\log \mathrm{e} = 1$.",
                 tex=r"\frac{1}{2}\left(1 + \log 2\pi v\right)"),
        ], title=r"Instance: the Gaussian entropy", kind="instance", names={r"q(z)": Qn}),
    ]
    return out


#: the P-pixel linear-Gaussian model of the numeric check
PIXELS = {"x": np.array([3.0, -1.0, 0.5, 2.0]), "w": np.array([2.0, -0.5, 1.0, 0.3]),
          "b": np.array([0.5, 0.0, 0.2, -0.3]), "s": 0.8, "m": 0.3, "v": 0.5}


def exact_elbo(p: dict = PIXELS) -> float:
    r"""Exact ELBO of the P-pixel model, independently of the decompositions: $\log p(x) - \mathrm{KL}(q \| p(z \mid x))$.

    Conjugacy: $p(x) = \mathcal{N}(x; b, s^2 I + w w^\top)$; posterior precision $1 + w^\top w / s^2$.
    """
    from scipy.stats import multivariate_normal

    xs, ws, bs, s = p["x"], p["w"], p["b"], p["s"]
    log_px = multivariate_normal(mean=bs, cov=s**2 * np.eye(len(xs)) + np.outer(ws, ws)).logpdf(xs)
    vp = 1.0 / (1.0 + ws @ ws / s**2)
    mp = vp * (ws @ (xs - bs)) / s**2
    return float(log_px - kl_normal_1d(p["m"], p["v"], mp, vp))


def check_components(seed: int = 0, mistake=None) -> tuple[list, list]:
    """Components: reconstruction - KL and energy + entropy, each against the exact ELBO."""
    p = PIXELS
    rng = np.random.default_rng(seed)
    xs, ws, bs, s, m, v = p["x"], p["w"], p["b"], p["s"], p["m"], p["v"]
    zz = m + np.sqrt(v) * rng.standard_normal(N_SAMPLES)
    # $\log p(x_i \mid z)$ per pixel, shape (n, P)
    log_pix = linear_gaussian.log_normal_np(xs[None, :], ws[None, :] * zz[:, None] + bs[None, :], s**2)
    recon_s = log_pix.mean(1) if mistake == "sum_vs_mean" else log_pix.sum(1)
    # $\mathrm{KL}(q \| p(z)) = \tfrac12(m^2 + v - 1 - \log v)$ (the proved closed form of 'gaussian_kl')
    kl = float(kl_diag_standard_normal(np.array([m]), np.array([np.log(v)])))
    if mistake == "kl_reversed":
        # the twin: $\mathrm{KL}(\mathcal{N}(0, 1) \| \mathcal{N}(m, v))$
        kl = float(kl_normal_1d(0.0, 1.0, m, v))
    sign = 1.0 if mistake == "kl_plus" else -1.0
    claimed = recon_s + sign * kl
    # energy $\log p(x, z)$ plus the entropy $\tfrac12 \log 2\pi e v$
    energy = log_pix.sum(1) + linear_gaussian.log_normal_np(zz, 0.0, 1.0) + 0.5 * np.log(2 * np.pi * np.e * v)
    exact = exact_elbo(p)
    se = lambda a: float(a.std(ddof=1) / np.sqrt(len(a)))  # noqa: E731
    comps = [Component("reconstruction - KL", claimed.mean(), se(claimed), exact),
             Component("energy + entropy", energy.mean(), se(energy), exact)]
    extra = normalization_claims({
        "q = N(m, v)": lambda t: np.exp(linear_gaussian.log_normal_np(t, m, v)),
        "prior N(0, 1)": lambda t: np.exp(linear_gaussian.log_normal_np(t, 0.0, 1.0)),
        "pixel likelihood p(x_1 | z = 0.7) over x_1": lambda t: np.exp(linear_gaussian.log_normal_np(t, ws[0] * 0.7 + bs[0], s**2))})
    return comps, extra


def _check(seed, mistake):
    comps, extra = check_components(seed, mistake)
    return result_of(comps, extra)


IDENTITY = make_identity(NAME, TITLE, SOURCE, _build, _check, TWINS)

r"""Two ways to write the ELBO.

.. math::
    \mathcal{L}(q) = \mathbb{E}_q \log p(x \mid z) - \mathrm{KL}(q(z) \,\|\, p(z))
                   = \mathbb{E}_q \log p(x, z) + \mathbb{H}[q].

Sources: Gupta & Wang eqs. (7)-(9); UDL (Prince) ch. 17, 'ELBO as reconstruction loss - KL divergence'
(eq. 17.21); Lecture 5 (Isachenko), 'Variational lower bound (ELBO)'.

Model: the linear-Gaussian model (:mod:`derivations.models.linear_gaussian`), :math:`q = \mathcal{N}(m, v)`,
prior :math:`\mathcal{N}(0, 1)`, so :math:`\mathrm{KL}(q \| p(z)) = \tfrac12(m^2 + v - 1 - \log v)` and
:math:`\mathbb{H}[q] = \tfrac12 \log 2\pi e v`.  The main chain proves the reconstruction - KL form; the side
derivation ``energy_entropy`` proves the second form.

Numeric check: the reconstruction term and :math:`\mathbb{E}_q \log p(x, z)` by Monte Carlo (``N_SAMPLES``
draws of q each, fixed seed), the KL and entropy in closed form; both decompositions must match the exact
ELBO within 4 SE.

Wrong twin ``kl_plus``: :math:`\mathcal{L} = \mathbb{E}_q \log p(x \mid z) + \mathrm{KL}(q \| p(z))`.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from derivations.models import linear_gaussian as lg
from derivations.identity import make_identity
from derivations.numeric import within
from derivations.rv import expect_rv, normal_rv
from derivations.steps import Derivation, NumericResult, Step
from derivations.notation import E_LOG_JOINT, ELBO, ENTROPY, KL_PRIOR, RECON

N_SAMPLES = 100_000

NAME = "elbo_decompositions"
TITLE = "ELBO = reconstruction - KL to the prior = energy + entropy"
SOURCE = "Gupta & Wang eqs. (7)-(9); UDL (Prince) ch. 17, eq. 17.21; Lecture 5 (Isachenko), 'Variational lower bound'"
TWINS = {"kl_plus": "ELBO = E_q log p(x|z) + KL(q || p(z))  (KL added, not subtracted)"}


def kl_standard_normal_expr(mm=lg.m, vv=lg.v):
    r"""$\mathrm{KL}(\mathcal{N}(m, v) \| \mathcal{N}(0, 1)) = \tfrac12 (m^2 + v - 1 - \log v)$."""
    return (mm**2 + vv - 1 - sp.log(vv)) / 2


def _build(variant):
    Z = normal_rv("z", lg.m, lg.v)
    sign = 1 if variant == "kl_plus" else -1
    kl = kl_standard_normal_expr()
    recon = expect_rv(lg.log_likelihood_expr(Z))
    steps = [
        # $\mathcal{L} = \mathbb{E}_q[\log p(x, z) - \log q(z)]$
        Step(expect_rv(lg.log_joint_expr(Z) - lg.log_q_expr(Z)), "definition of the ELBO"),
        # $= \mathbb{E}_q \log p(x \mid z) - \mathbb{E}_q[\log q(z) - \log p(z)]$
        Step(recon - expect_rv(lg.log_q_expr(Z) - lg.log_normal(Z, 0, 1)), "log p(x, z) = log p(x|z) + log p(z); linearity"),
        # $= \mathbb{E}_q \log p(x \mid z) - \tfrac12(m^2 + v - 1 - \log v)$
        Step(recon + sign * kl, "closed-form KL(N(m, v) || N(0, 1)) (UDL eq. 17.24, D = 1)"),
    ]
    statement = sp.Eq(ELBO, RECON + sign * KL_PRIOR)
    defs = {ELBO: steps[0].expr, RECON: recon, KL_PRIOR: kl}
    out = {"statement": statement, "definitions": defs, "steps": steps}
    if variant is None:
        out["side"] = [Derivation("energy_entropy", [
            Step(expect_rv(lg.log_joint_expr(Z) - lg.log_q_expr(Z)), "definition of the ELBO"),
            Step(expect_rv(lg.log_joint_expr(Z)) + expect_rv(-lg.log_q_expr(Z)), "linearity of E_q"),
            Step(expect_rv(lg.log_joint_expr(Z)) + sp.log(2 * sp.pi * sp.E * lg.v) / 2, "Gaussian entropy H[q] = log(2 pi e v)/2"),
            Step(lg.elbo_expr(), "Gaussian moments: the closed-form ELBO"),
        ])]
    return out


def _check(seed, variant):
    p = lg.DEFAULT
    rng = np.random.default_rng(seed)
    sign = 1.0 if variant == "kl_plus" else -1.0
    z1 = p["m"] + np.sqrt(p["v"]) * rng.standard_normal(N_SAMPLES)
    z2 = p["m"] + np.sqrt(p["v"]) * rng.standard_normal(N_SAMPLES)
    exact = float(lg.elbo(p["m"], p["v"], p["x"], p["w"], p["b"], p["s"]))
    # $\log p(x \mid z)$ on $z \sim q$
    recon_s = lg.log_normal_np(p["x"], p["w"] * z1 + p["b"], p["s"] ** 2)
    # $\mathrm{KL}(q \| p(z)) = \tfrac12(m^2 + v - 1 - \log v)$
    kl = 0.5 * (p["m"] ** 2 + p["v"] - 1 - np.log(p["v"]))
    est1 = recon_s.mean() + sign * kl
    se1 = recon_s.std(ddof=1) / np.sqrt(N_SAMPLES)
    ok1, tol1 = within(est1, se1, exact)
    # $\log p(x, z)$ on $z \sim q$, plus $\mathbb{H}[q] = \tfrac12 \log 2\pi e v$
    joint_s = lg.log_normal_np(p["x"], p["w"] * z2 + p["b"], p["s"] ** 2) + lg.log_normal_np(z2, 0.0, 1.0)
    est2 = joint_s.mean() + 0.5 * np.log(2 * np.pi * np.e * p["v"])
    se2 = joint_s.std(ddof=1) / np.sqrt(N_SAMPLES)
    ok2, tol2 = within(est2, se2, exact)
    msg = (f"recon {'+' if sign > 0 else '-'} KL = {est1:.4f} ± {se1:.4f} vs ELBO {exact:.4f} (tol {tol1:.4f}, "
           f"{'ok' if ok1 else 'FAIL'}); E log p(x,z) + H = {est2:.4f} ± {se2:.4f} ({'ok' if ok2 else 'FAIL'})")
    return NumericResult(bool(ok1 and ok2), float(est1), float(se1), exact, tol1, msg)


IDENTITY = make_identity(NAME, TITLE, SOURCE, _build, _check, TWINS)

r"""Evidence = ELBO + KL to the posterior (the project's skeleton identity).

.. math::
    \log p(x) = \mathcal{L}(q) + \mathrm{KL}\big(q(z) \,\|\, p(z \mid x)\big),
    \qquad \mathcal{L}(q) = \mathbb{E}_{q} \log \frac{p(x, z)}{q(z)} .

Sources: Lecture 5 (Isachenko), slides 'ELBO derivation 1 (inequality)' and 'ELBO derivation 2 (equality)',
'Variational decomposition'; Gupta & Wang, eqs. (1)-(6); UDL (Prince) ch. 17, ELBO via Jensen.

Model: the linear-Gaussian model of :mod:`derivations.models.linear_gaussian`,
:math:`z \sim \mathcal{N}(0,1)`, :math:`x \mid z \sim \mathcal{N}(wz + b, s^2)`, :math:`q = \mathcal{N}(m, v)`.

Derivations (all checked by :meth:`Identity.prove`):

* **main** -- derivation 2 (equality): Bayes' rule inside :math:`\mathbb{E}_q`, add and subtract
  :math:`\log q`, evaluate the Gaussian expectations;
* **bayes** -- :math:`\log p(x\mid z) + \log p(z) = \log p(x) + \log p(z \mid x)` pointwise, which proves the
  closed-form evidence and posterior;
* **jensen_bound** -- derivation 1 (inequality): :math:`\log p(x) \ge \mathcal{L}(q)` with the gap written as
  :math:`\tfrac12 G(v / v_\star) + (m - m_\star)^2 / 2 v_\star \ge 0`;
* **discrete_K3** -- the same identity for a latent with :math:`K = 3` states, fully symbolic;
* **argmax_m**, **argmax_v**, **stationary_m**, **stationary_v** -- :math:`\partial_{m,v}(\mathcal{L} + \mathrm{KL}) = 0`
  (the evidence does not depend on :math:`q`), so maximizing the ELBO over :math:`q` is minimizing
  :math:`\mathrm{KL}(q \| p(z \mid x))`; the ELBO is stationary at :math:`q = p(z \mid x)`.

Numeric check: :math:`\mathcal{L}` and :math:`\mathrm{KL}` are each estimated by Monte Carlo from independent
samples of :math:`q` (``N_SAMPLES`` each, fixed seed); their sum is compared with the exact
:math:`\log p(x)`, tolerance ``Z_TOL = 4`` standard errors.  The closed forms (lambdified) must also add up
to :math:`\log p(x)` within 1e-9.

Wrong twin ``kl_sign``: :math:`\log p(x) = \mathcal{L} - \mathrm{KL}` -- rejected at the last step of the
chain, and by the same Monte Carlo check (off by :math:`2\,\mathrm{KL} \approx` 3 nats, about 300 SE).
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from derivations.models import linear_gaussian as lg
from derivations.identity import make_identity
from derivations.numeric import within
from derivations.rv import expect_rv, normal_rv
from derivations.steps import Derivation, NumericResult, Step
from derivations.witnesses import GibbsG
from derivations.notation import ELBO, KL_POST, LOG_PX

#: Monte Carlo samples per term.
N_SAMPLES = 40_000

NAME = "elbo_gap"
TITLE = "Evidence = ELBO + KL to the posterior"
SOURCE = ("Lecture 5 (Isachenko), slides 'ELBO derivation 1/2', 'Variational decomposition'; "
          "Gupta & Wang eqs. (1)-(6); UDL (Prince) ch. 17")
TWINS = {"kl_sign": "log p(x) = ELBO - KL(q || p(z|x))  (KL sign flipped)"}


def _discrete_k3() -> list:
    r"""$\log \sum_k \pi_k \ell_k = \sum_k q_k \log(\pi_k \ell_k / q_k) + \sum_k q_k \log(q_k / p(k \mid x))$."""
    a = sp.symbols("a1:4", positive=True)   # prior weights, pi_k = a_k / sum(a)
    l = sp.symbols("ell1:4", positive=True)  # likelihoods p(x | z = k)
    c = sp.symbols("c1:4", positive=True)   # variational weights, q_k = c_k / sum(c)
    pi = [ak / sum(a) for ak in a]
    q = [ck / sum(c) for ck in c]
    # $p(x) = \sum_k \pi_k \ell_k$
    px = sum(pk * lk for pk, lk in zip(pi, l))
    # $p(k \mid x) = \pi_k \ell_k / p(x)$
    post = [pk * lk / px for pk, lk in zip(pi, l)]
    return [
        Step(sp.log(px), "evidence of a K = 3 state latent: log sum_k pi_k p(x|k)"),
        Step(sum(qk * sp.log(pk * lk / pok) for qk, pk, lk, pok in zip(q, pi, l, post)),
             "Bayes: pi_k p(x|k) / p(k|x) = p(x) for every k, and sum_k q_k = 1"),
        Step(sum(qk * sp.log(pk * lk / qk) for qk, pk, lk in zip(q, pi, l))
             + sum(qk * sp.log(qk / pok) for qk, pok in zip(q, post)),
             "multiply and divide by q_k: ELBO + KL(q || p(z|x))"),
    ]


def _build(variant):
    Z = normal_rv("z", lg.m, lg.v)
    log_px = lg.log_evidence_expr()
    elbo = lg.elbo_expr()
    kl = lg.kl_posterior_expr()
    mp, vp = lg.posterior_mean_expr(), lg.posterior_var_expr()
    # the twin's mistake: the KL enters with the wrong sign
    sign = -1 if variant == "kl_sign" else 1
    steps = [
        # $\log p(x) = \log \mathcal{N}(x; b, w^2 + s^2)$
        Step(log_px, "closed-form evidence of the linear-Gaussian model (proved in 'bayes')"),
        # $= \mathbb{E}_q[\log p(x, z) - \log p(z \mid x)]$
        Step(expect_rv(lg.log_joint_expr(Z) - lg.log_posterior_expr(Z)),
             "Bayes: log p(x) = log p(x,z) - log p(z|x) for every z; E_q of a constant"),
        # $= \mathbb{E}_q \log \frac{p(x,z)}{q(z)} + \mathbb{E}_q \log \frac{q(z)}{p(z \mid x)}$
        Step(expect_rv(lg.log_joint_expr(Z) - lg.log_q_expr(Z)) + expect_rv(lg.log_q_expr(Z) - lg.log_posterior_expr(Z)),
             "add and subtract log q(z); linearity of E_q"),
        # $= \mathcal{L}(m, v) \pm \mathrm{KL}(q \| p(z \mid x))$ in closed form
        Step(elbo + sign * kl, "Gaussian moments E z = m, E z^2 = m^2 + v: ELBO + KL(q || p(z|x))"),
    ]
    statement = sp.Eq(LOG_PX, ELBO + sign * KL_POST)
    definitions = {LOG_PX: log_px, ELBO: elbo, KL_POST: kl}
    if variant is not None:
        return {"statement": statement, "definitions": definitions, "steps": steps}
    side = [
        Derivation("bayes", [
            Step(lg.log_likelihood_expr() + lg.log_normal(lg.z, 0, 1), "log p(x|z) + log p(z)"),
            Step(log_px + lg.log_posterior_expr(), "complete the square in z: log p(x) + log p(z|x)"),
        ]),
        Derivation("jensen_bound", [
            Step(log_px, "log p(x) = log E_q[p(x,z)/q(z)]"),
            Step(expect_rv(lg.log_joint_expr(Z) - lg.log_q_expr(Z)),
                 "Jensen (log concave); gap = G(v/v*)/2 + (m - m*)^2/(2 v*) >= 0",
                 rel=">=", witness=GibbsG(lg.v / vp) / 2 + (lg.m - mp) ** 2 / (2 * vp)),
            Step(elbo, "Gaussian moments: the closed-form ELBO"),
        ]),
        Derivation("discrete_K3", _discrete_k3()),
        Derivation("argmax_m", [Step(sp.Derivative(elbo + kl, lg.m), "d/dm (ELBO + KL)"),
                                Step(sp.Integer(0), "ELBO + KL = log p(x) does not depend on q")]),
        Derivation("argmax_v", [Step(sp.Derivative(elbo + kl, lg.v), "d/dv (ELBO + KL)"),
                                Step(sp.Integer(0), "ELBO + KL = log p(x) does not depend on q")]),
        Derivation("stationary_m", [Step(sp.Subs(sp.Derivative(elbo, lg.m), (lg.m, lg.v), (mp, vp)), "dELBO/dm at q = posterior"),
                                    Step(sp.Integer(0), "the ELBO is stationary where KL(q || p(z|x)) = 0")]),
        Derivation("stationary_v", [Step(sp.Subs(sp.Derivative(elbo, lg.v), (lg.m, lg.v), (mp, vp)), "dELBO/dv at q = posterior"),
                                    Step(sp.Integer(0), "the ELBO is stationary where KL(q || p(z|x)) = 0")]),
    ]
    return {"statement": statement, "definitions": definitions, "steps": steps, "side": side}


def monte_carlo_terms(seed: int = 0, n: int = N_SAMPLES, params: dict | None = None) -> dict:
    r"""Monte Carlo estimates of the ELBO and of KL(q || p(z|x)) on the linear-Gaussian model.

    Args:
        seed: NumPy seed.  n: samples per term (independent draws for each term).
        params: ``x, w, b, s, m, v`` (defaults :data:`derivations.models.linear_gaussian.DEFAULT`).
    Returns:
        dict with ``elbo``, ``elbo_se``, ``kl``, ``kl_se`` (MC, nats) and the exact ``elbo_exact``,
        ``kl_exact``, ``log_px``.
    """
    p = dict(lg.DEFAULT, **(params or {}))
    rng = np.random.default_rng(seed)
    mp, vp = lg.posterior(p["x"], p["w"], p["b"], p["s"])

    def log_joint(zz):
        # $\log p(x, z) = \log \mathcal{N}(x; wz + b, s^2) + \log \mathcal{N}(z; 0, 1)$
        return lg.log_normal_np(p["x"], p["w"] * zz + p["b"], p["s"] ** 2) + lg.log_normal_np(zz, 0.0, 1.0)

    # $z \sim q = \mathcal{N}(m, v)$, two independent batches
    z1 = p["m"] + np.sqrt(p["v"]) * rng.standard_normal(n)
    z2 = p["m"] + np.sqrt(p["v"]) * rng.standard_normal(n)
    # $\log \frac{p(x, z)}{q(z)}$
    elbo_s = log_joint(z1) - lg.log_normal_np(z1, p["m"], p["v"])
    # $\log \frac{q(z)}{p(z \mid x)}$
    kl_s = lg.log_normal_np(z2, p["m"], p["v"]) - lg.log_normal_np(z2, mp, vp)
    return {
        "elbo": float(elbo_s.mean()), "elbo_se": float(elbo_s.std(ddof=1) / np.sqrt(n)),
        "kl": float(kl_s.mean()), "kl_se": float(kl_s.std(ddof=1) / np.sqrt(n)),
        "elbo_exact": float(lg.elbo(p["m"], p["v"], p["x"], p["w"], p["b"], p["s"])),
        "kl_exact": float(lg.kl_to_posterior(p["m"], p["v"], p["x"], p["w"], p["b"], p["s"])),
        "log_px": float(lg.log_evidence(p["x"], p["w"], p["b"], p["s"])),
    }


def _check(seed, variant):
    sign = -1.0 if variant == "kl_sign" else 1.0
    t = monte_carlo_terms(seed)
    # $\widehat{\mathcal{L}} \pm \widehat{\mathrm{KL}}$ against $\log p(x)$
    est = t["elbo"] + sign * t["kl"]
    se = float(np.hypot(t["elbo_se"], t["kl_se"]))
    ok, tol = within(est, se, t["log_px"])
    closed = t["elbo_exact"] + sign * t["kl_exact"]
    ok_closed, _ = within(closed, 0.0, t["log_px"])
    msg = (f"MC ELBO {'+' if sign > 0 else '-'} KL = {est:.4f} ± {se:.4f} vs log p(x) = {t['log_px']:.4f} "
           f"(tol {tol:.4f}); closed forms give {closed:.6f} ({'ok' if ok_closed else 'MISMATCH'})")
    return NumericResult(ok and ok_closed, est, se, t["log_px"], tol, msg)


IDENTITY = make_identity(NAME, TITLE, SOURCE, _build, _check, TWINS)

r"""EM: the E-step makes the bound tight, so EM never decreases the likelihood.

.. math::
    \log p(x \mid \theta') \;\ge\; \mathcal{L}(q^*, \theta') \;\ge\; \mathcal{L}(q^*, \theta) \;=\; \log p(x \mid \theta),
    \qquad q^*(z) = p(z \mid x, \theta),\ \ \theta' = \arg\max_{\vartheta} \mathcal{L}(q^*, \vartheta),

with :math:`\mathcal{L}(q, \theta) = \mathbb{E}_{q(z)}[\log p(x, z \mid \theta) - \log q(z)]`.

Sources: Isachenko, *Deep Generative Models*, Lecture 5, 'EM-algorithm' (E-step
:math:`q^* = \arg\min_q \mathrm{KL}(q \| p(z \mid x, \theta^*))`, M-step) and 'Variational decomposition';
Prince, *Understanding Deep Learning* (2023), §17.4 and fig. 17.6.

General proof (main chain): for every model :math:`p(x, z \mid \theta) = p(z \mid x, \theta)\, p(x \mid \theta)`
(undefined positive densities; :math:`z` discrete or continuous) and every pair of parameters: the
log-evidence at the new :math:`\theta'` is the ELBO plus the KL to the new posterior (checked by the rules of
:mod:`derivations.operator_rules`), the KL is non-negative (Gibbs witness), the M-step's gain
:math:`\Delta_M = \mathcal{L}(q^*, \theta') - \mathcal{L}(q^*, \theta) \ge 0` is the definition of the M-step (a
hypothesis), and after the E-step the bound is tight.  Lemma ``tight``: :math:`\mathcal{L}(q^*, \theta) = \log
p(x \mid \theta)`.  Worked instances: ``instance_mixture`` (a latent with :math:`K = 3` states, prior
:math:`\pi_k = a_k / \sum_j a_j`, likelihoods :math:`\ell_k`) and ``linear_gaussian`` (the closed-form ELBO at
:math:`q = p(z \mid x)` of :mod:`derivations.models.linear_gaussian`).

Numeric check: EM on a 1-D Gaussian mixture (3 components, ``N_POINTS`` points) from ``N_SEEDS`` random
initializations (seeds ``seed .. seed + N_SEEDS - 1``), ``N_ITERS`` iterations each.  After every E-step the
ELBO equals the log-likelihood (|gap| <= 1e-9 per point, floating point), and the log-likelihood never
decreases (each increment >= -1e-9 per point).  The mixture's components integrate to one.

Wrong twins (real mistakes): ``prior_estep`` (the E-step sets :math:`q = p(z)`, the prior), ``unnormalized_estep``
(responsibilities :math:`\pi_k \ell_k` not divided by :math:`p(x)`), ``likelihood_only_estep`` (responsibilities
:math:`\propto \ell_k`, the mixing weights forgotten).  Each leaves a gap after the E-step.
"""
from __future__ import annotations

import numpy as np
import sympy as sp
from scipy.special import logsumexp
from scipy.stats import norm

from derivations.expectation import Expect, density
from derivations.models import linear_gaussian
from derivations.numeric import integrates_to_one
from derivations.operator_rules import RawSymbol, make_rule_identity
from derivations.steps import Derivation, NumericResult, Step
from derivations.witnesses import GibbsFunction

N_POINTS = 300
N_SEEDS = 20
N_ITERS = 30
ATOL_PER_POINT = 1e-9

NAME = "em"
TITLE = (r"EM: the E-step makes the bound tight, so the likelihood never decreases, "
         r"$\log p(x \mid \theta') \ge \log p(x \mid \theta)$")
SOURCE = ("Isachenko, Deep Generative Models, Lecture 5, 'EM-algorithm', 'Variational decomposition'; "
          "Prince, Understanding Deep Learning (2023), section 17.4, fig. 17.6")
TWINS = {
    "prior_estep": (r"the E-step sets $q^*(z) = p(z \mid \theta)$, the prior instead of the posterior, and claims "
                    r"the bound is tight"),
    "unnormalized_estep": r"the E-step's responsibilities $\pi_k \ell_k$ not divided by $p(x)$",
    "likelihood_only_estep": (r"the E-step's responsibilities proportional to $\ell_k$: the mixing weights "
                              r"$\pi_k$ forgotten"),
}
#: what the E-step's $q^*$ is, for the theorem box (each twin's mistaken E-step)
Q_STAR = {
    None: r"the E-step's choice, the posterior $q^*(z) = p(z \mid x, \theta)$",
    "prior_estep": r"the twin's E-step: the prior, $q^*(z) = p(z \mid \theta)$",
    "unnormalized_estep": r"the twin's E-step: $q^*(z) = p(x, z \mid \theta)$, not divided by $p(x \mid \theta)$",
    "likelihood_only_estep": (r"the twin's E-step: $q^*(z) = p(x \mid z, \theta) / C(x, \theta)$, the likelihood "
                              r"normalized over $z$, without the prior"),
}
SCOPE = (r"for every model $p(x, z \mid \theta)$ (densities; $z$ discrete or continuous) and every $\theta$, with "
         r"$q^* = p(z \mid x, \theta)$ and an M-step that does not decrease $\mathcal{L}(q^*, \cdot)$; the instances "
         r"below repeat the tightness step on a 3-state mixture and on the linear-Gaussian model")
MODEL = (r"Worked instances: (i) a latent $z \in \{1, 2, 3\}$ with prior $\pi_k = a_k / (a_1 + a_2 + a_3)$, $a_k > 0$, "
         r"and likelihoods $\ell_k = p(x \mid z = k) > 0$; (ii) $z \sim \mathcal{N}(0, 1)$, "
         r"$x \mid z \sim \mathcal{N}(wz + b, s^2)$, $q = \mathcal{N}(m, v)$.")

LOG_PX_NEW = sp.Symbol(r"\log p(x \mid \theta')", real=True)
LOG_PX_OLD = sp.Symbol(r"\log p(x \mid \theta)", real=True)

z = sp.Symbol("z", real=True)
x = sp.Symbol("x", real=True)
theta = sp.Symbol("theta", real=True)
theta_new = sp.Symbol(r"\theta'", real=True)
post = density("p_post", 1, symbol="p")          # p(z | x, theta)
prior = density("p_prior", 1, symbol="p")        # p(z | theta)
lik = density("p_lik", 1, symbol="p")            # p(x | z, theta), a density of x
evidence = density("p_ev", 1, symbol="p")        # p(x | theta), a density of x
joint = sp.Function("p_joint", positive=True)   # p(x, z | theta)
norm_c = sp.Function("C", positive=True)        # a normalizing constant of the twins' responsibilities
DELTA_M = sp.Symbol(r"\Delta_M", nonnegative=True)
L_NEW = RawSymbol(r"\mathcal{L}(q^*, \theta')", real=True)
L_OLD = RawSymbol(r"\mathcal{L}(q^*, \theta)", real=True)
KL_NEW = RawSymbol(r"\mathrm{KL}(q^* \| p(z \mid x, \theta'))", real=True)


_L_NEW_TEX = r"\mathcal{L}(q^*, \theta')"
_L_OLD_TEX = r"\mathcal{L}(q^*, \theta)"
_KL_NEW_TEX = r"\mathrm{KL}\left(q^*(z) \,\|\, p(z \mid x, \theta')\right)"
#: the quantities the lines write by name (each defined among the identity's rules)
NAMES = {r"p(x \mid \theta')": evidence(x, theta_new), r"p(x \mid \theta)": evidence(x, theta),
         _L_NEW_TEX: L_NEW, _L_OLD_TEX: L_OLD, _KL_NEW_TEX: KL_NEW, r"\Delta_M": DELTA_M}


def _elbo(qd, th):
    r"""$\mathcal{L}(q, \theta) = \mathbb{E}_q[\log p(x, z \mid \theta) - \log q(z)]$."""
    return Expect(sp.log(joint(x, z, th) / qd), z, qd)


def _estep_q(mistake, th):
    """The E-step's q(z) (the twins' mistaken ones included)."""
    if mistake == "prior_estep":
        return prior(z, th)
    if mistake == "unnormalized_estep":
        return joint(x, z, th)
    if mistake == "likelihood_only_estep":
        return lik(x, z, th) / norm_c(x, th)
    return post(z, x, th)


def _general(mistake):
    qs = _estep_q(mistake, theta)
    L_new, L_old = _elbo(qs, theta_new), _elbo(qs, theta)
    rules = {joint(x, z, theta): post(z, x, theta) * evidence(x, theta),
             joint(x, z, theta_new): post(z, x, theta_new) * evidence(x, theta_new),
             DELTA_M: L_new - L_old, L_NEW: L_new, L_OLD: L_old,
             KL_NEW: Expect(sp.log(qs / post(z, x, theta_new)), z, qs)}
    steps = [
        Step(sp.log(evidence(x, theta_new)), r"The log-evidence at the M-step's new parameter $\theta'$.",
             tex=r"\log p(x \mid \theta')"),
        Step(L_new + Expect(sp.log(qs / post(z, x, theta_new)), z, qs),
             r"The variational decomposition $\log p(x \mid \theta') = \mathcal{L}(q^*, \theta') + "
             r"\mathrm{KL}(q^* \| p(z \mid x, \theta'))$, from Bayes' rule $p(x, z) = p(z \mid x)\, p(x)$ and "
             r"$\mathbb{E}_{q^*} 1 = 1$ (Isachenko, Deep Generative Models, Lecture 5, 'Variational decomposition').",
             display=L_NEW + KL_NEW, tex=_L_NEW_TEX + " + " + _KL_NEW_TEX),
        Step(L_new, r"Gibbs: the KL is an expectation of $G(t) = t - 1 - \log t \ge 0$ at "
                    r"$t = p(z \mid x, \theta') / q^*(z)$.", rel=">=",
             witness=Expect(GibbsFunction(post(z, x, theta_new) / qs), z, qs), display=L_NEW, tex=_L_NEW_TEX),
        Step(L_old, r"The M-step maximizes $\mathcal{L}(q^*, \cdot)$, so its gain $\Delta_M \ge 0$.", rel=">=",
             witness=DELTA_M, display=L_OLD, tex=_L_OLD_TEX,
             given=r"the M-step's gain $\Delta_M = \mathcal{L}(q^*, \theta') - \mathcal{L}(q^*, \theta) \ge 0$ "
                   r"($\theta'$ maximizes $\mathcal{L}(q^*, \cdot)$; no rule can check an optimization)"),
        Step(sp.log(evidence(x, theta)), r"The E-step made the bound tight: $q^* = p(z \mid x, \theta)$ gives "
                                         r"$\log \frac{p(x, z \mid \theta)}{q^*(z)} = \log p(x \mid \theta)$ for every $z$.",
             tex=r"\log p(x \mid \theta)"),
    ]
    tight = Derivation("tight", [
        Step(L_old, r"The ELBO at the E-step's $q^*$.", display=L_OLD, tex=_L_OLD_TEX),
        Step(sp.log(evidence(x, theta)), r"Bayes: $p(x, z \mid \theta) / p(z \mid x, \theta) = p(x \mid \theta)$, and "
                                         r"$\mathbb{E}_{q^*} 1 = 1$.", tex=r"\log p(x \mid \theta)"),
    ], r"After the E-step the bound is tight", "lemma")
    return steps, tight, rules


#: the symbols this identity introduces beyond the notation page
SYMBOLS = {
    r"\theta, \theta'": r"the model's parameter before and after one EM iteration",
    r"p(x \mid \theta)": r"the evidence of the model at the parameter $\theta$",
    r"\mathcal{L}(q, \theta)": r"the ELBO of $q$ at $\theta$, $\mathbb{E}_{q(z)}\left[\log \frac{p(x, z \mid \theta)}"
                                r"{q(z)}\right]$",
    r"\Delta_M": r"the M-step's gain, $\mathcal{L}(q^*, \theta') - \mathcal{L}(q^*, \theta) \ge 0$",
    r"K": r"the number of states of the instance's discrete latent ($K = 3$)",
    r"\pi_k, a_k": r"the instance's prior $\pi_k = a_k / (a_1 + a_2 + a_3)$, $a_k > 0$",
    r"\ell_k": r"the instance's likelihood of $x$ given state $k$, $\ell_k = p(x \mid z = k) > 0$",
    r"q^*_k": r"the E-step's probability of state $k$ on the instance",
    r"w, b, s, m, v": r"the linear-Gaussian model's weight, offset and noise; $q = \mathcal{N}(m, v)$",
}

PI = sp.symbols("pi1:4", positive=True)          # display symbols of the 3-state instance
QS = sp.symbols("q^*_1:4", positive=True)
ELL = sp.symbols("ell1:4", positive=True)
PX_INST = sp.Symbol("p(x)", positive=True)


def _instance_mixture(mistake):
    """The tightness step on K = 3 states; display symbols pi_k, q*_k, p(x) with their definitions as rules."""
    a = sp.symbols("a1:4", positive=True)
    pi = [ak / sum(a) for ak in a]
    px = sum(pk * lk for pk, lk in zip(pi, ELL))
    if mistake == "prior_estep":
        qk = pi
    elif mistake == "unnormalized_estep":
        qk = [pk * lk for pk, lk in zip(pi, ELL)]
    elif mistake == "likelihood_only_estep":
        qk = [lk / sum(ELL) for lk in ELL]
    else:
        qk = [pk * lk / px for pk, lk in zip(pi, ELL)]
    rules = {**dict(zip(PI, pi)), **dict(zip(QS, qk)), PX_INST: px}
    der = Derivation("instance_mixture", [
        Step(sum(q_ * sp.log(pk * lk / q_) for q_, pk, lk in zip(QS, PI, ELL)),
             r"The ELBO of the E-step's $q^*_k = \pi_k \ell_k / p(x)$ on the 3-state instance, "
             r"$\sum_k q^*_k \log \frac{\pi_k \ell_k}{q^*_k}$.",
             tex=" + ".join(rf"q^*_{k} \log \frac{{\pi_{k} \ell_{k}}}{{q^*_{k}}}" for k in (1, 2, 3))),
        Step(sum(q_ * sp.log(PX_INST) for q_ in QS), r"Bayes: $\pi_k \ell_k / q^*_k = p(x) = \sum_j \pi_j \ell_j$ "
                                                     r"for every $k$.",
             tex=r"\left(q^*_1 + q^*_2 + q^*_3\right) \log p(x)"),
        Step(sp.log(PX_INST), r"$\sum_k q^*_k = 1$.", tex=r"\log p(x)"),
    ], r"Worked instance: a latent with $K = 3$ states", "instance",
        names={**{rf"q^*_{k + 1}": QS[k] for k in range(3)}, **{rf"\pi_{k + 1}": PI[k] for k in range(3)},
               **{rf"\ell_{k + 1}": ELL[k] for k in range(3)}, r"p(x)": PX_INST})
    return der, rules


def _build(mistake):
    steps, tight, rules = _general(mistake)
    mixture, inst_rules = _instance_mixture(mistake)
    rules = {**rules, **inst_rules}
    side = [tight, mixture]
    if mistake is None:
        mp, vp = linear_gaussian.posterior_mean_expr(), linear_gaussian.posterior_var_expr()
        side.append(Derivation("linear_gaussian", [
            Step(linear_gaussian.elbo_expr(mp, vp), r"The closed-form ELBO at $q = p(z \mid x) = \mathcal{N}(m_\star, v_\star)$.",
                 tex=r"\mathcal{L}(m_{\star}, v_{\star})"),
            Step(linear_gaussian.log_evidence_expr(), r"Equals the closed-form log-evidence: $\mathrm{KL}(q^* \| p(z \mid x)) = 0$.",
                 tex=r"\log \mathcal{N}(x; b, w^2 + s^2)"),
        ], r"Worked instance: the linear-Gaussian model", "instance",
            names={r"\mathcal{L}(m_{\star}, v_{\star})": linear_gaussian.elbo_expr(mp, vp)}))
    return {"statement": sp.GreaterThan(LOG_PX_NEW, LOG_PX_OLD),
            "definitions": {LOG_PX_NEW: steps[0].expr, LOG_PX_OLD: steps[-1].expr, **rules},
            "steps": steps, "kind": "general", "title": r"General proof: every model $p(x, z \mid \theta)$",
            "hypotheses": [r"q^* = p(z \mid x, \theta)", r"\mathcal{L}(q^*, \theta') \ge \mathcal{L}(q^*, \theta)"],
            "scope": SCOPE, "model": MODEL, "side": side,
            "statement_tex": r"\log p(x \mid \theta') \ge \log p(x \mid \theta)", "names": NAMES,
            "symbols": {**SYMBOLS, r"q^*(z)": Q_STAR[mistake]}}


def run_em(data, k: int = 3, n_iters: int = N_ITERS, seed: int = 0, estep: str = "posterior") -> dict:
    r"""EM for a 1-D Gaussian mixture; records the log-likelihood and the ELBO after each E-step.

    Args:
        data: ``(N,)`` array.  k: components.  seed: initialization seed.
        estep: ``"posterior"`` (correct); the wrong twins' ``"prior"`` (responsibilities = mixing weights),
            ``"unnormalized"`` ($\pi_k \ell_k$ not divided by $p(x_n)$), ``"likelihood_only"`` ($\propto \ell_k$).
    Raises:
        ValueError: for an unknown ``estep``.
    Returns:
        dict ``loglik`` and ``elbo_after_estep``: arrays ``(n_iters,)`` in nats (sums over points);
        ``params``: final ``(pi, mean, var)``.
    """
    if estep not in ("posterior", "prior", "unnormalized", "likelihood_only"):
        raise ValueError(f"unknown estep {estep!r}")
    rng = np.random.default_rng(seed)
    n = len(data)
    pi = np.full(k, 1.0 / k)
    mean = rng.choice(data, k, replace=False)
    var = np.full(k, data.var())
    lls, elbos = [], []
    for _ in range(n_iters):
        # $\log \pi_k \mathcal{N}(x_n; \mu_k, \sigma_k^2)$, shape (N, K)
        logj = np.log(pi) + norm.logpdf(data[:, None], loc=mean, scale=np.sqrt(var))
        # $\log p(x_n \mid \theta) = \log \sum_k \pi_k \mathcal{N}(x_n; \mu_k, \sigma_k^2)$
        logpx = logsumexp(logj, axis=1)
        lls.append(logpx.sum())
        # E-step: $q_{nk} = p(k \mid x_n, \theta)$ (the twins' mistakes otherwise)
        if estep == "posterior":
            r = np.exp(logj - logpx[:, None])
        elif estep == "prior":
            r = np.broadcast_to(pi, (n, k)).copy()
        elif estep == "unnormalized":
            r = np.exp(logj)
        else:
            loglik = logj - np.log(pi)
            r = np.exp(loglik - logsumexp(loglik, axis=1, keepdims=True))
        # $\mathcal{L}(q, \theta) = \sum_{n,k} q_{nk} (\log \pi_k \mathcal{N}(x_n) - \log q_{nk})$
        elbos.append(float((r * (logj - np.log(np.clip(r, 1e-300, None)))).sum()))
        # M-step: maximize $\mathcal{L}(q, \theta)$ over $\theta$
        nk = r.sum(0) + 1e-12
        pi = nk / n
        mean = (r * data[:, None]).sum(0) / nk
        var = np.maximum((r * (data[:, None] - mean) ** 2).sum(0) / nk, 1e-6)
    return {"loglik": np.array(lls), "elbo_after_estep": np.array(elbos), "params": (pi, mean, var)}


def mixture_data(seed: int = 0, n: int = N_POINTS) -> np.ndarray:
    """``(n,)`` points from the 3-component mixture 0.3 N(-2, 0.5^2) + 0.5 N(1, 1) + 0.2 N(4, 0.7^2)."""
    rng = np.random.default_rng(10_000 + seed)
    comp = rng.choice(3, n, p=[0.3, 0.5, 0.2])
    return np.array([-2.0, 1.0, 4.0])[comp] + np.array([0.5, 1.0, 0.7])[comp] * rng.standard_normal(n)


def _check(seed, mistake):
    data = mixture_data(seed)
    estep = {"prior_estep": "prior", "unnormalized_estep": "unnormalized",
             "likelihood_only_estep": "likelihood_only"}.get(mistake, "posterior")
    worst_gap, worst_drop = 0.0, np.inf
    for s in range(seed, seed + N_SEEDS):
        out = run_em(data, seed=s, estep=estep)
        # tightness: $\mathcal{L}(q, \theta) - \log p(x \mid \theta)$ after the E-step
        gap = np.abs(out["elbo_after_estep"] - out["loglik"]).max()
        worst_gap = max(worst_gap, float(gap))
        worst_drop = min(worst_drop, float(np.diff(out["loglik"]).min()))
        if worst_gap > ATOL_PER_POINT * N_POINTS or worst_drop < -ATOL_PER_POINT * N_POINTS:
            break  # the verdict is decided: not tight or not monotone
    # the mixture's densities integrate to one (the true components, scipy quad)
    ok_norm = all(integrates_to_one(lambda u, m=m, sd=sd: norm.pdf(u, m, sd))[0]
                  for m, sd in zip((-2.0, 1.0, 4.0), (0.5, 1.0, 0.7)))
    tol = ATOL_PER_POINT * N_POINTS
    ok_tight = worst_gap <= tol
    ok_mono = worst_drop >= -tol
    msg = (f"max |ELBO(q) - log p(x|theta)| after E-steps = {worst_gap:.3g} nats (tol {tol:.1g}, "
           f"{'ok' if ok_tight else 'NOT TIGHT'}); min log-likelihood increment = {worst_drop:.3g} "
           f"({'never decreases' if ok_mono else 'DECREASED'}) over {N_SEEDS} seeds x {N_ITERS} iterations; "
           f"components integrate to one ({'ok' if ok_norm else 'FAIL'})")
    return NumericResult(bool(ok_tight and ok_mono and ok_norm), worst_gap, 0.0, 0.0, tol, msg)


IDENTITY = make_rule_identity(NAME, TITLE, SOURCE, _build, _check, TWINS)

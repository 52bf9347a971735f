r"""ELBO surgery: the average KL to the prior = marginal KL + index-code mutual information.

.. math::
    \frac1N \sum_{n=1}^N \mathrm{KL}\big(q(z \mid x_n) \,\|\, p(z)\big)
      = \mathrm{KL}\big(q_{\mathrm{agg}}(z) \,\|\, p(z)\big) + \mathbb{I}_q[n, z],
    \qquad q_{\mathrm{agg}}(z) = \frac1N \sum_n q(z \mid x_n),

.. math::
    \mathbb{I}_q[n, z] = \frac1N \sum_n \mathrm{KL}(q(z \mid x_n) \| q_{\mathrm{agg}})
      = \log N - \mathbb{E}_{q_{\mathrm{agg}}(z)} \mathbb{H}[q(n \mid z)], \qquad 0 \le \mathbb{I}_q \le \log N,

so :math:`\text{ELBO} = \text{reconstruction} - \mathbb{I}_q[n, z] - \mathrm{KL}(q_{\mathrm{agg}} \| p)`, and the
marginal KL vanishes iff :math:`p = q_{\mathrm{agg}}`.

Sources: Hoffman & Johnson, *ELBO surgery: yet another way to carve up the variational evidence lower bound*,
NIPS 2016 Workshop on Advances in Approximate Bayesian Inference (poster: eqs. (2), (17), (18), Table 1);
Isachenko, *Deep Generative Models*, Lecture 5, 'ELBO surgery' (theorem, proof, 'ELBO revisiting',
'Optimal VAE prior').

General proof (main chain, ``kind="general"``): for every :math:`N \ge 1`, every encoder :math:`q(z \mid x_n)`
and prior :math:`p(z)` (undefined positive densities; :math:`z` discrete or continuous: the integral is a sum
for a discrete :math:`z`), a sum over a symbolic :math:`N` with an ``IndexedBase``.  The links are checked by
the rules of :mod:`derivations.operator_rules` (linearity, normalization, pointwise algebra).  Lemmas
(general): ``mi_nonneg`` (witness :math:`\frac1N \sum_n \mathbb{E}_{q_n} G(q_{\mathrm{agg}}/q_n)`),
``mi_le_log_n`` (witness :math:`\frac1N\sum_n \mathbb{E}_{q_n} \log(1 + r_n/q_n)` with
:math:`r_n = N q_{\mathrm{agg}} - q_n = \sum_{m \ne n} q_m \ge 0`), ``marginal_kl_nonneg``, ``elbo_split``.
Worked instance (``kind="instance"``): the same chain on a discrete latent with :math:`K = 2` states and
:math:`N = 2` observations, every probability a ratio of positive symbols.

Numeric check (quadrature, no randomness in the Gaussian part): four 2-D Gaussian encoders, the oracle
:func:`derivations.models.surgery_oracles.gaussian_surgery_terms`: ``avg_kl`` (closed form) equals
``marginal_kl + index_code_mi`` within ``QUAD_TOL``, the two MI formulas agree, and :math:`0 \le \mathbb{I} \le
\log N`; the encoder and prior densities on the grid integrate to one; plus a random discrete model
(``seed``) through :func:`derivations.models.surgery_oracles.discrete_surgery_terms` to 1e-12.

Wrong twins (real mistakes): ``log_n_minus_1`` (:math:`\mathbb{I} \le \log N - 1`), ``kl_direction``
(the decomposition with :math:`\mathrm{KL}(p \| q_n)`, the reverse direction), ``no_mi`` (the average KL
taken for the marginal KL, "the KL term matches the aggregate posterior to the prior").
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from derivations.expectation import Expect, density
from derivations.models import surgery_oracles as surgery
from derivations.notation import AVG_KL, INDEX_CODE_MI, LOG_N, MARGINAL_KL
from derivations.numeric import integrates_to_one
from derivations.operator_rules import make_rule_identity
from derivations.steps import Derivation, NumericResult, Step
from derivations.witnesses import GibbsFunction

QUAD_TOL = 1e-6
N_OBS, K_STATES = 2, 2

NAME = "elbo_surgery"
TITLE = "ELBO surgery: the average KL to the prior is the marginal KL plus the index-code mutual information"
SOURCE = ("Hoffman & Johnson, 'ELBO surgery: yet another way to carve up the variational evidence lower bound', "
          "NIPS 2016 AABI workshop (eqs. 2, 17, 18; Table 1); Isachenko, Deep Generative Models, Lecture 5, "
          "'ELBO surgery', 'Optimal VAE prior'")
TWINS = {
    "log_n_minus_1": r"a bound too tight by one nat: $\mathbb{I}_q[n, z] \le \log N - 1$",
    "kl_direction": (r"the KL in the reverse direction: $\frac{1}{N} \sum_{n=1}^{N} \mathrm{KL}\left(p(z) \,\|\, "
                     r"q(z \mid x_n)\right) = \mathrm{KL}\left(p(z) \,\|\, q_{\mathrm{agg}}(z)\right) + "
                     r"\mathbb{I}_q[n, z]$"),
    "no_mi": (r"the index-code mutual information forgotten: the average KL to the prior taken for "
              r"$\mathrm{KL}\left(q_{\mathrm{agg}}(z) \,\|\, p(z)\right)$"),
}

SCOPE = (r"for every $N \ge 1$, every encoder $q(z \mid x_n)$ and every prior $p(z)$ (densities; $z$ discrete "
         r"or continuous), with $q_{\mathrm{agg}} = \frac1N \sum_n q(z \mid x_n)$; the instance below repeats "
         r"the chain with $N = K = 2$")
MODEL = (r"Worked instance: a discrete latent $z \in \{1, 2\}$ and $N = 2$ observations; the encoder's rows "
         r"$q_{nk} = q(z = k \mid x_n) = c_{nk} / (c_{n1} + c_{n2})$, the prior $p_k = p(z = k) = a_k / (a_1 + a_2)$, "
         r"all $c_{nk}, a_k > 0$, and $\bar q_k = q_{\mathrm{agg}}(k) = \frac12 (q_{1k} + q_{2k})$.")

# the encoder means and log-variances of the numeric check: well separated, so I is close to log N
MU = np.array([[-2.0, 0.5], [1.5, 1.5], [0.5, -2.0], [2.0, -0.5]])
LOGVAR = 2 * np.log(np.array([[0.3, 0.2], [0.25, 0.4], [0.3, 0.3], [0.2, 0.35]]))

#: the symbols this identity introduces beyond the notation page (the theorem box lists them first)
SYMBOLS = {
    r"x_n": r"the $n$-th of the $N$ data points, $n = 1, \dots, N$",
    r"\mathbb{I}_q[n, z]": (r"the index-code mutual information: the mutual information of the index $n$ "
                            r"(uniform on $1, \dots, N$) and the code $z \sim q(z \mid x_n)$"),
    r"R_n": r"the reconstruction term of the $n$-th data point, $\mathbb{E}_{q(z \mid x_n)}\left[\log p(x_n \mid z)\right]$",
    r"r_n(z)": r"the other encoders' sum, $\sum_{m \ne n} q(z \mid x_m) = N q_{\mathrm{agg}}(z) - q(z \mid x_n)$",
    r"K": r"in the instance, the number of states of the discrete latent $z \in \{1, \dots, K\}$",
    r"q_{nk}": r"in the instance, the encoder's probability $q(z = k \mid x_n) = c_{nk} / (c_{n1} + c_{n2})$",
    r"p_k": r"in the instance, the prior's probability $p(z = k) = a_k / (a_1 + a_2)$",
    r"\bar{q}_k": r"in the instance, the aggregated posterior $q_{\mathrm{agg}}(k) = \frac{1}{2}(q_{1k} + q_{2k})$",
    r"r_{nk}": r"in the instance, the posterior of the index, $q(n \mid z = k) = q_{nk} / (2 \bar{q}_k)$",
    r"c_{nk}": r"in the instance, positive numbers: the encoder's unnormalized probabilities",
    r"a_k": r"in the instance, positive numbers: the prior's unnormalized probabilities",
}

# ---------------------------------------------------------------------------------------------------------
# General symbols: densities as undefined functions, a symbolic N
# ---------------------------------------------------------------------------------------------------------
z = sp.Symbol("z", real=True)
N = sp.Symbol("N", integer=True, positive=True)
n = sp.Symbol("n", integer=True, positive=True)
m = sp.Symbol("m", integer=True, positive=True)
x = sp.IndexedBase("x", real=True)  # the data points x_n
q = density("q", 1)
p = density("p", 1)
q_agg = density("q_agg", 1, symbol=r"q_{\mathrm{agg}}")
r = sp.Function("r", nonnegative=True)  # r(z, n) = N q_agg(z) - q(z | x_n), the other N - 1 encoders


class KL(sp.Function):
    r"""Display form :math:`\mathrm{KL}(q \| p)` of two densities (defined, per chain, as the expectation)."""

    nargs = 2

    def _latex(self, printer):
        a, b = (printer._print(t) for t in self.args)
        return r"\mathrm{KL}\left(%s \,\middle\|\, %s\right)" % (a, b)


# the lines as written: helpers for the LaTeX of the chains
_AVG = r"\frac{1}{N} \sum_{n=1}^{N} "
_QN, _PZ, _QA = r"q(z \mid x_n)", r"p(z)", r"q_{\mathrm{agg}}(z)"


def _kl(a: str, b: str) -> str:
    return rf"\mathrm{{KL}}\left({a} \,\|\, {b}\right)"


def _e(dens: str, body: str) -> str:
    return rf"\mathbb{{E}}_{{{dens}}}\left[{body}\right]"


def _log(a: str, b: str) -> str:
    return rf"\log \frac{{{a}}}{{{b}}}"


def _general(mistake):
    qn, pz, qa = q(z, x[n]), p(z), q_agg(z)
    rev = mistake == "kl_direction"
    avg_t = _AVG + (_kl(_PZ, _QN) if rev else _kl(_QN, _PZ))
    marg_t = _e(_PZ, _log(_PZ, _QA)) if rev else _e(_QA, _log(_QA, _PZ))
    marg_kl_t = _kl(_PZ, _QA) if rev else _kl(_QA, _PZ)
    mi_e_t = _AVG + _e(_QN, _log(_QN, _QA))
    mi_t = _AVG + _kl(_QN, _QA)
    # the definition of the aggregated posterior, used as a rewrite rule in every link
    rules = {qa: sp.Sum(q(z, x[m]), (m, 1, N)) / N, r(z, n): sp.Sum(q(z, x[m]), (m, 1, N)) - qn}
    S = lambda f: sp.Sum(f, (n, 1, N)) / N  # noqa: E731  $\frac1N \sum_{n=1}^N$
    En = lambda f: Expect(f, z, qn)  # noqa: E731  $\mathbb{E}_{q(z \mid x_n)}$
    avg_kl = S(En(sp.log(qn / pz)))
    marginal = Expect(sp.log(qa / pz), z, qa)
    mi = S(En(sp.log(qn / qa)))
    if mistake == "kl_direction":
        avg_kl = S(Expect(sp.log(pz / qn), z, pz))
        marginal = Expect(sp.log(pz / qa), z, pz)
    steps = [
        Step(avg_kl, r"The average KL to the prior; each KL is an expectation under its encoder, "
                     r"$\mathrm{KL}(q(z \mid x_n) \| p) = \mathbb{E}_{q(z \mid x_n)} \log \frac{q(z \mid x_n)}{p(z)}$.",
             tex=avg_t),
        Step(S(En(sp.log(qa / pz) + sp.log(qn / qa))),
             r"Multiply and divide by $q_{\mathrm{agg}}(z)$ inside the logarithm: "
             r"$\log \frac{q_n}{p} = \log \frac{q_{\mathrm{agg}}}{p} + \log \frac{q_n}{q_{\mathrm{agg}}}$ "
             r"(Isachenko, Lecture 5, 'ELBO surgery', proof).",
             tex=_AVG + _e(_QN, _log(_QA, _PZ) + " + " + _log(_QN, _QA))),
        Step(S(En(sp.log(qa / pz))) + mi,
             r"Linearity of $\mathbb{E}_{q(z \mid x_n)}$ and of the finite sum over $n$.",
             tex=_AVG + _e(_QN, _log(_QA, _PZ)) + " + " + mi_e_t),
        Step(marginal + mi,
             r"$\frac1N \sum_n q(z \mid x_n) = q_{\mathrm{agg}}(z)$: averaging the encoders' expectations "
             r"is the expectation under $q_{\mathrm{agg}}$ (Hoffman & Johnson 2016, eq. 2).",
             tex=marg_t + " + " + mi_e_t),
    ]
    # the lecturer's last line: KL notation, each KL defined (a rule) as the expectation it abbreviates
    rules.update({KL(qn, pz): En(sp.log(qn / pz)), KL(qa, pz): marginal, KL(qn, qa): En(sp.log(qn / qa))})
    steps[0] = Step(steps[0].expr, steps[0].why, tex=steps[0].tex)
    steps.append(Step(KL(qa, pz) + S(KL(qn, qa)),
                      r"In KL notation: the marginal KL plus the average KL of each encoder to $q_{\mathrm{agg}}$, "
                      r"which is the index-code mutual information $\mathbb{I}_q[n, z]$ (Hoffman & Johnson 2016, "
                      r"eq. 17; Isachenko, Lecture 5, 'ELBO surgery').", tex=marg_kl_t + " + " + mi_t))
    if mistake == "no_mi":
        steps[-2:] = [Step(marginal, r"The KL term of the ELBO is the KL of the aggregate posterior to the prior.",
                           tex=marg_t)]
    lemmas = [
        Derivation("mi_nonneg", [
            Step(mi, r"$\mathbb{I}_q[n, z] = \frac1N \sum_n \mathrm{KL}(q(z \mid x_n) \| q_{\mathrm{agg}})$.",
                 tex=mi_t),
            Step(sp.Integer(0), r"Gibbs: $\log \frac1t = G(t) + 1 - t$ with $G(t) = t - 1 - \log t \ge 0$, and "
                                r"$\mathbb{E}_{q_n}[q_{\mathrm{agg}}/q_n] = 1$, so each KL is an expectation of "
                                r"$G \ge 0$.", rel=">=", witness=S(En(GibbsFunction(qa / qn))), tex="0"),
        ], r"$\mathbb{I}_q[n, z] \ge 0$ for every $N$", "lemma"),
        Derivation("mi_le_log_n", [
            Step(sp.log(N), r"$\log N$.", tex=r"\log N"),
            Step(mi, r"$\log N - \mathbb{I}_q = \frac1N \sum_n \mathbb{E}_{q_n} \log \frac{N q_{\mathrm{agg}}}{q_n}"
                     r" = \frac1N \sum_n \mathbb{E}_{q_n} \log\big(1 + \frac{r_n}{q_n}\big) \ge 0$, where "
                     r"$r_n(z) = \sum_{m \ne n} q(z \mid x_m) \ge 0$ (Hoffman & Johnson 2016, eq. 17: "
                     r"$\log N - \mathbb{E}\,\mathbb{H}[q(n \mid z)]$).", rel=">=",
                 witness=S(En(sp.log(1 + r(z, n) / qn))), tex=mi_t),
        ], r"$\mathbb{I}_q[n, z] \le \log N$ for every $N$", "lemma"),
        Derivation("marginal_kl_nonneg", [
            Step(marginal, r"$\mathrm{KL}(q_{\mathrm{agg}} \| p)$.", tex=marg_kl_t),
            Step(sp.Integer(0), r"Gibbs, with $\mathbb{E}_{q_{\mathrm{agg}}}[p / q_{\mathrm{agg}}] = 1$; zero iff "
                                r"$p = q_{\mathrm{agg}}$, the optimal prior (Isachenko, Deep Generative Models, Lecture 5, 'Optimal VAE prior').",
                 rel=">=", witness=Expect(GibbsFunction(pz / qa), z, qa), tex="0"),
        ], r"$\mathrm{KL}(q_{\mathrm{agg}} \| p) \ge 0$", "lemma"),
    ]
    if mistake == "log_n_minus_1":
        lemmas[1] = Derivation("mi_le_log_n", [
            Step(sp.log(N) - 1, r"$\log N - 1$.", tex=r"\log N - 1"),
            Step(mi, r"claimed: $\mathbb{I}_q \le \log N - 1$.", rel=">=",
                 witness=S(En(sp.log(1 + r(z, n) / qn))), tex=mi_t),
        ], r"$\mathbb{I}_q[n, z] \le \log N - 1$", "lemma")
    Rn = sp.IndexedBase("R", real=True)  # reconstruction terms R_n = E_q log p(x_n | z)
    lemmas.append(Derivation("elbo_split", [
        Step(S(Rn[n] - En(sp.log(qn / pz))), r"The average ELBO: reconstruction $R_n = \mathbb{E}_{q_n} \log "
                                              r"p(x_n \mid z)$ minus the KL to the prior.",
             tex=_AVG + r"\left(R_n - " + _kl(_QN, _PZ) + r"\right)"),
        Step(S(Rn[n]) - mi - marginal, r"The main chain: reconstruction $-\ \mathbb{I}_q[n, z] - "
                                        r"\mathrm{KL}(q_{\mathrm{agg}} \| p)$ (Isachenko, Lecture 5, 'ELBO revisiting').",
             tex=_AVG + r"R_n - \mathbb{I}_q[n, z] - " + marg_kl_t),
    ], r"The ELBO carved up", "lemma"))
    return steps, lemmas, rules, {AVG_KL: avg_kl, MARGINAL_KL: marginal, INDEX_CODE_MI: mi}


def _instance():
    """The same chain on N = K = 2: display symbols q_{nk}, p_k, q^agg_k, r_{nk} = q(n | k), defined as rules."""
    Nn, K = N_OBS, K_STATES
    nr, kr, rN = range(Nn), range(K), sp.Rational(1, Nn)
    cs = [sp.symbols(f"c{i + 1}_1:{K + 1}", positive=True) for i in nr]
    a = sp.symbols(f"a1:{K + 1}", positive=True)
    Q = [[sp.Symbol(f"q_{{{i + 1}{k + 1}}}", positive=True) for k in kr] for i in nr]
    P = [sp.Symbol(f"p_{k + 1}", positive=True) for k in kr]
    QA = [sp.Symbol(rf"\bar{{q}}_{k + 1}", positive=True) for k in kr]
    R = [[sp.Symbol(f"r_{{{i + 1}{k + 1}}}", positive=True) for k in kr] for i in nr]
    rules = {**{Q[i][k]: cs[i][k] / sum(cs[i]) for i in nr for k in kr},
             **{P[k]: a[k] / sum(a) for k in kr},
             **{QA[k]: rN * sum(Q[i][k] for i in nr) for k in kr},
             **{R[i][k]: Q[i][k] / (Nn * QA[k]) for i in nr for k in kr}}
    marginal = sum(QA[k] * sp.log(QA[k] / P[k]) for k in kr)
    # the lines as written, every sum over n and k spelled out (N = K = 2)
    qt = lambda i, k: f"q_{{{i + 1}{k + 1}}}"  # noqa: E731
    bt = lambda k: rf"\bar{{q}}_{k + 1}"  # noqa: E731
    rt = lambda i, k: f"r_{{{i + 1}{k + 1}}}"  # noqa: E731
    pairs = [(i, k) for i in nr for k in kr]
    marginal_t = " + ".join(rf"{bt(k)} \log \frac{{{bt(k)}}}{{p_{k + 1}}}" for k in kr)
    der = Derivation("instance", [
        Step(rN * sum(Q[i][k] * sp.log(Q[i][k] / P[k]) for i in nr for k in kr),
             r"The average KL on the instance, $\frac12 \sum_{n,k} q_{nk} \log \frac{q_{nk}}{p_k}$.",
             tex=r"\frac{1}{2}\left(" + " + ".join(rf"{qt(i, k)} \log \frac{{{qt(i, k)}}}{{p_{k + 1}}}"
                                                   for i, k in pairs) + r"\right)"),
        Step(marginal + rN * sum(Q[i][k] * sp.log(Q[i][k] / QA[k]) for i in nr for k in kr),
             r"Multiply and divide by $\bar q_k = q_{\mathrm{agg}}(k)$ inside the logarithm, and "
             r"$\frac12 \sum_n q_{nk} = \bar q_k$: the marginal KL plus the average KL to $\bar q$.",
             tex=marginal_t + r" + \frac{1}{2}\left(" + " + ".join(
                 rf"{qt(i, k)} \log \frac{{{qt(i, k)}}}{{{bt(k)}}}" for i, k in pairs) + r"\right)"),
        Step(marginal + sp.log(Nn) + sum(QA[k] * sum(R[i][k] * sp.log(R[i][k]) for i in nr) for k in kr),
             r"Bayes with $q(n) = \frac12$: $r_{nk} = q(n \mid k) = q_{nk} / (2 \bar q_k)$, so the MI is "
             r"$\log N - \sum_k \bar q_k \mathbb{H}[r_{\cdot k}]$ (Hoffman & Johnson 2016, eq. 17).",
             tex=marginal_t + r" + \log 2 + " + " + ".join(
                 rf"{bt(k)} \left(" + " + ".join(rf"{rt(i, k)} \log {rt(i, k)}" for i in nr) + r"\right)"
                 for k in kr)),
    ], r"Worked instance: $N = 2$ observations, $K = 2$ states", "instance",
        names={bt(k): QA[k] for k in kr})
    return der, rules


def _build(mistake):
    steps, lemmas, rules, defs = _general(mistake)
    statement = sp.Eq(AVG_KL, MARGINAL_KL + INDEX_CODE_MI)
    if mistake == "log_n_minus_1":
        defs = {**defs, LOG_N: sp.log(N)}
    side = list(lemmas)
    if mistake is None:
        inst, inst_rules = _instance()
        side.append(inst)
        rules = {**rules, **inst_rules}
    rev = mistake == "kl_direction"
    statement_tex = (_AVG + (_kl(_PZ, _QN) if rev else _kl(_QN, _PZ)) + " = "
                     + (_kl(_PZ, _QA) if rev else _kl(_QA, _PZ)) + r" + \mathbb{I}_q[n, z]")
    return {"statement": statement, "statement_tex": statement_tex,
            "names": {_PZ: p(z), _QA: q_agg(z)}, "symbols": SYMBOLS,
            "definitions": {**defs, **rules}, "steps": steps, "kind": "general",
            "title": r"General proof: every $N \ge 1$, every encoder $q(z \mid x_n)$",
            "hypotheses": [r"N \ge 1", r"q_{\mathrm{agg}}(z) = \tfrac1N \textstyle\sum_n q(z \mid x_n)"],
            "scope": SCOPE, "model": MODEL, "side": side}


@lru_cache(maxsize=1)
def _gaussian_terms() -> dict:
    """The quadrature oracle on the check's four encoders (cached: shared by the identity and its twins)."""
    return surgery.gaussian_surgery_terms(MU, LOGVAR)


@lru_cache(maxsize=1)
def _densities_normalized() -> bool:
    """Every density of the Gaussian check integrates to one: each encoder coordinate and the prior (scipy quad)."""
    from scipy.stats import norm

    sd = np.exp(0.5 * LOGVAR)
    ok = [integrates_to_one(lambda u, a=a, b=b: norm.pdf(u, a, b))[0] for a, b in zip(MU.ravel(), sd.ravel())]
    return bool(all(ok) and integrates_to_one(norm.pdf)[0])


def _reverse_kl_terms(q_zn: np.ndarray, prior: np.ndarray) -> tuple:
    """The ``kl_direction`` twin's two sides: avg KL(p || q_n) and KL(p || q_agg) + I (nats)."""
    from scipy.special import rel_entr

    q_agg = q_zn.mean(0)
    lhs = rel_entr(prior[None, :], q_zn).sum(1).mean()
    mi = rel_entr(q_zn, q_agg[None, :]).sum(1).mean()
    return float(lhs), float(rel_entr(prior, q_agg).sum() + mi)


def _check(seed, mistake):
    t = _gaussian_terms()
    rng = np.random.default_rng(seed)
    dq = rng.dirichlet(np.ones(7), size=5)
    dp = rng.dirichlet(np.ones(7))
    d = surgery.discrete_surgery_terms(dq, dp)
    ok_norm = _densities_normalized() and np.allclose(dq.sum(1), 1) and np.isclose(dp.sum(), 1)
    lhs_d, rhs_d = d["avg_kl"], d["marginal_kl"] + d["index_code_mi"]
    est, exact = t["marginal_kl"] + t["index_code_mi"], t["avg_kl"]
    gaussian_applies = True
    if mistake == "kl_direction":
        lhs_d, rhs_d = _reverse_kl_terms(dq, dp)
        gaussian_applies = False  # no quadrature oracle for the reverse decomposition: the discrete model decides
    elif mistake == "no_mi":
        rhs_d, est = d["marginal_kl"], t["marginal_kl"]
    ok_disc = abs(lhs_d - rhs_d) <= 1e-12 and abs(d["index_code_mi"] - d["index_code_mi_entropy"]) <= 1e-12
    ok_dec = abs(est - exact) <= QUAD_TOL if gaussian_applies else True
    ok_mi = abs(t["index_code_mi"] - t["index_code_mi_entropy"]) <= QUAD_TOL
    upper = t["log_n"] - (1.0 if mistake == "log_n_minus_1" else 0.0)
    ok_bounds = -QUAD_TOL <= t["index_code_mi"] <= upper + QUAD_TOL
    gauss = (f"marginal KL {t['marginal_kl']:.6f} + index-code MI {t['index_code_mi']:.6f} vs avg KL {exact:.6f} "
             f"({'ok' if ok_dec else 'FAIL'})" if gaussian_applies else
             "the reverse decomposition has no quadrature oracle (not compared; the discrete model decides)")
    msg = (f"Gaussian encoders (N=4, D=2, grid {t['grid_points']}): {gauss}; "
           f"MI two ways ({'ok' if ok_mi else 'FAIL'}); "
           f"0 <= MI <= {'log N - 1' if mistake == 'log_n_minus_1' else 'log N'} = {upper:.4f} "
           f"({'ok' if ok_bounds else 'VIOLATED'}); discrete N=5, K=7: {lhs_d:.6f} vs {rhs_d:.6f} "
           f"({'ok' if ok_disc else 'FAIL'}); densities integrate to one ({'ok' if ok_norm else 'FAIL'})")
    ok = ok_dec and ok_mi and ok_bounds and ok_disc and ok_norm
    return NumericResult(bool(ok), est, 0.0, exact, QUAD_TOL, msg)


IDENTITY = make_rule_identity(NAME, TITLE, SOURCE, _build, _check, TWINS)

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
NIPS 2016 workshop (poster: eqs. (2), (17), (18), Table 1); Lecture 5 (Isachenko), 'ELBO surgery' (theorem,
proof, 'ELBO revisiting', 'Optimal VAE prior'); the 'ELBO Surgery' blog post.

Main derivation: exact and symbolic for a discrete latent with :math:`K = 2` states and :math:`N = 2`
observations (encoder rows and prior normalized from positive symbols).  Side derivations: the MI as an
average KL; ``mi_nonneg`` (witness :math:`\frac1N\sum_{n,k} q_{nk} G(q_{\mathrm{agg},k}/q_{nk})`);
``mi_le_log_n`` (:math:`\log N - \mathbb{I} = \mathbb{E}\,\mathbb{H}[q(n \mid z)]`, each
:math:`-\log q(n \mid z) = \log(1 + \text{others}/q_{nk}) \ge 0`); ``marginal_kl_nonneg`` and
``marginal_kl_zero`` (at :math:`p = q_{\mathrm{agg}}`); ``elbo_surgery`` (the ELBO split with symbolic
reconstruction terms).

Numeric check (quadrature, no randomness in the Gaussian part): four 2-D Gaussian encoders, the oracle
:func:`derivations.models.surgery_oracles.gaussian_surgery_terms`: ``avg_kl`` (closed form) equals ``marginal_kl +
index_code_mi`` within ``QUAD_TOL``, the two MI formulas agree, and :math:`0 \le \mathbb{I} \le \log N`;
plus a random discrete model (``seed``) through :func:`derivations.models.surgery_oracles.discrete_surgery_terms` to 1e-12.

Wrong twin ``log_n_minus_1``: :math:`\mathbb{I}_q[n, z] \le \log N - 1` -- no proof (a counterexample is
reported) and the well-separated encoders have :math:`\mathbb{I} \approx \log N`.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from derivations.models import surgery_oracles as surgery
from derivations.core import Derivation, GibbsG, NumericResult, Step, make_identity
from derivations.notation import AVG_KL, INDEX_CODE_MI, LOG_N, MARGINAL_KL

QUAD_TOL = 1e-6
N_OBS, K_STATES = 2, 2

NAME = "elbo_surgery"
TITLE = "ELBO surgery: average KL = marginal KL + index-code mutual information"
SOURCE = ("Hoffman & Johnson 2016, 'ELBO surgery' (poster eqs. 2, 17, 18; Table 1); Lecture 5 (Isachenko), "
          "'ELBO surgery', 'Optimal VAE prior'")
TWINS = {"log_n_minus_1": "index-code MI <= log N - 1"}

# the encoder means and log-variances of the numeric check: well separated, so I is close to log N
MU = np.array([[-2.0, 0.5], [1.5, 1.5], [0.5, -2.0], [2.0, -0.5]])
LOGVAR = 2 * np.log(np.array([[0.3, 0.2], [0.25, 0.4], [0.3, 0.3], [0.2, 0.35]]))


def _model():
    N, K = N_OBS, K_STATES
    cs = [sp.symbols(f"c{n + 1}_1:{K + 1}", positive=True) for n in range(N)]
    a = sp.symbols(f"a1:{K + 1}", positive=True)
    q = [[cnk / sum(cn) for cnk in cn] for cn in cs]       # q(z = k | x_n)
    p = [ak / sum(a) for ak in a]                            # p(z = k)
    qagg = [sum(q[n][k] for n in range(N)) / N for k in range(K)]
    # $q(n \mid k) = q(k \mid x_n) / (N q_{\mathrm{agg}}(k))$
    qnk = [[q[n][k] / (N * qagg[k]) for k in range(K)] for n in range(N)]
    return N, K, q, p, qagg, qnk, cs


def _build(variant):
    N, K, q, p, qagg, qnk, cs = _model()
    rN, kr, nr = sp.Rational(1, N), range(K), range(N)
    avg_kl = rN * sum(q[n][k] * sp.log(q[n][k] / p[k]) for n in nr for k in kr)
    marginal = sum(qagg[k] * sp.log(qagg[k] / p[k]) for k in kr)
    mi_avg = rN * sum(q[n][k] * sp.log(q[n][k] / qagg[k]) for n in nr for k in kr)
    ent = [-sum(qnk[n][k] * sp.log(qnk[n][k]) for n in nr) for k in kr]   # H[q(n | z = k)]
    mi = sp.log(N) - sum(qagg[k] * ent[k] for k in kr)
    if variant == "log_n_minus_1":
        steps = [
            Step(sp.log(N) - 1, "claimed upper bound log N - 1"),
            Step(mi, "index-code MI (N = 2, K = 2)", rel=">="),
        ]
        return {"statement": sp.GreaterThan(LOG_N - 1, INDEX_CODE_MI),
                "definitions": {LOG_N: sp.log(N), INDEX_CODE_MI: mi}, "steps": steps}
    steps = [
        # $\frac1N \sum_n \sum_k q_{nk} \log \frac{q_{nk}}{p_k}$
        Step(avg_kl, "average KL to the prior, N = 2 observations, K = 2 states"),
        # $= \frac1N \sum_{n,k} q_{nk} [\log \frac{q_{\mathrm{agg},k}}{p_k} + \log \frac{q_{nk}}{q_{\mathrm{agg},k}}]$
        Step(rN * sum(q[n][k] * (sp.log(qagg[k] / p[k]) + sp.log(q[n][k] / qagg[k])) for n in nr for k in kr),
             "multiply and divide by q_agg inside the log"),
        # $= \mathrm{KL}(q_{\mathrm{agg}} \| p) + \frac1N \sum_n \mathrm{KL}(q_n \| q_{\mathrm{agg}})$
        Step(marginal + mi_avg, "(1/N) sum_n q(k|x_n) = q_agg(k): marginal KL + average KL to q_agg"),
        # $= \mathrm{KL}(q_{\mathrm{agg}} \| p) + \log N - \mathbb{E}_{q_{\mathrm{agg}}} \mathbb{H}[q(n \mid z)]$
        Step(marginal + mi, "q(n|z) = q(z|x_n)/(N q_agg(z)) (Bayes with q(n) = 1/N): log N - E H[q(n|z)]"),
    ]
    R = sp.symbols(f"R1:{N + 1}", real=True)  # reconstruction terms E_q log p(x_n | z)
    kl_n = [sum(q[n][k] * sp.log(q[n][k] / p[k]) for k in kr) for n in nr]
    # a witness for $\log N - \mathbb{I} \ge 0$: $-\log q(n|k) = \log(1 + \sum_{m \ne n} q_{mk} / q_{nk})$
    h_witness = sum(qagg[k] * sum(qnk[n][k] * sp.log(1 + sum(q[m][k] for m in nr if m != n) / q[n][k]) for n in nr)
                    for k in kr)
    side = [
        Derivation("mi_nonneg", [
            Step(mi_avg, "I = (1/N) sum_n KL(q(z|x_n) || q_agg)"),
            Step(sp.Integer(0), "Gibbs: each KL >= 0", rel=">=",
                 witness=rN * sum(q[n][k] * GibbsG(qagg[k] / q[n][k]) for n in nr for k in kr)),
        ]),
        Derivation("mi_le_log_n", [
            Step(sp.log(N), "log N"),
            Step(mi, "log N - I = E_{q_agg} H[q(n|z)] >= 0: -log q(n|z) = log(1 + others/q(z|x_n)) >= 0",
                 rel=">=", witness=h_witness),
        ]),
        Derivation("marginal_kl_nonneg", [
            Step(marginal, "KL(q_agg || p)"),
            Step(sp.Integer(0), "Gibbs", rel=">=", witness=sum(qagg[k] * GibbsG(p[k] / qagg[k]) for k in kr)),
        ]),
        Derivation("marginal_kl_zero", [
            Step(sum(qagg[k] * sp.log(qagg[k] / qagg[k]) for k in kr), "KL(q_agg || p) at p = q_agg"),
            Step(sp.Integer(0), "the optimal prior is the aggregated posterior"),
        ]),
        Derivation("elbo_surgery", [
            Step(rN * sum(R[n] - kl_n[n] for n in nr), "average ELBO: reconstruction minus KL to the prior"),
            Step(rN * sum(R) - mi - marginal, "= reconstruction - index-code MI - marginal KL"),
        ]),
    ]
    defs = {AVG_KL: avg_kl, MARGINAL_KL: marginal, INDEX_CODE_MI: mi}
    return {"statement": sp.Eq(AVG_KL, MARGINAL_KL + INDEX_CODE_MI), "definitions": defs, "steps": steps,
            "side": side}


def _check(seed, variant):
    t = surgery.gaussian_surgery_terms(MU, LOGVAR)
    rng = np.random.default_rng(seed)
    dq = rng.dirichlet(np.ones(7), size=5)
    dp = rng.dirichlet(np.ones(7))
    d = surgery.discrete_surgery_terms(dq, dp)
    ok_disc = abs(d["avg_kl"] - d["marginal_kl"] - d["index_code_mi"]) <= 1e-12 and \
        abs(d["index_code_mi"] - d["index_code_mi_entropy"]) <= 1e-12
    est = t["marginal_kl"] + t["index_code_mi"]
    ok_dec = abs(est - t["avg_kl"]) <= QUAD_TOL
    ok_mi = abs(t["index_code_mi"] - t["index_code_mi_entropy"]) <= QUAD_TOL
    upper = t["log_n"] - (1.0 if variant == "log_n_minus_1" else 0.0)
    ok_bounds = -QUAD_TOL <= t["index_code_mi"] <= upper + QUAD_TOL
    msg = (f"Gaussian encoders (N=4, D=2, grid {t['grid_points']}): marginal KL {t['marginal_kl']:.6f} + "
           f"index-code MI {t['index_code_mi']:.6f} = {est:.6f} vs avg KL {t['avg_kl']:.6f} "
           f"({'ok' if ok_dec else 'FAIL'}); MI two ways ({'ok' if ok_mi else 'FAIL'}); "
           f"0 <= MI <= {'log N - 1' if variant else 'log N'} = {upper:.4f} ({'ok' if ok_bounds else 'VIOLATED'}); "
           f"discrete N=5, K=7 exact ({'ok' if ok_disc else 'FAIL'})")
    ok = ok_dec and ok_mi and ok_bounds and ok_disc
    return NumericResult(bool(ok), est, 0.0, t["avg_kl"], QUAD_TOL, msg)


IDENTITY = make_identity(NAME, TITLE, SOURCE, _build, _check, TWINS)

r"""Adversarial chains for the proof engine (issue 19): wrong derivations a student could write with the public API.

Each :class:`Case` builds the dict an identity's ``build`` returns (``statement``, ``steps``, ``definitions``,
``hypotheses``, ``substitutions``, ``side``...), written exactly as the identity modules write theirs
(:mod:`derivations.reparameterization_gradient`, :mod:`derivations.elbo_surgery`, :mod:`derivations.jensen`...).
A wrong chain is wrong in ONE link (``fail_at``: the index of that step in derivation ``fail_in``; ``ANY`` when
the wrong thing is a rule or a title, which an engine may catch at more than one place); every other link
is a true statement (the exceptions say so: ``c7-log_wrong_slope`` reaches a true conclusion through a witness that
is not one; ``c3-score_uniform_expect`` and the ``c8`` tampered-rule cases are wrong in their rules).  The controls
(``control=True``) are correct chains of the same shapes.  ``ids`` with ``FALSE_`` are the issue's false theorems.

Causes (issue 19): 1 integration limits; 2 normalization under a measure that is not a normalized density of
the variable; 3 Leibniz without its boundary term / hypotheses; 4 limit moved inside an integral without
domination; 5 change of variables (h' instead of |h'|, limits not mapped, Expect mixed with explicit limits);
6 a witness non-negative only by a declared assumption on a rule-defined symbol; 7 tangent_gap / concavity;
8 tampered rules, complex values, side titles that claim more than their chains.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable

import sympy as sp

from derivations.expectation import Expect, NormalPDF, density
from derivations.steps import Derivation, Step
from derivations.witnesses import GibbsFunction, tangent_gap

ANY = "any"  # the case is refused; the failing step is not pinned


@dataclass(frozen=True)
class Case:
    """One adversarial chain: ``id`` (``c<cause>-<name>``), the false claim, the build dict, where it must fail."""

    id: str
    cause: int
    claim: str
    build: Callable[[], dict] = field(repr=False)
    fail_at: object = ANY      # step index (int, or a tuple of acceptable ones), None (the statement), or ANY
    fail_in: str = "main"      # label of the derivation that must fail
    routes: tuple = ("core", "rules")  # make_identity(...).prove() and make_rule_identity(...).prove()
    control: bool = False
    xfail: str = ""            # controls only: why the engine may legitimately not decide it


# ---------------------------------------------------------------------------------------------------------
# Symbols and densities (own names, declared the way the identity modules declare theirs)
# ---------------------------------------------------------------------------------------------------------
x = sp.Symbol("x", real=True)
z = sp.Symbol("z", real=True)
zp = sp.Symbol("z", positive=True)
eps = sp.Symbol("epsilon", real=True)
y = sp.Symbol("y", real=True)
mu = sp.Symbol("mu", real=True)
sigma = sp.Symbol("sigma", positive=True)
theta = sp.Symbol("theta", positive=True)
c = sp.Symbol("c", real=True)
a_lo = sp.Symbol("a", real=True)
b_hi = sp.Symbol("b", real=True)
nn = sp.Symbol("n", positive=True)  # a continuous index going to infinity
N = sp.Symbol("N", integer=True, positive=True)
K = sp.Symbol("K", integer=True, positive=True)
k = sp.Symbol("k", integer=True, positive=True)
n = sp.Symbol("n", integer=True, positive=True)
m = sp.Symbol("m", integer=True, positive=True)
D = sp.Symbol("D", integer=True, positive=True)
OO = sp.oo

q = density("q_adv", 1, symbol="q")
s = density("s_adv", 1, symbol="s")
prior = density("prior_adv", 1, symbol="p")       # p(z)
lik = density("lik_adv", 1, symbol="p")           # p(x | z): a density of x
post = density("post_adv", 1, symbol="p")         # p(z | x): a density of z
joint = density("joint_adv", 2, symbol="p")       # p(x, z)
evid = density("evid_adv", 1, symbol="p")         # p(x)
Qs = density("Q_adv", 1, symbol="Q")               # the law of the K samples (IWAE)
phi_eps = density("phi_adv", 1, symbol=r"\mathcal{N}_{0, I}")
f = sp.Function("f", real=True)
g = sp.Function("g", real=True)
fpos = sp.Function("f_pos", positive=True)


def _sym(latex: str, **kw) -> sp.Symbol:
    return sp.Symbol(latex, **({"real": True} | kw))


def npdf(t, mean, var):
    r"""The explicit Gaussian density $\mathcal{N}(t; \mu, v)$ (``var`` a variance)."""
    return sp.exp(-(t - mean) ** 2 / (2 * var)) / sp.sqrt(2 * sp.pi * var)


def relation(rel: str, a, b):
    return {"=": sp.Eq, ">=": sp.GreaterThan, "<=": sp.LessThan}[rel](a, b, evaluate=False)


def chain_rel(steps) -> str:
    rels = {st.rel for st in steps[1:]} - {"="}
    return rels.pop() if len(rels) == 1 else "="


def chain(steps, rules=None, **extra) -> dict:
    """A build dict whose statement is ``first REL last`` (the chain's own ends)."""
    out = {"statement": relation(chain_rel(steps), steps[0].expr, steps[-1].expr), "steps": steps,
           "definitions": dict(rules or {}), "kind": "general", "title": "adversarial chain",
           "hypotheses": [], "scope": "adversarial"}
    out.update(extra)
    return out


def S(e, *lim):
    return sp.Sum(e, *lim)


CASES: list = []


def case(id, cause, claim, fail_at=ANY, fail_in="main", routes=("core", "rules"), control=False, xfail=""):
    def deco(fn):
        CASES.append(Case(id, cause, claim, fn, fail_at, fail_in, routes, control, xfail))
        return fn
    return deco


# =========================================================================================================
# 1. Integration limits
# =========================================================================================================
@case("c1-half_line_normalize", 1, r"\int_0^\infty q(z) dz = 1", 1)
def _():
    return chain([Step(sp.Integral(q(z), (z, 0, OO)), "q on the half line"),
                  Step(sp.Integer(1), "q is a density, so it integrates to one")])


@case("c1-half_line_gaussian", 1, r"\int_0^\infty N(z; 0, 1) dz = 1", 1)
def _():
    return chain([Step(sp.Integral(NormalPDF(z, 0, 1), (z, 0, OO)), "the standard normal on z > 0"),
                  Step(sp.Integer(1), "a density integrates to one")])


@case("c1-bounded_interval_prior", 1, r"c \int_{-1}^{1} p(z) dz = c", 2)
def _():
    return chain([Step(c * sp.Integral(prior(z), (z, -1, 1)), "mass of the prior on [-1, 1], times c"),
                  Step(sp.Integral(c * prior(z), (z, -1, 1)), "a constant moves inside"),
                  Step(c, "the prior integrates to one")])


@case("c1-symbolic_interval", 1, r"\int_a^b q(z \mid x) dz = 1", 1)
def _():
    return chain([Step(sp.Integral(q(z, x), (z, a_lo, b_hi)), "the encoder's mass on [a, b]"),
                  Step(sp.Integer(1), "normalization")])


@case("c1-merge_two_half_lines", 1, r"\int_0^\infty f(z) dz = \int_{-\infty}^0 f(z) dz", 1)
def _():
    return chain([Step(sp.Integral(f(z), (z, 0, OO)), "f on the positive half line"),
                  Step(sp.Integral(f(z), (z, -OO, 0)), "'the same integrand, so the same integral'")])


@case("c1-merge_unit_intervals", 1, r"\int_0^1 q \log q\, dz = \int_1^2 q \log q\, dz", 1)
def _():
    return chain([Step(sp.Integral(q(z) * sp.log(q(z)), (z, 0, 1)), "a partial entropy term"),
                  Step(sp.Integral(q(z) * sp.log(q(z)), (z, 1, 2)), "'pointwise equal integrands'")])


@case("c1-cancel_across_intervals", 1, r"\int_0^1 f dz - \int_{-1}^0 f dz + 1 = 1", 1)
def _():
    return chain([Step(sp.Integral(f(z), (z, 0, 1)) - sp.Integral(f(z), (z, -1, 0)) + 1, "two pieces of f"),
                  Step(sp.Integer(1), "'the integrands cancel'")])


@case("c1-bayes_half_line", 1, r"\int_0^\infty p(x|z) p(z) dz = p(x) (Bayes, then normalize the posterior on z > 0)", 3)
def _():
    rules = {lik(x, z): post(z, x) * evid(x) / prior(z)}  # Bayes' rule, p(x|z) = p(z|x) p(x) / p(z)
    return chain([Step(sp.Integral(lik(x, z) * prior(z), (z, 0, OO)), "the joint on z > 0"),
                  Step(sp.Integral(post(z, x) * evid(x), (z, 0, OO)), "Bayes' rule"),
                  Step(evid(x) * sp.Integral(post(z, x), (z, 0, OO)), "p(x) is free of z"),
                  Step(evid(x), "the posterior integrates to one")], rules)


@case("c1-FALSE_evidence_half_line", 1, r"FALSE THEOREM: \int_0^\infty p(x|z) p(z) dz = p(x)", 1)
def _():
    PX = _sym("p(x)")
    rules = {evid(x): sp.Integral(lik(x, z) * prior(z), (z, -OO, OO))}
    steps = [Step(evid(x), "the evidence, p(x) = int p(x|z) p(z) dz"),
             Step(sp.Integral(lik(x, z) * prior(z), (z, 0, OO)), "the sum rule")]
    return chain(steps, {**rules, PX: evid(x)}, statement=sp.Eq(PX, steps[-1].expr),
                 hypotheses=[r"p(x) = \int p(x \mid z) p(z)\, dz"])


@case("c1-expect_as_half_line", 1, r"E_q f = \int_0^\infty q f dz", 1)
def _():
    return chain([Step(Expect(f(z), z, q(z)), "an expectation"),
                  Step(sp.Integral(q(z) * f(z), (z, 0, OO)), "'an expectation is an integral against q'")])


@case("c1-sum_limits_shifted", 1, r"sum_{k=2}^K w_k = 1 from the hypothesis sum_{k=1}^K w_k = 1", 1)
def _():
    wP = sp.IndexedBase("w", positive=True)
    return chain([Step(S(wP[k], (k, 2, K)), "the weights but the first"), Step(sp.Integer(1), "the weights sum to one")],
                 {S(wP[k], (k, 1, K)): 1}, hypotheses=[sp.Eq(S(wP[k], (k, 1, K)), 1)])


@case("c1-sum_upper_limit_off_by_one", 1, r"sum_{k=1}^K y_k = sum_{k=1}^{K+1} y_k", 1)
def _():
    yy = sp.IndexedBase("y", real=True)
    return chain([Step(S(yy[k], (k, 1, K)), "K terms"), Step(S(yy[k], (k, 1, K + 1)), "'the same summand'")])


# =========================================================================================================
# 2. Normalization under a measure that is not a normalized density of the variable
# =========================================================================================================
@case("c2-FALSE_E_2q_of_1", 2, r"FALSE THEOREM: E_{2q}[1] = 1", 1)
def _():
    return chain([Step(Expect(1, z, 2 * q(z)), "the mass of 2q"), Step(sp.Integer(1), "E[1] = 1")])


@case("c2-FALSE_E_joint_log_px", 2, r"FALSE THEOREM: E_{p(x,z)}[log p(x)] = log p(x)", 1)
def _():
    return chain([Step(Expect(sp.log(evid(x)), z, joint(x, z)), "log p(x) under the joint"),
                  Step(sp.log(evid(x)), "log p(x) is a constant and E[c] = c")])


@case("c2-lik_over_z", 2, r"E_{p(x|z)} [c] over z = c", 1)
def _():
    return chain([Step(Expect(c, z, lik(x, z)), "a constant under the likelihood, over z"),
                  Step(c, "E[c] = c")])


@case("c2-sum_of_densities", 2, r"E_{q(z) + p(z)}[1] = 1", 1)
def _():
    return chain([Step(Expect(1, z, q(z) + prior(z)), "the mass of q + p"), Step(sp.Integer(1), "normalization")])


@case("c2-density_of_other_variable", 2, r"E_{q(x)}[1] over z = 1", 1)
def _():
    return chain([Step(Expect(1, z, q(x)), "q(x) as the density of z"), Step(sp.Integer(1), "normalization")])


@case("c2-posterior_over_x", 2, r"E_{p(z|x)}[log p(z)] over x = log p(z)", 1)
def _():
    return chain([Step(Expect(sp.log(prior(z)), x, post(z, x)), "the posterior as a density of x"),
                  Step(sp.log(prior(z)), "constants out, E[1] = 1")])


@case("c2-joint_integral_over_z", 2, r"\int p(x, z) dz = 1", 1)
def _():
    return chain([Step(sp.Integral(joint(x, z), (z, -OO, OO)), "the joint, integrated over z"),
                  Step(sp.Integer(1), "a density integrates to one")])


@case("c2-half_q_constant", 2, r"E_{q/2}[log p(x)] = log p(x)", 1)
def _():
    return chain([Step(Expect(sp.log(evid(x)), z, q(z) / 2), "log p(x) under q/2"),
                  Step(sp.log(evid(x)), "E[c] = c")])


@case("c2-gibbs_half_q", 2, r"E_{q/2} log(q/(2p)) >= 0 (witness E_{q/2} G(2p/q))", 1)
def _():
    Qh = q(z) / 2
    return chain([Step(Expect(sp.log(Qh / prior(z)), z, Qh), "'KL(q/2 || p)'"),
                  Step(sp.Integer(0), "Gibbs", rel=">=", witness=Expect(GibbsFunction(prior(z) / Qh), z, Qh))])


@case("c2-FALSE_elbo_2q", 2, r"FALSE THEOREM: log p(x) = ELBO(2q) + KL(2q || p(z|x))", 1)
def _():
    Q = 2 * q(z)
    LOGPX, ELBO2, KL2 = _sym(r"\log p(x)"), _sym(r"\mathcal{L}(2q)"), _sym(r"\mathrm{KL}(2q \| p(z \mid x))")
    rules = {evid(x): sp.Integral(joint(x, z), (z, -OO, OO)), post(z, x): joint(x, z) / evid(x)}
    elbo, kl = Expect(sp.log(joint(x, z) / Q), z, Q), Expect(sp.log(Q / post(z, x)), z, Q)
    steps = [Step(sp.log(evid(x)), "the log-evidence"),
             Step(Expect(sp.log(evid(x)), z, Q), "log p(x) is free of z and E[1] = 1"),
             Step(Expect(sp.log(joint(x, z) / post(z, x)), z, Q), "Bayes' rule"),
             Step(Expect(sp.log(joint(x, z) / Q) + sp.log(Q / post(z, x)), z, Q), "multiply and divide by 2q"),
             Step(elbo + kl, "linearity")]
    return chain(steps, {**rules, LOGPX: sp.log(evid(x)), ELBO2: elbo, KL2: kl},
                 statement=sp.Eq(LOGPX, ELBO2 + KL2),
                 hypotheses=[r"p(x) = \int p(x, z)\, dz", r"p(z \mid x) = p(x, z) / p(x)"])


@case("c2-iwae_rule_under_2Q", 2, r"E_{2Q}[log w] <= log E_{2Q}[w] with witness E_{2Q} G(w / E w)", 1)
def _():
    zeta = sp.Symbol(r"\zeta", real=True)
    W = sp.Function(r"\bar{w}", positive=True)(zeta)
    Q2 = 2 * Qs(zeta)
    return chain([Step(Expect(sp.log(W), zeta, Q2), "'L_K' under 2Q"),
                  Step(sp.log(Expect(W, zeta, Q2)), "Jensen", rel="<=",
                       witness=Expect(GibbsFunction(W / Expect(W, zeta, Q2)), zeta, Q2))])


# fail_at (1, 2): for v < 0 both the moment (step 1) and the monotonicity of E (step 2) use N(0, v) as a density
@case("c2-normal_negative_variance", 2, r"v >= 0 for every real v, via E_{N(0, v)} z^2 = v (N(z; 0, v) is no density for v < 0)",
      (1, 2))
def _():
    vr = sp.Symbol("v", real=True)
    return chain([Step(vr, "a real number"),
                  Step(Expect(z**2, z, NormalPDF(z, 0, vr)), "the second moment of N(0, v)"),
                  Step(sp.Integer(0), "a square has a non-negative mean", rel=">=", witness=Expect(z**2, z, NormalPDF(z, 0, vr)))])


# =========================================================================================================
# 3. Leibniz's rule
# =========================================================================================================
@case("c3-moving_upper_limit", 3, r"d/dtheta \int_0^theta z/theta dz = \int_0^theta d/dtheta(z/theta) dz (= -1/2, truth 1/2)", 1)
def _():
    return chain([Step(sp.Derivative(sp.Integral(z / theta, (z, 0, theta)), theta), "the derivative of a mean"),
                  Step(sp.Integral(sp.Derivative(z / theta, theta), (z, 0, theta)), "differentiate under the integral sign"),
                  Step(sp.Rational(-1, 2), "integrate: -theta^2/(2 theta^2)")])


@case("c3-FALSE_score_uniform", 3, r"FALSE THEOREM: d/dtheta E_{U(0,theta)} z = E[z d/dtheta log(1/theta)] = -1/2", 1)
def _():
    G = _sym(r"\nabla_\theta \mathbb{E}_{U(0, \theta)} z")
    steps = [Step(sp.Derivative(sp.Integral(z / theta, (z, 0, theta)), theta), "the gradient of E_q z, q = U(0, theta)"),
             Step(sp.Integral(sp.Derivative(1 / theta, theta) * z, (z, 0, theta)), "differentiate under the integral sign"),
             Step(sp.Integral((1 / theta) * sp.Derivative(sp.log(1 / theta), theta) * z, (z, 0, theta)),
                  "the log-derivative trick"),
             Step(sp.Rational(-1, 2), "integrate")]
    return chain(steps, {G: steps[0].expr}, statement=sp.Eq(G, sp.Rational(-1, 2)))


@case("c3-squared_upper_limit", 3, r"d/dtheta \int_0^{theta^2} z dz = 0", 1)
def _():
    return chain([Step(sp.Derivative(sp.Integral(z, (z, 0, theta**2)), theta), "a parameter in the limit"),
                  Step(sp.Integral(sp.Derivative(z, theta), (z, 0, theta**2)), "Leibniz"),
                  Step(sp.Integer(0), "the integrand is free of theta")])


@case("c3-general_moving_limit", 3, r"d/dtheta \int_0^theta f(z) dz = 0 (f undefined)", 1)
def _():
    return chain([Step(sp.Derivative(sp.Integral(f(z), (z, 0, theta)), theta), "d/dtheta of a running integral"),
                  Step(sp.Integral(sp.Derivative(f(z), theta), (z, 0, theta)), "Leibniz"),
                  Step(sp.Integer(0), "f is free of theta")])


@case("c3-density_with_moving_support", 3, r"d/dtheta \int_0^theta q(z|theta) f dz = \int_0^theta d_theta q f dz", 1)
def _():
    return chain([Step(sp.Derivative(sp.Integral(q(z, theta) * f(z), (z, 0, theta)), theta), "a truncated expectation"),
                  Step(sp.Integral(sp.Derivative(q(z, theta), theta) * f(z), (z, 0, theta)), "Leibniz")])


@case("c3-lower_limit_boundary_sign", 3, r"d/dtheta \int_theta^1 f(z) dz = + f(theta) (the lower limit's boundary term has a minus sign)", 1)
def _():
    return chain([Step(sp.Derivative(sp.Integral(f(z), (z, theta, 1)), theta), "a parameter in the lower limit"),
                  Step(f(theta) + sp.Integral(sp.Derivative(f(z), theta), (z, theta, 1)),
                       "Leibniz with the boundary term f(theta) d theta / d theta"),
                  Step(f(theta), "f is free of theta")])


@case("c3-indicator_integrand", 3, r"d/dtheta \int_0^1 1{z < theta} dz = \int_0^1 d/dtheta 1{z<theta} dz = 0", 1)
def _():
    ind = sp.Piecewise((1, z < theta), (0, True))
    return chain([Step(sp.Derivative(sp.Integral(ind, (z, 0, 1)), theta), "the CDF of U(0, 1) at theta"),
                  Step(sp.Integral(sp.Derivative(ind, theta), (z, 0, 1)), "differentiate under the integral sign"),
                  Step(sp.Integer(0), "the indicator is piecewise constant in theta")])


@case("c3-leibniz_no_domination", 3, r"d/dt \int_0^\infty x t^3 e^{-x^2 t^2} dx at t=0 equals \int d/dt(...) = 0 (truth 1/2)", 1)
def _():
    t = sp.Symbol("t", real=True)
    xx = sp.Symbol("x", positive=True)
    F = xx * t**3 * sp.exp(-xx**2 * t**2)
    return chain([Step(sp.Subs(sp.Derivative(sp.Integral(F, (xx, 0, OO)), t), t, 0), "F'(0), F(t) = t/2"),
                  Step(sp.Subs(sp.Integral(sp.Derivative(F, t), (xx, 0, OO)), t, 0), "Leibniz"),
                  Step(sp.Integer(0), "the t-derivative vanishes at t = 0")])


@case("c3-score_uniform_expect", 3, r"d/dtheta E_q z = E_q[z d log q] with q(z|theta) = 1/theta on [0, theta], read as -1/2", ANY)
def _():
    G = _sym(r"\nabla_\theta \mathbb{E}_{q} z")
    qz = q(z, theta)
    rules = {sp.Derivative(sp.log(qz), theta): -1 / theta,          # the score of U(0, theta) on its support
             Expect(z, z, qz): theta / 2}                           # its mean
    steps = [Step(sp.Derivative(Expect(z, z, qz), theta), "the gradient of the mean of U(0, theta)"),
             Step(sp.Integral(sp.Derivative(qz, theta) * z, (z,)), "differentiate under the integral sign"),
             Step(sp.Integral(qz * sp.Derivative(sp.log(qz), theta) * z, (z,)), "the log-derivative trick"),
             Step(Expect(z * sp.Derivative(sp.log(qz), theta), z, qz), "an expectation under q"),
             Step(Expect(-z / theta, z, qz), "the score of U(0, theta) is -1/theta"),
             Step(sp.Rational(-1, 2), "E_q z = theta / 2")]
    return chain(steps, {**rules, G: steps[0].expr}, statement=sp.Eq(G, sp.Rational(-1, 2)))


# =========================================================================================================
# 4. Limit moved inside an integral without domination
# =========================================================================================================
def _spike(var):
    return 2 * npdf(z, 0, var)


@case("c4-FALSE_spike_half_line", 4, r"FALSE THEOREM: lim_{sigma->0} \int_0^\infty 2 N(z;0,sigma^2) e^{g(z)} dz = 0", 1)
def _():
    body = 2 * NormalPDF(zp, 0, sigma**2) * sp.exp(g(zp))  # z > 0 on the half line
    steps = [Step(sp.Limit(sp.Integral(body, (zp, 0, OO)), sigma, 0), "a half-normal shrinking to 0"),
             Step(sp.Integer(0), "dominated convergence moves the limit inside; pointwise, N(z; 0, sigma^2) -> 0 "
                                 "for z > 0")]
    return chain(steps)


@case("c4-spike_half_line_explicit", 4, r"lim_{sigma->0} \int_0^\infty 2 exp(-z^2/2sigma^2)/sqrt(2 pi sigma^2) e^{g(z)} dz = 0", 1)
def _():
    body = _spike(sigma**2) * sp.exp(g(z))
    return chain([Step(sp.Limit(sp.Integral(body, (z, 0, OO)), sigma, 0), "a half-normal shrinking to 0"),
                  Step(sp.Integral(sp.Limit(body, sigma, 0), (z, 0, OO)), "the limit moves inside (dominated convergence)"),
                  Step(sp.Integer(0), "pointwise, the density -> 0 for z > 0")])


@case("c4-exponential_spike", 4, r"lim_{n->oo} \int_0^\infty n e^{-nz} e^{g(z)} dz = 0", 1)
def _():
    body = nn * sp.exp(-nn * zp) * sp.exp(g(zp))
    return chain([Step(sp.Limit(sp.Integral(body, (zp, 0, OO)), nn, OO), "Exp(n) concentrating at 0"),
                  Step(sp.Integral(sp.Limit(body, nn, OO), (zp, 0, OO)), "limit inside"),
                  Step(sp.Integer(0), "pointwise limit 0")])


@case("c4-escaping_bump", 4, r"lim_{n->oo} \int N(z; n, 1) dz = 0", 1)
def _():
    body = npdf(z, nn, 1)
    return chain([Step(sp.Limit(sp.Integral(body, (z, -OO, OO)), nn, OO), "a bump moving to infinity"),
                  Step(sp.Integral(sp.Limit(body, nn, OO), (z, -OO, OO)), "limit inside"),
                  Step(sp.Integer(0), "pointwise limit 0")])


@case("c4-escaping_bump_general", 4, r"lim_{n->oo} \int N(z; n, 1) e^{g(z)} dz = 0", 1)
def _():
    body = npdf(z, nn, 1) * sp.exp(g(z))
    return chain([Step(sp.Limit(sp.Integral(body, (z, -OO, OO)), nn, OO), "a bump moving to infinity"),
                  Step(sp.Integral(sp.Limit(body, nn, OO), (z, -OO, OO)), "limit inside"),
                  Step(sp.Integer(0), "pointwise limit 0")])


@case("c4-flattening_gaussian", 4, r"lim_{sigma->oo} \int N(z;0,sigma^2) e^{g(z)} dz = 0", 1)
def _():
    body = npdf(z, 0, sigma**2) * sp.exp(g(z))
    return chain([Step(sp.Limit(sp.Integral(body, (z, -OO, OO)), sigma, OO), "a Gaussian flattening out"),
                  Step(sp.Integral(sp.Limit(body, sigma, OO), (z, -OO, OO)), "limit inside"),
                  Step(sp.Integer(0), "pointwise limit 0")])


@case("c4-gamma_spike_unit_interval", 4, r"lim_{n->oo} \int_0^1 n^2 z e^{-nz} e^{g(z)} dz = 0", 1)
def _():
    body = nn**2 * zp * sp.exp(-nn * zp) * sp.exp(g(zp))
    return chain([Step(sp.Limit(sp.Integral(body, (zp, 0, 1)), nn, OO), "Gamma(2, 1/n) on [0, 1]"),
                  Step(sp.Integral(sp.Limit(body, nn, OO), (zp, 0, 1)), "limit inside"),
                  Step(sp.Integer(0), "pointwise limit 0")])


@case("c4-spike_under_expect", 4, r"lim_{sigma->0} E_q[N(z;0,sigma^2)/q(z)] = 0 (it is 1 for every sigma)", 1)
def _():
    body = npdf(z, 0, sigma**2) / q(z)
    return chain([Step(sp.Limit(Expect(body, z, q(z)), sigma, 0), "importance weights of a shrinking Gaussian"),
                  Step(Expect(sp.Limit(body, sigma, 0), z, q(z)), "dominated convergence"),
                  Step(sp.Integer(0), "pointwise limit 0")])


@case("c4-spike_flow_style", 4, r"lim_{sigma->0} E_phi[N(eps; 0, sigma^2) / phi(eps)] = 0 (it is 1 for every sigma)", 1)
def _():
    body = npdf(eps, 0, sigma**2) / phi_eps(eps)
    return chain([Step(sp.Limit(Expect(body, eps, phi_eps(eps)), sigma, 0), "the flow's limit of an expectation"),
                  Step(sp.Integer(0), "dominated convergence moves the limit inside; every term vanishes")])


@case("c4-nonintegrable_remainder", 4, r"lim_{sigma->0} E_{N(0,1)}[sigma e^{eps^2}] = 0 (the expectation is infinite for every sigma)", 1)
def _():
    body = sigma * sp.exp(eps**2)
    dens = NormalPDF(eps, 0, 1)
    return chain([Step(sp.Limit(Expect(body, eps, dens), sigma, 0), "an O(sigma) remainder, as in the flow's chain"),
                  Step(Expect(sp.Limit(body, sigma, 0), eps, dens), "dominated convergence"),
                  Step(sp.Integer(0), "every O(sigma) term vanishes")])


@case("c4-remainder_without_hypothesis", 4, r"lim_{sigma->0} E_phi[sigma R(eps)] = 0 for EVERY R, no integrability hypothesis stated", 1)
def _():
    R = sp.Function("R_adv", real=True)(eps)
    return chain([Step(sp.Limit(Expect(sigma * R, eps, phi_eps(eps)), sigma, 0), "an O(sigma) remainder"),
                  Step(Expect(sp.Limit(sigma * R, sigma, 0), eps, phi_eps(eps)), "the limit moves inside"),
                  Step(sp.Integer(0), "every O(sigma) term vanishes")], hypotheses=[])


# =========================================================================================================
# 5. Change of variables: |h'|, mapped limits, Expect against explicit limits
# =========================================================================================================
def _reflect_rules(reflected: bool):
    base = (mu - z) / sigma if reflected else (z - mu) / sigma
    return {q(z, mu, sigma): s(base) / sigma}


@case("c5-FALSE_one_le_zero", 5, r"FALSE THEOREM: 1 <= 0 via z = mu - sigma eps and q := s((mu - z)/sigma)/sigma", 2,
      routes=("rules",))
def _():
    steps = [Step(sp.Integer(1), "one"),
             Step(Expect(1, z, q(z, mu, sigma)), "q is a density of z"),
             Step(sp.Integer(-1), "the change of variables z = mu - sigma eps, dz = -sigma d eps"),
             Step(sp.Integer(0), "-1 <= 0", rel="<=")]
    out = chain(steps, _reflect_rules(True), substitutions={"main": {z: (mu - sigma * eps, eps)}},
                statement=sp.LessThan(sp.Integer(1), sp.Integer(0), evaluate=False))
    return out


# fail_at (1, 2): step 2 is the wrong one (h' for |h'|); step 1 is true but needs "s(-eps) is a density" under the
# declared substitution, which an engine may not know
@case("c5-one_le_zero_own_rule", 5, r"1 <= 0 via z = mu - sigma eps with the reparameterization's own rule", (1, 2),
      routes=("rules",))
def _():
    steps = [Step(sp.Integer(1), "one"),
             Step(Expect(1, z, q(z, mu, sigma)), "q is a density of z"),
             Step(-sp.Integral(s(-eps), (eps,)), "the change of variables z = mu - sigma eps, dz = -sigma d eps"),
             Step(sp.Integer(-1), "s(-eps) is a density of eps (a reflection)"),
             Step(sp.Integer(0), "-1 <= 0", rel="<=")]
    return chain(steps, _reflect_rules(False), substitutions={"main": {z: (mu - sigma * eps, eps)}},
                 statement=sp.LessThan(sp.Integer(1), sp.Integer(0), evaluate=False))


@case("c5-reflection_general_f", 5, r"E_q f = -\int s(eps) f(mu - sigma eps) d eps (h' kept signed)", 1, routes=("rules",))
def _():
    return chain([Step(Expect(f(z), z, q(z, mu, sigma)), "E_q f"),
                  Step(-sp.Integral(s(eps) * f(mu - sigma * eps), (eps,)), "z = mu - sigma eps, dz = -sigma d eps")],
                 _reflect_rules(True), substitutions={"main": {z: (mu - sigma * eps, eps)}})


@case("c5-reflection_base_not_reflected", 5, r"E_q f = E_{s(eps)} f(mu - sigma eps) for q = s((z-mu)/sigma)/sigma", 1,
      routes=("rules",))
def _():
    return chain([Step(Expect(f(z), z, q(z, mu, sigma)), "E_q f"),
                  Step(Expect(f(mu - sigma * eps), eps, s(eps)), "LOTUS with z = mu - sigma eps")],
                 _reflect_rules(False), substitutions={"main": {z: (mu - sigma * eps, eps)}})


@case("c5-reflection_gradient", 5, r"grad_sigma E_q f = -grad_sigma E_s f(mu - sigma eps) via z = mu - sigma eps (signed h')", 1,
      routes=("rules",))
def _():
    path = mu - sigma * eps
    return chain([Step(sp.Derivative(Expect(f(z), z, q(z, mu, sigma)), sigma), "the sigma-gradient"),
                  Step(-sp.Derivative(Expect(f(path), eps, s(eps)), sigma), "LOTUS, z = mu - sigma eps, dz = -sigma d eps"),
                  Step(-Expect(sp.diff(f(path), sigma), eps, s(eps)), "differentiate inside: s is free of sigma")],
                 _reflect_rules(True), substitutions={"main": {z: (path, eps)}})


@case("c5-limits_not_mapped", 5, r"\int_0^1 f(z) dz = \int_0^1 2 f(2 eps) d eps (z = 2 eps, limits not mapped)", 1)
def _():
    return chain([Step(sp.Integral(f(z), (z, 0, 1)), "f on [0, 1]"),
                  Step(sp.Integral(2 * f(2 * eps), (eps, 0, 1)), "z = 2 eps, dz = 2 d eps")],
                 substitutions={"main": {z: (2 * eps, eps)}})


@case("c5-limits_not_mapped_instance", 5, r"\int_0^1 z dz = \int_0^1 4 eps d eps", 1)
def _():
    return chain([Step(sp.Integral(z, (z, 0, 1)), "the mean of U(0, 1)"),
                  Step(sp.Integral(4 * eps, (eps, 0, 1)), "z = 2 eps")])


@case("c5-non_injective_map", 5, r"\int_{-1}^1 f(z) dz = \int_{-1}^1 2 eps f(eps^2) d eps (z = eps^2)", 1)
def _():
    return chain([Step(sp.Integral(f(z), (z, -1, 1)), "f on [-1, 1]"),
                  Step(sp.Integral(2 * eps * f(eps**2), (eps, -1, 1)), "z = eps^2, dz = 2 eps d eps")],
                 substitutions={"main": {z: (eps**2, eps)}})


@case("c5-negative_scale_jacobian", 5, r"\int q(z) f(z) dz = \int -2 q(-2 eps) f(-2 eps) d eps (z = -2 eps, no |.|)", 1)
def _():
    return chain([Step(sp.Integral(q(z) * f(z), (z, -OO, OO)), "E_q f written as an integral"),
                  Step(sp.Integral(-2 * q(-2 * eps) * f(-2 * eps), (eps, -OO, OO)), "z = -2 eps, dz = -2 d eps")],
                 substitutions={"main": {z: (-2 * eps, eps)}})


@case("c5-expect_vs_explicit_limits", 5, r"E_q z = \int_0^theta z q(z|theta) dz for a general density q", 1)
def _():
    qz = q(z, theta)
    return chain([Step(Expect(z, z, qz), "the mean of q"),
                  Step(sp.Integral(z * qz, (z, 0, theta)), "'an expectation is the integral against q'")])


@case("c5-uniform_rule_on_the_line", 5, r"E_q z = \int_0^theta z/theta dz with q := 1/theta (a rule on the whole line)", ANY)
def _():
    qz = q(z, theta)
    return chain([Step(Expect(z, z, qz), "the mean of U(0, theta)"),
                  Step(sp.Integral(z / theta, (z, 0, theta)), "the uniform density q = 1/theta on [0, theta]"),
                  Step(theta / 2, "integrate")], {qz: 1 / theta})


# =========================================================================================================
# 6. Witness non-negative only through a declared assumption on a rule-defined symbol
# =========================================================================================================
@case("c6-FALSE_mi_le_log_half_N", 6, r"FALSE THEOREM: I_q[n, z] <= log(N/2), r := sum_m q_m / 2 - q_n declared nonnegative", 1)
def _():
    xs = sp.IndexedBase("x")
    r = sp.Function("r", nonnegative=True)
    qa = density("q_agg_adv", 1, symbol=r"q_{\mathrm{agg}}")
    qn = q(z, xs[n])
    rules = {qa(z): S(q(z, xs[m]), (m, 1, N)) / N, r(z, n): S(q(z, xs[m]), (m, 1, N)) / 2 - qn}
    avg = lambda e: S(e, (n, 1, N)) / N  # noqa: E731
    mi = avg(Expect(sp.log(qn / qa(z)), z, qn))
    MI = _sym(r"\mathbb{I}_q[n, z]")
    steps = [Step(sp.log(N / 2), r"log(N/2)"),
             Step(mi, "the index-code MI: the gap is (1/N) sum_n E log(1 + r_n / q_n) >= 0", rel=">=",
                  witness=avg(Expect(sp.log(1 + r(z, n) / qn), z, qn)))]
    return chain(steps, {**rules, MI: mi}, statement=sp.GreaterThan(sp.log(N / 2), MI, evaluate=False),
                 title=r"$\mathbb{I}_q[n, z] \le \log(N/2)$ for every $N$")


@case("c6-entropy_nonneg", 6, r"H[q] = -E_q log q >= 0 for every density q (false for continuous q, e.g. N(0, 0.01))", 1)
def _():
    e = Expect(-sp.log(q(z)), z, q(z))
    return chain([Step(e, "the entropy of q"), Step(sp.Integer(0), "'-log q >= 0'", rel=">=", witness=e)])


@case("c6-function_declared_nonneg", 6, r"0 >= 1, witness r(z) := -1 with r declared nonnegative", 1)
def _():
    r = sp.Function("r", nonnegative=True)
    return chain([Step(sp.Integer(0), "zero"), Step(sp.Integer(1), "one", rel=">=", witness=r(z))], {r(z): sp.Integer(-1)})


@case("c6-indexed_declared_nonneg", 6, r"sum_k y_k >= 0 for real y, witness sum_k d_k, d := y", 1)
def _():
    yy = sp.IndexedBase("y", real=True)
    d = sp.IndexedBase("d", nonnegative=True)
    return chain([Step(S(yy[k], (k, 1, K)), "a sum of reals"),
                  Step(sp.Integer(0), "each term is non-negative", rel=">=", witness=S(d[k], (k, 1, K)))],
                 {d[k]: yy[k]})


@case("c6-symbol_declared_nonneg", 6, r"y >= 1 for every real y, witness a := y - 1 declared nonnegative", 1)
def _():
    a = sp.Symbol("a", nonnegative=True)
    return chain([Step(y, "a real number"), Step(sp.Integer(1), "the gap a", rel=">=", witness=a)], {a: y - 1})


@case("c6-KL_symbol_wrong_direction", 6, r"E_q log(p/q) >= 0, witness KL := E_q log(p/q) declared nonnegative", 1)
def _():
    KLs = sp.Symbol(r"\mathrm{KL}", nonnegative=True)
    e = Expect(sp.log(prior(z) / q(z)), z, q(z))
    return chain([Step(e, "'minus the KL'"), Step(sp.Integer(0), "a KL is non-negative", rel=">=", witness=KLs)],
                 {KLs: e})


@case("c6-delta_M_negative", 6, r"L(theta) >= L(theta') with witness Delta_M := L(theta) - L(theta') declared nonneg", 1)
def _():
    DM = sp.Symbol(r"\Delta_M", nonnegative=True)
    th2 = sp.Symbol(r"\theta'", real=True)
    Lf = sp.Function(r"\mathcal{L}", real=True)
    return chain([Step(Lf(theta), "the old bound"),
                  Step(Lf(th2), "the M-step's gain", rel=">=", witness=DM)], {DM: Lf(theta) - Lf(th2)})


@case("c6-jensen_negative_weight", 6, r"log(2 y1 - y2) >= 2 log y1 - log y2 with declared-positive weights w1 := 2, w2 := -1", 1)
def _():
    y1, y2 = sp.symbols("y1 y2", positive=True)
    w1, w2 = sp.symbols("w1 w2", positive=True)
    mean = w1 * y1 + w2 * y2
    return chain([Step(sp.log(mean), "the log of the weighted mean"),
                  Step(w1 * sp.log(y1) + w2 * sp.log(y2), "Jensen", rel=">=",
                       witness=w1 * GibbsFunction(y1 / mean) + w2 * GibbsFunction(y2 / mean))],
                 {w1: 2, w2: -1})


@case("c6-log1p_declared_nonneg", 6, r"E_q log f >= 0 for every positive f, witness E_q log(1 + r), r := f - 1 declared nonnegative", 1)
def _():
    r = sp.Function("r", nonnegative=True)
    return chain([Step(Expect(sp.log(fpos(z)), z, q(z)), "the mean log of a positive function"),
                  Step(sp.Integer(0), "log(1 + r) >= 0 for r >= 0", rel=">=",
                       witness=Expect(sp.log(1 + r(z)), z, q(z)))],
                 {r(z): fpos(z) - 1})


# =========================================================================================================
# 7. Concavity: tangent_gap, Jensen
# =========================================================================================================
kk = sp.Symbol("k", integer=True, positive=True)
wI = sp.IndexedBase("w", nonnegative=True)
yI = sp.IndexedBase("y", real=True)
Mm = sp.Symbol("m", real=True)


def _phi_pair(tag: str):
    """A fresh undefined phi and its supergradient per case, so a concavity declared by one case cannot leak into
    another (an engine may keep a registry of functions declared concave)."""
    return sp.Function(f"varphi_{tag}", real=True), sp.Function(f"dvarphi_{tag}", real=True)


def declared_concave_gap(phi, dphi, name, **kw):
    """``tangent_gap`` with the hypothesis "phi is concave" declared, through the keyword the engine offers
    (``concave=True`` when ``tangent_gap`` has it; older engines took every undefined phi as concave)."""
    if "concave" in inspect.signature(tangent_gap).parameters:
        kw["concave"] = True
    return tangent_gap(phi, dphi, name=name, **kw)


def _jensen_steps(T, phi, dphi, rel=">="):
    mdef = S(wI[kk] * yI[kk], (kk, 1, K))
    return [Step(phi(mdef), "phi of the mean"),
            Step(S(wI[kk] * (phi(Mm) + dphi(Mm) * (yI[kk] - Mm)), (kk, 1, K)), "the tangent line at m, averaged"),
            Step(S(wI[kk] * phi(yI[kk]), (kk, 1, K)), "concavity", rel=rel, witness=S(wI[kk] * T(yI[kk], Mm), (kk, 1, K)))]


def _jensen_rules():
    return {Mm: S(wI[kk] * yI[kk], (kk, 1, K)), sp.Sum(wI[kk], (kk, 1, K)): 1}


@case("c7-phi_defined_as_square", 7, r"(sum w y)^2 >= sum w y^2: undefined phi in tangent_gap, phi := t^2 by rules", 2)
def _():
    vphi, dvphi = _phi_pair("sq")
    T = declared_concave_gap(vphi, dvphi, "T_adv_sq")
    steps = _jensen_steps(T, vphi, dvphi)
    mdef = S(wI[kk] * yI[kk], (kk, 1, K))
    rules = {**_jensen_rules(), vphi(Mm): Mm**2, dvphi(Mm): 2 * Mm, vphi(yI[kk]): yI[kk] ** 2, vphi(mdef): mdef**2}
    return chain(steps, rules, hypotheses=[sp.Eq(sp.Sum(wI[kk], (kk, 1, K)), 1)])


@case("c7-no_concavity_hypothesis", 7, r"phi(E y) >= E phi(y) for EVERY phi (no concavity hypothesis)", 2)
def _():
    vphi, dvphi = _phi_pair("any")
    T = tangent_gap(vphi, dvphi, name="T_adv_any")  # no concavity declared
    return chain(_jensen_steps(T, vphi, dvphi), _jensen_rules(), hypotheses=[r"w_k \ge 0", sp.Eq(sp.Sum(wI[kk], (kk, 1, K)), 1)],
                 scope=r"for every function $\varphi$ and all weights", title=r"Every $\varphi$")


@case("c7-implemented_square", 7, r"(sum w y)^2 >= sum w y^2 with phi = implemented_function(t^2)", 2)
def _():
    from sympy.utilities.lambdify import implemented_function

    sq = implemented_function(sp.Function("sq_adv"), lambda t: t**2)
    dsq = implemented_function(sp.Function("dsq_adv"), lambda t: 2 * t)
    T = declared_concave_gap(sq, dsq, "T_adv_impl")
    return chain(_jensen_steps(T, sq, dsq), _jensen_rules(), hypotheses=[r"\varphi \text{ concave}"])


@case("c7-reversed_jensen_continuous", 7, r"log E_q y <= E_q log y (witness E_q G(y/m))", 1)
def _():
    yz = fpos(z)
    mbar = Expect(yz, z, q(z))
    return chain([Step(sp.log(mbar), "log of the mean"),
                  Step(Expect(sp.log(yz), z, q(z)), "reversed Jensen", rel="<=",
                       witness=Expect(GibbsFunction(yz / mbar), z, q(z)))])


@case("c7-reversed_jensen_tangent", 7, r"phi(E y) <= E phi(y) for concave phi, tangent_gap witness", 2)
def _():
    vphi, dvphi = _phi_pair("rev")
    T = declared_concave_gap(vphi, dvphi, "T_adv_rev")
    return chain(_jensen_steps(T, vphi, dvphi, rel="<="), _jensen_rules(), hypotheses=[r"\varphi \text{ concave}"])


@case("c7-log_wrong_slope", 7, r"log m >= sum w log y with a 'tangent' of slope 2/m (not a supergradient)", 2)
def _():
    T = tangent_gap(sp.log, lambda t: 2 / t, name="T_adv_slope", positive_domain=True)
    wP = sp.IndexedBase("w", positive=True)
    yP = sp.IndexedBase("y", positive=True)
    mP = sp.Symbol("m", positive=True)
    mdef = S(wP[kk] * yP[kk], (kk, 1, K))
    steps = [Step(sp.log(mdef), "log of the mean"),
             Step(S(wP[kk] * (sp.log(mP) + 2 * (yP[kk] - mP) / mP), (kk, 1, K)), "the 'tangent line', averaged"),
             Step(S(wP[kk] * sp.log(yP[kk]), (kk, 1, K)), "below the tangent", rel=">=",
                  witness=S(wP[kk] * T(yP[kk], mP), (kk, 1, K)))]
    return chain(steps, {mP: mdef, sp.Sum(wP[kk], (kk, 1, K)): 1})


@case("c7-exp_as_concave_undefined", 7, r"exp(E y) >= E exp(y): phi undefined in tangent_gap, phi := exp by rules", 2)
def _():
    vphi, dvphi = _phi_pair("exp")
    T = declared_concave_gap(vphi, dvphi, "T_adv_exp")
    mdef = S(wI[kk] * yI[kk], (kk, 1, K))
    rules = {**_jensen_rules(), vphi(Mm): sp.exp(Mm), dvphi(Mm): sp.exp(Mm), vphi(yI[kk]): sp.exp(yI[kk]),
             vphi(mdef): sp.exp(mdef)}
    return chain(_jensen_steps(T, vphi, dvphi), rules, hypotheses=[r"\varphi \text{ concave}"])


@case("c7-concave_phi_negative_weights", 7, r"phi(E y) >= E phi(y) with weights w_k real (not >= 0): witness needs w >= 0", 2)
def _():
    vphi, dvphi = _phi_pair("negw")
    T = declared_concave_gap(vphi, dvphi, "T_adv_negw")
    wR = sp.IndexedBase("w", real=True)
    mdef = S(wR[kk] * yI[kk], (kk, 1, K))
    steps = [Step(vphi(mdef), "phi of the mean"),
             Step(S(wR[kk] * (vphi(Mm) + dvphi(Mm) * (yI[kk] - Mm)), (kk, 1, K)), "the tangent line"),
             Step(S(wR[kk] * vphi(yI[kk]), (kk, 1, K)), "concavity", rel=">=",
                  witness=S(wR[kk] * T(yI[kk], Mm), (kk, 1, K)))]
    return chain(steps, {Mm: mdef, sp.Sum(wR[kk], (kk, 1, K)): 1}, hypotheses=[r"\varphi \text{ concave}"])


@case("c7-log_tangent_outside_domain", 7, r"log m + (y - m)/m >= log y for every REAL y (the log's tangent gap used outside (0, oo))", 1)
def _():
    T = tangent_gap(sp.log, lambda t: 1 / t, name="T_adv_logdom", positive_domain=True)
    mP = sp.Symbol("m", positive=True)
    return chain([Step(sp.log(mP) + (y - mP) / mP, "the tangent line of log at m"),
                  Step(sp.log(y), "the log lies below its tangent", rel=">=", witness=T(y, mP))])


# =========================================================================================================
# 8. Tampered rules, complex values, side titles
# =========================================================================================================
def _iwae_upper(rule_value, final, declare_given=False):
    """IWAE's L_K <= log E[w-bar] = ... with the rule E[w-bar] = ``rule_value``; ``declare_given``: the rule is listed
    as taken as given, through the engine's ``GIVEN_RULES`` sentinel when it has one (as evidence_monte_carlo does)."""
    import derivations.steps as steps_mod

    zeta = sp.Symbol(r"\zeta", real=True)
    Wb = sp.Function(r"\bar{w}", positive=True)(zeta)
    Q = Qs(zeta)
    rules = {evid(x): sp.Integral(lik(x, z) * prior(z), (z, -OO, OO)), Expect(Wb, zeta, Q): rule_value}
    if declare_given and hasattr(steps_mod, "GIVEN_RULES"):
        rules[steps_mod.GIVEN_RULES] = sp.Tuple(Expect(Wb, zeta, Q))
    steps = [Step(Expect(sp.log(Wb), zeta, Q), "L_K = E log w-bar"),
             Step(sp.log(Expect(Wb, zeta, Q)), "Jensen", rel="<=", witness=Expect(GibbsFunction(Wb / Expect(Wb, zeta, Q)), zeta, Q)),
             Step(final, "the average weight is unbiased")]
    return chain(steps, rules, hypotheses=[r"\mathbb{E}\,\bar w = p(x)"])


@case("c8-iwae_rule_half_px", 8, r"L_K <= log p(x) - log 2, the rule E[w-bar] = p(x) edited to p(x)/2", ANY)
def _():
    return _iwae_upper(evid(x) / 2, sp.log(evid(x) / 2))


@case("c8-iwae_rule_two_px", 8, r"L_K <= log 2 p(x) from the edited rule E[w-bar] = 2 p(x) (the issue's tampering)", ANY)
def _():
    return _iwae_upper(2 * evid(x), sp.log(2 * evid(x)))


@case("c8-flow_det_rule_tampered", 8, r"lim ELBO_sigma = log p(f(x)) + 2 log|det J_f| from an edited determinant rule", ANY)
def _():
    LOG_PF, LOG_DET = _sym(r"\log p(f(x))"), _sym(r"\log|\det J_f(x)|")
    R_J, R_P, R_Q, R_QQ = (sp.Function(nm, real=True)(eps) for nm in ("rJ_adv", "rp_adv", "rQ_adv", "rQQ_adv"))
    NORM = sp.Function("normeps_adv", nonnegative=True)(eps)
    LDJ_Z, LOGP_Z, LOGDET_DEC, DEC_Q = (_sym(t) for t in (r"\log|\det J_f(g(z))|", r"\log p(z)",
                                                            r"\log\det(\sigma^2 (J^\top J)^{-1})", r"DEC_Q"))
    rules = {LDJ_Z: LOG_DET + sigma * R_J, LOGP_Z: LOG_PF + sigma * R_P,
             LOGDET_DEC: 2 * D * sp.log(sigma) - 4 * LDJ_Z,            # tampered: -2 log|det J| edited to -4
             DEC_Q: NORM - 2 * sigma * R_Q + sigma**2 * R_QQ}
    half = D * sp.log(2 * sp.pi) / 2
    h0 = (-half - LOGDET_DEC / 2 - DEC_Q / 2) + LOGP_Z - (-half - D * sp.log(sigma) - NORM / 2)
    h1 = LOGP_Z - (DEC_Q - NORM) / 2 + 2 * LDJ_Z
    lim = lambda e: sp.Limit(Expect(e, eps, phi_eps(eps)), sigma, 0)  # noqa: E731
    steps = [Step(lim(h0), "the Dirac-VAE ELBO"),
             Step(lim(h1), "the normalizers cancel"),
             Step(lim(sp.expand(h1.xreplace(rules))), "Taylor"),
             Step(LOG_PF + 2 * LOG_DET, "dominated convergence")]
    return chain(steps, rules)


@case("c8-reparam_rule_no_1_over_sigma", 8, r"1 = sigma from the rule q := s((z - mu)/sigma) (the 1/sigma edited out)", ANY,
      routes=("rules",))
def _():
    steps = [Step(sp.Integer(1), "one"),
             Step(Expect(1, z, q(z, mu, sigma)), "q is a density"),
             Step(sigma * Expect(1, eps, s(eps)), "z = mu + sigma eps, dz = sigma d eps"),
             Step(sigma, "s is a density")]
    return chain(steps, {q(z, mu, sigma): s((z - mu) / sigma)}, substitutions={"main": {z: (mu + sigma * eps, eps)}})


@case("c8-bayes_rule_tampered", 8, r"log p(x) = ELBO + KL - log 2 from the edited rule p(z|x) := p(x,z) / (2 p(x))", ANY)
def _():
    Q = q(z)
    rules = {evid(x): sp.Integral(joint(x, z), (z, -OO, OO)), post(z, x): joint(x, z) / (2 * evid(x))}
    steps = [Step(sp.log(evid(x)), "the log-evidence"),
             Step(Expect(sp.log(evid(x)), z, Q), "E_q[c] = c"),
             Step(Expect(sp.log(joint(x, z) / post(z, x)), z, Q) - sp.log(2), "Bayes' rule"),
             Step(Expect(sp.log(joint(x, z) / Q), z, Q) + Expect(sp.log(Q / post(z, x)), z, Q) - sp.log(2), "linearity")]
    return chain(steps, rules)


@case("c8-evidence_rule_tampered", 8, r"p(x) = 2 E_{p(z)} p(x|z) from the edited rule p(x) := 2 \int p(x|z) p(z) dz", ANY)
def _():
    return chain([Step(evid(x), "the evidence"),
                  Step(2 * Expect(lik(x, z), z, prior(z)), "the sum rule")],
                 {evid(x): 2 * sp.Integral(lik(x, z) * prior(z), (z, -OO, OO))})


@case("c8-log_square_real", 8, r"log(y^2) = 2 log y for real y (complex for y < 0)", 1)
def _():
    return chain([Step(sp.log(y**2), "log of a square"), Step(2 * sp.log(y), "log a^b = b log a")])


@case("c8-log_product_under_expect", 8, r"E_q log(f g) = E_q log f + E_q log g for real (possibly negative) f, g", 1)
def _():
    return chain([Step(Expect(sp.log(f(z) * g(z)), z, q(z)), "log of a product"),
                  Step(Expect(sp.log(f(z)), z, q(z)) + Expect(sp.log(g(z)), z, q(z)), "log ab = log a + log b")])


@case("c8-log_square_under_expect", 8, r"E_q log(f^2) = 2 E_q log f for real f", 1)
def _():
    return chain([Step(Expect(sp.log(f(z) ** 2), z, q(z)), "log of a square"),
                  Step(2 * Expect(sp.log(f(z)), z, q(z)), "log a^2 = 2 log a")])


@case("c8-log_of_quotient_reals", 8, r"log(a/b) = log a - log b for real a, b (off by 2 pi i when a, b have opposite signs)", 1)
def _():
    return chain([Step(sp.log(a_lo / b_hi), "log of a quotient"), Step(sp.log(a_lo) - sp.log(b_hi), "log a/b = log a - log b")])


@case("c8-log_of_negative", 8, r"log(-1 - y^2) = log(1 + y^2)", 1)
def _():
    return chain([Step(sp.log(-1 - y**2), "a log"), Step(sp.log(1 + y**2), "'the sign goes away in the log'")])


@case("c8-gibbs_of_negative_ratio", 8, r"E_q log(q/f) >= 0 with witness E_q G(f/q) for a real (possibly negative) f", 1)
def _():
    return chain([Step(Expect(sp.log(q(z) / f(z)), z, q(z)), "'KL(q || f)'"),
                  Step(sp.Integer(0), "Gibbs", rel=">=", witness=Expect(GibbsFunction(f(z) / q(z)), z, q(z)))])


@case("c8-sqrt_of_square", 8, r"sqrt(y^2) = y for real y", 1)
def _():
    return chain([Step(sp.sqrt(y**2), "root of a square"), Step(y, "sqrt(a^2) = a")])


@case("c8-side_title_overclaims", 8, r"side title 'L_K <= L_{K+1} for every K' (kind general) over the K = 2 -> 3 chain only", ANY,
      fail_in=ANY)
def _():
    wv = sp.symbols("w1:4", positive=True)
    total = sum(wv)
    loo = [(total - wi) / 2 for wi in wv]
    mean_loo = sum(loo) / 3
    inst = [Step(sp.log(total / 3), "the K = 3 average"),
            Step(sum(sp.log(a) for a in loo) / 3, "Jensen", rel=">=", witness=sum(GibbsFunction(a / mean_loo) for a in loo) / 3)]
    main = [Step(sp.log(total / 3), "the K = 3 average"), Step(sp.log(total / 3), "itself")]
    out = chain(main)
    out["side"] = [Derivation("iwae_monotone", inst, r"IWAE: $\mathcal{L}_K \le \mathcal{L}_{K+1}$ for every $K \ge 1$",
                              "general")]
    return out


@case("c8-kl_display_tampered", 8, r"a display form KL(q||p) shown for E_q log(p/q)", 0)
def _():
    KLf = sp.Function("KL_adv", real=True)
    e = Expect(sp.log(prior(z) / q(z)), z, q(z))
    return chain([Step(e, "the KL", display=KLf(q(z), prior(z))), Step(e, "itself")],
                 {KLf(q(z), prior(z)): Expect(sp.log(q(z) / prior(z)), z, q(z))})


# =========================================================================================================
# Controls: correct chains of the same shapes (must still prove)
# =========================================================================================================
@case("ctrl-marginal_bayes_whole_line", 1, r"\int_{-oo}^{oo} p(x|z) p(z) dz = p(x) (Bayes rule)", control=True)
def _():
    rules = {lik(x, z): post(z, x) * evid(x) / prior(z)}
    return chain([Step(sp.Integral(lik(x, z) * prior(z), (z, -OO, OO)), "the marginal"),
                  Step(sp.Integral(post(z, x) * evid(x), (z, -OO, OO)), "Bayes' rule"),
                  Step(evid(x) * sp.Integral(post(z, x), (z, -OO, OO)), "p(x) is free of z"),
                  Step(evid(x), "the posterior integrates to one")], rules)


@case("ctrl-half_gaussian_doubled", 1, r"2 \int_0^oo N(z; 0, 1) dz = 1 (explicit density)", control=True)
def _():
    return chain([Step(2 * sp.Integral(npdf(z, 0, 1), (z, 0, OO)), "twice the half-normal mass"),
                  Step(sp.Integer(1), "symmetry")])


@case("ctrl-expect_constant", 2, r"E_q[log p(x)] = log p(x)", control=True)
def _():
    return chain([Step(Expect(sp.log(evid(x)), z, q(z)), "a constant under q"), Step(sp.log(evid(x)), "E_q[1] = 1")])


@case("ctrl-elbo_gap", 2, r"log p(x) = ELBO(q) + KL(q || p(z|x))", control=True)
def _():
    Q = q(z)
    rules = {evid(x): sp.Integral(joint(x, z), (z, -OO, OO)), post(z, x): joint(x, z) / evid(x)}
    return chain([Step(sp.log(evid(x)), "the log-evidence"),
                  Step(Expect(sp.log(evid(x)), z, Q), "constant, E_q 1 = 1"),
                  Step(Expect(sp.log(joint(x, z) / post(z, x)), z, Q), "Bayes"),
                  Step(Expect(sp.log(joint(x, z) / Q) + sp.log(Q / post(z, x)), z, Q), "multiply and divide by q"),
                  Step(Expect(sp.log(joint(x, z) / Q), z, Q) + Expect(sp.log(Q / post(z, x)), z, Q), "linearity")],
                 rules)


@case("ctrl-leibniz_with_boundary", 3, r"d/dtheta \int_0^theta z/theta dz = 1 + \int_0^theta d_theta(z/theta) dz = 1/2", control=True)
def _():
    return chain([Step(sp.Derivative(sp.Integral(z / theta, (z, 0, theta)), theta), "the derivative of a mean"),
                  Step((z / theta).subs(z, theta) + sp.Integral(sp.Derivative(z / theta, theta), (z, 0, theta)),
                       "Leibniz with the boundary term f(theta, theta) d theta/d theta"),
                  Step(sp.Rational(1, 2), "integrate")])


@case("ctrl-leibniz_fixed_limits", 3, r"d/dtheta \int_0^1 e^{theta z} dz = \int_0^1 z e^{theta z} dz", control=True)
def _():
    return chain([Step(sp.Derivative(sp.Integral(sp.exp(theta * z), (z, 0, 1)), theta), "fixed limits"),
                  Step(sp.Integral(z * sp.exp(theta * z), (z, 0, 1)), "differentiate under the integral sign")])


@case("ctrl-limit_instance", 4, r"lim_{sigma->0} \int N(z;0,1)(1 + sigma z^2) dz = 1", control=True)
def _():
    body = npdf(z, 0, 1) * (1 + sigma * z**2)
    return chain([Step(sp.Limit(sp.Integral(body, (z, -OO, OO)), sigma, 0), "a perturbed normal mass"),
                  Step(sp.Limit(1 + sigma, sigma, 0), "E z^2 = 1"),
                  Step(sp.Integer(1), "the limit")])


@case("ctrl-reparam_location_scale", 5, r"E_q f = E_s f(mu + sigma eps) for q = s((z-mu)/sigma)/sigma", control=True,
      routes=("rules",))
def _():
    return chain([Step(Expect(f(z), z, q(z, mu, sigma)), "E_q f"),
                  Step(Expect(f(mu + sigma * eps), eps, s(eps)), "LOTUS, z = mu + sigma eps, dz = sigma d eps")],
                 _reflect_rules(False), substitutions={"main": {z: (mu + sigma * eps, eps)}})


@case("ctrl-reparam_reflection_abs", 5, r"E_q f = \int s(eps) f(mu - sigma eps) d eps for q = s((mu-z)/sigma)/sigma (|h'| = sigma)",
      control=True, routes=("rules",))
def _():
    return chain([Step(Expect(f(z), z, q(z, mu, sigma)), "E_q f"),
                  Step(Expect(f(mu - sigma * eps), eps, s(eps)), "z = mu - sigma eps, |dz/d eps| = sigma")],
                 _reflect_rules(True), substitutions={"main": {z: (mu - sigma * eps, eps)}})


@case("ctrl-scaling_limits_mapped", 5, r"\int_0^1 z dz = \int_0^{1/2} 4 eps d eps (z = 2 eps)", control=True)
def _():
    return chain([Step(sp.Integral(z, (z, 0, 1)), "the mean of U(0, 1)"),
                  Step(sp.Integral(4 * eps, (eps, 0, sp.Rational(1, 2))), "z = 2 eps, limits mapped")])


@case("ctrl-log_change_of_variables", 5, r"\int_0^oo f(z) dz = \int_{-oo}^{oo} e^eps f(e^eps) d eps (z = e^eps, limits mapped)",
      control=True, xfail="the engine checks affine changes of variables only (commit 9d6a91d); z = e^eps is a "
                          "correct non-affine one it may legitimately not decide")
def _():
    return chain([Step(sp.Integral(f(zp), (zp, 0, OO)), "f on the half line"),
                  Step(sp.Integral(sp.exp(eps) * f(sp.exp(eps)), (eps, -OO, OO)), "z = e^eps, dz = e^eps d eps")],
                 substitutions={"main": {zp: (sp.exp(eps), eps)}})


@case("ctrl-gibbs_kl", 6, r"KL(q || p) >= 0 with witness E_q G(p/q)", control=True)
def _():
    return chain([Step(Expect(sp.log(q(z) / prior(z)), z, q(z)), "KL(q || p)"),
                  Step(sp.Integer(0), "Gibbs", rel=">=", witness=Expect(GibbsFunction(prior(z) / q(z)), z, q(z)))])


@case("ctrl-jensen_log_continuous", 7, r"log E_q y >= E_q log y for y > 0 (witness E_q G(y/m))", control=True)
def _():
    yz = fpos(z)
    mbar = Expect(yz, z, q(z))
    return chain([Step(sp.log(mbar), "log of the mean"),
                  Step(Expect(sp.log(yz), z, q(z)), "Jensen", rel=">=", witness=Expect(GibbsFunction(yz / mbar), z, q(z)))])


@case("ctrl-jensen_concave_tangent", 7, r"phi(E y) >= E phi(y) for concave phi (hypothesis stated)", control=True)
def _():
    vphi, dvphi = _phi_pair("ctrl")
    T = declared_concave_gap(vphi, dvphi, "T_adv_ctrl")
    return chain(_jensen_steps(T, vphi, dvphi), _jensen_rules(),
                 hypotheses=[r"\varphi \text{ concave}", r"w_k \ge 0", sp.Eq(sp.Sum(wI[kk], (kk, 1, K)), 1)])


@case("ctrl-iwae_upper", 8, r"L_K <= log p(x) with the true rule E[w-bar] = p(x), declared taken as given", control=True)
def _():
    return _iwae_upper(evid(x), sp.log(evid(x)), declare_given=True)


# =========================================================================================================
# Aimed at the fixes themselves (issue 19's review): a stated hypothesis must not unlock more than it says,
# and a density definition off by a non-constant factor must still be caught
# =========================================================================================================
@case("c3-leibniz_hypothesis_stated_moving_limit", 3,
      r"d/dtheta \int_0^theta f dz = \int_0^theta d_theta f dz = 0 with 'Leibniz' stated (the boundary term f(theta) is still owed)", 1)
def _():
    return chain([Step(sp.Derivative(sp.Integral(f(z), (z, 0, theta)), theta), "a moving upper limit"),
                  Step(sp.Integral(sp.Derivative(f(z), theta), (z, 0, theta)), "Leibniz, stated as a hypothesis"),
                  Step(sp.Integer(0), "f does not depend on theta")],
                 hypotheses=[r"\nabla_\theta \int = \int \nabla_\theta \text{ (Leibniz)}"])


@case("c2-posterior_defined_with_a_varying_factor", 2,
      r"E_{p(z|x)}[1] = 1 with p(z | x) := p(x, z) e^{g(x)} / p(x) (the mass e^{g(x)} varies with x)", 1)
def _():
    rules = {evid(x): sp.Integral(joint(x, z), (z, -OO, OO)), post(z, x): joint(x, z) * sp.exp(g(x)) / evid(x)}
    return chain([Step(Expect(sp.Integer(1), z, post(z, x)), "the mass of the posterior"),
                  Step(sp.Integer(1), "a density integrates to one")], rules)


WRONG = [cs for cs in CASES if not cs.control]
CONTROLS = [cs for cs in CASES if cs.control]

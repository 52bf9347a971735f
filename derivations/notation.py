r"""Display symbols for the statements (one place, as in d2l's notation page).

Statements are SymPy relationals over these symbols, e.g. ``Eq(LOG_PX, ELBO + KL_POST)``; each identity's
``definitions`` map them to the concrete expressions of its model, and :meth:`Identity.prove` checks that the
statement so substituted is exactly what the derivation proved.  All quantities are in nats.
"""
import sympy as sp

from derivations.expectation import density


def _s(latex: str) -> sp.Symbol:
    return sp.Symbol(latex, real=True)


LOG_PX = _s(r"\log p(x)")
P_X = _s(r"p(x)")
ELBO = _s(r"\mathcal{L}(q)")
KL_POST = _s(r"\mathrm{KL}(q(z) \| p(z \mid x))")
KL_PRIOR = _s(r"\mathrm{KL}(q(z) \| p(z))")
RECON = _s(r"\mathbb{E}_{q} \log p(x \mid z)")
E_LOG_JOINT = _s(r"\mathbb{E}_{q} \log p(x, z)")
ENTROPY = _s(r"\mathbb{H}[q]")
AVG_KL = _s(r"\frac{1}{N} \sum_{n} \mathrm{KL}(q(z \mid x_n) \| p(z))")
MARGINAL_KL = _s(r"\mathrm{KL}(q_{\mathrm{agg}}(z) \| p(z))")
INDEX_CODE_MI = _s(r"\mathbb{I}_q[n, z]")
LOG_N = _s(r"\log N")


# The general model of the general proofs: densities as undefined positive functions (derivations.expectation)
#: the observation and the latent variable
x = sp.Symbol("x", real=True)
z = sp.Symbol("z", real=True)
#: the variational density q(z) (or q(z | x) with a second argument)
q = density("q")
#: p(x | z), p(z), p(x, z), p(z | x), p(x): one letter p for all, told apart by their arguments
lik = density("p_lik", n_vars=1, symbol="p")
prior = density("p_prior", n_vars=1, symbol="p")
joint = density("p_joint", n_vars=2, symbol="p")
post = density("p_post", n_vars=1, symbol="p")
evid = density("p_evid", n_vars=1, symbol="p")

# The worked instance of the linear-Gaussian model (derivations.models.linear_gaussian), named for display
#: q(z) = N(z; m, v) and p(z | x) = N(z; m_star, v_star)
q_inst = density("q_inst", symbol="q")
post_inst = density("post_inst", symbol="p")
#: the posterior mean and variance of the linear-Gaussian model
M_STAR = sp.Symbol(r"m_{\star}", real=True)
V_STAR = sp.Symbol(r"v_{\star}", positive=True)

r"""Display symbols for the statements (one place, as in d2l's notation page).

Statements are SymPy relationals over these symbols, e.g. ``Eq(LOG_PX, ELBO + KL_POST)``; each identity's
``definitions`` map them to the concrete expressions of its model, and :meth:`Identity.prove` checks that the
statement so substituted is exactly what the derivation proved.  All quantities are in nats.
"""
import sympy as sp


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

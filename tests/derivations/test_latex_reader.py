r"""The reader of the course's LaTeX: each construct read into the engine's objects, and unreadable lines refused
with their column and token."""
import pytest
import sympy as sp

pytest.importorskip("lark", reason="derivations.latex_reader needs lark (pyproject dependency)")

from derivations import notation  # noqa: E402
from derivations.expectation import Expect, NormalPDF  # noqa: E402
from derivations.latex_reader import KL, LatexReadError, Reader, expand_kl, read_latex, read_relation  # noqa: E402

x, z = notation.x, notation.z
theta, phi, mu = (sp.Symbol(n, real=True) for n in ("theta", "phi", "mu"))
sigma = sp.Symbol("sigma", positive=True)
N, K = sp.Symbol("N", integer=True, positive=True), sp.Symbol("K", integer=True, positive=True)
n, k = sp.Symbol("n", integer=True), sp.Symbol("k", integer=True)


@pytest.mark.parametrize("tex, expected", [
    (r"\log p_\theta(x)", sp.log(notation.evid(x, theta))),
    (r"p(x, z)", notation.joint(x, z)),
    (r"p(z, x)", notation.joint(x, z)),
    (r"p(z \mid x)", notation.post(z, x)),
    (r"p(x | z)", notation.lik(x, z)),
    (r"p(z)", notation.prior(z)),
    (r"q_\phi(z \mid x)", notation.q(z, x, phi)),
    (r"q(z)", notation.q(z)),
    (r"\mathbb{E}_{q(z \mid x)}\left[\log p(x \mid z)\right]", Expect(sp.log(notation.lik(x, z)), z, notation.q(z, x))),
    (r"\mathbb{E}_{z \sim q(z)}[\log q(z)]", Expect(sp.log(notation.q(z)), z, notation.q(z))),
    (r"\mathbb{E}_{q(z)} \log p(x, z)", Expect(sp.log(notation.joint(x, z)), z, notation.q(z))),
    (r"\mathrm{KL}(q(z) \,\|\, p(z))", Expect(sp.log(notation.q(z)) - sp.log(notation.prior(z)), z, notation.q(z))),
    (r"D_{\mathrm{KL}}\left(q(z) \| p(z \mid x)\right)",
     Expect(sp.log(notation.q(z)) - sp.log(notation.post(z, x)), z, notation.q(z))),
    (r"\sum_{n=1}^{N} \log p(x_n)", sp.Sum(sp.log(notation.evid(sp.IndexedBase("x", real=True)[n])), (n, 1, N))),
    (r"\frac{1}{K} \sum_{k=1}^{K} w_k", sp.Sum(sp.IndexedBase("w", real=True)[k], (k, 1, K)) / K),
    (r"\int p(x, z) \, dz", sp.Integral(notation.joint(x, z), (z, -sp.oo, sp.oo))),
    (r"\int_0^\infty p(x \mid z) p(z) \, dz", sp.Integral(notation.lik(x, z) * notation.prior(z), (z, 0, sp.oo))),
    (r"\int q(z) \log q(z) \, dz", sp.Integral(notation.q(z) * sp.log(notation.q(z)), (z, -sp.oo, sp.oo))),
    (r"\frac{p(x, z)}{q(z)}", notation.joint(x, z) / notation.q(z)),
    (r"\tfrac12 \log 2\pi\sigma^2", sp.log(2 * sp.pi * sigma**2) / 2),
    (r"\log \left(2 \pi\right) + 1", sp.log(2 * sp.pi) + 1),
    (r"\nabla_\phi \log q_\phi(z)", sp.Derivative(sp.log(notation.q(z, phi)), phi)),
    (r"\frac{\partial}{\partial \mu} \log \mathcal{N}(z; \mu, \sigma^2)",
     sp.Derivative(sp.log(NormalPDF(z, mu, sigma**2)), mu)),
    (r"\mathcal{N}(z; \mu, \sigma^2)", NormalPDF(z, mu, sigma**2)),
    (r"\mathcal{N}(z \mid \mu, \sigma^2)", NormalPDF(z, mu, sigma**2)),
    (r"\mathbb{E}_{z \sim \mathcal{N}(\mu, \sigma^2)}[z^2]", Expect(z**2, z, NormalPDF(z, mu, sigma**2))),
    (r"\log \det \Sigma", sp.log(sp.Function("det", real=True)(sp.Symbol("Sigma", real=True)))),
    (r"\operatorname{tr}(\Sigma)", sp.Function("tr", real=True)(sp.Symbol("Sigma", real=True))),
    (r"\operatorname{diag}(\sigma^2)", sp.Function("diag", real=True)(sigma**2)),
    (r"\sigma_0^2 + x_1", sp.Symbol("sigma_0", real=True) ** 2 + sp.Symbol("x_1", real=True)),
    (r"\left| \det J \right|", sp.Abs(sp.Function("det", real=True)(sp.Symbol("J", real=True)))),
    (r"f(\mu + \sigma \epsilon)", sp.Function("f", real=True)(mu + sigma * sp.Symbol("epsilon", real=True))),
    (r"a(b + c)", sp.Symbol("a", real=True) * (sp.Symbol("b", real=True) + sp.Symbol("c", real=True))),
    (r"\exp(-a) \cdot b", sp.exp(-sp.Symbol("a", real=True)) * sp.Symbol("b", real=True)),
    (r"\frac{x}{2} - 3 \times y", x / 2 - 3 * sp.Symbol("y", real=True)),
    (r"+x - -y", x + sp.Symbol("y", real=True)),
    (r"\sum_{k=1}^{K} \log w^{(k)}", sp.Sum(sp.log(sp.IndexedBase("w", real=True)[k]), (k, 1, K))),
    (r"z^{(1)} + z^2", sp.Symbol("z_1", real=True) + z**2),
    (r"\mathrm{e}^{-x}", sp.exp(-x)),
    ("μ + σ^2", mu + sigma**2),
    (r"p(x, z) / q(z)", notation.joint(x, z) / notation.q(z)),
])
def test_reads_each_construct(tex, expected):
    got = read_latex(tex, assume={"sigma": {"positive": True}})
    assert sp.simplify(got - expected) == 0 if not got.has(Expect, sp.Integral, sp.Sum) else got == expected


def test_densities_are_the_engines_model_densities():
    assert read_latex(r"p(x, z)").func is notation.joint
    assert read_latex(r"p(z \mid x)").func is notation.post
    assert read_latex(r"q(z)").func is notation.q
    other = read_latex(r"q_{\mathrm{agg}}(z)")
    assert other.func.__name__ == "q_agg[z]" and other.is_positive  # a density of its own, positive


def test_kl_is_kept_for_naming_and_expanded_for_the_engine():
    kept = read_latex(r"\mathrm{KL}(q(z) \,\|\, p(z \mid x))", keep_kl=True)
    assert isinstance(kept, KL) and kept.args == (notation.q(z), notation.post(z, x), z)
    assert expand_kl(kept) == Expect(sp.log(notation.q(z)) - sp.log(notation.post(z, x)), z, notation.q(z))
    assert sp.latex(kept) == r"\mathrm{KL}\left(q\left(z\right) \,\|\, p\left(z \mid x\right)\right)"


def test_bare_kl_letters_resolve_to_the_one_density_of_that_letter():
    r = Reader()
    r.read(r"\mathbb{E}_{q(z \mid x)}[\log p(z)]")
    got = expand_kl(r.read(r"\mathrm{KL}(q \,\|\, p)"))
    assert got == Expect(sp.log(notation.q(z, x)) - sp.log(notation.prior(z)), z, notation.q(z, x))


def test_bare_kl_letters_take_the_variable_of_the_other_density():
    r = Reader()
    r.read(r"\mathbb{E}_{q(z \mid x)}[\log p(x \mid z) + \log p(z)]")  # two p's: p(x | z) and p(z)
    got = expand_kl(r.read(r"\mathrm{KL}(q(z \mid x) \,\|\, p)"))
    assert got == Expect(sp.log(notation.q(z, x)) - sp.log(notation.prior(z)), z, notation.q(z, x))
    with pytest.raises(LatexReadError, match="could mean"):
        r.read(r"\mathrm{KL}(p \,\|\, q)")  # p alone: p(x | z) or p(z)


def test_bare_letter_with_its_parameter():
    r = Reader()
    r.read(r"q_\phi(z \mid x)")
    got = r.read(r"\mathbb{E}_{q_\phi}[\log q_\phi(z \mid x)]")
    assert got == Expect(sp.log(notation.q(z, x, phi)), z, notation.q(z, x, phi))


def test_assumptions_and_sizes():
    s = read_latex(r"\sigma", assume={"sigma": {"positive": True}})
    assert s.is_positive
    assert read_latex("N").is_integer and read_latex("N").is_positive
    assert read_latex("y").is_real and read_latex("y").is_positive is None


def test_relations():
    lhs, rel, rhs = read_relation(r"\sigma > 0")
    assert (lhs, rel, rhs) == (sp.Symbol("sigma", real=True), ">", 0)
    assert read_relation(r"a \ge b")[1] == ">="
    assert read_relation(r"a \leq b")[1] == "<="


@pytest.mark.parametrize("tex, column, token", [
    (r"\log p(x", 9, "end of line"),
    (r"\foo x", 1, r"\foo"),
    (r"a + ", 5, "end of line"),
    (r"a + ) b", 5, ")"),
    (r"\mathbb{E}_{q(z)} [f(z) + ", 27, "end of line"),
    (r"p(x) \approx q(x)", 6, r"\approx"),
    (r"x @ y", 3, "@"),
    ("a + ä", 5, "ä"),
])
def test_unreadable_lines_name_column_and_token(tex, column, token):
    with pytest.raises(LatexReadError) as err:
        read_latex(tex)
    assert err.value.column == column and err.value.token == token
    assert f"column {column}" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("tex, words", [
    (r"\sum_k x_k", "bounds of a sum"),
    (r"\int f(z)", "differential"),
    (r"\mathbb{E}[f(z)]", "density of an expectation"),
    (r"\mathbb{E}_{p(x, z)}[\log p(x)]", "several variables"),
    (r"\mathrm{KL}(q(z) \| p(x))", "same variable"),
    (r"\mathrm{KL}(q \| p)", "with its variable"),
    (r"\mathcal{L}(\theta, \phi)", "named quantity"),
    (r"\mathbb{H}[q(z)]", "named quantity"),
])
def test_unreadable_constructs_say_what_to_write(tex, words):
    with pytest.raises(LatexReadError) as err:
        read_latex(tex)
    assert words in str(err.value) and err.value.column is not None


def test_limits_are_read_with_their_variable_and_point():
    sigma = sp.Symbol("sigma", real=True)
    out = read_latex(r"\lim_{\sigma \to 0} \left(\log a - \frac{\sigma^2}{2}\right)")
    assert out == sp.Limit(sp.log(sp.Symbol("a", real=True)) - sigma**2 / 2, sigma, 0)
    assert out.doit() == sp.log(sp.Symbol("a", real=True))
    assert read_latex(r"\lim_{K \rightarrow \infty} \frac{1}{K}") == sp.Limit(1 / sp.Symbol("K", integer=True, positive=True),
                                                                           sp.Symbol("K", integer=True, positive=True), sp.oo)
    for bad, words in ((r"\lim_{\sigma} f(\sigma)", "variable and the point"), (r"\lim_{2 \to 0} x", "one letter"),
                       (r"f_{x \to 0}", "subscript of a limit")):
        with pytest.raises(LatexReadError) as err:
            read_latex(bad)
        assert words in str(err.value) and err.value.column is not None, (bad, str(err.value))


def test_a_power_after_a_bracket_is_the_brackets_not_the_products():
    """``\\frac{1}{2} (\\log x)^2`` is half the square of the log, not the square of half the log."""
    x_, a_, b_, c_ = (sp.Symbol(n, real=True) for n in ("x", "a", "b", "c_3"))
    assert read_latex(r"\frac{1}{2} (\log x)^2") == sp.log(x_) ** 2 / 2
    assert read_latex(r"3 c_3 \left(a + b\right)^2") == 3 * c_ * (a_ + b_) ** 2
    assert read_latex(r"2(a + b)^2") == 2 * (a_ + b_) ** 2
    assert read_latex(r"f(x)^2") == sp.Function("f", real=True)(x_) ** 2


def test_an_indexed_letter_of_the_identity_keeps_its_assumptions():
    """``w_k`` in a sum is the identity's ``IndexedBase`` (here non-negative), so a written line equals the checked one."""
    w = sp.Symbol("w", nonnegative=True)
    y = sp.Symbol("y", real=True)
    out = Reader(symbols={"w": w, "y": y}).read(r"\sum_{k=1}^{K} w_k y_k")
    (idx_w, idx_y) = sorted(out.atoms(sp.Indexed), key=str)
    assert idx_w.base == sp.IndexedBase("w", nonnegative=True) and idx_w.base != sp.IndexedBase("w", real=True)
    assert idx_y.base == sp.IndexedBase("y", real=True)
    # without the identity's symbols (a student's derivation) a letter is a real IndexedBase, as before
    plain = read_latex(r"\sum_{k=1}^{K} w_k y_k")
    assert {a.base for a in plain.atoms(sp.Indexed)} == {sp.IndexedBase("w", real=True), sp.IndexedBase("y", real=True)}


def test_a_sums_index_is_the_identitys_own_index():
    """``\\sum_{i=1}^{K+1} A_i`` uses the identity's index ``i``, so its rules keyed ``A[i]`` apply to the line."""
    i = sp.Symbol("i", integer=True, positive=True)
    A = sp.IndexedBase("A", positive=True)
    out = Reader(symbols={"i": i, "A": sp.Symbol("A", positive=True)}).read(r"\sum_{i=1}^{K + 1} A_i")
    assert out.limits[0][0] == i and out.function == A[i]
    assert out.xreplace({A[i]: 2}).doit() == 2 * (sp.Symbol("K", integer=True, positive=True) + 1)
    # a sum from 0 does not take the identity's positive i: a new integer index
    from0 = Reader(symbols={"i": i, "A": sp.Symbol("A", positive=True)}).read(r"\sum_{i=0}^{K} A_i")
    assert from0.limits[0][0] == sp.Symbol("i", integer=True)
    # a letter the identity does not use as an integer stays a new integer index
    plain = read_latex(r"\sum_{i=1}^{N} a_i")
    assert plain.limits[0][0] == sp.Symbol("i", integer=True)


def test_a_subscripted_letter_of_the_identity_keeps_its_assumptions():
    """``v_d`` under a sum is the identity's positive coordinate, not a new real one (issue 20, gaussian_kl)."""
    v, d, D = sp.Symbol("v", positive=True), sp.Symbol("d", integer=True), sp.Symbol("D", integer=True, positive=True)
    got = Reader(symbols={"v": v}).read(r"\sum_{d=1}^{D} \log v_d")
    assert got == sp.Sum(sp.log(sp.IndexedBase(v)[d]), (d, 1, D))
    assert got != sp.Sum(sp.log(sp.IndexedBase("v", real=True)[d]), (d, 1, D))
    # without the identity's symbol the coordinate is real, as before
    assert Reader().read(r"\sum_{d=1}^{D} v_d") == sp.Sum(sp.IndexedBase("v", real=True)[d], (d, 1, D))


def test_an_expectation_under_a_named_density_of_a_vector():
    """``\\mathbb{E}_{q(z)}`` where ``q(z)`` names a density of a vector z (an ``IndexedBase``)."""
    from derivations.expectation import density

    zv = sp.IndexedBase("z", real=True)
    qv = density("q_vec_test", symbol="q")(zv)
    got = Reader(names={r"q(z)": qv}).read(r"\mathbb{E}_{q(z)}\left[\log q(z)\right]")
    assert got == Expect(sp.log(qv), zv, qv)


def test_a_sum_index_held_by_a_named_quantity_is_the_identity_s_own():
    """The ``i`` of a named ``p(x_i \\mid z)`` is the index of ``\\sum_{i=1}^{P}`` (issue 20, elbo_decompositions)."""
    from derivations.expectation import density

    i, P = sp.Symbol("i", integer=True, positive=True), sp.Symbol("P", integer=True, positive=True)
    pix = density("p_pix_test", symbol="p")(sp.IndexedBase("x", real=True)[i], z)
    got = Reader(names={r"p(x_i \mid z)": pix}).read(r"\sum_{i=1}^{P} \log p(x_i \mid z)")
    assert got == sp.Sum(sp.log(pix), (i, 1, P))
    # an index no named quantity holds is a new integer symbol, as before
    j = sp.Symbol("j", integer=True)
    assert Reader(names={r"p(x_i \mid z)": pix}).read(r"\sum_{j=1}^{P} w_j") == \
        sp.Sum(sp.IndexedBase("w", real=True)[j], (j, 1, P))

"""The proof machinery: residual reduction, inequalities with witnesses, and reporting the broken step."""

import pytest
import sympy as sp

from derivations import REGISTRY, UnknownIdentityError, get_identity
from derivations.engine import check_link, prove_chain, reduces_to_zero
from _deriv_cache import edited
from derivations.numeric import within
from derivations.steps import Step
from derivations.witnesses import GibbsFunction

a, b = sp.symbols("a b", positive=True)
x = sp.Symbol("x", real=True)


def test_reduces_to_zero_on_log_identities_and_rejects_non_identities():
    assert reduces_to_zero(sp.log(a * b) - sp.log(a) - sp.log(b))
    assert reduces_to_zero(sp.log((a + b) / 2) - sp.log(a + b) + sp.log(2))
    assert not reduces_to_zero(sp.log(a + b) - sp.log(a) - sp.log(b))
    assert not reduces_to_zero(x - x**2)


def test_equality_is_not_structural():
    # (a + b)^2 and a^2 + 2ab + b^2 differ structurally but are equal
    ok, _ = check_link(Step((a + b) ** 2, "start"), Step(a**2 + 2 * a * b + b**2, "expand"))
    assert ok


def test_inequality_needs_a_valid_witness():
    t = sp.Symbol("t", positive=True)
    good = Step(sp.Integer(0), "Gibbs", rel=">=", witness=GibbsFunction(t))
    assert check_link(Step(t - 1 - sp.log(t), "G"), good)[0]
    bad = Step(sp.Integer(0), "wrong witness", rel=">=", witness=GibbsFunction(t) + 1)
    assert not check_link(Step(t - 1 - sp.log(t), "G"), bad)[0]
    # a false inequality comes with a numeric counterexample
    ok, detail = check_link(Step(sp.log(t), "log t"), Step(t, "t", rel=">="))
    assert not ok and "counterexample" in detail


def test_gibbs_function_is_known_nonnegative_only_for_positive_arguments():
    assert GibbsFunction(a).is_nonnegative is True
    assert GibbsFunction(x).is_nonnegative is None
    assert GibbsFunction(sp.Integer(1)) == 0


def test_within_uses_four_standard_errors():
    assert within(1.0 + 3.9 * 0.1, 0.1, 1.0)[0]
    assert not within(1.0 + 4.1 * 0.1, 0.1, 1.0)[0]


@pytest.mark.parametrize("index", [1, 2, 3])
def test_breaking_a_step_reports_that_step(index):
    ident = get_identity("elbo_gap")
    steps = ident.steps
    broken = edited(ident, index, expr=steps[index].expr + sp.Rational(1, 7))
    res = broken.prove()
    assert not res.ok
    # the broken step fails its link with the previous step
    assert res.failed_step == index, res.message
    assert f"step {index}" in res.message and steps[index].why in res.message


def test_breaking_an_inequality_witness_reports_the_step():
    ident = get_identity("jensen")
    res = edited(ident, 2, witness=ident.steps[2].witness * 2).prove()
    assert not res.ok and res.failed_step == 2


def test_statement_must_match_the_chain():
    ident = get_identity("gaussian_kl")
    st = ident.statement
    res = edited(ident, statement=sp.Eq(st.lhs, st.rhs + 1)).prove()
    assert not res.ok and "statement" in res.message


def test_prove_chain_on_empty_and_single_link():
    assert not prove_chain([]).ok
    assert prove_chain([Step(a * b, "ab"), Step(b * a, "commutes")]).ok


def test_get_identity_unknown_name_lists_known_names():
    with pytest.raises(UnknownIdentityError) as exc:
        get_identity("elbo_gapp")
    assert isinstance(exc.value, KeyError)
    msg = str(exc.value)
    assert "elbo_gapp" in msg and all(n in msg for n in REGISTRY)


def test_import_is_light():
    import subprocess
    import sys

    code = ("import sys, time; t = time.perf_counter(); import derivations; "
            "assert 'torch' not in sys.modules, 'torch imported at import time'; "
            "r = derivations.REGISTRY['elbo_gap']; assert r._built is None, 'proof material built at import'; "
            "print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr

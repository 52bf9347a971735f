r"""``check_derivation`` and ``python -m derivations check``: right derivations follow line by line, wrong ones are
flagged at their wrong line with the mistake named, nothing false is ever reported as following, and unreadable
input is refused in one line with its line, column and token."""
from pathlib import Path

import pytest

pytest.importorskip("lark", reason="derivations.check reads LaTeX with lark (pyproject dependency)")

from derivations.__main__ import main  # noqa: E402
from derivations.check import (FAILS, FOLLOWS, UNDECIDED, DerivationReadError, check_derivation,  # noqa: E402
                               check_file)

EXAMPLES = Path(__file__).resolve().parents[2] / "derivations" / "examples"

RIGHT = ["elbo_gap_right.md", "elbo_reconstruction_right.md", "jensen_right.md", "gaussian_kl_right.tex",
         "score_function_right.md"]
#: file -> (the step that is wrong, words of the named mistake, or None when it is no catalog mistake)
WRONG = {
    "elbo_gap_wrong_kl_direction.md": (2, "this is KL(p(z | x) || q(z)), not KL(q(z) || p(z | x))"),
    "jensen_wrong_reversed.md": (2, "a reversed Jensen"),
    "gaussian_kl_wrong_missing_one.tex": (2, "a missing -1 in the Gaussian KL"),
    "gaussian_kl_wrong_log_sigma.tex": (1, "log sigma for log sigma^2"),
    "score_function_wrong_no_log.md": (2, "a score function without the log"),
    "evidence_wrong_limits.md": (1, None),
}


def test_every_example_is_tested():
    assert sorted(RIGHT + list(WRONG)) == sorted(p.name for p in EXAMPLES.iterdir())


@pytest.mark.parametrize("name", RIGHT)
def test_right_derivations_follow_line_by_line(name):
    res = check_file(EXAMPLES / name)
    assert len(res.steps) >= 1
    assert [s.verdict for s in res.steps] == [FOLLOWS] * len(res.steps), res.text()
    assert res.ok and "steps follow" in res.text().splitlines()[-1]


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_derivations_are_flagged_at_their_wrong_line(name):
    wrong_step, mistake = WRONG[name]
    res = check_file(EXAMPLES / name)
    verdicts = [s.verdict for s in res.steps]
    assert verdicts[:wrong_step - 1] == [FOLLOWS] * (wrong_step - 1), res.text()  # the right lines before it
    bad = res.steps[wrong_step - 1]
    assert bad.verdict == FAILS, res.text()
    assert bad.point is not None and bad.left is not None and bad.right is not None
    assert abs(bad.left - bad.right) > 1e-6  # the instance really separates the two sides
    if mistake is None:
        assert bad.mistake is None
    else:
        assert bad.mistake is not None and mistake in bad.mistake, res.text()
    assert not res.ok and res.first_failure is bad


ISSUE_EXAMPLE = r"""
$$\begin{aligned}
\log p(x) &= \mathbb{E}_{q(z)}\left[\log \frac{p(x, z)}{p(z \mid x)}\right] \\
&= \mathbb{E}_{q(z)}\left[\log \frac{p(x, z)}{q(z)}\right] + \mathrm{KL}\left(p(z \mid x) \,\|\, q(z)\right)
\end{aligned}$$
"""


def test_issue_example_is_flagged_at_its_last_line_with_the_kl_direction():
    res = check_derivation(ISSUE_EXAMPLE)
    assert [s.verdict for s in res.steps] == [FOLLOWS, FAILS]
    last = res.steps[-1]
    assert last.line == 4 and last.relation == "="
    assert "this is KL(p(z | x) || q(z)), not KL(q(z) || p(z | x))" in last.mistake
    text = res.text()
    assert "step 2 (line 4, =): DOES NOT FOLLOW" in text and "the left side is" in text


def test_the_point_names_the_parameters_and_both_values():
    res = check_file(EXAMPLES / "gaussian_kl_wrong_missing_one.tex")
    bad = res.steps[1]
    assert bad.point.startswith("μ = ") and "σ = " in bad.point
    line = [ln for ln in res.text().splitlines() if "the left side is" in ln][0]
    assert line.strip() == f"at {bad.point}: the left side is {bad.left:.6g}, the right {bad.right:.6g}"
    assert abs((bad.left - bad.right) - (-0.5)) < 1e-9  # the missing -1, halved


@pytest.mark.parametrize("body", [
    r"1 &\le 0",                                                                           # plainly false
    r"p(x) &= \int_{0}^{\infty} p(x \mid z) \, p(z) \, dz",                                # limits ignored
    r"\mathbb{E}_{q(z)}\left[1\right] &= \int 2 q(z) \, dz",                               # 2q is no density
    r"\log p(x) &= \mathbb{E}_{q(z)}\left[\log \frac{p(x, z)}{q(z)}\right]",               # the ELBO is no equality
    r"\log \mathbb{E}_{q(z)}\left[\frac{p(x, z)}{q(z)}\right] &\le \mathbb{E}_{q(z)}\left[\log \frac{p(x, z)}{q(z)}\right]",
    r"\mathrm{KL}(q(z) \,\|\, p(z)) &= \mathrm{KL}(p(z) \,\|\, q(z))",                     # KL is not symmetric
    r"\nabla_\phi \mathbb{E}_{q_\phi(z)}[f(z)] &= \mathbb{E}_{q_\phi(z)}[\nabla_\phi f(z)]",  # the score term dropped
])
def test_false_steps_never_follow(body):
    res = check_derivation(r"$$\begin{aligned} " + body + r" \end{aligned}$$")
    assert res.steps[0].verdict == FAILS, res.text()
    assert not res.ok


def test_cannot_decide_when_no_instance_can_evaluate():
    # true, and proved by the engine's algebra, but det of a matrix has no random instance here
    res = check_derivation(r"$$\begin{aligned} \log \det \Sigma + 1 &= 1 + \log \det \Sigma \end{aligned}$$")
    assert res.steps[0].verdict == UNDECIDED and "det" in res.steps[0].reason and not res.ok


def test_hypotheses_are_read_and_unused_ones_reported():
    text = (EXAMPLES / "gaussian_kl_right.tex").read_text().replace(r"% assume: \sigma > 0",
                                                                     r"% assume: \sigma > 0, p(x) > 0, a = b")
    res = check_derivation(text)
    assert res.ok and res.hypotheses == [r"\sigma > 0", "p(x) > 0", "a = b"] and res.ignored_hypotheses == ["a = b"]
    assert "hypothesis not used by the checker: a = b" in res.text()


def test_justifications_are_prose():
    res = check_file(EXAMPLES / "elbo_gap_right.md")
    assert res.steps[1].prose == "Bayes' rule"
    assert "multiply and divide by" in res.steps[2].prose


@pytest.mark.parametrize("text, where", [
    ("no block here", r"no \begin{aligned}"),
    (r"$$\begin{aligned} a &= b", r"without \end{aligned}"),
    ("$$\\begin{aligned}\na &= b \\\\\n&= \\foo c\n\\end{aligned}$$", "line 3, column 4"),
    ("$$\\begin{aligned}\na &= \\log p(x \\\\\n&= b\n\\end{aligned}$$", "line 2, column 15"),
    ("$$\\begin{aligned}\na & b\n\\end{aligned}$$", "expected a relation"),
    ("$$\\begin{aligned}\na &= b \\\\\nc &= d\n\\end{aligned}$$", "line 3"),
    ("$$\\begin{aligned}\na\n\\end{aligned}$$", "no step"),
    ("$$\\begin{aligned}\na &= b \\\\\n&= c = d\n\\end{aligned}$$", "line 3: two relations"),
    ("intro\n% assume: \\sigma > 0, \\foo > 1\n$$\\begin{aligned} a &= a \\end{aligned}$$", "line 2, column 23"),
])
def test_unreadable_input_is_one_line_with_line_and_column(text, where):
    with pytest.raises(DerivationReadError) as err:
        check_derivation(text)
    assert where in str(err.value) and "\n" not in str(err.value)


def test_cli_exit_codes(tmp_path, capsys):
    assert main(["check", str(EXAMPLES / "elbo_gap_right.md")]) == 0
    assert "all 4 steps follow" in capsys.readouterr().out
    assert main(["check", str(EXAMPLES / "elbo_gap_wrong_kl_direction.md")]) == 1
    out = capsys.readouterr().out
    assert "step 2 (line 5, =): DOES NOT FOLLOW" in out and "wrong direction" in out
    undecided = tmp_path / "d.md"
    undecided.write_text(r"$$\begin{aligned} \log \det \Sigma &= \log \det \Sigma \end{aligned}$$")
    assert main(["check", str(undecided)]) == 1
    assert "CANNOT DECIDE" in capsys.readouterr().out
    bad = tmp_path / "bad.tex"
    bad.write_text("$$\\begin{aligned}\n\\log p(x) &= \\log q(x) + \\oops\n\\end{aligned}$$\n")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "line 2, column 26" in err and r"\oops" in err
    assert main(["check", str(tmp_path / "missing.md")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "x.txt")]) == 2
    assert main(["check"]) == 2


def _one(body: str, assume: str = ""):
    text = (f"% assume: {assume}\n" if assume else "") + r"$$\begin{aligned} " + body + r" \end{aligned}$$"
    return check_derivation(text).steps[0]


@pytest.mark.parametrize("body, assume, words", [
    (r"\mathbb{E}_{q(z)}\left[\log \frac{p(x, z)}{q(z)}\right] &= \log p(x) + \mathrm{KL}(q(z) \,\|\, p(z \mid x))",
     "", "the KL's sign is flipped"),
    (r"\log \frac{1}{K} \sum_{k=1}^{K} w_k &= \log \sum_{k=1}^{K} w_k", "", "the IWAE bound without 1/K"),
    (r"\frac{1}{2}\left(\sigma^2 + \mu^2 - 1 - \log \sigma^2\right) &= "
     r"\frac{\sigma^2 + \mu^2 - 1 - \log \sigma^2}{2 \log 2}", r"\sigma > 0", "bits for nats"),
    (r"\frac{1}{2}\left(\sigma^2 + \mu^2 - 1 - \log \sigma^2\right) &= "
     r"\frac{1}{2}\left(\sigma^2 + \mu^2 - 1 - 2 \log \sigma^2\right)", r"\sigma > 0", "log sigma for log sigma^2"),
    (r"\frac{1}{M} \sum_{m=1}^{M} c_m &= \frac{N}{M} \cdot \frac{1}{M} \sum_{m=1}^{M} c_m", "", "N/M weighting"),
    (r"\frac{1}{2} \sum_{d=1}^{D} \left(v_d + m_d^2 - 1 - \log v_d\right) &= "
     r"\frac{1}{2} \sum_{d=1}^{D} \left(v_d + m_d^2 - \log v_d\right)", "v_d > 0", "a missing -D"),
    (r"\log p(x) &= \log p(f(x)) + \log \left| \frac{\partial f(x)}{\partial x} \right| \\ &= \log p(f(x))", "",
     None),
])
def test_catalog_mistakes_are_named(body, assume, words):
    res = check_derivation((f"% assume: {assume}\n" if assume else "") + r"$$\begin{aligned} " + body +
                           r" \end{aligned}$$")
    bad = res.steps[-1]
    assert bad.verdict == FAILS, res.text()
    if words is None:  # the flow: the log-determinant dropped on the last line
        assert "a flow without its log-determinant" in bad.mistake
    else:
        assert words in bad.mistake, res.text()


def test_changes_of_variables_are_not_refuted_by_the_discrete_model():
    # true (u = z / 2): a few points of z would not model it, so the continuous instances decide the numbers
    step = _one(r"\int q(z) f(z) \, dz &= \int 2 q(2u) f(2u) \, du")
    assert step.verdict == UNDECIDED and "holds on 2 random continuous instances" in step.reason
    assert _one(r"\int q(z) f(z) \, dz &= \int q(2u) f(2u) \, du").verdict == FAILS  # without the Jacobian 2
    assert _one(r"\int f(z) \, dz &= \int 2 f(2u) \, du").verdict == UNDECIDED  # need not converge: no numbers


def test_reparameterization_gradient():
    mu_path = (r"\frac{\partial}{\partial \mu} \mathbb{E}_{\epsilon \sim \mathcal{N}(0, 1)}\left[f(\mu + \sigma "
               r"\epsilon)\right] &= \mathbb{E}_{\epsilon \sim \mathcal{N}(0, 1)}\left[f'(\mu + \sigma \epsilon)\right]")
    assert _one(mu_path, r"\sigma > 0, Leibniz").verdict == FOLLOWS
    # without the stated hypothesis, differentiating under the expectation is not certified
    assert _one(mu_path, r"\sigma > 0").verdict == UNDECIDED
    sigma_path = mu_path.replace(r"\partial \mu}", r"\partial \sigma}")  # the chain-rule factor epsilon dropped
    assert _one(sigma_path, r"\sigma > 0, Leibniz").verdict == FAILS


def test_a_data_set_sum_follows():
    step = _one(r"\sum_{n=1}^{N} \log p(x_n) &= \sum_{n=1}^{N} \left( \mathbb{E}_{q(z \mid x_n)}\left[\log "
                r"\frac{p(x_n, z)}{q(z \mid x_n)}\right] + \mathrm{KL}\left(q(z \mid x_n) \,\|\, p(z \mid x_n)\right)"
                r" \right)")
    assert step.verdict == FOLLOWS, step.reason


def test_a_discrete_counterexample_shows_its_tables():
    bad = check_derivation(ISSUE_EXAMPLE).steps[-1]
    assert bad.point.startswith("x = ") and "q(z) = (" in bad.instance and "p(x = " in bad.instance
    q_row = bad.instance.split("q(z) = (")[1].split(")")[0]
    assert abs(sum(float(v) for v in q_row.split(", ")) - 1) < 2e-3  # a normalized table


@pytest.mark.parametrize("body, verdict", [
    (r"\mathbb{E}_{q(z)}\left[\log \frac{p(x, z)}{q(z)}\right] &\le \log p(x)", FOLLOWS),             # the ELBO bound
    (r"\mathrm{KL}(q(z) \,\|\, p(z)) &\ge 0", FOLLOWS),                                             # Gibbs
    (r"\frac{1}{N}\sum_{n=1}^{N} \mathrm{KL}(q(z \mid x_n) \,\|\, p(z)) &\ge 0", FOLLOWS),          # an average of KLs
    (r"\mathbb{E}_{q(z)}\left[\frac{p(x, z)}{q(z)}\right] &= p(x)", FOLLOWS),                       # importance sampling
    (r"\mathbb{E}_{q(z)}\left[\frac{p(x \mid z)}{q(z)}\right] &= p(x)", FAILS),                     # p(z) forgotten
    (r"\int p(x \mid z) \, dz &= 1", FAILS),                                                        # not a density of z
    (r"\int q(z \mid x) \, dx &= 1", FAILS),                                                        # not a density of x
    (r"\nabla_\theta \int_0^\theta f(z) \, dz &= \int_0^\theta \nabla_\theta f(z) \, dz", FAILS),  # Leibniz's boundary term
    (r"\mathbb{E}_{q(z \mid x)}\left[\log q(z \mid x)\right] &= \mathbb{E}_{q(z)}\left[\log q(z)\right]", FAILS),
    (r"\mathbb{E}_{q_\phi(z)}\left[\nabla_\phi \log q_\phi(z)\right] &= 1", FAILS),
    (r"\mathbb{E}_{q_\phi(z)}\left[\nabla_\phi \log q_\phi(z)\right] &= 0", UNDECIDED),            # true; no rule proves it
])
def test_verdicts_of_single_steps(body, verdict):
    step = _one(body)
    assert step.verdict == verdict, step.reason


def test_a_negative_kl_is_named():
    step = _one(r"\mathrm{KL}(q(z) \,\|\, p(z)) &\le 0")
    assert step.verdict == FAILS and "a KL divergence is never negative" in step.mistake


def test_the_checker_imports_no_numeric_stack():
    """The reader, the instances and the checker must run in Pyodide: SymPy, mpmath and lark only."""
    import subprocess
    import sys

    code = ("import sys, derivations.check, derivations.latex_reader, derivations.instances; "
            "print(sorted(m for m in ('numpy', 'scipy', 'torch') if m in sys.modules))")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"

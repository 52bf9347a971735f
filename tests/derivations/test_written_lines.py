"""Every displayed line is the author's LaTeX, read back by the reader and proved equal to what was checked (#20).

Walks the registry: each step of each derivation of each identity (and of each wrong twin) carries ``Step.tex``,
each identity a ``statement_tex``; :func:`derivations.latex.written_problems` reads every one with
:mod:`derivations.latex_reader` and proves it equal to the step's expression (the statement: relation and both
sides).  Titles and twin descriptions are words and math, never ASCII formulas.
"""
from __future__ import annotations

import re

import pytest
import sympy as sp

from derivations import get_identity
from derivations.latex import chain_tex, split_terms, written_problems, break_tex, visible_width
from derivations.registry import REGISTRY
from derivations.steps import Derivation, Step

NAMES = list(REGISTRY)
TWINS = [tw.name for ident in REGISTRY.values() for tw in ident.wrong_twins]


def _twin(name):
    base = get_identity(name.split("~")[0])
    return next(t for t in base.wrong_twins if t.name == name)


@pytest.mark.parametrize("name", NAMES)
def test_every_line_is_written_and_read_back(name):
    ident = get_identity(name)
    missing = [f"[{d.label}] step {i}" for d in ident.derivations for i, s in enumerate(d.steps) if not s.tex]
    assert not missing, f"{name}: lines without author LaTeX (Step.tex): {missing}"
    assert ident.statement_tex, f"{name}: no statement_tex"
    assert written_problems(ident) == []


@pytest.mark.parametrize("name", TWINS)
def test_twin_lines_are_their_own(name):
    """A twin shows its own wrong line: the twin is rejected by the engine, not by a mismatch of its display."""
    twin = _twin(name)
    assert written_problems(twin) == [], f"{name}: its written lines are not its checked ones"


def test_a_written_line_that_is_not_the_checked_one_is_refused():
    ident = get_identity("elbo_gap")
    der = ident.derivations[0]
    wrong = [Step(s.expr, s.why, s.rel, s.witness, s.var, s.display, s.given,
                  tex=(r"\mathbb{E}_{q(z)}\left[\log \frac{p(x, z)}{q(z)}\right] - "
                       r"\mathbb{E}_{q(z)}\left[\log \frac{q(z)}{p(z \mid x)}\right]" if i == 4 else s.tex))
             for i, s in enumerate(der.steps)]

    class Fake:
        names, statement_tex, statement, definitions, rules = {}, "", ident.statement, ident.definitions, ident.rules
        derivations = [Derivation("main", wrong, kind="general")]

    problems = written_problems(Fake())
    assert len(problems) == 1 and "step 4" in problems[0]


def test_an_unreadable_written_line_is_reported_with_its_column():
    ident = get_identity("elbo_gap")
    der = ident.derivations[0]
    bad = [Step(s.expr, s.why, s.rel, tex=(r"\log p(x \mid" if i == 0 else s.tex)) for i, s in enumerate(der.steps)]

    class Fake:
        names, statement_tex, statement, definitions, rules = {}, "", ident.statement, ident.definitions, ident.rules
        derivations = [Derivation("main", bad, kind="general")]

    (problem,) = written_problems(Fake())
    assert "does not read" in problem and "column" in problem


# ASCII math outside $...$: relations, norms, Greek spelled out, sub/superscripts, "grad", "E_q"
_ASCII = re.compile(r">=|<=|\|\||\bgrad\b|\b(?:mu|sigma|Sigma|theta|phi|epsilon)\b|[_^]|\bE_q\b|\bKL\(|->|\bsqrt\b")


def _outside_math(text: str) -> str:
    return re.sub(r"\$[^$]*\$", " ", text)


def _titles(ident):
    yield "title", ident.title
    for d in ident.derivations:
        if d.title:
            yield f"[{d.label}] title", d.title
    for tw in ident.wrong_twins:
        yield f"twin {tw.name}", tw.mistake


@pytest.mark.parametrize("name", NAMES)
def test_titles_are_words_and_math_not_ascii(name):
    bad = [f"{where}: {text!r}" for where, text in _titles(get_identity(name)) if _ASCII.search(_outside_math(text))]
    assert not bad, "ASCII formulas in titles (write words, and math in $...$):\n" + "\n".join(bad)


def test_ascii_title_detector_catches_the_issues_examples():
    for text in ("grad E_q f = E_q[f grad log q]", "KL >= 0, and KL(N(mu, Sigma) || N(0, I))",
                 "log p(x) = ELBO - KL(q || p(z|x))"):
        assert _ASCII.search(_outside_math(text)), text
    assert not _ASCII.search(_outside_math(r"The score function: $\nabla_\phi \mathbb{E}_q f = "
                                            r"\mathbb{E}_q[f \nabla_\phi \log q]$"))


def test_split_terms_keeps_brackets_and_unary_minus_whole():
    assert split_terms(r"a + \frac{b - c}{d} - \left(e + f\right)") == ["a", r"+ \frac{b - c}{d}",
                                                                          r"- \left(e + f\right)"]
    assert split_terms(r"-a + b^{-1}") == ["-a", "+ b^{-1}"]
    assert split_terms(r"\mathbb{E}_{q}\left[\log a - \log b\right]") == [r"\mathbb{E}_{q}\left[\log a - \log b\right]"]


def test_break_tex_fits_the_budget_where_terms_allow():
    tex = r"\log a + \log b + \log c + \log d + \log e"
    lines = break_tex(tex, 12)
    assert len(lines) > 1 and all(visible_width(l) <= 12 for l in lines)
    assert " ".join(lines).replace("  ", " ") == tex


def test_chain_is_one_aligned_block_with_tags():
    tex = chain_tex(get_identity("elbo_gap").derivations[0])
    assert tex.startswith(r"\begin{aligned}") and tex.count(r"\\") == len(get_identity("elbo_gap").steps) - 2
    assert r"\text{(1)}" in tex and r"\text{(0)}" not in tex


#: Lines written as one named quantity (the line's LaTeX is itself a key of the names table): the reader then
#: does not spell them out, so such a line is checked only as the quantity it names.  The worked instances of
#: the reparameterization gradient use sympy.stats expectations of a cubic f, which the engine's Gaussian
#: moments (up to order 2) cannot compare with the reader's expectation; the stationarity lines of the ELBO-gap
#: instance are derivatives "evaluated at" q = p(z | x), a bar the reader does not read.  Known gaps, listed, not
#: hidden.
NAMED_WHOLE_LINES = {
    ("elbo_gap", "stationary_m", 0), ("elbo_gap", "stationary_v", 0),
    ("reparameterization_gradient", "instance_mu", 1), ("reparameterization_gradient", "instance_sigma", 1),
}


def test_a_line_is_read_not_looked_up_whole():
    from derivations.latex import names_of

    whole = set()
    for name, ident in REGISTRY.items():
        for der in ident.derivations:
            table = names_of(ident, der)
            for i, step in enumerate(der.steps):
                tex = (step.tex or "").strip()
                # a named quantity (\mathcal{L}(q^*, \theta)) is fine; an expectation, gradient, integral, sum
                # or fraction the reader could spell out, looked up whole, is not read
                if tex in table and re.search(r"\\mathbb\{E\}|\\nabla|\\int|\\sum|\\frac|\\partial", tex):
                    whole.add((name, der.label, i))
    assert whole <= NAMED_WHOLE_LINES, f"lines looked up whole in the names table: {sorted(whole - NAMED_WHOLE_LINES)}"
    assert whole == NAMED_WHOLE_LINES, f"no longer looked up whole (drop from the list): {sorted(NAMED_WHOLE_LINES - whole)}"


def test_explode_breaks_inside_a_bracketed_sum():
    from derivations.latex import explode

    pieces = explode(r"\mathbb{E}_{q}\left[\log \frac{a}{b} + \log c\right]")
    assert pieces == [r"\mathbb{E}_{q}\Bigg[ \log \frac{a}{b}", r"+ \log c \Bigg]"]
    assert explode(r"\log\left(a\right)") == [r"\log\left(a\right)"]


def test_a_written_line_leaning_on_an_assumption_the_identity_lacks_is_refused():
    """Aimed at the reader's identity symbols: ``\\log v`` is read as the identity's own ``v``.  Where that ``v`` is
    only real, ``\\frac{1}{2}\\log v^2`` is not ``\\log v`` (they differ for v < 0) and the written line is refused;
    where ``v`` is positive, the same text is accepted."""
    v_real, v_pos = sp.Symbol("v", real=True), sp.Symbol("v", positive=True)
    ident = get_identity("elbo_gap")

    def problems(v):
        steps = [Step(sp.log(v**2) / 2, "start", tex=r"\log v"), Step(sp.log(v**2) / 2, "same", tex=r"\log v")]

        class Fake:
            names, statement_tex, statement = {}, "", ident.statement
            definitions, rules = {}, {}
            derivations = [Derivation("main", steps, kind="general")]

        return written_problems(Fake())

    assert len(problems(v_real)) == 2
    assert problems(v_pos) == []

"""Every symbol a chapter's derivations show is defined on that page, or on the notation page, before its first use.

A chapter shows, in this order: the theorem box (title, scope, the written statement, the symbols the identity
introduces -- ``Identity.symbols`` --, hypotheses), the worked instance's model, then each derivation (its title,
the sentence that starts it, the chain, the justifications).  For derivation k, a symbol of its written lines
(read back by :mod:`derivations.latex_reader`) is *defined* when it is written in the math of the notation page's
"Conventions of the text" table, or of anything the page shows before the chain: the theorem box, the model, the
text of derivations 0..k-1, derivation k's title and starting sentence.  (The justifications of a chain come after
it, so they do not define its symbols.)
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import sympy as sp

from derivations import get_identity
from derivations.latex import read_line, reader_for
from derivations.latex_reader import LatexReadError, _Scanner
from derivations.registry import REGISTRY

BOOK = Path(__file__).resolve().parents[2] / "book"


def _math(text: str) -> list:
    return re.findall(r"\$\$?([^$]+)\$\$?", text or "")


def _norm(s: str) -> str:
    return re.sub(r"[\\{}\s]|mathrm|operatorname|mathbb|mathcal|mathbf|boldsymbol", "", s)


class Defined:
    """What a reader has seen: letter/Greek tokens and the normalized math text (for subscripted names)."""

    def __init__(self):
        self.tokens, self.text = set(), ""

    def add(self, *texts):
        for text in texts:
            for chunk in _math(text) if "$" in (text or "") else [text or ""]:
                self.text += " " + _norm(chunk)
                try:
                    toks = _Scanner(chunk).scan()
                except LatexReadError:
                    toks = []
                self.tokens |= {str(t.value) for t in toks if t.type in ("LETTER", "GREEK")}
        return self

    def has(self, name: str) -> bool:
        bare = name.lstrip("\\")
        if bare in self.tokens:
            return True
        m = re.fullmatch(r"([A-Za-z]+?)_?\{?(\d+)\}?", bare)  # w1, w_1, mu3: the family w_k / mu_d
        if m:
            return self.has(m.group(1)) or f"{m.group(1)}_{m.group(2)}" in self.text
        if "_" not in bare and bare.isalpha() and len(bare) == 1:
            return False
        return _norm(name) in self.text or _norm(name).replace("_", "") in self.text.replace("_", "")


def _notation() -> Defined:
    text = (BOOK / "notation.md").read_text()
    table = text.split("## Conventions of the text", 1)[1].split("\n## ", 1)[0]
    symbols = [row.split("|")[1] for row in table.splitlines() if row.startswith("| $")]
    return Defined().add(*symbols)


NOTATION = _notation()


def _used(tex: str, reader) -> set:
    expr = read_line(tex, reader)  # an unreadable line fails here too (and in test_written_lines)
    exprs = list(expr) if isinstance(expr, tuple) else [expr]
    out = set()
    for e in exprs:
        if not isinstance(e, sp.Basic):
            continue
        for s in e.free_symbols:
            if isinstance(s, sp.Symbol) and not s.name.startswith("_"):
                out.add(s.name)
        for idx in e.atoms(sp.Indexed):
            out.add(str(idx.base.label))
    return out


def _chapter_prose(name: str) -> str:
    """The chapter's text before its derivation (its introduction, the theorem box's neighbours)."""
    path = BOOK / "chapters" / f"{name}.md"
    if not path.is_file():
        return ""
    text = path.read_text()
    cut = re.search(r"```\{elbo-identity\}\s+\w+\s*\n:part:\s*derivation", text)
    return text[: cut.start()] if cut else ""


def undefined(ident) -> list:
    from derivations.latex import NOTATION_NAMES, names_of

    box = Defined().add(_chapter_prose(getattr(ident, "name", "")), ident.title, getattr(ident, "scope", ""), ident.statement_tex, getattr(ident, "model", ""),
                        *[f"${h}$" for h in ident.hypotheses],
                        *[f"${k}$ {v}" for k, v in (getattr(ident, "symbols", {}) or {}).items()])
    missing = []
    seen = Defined()
    seen.tokens, seen.text = set(box.tokens), box.text
    for der in ident.derivations:
        seen.add(der.title, der.steps[0].why)
        reader = reader_for(ident, der)
        table = names_of(ident, der)
        # a named quantity (a key of the names table, or the symbol a key stands for) is written by its name
        named = set(map(str, table)) | set(NOTATION_NAMES)
        for i, step in enumerate(der.steps):
            # only the symbols spelled on the line count, not those inside a named quantity's meaning
            rest = step.tex or ""
            for key in sorted(table, key=len, reverse=True):
                rest = rest.replace(key, " ")
            spelled = Defined().add(rest)
            for name in sorted(_used(step.tex or "", reader)):
                if name in named or not spelled.has(name) or NOTATION.has(name) or seen.has(name):
                    continue
                missing.append(f"[{der.label}] step {i}: ${name}$")
        for step in der.steps[1:]:
            seen.add(step.why)
    return missing


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_symbol_is_defined_before_use(name):
    missing = undefined(get_identity(name))
    assert not missing, (f"{name}: symbols shown before the page defines them (add them to the identity's "
                         f"'symbols', its model, or the derivation's title/first sentence):\n" + "\n".join(missing))


def test_an_undefined_symbol_is_caught():
    from derivations.steps import Derivation, Step

    ident = get_identity("elbo_gap")
    x = sp.Symbol("x", real=True)
    rho = sp.Symbol("rho", real=True)

    class Fake:
        title, scope, statement_tex, model, hypotheses, symbols, names = "T", "", r"\log p(x)", "", [], {}, {}
        statement, definitions, rules = ident.statement, ident.definitions, ident.rules
        derivations = [Derivation("main", [Step(x, "start", tex="x"), Step(x * rho, "scale (a wrong step; only its symbols matter here)", tex=r"\rho x")],
                                  kind="general")]

    assert undefined(Fake()) == ["[main] step 1: $rho$"]
    Fake.symbols = {r"\rho": "a number"}
    assert undefined(Fake()) == []


def _headings(text: str) -> list:
    """Markdown headings outside code fences (a ``#`` comment in a code cell is not a heading)."""
    out, fence = [], None
    for line in text.splitlines():
        m = re.match(r"^(`{3,}|:{3,})", line)
        if m:
            if fence is None:
                fence = m.group(1)
            elif line.strip() == fence:
                fence = None
            continue
        if fence is None and re.match(r"#{1,6} ", line):
            out.append(line)
    return out


def test_page_headings_are_words_and_math_not_ascii():
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "derivations"))
    from test_written_lines import _ASCII, _outside_math

    bad = []
    for page in sorted(BOOK.rglob("*.md")):
        if "_build" in page.parts:
            continue
        for h in _headings(page.read_text()):
            if _ASCII.search(re.sub(r"`[^`]*`", " ", _outside_math(h))):
                bad.append(f"{page.relative_to(BOOK)}: {h}")
    assert not bad, "ASCII formulas in headings:\n" + "\n".join(bad)
    assert _headings("# A\n```python\n# KL >= 0\n```\n## B") == ["# A", "## B"]

r"""An identity as LaTeX: the one module the book, the notebooks, the report and the scenes call.

Every displayed line is the author's LaTeX (``Step.tex``, an identity's ``statement_tex``), written as a lecturer
writes it and *read back* by :mod:`derivations.latex_reader`; :func:`written_problems` proves each written line
equal to the expression the engine checked (the link proofs run on those expressions), so what a page shows is
what was proved.  A line with no ``tex`` falls back to SymPy's printing (:func:`step_tex`); the registry test
``tests/derivations/test_written_lines.py`` requires that no displayed line of the ten identities does.

Named quantities (:math:`\mathcal{L}(q)`, :math:`\mathrm{KL}(q(z) \| p(z \mid x))`, ...) are read through a table
of literal LaTeX -> SymPy object (:func:`names_of`): the display symbols of :mod:`derivations.notation` under
their own LaTeX, plus an identity's ``names`` and a derivation's ``names``.  A letter of the line is the
identity's symbol of the same name (so ``v`` is the positive variance of the model, not a new real ``v``).

Layout: :func:`chain_tex` sets a derivation as one ``aligned`` chain, relation signs aligned, each line tagged
``(i)`` for its justification; :func:`break_tex` breaks a long line at its top-level ``+``/``-`` (the author's
own terms, found in the LaTeX string) to fit a column of ``budget`` characters (:func:`visible_width`).
"""
from __future__ import annotations

import re
from typing import Optional

import sympy as sp

__all__ = ["visible_width", "step_tex", "statement_tex", "relation_tex", "names_of", "reader_for", "read_line",
           "written_problems", "split_terms", "split_relation", "break_tex", "chain_tex", "chain_lines", "RELATIONS",
           "NOTATION_NAMES"]

#: relation of a step to the previous line, in LaTeX
RELATIONS = {"=": "=", ">=": r"\ge", "<=": r"\le"}


def _notation_names() -> dict:
    from derivations import notation
    from derivations.latex_reader import LatexReadError, read_latex

    out = {}
    for v in vars(notation).values():
        if isinstance(v, sp.Symbol) and v.name not in ("x", "z"):
            try:
                read_latex(v.name)
            except LatexReadError:
                out[v.name] = v  # a name the reader cannot spell out: read as the notation's symbol
    return out


#: the display symbols of :mod:`derivations.notation` that the reader cannot read as written (``\mathcal{L}(q)``
#: -> ``ELBO``, ``m_{\star}``): a line writes them under their own LaTeX; the rest (``\log p(x)``) it reads
NOTATION_NAMES: dict = _notation_names()


# --------------------------------------------------------------------------------------------- widths
_FRAC = re.compile(r"\\(?:d|t)?frac\{([^{}]*)\}\{([^{}]*)\}")
_ZERO_WIDTH = re.compile(
    r"\\(?:left|right|big|Big|bigg|Bigg|bigl|bigr|Bigl|Bigr|mathrm|mathbb|mathcal|mathbf|operatorname|displaystyle|"
    r"textstyle|limits|nolimits|text|mathit|boldsymbol)\b")


def visible_width(tex: str) -> int:
    """A rough count of the characters a LaTeX line shows (fractions count their wider part, commands one,
    scripts two thirds); calibrated against MathJax in the book's browser test."""
    s = tex
    for _ in range(20):  # innermost fractions first
        s, n = _FRAC.subn(lambda m: max(m.group(1), m.group(2), key=len), s)
        if not n:
            break
    s = _ZERO_WIDTH.sub("", s)
    s = re.sub(r"\\(log|exp|det|tr|lim|sin|cos|max|min|diag)(?![A-Za-z])", r"\1", s)  # operators show their name
    s = re.sub(r"\\(?:quad|qquad)", "xx", s)
    s = re.sub(r"\\[,;:! ]", "", s)
    s = re.sub(r"\\[A-Za-z]+", "x", s)
    s = re.sub(r"[_^]\{([^{}]*)\}", lambda m: m.group(1)[: max(1, len(m.group(1)) * 2 // 3)], s)
    s = re.sub(r"[{}^_&]", "", s)
    s = re.sub(r"\s+", "", s)
    return len(s)


# --------------------------------------------------------------------------------------------- lines
def step_tex(step) -> str:
    """The LaTeX a step shows: the author's ``tex``; else SymPy's printing of ``display``/``expr``."""
    tex = getattr(step, "tex", None)
    if tex:
        return tex.strip()
    from derivations.steps import latex_as_written

    shown = step.expr if getattr(step, "display", None) is None else step.display
    return latex_as_written(shown)


def relation_tex(rel: str) -> str:
    """``=``, ``\\ge`` or ``\\le`` for a step's ``rel``."""
    return RELATIONS.get(rel, rel)


def statement_tex(ident) -> str:
    """The statement as the author wrote it (``statement_tex``), else SymPy's printing of the relational."""
    tex = getattr(ident, "statement_tex", None)
    if tex:
        return tex.strip()
    from derivations.steps import latex_as_written

    return latex_as_written(ident.statement)


# --------------------------------------------------------------------------------------------- reading
def _norm(name: str) -> str:
    return re.sub(r"[\\{}\s]", "", name)


def names_of(ident, der=None) -> dict:
    """The named quantities a line of ``der`` (of ``ident``) may write: notation, identity, derivation."""
    out = dict(NOTATION_NAMES)
    out.update(getattr(ident, "names", None) or {})
    if der is not None:
        out.update(getattr(der, "names", None) or {})
    return out


def _symbols(exprs) -> dict:
    syms = {}
    for e in exprs:
        if isinstance(e, sp.Basic):
            for s in e.free_symbols:
                if isinstance(s, sp.Symbol):
                    syms.setdefault(_norm(s.name), s)
    return syms


def reader_for(ident, der=None):
    """A :class:`derivations.latex_reader.Reader` with the identity's names and symbols."""
    from derivations.latex_reader import Reader

    exprs = []
    ders = [der] if der is not None else list(ident.derivations)
    for d in ders:
        for s in d.steps:
            exprs.append(s.expr)
    exprs.append(ident.statement)
    exprs.extend(ident.definitions.keys())
    exprs.extend(ident.definitions.values())
    return Reader(names=names_of(ident, der), symbols=_symbols(exprs))


def read_line(text: str, reader):
    """One written line as the engine's objects (``KL`` expanded); a relation gives ``(lhs, rel, rhs)``."""
    from derivations.latex_reader import expand_kl

    out = reader.read(text)
    if isinstance(out, tuple):
        return expand_kl(out[0]), out[1], expand_kl(out[2])
    return expand_kl(out)


def written_problems(ident) -> list:
    """Each written line read back and proved equal to what the engine checked; the problems, as sentences.

    Empty when every ``Step.tex`` (and the ``statement_tex``) parses and equals its step's ``expr`` (the
    statement: its relation and both sides) under the identity's rules.  A line without ``tex`` is not a
    problem here (the registry test asks for ``tex`` everywhere)."""
    from derivations.engine import check_link
    from derivations.latex_reader import LatexReadError
    from derivations.steps import Step

    problems = []
    rules = ident.rules
    for der in ident.derivations:
        reader = reader_for(ident, der)
        for i, step in enumerate(der.steps):
            tex = getattr(step, "tex", None)
            if not tex:
                continue
            where = f"[{der.label}] step {i}"
            try:
                written = read_line(tex, reader)
            except LatexReadError as exc:
                problems.append(f"{where}: the written line does not read: {exc}")
                continue
            if isinstance(written, tuple):
                problems.append(f"{where}: the written line is a relation; write only the expression")
                continue
            ok, detail = check_link(Step(written, "written"), Step(step.expr, "checked"), rules=rules)
            if not ok:
                problems.append(f"{where}: the written line ${tex}$ is not the checked expression: {detail}")
    tex = getattr(ident, "statement_tex", None)
    if tex:
        reader = reader_for(ident)
        try:
            written = read_line(tex, reader)
        except LatexReadError as exc:
            return problems + [f"[statement] the written statement does not read: {exc}"]
        st = ident.statement
        kinds = {sp.Eq: "=", sp.GreaterThan: ">=", sp.LessThan: "<="}
        if not isinstance(written, tuple) or written[1] != kinds.get(type(st)):
            problems.append(f"[statement] the written statement's relation is not the proved one ({kinds.get(type(st))})")
        else:
            for side, a, b in (("left", written[0], st.lhs), ("right", written[2], st.rhs)):
                ok, detail = check_link(Step(a, "written"), Step(b, "checked"), rules=rules)
                if not ok:
                    problems.append(f"[statement] the written {side} side is not the proved one: {detail}")
    return problems


# --------------------------------------------------------------------------------------------- layout
_OPEN = {"{": "}", "(": ")", "[": "]"}


def split_terms(tex: str) -> list:
    r"""The top-level signed terms of a LaTeX line: ``a + \frac{b}{c} - d`` -> ``["a", "+ \frac{b}{c}", "- d"]``.

    Splits only at a ``+``/``-`` outside every brace, bracket and ``\left``/``\right`` pair, and not at a sign
    that follows another operator (a unary minus); a line with one term is returned whole."""
    terms, depth, start, i = [], 0, 0, 0
    prev = ""
    while i < len(tex):
        c = tex[i]
        if tex.startswith(r"\left", i) and not tex[i + 5:i + 6].isalpha():
            depth += 1
            i += 5
            i += 1 if tex[i:i + 1] != "\\" else 2
            prev = "("
            continue
        if tex.startswith(r"\right", i) and not tex[i + 6:i + 7].isalpha():
            depth -= 1
            i += 6
            i += 1 if tex[i:i + 1] != "\\" else 2
            prev = ")"
            continue
        if c == "\\":
            j = i + 1
            while j < len(tex) and tex[j].isalpha():
                j += 1
            if j == i + 1:
                j += 1
            prev = tex[i:j]
            i = j
            continue
        if c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
        elif c in "+-" and depth == 0 and i > start and prev not in ("", "+", "-", "=", "(", "{", "[", "^", "_"):
            terms.append(tex[start:i].strip())
            start = i
        if not c.isspace():
            prev = c
        i += 1
    terms.append(tex[start:].strip())
    return [t for t in terms if t]


_REL = re.compile(r"(\\geq?|\\leq?|=)(?![a-zA-Z])")


def split_relation(tex: str) -> tuple:
    """``(lhs, relation, rhs)`` of a written relation at its first top-level ``=``, ``\\ge`` or ``\\le``;
    ``(tex, None, "")`` when there is none."""
    depth, i = 0, 0
    while i < len(tex):
        if tex.startswith(r"\left", i) and not tex[i + 5:i + 6].isalpha():
            depth, i = depth + 1, i + 5
            continue
        if tex.startswith(r"\right", i) and not tex[i + 6:i + 7].isalpha():
            depth, i = depth - 1, i + 6
            continue
        m = _REL.match(tex, i)
        if depth == 0 and m:
            return tex[:i].strip(), m.group(1), tex[m.end():].strip()
        c = tex[i]
        if c == "\\":
            j = i + 1
            while j < len(tex) and tex[j].isalpha():
                j += 1
            i = max(j, i + 2)
            continue
        depth += c in "{(["
        depth -= c in "})]"
        i += 1
    return tex, None, ""


def _matching_right(tex: str, i: int) -> int:
    """Index just past the ``\\right<delim>`` that closes the ``\\left`` at ``i``; -1 if none."""
    depth, j = 0, i
    while j < len(tex):
        if tex.startswith(r"\left", j) and not tex[j + 5:j + 6].isalpha():
            depth += 1
            j += 5
            continue
        if tex.startswith(r"\right", j) and not tex[j + 6:j + 7].isalpha():
            depth -= 1
            j += 6
            if depth == 0:
                return j + (2 if tex[j:j + 1] == "\\" else 1)
            continue
        j += 1
    return -1


def explode(term: str) -> list:
    r"""A term ``pre \left[ a + b \right] post`` whose bracket holds a sum, as the pieces
    ``pre \Big[ a``, ``+ b \Big] post`` (the same formula; ``\left``/``\right`` cannot span the rows of an
    ``aligned`` block); ``[term]`` when it has no such bracket."""
    i = term.find(r"\left")
    while i != -1:
        end = _matching_right(term, i)
        if end == -1:
            return [term]
        open_d = term[i + 5:i + 6] if term[i + 5:i + 6] != "\\" else term[i + 5:i + 7]
        close_start = term.rfind(r"\right", i, end)
        close_d = term[close_start + 6:end]
        inner = term[i + 5 + len(open_d):close_start]
        parts = split_terms(inner)
        if len(parts) > 1 and close_d != ".":
            pre, post = term[:i], term[end:]
            big = {"(": "(", "[": "[", r"\{": r"\{", "|": "|"}
            if open_d not in big:
                return [term]
            size = r"\Bigg" if r"\frac" in inner else r"\Big"  # as tall as a fraction inside
            parts[0] = f"{pre}{size}{open_d} {parts[0]}"
            parts[-1] = f"{parts[-1]} {size}{close_d}{post}"
            return parts
        i = term.find(r"\left", end)
    return [term]


def break_tex(tex: str, budget: int, first_prefix: str = "") -> list:
    """``tex`` as lines of at most ``budget`` visible characters, broken at its top-level terms (greedy), a
    term too wide for a line broken inside its outer bracket (:func:`explode`); a piece wider than ``budget``
    stays whole.  ``first_prefix`` (a relation) starts the first line."""
    terms = []
    for t in split_terms(tex):
        terms.extend(explode(t) if visible_width(t) > budget else [t])
    lines, cur = [], first_prefix
    for t in terms:
        cand = f"{cur} {t}".strip()
        if cur.strip() and cur != first_prefix and visible_width(cand) > budget:
            lines.append(cur)
            cur = t
        else:
            cur = cand
    lines.append(cur)
    return lines


def chain_lines(der, budget: Optional[int] = None) -> list:
    """``[(aligned row, step index or None)]`` of a derivation: ``first & rel line`` rows, continuation rows
    ``& \\quad term`` for a line broken to fit ``budget`` (``None``: never break)."""
    steps = list(der.steps)
    rows = []
    first = step_tex(steps[0])
    big = budget is not None and visible_width(first) > budget // 2
    if len(steps) == 1:
        return [(first, 0)]
    if big:  # the first expression alone on its line, the chain below it
        for j, piece in enumerate(break_tex(first, budget) if budget else [first]):
            rows.append((("& " if j == 0 else r"& \quad ") + piece, 0 if j == 0 else None))
        lead = ""
    else:
        rows.append(None)  # placeholder: the first expression leads the first relation's row
        lead = first
    # every row sits right of the alignment column, i.e. of the first expression when it leads the first row
    room = (budget - (0 if big else visible_width(first)) - 6) if budget else 10**6  # 6: relation and tag
    for i, step in enumerate(steps[1:], start=1):
        rel = relation_tex(step.rel)
        body = step_tex(step)
        pieces = break_tex(body, max(room, 12))
        for j, piece in enumerate(pieces):
            if j == 0:
                row = f"{lead} & {rel} {piece}".strip() if i == 1 and not big else f"& {rel} {piece}"
                rows.append((row, i))
            else:
                rows.append((rf"& \quad {piece}", None))
    if not big:
        rows.pop(0)
    return rows


def chain_tex(der, budget: Optional[int] = None, tags: bool = True, over: bool = False) -> str:
    r"""One ``aligned`` chain of a derivation; the row of step ``i >= 1`` tagged ``(i)`` when ``tags`` (the
    justification of step 0, the starting expression, is the sentence before the chain).  ``over``: the number
    set above the relation sign instead (:math:`\overset{(1)}{=}`), for a narrow column."""
    out = []
    for row, idx in chain_lines(der, budget if not over else (budget or 0) - 2 or None):
        if over and idx:
            rel = relation_tex(der.steps[idx].rel)
            row = row.replace(f"& {rel} ", rf"& \overset{{({idx})}}{{{rel}}} ", 1)
            out.append(row)
        else:
            out.append(row + (rf" && \text{{({idx})}}" if tags and idx else ""))
    if len(out) == 1 and "&" not in out[0]:
        return out[0]
    return r"\begin{aligned}" + r" \\ ".join(out) + r"\end{aligned}"

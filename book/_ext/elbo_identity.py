r"""``{elbo-identity}``: the one rendering path for an identity's sections (a chapter's source is its prose).

Usage in a chapter (MyST)::

    ```{elbo-identity} jensen
    :part: statement
    ```

Parts:

* ``statement`` -- the theorem box: the title (MyST, math allowed), what exactly was proved (``Identity.scope``),
  the statement as the author wrote it (``Identity.statement_tex``, read back and proved equal to the proved
  relational; labelled ``eq-<name>``), the symbols it introduces (``Identity.symbols``), what it takes as given,
  the source; then the worked instance's model (``Identity.model``) when the registry states one.
* ``derivation`` -- every derivation of the identity (general chain, worked instance, lemmas), each as one
  ``aligned`` chain of the author's lines (``Step.tex``, via :mod:`derivations.latex`, the one module that turns an
  identity into LaTeX), relation signs aligned, each line tagged (1), (2), ... and justified in words below.
* ``verification`` -- ``prove()``, ``check(seed=0)`` and every wrong twin, run by
  :func:`derivations.report.evaluate` while the page is read.  A failed proof, a failed check or a twin that is
  not rejected is a build warning, so ``-W`` stops the build.  The whole part is folded into one dropdown,
  "How this was checked", so a chapter reads as teaching first; the LaTeX/PDF builder prints it open.

The statement's *Source:* line cites the bibliography: each work named in ``Identity.source`` is matched by
``SOURCE_WORKS`` and shown as a citation of its ``references.bib`` entry (a work not there is a build warning).

Everything is generated as MyST text and parsed by the page's own parser, so the HTML and the LaTeX/PDF builders
render it natively (theorem boxes, numbered equations, admonitions, tables).

Long lines are broken at their top-level terms (:func:`derivations.latex.break_tex`): a form for wide columns and,
when it differs, a narrower one shown on phones only (CSS ``elbo-eq-wide`` / ``elbo-eq-narrow``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

_DERIVATIONS = Path(__file__).resolve().parents[2] / "derivations"

#: Budgets, in estimated characters (:func:`visible_width`, calibrated against MathJax's rendering in the
#: browser test), of one displayed line: the column at 1366 px and the PDF page; a 390 px phone.
WIDE = 56
NARROW = 19
NARROW_IN_BOX = 19  # the theorem box is narrower than the column

RELATIONS = {"=": "=", ">=": r"\geq", "<=": r"\leq"}
KIND_TITLES = {
    "general": "General proof",
    "instance": "Worked instance",
    "lemma": "Lemma",
}


# ------------------------------------------------------------------------------------------- line widths
def visible_width(tex: str) -> int:
    """A rough count of the characters a LaTeX line shows (:func:`derivations.latex.visible_width`)."""
    from derivations.latex import visible_width as width

    return width(tex)


#: MathJax size switches and their scale, smallest last: a line that cannot be broken to fit is set smaller.
SIZES = ((r"\small", 0.88), (r"\scriptsize", 0.7))  # smaller is unreadable on a phone


def _fit(tex: str, width: int, budget: int) -> str:
    """``tex`` as is when ``width`` fits ``budget``, else in the largest size switch that makes it fit.

    An ``aligned`` block in a size group is refused by LaTeX's ``split`` (the PDF): the wide form, which the PDF
    shows, keeps it as is (its rows are broken to fit already); only the phone-only narrow form is resized."""
    if width <= budget or (r"\begin{aligned}" in tex and budget >= WIDE):
        return tex
    for switch, scale in SIZES:  # the estimate runs low on long single terms: keep a margin
        if width * scale <= 0.95 * budget:
            return f"{{{switch} {tex}}}"
    return f"{{{SIZES[-1][0]} {tex}}}"


def _widest(tex: str) -> int:
    rows = re.split(r"\\\\", re.sub(r"\\(?:begin|end)\{aligned\}", "", tex))
    return max(visible_width(re.sub(r"&&\s*\\text\{\([0-9]+\)\}", "", r)) for r in rows)


def statement_display(ident, budget: int) -> str:
    """The author's statement (:func:`derivations.latex.statement_tex`), broken at the top-level terms of its
    right side to fit ``budget``."""
    from derivations.latex import break_tex, split_relation, statement_tex

    tex = statement_tex(ident)
    if visible_width(tex) <= budget:
        return tex
    lhs, rel, rhs = split_relation(tex)
    if rel is None:
        return _fit(tex, visible_width(tex), budget)
    if visible_width(lhs) > budget // 2:
        lines = [f"& {lhs}"] + [f"& {line}" if i == 0 else rf"& \quad {line}"
                                 for i, line in enumerate(break_tex(rhs, budget - 2, first_prefix=rel))]
    else:
        body = break_tex(rhs, budget - visible_width(lhs), first_prefix=rel)
        lines = [f"{lhs} & {body[0]}"] + [rf"& \quad {line}" for line in body[1:]]
    out = lines[0] if len(lines) == 1 else r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}"
    return _fit(out, _widest(out), budget)


def chain_display(der, budget: int) -> str:
    """A derivation as one ``aligned`` chain (:func:`derivations.latex.chain_tex`) fitted to ``budget``."""
    from derivations.latex import chain_tex

    narrow = budget < WIDE
    tex = chain_tex(der, budget, over=narrow)  # on a phone the step's number sits over its relation sign
    return _fit(tex, _widest(tex), budget if narrow else budget + 5)  # wide: the tags (1), (2) sit in the margin


# ------------------------------------------------------------------------------------------ registry access
def _identity(name: str):
    from derivations import get_identity

    return get_identity(name)


@lru_cache(maxsize=None)
def _evaluation(name: str, stamp: str) -> dict:
    """``derivations.report.evaluate`` once per identity and per registry fingerprint (``stamp``)."""
    from derivations import report

    return report.evaluate(_identity(name), seed=0, twins=True)


def _scope(ident) -> str:
    scope = getattr(ident, "scope", None)
    if scope:
        return str(scope)
    return ("*What was proved:* the chain in the derivation below, on the model stated there "
            "(the registry does not state a wider scope).")


def _md_escape_code(text: str) -> str:
    return text.replace("`", "'")


def _fence(directive: str, body: str, options: dict | None = None, arg: str = "") -> str:
    """A MyST directive block with a fence longer than any inside ``body``."""
    longest = max([len(m) for m in re.findall(r"^(`{3,}|:{3,})", body, re.M)] + [2])
    fence = "`" * max(3, longest + 1)
    opts = "".join(f":{k}: {v}\n" for k, v in (options or {}).items())
    return f"{fence}{{{directive}}} {arg}".rstrip() + f"\n{opts}\n{body.strip()}\n{fence}\n"


def _math(tex_wide: str, tex_narrow: str, label: str | None = None) -> str:
    """One display equation, with a phone-only broken form when it differs from the wide one."""
    if tex_narrow == tex_wide:
        opts = {"label": label} if label else {}
        return _fence("math", tex_wide, opts)
    opts = {"class": "elbo-eq-wide"}
    if label:
        opts["label"] = label
    wide = _fence("math", tex_wide, opts)
    narrow = _fence("math", tex_narrow, {"class": "elbo-eq-narrow"})
    return wide + "\n" + _fence("only", narrow, arg="html")


# ---------------------------------------------------------------------------------------------- sources
#: The works that ``Identity.source`` strings name, as (pattern of the author-and-title prefix, bibliography key).
#: The prefix is replaced by a citation of the bibliography entry; what follows it (the chapter, slide or
#: equation) is kept as the locator.  A source part that matches none is a build warning (and a test failure,
#: ``tests/book/test_book_sources.py``): every named source must be in ``book/references.bib``.
SOURCE_WORKS: tuple[tuple[re.Pattern, str], ...] = tuple((re.compile(pattern), key) for pattern, key in (
    (r"(?:[A-Z]\.\s)?Isachenko,\s\*?Deep Generative Models\*?,?\s*", "isachenko2024lecture5"),
    (r"(?:[A-Z]\.\s)?Gupta\s&\s(?:[A-Z]\.\s)?Wang,\s(?:\*Variational Autoencoders\*\s\(lecture slides\)"
     r"|'ELBO and KL-divergence'\s\(UCSD,\s2018\)|\*ELBO and KL-Divergence\*\s\(UCSD,\s2018\)),?\s*",
     "gupta2018elbo"),
    (r"(?:S\.\sJ\.\sD\.\s)?Prince,\s\*?Understanding Deep Learning\*?\s\((?:MIT Press,\s)?2023\),?\s*",
     "prince2023understanding"),
    (r"(?:D\.\sP\.\s)?Kingma\s&\s(?:M\.\s)?Welling,\s'Auto-Encoding Variational Bayes',\sICLR\s2014,?\s*",
     "kingma2014auto"),
    (r"Hoffman\s&\sJohnson,\s'ELBO surgery:[^']*',\sNIPS\s2016\sAABI\sworkshop,?\s*", "hoffman2016elbo"),
    (r"(?:Y\.\s)?Burda,\s(?:R\.\s)?Grosse\s&\s(?:R\.\s)?Salakhutdinov,\s'Importance Weighted Autoencoders',"
     r"\sICLR\s2016,?\s*", "burda2016importance"),
    (r"(?:J\.\sL\.\sW\.\sV\.\s)?Jensen,\sActa Mathematica 30\s\(1906\),?\s*", "jensen1906fonctions"),
))


def source_parts(source: str) -> list[str]:
    """``source`` split at its top-level ``;`` (a ``;`` inside parentheses stays in its part)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(source):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == ";" and depth == 0:
            parts.append(source[start:i].strip())
            start = i + 1
    parts.append(source[start:].strip())
    return [p for p in parts if p]


def source_citations(source: str) -> tuple[str, list[str], list[str]]:
    """``(markdown, keys, unmatched)``: the source with each named work replaced by a ``{cite:t}`` of its
    bibliography entry (the locator kept), the keys cited, and the parts that name no known work."""
    shown, keys, unmatched = [], [], []
    for part in source_parts(source):
        for pattern, key in SOURCE_WORKS:
            m = pattern.match(part)
            if m:
                rest = part[m.end():].strip()
                sep = " " if rest.startswith("(") else ", "
                shown.append(f"{{cite:t}}`{key}`" + (sep + rest if rest else ""))
                keys.append(key)
                break
        else:
            shown.append(part)
            unmatched.append(part)
    return "; ".join(shown), keys, unmatched


# ------------------------------------------------------------------------------------------------ parts
def statement_md(ident) -> str:
    wide = statement_display(ident, WIDE)
    narrow = statement_display(ident, NARROW_IN_BOX)
    given = list(getattr(ident, "taken_as_given", []) or [])
    given_line = ("*Taken as given* (stated, not checked): " + "; ".join(given) + "."
                  if given else "*Taken as given:* nothing beyond the hypotheses; every step is checked.")
    symbols = dict(getattr(ident, "symbols", {}) or {})
    symbols_line = ("*Where* (the other symbols are those of the [notation page](../notation.md)):\n\n" +
                    "\n".join(f"- ${tex}$: {meaning}" for tex, meaning in symbols.items()) + "\n"
                    if symbols else "*Symbols:* those of the [notation page](../notation.md).")
    body = "\n".join([
        _scope(ident),
        "",
        _math(wide, narrow, label=f"eq-{ident.name}"),
        symbols_line,
        "",
        given_line,
        "",
        f"*Source:* {source_citations(ident.source)[0]}",
    ])
    out = _fence("prf:theorem", body, {"label": f"thm-{ident.name}"}, arg=ident.title)
    model = getattr(ident, "model", None)
    if model:
        out += "\n" + _fence("admonition", str(model), {"class": "elbo-model"}, arg="The worked instance's model")
    return out


def derivation_md(ident) -> str:
    """Each derivation: its title, the sentence that starts it (step 0's justification), the chain as one
    ``aligned`` block with the lines tagged (1), (2), ..., and the justifications of those lines in words."""
    parts = []
    for der in ident.derivations:
        title = der.title or (KIND_TITLES.get(der.kind, "The chain") if der.label == "main"
                              else der.label.replace("_", " ").capitalize())
        heading = KIND_TITLES.get(der.kind, der.kind.capitalize())
        shown_title = title if title.lower().startswith(heading.lower()) else f"{heading}: {title}"
        parts.append(_fence("container", f"**{shown_title}**", arg="elbo-derivation-title"))
        first_why = str(der.steps[0].why).strip()
        if first_why:
            parts.append(_fence("container", first_why, arg="elbo-why elbo-why-start"))
        parts.append(_math(chain_display(der, WIDE), chain_display(der, NARROW)))
        whys = [f"({i}) {str(step.why).strip()}" for i, step in enumerate(der.steps) if i and str(step.why).strip()]
        if whys:
            parts.append(_fence("container", "\n\n".join(whys), arg="elbo-why"))
    return "\n".join(parts)


def _fmt(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}f}"


def _lines(message: str) -> str:
    """A verdict message with one clause per line (the registry joins its sub-checks with '; ')."""
    return "\n".join(part.strip() for part in message.strip().split("; "))


def numeric_sentence(numeric: dict) -> str:
    """The numeric verdict in words: which error the ± is, and how the tolerance was set."""
    est, se, exact, tol = (numeric[k] for k in ("estimate", "se", "exact", "tol"))
    diff = abs(est - exact)
    try:
        from derivations.numeric import Z_TOL
    except ImportError:  # the split of core.py by role may move it
        Z_TOL = 4.0
    if se and se > 0:
        return (f"estimate {_fmt(est)} ± {_fmt(se)} (± one Monte Carlo standard error, seed 0) against the exact "
                f"{_fmt(exact)}: the difference {diff:.2g} is within the tolerance {tol:.2g} "
                f"({Z_TOL:g} standard errors plus a floating-point floor).")
    return (f"computed without Monte Carlo error (closed form or quadrature): {est:.6g} against the exact {exact:.6g}; "
            f"the difference {diff:.1e} is within the floating-point floor {tol:.0e}.")


#: The dropdown that folds the verification part: the reader opens it when they want the evidence.
CHECKED_TITLE = "How this was checked"
CHECKED_INTRO = ("`prove()` checks every link of every derivation above (a residual reduced to zero by SymPy, an "
                 "inequality by a non-negative witness, each backed by random numeric points) and that the statement "
                 "is exactly what the chain proved; `check(seed=0)` compares a numeric estimate with the closed form; "
                 "every wrong twin (a plausible mistake) must be rejected by both. All of it runs when the book is "
                 "built, and a failure stops the build.")


def verification_md(ident, evaluation: dict) -> tuple[str, list[str]]:
    """MyST for the proof and check verdicts and the twins table; and the problems (build warnings)."""
    problems = []
    proof, numeric = evaluation["proof"], evaluation["numeric"]
    if not proof["ok"]:
        problems.append(f"prove() failed: {proof['message']}")
    if not numeric["ok"]:
        problems.append(f"check() failed: {numeric['message']}")
    proof_title = "✔ Proved" if proof["ok"] else "✘ Proof failed"
    scope = getattr(ident, "scope", None)
    try:
        from derivations.identity import PROVED_MEANS
    except ImportError:  # pragma: no cover - an older derivations package
        PROVED_MEANS = ""
    proof_body = (f"{PROVED_MEANS}\n\n" if PROVED_MEANS else "") + (f"{scope}\n\n" if scope else "") + \
        "```text\n" + _lines(proof["message"]) + "\n```"
    out = [_fence("admonition", proof_body,
                  {"class": f"elbo-verdict elbo-{'ok' if proof['ok'] else 'failed'}"}, arg=proof_title)]
    numeric_title = "✔ Numeric check passed" if numeric["ok"] else "✘ Numeric check failed"
    numeric_body = numeric_sentence(numeric) + "\n\n```text\n" + _lines(numeric["message"]) + "\n```"
    out.append(_fence("admonition", numeric_body,
                      {"class": f"elbo-verdict elbo-{'ok' if numeric['ok'] else 'failed'}"}, arg=numeric_title))
    twins = evaluation.get("twins", [])
    if twins:
        rows = []
        for twin in twins:
            ok = twin["proof_rejected"] and twin["check_rejected"]
            if not ok:
                problems.append(f"wrong twin {twin['name']} was not rejected")
            # a twin is shown by its mistake, in words and math; its registry key stays in the code
            rows.append(
                f"* - {twin['mistake']}\n"
                f"  - {'rejected' if twin['proof_rejected'] else '**accepted**'}\n"
                f"  - {'rejected' if twin['check_rejected'] else '**accepted**'}")
        table = "* - the mistake (a wrong twin)\n  - proof\n  - check\n" + "\n".join(rows)
        out.append(f"The wrong twins -- plausible mistakes -- each run through the same `prove()` and `check()` "
                   f"({len(twins)} twin{'s' if len(twins) != 1 else ''}, all must be rejected):\n")
        out.append(_fence("list-table", table, {"header-rows": "1", "class": "elbo-twins", "widths": "auto"}))
    return "\n".join(out), problems


# -------------------------------------------------------------------------------------------- directive
class ElboIdentity(SphinxDirective):
    """``{elbo-identity} name`` with ``:part: statement | derivation | verification``."""

    required_arguments = 1
    option_spec = {"part": lambda arg: directives.choice(arg, ("statement", "derivation", "verification"))}

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        part = self.options.get("part", "statement")
        # Sphinx re-reads this page when any module of the registry changes (mtime), which re-runs the proofs.
        for path in sorted(_DERIVATIONS.rglob("*.py")):
            self.env.note_dependency(str(path))
        try:
            ident = _identity(name)
        except Exception as exc:  # an unknown name is a build error with the known names
            logger.warning(f"elbo-identity: {exc}", location=self.get_location())
            return []
        problems: list[str] = []
        if part == "statement":
            text = statement_md(ident)
            problems = [f"the source {p!r} names no work of book/references.bib (add it to SOURCE_WORKS)"
                        for p in source_citations(ident.source)[2]]
        elif part == "derivation":
            text = derivation_md(ident)
        else:
            stamp = str(max(p.stat().st_mtime_ns for p in _DERIVATIONS.rglob("*.py")))
            text, problems = verification_md(ident, _evaluation(name, stamp))
            text = _fence("admonition", CHECKED_INTRO + "\n\n" + text,
                          {"class": "dropdown elbo-checked"}, arg=CHECKED_TITLE)
        for problem in problems:
            logger.warning(f"elbo-identity {name}: {problem}", location=self.get_location())
        container = nodes.container(classes=["elbo-identity", f"elbo-identity-{part}"])
        container += self.parse_text_to_nodes(text, allow_section_headings=False)
        return [container]


class ElboTheorems(SphinxDirective):
    """``{elbo-theorems}``: every theorem of the registry in story order, by its title (words and math) with its
    statement as written, each linked to its chapter's theorem box (the book's list of theorems; Sphinx's proof
    index would list internal labels)."""

    def run(self) -> list[nodes.Node]:
        from derivations.registry import REGISTRY

        for path in sorted(_DERIVATIONS.rglob("*.py")):
            self.env.note_dependency(str(path))
        parts = []
        for name, ident in REGISTRY.items():
            parts.append(f"{{prf:ref}}`thm-{name}`: {ident.title}\n")
            parts.append(_math(statement_display(ident, WIDE), statement_display(ident, NARROW)))
        container = nodes.container(classes=["elbo-theorems"])
        container += self.parse_text_to_nodes("\n".join(parts), allow_section_headings=False)
        return [container]


def setup(app) -> dict:
    app.add_directive("elbo-identity", ElboIdentity)
    app.add_directive("elbo-theorems", ElboTheorems)
    app.connect("doctree-read", break_inline_math)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}


# ------------------------------------------------------------------------------------- inline math breaks
#: Inline formulas longer than this (estimated characters) get break opportunities on narrow screens.
INLINE_BREAK = 18
_TOP_RELATIONS = re.compile(r"(=|\\geq?\b|\\leq?\b|\\approx\b|\\to\b|<|>)")
_TOP_SUMS = re.compile(r"(?<![\^_{(\[])\s*([+-])\s*")


def _top_level_cuts(tex: str, pattern: re.Pattern) -> list[int]:
    """Positions where ``pattern`` matches outside every brace, bracket and ``\\left ... \\right`` pair."""
    cuts, depth, i = [], 0, 0
    while i < len(tex):
        if tex.startswith(r"\left", i):
            depth += 1
            i += 5
            continue
        if tex.startswith(r"\right", i):
            depth -= 1
            i += 6
            continue
        ch = tex[i]
        if ch == "\\":  # a command: skip its name (and an escaped brace)
            j = i + 1
            while j < len(tex) and tex[j].isalpha():
                j += 1
            if j == i + 1:
                j += 1
            m = pattern.match(tex, i)
            if depth == 0 and m and i > 0:
                cuts.append(i)
            i = j
            continue
        if ch in "{([":
            depth += 1
        elif ch in "})]":
            depth -= 1
        elif depth == 0 and i > 0 and pattern.match(tex, i):
            cuts.append(i)
        i += 1
    return cuts


def split_inline(tex: str) -> list[str]:
    """An inline formula cut before its top-level relations (then its top-level ``+``/``-``) into pieces that
    read the same when set side by side, so a narrow line can wrap between them."""
    if visible_width(tex) <= INLINE_BREAK or r"\begin" in tex or "&" in tex:
        return [tex]
    pieces = _cut(tex, _TOP_RELATIONS)
    out = []
    for piece in pieces:
        if visible_width(piece) > INLINE_BREAK * 3 // 2:
            out.extend(_cut(piece, re.compile(r"[+-]"), keep_first=True))
        else:
            out.append(piece)
    return [p for p in out if p.strip()]


def _cut(tex: str, pattern: re.Pattern, keep_first: bool = False) -> list[str]:
    cuts = [c for c in _top_level_cuts(tex, pattern) if tex[:c].strip()]
    if keep_first:  # a sign right after a relation stays with it
        cuts = [c for c in cuts if not re.search(r"(=|\\geq?|\\leq?|<|>)\s*$", tex[:c])]
    bounds = [0] + cuts + [len(tex)]
    return [tex[a:b].strip() for a, b in zip(bounds, bounds[1:]) if tex[a:b].strip()]


def break_inline_math(app, doctree) -> None:
    """``doctree-read``: long inline formulas become adjacent inline formulas with a space between them."""
    for node in list(doctree.findall(nodes.math)):
        if isinstance(node.parent, nodes.TextElement) and not isinstance(node.parent, nodes.literal):
            pieces = split_inline(node.astext())
            if len(pieces) < 2:
                continue
            new = []
            for k, piece in enumerate(pieces):
                if k:
                    new.append(nodes.Text(" "))
                new.append(nodes.math(piece, piece, classes=node.get("classes", [])))
            node.parent.replace(node, new)

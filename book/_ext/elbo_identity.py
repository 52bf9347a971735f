r"""``{elbo-identity}``: the one rendering path for an identity's sections (a chapter's source is its prose).

Usage in a chapter (MyST)::

    ```{elbo-identity} jensen
    :part: statement
    ```

Parts:

* ``statement`` -- the theorem box: the title (MyST, math allowed), what exactly was proved (``Identity.scope``),
  the statement (``sympy.latex`` of the proved relational, labelled ``eq-<name>``), the source; then the worked
  instance's model (``Identity.model``) when the registry states one.
* ``derivation`` -- every derivation of the identity (general chain, worked instance, lemmas), each step displayed
  as the registry shows it (``Step.display`` when present, else the checked expression) with its justification
  (MyST, so ``$math$`` renders).
* ``verification`` -- ``prove()``, ``check(seed=0)`` and every wrong twin, run by
  :func:`derivations.report.evaluate` while the page is read.  A failed proof, a failed check or a twin that is
  not rejected is a build warning, so ``-W`` stops the build.  The whole part is folded into one dropdown,
  "How this was checked", so a chapter reads as teaching first; the LaTeX/PDF builder prints it open.

The statement's *Source:* line cites the bibliography: each work named in ``Identity.source`` is matched by
``SOURCE_WORKS`` and shown as a citation of its ``references.bib`` entry (a work not there is a build warning).

Everything is generated as MyST text and parsed by the page's own parser, so the HTML and the LaTeX/PDF builders
render it natively (theorem boxes, numbered equations, admonitions, tables).

Long display lines are broken at their top-level terms (``aligned``): a form for wide columns and, when it differs,
a narrower one shown on phones only (CSS ``elbo-eq-wide`` / ``elbo-eq-narrow``).
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
_FRAC = re.compile(r"\\(?:d|t)?frac\{([^{}]*)\}\{([^{}]*)\}")
_ZERO_WIDTH = re.compile(
    r"\\(?:left|right|big|Big|bigg|Bigg|mathrm|mathbb|mathcal|mathbf|operatorname|displaystyle|textstyle|limits|"
    r"nolimits|text|mathit|boldsymbol)\b"
)


def visible_width(tex: str) -> int:
    """A rough count of the characters a LaTeX line shows (fractions count their wider part, commands one)."""
    s = tex
    for _ in range(20):  # innermost fractions first
        s, n = _FRAC.subn(lambda m: max(m.group(1), m.group(2), key=len), s)
        if not n:
            break
    s = _ZERO_WIDTH.sub("", s)
    s = re.sub(r"\\(?:quad|qquad)", "xx", s)
    s = re.sub(r"\\[,;:! ]", "", s)
    s = re.sub(r"\\[A-Za-z]+", "x", s)
    s = re.sub(r"[_^]\{([^{}]*)\}", lambda m: m.group(1)[: max(1, len(m.group(1)) * 2 // 3)], s)  # scripts are small
    s = re.sub(r"[{}^_&]", "", s)
    s = re.sub(r"\s+", "", s)
    return len(s)


def _latex(expr) -> str:
    import sympy

    return expr if isinstance(expr, str) else sympy.latex(expr)


def _signed_terms(expr) -> list[str] | None:
    """The top-level terms of a SymPy sum as LaTeX with their signs, in the order ``sympy.latex`` prints them."""
    import sympy
    from sympy.printing.latex import LatexPrinter

    if isinstance(expr, str) or not isinstance(expr, sympy.Add):
        return None
    printer = LatexPrinter()
    out = []
    for i, term in enumerate(printer._as_ordered_terms(expr)):
        negative = term.could_extract_minus_sign()
        body = printer._print(-term if negative else term)
        if isinstance(-term if negative else term, sympy.Add):
            body = rf"\left({body}\right)"
        out.append(("- " if negative else ("" if i == 0 else "+ ")) + body)
    return out


def _pack(prefix: str, terms: list[str], budget: int) -> list[str]:
    """Greedy: terms into lines of at most ``budget`` visible characters; the first line starts with ``prefix``."""
    lines, current = [], prefix
    for term in terms:
        candidate = f"{current} {term}".strip()
        if current.strip() and current != prefix and visible_width(candidate) > budget:
            lines.append(current)
            current = term
        else:
            current = candidate
    lines.append(current)
    return lines


_INNER = "ELBOINNERSUM"


def _exploded(term: str) -> list[str]:
    r"""A signed term ``- \left(a + b\right)`` as the pieces ``- \Big( a``, ``+ b \Big)`` (same text, breakable)."""
    m = re.fullmatch(r"([-+]?\s*)\\left\((.*)\\right\)", term.strip(), re.S)
    if not m:
        return [term]
    inner = m.group(2)
    cuts, depth, out, start = [], 0, [], 0
    for i, ch in enumerate(inner):
        depth += ch in "{(["
        depth -= ch in "})]"
        if depth < 0:
            return [term]  # the outer parentheses do not enclose the whole term
        if depth == 0 and ch in "+-" and i > 0 and inner[i - 1] == " ":
            cuts.append(i)
    for cut in cuts + [len(inner)]:
        out.append(inner[start:cut].strip())
        start = cut
    out = [piece for piece in out if piece]
    if len(out) < 2 or any("\\left" in piece and "\\right" not in piece for piece in out):
        return [term]
    out[0] = f"{m.group(1)}\\Big( {out[0]}".strip()
    out[-1] = f"{out[-1]} \\Big)"
    return out


def _plain_product(expr) -> bool:
    """A product without a sign or a denominator (its factors can be set one after the other, line by line)."""
    import sympy

    return (not expr.could_extract_minus_sign() and sympy.fraction(expr)[1] == 1
            and all(not (f.is_Number) for f in expr.as_ordered_factors()))


def _wrapped_terms(expr) -> list[str] | None:
    r"""A sum inside a wrapper (``\lim``, ``\mathbb{E}[...]``, or both) as breakable pieces: the wrapper's opening
    joined to the first term, its closing to the last, brackets as ``\Big[``/``\Big]`` (``\left``/``\right`` cannot
    span the lines of an ``aligned`` block).  The text shown is the same expression; ``None`` if ``expr`` is not such
    a wrapped sum."""
    import sympy

    if isinstance(expr, str) or isinstance(expr, sympy.Add) or not isinstance(expr, sympy.Basic):
        return None
    inner, node = None, expr
    for _ in range(4):  # Limit(Expect(sum)) at most a few levels deep, always through the first argument
        if not node.args:
            return None
        parent, node = node, node.args[0]
        if isinstance(node, sympy.Add):
            inner = node
            break
        if parent is expr and isinstance(expr, sympy.Integral) and isinstance(node, sympy.Mul) and _plain_product(node):
            inner = node
            break
    if inner is None:
        return None
    placeholder = sympy.Symbol(_INNER)
    wrapper = _latex(expr.xreplace({inner: placeholder}))
    if wrapper.count(_INNER) != 1:
        return None
    pre, post = wrapper.split(_INNER)
    if pre.endswith(r"\left[") and post.startswith(r"\right]"):
        pre, post = pre[: -len(r"\left[")] + r"\Big[", r"\Big]" + post[len(r"\right]"):]
    elif pre.endswith(r"\left(") and post.startswith(r"\right)"):
        pre, post = pre[: -len(r"\left(")] + r"\Big(", r"\Big)" + post[len(r"\right)"):]
    elif isinstance(inner, sympy.Mul):
        if not re.fullmatch(r"\\,\s*d[A-Za-z\\{}]+", post.strip()):
            return None  # an integral closes with its differential; anything else: keep the line whole
    elif not post.strip():
        pre, post = pre + r"\Big(", r"\Big)"  # the printer parenthesizes a sum under \lim; the placeholder is bare
    else:
        return None  # a wrapper closing in an unknown way: keep the line whole
    if isinstance(inner, sympy.Mul):  # an integrand that is a product: its factors, joined by \cdot
        from sympy.printing.latex import LatexPrinter
        from sympy.printing.precedence import PRECEDENCE

        printer = LatexPrinter()
        factors = [printer.parenthesize(f, PRECEDENCE["Mul"]) for f in inner.as_ordered_factors()]
        pieces = [factors[0]] + [rf"\cdot {f}" for f in factors[1:]]
    else:
        pieces = [piece for term in _signed_terms(inner) for piece in _exploded(term)]
    pieces[0] = f"{pre} {pieces[0]}".strip()
    pieces[-1] = f"{pieces[-1]} {post}".strip()
    return pieces


def broken(lhs, rel: str | None, rhs, budget: int) -> str:
    """``lhs rel rhs`` (``lhs`` may be ``None``: a continued line ``rel rhs``) as one line or an ``aligned`` block.

    Breaks only at the top-level ``+``/``-`` of ``rhs`` (then of ``lhs``); a single term wider than ``budget``
    stays whole.
    """
    left = "" if lhs is None else _latex(lhs)
    rel_tex = "" if rel is None else rel
    one = f"{left} {rel_tex} {_latex(rhs)}".strip()
    if visible_width(one) <= budget:
        return one
    rhs_terms = _signed_terms(rhs) or _wrapped_terms(rhs) or [_latex(rhs)]
    if lhs is not None and visible_width(left) > budget // 2:
        lhs_terms = _signed_terms(lhs) or [left]
        left_lines = _pack("", lhs_terms, budget)
        head = [f"& {line}" for line in left_lines[:-1]] + [f"& {left_lines[-1]}"]
        body = _pack(f"{rel_tex}", rhs_terms, budget)
        lines = head + [f"& {body[0]}"] + [rf"& \quad {line}" for line in body[1:]]
    else:
        body = _pack("", rhs_terms, budget)
        lines = [f"{left} & {rel_tex} {body[0]}".strip()] + [rf"& \quad {line}" for line in body[1:]]
    tex = one if len(lines) == 1 else r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}"
    return _fit(tex, max(visible_width(line) for line in lines), budget)


#: MathJax size switches and their scale, smallest last: a line that cannot be broken to fit is set smaller.
SIZES = ((r"\small", 0.88), (r"\scriptsize", 0.7))  # smaller is unreadable on a phone


def _fit(tex: str, width: int, budget: int) -> str:
    """``tex`` as is when ``width`` fits ``budget``, else in the largest size switch that makes it fit."""
    if width <= budget:
        return tex
    for switch, scale in SIZES:  # the estimate runs low on long single terms: keep a margin
        if width * scale <= 0.95 * budget:
            return f"{{{switch} {tex}}}"
    return f"{{{SIZES[-1][0]} {tex}}}"


def _statement_parts(statement):
    import sympy

    kinds = {sympy.Eq: "=", sympy.GreaterThan: r"\geq", sympy.LessThan: r"\leq",
             sympy.StrictGreaterThan: ">", sympy.StrictLessThan: "<"}
    rel = kinds.get(type(statement))
    if rel is None:
        return None, None, statement
    return statement.lhs, rel, statement.rhs


# ------------------------------------------------------------------------------------------ registry access
def _identity(name: str):
    from derivations import get_identity

    return get_identity(name)


@lru_cache(maxsize=None)
def _evaluation(name: str, stamp: str) -> dict:
    """``derivations.report.evaluate`` once per identity and per registry fingerprint (``stamp``)."""
    from derivations import report

    return report.evaluate(_identity(name), seed=0, twins=True)


def _step_display(step):
    """What a step shows: its display form (proved equal to the checked expression by D1's API) or the expr."""
    display = getattr(step, "display", None)
    return step.expr if display is None else display


def _derivations(ident) -> list[tuple[str, str, list]]:
    """``[(title, kind, steps)]``: the registry's derivations, main first, with a reader's title."""
    out = []
    for i, der in enumerate(getattr(ident, "derivations", None) or []):
        kind = getattr(der, "kind", None) or ("general" if i == 0 else "lemma")
        title = getattr(der, "title", None) or (
            KIND_TITLES.get(kind, "The chain") if der.label == "main" else der.label.replace("_", " ").capitalize())
        out.append((title, kind, list(der.steps)))
    return out


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
    lhs, rel, rhs = _statement_parts(ident.statement)
    wide = broken(lhs, rel, rhs, WIDE) if rel else _latex(ident.statement)
    narrow = broken(lhs, rel, rhs, NARROW_IN_BOX) if rel else wide
    given = list(getattr(ident, "taken_as_given", []) or [])
    given_line = ("*Taken as given* (stated, not checked): " + "; ".join(given) + "."
                  if given else "*Taken as given:* nothing beyond the hypotheses; every step is checked.")
    body = "\n".join([
        _scope(ident),
        "",
        _math(wide, narrow, label=f"eq-{ident.name}"),
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
    parts = []
    for title, kind, steps in _derivations(ident):
        heading = KIND_TITLES.get(kind, kind.capitalize())
        shown_title = title if title.lower().startswith(heading.lower()) else f"{heading}: {title}"
        parts.append(_fence("container", f"**{shown_title}**", arg="elbo-derivation-title"))
        for i, step in enumerate(steps):
            shown = _step_display(step)
            rel = None if i == 0 else RELATIONS.get(getattr(step, "rel", "="), "=")
            wide = broken(None, rel, shown, WIDE)
            narrow = broken(None, rel, shown, NARROW)
            parts.append(_math(wide, narrow))
            why = str(getattr(step, "why", "")).strip()
            if why:
                parts.append(_fence("container", f"({i}) {why}", arg="elbo-why"))
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
            # the table shows the twin's own name; the identity's prefix (``name~``) is said once above it, so a
            # long name does not overflow the PDF's narrow column
            short = twin["name"].split("~", 1)[-1]
            rows.append(
                f"* - `{_md_escape_code(short)}`\n  - {twin['mistake']}\n"
                f"  - {'rejected' if twin['proof_rejected'] else '**accepted**'}\n"
                f"  - {'rejected' if twin['check_rejected'] else '**accepted**'}")
        table = "* - twin\n  - the mistake\n  - proof\n  - check\n" + "\n".join(rows)
        prefixes = sorted({t["name"].split("~", 1)[0] + "~" for t in twins if "~" in t["name"]})
        named = f", registered as `{_md_escape_code(prefixes[0])}NAME`" if len(prefixes) == 1 else ""
        out.append(f"The wrong twins -- plausible mistakes -- each run through the same `prove()` and `check()` "
                   f"({len(twins)} twin{'s' if len(twins) != 1 else ''}{named}, all must be rejected):\n")
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


def setup(app) -> dict:
    app.add_directive("elbo-identity", ElboIdentity)
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

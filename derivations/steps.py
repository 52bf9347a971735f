r"""The data types of a proof: steps, derivations and the verdicts of the proof engine and the numeric checks.

An identity is a chain of SymPy expressions :math:`e_0 \;R_1\; e_1 \;R_2\; e_2 \cdots e_n` with
:math:`R_i \in \{=, \ge, \le\}`; each :class:`Step` carries one link and its justification, a
:class:`Derivation` is a labelled chain, :class:`ProofResult` and :class:`NumericResult` are the verdicts.
Nothing here runs SymPy beyond building expressions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import sympy as sp

__all__ = ["Step", "Derivation", "ProofResult", "NumericResult", "UnknownIdentityError", "KINDS", "LEIBNIZ",
           "DOMINATED_CONVERGENCE", "PERMIT_LEIBNIZ", "PERMIT_LIMIT", "GIVEN_RULES"]

#: Hypotheses that unlock a rule.  An identity that differentiates under an integral over an infinite interval
#: (or under an expectation), or moves a limit inside an expectation, must list the matching string among its
#: ``hypotheses``: the theorem box then shows it, and only then does the engine apply the rule.
LEIBNIZ = (r"\nabla_\theta \textstyle\int f\, dz = \int \nabla_\theta f\, dz"
           r"\ \text{(an integrable bound on } \nabla_\theta f \text{)}")
DOMINATED_CONVERGENCE = (r"\lim_{\sigma \to 0} \mathbb{E}_{\epsilon}[g_\sigma] = \mathbb{E}_{\epsilon}[\lim_{\sigma \to 0} g_\sigma]"
                         r"\ \text{(dominated convergence)}")
#: the same hypotheses in words, for a theorem box's "taken as given" (math kept short so it wraps on a phone)
LEIBNIZ_PROSE = (r"differentiation under the integral sign, $\nabla_\theta \int f\, dz = \int \nabla_\theta f\, dz$ "
                 r"(an integrable bound on $\nabla_\theta f$)")
DOMINATED_CONVERGENCE_PROSE = (r"dominated convergence: $\lim_{\sigma \to 0} \mathbb{E}_{\epsilon}[g_\sigma] = "
                               r"\mathbb{E}_{\epsilon}[\lim_{\sigma \to 0} g_\sigma]$ (an integrable bound on "
                               r"$g_\sigma$)")
#: the key under which an identity's rules carry the left sides of the rules it *takes as given* (claims such as
#: IWAE's E[w-bar] = p(x) that no rule checks); every other claim among the rules is checked on random instances
GIVEN_RULES = sp.Symbol("given_rules")
#: the sentinels the engine reads in an identity's rules when the hypotheses above are stated
PERMIT_LEIBNIZ = sp.Symbol("permit_leibniz")
PERMIT_LIMIT = sp.Symbol("permit_limit_exchange")

#: What a derivation proves: the statement in general, the same chain on a worked instance, or a lemma.
KINDS = ("general", "instance", "lemma")


class UnknownIdentityError(KeyError):
    """Raised by :func:`derivations.get_identity` for a name not in the registry; lists the known names."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown identity"


def written_order(expr: sp.Basic) -> str:
    """``"none"`` (print the terms as written) if ``expr`` holds an unevaluated sum whose terms the author
    ordered (``Add(..., evaluate=False)``), else ``None`` (SymPy's usual printing order)."""
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.Add) and node.args != sp.Add(*node.args).args:
            return "none"
    return None


def latex_as_written(expr: sp.Basic) -> str:
    """``sympy.latex`` in the author's term order when the expression fixes one (see :func:`written_order`)."""
    return sp.latex(expr, order=written_order(expr))


def _visible_len(tex: str) -> int:
    """Rough count of the characters a LaTeX line shows: commands count as one glyph, braces as none, and a
    fraction as its longer part (numerator over denominator)."""
    import re

    frac = re.compile(r"\\frac\{((?:[^{}]|\{[^{}]*\})*)\}\{((?:[^{}]|\{[^{}]*\})*)\}")
    for _ in range(8):
        new = frac.sub(lambda m: max(m.group(1), m.group(2), key=len), tex)
        if new == tex:
            break
        tex = new
    return len(re.sub(r"[{}]|\\left|\\right|\\,|\\ |\\quad|&", "", re.sub(r"\\[a-zA-Z]+", "x", tex)))


@dataclass(frozen=True)
class Step:
    r"""One link of a derivation.

    Attributes:
        expr: the SymPy expression after this step (what the engine checks).
        why: the justification, a sentence in Markdown with ``$...$`` math and full sources.
        rel: relation of the *previous* expression to this one: ``"="``, ``">="`` or ``"<="``
            (ignored on the first step).
        witness: for ``">="``/``"<="``, an expression ``W`` with ``(larger - smaller) - W == 0`` and ``W >= 0``
            (a positive combination of witness functions, squares, sums and expectations of them).
        var: for an inequality without witness, a symbol in which the difference is convex; the proof then
            checks the second derivative is positive and the value at each stationary point is >= 0.
        display: optional compact form shown instead of ``expr`` (a SymPy expression over display symbols,
            an unevaluated form); :meth:`Identity.prove` checks it equals ``expr`` after substituting the
            identity's definitions, so what is shown is what was checked.
        tex: the line as a lecturer writes it (LaTeX in the course's notation, the expression after the
            relation; for the first step the starting expression).  It is what every page, notebook and
            scene shows, and :func:`derivations.latex.written_problems` reads it back with
            :mod:`derivations.latex_reader` and proves it equal to ``expr`` (part of :meth:`Identity.prove`).
        given: a step *taken as given* -- a hypothesis of the theorem such as EM's M-step gain -- as a sentence
            (Markdown with ``$...$``).  Its link is not checked; the identity lists it in the theorem box under
            "taken as given", so the reader sees exactly what the proof assumes.
    """

    expr: sp.Basic
    why: str
    rel: str = "="
    witness: Optional[sp.Expr] = None
    var: Optional[sp.Symbol] = None
    display: Optional[sp.Basic] = None
    given: Optional[str] = None
    tex: Optional[str] = None

    @property
    def shown(self) -> sp.Basic:
        """The expression to render: ``display`` if given, else ``expr``."""
        return self.expr if self.display is None else self.display

    def latex(self, max_chars: int = 64) -> str:
        r"""``sympy.latex`` of :attr:`shown`; a long sum is split into an ``aligned`` block of short lines.

        ``max_chars`` bounds the *visible* characters of a line (LaTeX commands and braces not counted), so
        a line fits the book's column (about 750 px at 1366 px).
        """
        tex = latex_as_written(self.shown)  # terms in the order the author wrote them
        if _visible_len(tex) <= max_chars or not isinstance(self.shown, sp.Add):
            return tex
        lines, cur = [], ""
        order = written_order(self.shown)
        for term in (self.shown.args if order == "none" else self.shown.as_ordered_terms()):
            t = latex_as_written(term)
            piece = t if not cur and not lines else (" - " + t[1:].lstrip() if t.startswith("-") else " + " + t)
            if cur and _visible_len(cur + piece) > max_chars:
                lines.append(cur)
                cur = piece
            else:
                cur += piece
        lines.append(cur)
        return r"\begin{aligned} & " + r" \\ & \quad ".join(lines) + r" \end{aligned}"

    def relation_latex(self) -> str:
        r"""``=``, ``\ge`` or ``\le``: the relation of this step to the previous one, in LaTeX."""
        return {"=": "=", ">=": r"\ge", "<=": r"\le"}.get(self.rel, self.rel)


@dataclass(frozen=True)
class Derivation:
    """A labelled chain of steps.

    Attributes:
        label: short key (``"main"``, ``"instance"``, ``"gibbs_lemma"``...).
        steps: ``list[Step]``.
        title: one line for the book's heading (Markdown with ``$...$``); defaults to the label.
        kind: ``"general"`` (proves the statement as stated), ``"instance"`` (the same chain on a worked
            model, every symbol a number or closed form) or ``"lemma"`` (a fact used by another chain).
        names: literal LaTeX -> SymPy object, the named quantities this derivation's ``Step.tex`` lines write
            beyond the identity's ``names`` (e.g. ``{r"q(z)": q_inst(z)}`` on a worked instance).
    """

    label: str
    steps: list
    title: str = ""
    kind: str = "lemma"
    names: Optional[dict] = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Derivation kind must be one of {KINDS}, got {self.kind!r}")


@dataclass(frozen=True)
class ProofResult:
    """Outcome of :meth:`Identity.prove`.

    Attributes:
        ok: every link of every derivation checked, every display form matches, the statement matches the
            main chain.
        failed_step: index (into the failing derivation's steps) of the first step that does not follow,
            ``None`` if ok or if the failure is in the statement itself.
        message: human-readable verdict; on failure names the derivation, the step, its justification and
            the unreduced residual (and a numeric counterexample when one was found).
        derivation: label of the derivation the verdict refers to.
    """

    ok: bool
    failed_step: Optional[int]
    message: str
    derivation: str = "main"


@dataclass(frozen=True)
class NumericResult:
    """Outcome of :meth:`Identity.check`: an estimate (Monte Carlo or quadrature) against a closed form.

    Attributes (nats unless the message says otherwise):
        ok: every numeric claim held within its tolerance.
        estimate: the headline estimate; se: its standard error (0 for quadrature);
        exact: the closed-form value it is compared with; tol: the tolerance used (``Z_TOL * se`` + floor).
        message: the headline comparison and every sub-check, one per clause.
    """

    ok: bool
    estimate: float
    se: float
    exact: float
    tol: float
    message: str

"""Formulas on screen: the statements proved in ``derivations``, as their authors wrote them (STYLE.md §2).

``statement(name)`` looks the identity up with ``derivations.get_identity(name)`` (the registry's names; an
unknown name raises ``derivations.UnknownIdentityError`` listing the known ones) and typesets its statement as
:func:`derivations.latex.statement_tex` gives it -- the same LaTeX as the book's page and notebook, read back and
proved equal to the proved relational -- each display symbol of ``derivations.notation`` in its term's color
(``vizlab.palette``).
"""

from __future__ import annotations

import sympy
from manim import MathTex

from vizlab.palette import FOREGROUND, TERM_COLORS
from vizlab.style import FORMULA_SIZE

__all__ = ["NOTATION_TERMS", "latex_of", "formula", "formula_colored", "term_tex_colors", "statement", "rhs", "scene_tex"]

#: ``derivations.notation`` display symbol (by name) -> palette key, to color the terms of a statement.
NOTATION_TERMS: dict[str, str] = {
    "LOG_PX": "log_px",
    "ELBO": "elbo",
    "KL_POST": "gap",
    "RECON": "reconstruction",
    "KL_PRIOR": "avg_kl",
    "AVG_KL": "avg_kl",
    "INDEX_CODE_MI": "index_code_mi",
    "MARGINAL_KL": "marginal_kl",
}


def latex_of(expr) -> str:
    """``sympy.latex`` of a SymPy object (an ``Eq``, relational or expression); strings pass through."""
    return expr if isinstance(expr, str) else sympy.latex(expr)


def _fit(m: MathTex, max_width: float) -> MathTex:
    if m.width > max_width:
        m.scale_to_fit_width(max_width)
    return m


def formula(expr, max_width: float = 12.5, font_size: float = FORMULA_SIZE, color: str = FOREGROUND) -> MathTex:
    """MathTex of ``sympy.latex(expr)``, shrunk to ``max_width`` scene units if needed."""
    return _fit(MathTex(latex_of(expr), font_size=font_size, color=color), max_width)


def term_tex_colors() -> dict[str, str]:
    """LaTeX of each display symbol of ``derivations.notation`` -> its term color."""
    from derivations import notation

    return {sympy.latex(getattr(notation, attr)): TERM_COLORS[key]
            for attr, key in NOTATION_TERMS.items() if hasattr(notation, attr)}


def formula_colored(expr, max_width: float = 12.5, font_size: float = FORMULA_SIZE) -> MathTex:
    """Like ``formula``, with each display symbol of ``derivations.notation`` in its term's color."""
    tex = latex_of(expr)
    colors = {k: v for k, v in term_tex_colors().items() if k in tex}
    if not colors:
        return formula(tex, max_width=max_width, font_size=font_size)
    m = MathTex(tex, font_size=font_size, color=FOREGROUND, substrings_to_isolate=list(colors))
    for k, v in colors.items():
        m.set_color_by_tex(k, v)
    return _fit(m, max_width)


def scene_tex(tex: str) -> str:
    r"""The author's LaTeX without its sizing-only commands (``\left``, ``\right``, ``\,``), so a term reads as
    the notation's symbol does and can take its color; what is shown is the same formula."""
    import re

    tex = re.sub(r"\\(?:left|right)(?![a-zA-Z])\s*", "", tex)
    tex = re.sub(r"\\,", " ", tex)
    return re.sub(r"\s+", " ", tex).strip()


def statement(name: str, max_width: float = 12.5, font_size: float = FORMULA_SIZE, colored: bool = True) -> MathTex:
    """MathTex of the statement of identity ``name`` as written (:func:`derivations.latex.statement_tex`),
    terms colored by the palette.

    Raises ``derivations.UnknownIdentityError`` (a ``KeyError``) if ``name`` is not registered.
    """
    from derivations import get_identity
    from derivations.latex import statement_tex

    make = formula_colored if colored else formula
    return make(scene_tex(statement_tex(get_identity(name))), max_width=max_width, font_size=font_size)


def rhs(expr):
    """Right-hand side of an ``Eq`` / relational, or the expression itself."""
    return expr.rhs if isinstance(expr, sympy.core.relational.Relational) else expr

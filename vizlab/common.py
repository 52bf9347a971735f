"""Manim helpers shared by the scenes: formulas from SymPy, numbers with their source, term bars, legends.

Conventions (STYLE.md): colors come only from ``vizlab.palette``; a formula on screen is
``sympy.latex`` of a proved expression (``formula``); a number on screen is read from a result file or
computed by our code at render time, and ``number_label`` prints where it came from.  All values in nats.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import sympy
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UL,
    Line,
    MathTex,
    NumberLine,
    Rectangle,
    Square,
    Text,
    VGroup,
)

from vizlab.palette import FOREGROUND, TERM_COLORS, TERM_LABELS

__all__ = [
    "LABEL_SIZE",
    "SMALL_SIZE",
    "TITLE_SIZE",
    "formula",
    "latex_of",
    "fmt_nats",
    "number_label",
    "title",
    "note",
    "term_legend",
    "nats_axis",
    "bar_between",
    "stacked_bar",
    "baseline",
    "nice_step",
    "NatsAxes",
    "image_safe_camera",
    "FastNumber",
    "polyline",
    "identity",
    "statement",
    "formula_colored",
    "term_tex_colors",
    "rhs",
    "evaluate",
]

TITLE_SIZE = 34
LABEL_SIZE = 22
SMALL_SIZE = 16


def latex_of(expr) -> str:
    """``sympy.latex`` of a SymPy object (an ``Eq``, relational or expression); strings pass through."""
    return expr if isinstance(expr, str) else sympy.latex(expr)


def formula(expr, max_width: float = 12.5, font_size: float = 36, color: str = FOREGROUND) -> MathTex:
    """MathTex of ``sympy.latex(expr)``, shrunk to ``max_width`` scene units if needed."""
    m = MathTex(latex_of(expr), font_size=font_size, color=color)
    if m.width > max_width:
        m.scale_to_fit_width(max_width)
    return m


def identity(*names: str):
    """The first of ``names`` registered in ``derivations.REGISTRY``, or ``None``.

    ``derivations`` is written concurrently with vizlab; a scene shows ``statement(...)``'s visible note
    instead of failing while an identity is missing.
    """
    try:
        import derivations
    except Exception:  # noqa: BLE001 - package not importable yet
        return None
    registry = getattr(derivations, "REGISTRY", {})
    for n in names:
        if n in registry:
            return registry[n]
    return None


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


def term_tex_colors() -> dict[str, str]:
    """LaTeX of each display symbol of ``derivations.notation`` -> its term color (empty if absent)."""
    try:
        from derivations import notation
    except Exception:  # noqa: BLE001
        return {}
    out = {}
    for attr, key in NOTATION_TERMS.items():
        sym = getattr(notation, attr, None)
        if sym is not None:
            out[sympy.latex(sym)] = TERM_COLORS[key]
    return out


def formula_colored(expr, max_width: float = 12.5, font_size: float = 36) -> MathTex:
    """Like ``formula``, with each display symbol of ``derivations.notation`` in its term's color."""
    tex = latex_of(expr)
    colors = {k: v for k, v in term_tex_colors().items() if k in tex}
    if not colors:
        return formula(tex, max_width=max_width, font_size=font_size)
    m = MathTex(tex, font_size=font_size, color=FOREGROUND, substrings_to_isolate=list(colors))
    for k, v in colors.items():
        m.set_color_by_tex(k, v)
    if m.width > max_width:
        m.scale_to_fit_width(max_width)
    return m


def statement(*names: str, max_width: float = 12.5, font_size: float = 36, colored: bool = True):
    """MathTex of the proved statement of the first registered identity in ``names`` (``sympy.latex``),
    terms colored by the palette, or a visible note naming the missing identity."""
    ident = identity(*names)
    if ident is None:
        return note(f"[derivations: identity {names[0]!r} not registered yet]")
    make = formula_colored if colored else formula
    return make(ident.statement, max_width=max_width, font_size=font_size)


def rhs(expr):
    """Right-hand side of an ``Eq`` / relational, or the expression itself."""
    return expr.rhs if isinstance(expr, sympy.core.relational.Relational) else expr


def evaluate(expr, **values) -> float:
    """Float value of a SymPy expression with its free symbols given *by name* (e.g. ``mu=0.3``)."""
    expr = rhs(expr)
    subs = {s: values[s.name] for s in expr.free_symbols if s.name in values}
    missing = sorted(s.name for s in expr.free_symbols if s.name not in values)
    if missing:
        raise KeyError(f"no value for symbol(s) {missing} of {expr}")
    return float(expr.evalf(subs=subs))


def fmt_nats(value: float, se: float | None = None, digits: int = 2, unit: str = "nats") -> str:
    """``-129.63 ± 0.05 nats`` (``se`` omitted when None or NaN); a real minus sign."""
    s = f"{value:.{digits}f}".replace("-", "\u2212")
    if se is not None and not math.isnan(se):
        s += f" \u00b1 {se:.{digits}f}"
    return f"{s} {unit}".rstrip()


def number_label(name: str, value: float, se: float | None = None, key: str | None = None,
                 source: str | Path | None = None, font_size: float = LABEL_SIZE, digits: int = 2) -> VGroup:
    """``name = value ± se nats`` in the term's color, with a small "from <file>" line under it."""
    color = TERM_COLORS[key] if key else FOREGROUND
    main = Text(f"{name} = {fmt_nats(value, se, digits)}", font_size=font_size, color=color)
    group = VGroup(main)
    if source is not None:
        src = Text(f"from {Path(str(source)).name}", font_size=SMALL_SIZE * 0.8, color=FOREGROUND)
        src.set_opacity(0.6).next_to(main, DOWN, buff=0.06, aligned_edge=LEFT)
        group.add(src)
    return group


def title(text: str) -> Text:
    """Scene title at the top-left corner."""
    return Text(text, font_size=TITLE_SIZE, color=FOREGROUND).to_corner(UL, buff=0.35)


def note(text: str, font_size: float = SMALL_SIZE) -> Text:
    """A visible note (missing input, source of a figure)."""
    t = Text(text, font_size=font_size, color=FOREGROUND, slant="ITALIC")
    return t.set_opacity(0.75)


def term_legend(keys, font_size: float = SMALL_SIZE + 2, labels: dict[str, str] | None = None) -> VGroup:
    """Vertical legend: a colored square and the term's name per key."""
    rows = VGroup()
    for k in keys:
        sq = Square(side_length=0.22, fill_color=TERM_COLORS[k], fill_opacity=1, stroke_width=0)
        tx = Text((labels or TERM_LABELS).get(k, k), font_size=font_size, color=FOREGROUND)
        rows.add(VGroup(sq, tx.next_to(sq, RIGHT, buff=0.12)))
    return rows.arrange(DOWN, aligned_edge=LEFT, buff=0.12)


def nats_axis(y_min: float, y_max: float, length: float = 5.0, step: float | None = None,
              font_size: float = SMALL_SIZE) -> NumberLine:
    """A vertical number line in nats from ``y_min`` to ``y_max`` with about five round ticks."""
    if step is None:
        raw = (y_max - y_min) / 5
        mag = 10 ** math.floor(math.log10(raw))
        step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    lo, hi = math.floor(y_min / step) * step, math.ceil(y_max / step) * step
    ax = NumberLine(x_range=[lo, hi, step], length=length, rotation=math.pi / 2, include_numbers=True,
                    label_direction=LEFT, font_size=font_size, decimal_number_config={"num_decimal_places":
                                                                                      _decimals(step)},
                    color=FOREGROUND)
    return ax


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0


def bar_between(axis: NumberLine, y0: float, y1: float, key: str, width: float = 0.9,
                x_shift: float = 0.9, opacity: float = 0.9) -> Rectangle:
    """A filled rectangle in term ``key``'s color spanning ``y0..y1`` (nats) beside a vertical ``axis``."""
    p0, p1 = axis.n2p(y0), axis.n2p(y1)
    h = max(abs(p1[1] - p0[1]), 1e-3)
    r = Rectangle(width=width, height=h, fill_color=TERM_COLORS[key], fill_opacity=opacity, stroke_width=0)
    r.move_to(np.array([p0[0] + x_shift, (p0[1] + p1[1]) / 2, 0.0]))
    return r


def stacked_bar(parts: list[tuple[str, float]], unit: float, width: float = 1.0, labels: bool = True,
                font_size: float = SMALL_SIZE, digits: int = 2) -> VGroup:
    """Bottom-up stack of (term key, value in nats) segments, ``unit`` scene units per nat.

    Negative values are drawn with their absolute size (a KL is never negative; an estimate may be
    slightly, within its standard error).  Returns ``VGroup(segments, labels)``; its bottom edge is the
    zero line.
    """
    segs, texts = VGroup(), VGroup()
    y = 0.0
    for key, value in parts:
        h = max(abs(value) * unit, 1e-3)
        r = Rectangle(width=width, height=h, fill_color=TERM_COLORS[key], fill_opacity=0.9, stroke_width=1,
                      stroke_color="#000000")
        r.move_to(np.array([0.0, y + h / 2, 0.0]))
        y += h
        segs.add(r)
        if labels:
            t = Text(fmt_nats(value, digits=digits, unit=""), font_size=font_size, color=FOREGROUND)
            t.next_to(r, RIGHT, buff=0.08)
            texts.add(t)
    return VGroup(segs, texts)


def baseline(width: float = 1.4) -> Line:
    """A short horizontal zero line."""
    return Line(LEFT * width / 2, RIGHT * width / 2, color=FOREGROUND, stroke_width=2)




# ---------------------------------------------------------------------------------------------------------
# ImageMobject under Pillow >= 13
# ---------------------------------------------------------------------------------------------------------

class _PillowShim:
    """Stands in for ``PIL.Image`` inside ``manim.camera.camera`` during one image draw.

    Manim 0.22's ``Camera.display_image_mobject`` builds its canvas with
    ``Image.fromarray(np.zeros((h, w)), mode="RGBA")``; Pillow 13 rejects a 2-D float array with an RGBA
    mode ("Invalid mode for data type").  The shim answers that one call with ``Image.new("RGBA", (w, h))``
    (the same transparent canvas) and forwards everything else to Pillow.
    """

    def __init__(self, image_module):
        self._image = image_module

    def __getattr__(self, name):
        return getattr(self._image, name)

    def fromarray(self, obj, mode=None):
        arr = np.asarray(obj)
        if mode == "RGBA" and arr.ndim == 2:
            return self._image.new("RGBA", (arr.shape[1], arr.shape[0]))
        return self._image.fromarray(obj) if mode is None else self._image.fromarray(obj, mode=mode)


def image_safe_camera():
    """A ``Camera`` subclass whose image drawing works with Pillow 13 (see ``_PillowShim``).

    Use as ``Scene.__init__(self, camera_class=image_safe_camera(), **kw)``; the patch is scoped to each
    ``display_image_mobject`` call and restored afterwards.
    """
    import manim.camera.camera as cam_mod
    from manim import Camera

    class ImageSafeCamera(Camera):
        def display_image_mobject(self, image_mobject, pixel_array):
            original = cam_mod.Image
            cam_mod.Image = _PillowShim(original)
            try:
                return super().display_image_mobject(image_mobject, pixel_array)
            finally:
                cam_mod.Image = original

    return ImageSafeCamera


def nice_step(span: float, n: int = 5) -> float:
    """A round tick step (1, 2, 2.5, 5 x 10^k) giving about ``n`` ticks over ``span``."""
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    return min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)


class NatsAxes:
    """x-y axes whose y axis (nats) may lie entirely below zero, with the x axis at the bottom.

    Manim's ``Axes`` puts the x axis at y = 0 or at the end of the range nearest to it (the top, for a
    range of log-likelihoods).  ``NatsAxes`` draws the y axis over ``[0, y_max - y_min]`` and labels its
    ticks with the real values; use ``c2p(x, y)`` / ``plot(f)`` with real values in nats.
    """

    def __init__(self, x_range, y_min: float, y_max: float, x_length: float = 7.0, y_length: float = 4.5,
                 font_size: float = 18):
        from manim import Axes

        step = nice_step(y_max - y_min)
        self.y_lo = math.floor(y_min / step) * step
        y_top = math.ceil(y_max / step) * step
        self.axes = Axes(x_range=list(x_range), y_range=[0, y_top - self.y_lo, step], x_length=x_length,
                         y_length=y_length, tips=False,
                         axis_config={"color": FOREGROUND, "font_size": font_size},
                         x_axis_config={"include_numbers": True})
        ticks = np.arange(self.y_lo, y_top + step / 2, step)
        self.axes.y_axis.add_labels({
            t - self.y_lo: Text(fmt_nats(t, digits=_decimals(step), unit=""), font_size=font_size,
                                color=FOREGROUND) for t in ticks})

    def c2p(self, x: float, y: float) -> np.ndarray:
        return self.axes.c2p(x, y - self.y_lo)

    def plot(self, f, x_range, **kwargs):
        return self.axes.plot(lambda t: f(t) - self.y_lo, x_range=list(x_range), **kwargs)


# ---------------------------------------------------------------------------------------------------------
# A number label cheap enough to update every frame
# ---------------------------------------------------------------------------------------------------------

_GLYPHS: dict = {}


def _glyph_table(font_size: float, font: str):
    """Outlines of ``0-9 . − +`` in a monospace font, relative to their cell centres; built once per size.

    Two Pango calls: ``"00000000"`` gives the advance (cell width), ``CHARS`` the outlines; the cell of
    character i is centred at the centre of the first glyph ("0", symmetric in its cell) + i * advance.
    """
    key = (font_size, font)
    if key not in _GLYPHS:
        zeros = Text("00000000", font=font, font_size=font_size)
        advance = (zeros[-1].get_center()[0] - zeros[0].get_center()[0]) / (len(zeros) - 1)
        line = Text(FastNumber.CHARS, font=font, font_size=font_size)
        first = line[0].get_center()
        table = {c: g.points - (first + np.array([i * advance, 0.0, 0.0]))
                 for i, (c, g) in enumerate(zip(FastNumber.CHARS, line))}
        _GLYPHS[key] = (advance, table)
    return _GLYPHS[key]


class FastNumber(VGroup):
    """A decimal readout for updaters: glyph outlines are typeset once and reused, not re-typeset per frame.

    ``DecimalNumber.set_value`` re-parses its glyphs (~50 ms a call on these machines) and copying Text
    glyphs costs about as much; this only rewrites the points of a fixed pool of ``VMobject`` slots (~1 ms).
    The slots are never replaced, because Manim's Cairo renderer draws a flattened snapshot of the moving
    mobjects taken when each ``play`` begins: replaced submobjects would stay on screen.  The left edge stays
    where the label was placed.
    """

    CHARS = "0123456789.\u2212+"
    MAX_CHARS = 16

    def __init__(self, value: float, digits: int = 3, font_size: float = 24, color: str = FOREGROUND,
                 font: str = "DejaVu Sans Mono"):
        from manim import VectorizedPoint, VMobject

        super().__init__()
        self.digits = digits
        self._advance, self._table = _glyph_table(font_size, font)
        self._anchor = VectorizedPoint()
        self._slots = [VMobject(fill_color=color, fill_opacity=1.0, stroke_width=0) for _ in range(self.MAX_CHARS)]
        self.add(self._anchor, *self._slots)
        self.set_value(value)

    def set_value(self, value: float) -> "FastNumber":
        text = f"{value:.{self.digits}f}".replace("-", "\u2212")
        if len(text) > self.MAX_CHARS:
            raise ValueError(f"{text!r} is longer than {self.MAX_CHARS} characters")
        origin = self._anchor.get_center()
        for i, slot in enumerate(self._slots):
            if i < len(text):
                slot.points = self._table[text[i]] + origin + np.array([i * self._advance, 0.0, 0.0])
            else:
                slot.points = np.zeros((0, 3))
        return self


def polyline(axes, xs, ys, color: str, stroke_width: float = 4):
    """A curve through ``(xs, ys)`` in the coordinates of ``axes`` (an ``Axes`` or ``NatsAxes``), built from
    NumPy arrays in one go: much cheaper than ``axes.plot`` inside ``always_redraw``."""
    from manim import VMobject

    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    c2p = axes.c2p
    p0 = np.asarray(c2p(0.0, 0.0), float)
    ex = np.asarray(c2p(1.0, 0.0), float) - p0
    ey = np.asarray(c2p(0.0, 1.0), float) - p0
    pts = p0 + xs[:, None] * ex + ys[:, None] * ey  # axes are linear: an affine map
    return VMobject(stroke_color=color, stroke_width=stroke_width).set_points_as_corners(pts)

"""Text on screen: sizes that meet the lecture-readability rule, titles, notes, numbers with their source.

**Readability rule** (issue 13).  The book embeds the videos at 720p30 (``--quality m``), lectures use
1080p60 (``--quality h``).  Every text on screen has a cap height (the height of "H" or a digit) of at least
``MIN_CAP_FRACTION`` of the frame height -- 24 px at 1080p, 16 px at 720p -- lies inside the frame with a
margin of ``FRAME_MARGIN`` scene units, and overlaps no other label or plotted curve; every axis carries its
quantity and unit (``vizlab.plots.label_axes``).  ``tests/vizlab/test_vizlab_readability.py`` walks each
scene's mobjects at the end of every animation and fails on a violation.

Measured cap heights in scene units (frame height 8): ``Text`` 0.01012 x font size, ``MathTex`` and
``DecimalNumber`` 0.00709 x font size.  Hence the smallest sizes below: ``Text`` 18 (24.6 px at 1080p),
``MathTex`` 26 (24.9 px).  Colors come only from ``vizlab.palette``; values are in nats.
"""

from __future__ import annotations

import math
from pathlib import Path

from manim import DOWN, LEFT, RIGHT, UL, Square, Text, VGroup

from vizlab.palette import FOREGROUND, TERM_COLORS, TERM_LABELS

__all__ = [
    "MIN_CAP_FRACTION",
    "FRAME_MARGIN",
    "TITLE_SIZE",
    "LABEL_SIZE",
    "SMALL_SIZE",
    "TICK_SIZE",
    "FORMULA_SIZE",
    "MATH_SMALL_SIZE",
    "fmt_nats",
    "number_label",
    "title",
    "note",
    "term_legend",
]

#: Minimum cap height of any text, as a fraction of the frame height (24 px of 1080, 16 px of 720).
MIN_CAP_FRACTION = 24 / 1080
#: Minimum distance (scene units, frame 14.2 x 8) between any text and the frame's edge.
FRAME_MARGIN = 0.12

TITLE_SIZE = 36  # Text: scene titles
LABEL_SIZE = 24  # Text: readouts, legends
SMALL_SIZE = 18  # Text: notes, sources, axis labels -- the smallest Text allowed
TICK_SIZE = 26  # DecimalNumber / MathTex: tick labels -- the smallest TeX allowed
MATH_SMALL_SIZE = 26  # MathTex: the smallest formula allowed
FORMULA_SIZE = 36  # MathTex: statements


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
        src = note(f"from {Path(str(source)).name}")
        src.next_to(main, DOWN, buff=0.06, aligned_edge=LEFT)
        group.add(src)
    return group


def title(text: str) -> Text:
    """Scene title at the top-left corner."""
    return Text(text, font_size=TITLE_SIZE, color=FOREGROUND).to_corner(UL, buff=0.35)


def note(text: str, font_size: float = SMALL_SIZE) -> Text:
    """A visible note (missing input, source of a figure), in italics."""
    return Text(text, font_size=font_size, color=FOREGROUND, slant="ITALIC").set_opacity(0.8)


def term_legend(keys, font_size: float = SMALL_SIZE, labels: dict[str, str] | None = None) -> VGroup:
    """Vertical legend: a colored square and the term's name per key."""
    rows = VGroup()
    for k in keys:
        sq = Square(side_length=0.22, fill_color=TERM_COLORS[k], fill_opacity=1, stroke_width=0)
        tx = Text((labels or TERM_LABELS).get(k, k), font_size=font_size, color=FOREGROUND)
        rows.add(VGroup(sq, tx.next_to(sq, RIGHT, buff=0.12)))
    return rows.arrange(DOWN, aligned_edge=LEFT, buff=0.12)

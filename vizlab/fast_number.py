"""A number readout cheap enough to update every frame (``FastNumber``), for the scenes' live readouts."""

from __future__ import annotations

import numpy as np
from manim import Text, VGroup

from vizlab.palette import FOREGROUND

__all__ = ["FastNumber"]

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
        self.font_size = font_size  # read by the readability check (vizlab.readability)
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

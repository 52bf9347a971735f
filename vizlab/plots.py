"""Axes, bars and curves of the scenes, every axis labelled with its quantity and unit (``label_axes``).

``OffsetAxes`` handles ranges that do not contain 0 (log-likelihoods in nats, a latent from -2 to 3); ``nats_axis`` is a
vertical number line in nats; ``bar_between`` a term-colored bar between two values on it; ``polyline`` a
curve through NumPy arrays, cheap enough for ``always_redraw``.  Tick labels use ``style.TICK_SIZE``.
"""

from __future__ import annotations

import math

import numpy as np
from manim import DOWN, LEFT, RIGHT, UP, Axes, Mobject, NumberLine, Rectangle, Text, VGroup, VMobject

from vizlab.palette import FOREGROUND, TERM_COLORS
from vizlab.style import SMALL_SIZE, TICK_SIZE

__all__ = ["nice_step", "decimals", "axes", "label_axes", "OffsetAxes", "nats_axis", "bar_between", "polyline"]


def nice_step(span: float, n: int = 5) -> float:
    """A round tick step (1, 2, 2.5, 5 x 10^k) giving about ``n`` ticks over ``span``."""
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    return min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)


def decimals(step: float) -> int:
    """Decimal places that show every multiple of ``step`` exactly (0 for 5, 1 for 2.5 or 0.2, 2 for 0.25)."""
    d = 0
    while abs(step * 10**d - round(step * 10**d)) > 1e-9 * max(1.0, step * 10**d) and d < 6:
        d += 1
    return d


def axes(x_range, y_range, x_length: float, y_length: float, x_numbers: bool = True, y_numbers: bool = True,
         **kwargs) -> Axes:
    """``Axes`` without tips, in the foreground color, tick labels at ``TICK_SIZE`` with decimals matching
    each axis's step."""
    def cfg(rng, numbers):
        return {"include_numbers": numbers, "font_size": TICK_SIZE,
                "decimal_number_config": {"num_decimal_places": decimals(rng[2])}}

    return Axes(x_range=list(x_range), y_range=list(y_range), x_length=x_length, y_length=y_length, tips=False,
                axis_config={"color": FOREGROUND}, x_axis_config=cfg(x_range, x_numbers),
                y_axis_config=cfg(y_range, y_numbers), **kwargs)


def _label(text, font_size: float) -> Mobject:
    return text if isinstance(text, Mobject) else Text(text, font_size=font_size, color=FOREGROUND)


def label_axes(ax, x_label=None, y_label=None, font_size: float = SMALL_SIZE) -> VGroup:
    """Quantity-and-unit labels of an ``Axes`` (x below its tick labels, y above the y axis) or of a
    ``NumberLine`` (``x_label`` at its right end; a vertical line's label above it).

    The labels are recorded on the axes as ``ax.axis_labels`` (the readability test checks every axes on
    screen has them).  Returns a ``VGroup`` of the labels, to add or animate.
    """
    labels = VGroup()
    if isinstance(ax, Axes):
        if x_label is not None:
            xl = _label(x_label, font_size)
            xl.next_to(ax.x_axis, DOWN, buff=0.12).align_to(ax.x_axis, RIGHT)  # below its tick labels
            labels.add(xl)
        if y_label is not None:
            yl = _label(y_label, font_size).next_to(ax.y_axis, UP, buff=0.15)
            yl.align_to(ax.y_axis, LEFT).shift(LEFT * 0.1)
            labels.add(yl)
    else:  # a NumberLine
        lab = _label(x_label, font_size)
        if abs(math.sin(ax.get_angle())) > 0.5:  # vertical
            lab.next_to(ax, UP, buff=0.15)
        else:
            lab.next_to(ax, RIGHT, buff=0.2)
        labels.add(lab)
    ax.axis_labels = labels
    return labels


class OffsetAxes:
    """x-y axes whose ranges need not contain 0 (log-likelihoods in nats, a latent z from -2 to 3), with the
    x axis at the bottom and the y axis at the left.

    Manim's ``Axes`` draws each axis through the other's 0 (the y axis in the middle of a z range, the x
    axis at the top of a range of log-likelihoods).  ``OffsetAxes`` draws both over ``[0, hi - lo]`` and
    labels the ticks with the real values; use ``c2p(x, y)`` / ``plot(f)`` with real values.
    ``y_range`` may be ``(y_min, y_max)`` (a round step giving about ``n_ticks`` ticks is chosen) or
    ``(y_min, y_max, step)``.
    """

    def __init__(self, x_range, y_range, x_length: float = 7.0, y_length: float = 4.5, n_ticks: int = 4):
        from manim import DecimalNumber

        x_lo, x_hi, x_step = x_range
        y_step = y_range[2] if len(y_range) == 3 else nice_step(y_range[1] - y_range[0], n_ticks)
        self.x_lo = x_lo
        self.y_lo = math.floor(y_range[0] / y_step + 1e-9) * y_step
        y_top = math.ceil(y_range[1] / y_step - 1e-9) * y_step
        self.axes = axes([0, x_hi - x_lo, x_step], [0, y_top - self.y_lo, y_step], x_length, y_length,
                         x_numbers=False, y_numbers=False)
        for axis, lo, hi, step in ((self.axes.x_axis, x_lo, x_hi, x_step), (self.axes.y_axis, self.y_lo, y_top, y_step)):
            ticks = np.arange(lo, hi + step / 2, step)
            axis.add_labels({t - lo: DecimalNumber(t, num_decimal_places=decimals(step), font_size=TICK_SIZE,
                                                   color=FOREGROUND) for t in ticks})

    def c2p(self, x: float, y: float) -> np.ndarray:
        return self.axes.c2p(x - self.x_lo, y - self.y_lo)

    def plot(self, f, x_range, **kwargs):
        return self.axes.plot(lambda t: f(t + self.x_lo) - self.y_lo,
                              x_range=[x_range[0] - self.x_lo, x_range[1] - self.x_lo], **kwargs)


def nats_axis(y_min: float, y_max: float, length: float = 5.0, n_ticks: int = 5) -> NumberLine:
    """A vertical number line in nats from ``y_min`` to ``y_max`` with about ``n_ticks`` round ticks."""
    step = nice_step(y_max - y_min, n_ticks)
    lo, hi = math.floor(y_min / step) * step, math.ceil(y_max / step) * step
    return NumberLine(x_range=[lo, hi, step], length=length, rotation=math.pi / 2, include_numbers=True,
                      label_direction=LEFT, font_size=TICK_SIZE,
                      decimal_number_config={"num_decimal_places": decimals(step)}, color=FOREGROUND)


def bar_between(axis: NumberLine, y0: float, y1: float, key: str, width: float = 0.9, x_shift: float = 0.9,
                opacity: float = 0.9) -> Rectangle:
    """A filled rectangle in term ``key``'s color spanning ``y0..y1`` (nats) beside a vertical ``axis``."""
    p0, p1 = axis.n2p(y0), axis.n2p(y1)
    h = max(abs(p1[1] - p0[1]), 1e-3)
    r = Rectangle(width=width, height=h, fill_color=TERM_COLORS[key], fill_opacity=opacity, stroke_width=0)
    return r.move_to(np.array([p0[0] + x_shift, (p0[1] + p1[1]) / 2, 0.0]))


def polyline(ax, xs, ys, color: str, stroke_width: float = 4) -> VMobject:
    """A curve through ``(xs, ys)`` in the coordinates of ``ax`` (an ``Axes`` or ``OffsetAxes``), built from
    NumPy arrays in one go: much cheaper than ``ax.plot`` inside ``always_redraw``.  Marked as a data curve
    (``is_data_curve``) so the readability test keeps labels off it."""
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    c2p = ax.c2p
    p0 = np.asarray(c2p(0.0, 0.0), float)
    ex = np.asarray(c2p(1.0, 0.0), float) - p0
    ey = np.asarray(c2p(0.0, 1.0), float) - p0
    pts = p0 + xs[:, None] * ex + ys[:, None] * ey  # axes are linear: an affine map
    curve = VMobject(stroke_color=color, stroke_width=stroke_width).set_points_as_corners(pts)
    curve.is_data_curve = True
    return curve

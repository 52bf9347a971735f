"""Helpers of vizlab.common that scenes rely on (no rendering: cheap)."""

import numpy as np
import pytest
import sympy

pytest.importorskip("manim")

from vizlab import common  # noqa: E402


def test_fast_number_keeps_its_submobjects():
    """Manim draws a snapshot of the moving mobjects taken when a play begins: set_value must mutate
    the same glyph objects (replacing them left stale digits on screen)."""
    n = common.FastNumber(-2.5, digits=3)
    before = list(n.submobjects)
    left = n.get_left()
    n.set_value(12.25)
    assert n.submobjects == before
    visible = [m for m in n.submobjects[1:] if len(m.points)]
    assert len(visible) == len("12.250")
    n.set_value(-2.5)
    assert np.allclose(n.get_left(), left)


def test_fmt_nats_uses_real_minus_and_se():
    assert common.fmt_nats(-1.5, 0.25) == "\u22121.50 \u00b1 0.25 nats"
    assert common.fmt_nats(2.0, float("nan"), unit="") == "2.00"


def test_evaluate_by_symbol_name():
    mu, s = sympy.Symbol("mu"), sympy.Symbol("sigma", positive=True)
    assert common.evaluate(sympy.Eq(sympy.Symbol("k"), mu**2 + s), mu=2.0, sigma=0.5) == pytest.approx(4.5)
    with pytest.raises(KeyError, match="sigma"):
        common.evaluate(mu + s, mu=1.0)


def test_polyline_matches_axes_coordinates():
    from manim import Axes

    ax = Axes(x_range=[-1, 3, 1], y_range=[-2, 2, 1], x_length=4, y_length=3)
    line = common.polyline(ax, [0.0, 2.0], [1.0, -1.5], "#FFFFFF")
    assert np.allclose(line.get_start(), ax.c2p(0.0, 1.0)) and np.allclose(line.get_end(), ax.c2p(2.0, -1.5))


def test_statement_renders_proved_latex_or_note():
    """The formula on screen is sympy.latex of the registered statement."""
    ident = common.identity("elbo_gap")
    if ident is None:
        pytest.skip("derivations has no elbo_gap yet")
    assert common.latex_of(ident.statement) == sympy.latex(ident.statement)
    assert common.identity("no_such_identity") is None

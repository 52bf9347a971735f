"""The helpers the scenes rely on: formulas from the registry, numbers, axes, tiling (no rendering: cheap)."""

import numpy as np
import pytest
import sympy

pytest.importorskip("manim")

from vizlab import formulas, plots, style  # noqa: E402
from vizlab.fast_number import FastNumber  # noqa: E402


def test_fast_number_keeps_its_submobjects():
    """Manim draws a snapshot of the moving mobjects taken when a play begins: set_value must mutate
    the same glyph objects (replacing them left stale digits on screen)."""
    n = FastNumber(-2.5, digits=3)
    before = list(n.submobjects)
    left = n.get_left()
    n.set_value(12.25)
    assert n.submobjects == before
    visible = [m for m in n.submobjects[1:] if len(m.points)]
    assert len(visible) == len("12.250")
    n.set_value(-2.5)
    assert np.allclose(n.get_left(), left)


def test_fmt_nats_uses_real_minus_and_se():
    assert style.fmt_nats(-1.5, 0.25) == "\u22121.50 \u00b1 0.25 nats"
    assert style.fmt_nats(2.0, float("nan"), unit="") == "2.00"


def test_polyline_matches_axes_coordinates():
    from manim import Axes

    ax = Axes(x_range=[-1, 3, 1], y_range=[-2, 2, 1], x_length=4, y_length=3)
    line = plots.polyline(ax, [0.0, 2.0], [1.0, -1.5], "#FFFFFF")
    assert np.allclose(line.get_start(), ax.c2p(0.0, 1.0)) and np.allclose(line.get_end(), ax.c2p(2.0, -1.5))


def test_offset_axes_put_real_values_at_the_corner():
    """OffsetAxes: the lower-left corner is (x_lo, y_lo) in real values, not Manim's origin (0, 0)."""
    ax = plots.OffsetAxes([-2, 3, 1], (-7.3, -2.1), x_length=5, y_length=3)
    corner = ax.axes.x_axis.get_start()
    assert np.allclose(ax.c2p(-2, ax.y_lo), corner)
    assert ax.y_lo == pytest.approx(-8.0) and np.allclose(ax.c2p(3, ax.y_lo), ax.axes.x_axis.get_end())


@pytest.mark.parametrize("step, places", [(5, 0), (2.5, 1), (0.2, 1), (0.25, 2), (1, 0)])
def test_tick_decimals_show_the_step_exactly(step, places):
    assert plots.decimals(step) == places


def test_statement_renders_the_registered_statement():
    """The formula on screen is the statement as written (derivations.latex.statement_tex, the page's LaTeX),
    looked up by its registry name; the same formula once \\left/\\right and thin spaces are dropped."""
    from derivations import get_identity
    from derivations.latex import statement_tex

    for name in ("elbo_gap", "jensen"):
        tex = formulas.statement(name, colored=False).get_tex_string()
        assert tex == formulas.scene_tex(statement_tex(get_identity(name)))
    colored = formulas.statement("elbo_gap")  # split into colored parts, same source
    written = formulas.scene_tex(statement_tex(get_identity("elbo_gap")))
    assert "".join(colored.tex_strings).replace(" ", "") == written.replace(" ", "")


def test_scene_tex_drops_only_sizing():
    assert formulas.scene_tex(r"\mathrm{KL}\left(q(z) \,\|\, p(z)\right)") == r"\mathrm{KL}(q(z) \| p(z))"


def test_unknown_identity_is_an_error():
    from derivations import UnknownIdentityError

    with pytest.raises(UnknownIdentityError, match="elbo_gap"):
        formulas.statement("jensen_log")  # an old alias: no longer looked up


def test_manifold_tiles_rows_and_columns_in_place():
    from vizlab.scenes.ch07_manifold import manifold_image

    images = np.zeros((2, 3, 28, 28))
    images[1, 2] = 1.0  # bottom-right cell white
    tile = manifold_image(images)
    assert tile.shape == (56, 84, 4) and tile[..., 3].min() == 255
    assert tile[28:, 56:, 0].min() == 255 and tile[:28, :, 0].max() == 0 and tile[28:, :56, 0].max() == 0

"""The palette: every ELBO term has a valid, distinct hex color; importing it pulls in no Manim."""

import re
import subprocess
import sys

import pytest

from vizlab import palette

KEYS = {"log_px", "elbo", "gap", "reconstruction", "avg_kl", "index_code_mi", "marginal_kl", "prior", "q_agg"}


def test_all_term_keys_present():
    """Colors and labels name the same fixed set of terms, and every term a results file reports has both.

    (``TERM_ORDER`` is ``tuple(TERM_COLORS)``: equal by construction, so not asserted here.)"""
    from training import result_files as rf

    assert set(palette.TERM_COLORS) == set(palette.TERM_LABELS) == KEYS
    assert {*rf.TERMS, "reconstruction"} <= KEYS


@pytest.mark.parametrize("table", [palette.TERM_COLORS, palette.ESTIMATOR_COLORS])
def test_colors_are_valid_distinct_hex(table):
    for key, color in table.items():
        assert re.fullmatch(r"#[0-9A-Fa-f]{6}", color), (key, color)
    assert len(set(c.upper() for c in table.values())) == len(table)


def test_colors_visible_on_black_and_white():
    """Relative luminance (WCAG) between the two backgrounds: no term vanishes on either."""

    def lum(hexcolor):
        def ch(c):
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        r, g, b = (ch(c) for c in palette.hex_to_rgb(hexcolor))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    for key, color in palette.TERM_COLORS.items():
        contrast_black = (lum(color) + 0.05) / 0.05
        assert contrast_black >= 3.0, (key, contrast_black)


def test_term_color_unknown_key_lists_known():
    with pytest.raises(KeyError, match="log_px"):
        palette.term_color("nope")


def test_hex_to_rgb():
    assert palette.hex_to_rgb("#FF8000") == (1.0, 128 / 255, 0.0)
    with pytest.raises(ValueError):
        palette.hex_to_rgb("red")


def test_mpl_style_applies():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context(palette.mpl_style()):
        fig, ax = plt.subplots()
        (line,) = ax.plot([0, 1], [0, 1])
        assert matplotlib.colors.to_hex(line.get_color()).lower() == palette.TERM_COLORS["log_px"].lower()
        plt.close(fig)
    assert palette.mpl_style(dark=True)["axes.facecolor"] == palette.BACKGROUND


def test_css_variables():
    css = palette.css_variables()
    assert css.startswith(":root {") and "--elbo-log-px: #0072B2;" in css
    assert css.count(";") == len(palette.TERM_COLORS)


def test_palette_import_is_light():
    code = "import sys, vizlab.palette, vizlab.scenes; assert 'manim' not in sys.modules, 'manim imported'"
    subprocess.run([sys.executable, "-c", code], check=True)

"""One color per ELBO term, for every Manim scene, every matplotlib figure and the book's CSS.

The same color means the same term everywhere (DESIGN.md, STYLE.md §4).  This module imports only the
standard library, so the book and the matplotlib figures can use it without pulling in Manim.

Source of the colors: the Okabe-Ito palette (Okabe & Ito 2008; Wong, "Points of view: Color blindness",
Nature Methods 8:441, 2011), which stays distinguishable under the common color-vision deficiencies, plus
a neutral grey for the prior and Paul Tol's teal (#44AA99, "muted" scheme) for the aggregated posterior.
Black is left out because Manim's background is black; every color below reads on both black (videos)
and white (book).

Terms that appear together in one figure get hues that differ under deuteranopia and protanopia:

* evidence split (ElboGap, EM):        ``log_px`` blue, ``elbo`` green, ``gap`` vermillion;
* ELBO = reconstruction - KL:          ``reconstruction`` sky blue, ``avg_kl`` orange, ``elbo`` green;
* ELBO surgery (avg KL = MI + marg.):  ``avg_kl`` orange, ``index_code_mi`` reddish purple,
                                       ``marginal_kl`` yellow, ``prior`` grey, ``q_agg`` teal.

Usage::

    from vizlab.palette import TERM_COLORS, mpl_style
    import matplotlib.pyplot as plt
    with plt.rc_context(mpl_style()):
        plt.bar(["KL"], [7.4], color=TERM_COLORS["avg_kl"])
"""

from __future__ import annotations

import re

__all__ = [
    "TERM_COLORS",
    "ESTIMATOR_COLORS",
    "TERM_LABELS",
    "TERM_ORDER",
    "BACKGROUND",
    "FOREGROUND",
    "term_color",
    "hex_to_rgb",
    "mpl_style",
    "css_variables",
]

#: Hex color of each term of the ELBO (keys fixed by docs/ARCHITECTURE.md).
TERM_COLORS: dict[str, str] = {
    "log_px": "#0072B2",  # evidence log p(x) (nats)                      Okabe-Ito blue
    "elbo": "#009E73",  # ELBO L(q) (nats)                                Okabe-Ito bluish green
    "gap": "#D55E00",  # KL(q(z|x) || p(z|x)) = log p(x) - ELBO          Okabe-Ito vermillion
    "reconstruction": "#56B4E9",  # E_q log p(x|z)                        Okabe-Ito sky blue
    "avg_kl": "#E69F00",  # average KL(q(z|x) || p(z)) to the prior       Okabe-Ito orange
    "index_code_mi": "#CC79A7",  # I_q[n; z] (index-code MI)             Okabe-Ito reddish purple
    "marginal_kl": "#F0E442",  # KL(q_agg(z) || p(z))                      Okabe-Ito yellow
    "prior": "#999999",  # p(z) = N(0, I)                                   neutral grey
    "q_agg": "#44AA99",  # aggregated posterior q(z) = 1/N sum_n q(z|x_n)  Tol muted teal
}

#: Colors of the two gradient estimators (Reparameterization scene, book figures): Paul Tol's "vibrant"
#: orange and cyan, a pair that stays distinct under every common color-vision deficiency.
ESTIMATOR_COLORS: dict[str, str] = {
    "score_function": "#EE7733",
    "reparameterization": "#33BBEE",
}

#: Plain-text names of the terms (legends, axis labels).  Names, not formulas: formulas on screen come
#: from ``sympy.latex`` of the proved expressions in ``derivations``.
TERM_LABELS: dict[str, str] = {
    "log_px": "log p(x)",
    "elbo": "ELBO",
    "gap": "KL(q || posterior)",
    "reconstruction": "reconstruction",
    "avg_kl": "avg KL to prior",
    "index_code_mi": "index-code MI",
    "marginal_kl": "marginal KL",
    "prior": "prior p(z)",
    "q_agg": "aggregated posterior q(z)",
}

#: Story order of the terms (legend order, matplotlib color cycle).
TERM_ORDER: tuple[str, ...] = tuple(TERM_COLORS)

#: Manim's background and the text color used on it.
BACKGROUND = "#000000"
FOREGROUND = "#FFFFFF"

_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")


def term_color(key: str) -> str:
    """Hex color of the term ``key``; raises ``KeyError`` listing the known keys."""
    try:
        return TERM_COLORS[key]
    except KeyError:
        raise KeyError(f"unknown term {key!r}; known: {', '.join(TERM_COLORS)}") from None


def hex_to_rgb(color: str) -> tuple[float, float, float]:
    """``"#RRGGBB"`` -> (r, g, b) in [0, 1] (for matplotlib colormaps and numpy images)."""
    if not _HEX.match(color):
        raise ValueError(f"not a #RRGGBB color: {color!r}")
    return tuple(int(color[i : i + 2], 16) / 255.0 for i in (1, 3, 5))  # type: ignore[return-value]


def mpl_style(dark: bool = False) -> dict:
    """matplotlib rcParams for ELBO Lab figures: use ``with plt.rc_context(mpl_style()):``.

    The color cycle follows ``TERM_ORDER`` so unlabelled series still get term colors; pass
    ``color=TERM_COLORS[key]`` explicitly whenever a series *is* a term.  ``dark=True`` gives the
    black background of the videos.
    """
    from cycler import cycler  # matplotlib's own dependency; imported lazily to keep this module light

    fg, bg = (FOREGROUND, BACKGROUND) if dark else ("#222222", "#FFFFFF")
    return {
        "axes.prop_cycle": cycler(color=[TERM_COLORS[k] for k in TERM_ORDER]),
        "figure.facecolor": bg,
        "axes.facecolor": bg,
        "savefig.facecolor": bg,
        "text.color": fg,
        "axes.labelcolor": fg,
        "axes.edgecolor": fg,
        "xtick.color": fg,
        "ytick.color": fg,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": False,
        "font.size": 11,
        "axes.titlesize": 12,
        "legend.frameon": False,
        "figure.dpi": 110,
        "savefig.bbox": "tight",
        "image.cmap": "gray_r",
    }


def css_variables(prefix: str = "--elbo-") -> str:
    """CSS custom properties for the book, e.g. ``--elbo-log-px: #0072B2;`` inside ``:root { }``."""
    lines = [f"  {prefix}{k.replace('_', '-')}: {v};" for k, v in TERM_COLORS.items()]
    return ":root {\n" + "\n".join(lines) + "\n}\n"

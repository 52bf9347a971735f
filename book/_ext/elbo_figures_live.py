"""``{elbo-live-figure}``: interactive figures computed in the page, offline (issue 22).

Three figures, each a numbered figure with a caption, drawn in plain SVG by ``static/elbo-figures-live.js``
(no library, nothing fetched; it works from ``file://`` too):

* ``elbo_gap`` -- the ELBO and its gap :math:`\\mathrm{KL}(q \\,\\Vert\\, p(z \\mid x))` as
  :math:`q(z) = \\mathcal{N}(m, v)` moves on the linear-Gaussian model of
  :mod:`derivations.models.linear_gaussian` (its ``DEFAULT`` parameters, the identity's worked instance);
* ``jensen`` -- Jensen's gap :math:`\\log \\mathbb{E}[y] - \\mathbb{E}[\\log y] = \\sigma^2/2` for
  :math:`y \\sim \\mathrm{LogNormal}(\\mu, \\sigma^2)` as the spread :math:`\\sigma` grows;
* ``elbo_surgery`` -- average KL = marginal KL + index-code mutual information for :math:`N` encoders
  :math:`q(z \\mid x_n) = \\mathcal{N}(x_n, \\sigma^2)`, :math:`x_n` evenly spaced on :math:`[-2, 2]`, prior
  :math:`\\mathcal{N}(0, 1)`; the marginal KL and the MI by the same grid quadrature as
  :func:`derivations.models.surgery_oracles.gaussian_surgery_terms` (its grid parameters are passed to the page).

Usage in a chapter (the content is the caption, in words: what to watch for)::

    ```{elbo-live-figure} elbo_gap
    :name: fig-elbo-gap-live

    Move the mean and the variance of q ...
    ```

The model's parameters are written into the page (``data-params``) from the Python modules, so the page and
the checks use one set of numbers; ``tests/book/test_live_figures.py`` moves each control in Chromium and
compares the displayed numbers with the Python closed forms.  The PDF (and a browser without JavaScript) shows
a note with the same quantities at the initial position, computed here in Python.
"""

from __future__ import annotations

import html
import inspect
import json
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

STATIC = Path(__file__).resolve().parent / "static"
JS_FILE = "elbo-figures-live.js"
CSS_FILE = "elbo-figures-live.css"

#: Jensen figure: y ~ LogNormal(mu, sigma^2) with the mu of derivations.jensen's numeric check (LogNormal(0.3, 0.8^2)).
JENSEN = {"mu": 0.3, "sigma": 0.8, "sigma_max": 1.5}
#: Surgery figure: N encoders N(x_n, sigma^2), x_n evenly spaced on [-spread, spread].
SURGERY = {"n": 8, "n_max": 50, "sigma": 0.4, "sigma_min": 0.05, "sigma_max": 1.5, "spread": 2.0}
#: ELBO-gap figure: the slider ranges of q = N(m, v) (the model itself is linear_gaussian.DEFAULT).
ELBO_GAP = {"m_min": -1.0, "m_max": 3.0, "v_min": 0.06, "v_max": 1.2}


def _num(value: float) -> str:
    """A number as the figure shows it: 3 decimals and a true minus sign (U+2212)."""
    return f"{value:.3f}".replace("-", "\u2212")


def surgery_means(n: int, spread: float = SURGERY["spread"]):
    """The encoder means of the surgery figure: ``n`` points evenly spaced on ``[-spread, spread]`` (0 for n = 1)."""
    import numpy as np

    return np.zeros(1) if n == 1 else np.linspace(-spread, spread, n)


def _elbo_gap_params() -> tuple[dict, str]:
    from derivations.models import linear_gaussian

    d = linear_gaussian.DEFAULT
    params = {k: d[k] for k in ("x", "w", "b", "s", "m", "v")} | ELBO_GAP
    log_px = float(linear_gaussian.log_evidence(d["x"], d["w"], d["b"], d["s"]))
    elbo = float(linear_gaussian.elbo(d["m"], d["v"], d["x"], d["w"], d["b"], d["s"]))
    kl = float(linear_gaussian.kl_to_posterior(d["m"], d["v"], d["x"], d["w"], d["b"], d["s"]))
    note = (f"At m = {d['m']}, v = {d['v']} (x = {d['x']}, w = {d['w']}, b = {d['b']}, s = {d['s']}): "
            f"log p(x) = {_num(log_px)} nats, ELBO = {_num(elbo)} nats, KL(q \u2016 p(z|x)) = {_num(kl)} nats, "
            f"and ELBO + KL = {_num(elbo + kl)} = log p(x).")
    return params, note


def _jensen_params() -> tuple[dict, str]:
    mu, sig = JENSEN["mu"], JENSEN["sigma"]
    note = (f"For y ~ LogNormal(\u03bc, \u03c3\u00b2) with \u03bc = {mu}, \u03c3 = {sig}: log E[y] = \u03bc + \u03c3\u00b2/2 = "
            f"{_num(mu + sig**2 / 2)}, E[log y] = \u03bc = {_num(mu)}, and the gap is \u03c3\u00b2/2 = {_num(sig**2 / 2)} nats; "
            "it grows as the square of the spread and vanishes only when y is constant (\u03c3 = 0).")
    return dict(JENSEN), note


def _surgery_params() -> tuple[dict, str]:
    import numpy as np

    from derivations.models.surgery_oracles import gaussian_surgery_terms

    defaults = {k: p.default for k, p in inspect.signature(gaussian_surgery_terms).parameters.items()
                if k in ("half_width", "points_per_std")}
    params = dict(SURGERY) | defaults
    n, sig = SURGERY["n"], SURGERY["sigma"]
    mu = surgery_means(n)[:, None]
    t = gaussian_surgery_terms(mu, np.full_like(mu, 2 * np.log(sig)))
    note = (f"With N = {n} encoders of width \u03c3 = {sig}: average KL = {_num(t['avg_kl'])} nats = marginal KL "
            f"{_num(t['marginal_kl'])} + index-code MI {_num(t['index_code_mi'])}, and MI \u2264 log N = {_num(t['log_n'])}.")
    return params, note


FIGURES = {"elbo_gap": _elbo_gap_params, "jensen": _jensen_params, "elbo_surgery": _surgery_params}


class ElboLiveFigure(SphinxDirective):
    """``{elbo-live-figure} KIND`` -> a numbered figure computed in the page (HTML) or a static note (PDF)."""

    required_arguments = 1
    has_content = True  # the caption, parsed as MyST
    option_spec = {"name": directives.unchanged, "alt": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        kind = self.arguments[0]
        if kind not in FIGURES:
            raise self.error(f"unknown live figure {kind!r}: use one of {', '.join(FIGURES)}")
        # the page re-reads when the model it shows changes
        from derivations.models import linear_gaussian, surgery_oracles

        for module in (linear_gaussian, surgery_oracles):
            self.env.note_dependency(module.__file__)
        params, note = FIGURES[kind]()
        alt = self.options.get("alt") or f"Interactive figure {kind}"
        box = (
            f'<div class="elbo-live" data-figure="{kind}" data-params="{html.escape(json.dumps(params), quote=True)}"'
            f' role="group" aria-label="{html.escape(alt, quote=True)}">\n'
            f'<noscript><p class="elbo-live-static">This figure is computed in the page by JavaScript, which is '
            f"off. {html.escape(note)}</p></noscript>\n</div>"
        )
        figure = nodes.figure(classes=["elbo-live-figure"])
        figure += nodes.raw("", box, format="html")
        only = addnodes.only(expr="latex")
        only += nodes.paragraph(text=f"Interactive in the HTML book (sliders move the figure). {note}")
        figure += only
        caption_nodes = self.parse_content_to_nodes() if self.content else [nodes.paragraph(text=alt)]
        caption = nodes.caption()
        first = caption_nodes[0] if caption_nodes else None
        rest = caption_nodes
        if isinstance(first, nodes.paragraph):
            caption.extend(first.children)
            rest = caption_nodes[1:]
        caption.insert(0, nodes.strong(text="Interactive. "))
        figure += caption
        if rest:
            legend = nodes.legend()
            legend.extend(rest)
            figure += legend
        if "name" in self.options:
            self.add_name(figure)
        else:
            figure["ids"].append(f"live-{kind.replace('_', '-')}")
        return [figure]


def _add_static_path(app: Sphinx, config) -> None:
    if str(STATIC) not in config.html_static_path:
        config.html_static_path.append(str(STATIC))


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", _add_static_path)
    app.add_js_file(JS_FILE, loading_method="defer")
    app.add_css_file(CSS_FILE)
    app.add_directive("elbo-live-figure", ElboLiveFigure)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}

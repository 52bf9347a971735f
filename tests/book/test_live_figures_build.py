"""``{elbo-live-figure}`` in a small Sphinx project (seconds, no book build): what the HTML and LaTeX builders get.

* HTML: a numbered figure holding the figure's root element, whose ``data-params`` are the Python module's
  parameters (the page computes with the same numbers the tests check against), a ``<noscript>`` note, and the
  caption; the script and style sheet are linked from ``_static`` and copied there; nothing names another host.
* LaTeX (the PDF): no raw HTML, and the static note with the numbers at the initial position, computed in Python.
"""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXT = ROOT / "book" / "_ext"

PAGE = """Live
====

.. elbo-live-figure:: {kind}
   :name: fig-live-{kind}

   Watch the numbers move.
"""


def _build(tmp_path: Path, builder: str, kind: str) -> Path:
    from sphinx.application import Sphinx
    from sphinx.util.docutils import docutils_namespace

    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(EXT)!r})\nextensions = ['elbo_figures_live']\n"
        "numfig = True\nlatex_documents = [('index', 'live.tex', 'Live', 'x', 'manual')]\n"
    )
    (src / "index.rst").write_text(PAGE.format(kind=kind))
    out = tmp_path / builder
    with docutils_namespace():  # each app registers its nodes afresh (several builds in one process)
        app = Sphinx(str(src), str(src), str(out), str(tmp_path / f"doctrees-{builder}"), builder,
                     status=None, warningiserror=True, freshenv=True)
        app.build()
    return out


@pytest.mark.parametrize("kind", ["elbo_gap", "jensen", "elbo_surgery"])
def test_html_figure_carries_the_python_parameters(tmp_path: Path, kind: str):
    sys.path.insert(0, str(EXT))
    import elbo_figures_live

    out = _build(tmp_path, "html", kind)
    page = (out / "index.html").read_text()
    figure = re.search(r"<figure\b.*?</figure>", page, re.S).group(0)
    assert 'class="caption-number"' in figure and "Watch the numbers move." in figure
    root = re.search(r'<div class="elbo-live" data-figure="(\w+)" data-params="([^"]*)"', figure)
    assert root and root.group(1) == kind
    params, note = elbo_figures_live.FIGURES[kind]()
    assert json.loads(html.unescape(root.group(2))) == params
    assert "<noscript>" in figure and html.escape(note) in figure
    assert 'src="_static/elbo-figures-live.js' in page and 'href="_static/elbo-figures-live.css' in page
    js = (out / "_static" / "elbo-figures-live.js").read_text()
    assert (out / "_static" / "elbo-figures-live.css").is_file()
    # the only URL in the script is the SVG namespace, which is a name, not a request
    assert set(re.findall(r"https?://[^\s\"'`]+", js)) == {"http://www.w3.org/2000/svg"}


def test_pdf_gets_the_static_note(tmp_path: Path):
    sys.path.insert(0, str(EXT))
    import elbo_figures_live

    out = _build(tmp_path, "latex", "elbo_gap")
    tex = (out / "live.tex").read_text()
    _, note = elbo_figures_live.FIGURES["elbo_gap"]()
    assert "Interactive in the HTML book" in tex and "elbo-live" not in tex and "noscript" not in tex
    for number in re.findall(r"\u2212?\d+\.\d{3}", note):  # the Python numbers at the initial position
        assert number in tex, number
    assert "\\caption" in tex or "sphinxcaption" in tex.lower() or "Watch the numbers move." in tex


def test_elbo_gap_note_satisfies_the_identity():
    sys.path.insert(0, str(EXT))
    import elbo_figures_live

    _, note = elbo_figures_live.FIGURES["elbo_gap"]()
    log_px, elbo, kl = (float(v.replace("\u2212", "-")) for v in re.findall(r"= (\u2212?\d+\.\d{3}) nats", note))
    assert abs(log_px - (elbo + kl)) <= 1.5e-3 and kl > 0


def test_unknown_figure_is_a_clear_error(tmp_path: Path):
    from sphinx.errors import SphinxWarning

    with pytest.raises(SphinxWarning, match="unknown live figure 'nope'"):
        _build(tmp_path, "html", "nope")

"""Checks of the built HTML (no browser): every page built, offline assets, our numbers from the results."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest


pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"

RESULTS = ROOT / "training" / "results"
# A resource a page would make the browser fetch: <script src>, <link href>, <img src>, <video>/<source src>.
RESOURCE = re.compile(r"<(?:script|img|source|video|iframe|audio)\b[^>]*\bsrc=\"([^\"]+)\"|<link\b[^>]*\bhref=\"([^\"]+)\"")


def _chapter_names() -> list[str]:
    return sorted(p.stem for p in (BOOK / "chapters").glob("*.md"))


def _identity_chapters() -> list[str]:
    """Chapters of a registered identity (a narrative chapter such as posterior_collapse has no theorem box)."""
    from derivations import REGISTRY

    return [n for n in _chapter_names() if n in REGISTRY]


def test_every_chapter_is_built(built_book: Path):
    assert (built_book / "index.html").is_file()
    for name in ("intro", "notation", "bibliography"):
        assert (built_book / f"{name}.html").is_file()
    for name in _chapter_names():
        assert (built_book / "chapters" / f"{name}.html").is_file(), name


def test_no_page_loads_anything_from_another_host(html_pages: list[Path]):
    for page in html_pages:
        text = page.read_text()
        remote = [a or b for a, b in RESOURCE.findall(text) if re.match(r"(https?:)?//", a or b)]
        assert not remote, f"{page.name} loads remote resources: {remote}"
        assert "cdn." not in text and "unpkg.com" not in text, f"{page.name} names a CDN"


def test_mathjax_is_served_from_the_build(built_book: Path, html_pages: list[Path]):
    assert (built_book / "_static" / "mathjax" / "tex-chtml.js").is_file()
    chapter = (built_book / "chapters" / "elbo_gap.html").read_text()
    assert 'src="../_static/mathjax/tex-chtml.js' in chapter


def test_palette_css_comes_from_vizlab(built_book: Path):
    from vizlab.palette import TERM_COLORS

    css = (built_book / "_static" / "palette.css").read_text()
    for term, color in TERM_COLORS.items():
        assert color in css, term
        assert f".elbo-term-{term}" in css


@pytest.mark.parametrize("name", _identity_chapters())
def test_chapter_shows_theorem_proof_and_check(built_book: Path, name: str):
    from derivations import REGISTRY

    text = (built_book / "chapters" / f"{name}.html").read_text()
    assert f'id="equation-eq-{name.replace("_", "-")}"' in text, "the statement's labelled equation"
    assert f'id="thm-{name.replace("_", "-")}"' in text or f'id="thm-{name}"' in text, "the theorem box"
    assert "exercise" in text and "solution" in text and "dropdown" in text
    assert "How this was checked" in text, "the verification is folded under 'How this was checked'"
    verdicts = re.findall(r'class="[^"]*\belbo-verdict elbo-(ok|failed)\b[^"]*"', text)
    # one verdict for prove(), one for check(), and one per extra check a chapter runs (e.g. the trainer's
    # written-out gradient in the reparameterization chapter)
    assert len(verdicts) >= 2, "one verdict for prove(), one for check()"
    assert set(verdicts) == {"ok"}, "a proof or numeric check failed when the book was built"
    if name in REGISTRY:
        twins = re.search(r'<table class="[^"]*elbo-twins.*?</table>', text, re.S)
        assert twins, "the wrong twins table"
        for twin in REGISTRY[name].wrong_twins:  # a twin is shown by its mistake, never by its registry key
            assert twin.name not in unescape(text) and f"<code>{twin.name.split('~', 1)[-1]}" not in text, twin.name
        assert len(re.findall(r"<tr", twins.group(0))) == 1 + len(REGISTRY[name].wrong_twins)
        assert unescape(twins.group(0)).count("rejected") == 2 * len(REGISTRY[name].wrong_twins)


def test_videos_are_embedded_or_flagged(built_book: Path):
    for name in _chapter_names():
        source = (BOOK / "chapters" / f"{name}.md").read_text()
        scenes = re.findall(r"```\{elbo-video\} (\w+)", source)
        text = (built_book / "chapters" / f"{name}.html").read_text()
        for scene in scenes:
            if (BOOK / "_static" / "videos" / f"{scene}.mp4").is_file():
                assert f'src="../_static/videos/{scene}.mp4"' in text, (name, scene)
                assert (built_book / "_static" / "videos" / f"{scene}.mp4").is_file()
            else:
                assert "Animation not rendered yet" in text and scene in text, (name, scene)


def _expected_values(result: dict) -> dict[str, str]:
    """The strings the surgery chapter must show for one results file (same formats as the page)."""
    terms = result["train"]["terms"]
    out = {t: (f"{terms[t]['value']:.2f} (exact)" if terms[t]["se"] == 0 else f"{terms[t]['value']:.2f} ±\u00a0{terms[t]['se']:.3f}")
           for t in ("elbo", "avg_kl", "index_code_mi", "marginal_kl")}
    out["test_elbo"] = f"{result['test']['elbo']['value']:.2f} ±\u00a0{result['test']['elbo']['se']:.3f}"
    out["iwae"] = f"{result['test']['iwae']['value']:.2f} ±\u00a0{result['test']['iwae']['se']:.3f}"
    return out


def test_surgery_chapter_shows_the_numbers_in_the_results_files(built_book: Path):
    from training.result_files import PAPER_TABLE1

    text = unescape((built_book / "chapters" / "elbo_surgery.html").read_text())
    # the test-set numbers and the runs' provenance live in the appendix
    text += unescape((built_book / "appendix" / "how_the_numbers_were_made.html").read_text())
    table1 = re.search(r'<table class="[^"]*elbo-table[^"]*" id="tbl-surgery-table1">.*?</table>', text, re.S)
    assert table1, "no Table 1"
    rows = re.findall(r"<tr.*?</tr>", table1.group(0), re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r, re.S) for r in rows]
    cells = [[re.sub(r"<[^>]+>", "", c).strip() for c in row] for row in cells if row]
    for d, paper in PAPER_TABLE1.items():
        i = next((k for k, row in enumerate(cells) if row[:2] == [str(d), "ours"]), None)
        assert i is not None, f"no Table 1 row for D = {d}"
        assert cells[i + 1][1] == "paper" and cells[i + 1][2:] == [f"{v:.2f}" for v in paper.values()], cells[i + 1]
        path = RESULTS / f"vae_d{d}.json"
        if not path.is_file():
            assert "not trained yet" in cells[i], f"D = {d} has no results file: the row must say so"
            continue
        for key, shown in _expected_values(json.loads(path.read_text())).items():
            assert shown in text, f"D = {d}: {key} should read {shown!r} (from {path.name})"


def test_bug_zoo_runs_the_check_of_every_mistake(built_book: Path):
    """Each of the five mistakes is run through its derivations.loss_conventions check on the trained models'
    numbers when the book is built, and the check names the mistake (verdict ok) -- none is left pending."""
    text = unescape((built_book / "practice" / "bug_zoo.html").read_text())
    verdicts = re.findall(r'class="[^"]*\belbo-verdict elbo-(ok|failed)\b[^"]*"', text)
    assert verdicts == ["ok"] * 5, f"bug zoo verdicts: {verdicts}"
    for check in ("check_kl_weight", "check_reduction", "check_kl_direction", "check_logvar", "check_units"):
        assert f"Caught by {check}" in text and f"derivations.loss_conventions.{check}" in text, check
    for mistake in ("M/N weight", "mean over pixels", "KL(p || q)", "logvar read as log sigma", "bits"):
        assert re.search(rf"the ['\u2018]{re.escape(mistake)}['\u2019] convention", text), mistake  # smart quotes
    assert "pending" not in text.lower()


def test_collapse_chapter_shows_the_numbers_of_the_beta_sweep(built_book: Path):
    """Every β of the committed sweep appears with its rate and ELBO, and the four figures with their alt text."""
    from training import beta_sweep as bs

    text = unescape((built_book / "chapters" / "posterior_collapse.html").read_text())
    points = bs.sweep_points(bs.load_runs())
    assert len(points) >= 5
    for p in points:
        assert f"{p['rate']['value']:.2f}" in text and f"{p['elbo']['value']:.2f}" in text, p["name"]
    # the images of the chapter's figures (not the header's Colab and Binder logos)
    figures = [alt for figure in re.findall(r"<figure\b.*?</figure>", text, re.S)
               for alt in re.findall(r'<img[^>]*alt="([^"]+)"', figure)]
    assert len(figures) >= 4 and all(len(alt) > 80 for alt in figures), figures


def _ext(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, BOOK / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _math_sources(html: str) -> str:
    """The TeX sources of a page's display math, whitespace removed (MathJax typesets them in the browser)."""
    return re.sub(r"\s+", "", unescape(html))


@pytest.mark.parametrize("name", _identity_chapters())
def test_page_shows_the_written_lines(built_book: Path, name: str):
    """The page shows the author's LaTeX, through derivations.latex: the statement and every chain as written."""
    from derivations import get_identity

    ext = _ext("elbo_identity")
    ident = get_identity(name)
    html = _math_sources((built_book / "chapters" / f"{name}.html").read_text())
    shown = [ext.statement_display(ident, ext.WIDE)] + [ext.chain_display(d, ext.WIDE) for d in ident.derivations]
    for tex in shown:
        assert re.sub(r"\s+", "", tex) in html, f"{name}: the page does not show {tex[:80]}..."


def test_notebooks_render_through_derivations_latex(built_book: Path):
    notebook = json.loads((built_book / "_downloads" / "notebooks" / "elbo_gap.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    assert "from derivations.latex import chain_tex, statement_tex" in code and "sympy.latex(" not in code

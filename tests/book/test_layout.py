"""The built book as a reader sees it, in headless Debian Chromium at 1366 px (a laptop) and 390 px (a phone).

* no element of any page is wider than its column or scrolls/clips horizontally (tables may scroll inside
  their own wrapper on a phone, which shows a shadow as the cue; never at 1366 px);
* no displayed derivation line is wider than the column at 1366 px; no two consecutive lines are identical;
* figures, videos and tables are numbered and captioned, images have real alt text;
* every chapter links its notebook (a valid .ipynb), the PDF (a real PDF) and the general index; the intro
  links every chapter and the list of theorems; the general index lists the notation page's terms.
"""

from __future__ import annotations

import json
import re
import urllib.request
from html import unescape
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

WIDTHS = (1366, 390)
#: Wrappers that may scroll horizontally on a phone (they carry the scroll-shadow cue of book/_ext/elbo_book.py).
SCROLL_OK_AT_390 = (".pst-scrollable-table-container", ".table-wrapper")

OVERFLOW_JS = r"""
(allowed) => {
  const problems = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + 1) {
    problems.push({what: "page", detail: `page scrolls sideways: ${root.scrollWidth} > ${root.clientWidth} px`});
  }
  const article = document.querySelector("article.bd-article") || document.querySelector("main");
  if (!article) return problems;
  const col = article.getBoundingClientRect();
  const isAllowed = (el) => allowed.some((sel) => el.matches(sel));
  const describe = (el) => {
    const cls = (el.className && el.className.baseVal === undefined) ? el.className : "";
    const text = (el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 80);
    return `<${el.tagName.toLowerCase()} class="${cls}"> ${text}`;
  };
  const walk = (el, insideScroller) => {
    for (const child of el.children) {
      const tag = child.tagName.toLowerCase();
      if (tag === "mjx-assistive-mml" || tag === "script" || tag === "style") continue;
      const style = getComputedStyle(child);
      if (style.display === "none" || style.visibility === "hidden") continue;
      const r = child.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) { walk(child, insideScroller); continue; }
      if (style.position === "absolute" && style.clip !== "auto") continue;  // screen-reader-only text
      const inline = style.display === "inline";  // overflow does not apply to inline boxes
      const scroller = isAllowed(child);
      if (!insideScroller) {
        if (r.right > col.right + 1 || r.left < col.left - 1) {
          problems.push({what: "beyond-column", detail: `${describe(child)}: [${Math.round(r.left)}, ${Math.round(r.right)}] outside [${Math.round(col.left)}, ${Math.round(col.right)}]`});
          continue;  // report the outermost element only
        }
        const clips = ["auto", "scroll", "hidden", "clip"].includes(style.overflowX);
        if (clips && !inline && child.scrollWidth > child.clientWidth + 1 && !scroller) {
          problems.push({what: "scrolls", detail: `${describe(child)}: content ${child.scrollWidth} px in ${child.clientWidth} px`});
          continue;
        }
      }
      walk(child, insideScroller || (scroller && child.scrollWidth > child.clientWidth + 1));
    }
  };
  walk(article, false);
  return problems;
}
"""

DERIVATION_JS = r"""
() => {
  const out = [];
  for (const box of document.querySelectorAll(".elbo-identity-derivation div.math")) {
    const style = getComputedStyle(box);
    if (style.display === "none") continue;
    const mjx = box.querySelector("mjx-container");
    if (!mjx) continue;
    const inner = mjx.firstElementChild ? mjx.firstElementChild.getBoundingClientRect().width : 0;
    out.push({width: Math.max(inner, mjx.scrollWidth), column: box.clientWidth,
              text: (box.getAttribute("id") || "") + " " + (mjx.getAttribute("aria-label") || "").slice(0, 80)});
  }
  return out;
}
"""


def _wait_for_math(page) -> None:
    if page.evaluate("() => !!(window.MathJax && window.MathJax.startup)"):
        page.evaluate("() => window.MathJax.startup.promise")


@pytest.fixture(scope="module")
def measured(browser, book_server: str, built_book: Path, html_pages: list[Path]) -> dict:
    """Every page opened at both widths: overflow problems and derivation line widths."""
    out: dict = {}
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 900})
        context.route("**/*", lambda route: route.continue_() if "127.0.0.1" in route.request.url else route.abort())
        for path in html_pages:
            rel = path.relative_to(built_book).as_posix()
            if 'http-equiv="refresh"' in path.read_text().lower():
                continue  # index.html only forwards to the root page
            page = context.new_page()
            page.goto(f"{book_server}/{rel}", wait_until="load")
            _wait_for_math(page)
            allowed = list(SCROLL_OK_AT_390) if width < 600 else []
            out[(width, rel)] = {
                "overflow": page.evaluate(OVERFLOW_JS, allowed),
                "derivation": page.evaluate(DERIVATION_JS) if width == 1366 else [],
            }
            page.close()
        context.close()
    return out


@pytest.mark.parametrize("width", WIDTHS)
def test_nothing_overflows_its_column(measured, width: int):
    problems = [f"{rel} @ {w}px: {p['what']}: {p['detail']}"
                for (w, rel), m in measured.items() if w == width for p in m["overflow"]]
    assert not problems, f"{len(problems)} overflowing element(s):\n" + "\n".join(problems[:40])


def test_every_page_measured_at_both_widths(measured, html_pages: list[Path], built_book: Path):
    pages = {p.relative_to(built_book).as_posix() for p in html_pages if 'http-equiv="refresh"' not in p.read_text().lower()}
    for width in WIDTHS:
        assert {rel for (w, rel) in measured if w == width} == pages


def test_no_derivation_line_is_wider_than_the_column(measured):
    lines = [(rel, d) for (w, rel), m in measured.items() if w == 1366 for d in m["derivation"]]
    assert lines, "no derivation line found on any page"
    wide = [f"{rel}: {d['width']:.0f} px in {d['column']} px: {d['text']}" for rel, d in lines if d["width"] > d["column"] + 1]
    assert not wide, f"{len(wide)} derivation line(s) wider than the column at 1366 px:\n" + "\n".join(wide[:30])


# ----------------------------------------------------------------------------------- static HTML checks
def _chapters(built_book: Path) -> list[Path]:
    return sorted((built_book / "chapters").glob("*.html")) + sorted((built_book / "practice").glob("*.html"))


_DISPLAY = re.compile(r'<div class="math notranslate nohighlight(?P<cls>[^"]*)"[^>]*>\s*(?P<tex>.*?)</div>', re.S)


def test_no_two_consecutive_derivation_lines_are_identical(built_book: Path):
    repeats = []
    for page in _chapters(built_book):
        text = page.read_text()
        for block in re.findall(r'<div class="elbo-identity elbo-identity-derivation[^"]*">(.*?)(?=<div class="elbo-identity |<section|</section>)', text, re.S):
            # one derivation per title; consecutive displayed lines (the wide form) within it
            for derivation in re.split(r'class="elbo-derivation-title', block):
                lines = [re.sub(r"\s+", " ", unescape(m.group("tex"))).strip()
                         for m in _DISPLAY.finditer(derivation) if "elbo-eq-narrow" not in m.group("cls")]
                lines = [re.sub(r"^\\\[|\\\]$", "", t).strip() for t in lines]
                bodies = [re.sub(r"^(=|\\geq|\\leq|\\begin\{aligned\}\s*&\s*(=|\\geq|\\leq))\s*", "", t) for t in lines]
                for a, b, shown in zip(bodies, bodies[1:], lines[1:]):
                    if a == b:
                        repeats.append(f"{page.name}: {shown[:100]}")
    assert not repeats, "consecutive identical derivation lines:\n" + "\n".join(repeats)


def test_figures_and_tables_are_numbered_and_captioned(built_book: Path):
    for page in _chapters(built_book):
        text = page.read_text()
        for figure in re.findall(r"<figure\b.*?</figure>", text, re.S):
            assert "<figcaption" in figure, f"{page.name}: a figure without caption"
            assert 'class="caption-number"' in figure, f"{page.name}: an unnumbered figure: {figure[:200]}"
            for alt in re.findall(r'<img\b[^>]*\balt="([^"]*)"', figure):
                assert len(alt) > 20 and not re.search(r"\.(png|svg|jpe?g)\b|/", alt), f"{page.name}: alt text {alt!r}"
            for label in re.findall(r'<video\b[^>]*\baria-label="([^"]*)"', figure):
                assert len(label) > 20, f"{page.name}: video label {label!r}"
        for table in re.findall(r'<table class="[^"]*elbo-table.*?</table>', text, re.S):
            assert 'class="caption-number"' in table, f"{page.name}: an unnumbered results table"
        assert "<video" not in re.sub(r"<figure\b.*?</figure>", "", text, flags=re.S), f"{page.name}: a video outside a figure"


def test_videos_are_not_reused_across_chapters():
    book = Path(__file__).resolve().parents[2] / "book"
    seen: dict[str, str] = {}
    for page in sorted(book.rglob("*.md")):
        if "_build" in page.parts:
            continue
        for scene in re.findall(r"```\{elbo-video\} (\w+)", page.read_text()):
            assert scene not in seen, f"{scene} is embedded by {seen[scene]} and by {page.name}"
            seen[scene] = page.name


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def test_every_chapter_links_its_notebook_the_pdf_and_the_index(built_book: Path, book_server: str):
    for page in _chapters(built_book):
        text = page.read_text()
        rel = page.relative_to(built_book).as_posix()
        base = f"{book_server}/{rel.rsplit('/', 1)[0]}/"
        links = dict(re.findall(r'<a class="(elbo-download-ipynb|elbo-download-pdf|elbo-link-index|elbo-link-proofs)" href="([^"]+)"', text))
        assert set(links) == {"elbo-download-ipynb", "elbo-download-pdf", "elbo-link-index", "elbo-link-proofs"}, rel
        notebook = json.loads(_get(base + links["elbo-download-ipynb"]))
        assert notebook["nbformat"] == 4 and any(c["cell_type"] == "code" for c in notebook["cells"]), rel
        assert "{elbo-identity}" not in json.dumps(notebook), f"{rel}: the notebook still holds the book's directive"
        assert _get(base + links["elbo-download-pdf"])[:5] == b"%PDF-", f"{rel}: the PDF link is not a PDF"
        assert b'id="index"' in _get(base + links["elbo-link-index"]), f"{rel}: the index link is not the general index"
        assert b"The theorems" in _get(base + links["elbo-link-proofs"]), rel


def test_intro_links_every_chapter_and_the_indices(built_book: Path):
    intro = (built_book / "intro.html").read_text()
    for page in _chapters(built_book):
        rel = page.relative_to(built_book).as_posix()
        assert f'href="{rel}' in intro, f"the intro does not link {rel}"
    assert 'href="genindex.html"' in intro and 'href="theorems.html"' in intro and 'href="elbo-lab.pdf"' in intro


def test_general_index_lists_the_notation_terms(built_book: Path):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "book" / "_ext"))
    import elbo_book
    from derivations import notation

    index = unescape((built_book / "genindex.html").read_text())
    terms = [e["index"] for e in elbo_book.notation_entries(notation) if e.get("index")]
    assert len(terms) >= 5
    for term in terms:
        assert f">{term}</a>" in index or f">{term}<" in index, f"general index lacks {term!r}"

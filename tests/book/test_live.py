"""The live check boxes ({elbo-live}): the engine runs without NumPy, the bundle holds what Pyodide needs, every
identity chapter has two boxes whose right line follows and whose wrong line is flagged, the directive renders
(HTML and LaTeX); and, in headless Chromium over 127.0.0.1 (slow), typing into boxes gives the same verdicts in the
page with no request leaving the machine.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXT = ROOT / "book" / "_ext"
CHAPTERS = ROOT / "book" / "chapters"
sys.path.insert(0, str(EXT))

import elbo_live  # noqa: E402  (book/_ext)
import elbo_live_page  # noqa: E402

BLOCKED = "import sys\nfor m in ('numpy', 'scipy', 'torch'):\n    sys.modules[m] = None  # importing it raises\n"
GIVEN = r"\log p(x) &= \mathbb{E}_{q(z)}\left[\log p(x)\right]"
RIGHT = r"&= \mathbb{E}_{q(z)}\left[\log \frac{p(x, z)}{p(z \mid x)}\right]"


def live_boxes(chapter: str) -> list[dict]:
    """The {elbo-live} blocks of a chapter's source: their options and prompt."""
    text = (CHAPTERS / f"{chapter}.md").read_text(encoding="utf-8")
    boxes = []
    for block in re.findall(r"```\{elbo-live\}\n(.*?)\n```", text, re.S):
        opts = dict(re.findall(r"^:(\w+): (.*)$", block, re.M))
        boxes.append(opts)
    return boxes


def _identity_chapters() -> list[str]:
    src = (ROOT / "derivations" / "registry.py").read_text()
    return re.findall(r'^    "(\w+)",$', src, re.M)


# ------------------------------------------------------------------------------------------------- fast
def test_engine_imports_and_checks_with_numpy_blocked():
    mods = elbo_live.engine_modules()
    code = BLOCKED + (
        "import importlib, json\n"
        f"for m in {mods!r}:\n    importlib.import_module('derivations.' + m)\n"
        "import elbo_live_page\n"
        f"print(elbo_live_page.check_json({GIVEN!r}, {RIGHT!r}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={"PYTHONPATH": f"{ROOT}:{EXT}", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["ok"] and [s["verdict"] for s in res["steps"]] == ["follows"], res


def test_engine_closure_is_the_checker_not_the_identities():
    mods = set(elbo_live.engine_modules())
    assert {"check", "latex_reader", "engine", "expectation", "instances", "witnesses",
            "positivity", "steps", "notation"} <= mods
    # the identity modules and the registry import SciPy/NumPy: not in the page
    assert not mods & {"registry", "jensen", "elbo_gap", "gaussian_kl", "numeric", "report"}, mods


def test_bundle_runs_from_the_zip_alone(tmp_path: Path):
    """engine.zip, on sys.path by itself (no checkout), with NumPy blocked, checks a right and a wrong line."""
    data = elbo_live.engine_zip_bytes()
    assert data == elbo_live.engine_zip_bytes(), "the bundle is not deterministic"
    zpath = tmp_path / "engine.zip"
    zpath.write_bytes(data)
    names = zipfile.ZipFile(zpath).namelist()
    assert "elbo_live_page.py" in names and "derivations/__init__.py" in names and "derivations/check.py" in names
    wrong = r"&= \mathbb{E}_{q(z)}\left[\log \frac{p(x, z)}{q(z)}\right]"
    code = BLOCKED + (
        f"sys.path.insert(0, {str(zpath)!r})\n"
        "import json, elbo_live_page, derivations\n"
        f"assert derivations.__file__.startswith({str(zpath)!r}), derivations.__file__\n"
        f"print(elbo_live_page.check_json({GIVEN!r}, {RIGHT!r}))\n"
        f"print(elbo_live_page.check_json({GIVEN!r}, {wrong!r}))\n")
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    right_res, wrong_res = (json.loads(line) for line in out.stdout.strip().splitlines()[-2:])
    assert right_res["ok"] is True
    assert wrong_res["ok"] is False and wrong_res["steps"][0]["verdict"] == "does not follow"
    assert wrong_res["steps"][0]["left"] != wrong_res["steps"][0]["right"]


def test_compose_reads_what_a_student_types():
    given = r"a &= b \\ &= c"
    assert elbo_live_page.compose(given, "d")[0].count(r"&= d") == 1
    assert elbo_live_page.compose(given, r"\ge d")[0].count(r"&\ge d") == 1
    text, n = elbo_live_page.compose(given, r"&= d \\ &= e")
    assert n == 2 and text.count(r"\\") == 3
    assert elbo_live_page.compose(r"a", "= b")[1] == 0  # a first row without '&' is the first expression
    assert elbo_live_page.compose(given, r"\begin{aligned} x &= y \end{aligned}")[1] == 0
    with pytest.raises(ValueError, match="type the next line"):
        elbo_live_page.compose(given, "   ")
    res = elbo_live_page.check(GIVEN, r"&= \frac{")
    assert res["ok"] is False and res["steps"] == [] and "line" in res["error"]


def test_setup_pins_the_versions_the_book_copies():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert f"pyodide@{elbo_live.PYODIDE_VERSION}" in setup
    for name, version in elbo_live.WHEELS.items():
        assert f"{name}=={version}" in setup, name
    assert "--only-binary :all:" in setup and "--no-deps" in setup
    assert elbo_live.pyc_name() in setup and "scripts/live_pyc.js" in setup
    assert elbo_live.WHEELS["mpmath"].startswith("1.3"), "SymPy 1.14 wants mpmath < 1.4"


@pytest.mark.parametrize("chapter", _identity_chapters())
def test_every_identity_chapter_has_two_checked_boxes(chapter: str):
    """At least two boxes; each box's answer follows and its wrong line does not (the checker on the CPU)."""
    boxes = live_boxes(chapter)
    assert len(boxes) >= 2, f"{chapter}: {len(boxes)} live boxes"
    for box in boxes:
        assert {"given", "answer", "wrong"} <= set(box), box
        right = elbo_live_page.check(box["given"], box["answer"], box.get("assume", ""))
        assert right["ok"], (chapter, box["answer"], right["text"])
        wrong = elbo_live_page.check(box["given"], box["wrong"], box.get("assume", ""))
        assert wrong["error"] is None and "does not follow" in [s["verdict"] for s in wrong["steps"]], \
            (chapter, box["wrong"], wrong["text"])


def test_directive_renders_html_and_latex(tmp_path: Path):
    """A one-page Sphinx project with the extension: the HTML box (data, text area, button, script, the live
    bundle) and the LaTeX exercise (the given lines, no widget)."""
    missing = elbo_live.missing_assets()
    assert not missing, f"run 'make setup' (Pyodide and the wheels for the live boxes): missing {missing}"
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(EXT)!r})\nextensions = ['myst_parser', 'elbo_live']\n"
        f"html_static_path = [{str(EXT / 'static')!r}]\nmyst_enable_extensions = ['dollarmath', 'amsmath']\n")
    (src / "index.md").write_text(
        "# Page\n\n```{elbo-live}\n:given: " + GIVEN + "\n:assume: \\sigma > 0, Leibniz\n:answer: " + RIGHT
        + "\n:wrong: &= 0\n\n"
        "Use Bayes' rule.\n```\n")
    for builder in ("html", "latex"):
        out = subprocess.run([sys.executable, "-m", "sphinx", "-b", builder, "-q", "-W", str(src),
                              str(tmp_path / builder)], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, (builder, out.stderr[-3000:])
    page = (tmp_path / "html" / "index.html").read_text()
    assert 'class="elbo-live-box"' in page and "<textarea" in page and "elbo-live-check" in page
    assert 'data-given="\\log p(x) &amp;= \\mathbb{E}_{q(z)}' in page
    assert "elbo_live.js" in page and "Use Bayes" in page
    assert "differentiation under the integral sign (Leibniz)" in page and r"\(\sigma &gt; 0\)" in page
    assert 'data-assume="\\sigma &gt; 0, Leibniz"' in page
    live = tmp_path / "html" / "_static" / "live"
    manifest = json.loads((live / "manifest.json").read_text())
    for f in elbo_live.PYODIDE_FILES:
        assert (live / "pyodide" / f).is_file(), f
    assert (live / "pyodide" / "pyodide.asm.wasm").read_bytes()[:4] == b"\0asm"
    for w in manifest["wheels"]:
        assert zipfile.is_zipfile(live / w), w
    assert zipfile.is_zipfile(live / manifest["engine"])
    if manifest["pyc"]:  # SymPy and mpmath precompiled: a zip of sourceless bytecode instead of their wheels
        with zipfile.ZipFile(live / manifest["pyc"]) as zf:
            names = set(zf.namelist())
        assert {"sympy/__init__.pyc", "mpmath/__init__.pyc", "sympy/core/basic.pyc"} <= names
        assert not any(n.endswith(".py") for n in names)
        assert {Path(w).name.split("-")[0] for w in manifest["wheels"]} == {"lark"}
    else:
        assert {Path(w).name.split("-")[0] for w in manifest["wheels"]} == {"sympy", "mpmath", "lark"}
    assert (tmp_path / "html" / "_static" / "elbo_live_worker.js").is_file()
    tex = next((tmp_path / "latex").glob("*.tex")).read_text()
    assert "textarea" not in tex and "derivations check FILE" in tex and "make serve" in tex
    assert r"\mathbb{E}_{q(z)}\left[\log p(x)\right]" in tex


# ------------------------------------------------------------------------------------------ browser (slow)
BROWSER_CHAPTERS = {  # chapter -> (box index, a word of the named mistake or None)
    "jensen": (1, "reversed Jensen"),
    "elbo_gap": (1, "KL in the wrong direction"),
    "gaussian_kl": (0, "missing -1"),
}


@pytest.fixture(scope="module")
def live_context(browser, offline):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    external = offline(context)
    yield context, external
    context.close()


def _check_in_page(page, box, text: str) -> dict:
    box.locator("textarea").fill(text)
    box.locator("button.elbo-live-check").click()
    verdict = box.locator(".elbo-live-verdict")
    page.wait_for_function("(el) => el.dataset.verdict", arg=verdict.element_handle(), timeout=180_000)
    return {"verdict": verdict.get_attribute("data-verdict"), "text": verdict.inner_text()}


@pytest.mark.slow
@pytest.mark.parametrize("chapter", sorted(BROWSER_CHAPTERS))
def test_live_box_gives_the_checkers_verdicts_in_the_page(live_context, book_server: str, chapter: str):
    context, external = live_context
    index, mistake = BROWSER_CHAPTERS[chapter]
    spec = live_boxes(chapter)[index]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{book_server}/chapters/{chapter}.html", wait_until="load")
    box = page.locator(".elbo-live-box").nth(index)
    right = _check_in_page(page, box, spec["answer"])
    assert right["verdict"] == "follows", right
    wrong = _check_in_page(page, box, spec["wrong"])
    assert wrong["verdict"] == "does not follow", wrong
    assert "the line before is" in wrong["text"]  # the two values at the point
    if mistake:
        assert mistake in wrong["text"], wrong
    assert errors == []
    page.close()
    assert external == [], f"requests to other hosts: {sorted(set(external))[:10]}"


@pytest.mark.slow
def test_file_url_says_how_to_serve_and_the_page_still_reads(browser, built_book: Path):
    context = browser.new_context()
    page = context.new_page()
    page.goto((built_book / "chapters" / "jensen.html").as_uri(), wait_until="load")
    box = page.locator(".elbo-live-box").first
    note = box.locator(".elbo-live-offline")
    assert "make serve" in note.inner_text() and "http://127.0.0.1:8000/chapters/jensen.html" in note.inner_text()
    assert box.locator("button.elbo-live-check").is_disabled()
    if page.evaluate("() => !!(window.MathJax && window.MathJax.startup)"):
        page.evaluate("() => window.MathJax.startup.promise")
    assert page.locator("mjx-container").count() > 5  # the rest of the page is typeset and reads
    assert "Jensen" in page.locator("h1").first.inner_text()
    context.close()

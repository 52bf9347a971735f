r"""``{elbo-live}``: a live check box -- the student types the next line of a derivation and presses Check.

Usage in a chapter (MyST)::

    ```{elbo-live}
    :given: \log p(x) &= \mathbb{E}_{q(z)}\left[\log p(x)\right]
    :answer: &= \mathbb{E}_{q(z)}\left[\log \frac{p(x, z)}{p(z \mid x)}\right]
    :wrong: &= \mathbb{E}_{q(z)}\left[\log \frac{p(x, z)}{q(z)}\right]
    Write $\log p(x)$ with Bayes' rule inside the expectation.
    ```

Options:

* ``given`` -- the lines so far, in the check format of :mod:`derivations.check` (rows separated by ``\\``;
  the first row is ``first &= second`` or only the first expression); shown as a display;
* ``assume`` -- hypotheses, written into the check as a ``% assume:`` line (``\sigma > 0``);
* ``answer`` -- a right next line (shown folded, "one right line"); ``wrong`` -- a typical wrong one (not shown).
  The book's tests check both through :func:`elbo_live_page.check` (the answer follows, the wrong line is
  flagged), and the browser test types them into the page;
* the body is the prompt (MyST).

The verdict comes from :func:`derivations.check.check_derivation`, run in the page by Pyodide (a Web Worker,
``_static/elbo_live_worker.js``) on the engine bundled at build time: :func:`install_live_assets` copies the
Pyodide runtime (npm ``pyodide``, :data:`PYODIDE_VERSION`), the wheels of :data:`WHEELS` and a zip of the
engine's modules (:func:`engine_modules`, straight from this checkout) into ``_build/html/_static/live/``.
``scripts/setup.sh`` installs the first two (``.venv/npm``, ``.venv/live-wheels``); nothing is fetched when a
page is viewed.  A page opened from ``file://`` cannot run WebAssembly modules from disk: the box then says how to
serve the book (``make serve``).  The LaTeX/PDF builder prints the box as a plain exercise.
"""
from __future__ import annotations

import ast
import hashlib
import html
import json
import os
import re
import shutil
import zipfile
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
#: npm ``pyodide`` (the core runtime only; scripts/setup.sh installs this exact version).
PYODIDE_VERSION = "0.29.5"
#: The runtime files the page loads (``pyodide.js`` loads the others; the lock file is read at start).
PYODIDE_FILES = ("pyodide.js", "pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip",
                 "pyodide-lock.json", "package.json")
#: Pure-Python wheels from PyPI (``pip download --no-deps --only-binary :all:``), loaded by
#: ``pyodide.loadPackage([urls])``.  mpmath < 1.4: SymPy 1.14 wants it.
WHEELS = {"mpmath": "1.3.0", "sympy": "1.14.0", "lark": "1.3.1"}
#: Where the engine's import closure starts (plus the package's ``__init__``), and the page-side module.
#: SymPy and mpmath precompiled by Pyodide's Python (scripts/live_pyc.js, run by scripts/setup.sh): a zip of
#: sourceless ``.pyc`` the page puts on ``sys.path``.  Optional: without it the page loads the wheels and compiles
#: SymPy from source in the page (several seconds slower to the first verdict).
PRECOMPILED = ("sympy", "mpmath")
ENGINE_ENTRY = "check"
PAGE_MODULE = Path(__file__).resolve().parent / "elbo_live_page.py"
LIVE_DIR = "live"  # under _static
#: How a box states the checker's word hypotheses (``% assume: Leibniz``).
WORDS = {"leibniz": "differentiation under the integral sign (Leibniz)",
         "dominated convergence": "dominated convergence (a limit moves inside the expectation)"}


def pyodide_dir() -> Path:
    """The npm ``pyodide`` package (``$ELBO_LIVE_PYODIDE``, else ``.venv/npm/node_modules/pyodide``)."""
    return Path(os.environ.get("ELBO_LIVE_PYODIDE") or ROOT / ".venv" / "npm" / "node_modules" / "pyodide")


def wheels_dir() -> Path:
    """The downloaded wheels (``$ELBO_LIVE_WHEELS``, else ``.venv/live-wheels``)."""
    return Path(os.environ.get("ELBO_LIVE_WHEELS") or ROOT / ".venv" / "live-wheels")


def wheel_names() -> list[str]:
    return [f"{name}-{version}-py3-none-any.whl" for name, version in WHEELS.items()]


def pyc_name() -> str:
    """The precompiled zip's file name (keyed on the versions it was compiled from and for)."""
    return f"pyc-pyodide-{PYODIDE_VERSION}-" + "-".join(f"{m}-{WHEELS[m]}" for m in PRECOMPILED) + ".zip"


def missing_assets() -> list[str]:
    """What :func:`install_live_assets` needs and does not find (empty when all is there)."""
    out = [str(pyodide_dir() / f) for f in PYODIDE_FILES if not (pyodide_dir() / f).is_file()]
    pkg = pyodide_dir() / "package.json"
    if pkg.is_file():
        version = json.loads(pkg.read_text()).get("version")
        if version != PYODIDE_VERSION:
            out.append(f"{pkg} (version {version}, want {PYODIDE_VERSION})")
    out += [str(wheels_dir() / w) for w in wheel_names() if not (wheels_dir() / w).is_file()]
    return out


# ------------------------------------------------------------------------------------------ the engine
def _imports(path: Path, package: str, top_level_only: bool) -> set[str]:
    """The ``package`` modules that the file imports (``from package.x import``, ``from package import x``,
    ``import package.x``), at any depth of the file unless ``top_level_only``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes_ = tree.body if top_level_only else list(ast.walk(tree))
    pkg_dir = path.parent
    out = set()
    for node in nodes_:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == package:
                out |= {a.name for a in node.names if (pkg_dir / f"{a.name}.py").is_file()}
            elif node.module.startswith(package + "."):
                out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith(package + ".")}
    return out


def engine_modules(root: Path = ROOT) -> list[str]:
    """The modules of ``derivations/`` that :func:`derivations.check.check_derivation` can import: the closure of
    ``derivations/check.py``'s imports (also those inside functions) and of the package ``__init__``'s top-level
    imports.  The identity modules (NumPy/SciPy) are not in it; the book's tests import each module of the
    closure with NumPy blocked."""
    pkg = root / "derivations"
    todo = [ENGINE_ENTRY] + sorted(_imports(pkg / "__init__.py", "derivations", top_level_only=True))
    seen: set[str] = set()
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        todo += sorted(_imports(pkg / f"{mod}.py", "derivations", top_level_only=False) - seen)
    return sorted(seen)


def engine_zip_bytes(root: Path = ROOT) -> bytes:
    """A deterministic zip: ``derivations/__init__.py``, the modules of :func:`engine_modules`, and
    ``elbo_live_page.py`` at the top (what the page's worker imports)."""
    import io

    files = [("derivations/__init__.py", root / "derivations" / "__init__.py")]
    files += [(f"derivations/{m}.py", root / "derivations" / f"{m}.py") for m in engine_modules(root)]
    files.append(("elbo_live_page.py", PAGE_MODULE))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for arc, path in files:
            info = zipfile.ZipInfo(arc, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    return buf.getvalue()


def _copy_if_changed(src: Path, dst: Path) -> None:
    if dst.is_file() and dst.stat().st_size == src.stat().st_size and dst.stat().st_mtime >= src.stat().st_mtime:
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def install_live_assets(static: Path, root: Path = ROOT) -> dict:
    """Write ``static/live/``: ``pyodide/`` (the runtime), ``wheels/`` (the wheels to install and, when setup
    made it, the precompiled SymPy/mpmath zip of :func:`pyc_name` in place of their wheels), ``engine.zip`` and
    ``manifest.json`` (what the worker reads: the files' names and the engine's sha256).  Returns the manifest.

    Raises:
        FileNotFoundError: a runtime file or wheel is missing (the message says to run ``make setup``).
    """
    missing = missing_assets()
    if missing:
        raise FileNotFoundError(
            f"the live check boxes need Pyodide {PYODIDE_VERSION} and the wheels {', '.join(wheel_names())}; "
            f"missing: {', '.join(missing)}; run 'make setup' (scripts/setup.sh installs them into .venv/npm and "
            f".venv/live-wheels)")
    live = static / LIVE_DIR
    for f in PYODIDE_FILES:
        _copy_if_changed(pyodide_dir() / f, live / "pyodide" / f)
    pyc = wheels_dir() / pyc_name()
    # with the precompiled zip, only the other wheels are installed by loadPackage
    load = [w for w in wheel_names() if not (pyc.is_file() and w.split("-")[0] in PRECOMPILED)]
    for w in load:
        _copy_if_changed(wheels_dir() / w, live / "wheels" / w)
    if pyc.is_file():
        _copy_if_changed(pyc, live / "wheels" / pyc.name)
    keep = set(load) | ({pyc.name} if pyc.is_file() else set())
    for old in (live / "wheels").iterdir():  # what an earlier build copied and this one does not load
        if old.name not in keep:
            old.unlink()
    data = engine_zip_bytes(root)
    target = live / "engine.zip"
    if not target.is_file() or target.read_bytes() != data:
        tmp = target.with_name("engine.zip.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    manifest = {
        "pyodide": PYODIDE_VERSION,
        "indexURL": "pyodide/",
        "wheels": [f"wheels/{w}" for w in load],
        "pyc": f"wheels/{pyc.name}" if pyc.is_file() else None,
        "engine": "engine.zip",
        "engine_sha256": hashlib.sha256(data).hexdigest(),
        "modules": engine_modules(root),
    }
    text = json.dumps(manifest, indent=1) + "\n"
    path = live / "manifest.json"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return manifest


def _check_assets(app) -> None:
    if app.builder.format == "html" and not missing_assets() and not (wheels_dir() / pyc_name()).is_file():
        logger.info("elbo-live: no precompiled %s (scripts/setup.sh makes it with Node): the page will compile "
                    "SymPy from source, several seconds slower to its first verdict", pyc_name())
    if app.builder.format == "html" and missing_assets():
        logger.warning("elbo-live: the live check boxes need Pyodide %s and the wheels %s; missing: %s. Run "
                       "'make setup' (scripts/setup.sh installs them into .venv/npm and .venv/live-wheels).",
                       PYODIDE_VERSION, ", ".join(wheel_names()), ", ".join(missing_assets()))


def _install(app, exception) -> None:
    if exception is not None or app.builder.format != "html" or missing_assets():
        return
    install_live_assets(Path(app.outdir) / "_static")


# ------------------------------------------------------------------------------------------- the box
#: A display row wider than this (``elbo_identity.visible_width``, estimated characters) gets a phone form.
NARROW = 19


def display_rows(given: str, narrow: bool = False) -> str:
    r"""The given rows as one ``aligned`` display (a first row without ``&`` is aligned at its end).  ``narrow``:
    the phone form, where a row's left side and its ``&= right side`` are two rows, both flush left."""
    from elbo_live_page import _rows

    rows = _rows(given)
    if narrow:
        out = []
        for row in rows:
            left, amp, right = row.partition("&")
            out += [f"& {left.strip()}"] if left.strip() else []
            out += [f"&{right}"] if amp and right.strip() else []
        rows = out
    elif rows and "&" not in rows[0]:
        rows[0] = rows[0] + " &"
    return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


class ElboLive(SphinxDirective):
    """``{elbo-live}``: the given lines, a text area for the next line, a Check button and a verdict area."""

    has_content = True
    option_spec = {
        "given": directives.unchanged_required,
        "assume": directives.unchanged,
        "answer": directives.unchanged_required,
        "wrong": directives.unchanged,
        "rows": directives.positive_int,
    }

    def run(self) -> list[nodes.Node]:
        given = self.options["given"].strip()
        assume = self.options.get("assume", "").strip()
        answer = self.options["answer"].strip()
        box = nodes.container(classes=["elbo-live"])
        title = nodes.paragraph(classes=["elbo-live-title"])
        title += nodes.strong(text="Check your next line")
        box += title
        if self.content:
            box += self.parse_content_to_nodes()
        if assume:  # math as math, words (Leibniz, dominated convergence) as words
            hyp = nodes.paragraph(classes=["elbo-live-assume"])
            hyp += nodes.Text("Assume ")
            for k, part in enumerate(p.strip() for p in assume.split(",")):
                hyp += nodes.Text(", " if k else "")
                if re.fullmatch(r"[A-Za-z][A-Za-z ]*", part):
                    hyp += nodes.Text(WORDS.get(part.lower(), part))
                else:
                    hyp += nodes.math(part, part)
            hyp += nodes.Text(".")
            box += hyp
        from elbo_identity import visible_width
        from elbo_live_page import _rows

        shown = display_rows(given)
        wide = any(visible_width(r) > NARROW for r in _rows(given))
        box += nodes.math_block(shown, shown, classes=["elbo-live-given"] + (["elbo-eq-wide"] if wide else []),
                                docname=self.env.docname, number=None, label=None, nowrap=False)
        if wide:  # on a phone (CSS of elbo_book.py): each side on its own row
            phone = display_rows(given, narrow=True)
            only_phone = addnodes.only(expr="html")
            only_phone += nodes.math_block(phone, phone, classes=["elbo-live-given", "elbo-eq-narrow"],
                                           docname=self.env.docname, number=None, label=None, nowrap=False)
            box += only_phone
        rows = self.options.get("rows", 2)
        attrs = (f'data-given="{html.escape(given, quote=True)}" data-assume="{html.escape(assume, quote=True)}"')
        ident = f"elbo-live-{self.env.docname.replace('/', '-')}-{self.env.new_serialno('elbo-live')}"
        widget = f"""<div class="elbo-live-box" id="{ident}" {attrs}>
<label class="elbo-live-label" for="{ident}-input">Your next line, in LaTeX (e.g. <code>&amp;= \\mathbb{{E}}_{{q(z)}}\\left[\\cdots\\right]</code>; several lines: separate them with <code>\\\\</code>; or a whole <code>\\begin{{aligned}}</code> chain)</label>
<textarea class="elbo-live-input" id="{ident}-input" rows="{rows}" spellcheck="false" autocapitalize="off" autocomplete="off"></textarea>
<div class="elbo-live-actions"><button type="button" class="elbo-live-check">Check</button>
<span class="elbo-live-status" role="status" aria-live="polite">The checker (Python in the page) loads with the page.</span></div>
<div class="elbo-live-verdict" aria-live="polite"></div>
<noscript><p>The checker needs JavaScript. Without it: put the chain in a file and run <code>python -m derivations check FILE</code>.</p></noscript>
<details class="elbo-live-answer"><summary>One right line</summary><pre>{html.escape(answer)}</pre></details>
</div>"""
        only_html = addnodes.only(expr="html")
        only_html += nodes.raw("", widget, format="html")
        box += only_html
        only_latex = addnodes.only(expr="latex")
        para = nodes.paragraph()
        para += nodes.Text("Write the next line. To check it, put the chain in a file and run ")
        para += nodes.literal(text="python -m derivations check FILE")
        para += nodes.Text(", or type it into this box in the HTML book (served with ")
        para += nodes.literal(text="make serve")
        para += nodes.Text(").")
        only_latex += para
        box += only_latex
        return [box]


def setup(app) -> dict:
    app.add_directive("elbo-live", ElboLive)
    app.add_css_file("elbo_live.css")
    app.add_js_file("elbo_live.js", defer="defer")
    app.connect("builder-inited", _check_assets)
    app.connect("build-finished", _install)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}

"""``pip install elbo-lab`` outside the checkout (issue 22): the sdist builds, the wheel built from it installs in a
fresh virtual environment, and the user commands run from the installed package.

The test does what the release workflow (``.github/workflows/release.yml``) does, offline:

1. copy the project's packaging inputs (``pyproject.toml``, ``README.md``, the three packages) to a temporary
   folder (so no ``build/`` or ``*.egg-info`` is written into the checkout), build the sdist there with the
   setuptools backend, unpack it and build the wheel *from the sdist* (as ``python -m build`` does), so a file
   missing from the sdist fails here, not on PyPI;
2. create a fresh venv in a temporary folder outside the repository (``python -m venv --without-pip``) and
   ``pip install --no-deps --no-index`` the wheel into it with this interpreter's pip (``pip --python``);
3. only then make the heavy dependencies already installed here (torch, SymPy, Manim, ...) visible to the new
   venv with a ``.pth`` file holding this interpreter's site-packages *as a plain path*: ``site`` appends the
   folder to ``sys.path`` but does not process the ``.pth`` files inside it, so the checkout's editable install
   (``__editable__.elbo_lab-*.pth`` and its finder) stays inactive and ``import derivations`` can only find the
   wheel's copy (asserted below). pip never sees that folder, so it cannot touch the shared environment;
4. run ``python -m derivations --list``, ``python -m derivations --only jensen``, ``python -m derivations check``
   on two shipped examples, ``python -m vizlab list`` with the working directory a temporary folder outside the
   checkout, and check that the committed results ship as package data and are found from the installed package;
5. execute one chapter notebook of the book end to end: ``NOTEBOOK`` exported as the book's download link and the
   Colab/Binder buttons give it (``elbo_book.chapter_notebook``: the first cell installs the package where it is
   missing -- here it must find the wheel and install nothing -- and each ``{elbo-identity}`` block is its code)
   with nbclient in a Jupyter kernel run by the new venv's Python, so its imports are the installed wheel's;
6. (no venv) every module the book's notebooks import is the package, the standard library or a distribution
   declared in ``dependencies`` or the ``notebooks`` extra: step 5 borrows this environment's packages, so it
   cannot show that ``pip install "elbo-lab[notebooks]"`` alone is enough.

No network: the build uses the setuptools already installed (no build isolation) and pip installs with
``--no-index``. About 25-40 s on two cores (measured 22-34 s with other jobs running).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("derivations", "training", "vizlab")
SCENE_COUNT_MIN = 10  # `python -m vizlab list` prints one line per scene
#: the chapter notebook executed against the installed package: the one that reads the committed results
NOTEBOOK = REPO / "book" / "chapters" / "elbo_surgery.md"
BOOK_EXT = REPO / "book" / "_ext"  # elbo_book.chapter_notebook: the notebook a reader downloads or opens in Colab

#: run by this interpreter (jupytext, nbclient, the book's extension): exports the chapter as the book does,
#: installs a kernel spec for the venv's Python, executes the notebook in it (an error in any cell raises),
#: appends a probe cell, writes the executed notebook
EXECUTE_NOTEBOOK = """
import json, os, subprocess, sys, time
import jupytext, nbformat
from nbclient import NotebookClient
vpy, src, out, ext = sys.argv[1:5]
sys.path.insert(0, ext)
import elbo_book
prefix = os.path.dirname(os.path.dirname(vpy))
subprocess.run([vpy, "-m", "ipykernel", "install", "--prefix", prefix, "--name", "elbo-wheel-test"], check=True)
os.environ["JUPYTER_PATH"] = os.path.join(prefix, "share", "jupyter")
nb = elbo_book.chapter_notebook(open(src, encoding="utf-8").read())
nb.cells.append(nbformat.v4.new_code_cell(
    "import json, sys, derivations, training, vizlab\\n"
    "print('PROBE ' + json.dumps({'python': sys.executable, "
    "'files': [m.__file__ for m in (derivations, training, vizlab)]}))"))
t = time.time()
NotebookClient(nb, kernel_name="elbo-wheel-test", timeout=600,
               resources={"metadata": {"path": os.getcwd()}}).execute()
print(f"executed {len(nb.cells)} cells in {time.time() - t:.1f} s")
nbformat.write(nb, out)
"""


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    p.shown = (f"$ {' '.join(map(str, cmd))}  (cwd {cwd})\nrc={p.returncode}\n"
               f"--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}")
    return p


def _clean_env() -> dict[str, str]:
    """This process's environment without what would point Python at the checkout or at other results."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "PIP_REQUIRE_VIRTUALENV", "VIRTUAL_ENV", "ELBO_LAB_RESULTS_DIR",
                                "ELBO_LAB_REVEALJS", "__PYVENV"))}
    env.update(OMP_NUM_THREADS="1", PYTHONNOUSERSITE="1", PYTHONDONTWRITEBYTECODE="1")
    return env


def _copy_sources(dst: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    dst.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dst / name)
    for pkg in PACKAGES:
        shutil.copytree(REPO / pkg, dst / pkg, ignore=ignore)
    return dst


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``(venv_python, site_packages, workdir, env)`` of a fresh venv holding only the wheel."""
    root = tmp_path_factory.mktemp("elbo_lab_wheel")
    assert REPO not in root.parents, "the temporary folder must lie outside the checkout"
    env = _clean_env()

    # 1. sdist with the setuptools backend (no isolation, offline), then the wheel from the unpacked sdist
    src = _copy_sources(root / "src")
    sdist_dir = root / "sdist"
    sdist_dir.mkdir()
    p = _run([sys.executable, "-c", "import sys; from setuptools import build_meta as b; "
              "print(b.build_sdist(sys.argv[1]))", str(sdist_dir)], cwd=src, env=env)
    assert p.returncode == 0, p.shown
    sdist = sdist_dir / p.stdout.strip().splitlines()[-1]
    assert sdist.name.startswith("elbo_lab-") and sdist.name.endswith(".tar.gz"), sdist.name
    with tarfile.open(sdist) as tf:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4
            tf.extractall(root / "unpacked", filter="data")
        else:
            tf.extractall(root / "unpacked")
    (unpacked,) = (root / "unpacked").iterdir()
    wheel_dir = root / "wheel"
    p = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
              "-w", str(wheel_dir), str(unpacked)], cwd=root, env=env)
    assert p.returncode == 0, p.shown
    (wheel,) = wheel_dir.glob("elbo_lab-*-py3-none-any.whl")

    # 2. a fresh venv outside the repository; the wheel installed with this interpreter's pip
    venv = root / "venv"
    p = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=root, env=env)
    assert p.returncode == 0, p.shown
    vpy = venv / "bin" / "python"
    p = _run([str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root, env=env)
    assert p.returncode == 0, p.shown
    site = Path(p.stdout.strip())
    p = _run([sys.executable, "-m", "pip", "--python", str(vpy), "install", "--no-deps", "--no-index", str(wheel)],
             cwd=root, env=env)
    assert p.returncode == 0, p.shown
    assert (site / "derivations" / "__init__.py").is_file(), sorted(x.name for x in site.iterdir())

    # 3. the heavy dependencies of this environment, as plain sys.path entries (their .pth files not processed)
    here = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_elbo_lab_test_dependencies.pth").write_text("".join(f"{d}\n" for d in sorted(here)))

    work = root / "work"
    work.mkdir()
    return vpy, site, work, env


def test_wheel_imports_the_installed_package_and_its_data(installed):
    vpy, site, work, env = installed
    probe = textwrap.dedent("""
        import json, sys
        from importlib import metadata
        import derivations, training, vizlab
        from training import result_files
        from vizlab import data
        from vizlab.scenes import SCENES
        res2 = data.load_results(2)
        enc2 = data.load_npz(2, "encodings")
        print(json.dumps({
            "files": {m.__name__: m.__file__ for m in (derivations, training, vizlab)},
            "editable_finder_loaded": any("__editable__" in n for n in sys.modules),
            "dist_files": str(metadata.distribution("elbo-lab").locate_file("")),
            "version": metadata.version("elbo-lab"),
            "results_dir": str(data.results_dir()),
            "schema": str(result_files.SCHEMA_PATH),
            "dims": data.available_dims(),
            "d2_terms": sorted(res2) if res2 else None,
            "d2_encodings": sorted(enc2) if enc2 else None,
            "scene_inputs": [str(p) for s in SCENES for p in s.inputs()],
            "examples": sorted(p.name for p in (data.REPO_ROOT / "derivations" / "examples").iterdir()),
        }))
    """)
    p = _run([str(vpy), "-c", probe], cwd=work, env=env)
    assert p.returncode == 0, p.shown
    info = json.loads(p.stdout.strip().splitlines()[-1])
    for name, f in info["files"].items():  # the wheel's copy, not the checkout's (editable install inactive)
        assert Path(f).is_relative_to(site), (name, f)
        assert not Path(f).is_relative_to(REPO), (name, f)
    assert info["editable_finder_loaded"] is False
    assert Path(info["dist_files"]).resolve() == site.resolve(), info["dist_files"]
    # the committed results ship as package data and the installed package reads them
    assert Path(info["results_dir"]).is_relative_to(site), info["results_dir"]
    assert Path(info["schema"]).is_file() and Path(info["schema"]).is_relative_to(site)
    assert info["dims"] == [2, 10, 20], info["dims"]
    assert info["d2_terms"] and "files" in info["d2_terms"], info["d2_terms"]
    assert info["d2_encodings"], "vae_d2.encodings.npz not shipped"
    committed = sorted(p.relative_to(REPO / "training" / "results").as_posix()
                       for p in (REPO / "training" / "results").rglob("*")
                       if p.is_file() and p.suffix in (".json", ".jsonl", ".npz"))
    shipped = sorted(p.relative_to(site / "training" / "results").as_posix()
                     for p in (site / "training" / "results").rglob("*") if p.is_file())
    assert shipped == committed
    # every file a scene declares as input (results, derivations sources) is found inside the installed package
    assert info["scene_inputs"]
    for f in info["scene_inputs"]:
        assert Path(f).is_relative_to(site) and Path(f).is_file(), f
    assert info["examples"] == sorted(p.name for p in (REPO / "derivations" / "examples").iterdir())


def test_installed_commands_run_outside_the_checkout(installed):
    vpy, site, work, env = installed
    examples = site / "derivations" / "examples"

    p = _run([str(vpy), "-m", "derivations", "--list"], cwd=work, env=env)
    assert p.returncode == 0, p.shown
    names = [line.split()[0] for line in p.stdout.splitlines() if line.strip()]
    for name in ("evidence_monte_carlo", "jensen", "elbo_gap", "gaussian_kl", "elbo_surgery"):
        assert name in names, p.shown

    p = _run([str(vpy), "-m", "derivations", "--only", "jensen"], cwd=work, env=env)
    assert p.returncode == 0, p.shown
    assert "1/1 identities ok" in p.stdout, p.shown
    assert "proved" in p.stdout and "3/3 rejected" in p.stdout, p.shown

    p = _run([str(vpy), "-m", "derivations", "check", str(examples / "elbo_gap_right.md")], cwd=work, env=env)
    assert p.returncode == 0, p.shown
    assert "FOLLOWS" in p.stdout and "steps follow" in p.stdout, p.shown

    p = _run([str(vpy), "-m", "derivations", "check", str(examples / "elbo_gap_wrong_kl_direction.md")],
             cwd=work, env=env)
    assert p.returncode == 1, p.shown
    assert "DOES NOT FOLLOW" in p.stdout and "KL in the wrong direction" in p.stdout, p.shown

    p = _run([str(vpy), "-m", "vizlab", "list"], cwd=work, env=env)
    assert p.returncode == 0, p.shown
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    assert len(lines) >= SCENE_COUNT_MIN, p.shown
    assert lines[0].split()[0] == "EvidenceMonteCarlo" and any(l.split()[0] == "ElboSurgery" for l in lines), p.shown

    # the default output folders of render/slides lie under the working folder, not inside site-packages
    p = _run([str(vpy), "-c", "from vizlab.__main__ import DEFAULT_OUT as v; from vizlab.slides import "
              "DEFAULT_OUT as s; print(v.absolute()); print(s.absolute())"], cwd=work, env=env)
    assert p.returncode == 0, p.shown
    for line in p.stdout.split():
        assert Path(line).is_relative_to(work), p.shown

    # the console scripts of [project.scripts] are installed too
    p = _run([str(vpy.parent / "elbo-derivations"), "--list"], cwd=work, env=env)
    assert p.returncode == 0 and "jensen" in p.stdout, p.shown


def test_chapter_notebook_runs_against_the_installed_package(installed):
    vpy, site, work, env = installed
    if not NOTEBOOK.is_file():
        pytest.fail(f"{NOTEBOOK} not found: set NOTEBOOK in {__file__} to a chapter of the book with code cells")
    out = work / "executed.ipynb"
    p = _run([sys.executable, "-c", EXECUTE_NOTEBOOK, str(vpy), str(NOTEBOOK), str(out), str(BOOK_EXT)], cwd=work, env=env,
             timeout=900)
    assert p.returncode == 0, p.shown
    nb = json.loads(out.read_text(encoding="utf-8"))
    errors = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors
    # the install cell came first and installed nothing: the package was already importable (offline: no pip)
    sys.path.insert(0, str(BOOK_EXT))
    import elbo_book

    assert "".join(nb["cells"][0]["source"]) == elbo_book.INSTALL_CELL
    assert nb["cells"][0].get("outputs") == [], nb["cells"][0].get("outputs")
    text = "".join("".join(o.get("text", "")) for o in nb["cells"][-1].get("outputs", []))
    probe = json.loads(text.split("PROBE ", 1)[1])
    assert Path(probe["python"]).parent == vpy.parent, probe  # the kernel ran the new venv's Python
    for f in probe["files"]:
        assert Path(f).is_relative_to(site), probe


def _imported_modules(page: Path) -> set[str]:
    """Top-level names of the modules a notebook page's code cells import (magics and shell lines skipped)."""
    import jupytext

    names = set()
    for cell in jupytext.read(page).cells:
        if cell.cell_type != "code":
            continue
        code = "\n".join(ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_notebook_import_is_declared_for_pip_install():
    """What the book's notebooks import is the package, the standard library, or a distribution named in
    ``dependencies`` or the ``notebooks`` extra, so ``pip install "elbo-lab[notebooks]"`` is enough to run them
    anywhere (Colab, Binder). The execution test above cannot show this: it borrows this environment's packages."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {_canonical(re.match(r"[A-Za-z0-9._-]+", r).group(0))
                for r in project["dependencies"] + project["optional-dependencies"]["notebooks"]}
    dists = metadata.packages_distributions()
    pages = [p for p in sorted((REPO / "book").rglob("*.md"))
             if "_build" not in p.parts and "code-cell" in p.read_text(encoding="utf-8")]
    assert NOTEBOOK in pages
    missing = {}
    for page in pages:
        for mod in sorted(_imported_modules(page)):
            if mod in PACKAGES or mod in sys.stdlib_module_names:
                continue
            provided = {_canonical(d) for d in dists.get(mod, [])}
            if not provided & declared:
                where = page.relative_to(REPO).as_posix()
                missing.setdefault(where, []).append(f"{mod} ({', '.join(provided) or '?'})")
    assert not missing, (f"notebook imports not declared in pyproject.toml: {missing}; add the distribution to "
                         "[project.optional-dependencies] notebooks (or to dependencies)")

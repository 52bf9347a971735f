"""The Colab and Binder launch buttons (book/_ext/elbo_launch.py) and the notebooks they open.

The buttons cannot be tried offline: what is checked here is everything short of the click --

* every chapter page carries one Binder and one Colab link, built from the one ``repository_url`` of
  ``book/_config.yml``, that names ``notebooks/<chapter>.ipynb`` on the ``notebooks`` branch;
* ``scripts/notebooks_branch.sh`` lays that branch out from the build: each linked path is a file there, a valid
  notebook whose first cell installs the package, beside Binder's ``binder/requirements.txt``;
* pages that are not exported as notebooks (the front and back matter) carry no launch button;
* the first cell calls ``%pip install "elbo-lab[notebooks]"`` only where the package is missing.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book" / "_ext"))

import elbo_book  # noqa: E402
import elbo_launch  # noqa: E402


def _theme_options() -> dict:
    config = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
    return config["sphinx"]["config"]["html_theme_options"]


def _launch_links(page: Path) -> dict[str, str]:
    text = page.read_text()
    options = _theme_options()["launch_buttons"]
    links = {}
    for href in re.findall(r'href="([^"]+)"', text):
        href = unescape(href)
        for name, base in (("Binder", options["binderhub_url"]), ("Colab", options["colab_url"])):
            if href.startswith(base):
                assert name not in links or links[name] == href, f"{page.name}: two {name} links"
                links[name] = href
    return links


@pytest.fixture(scope="module")
def branch(built_book: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("nb") / "branch"
    p = subprocess.run(["bash", str(ROOT / "scripts" / "notebooks_branch.sh"), str(out)], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return out


def test_repository_url_is_configured_once():
    url = _theme_options()["repository_url"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url), url
    # the repository is named in book/_config.yml and nowhere else in the book's configuration and extensions
    for path in [ROOT / "book" / "_config.yml", *sorted((ROOT / "book" / "_ext").glob("*.py"))]:
        assert path.read_text().count(url) == (1 if path.name == "_config.yml" else 0), path


@pytest.mark.slow
def test_every_chapter_launches_its_notebook_from_the_branch(built_book: Path, branch: Path):
    options = _theme_options()
    chapters = sorted(p for folder in elbo_launch.EXPORTED for p in (built_book / folder).glob("*.html"))
    assert len(chapters) >= 10
    for page in chapters:
        name = page.stem
        notebook = f"{elbo_launch.NOTEBOOK_FOLDER}/{name}.ipynb"
        links = _launch_links(page)
        expected = elbo_launch.launch_urls(options["repository_url"], "notebooks", notebook,
                                           options["launch_buttons"]["binderhub_url"],
                                           options["launch_buttons"]["colab_url"])
        assert links == expected, f"{page.name}: {links}"
        owner_repo = options["repository_url"].removeprefix("https://github.com/")
        assert links["Colab"].endswith(f"/github/{owner_repo}/blob/notebooks/{notebook}"), links
        assert f"/v2/gh/{owner_repo}/notebooks?urlpath=tree/{notebook}" in links["Binder"], links
        # the linked file exists on the branch, is the book's download, and starts with the install cell
        target = branch / notebook
        assert target.is_file(), f"{page.name} links {notebook}, not on the notebooks branch"
        assert target.read_bytes() == (built_book / elbo_book.NOTEBOOK_DIR / f"{name}.ipynb").read_bytes()
        cells = json.loads(target.read_text())["cells"]
        assert cells[0]["cell_type"] == "code" and "".join(cells[0]["source"]) == elbo_book.INSTALL_CELL
    requirements = (branch / "binder" / "requirements.txt").read_text()
    assert re.search(r"^elbo-lab\[notebooks\]", requirements, re.M), requirements


@pytest.mark.slow
def test_front_and_back_matter_have_no_launch_button(built_book: Path):
    for name in ("intro.html", "notation.html", "bibliography.html"):
        page = built_book / name
        if page.is_file():
            assert _launch_links(page) == {}, f"{name} has launch buttons but no notebook"


class _Shell:
    def __init__(self):
        self.calls = []

    def run_line_magic(self, name, line):
        self.calls.append((name, line))


def _run_install_cell(monkeypatch, installed: bool) -> list:
    from IPython.core.inputtransformer2 import TransformerManager

    shell = _Shell()
    code = TransformerManager().transform_cell(elbo_book.INSTALL_CELL)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: (real(name, *a) if installed else None) if name == "derivations" else real(name, *a))
    exec(compile(code, "<install cell>", "exec"), {"get_ipython": lambda: shell})
    return shell.calls


def test_install_cell_installs_only_where_the_package_is_missing(monkeypatch):
    assert '%pip install "elbo-lab[notebooks]"' in elbo_book.INSTALL_CELL  # says how, in words
    assert _run_install_cell(monkeypatch, installed=True) == []
    assert _run_install_cell(monkeypatch, installed=False) == [("pip", 'install --quiet "elbo-lab[notebooks]"')]


def test_launch_urls_refuse_a_repository_that_is_not_on_github():
    with pytest.raises(ValueError, match="repository_url"):
        elbo_launch.launch_urls("https://example.org/a/b", "notebooks", "notebooks/x.ipynb", "https://mybinder.org")

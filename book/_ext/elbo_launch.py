"""Colab and Binder launch buttons that open the chapter's *notebook* (issue 22).

The book's pages are MyST Markdown, and their ``{elbo-identity}`` blocks become code only in the exported
notebook (``elbo_book.chapter_notebook``, written to ``_downloads/notebooks/<name>.ipynb``).  Colab opens
notebooks only from GitHub, and a ``.md`` not at all, so, as the QuantEcon lectures do with their notebook
repository, the book workflow (``.github/workflows/book.yml``) publishes the exported notebooks on a branch of the
repository (``elbo_notebooks_branch``, default ``notebooks``) laid out by ``scripts/notebooks_branch.sh``::

    notebooks/<name>.ipynb     every chapter, exactly as the book's download link gives it
    binder/                    requirements.txt (pip install "elbo-lab[notebooks]"), apt.txt, runtime.txt
    README.md

sphinx-book-theme builds the launch buttons from ``html_theme_options`` (``repository_url`` -- the one place
the repository is named -- and ``launch_buttons``) but points them at ``<path_to_docs>/<page>.md`` on
``repository_branch``.  This extension, run after the theme, points them at ``notebooks/<name>.ipynb`` on the
notebooks branch instead, and removes them from pages that are not exported as notebooks.

The buttons are plain links: nothing is fetched when a page is viewed (tests/book/test_browser.py).  They cannot
be tried offline; tests/book/test_launch_buttons.py checks their URLs and that each names a file of the branch.
"""

from __future__ import annotations

from urllib.parse import quote

from sphinx.application import Sphinx

NOTEBOOK_FOLDER = "notebooks"  # inside the notebooks branch (scripts/notebooks_branch.sh)
EXPORTED = ("chapters/", "practice/", "appendix/")  # the pages elbo_book exports as notebooks


def launch_urls(repository_url: str, branch: str, notebook: str, binderhub_url: str = "", colab_url: str = "",
                interface: str = "classic") -> dict[str, str]:
    """``{"Binder": url, "Colab": url}`` for ``notebook`` (a path inside ``branch``) of a GitHub repository.

    Raises:
        ValueError: if ``repository_url`` is not ``https://github.com/<owner>/<name>``.
    """
    parts = repository_url.rstrip("/").removesuffix(".git").split("/")
    if len(parts) != 5 or parts[:3] != ["https:", "", "github.com"]:
        raise ValueError(f"repository_url {repository_url!r} is not https://github.com/<owner>/<name>: "
                         "set html_theme_options.repository_url in book/_config.yml")
    owner, name = parts[3], parts[4]
    ui = {"classic": "tree", "jupyterlab": "lab/tree"}[interface]
    out = {}
    if binderhub_url:
        out["Binder"] = (f"{binderhub_url.rstrip('/')}/v2/gh/{owner}/{name}/{quote(branch, safe='')}"
                         f"?urlpath={quote(f'{ui}/{notebook}', safe='/')}")
    if colab_url:
        out["Colab"] = f"{colab_url.rstrip('/')}/github/{owner}/{name}/blob/{branch}/{notebook}"
    return out


def _point_at_notebooks(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    buttons = context.get("header_buttons")
    if not buttons:
        return
    group = next((b for b in buttons if b.get("label") == "launch-buttons"), None)
    if group is None:
        return
    if not pagename.startswith(EXPORTED):
        buttons.remove(group)  # the front and back matter have no notebook
        return
    options = app.config.html_theme_options
    launch = options.get("launch_buttons", {})
    urls = launch_urls(options["repository_url"], app.config.elbo_notebooks_branch,
                       f"{NOTEBOOK_FOLDER}/{pagename.split('/', 1)[1]}.ipynb",
                       launch.get("binderhub_url", ""), launch.get("colab_url", ""),
                       launch.get("notebook_interface", "classic"))
    kept = []
    for button in group["buttons"]:
        if button.get("text") in urls:
            button["url"] = urls[button["text"]]
            kept.append(button)
    group["buttons"] = kept
    if not kept:
        buttons.remove(group)


def setup(app: Sphinx) -> dict:
    app.add_config_value("elbo_notebooks_branch", "notebooks", "html")
    app.connect("html-page-context", _point_at_notebooks, priority=600)  # after sphinx-book-theme's (501)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}

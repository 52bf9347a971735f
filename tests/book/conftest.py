"""Fixtures for the book tests: one build per session, a localhost server, a headless Debian Chromium.

The build is ``scripts/build_book.sh`` (what ``make book`` runs): incremental, so with nothing changed it
takes seconds.  Set ``ELBO_BOOK_HTML=/path/to/_build/html`` to test an existing build instead of building.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def built_book() -> Path:
    """``book/_build/html`` after ``scripts/build_book.sh`` succeeded (or ``$ELBO_BOOK_HTML``)."""
    given = os.environ.get("ELBO_BOOK_HTML")
    if given:
        html = Path(given)
        assert (html / "index.html").is_file(), f"ELBO_BOOK_HTML={given} has no index.html"
        return html
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build_book.sh")],
        cwd=ROOT, capture_output=True, text=True, timeout=3600,
    )
    assert proc.returncode == 0, (
        f"scripts/build_book.sh failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    )
    html = BOOK / "_build" / "html"
    assert (html / "index.html").is_file()
    return html


@pytest.fixture(scope="session")
def html_pages(built_book: Path) -> list[Path]:
    """Every content page of the build (Sphinx's generated search and index pages excluded)."""
    skip = {"search.html", "genindex.html"}
    pages = sorted(p for p in built_book.rglob("*.html")
                   if p.name not in skip and "_static" not in p.parts and "reports" not in p.parts)
    assert pages, f"no HTML pages under {built_book}"
    return pages


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


@pytest.fixture(scope="session")
def book_server(built_book: Path):
    """Serve the built book on 127.0.0.1 (a free port) from a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright (Playwright's own browser download is not used)."""
    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} not found: scripts/setup.sh apt-installs Debian's chromium"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def is_local(url: str) -> bool:
    """A request the offline book may make: to this machine, or a data/blob/about URL."""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    return parsed.scheme in ("data", "blob", "about") or parsed.hostname in ("127.0.0.1", "localhost")


@pytest.fixture(scope="session")
def offline():
    """``offline(context) -> list``: route a Playwright context so that every request leaving this machine is
    aborted and recorded in the returned list (the browser tests assert it stays empty); also ``offline.is_local``."""

    def install(context) -> list:
        external: list[str] = []

        def guard(route):
            if is_local(route.request.url):
                route.continue_()
            else:
                external.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        return external

    install.is_local = is_local
    return install

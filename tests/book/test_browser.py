"""The built book in a real browser: headless Debian Chromium driven by Playwright, served from localhost.

Every page is opened; the test records every request the page makes and blocks any that leaves localhost,
waits for MathJax to typeset, plays each video's metadata, and follows every internal link.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urldefrag

import pytest

pytestmark = pytest.mark.slow

MATH_PAGES = {"notation.html"}  # plus every chapter


@pytest.fixture(scope="module")
def visited(browser, offline, book_server: str, built_book: Path, html_pages: list[Path]) -> dict:
    """Open every page once; collect what the tests below assert on."""
    context = browser.new_context()
    external = offline(context)
    _is_local = offline.is_local
    failed: list[str] = []
    # a live check box's checker (book/_ext/elbo_live.py) may still be loading when the test closes its page:
    # those downloads end aborted, which is no failure of the book
    context.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})")
               if _is_local(r.url) and not ("/_static/live/" in r.url and "ERR_ABORTED" in str(r.failure)) else None)
    pages: dict[str, dict] = {}
    for path in html_pages:
        rel = path.relative_to(built_book).as_posix()
        url = f"{book_server}/{rel}"
        page = context.new_page()
        redirect = re.search(r'http-equiv="refresh" content="\d+;\s*url=([^"]+)"', path.read_text(), re.I)
        response = page.goto(url, wait_until="load")
        assert response is not None and response.ok, f"{rel}: HTTP {response and response.status}"
        if redirect:  # Jupyter Book's index.html forwards to the root page
            page.wait_for_url(f"**/{redirect.group(1)}")
            page.wait_for_load_state("load")
        # MathJax 3 resolves startup.promise once the page is typeset.
        has_mathjax = page.evaluate("() => !!(window.MathJax && window.MathJax.startup)")
        if has_mathjax:
            page.evaluate("() => window.MathJax.startup.promise")
        math = page.locator("mjx-container").count()
        videos = page.evaluate(
            """async () => Promise.all([...document.querySelectorAll('video')].map(v => new Promise(resolve => {
                   const done = () => resolve({src: v.currentSrc, duration: v.duration, error: v.error && v.error.code});
                   if (v.readyState >= 1) return done();
                   v.addEventListener('loadedmetadata', done, {once: true});
                   v.addEventListener('error', done, {once: true});
                   v.load();
                   setTimeout(done, 15000);
               })))"""
        )
        links = page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)")
        pages[rel] = {"math": math, "mathjax": has_mathjax, "videos": videos, "links": links}
        page.close()
    context.close()
    return {"pages": pages, "external": external, "failed": failed}


def test_no_request_leaves_localhost(visited):
    assert visited["external"] == [], f"requests to other hosts: {sorted(set(visited['external']))[:20]}"


def test_no_local_request_fails(visited):
    assert visited["failed"] == [], visited["failed"][:20]


def test_math_is_rendered(visited):
    pages = visited["pages"]
    expected = [p for p in pages if p.startswith("chapters/") or p in MATH_PAGES]
    assert len(expected) >= 3
    for rel in expected:
        assert pages[rel]["mathjax"], f"{rel}: MathJax not loaded"
        assert pages[rel]["math"] > 0, f"{rel}: no typeset math (mjx-container)"


def test_every_video_is_playable(visited, built_book: Path):
    videos = [(rel, v) for rel, info in visited["pages"].items() for v in info["videos"]]
    on_disk = list((built_book / "_static" / "videos").glob("*.mp4"))
    if on_disk:
        assert videos, "videos were rendered but no page embeds one"
    for rel, video in videos:
        assert video["error"] is None, f"{rel}: {video['src']} error {video['error']}"
        assert video["src"].startswith("http://127.0.0.1"), f"{rel}: {video['src']}"
        assert video["duration"] and video["duration"] > 0, f"{rel}: {video['src']} has no duration"


def test_no_broken_internal_link(visited, built_book: Path, book_server: str):
    import urllib.request

    checked: dict[str, bool] = {}
    broken = []
    for rel, info in visited["pages"].items():
        for href in info["links"]:
            if not href.startswith(book_server):
                continue  # external links (e.g. bibliography DOIs) are not requests the book needs
            target, fragment = urldefrag(href)
            if target not in checked:
                try:
                    with urllib.request.urlopen(target, timeout=10) as response:
                        body = response.read().decode("utf-8", "replace")
                    checked[target] = True
                except OSError:
                    checked[target] = False
                    body = ""
                checked[target + "#body"] = body  # type: ignore[assignment]
            if not checked[target]:
                broken.append(f"{rel} -> {href}")
            elif fragment and target.endswith(".html") and f'id="{fragment}"' not in checked[target + "#body"]:
                broken.append(f"{rel} -> {href} (no #{fragment})")
    assert not broken, "broken internal links:\n" + "\n".join(broken[:30])
    assert checked, "no internal link found"


def test_every_page_was_opened(visited, html_pages: list[Path], built_book: Path):
    assert set(visited["pages"]) == {p.relative_to(built_book).as_posix() for p in html_pages}
    assert any(rel.startswith("chapters/") for rel in visited["pages"])

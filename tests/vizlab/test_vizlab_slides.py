"""The slide decks: every scene in the presentation, speaker notes from the registry, a PDF page per slide,
and the presentation opened from disk in Chromium: every slide shown, its video playing, no request leaving
the machine.  Uses the session render of ``conftest.slides`` (all scenes, -ql)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from vizlab.scenes import SCENE_NAMES

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]


def test_every_scene_has_a_deck_and_slides_in_the_presentation(slides):
    res, _ = slides
    index = json.loads((res.presentation.parent / "slides.json").read_text())
    assert list(index["scenes"]) == list(SCENE_NAMES)
    html = res.presentation.read_text()
    n_sections = html.count("data-background-video=")
    assert n_sections == sum(s["slides"] for s in index["scenes"].values())
    for name, entry in index["scenes"].items():
        assert entry["slides"] >= 3, f"{name}: a slide break at each step"
        deck = (res.presentation.parent / entry["deck"]).read_text()
        assert deck.count("data-background-video=") == entry["slides"]
    assert "http://" not in html and "https://" not in re.sub(r"<!--.*?-->|//.*", "", html)


def test_speaker_notes_carry_the_registry_justifications(slides):
    from derivations import get_identity

    res, _ = slides
    html = res.presentation.read_text()
    for name in ("elbo_gap", "jensen", "em", "elbo_surgery"):
        ident = get_identity(name)
        for step in ident.steps:
            assert step.why.replace("&", "&amp;") in html or step.why in html, f"{name}: {step.why!r} not in notes"


def test_pdf_handout_has_a_page_per_slide(slides):
    res, _ = slides
    index = json.loads((res.presentation.parent / "slides.json").read_text())
    pages = len(re.findall(rb"/Type\s*/Page[^s]", res.pdf.read_bytes()))
    assert pages == sum(s["slides"] for s in index["scenes"].values())


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_presentation_plays_offline_in_chromium(slides):
    # Playwright's sync API refuses to start in a thread whose asyncio loop is running (the book tests keep a
    # session-wide browser open in the main thread), so the deck is driven from a thread of its own.
    from concurrent.futures import ThreadPoolExecutor

    res, _ = slides
    with ThreadPoolExecutor(max_workers=1) as pool:
        requests, blocked = pool.submit(_drive_presentation, res.presentation).result()
    assert not blocked, f"the deck tried to fetch {blocked[:3]}"
    assert requests and all(u.startswith("file://") for u in requests)


def _drive_presentation(presentation):
    """Open the presentation from disk, advance through every slide; return (requests, blocked requests)."""
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    blocked: list[str] = []

    def route(r):
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.on("request", lambda r: requests.append(r.url))
            page.route("**/*", route)
            page.goto(presentation.as_uri())
            page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=20_000)
            total = page.evaluate("Reveal.getTotalSlides()")
            assert total == presentation.read_text().count("data-background-video=")
            for i in range(total):
                assert page.evaluate("Reveal.getIndices().h") == i
                page.wait_for_function(
                    """() => { const bg = Reveal.getSlideBackground(Reveal.getIndices().h);
                               const v = bg && bg.querySelector('video');
                               return v && v.readyState >= 2 && v.currentTime > 0 && !v.error; }""",
                    timeout=20_000)
                page.keyboard.press("ArrowRight")
            assert page.evaluate("Reveal.isLastSlide()")
        finally:
            browser.close()
    return requests, blocked

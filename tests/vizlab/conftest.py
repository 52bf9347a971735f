"""Shared fixtures of the vizlab tests: frozen result files and one low-quality render of every scene.

All scenes are rendered once per session (``rendered``) by ``vizlab.slides.build_slides`` -- the videos and
the slide decks come from the same render -- inside ``tempconfig({"media_dir": tmp})``, against the synthetic
result files of ``vizlab_fixtures.py`` (``ELBO_LAB_RESULTS_DIR``), so the frame comparisons do not change when
the trainer's results do.  The per-scene tests, the CLI skip test and the browser test of the decks reuse it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vizlab_fixtures import write_fixture_results  # noqa: E402


@pytest.fixture(scope="session")
def fixture_results(tmp_path_factory):
    """A results directory with vae_d2 (+ encodings, manifold) and vae_d10; no vae_d20."""
    d = write_fixture_results(tmp_path_factory.mktemp("results"))
    old = os.environ.get("ELBO_LAB_RESULTS_DIR")
    os.environ["ELBO_LAB_RESULTS_DIR"] = str(d)
    yield d
    if old is None:
        os.environ.pop("ELBO_LAB_RESULTS_DIR", None)
    else:
        os.environ["ELBO_LAB_RESULTS_DIR"] = old


@pytest.fixture(scope="session")
def slides(fixture_results, tmp_path_factory):
    """Every scene rendered once at low quality as video and slides: ``(SlidesResult, log_lines)``."""
    from manim import tempconfig

    from vizlab.slides import build_slides

    tmp = tmp_path_factory.mktemp("render")
    log: list[str] = []
    with tempconfig({"media_dir": str(tmp / "media")}):
        res = build_slides(None, quality="l", out=tmp / "slides", log=log.append)
    return res, log


@pytest.fixture(scope="session")
def rendered(slides):
    """The videos of that render: ``(out_dir, {name: RenderResult}, render_log_lines)``."""
    res, log = slides
    return res.presentation.parent / "_build" / "videos", {r.name: r for r in res.renders}, [
        line for line in log if not line.startswith("slides:")]

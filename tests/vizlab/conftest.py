"""Shared fixtures of the vizlab tests: frozen result files and one low-quality render of every scene.

All scenes are rendered once per session (``rendered``), inside ``tempconfig({"media_dir": tmp})``, against
the synthetic result files of ``vizlab_fixtures.py`` (``ELBO_LAB_RESULTS_DIR``), so the frame comparisons do not
change when the trainer's results do.  The per-scene tests and the CLI skip test reuse that render.
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
def rendered(fixture_results, tmp_path_factory):
    """Render every scene at low quality once: ``(out_dir, {name: RenderResult}, log_lines)``."""
    from manim import tempconfig

    from vizlab.render import render

    tmp = tmp_path_factory.mktemp("render")
    out = tmp / "videos"
    log: list[str] = []
    with tempconfig({"media_dir": str(tmp / "media")}):
        results = render(None, quality="l", out=out, log=log.append)
    return out, {r.name: r for r in results}, log

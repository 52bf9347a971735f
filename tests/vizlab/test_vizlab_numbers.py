"""A scene and the book page show the same numbers (issue 13/12): the scenes compute their values with the
seed and sample size of the identity's numeric check, whose message the book prints; the test reads the
numbers out of that message and compares them with the scene's, in the format both print."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("manim")


def test_evidence_variance_ratio_matches_the_check():
    from derivations import get_identity
    from vizlab.scenes.ch00_evidence import shown_values

    msg = get_identity("evidence_monte_carlo").check(seed=0).message
    printed = re.search(r"variance ratio naive/IS = ([0-9.]+)", msg).group(1)
    assert f"{shown_values()['variance_ratio']:.1f}" == printed


def _agrees(value: float, printed: str) -> bool:
    """``value`` rounds to ``printed`` at the precision printed (``8.601``, ``0.676``, ``1.2e+01``)."""
    places = len(printed.split("e")[0].partition(".")[2])
    if "e" in printed:
        return f"{value:.{places}e}" == f"{float(printed):.{places}e}"
    return f"{value:.{places}f}" == printed


def test_gradient_variances_match_the_check():
    """The per-draw variances of both estimators (d/dmu, d/dsigma) are the ones the check prints."""
    from derivations import get_identity
    from vizlab.scenes.ch03_gradients import shown_values

    msg = get_identity("reparameterization_gradient").check(seed=0).message
    m = re.search(r"variance (\[[^\]]*\]|[-0-9.e+]+) vs score function (\[[^\]]*\]|[-0-9.e+]+)", msg)
    assert m, msg
    printed_rp, printed_sf = (m.group(k).strip("[]").split() for k in (1, 2))
    g = shown_values()
    for key, printed in (("reparameterization", printed_rp), ("score_function", printed_sf)):
        assert len(printed) == 2, msg  # d/dmu, d/dsigma
        for value, p in zip(g["var"][key], printed):
            assert _agrees(float(value), p), f"{key}: scene {value} vs page {p}"

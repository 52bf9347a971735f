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


def test_gradient_variances_match_the_check():
    from derivations import get_identity
    from vizlab.scenes.ch03_gradients import shown_values

    msg = get_identity("reparameterization_gradient").check(seed=0).message
    printed = re.findall(r"variance ([0-9.e+-]+) vs score function ([0-9.e+-]+)", msg)
    assert len(printed) == 2, msg  # d/dmu, d/dsigma
    g = shown_values()
    shown = [(f"{g['var']['reparameterization'][i]:.3g}", f"{g['var']['score_function'][i]:.3g}") for i in range(2)]
    assert shown == printed

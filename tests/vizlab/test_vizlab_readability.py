"""Lecture readability (issue 13): every scene, after every animation, at 720p and 1080p.

The rule (``vizlab.style``): text cap height >= 24 px at 1080p (16 px at 720p), inside the frame with a
margin, no label over another label, a plotted curve or a filled bar, every axis labelled with quantity and
unit.  ``vizlab.readability.check_scene`` walks the mobjects on screen at the end of each ``play`` (animations
skipped: about 2-5 s a scene).  The checker itself is tested on small scenes that break each rule once.
"""

from __future__ import annotations

import pytest

pytest.importorskip("manim")

from vizlab.readability import check_scene  # noqa: E402
from vizlab.scenes import SCENE_NAMES, get_spec  # noqa: E402


@pytest.mark.parametrize("name", SCENE_NAMES)
def test_scene_is_readable_at_720p_and_1080p(fixture_results, name):
    found = check_scene(get_spec(name).load(), (720, 1080))
    for height, problems in found.items():
        assert not problems, f"{name} at {height}p:\n" + "\n".join(map(str, problems))


def _scene(build):
    from vizlab.lecture import LectureScene

    class Probe(LectureScene):
        def construct(self):
            from manim import FadeIn

            self.play(FadeIn(build()), run_time=0.1)

    return Probe


def _kinds(build) -> set[str]:
    return {p.kind for p in check_scene(_scene(build), (1080,))[1080]}


def test_checker_flags_small_text():
    from manim import Text

    assert _kinds(lambda: Text("tiny", font_size=12)) == {"small"}
    assert _kinds(lambda: Text("fine", font_size=18)) == set()


def test_checker_flags_text_off_frame_or_touching_the_edge():
    from manim import RIGHT, Text

    assert _kinds(lambda: Text("footer that runs off the frame", font_size=24).to_edge(RIGHT, buff=-0.5)) == {"frame"}
    assert _kinds(lambda: Text("touching", font_size=24).to_edge(RIGHT, buff=0.02)) == {"frame"}


def test_checker_flags_overlapping_labels_and_labels_on_curves_and_bars():
    from manim import Rectangle, Text, VGroup

    from vizlab.plots import axes, label_axes, polyline

    assert _kinds(lambda: VGroup(Text("one", font_size=24), Text("two", font_size=24))) == {"overlap"}

    def on_curve():
        ax = axes([0, 4, 1], [0, 4, 1], 5, 3)
        curve = polyline(ax, [0, 4], [0, 4], "#FFFFFF")
        return VGroup(ax, label_axes(ax, "x (m)", "y (m)"), curve, Text("here", font_size=24).move_to(ax.c2p(2, 2)))

    assert _kinds(on_curve) == {"curve"}
    assert _kinds(lambda: VGroup(Rectangle(width=2, height=1, fill_opacity=1), Text("bar", font_size=24))) == {"shape"}


def test_checker_flags_unlabelled_axes():
    from vizlab.plots import axes

    assert _kinds(lambda: axes([0, 4, 1], [0, 4, 1], 5, 3)) == {"axis"}

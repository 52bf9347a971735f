"""The lecture-readability rule of ``vizlab.style``, checked on a scene's mobjects at every animation's end.

``check_scene(cls, pixel_height)`` builds the scene with animations skipped (each ``play`` jumps to its end
state, updaters included; nothing is rasterized or encoded), and after every ``play`` and at the end it walks
the mobjects on screen and reports, one line each:

* text whose cap height is below ``MIN_CAP_FRACTION`` of the frame height (``"small"``),
* text outside the frame or closer than ``FRAME_MARGIN`` to its edge (``"frame"``),
* two labels whose bounding boxes overlap (``"overlap"``),
* a label over a plotted data curve (``ax.plot`` or ``plots.polyline``) or a filled bar (``"curve"``, ``"shape"``),
* an ``Axes`` or ``NumberLine`` on screen without quantity-and-unit labels (``plots.label_axes``) (``"axis"``).

Text is ``Text``/``MarkupText``, TeX (``MathTex``, ``Tex``), ``DecimalNumber`` and ``FastNumber``; a label is a
text mobject not inside another one.  Cap heights per font size are measured once with an "H".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vizlab.style import FRAME_MARGIN, MIN_CAP_FRACTION

__all__ = ["Problem", "check_scene", "labels_on_screen"]

#: Overlaps smaller than this (scene units, in both directions) are anti-aliasing, not a collision.
OVERLAP_TOL = 0.03


@dataclass(frozen=True)
class Problem:
    kind: str  # "small" | "frame" | "overlap" | "curve" | "axis"
    after: str  # which animation it was seen after ("play 3", "end")
    what: str  # one line naming the text

    def __str__(self) -> str:
        return f"{self.kind} after {self.after}: {self.what}"


def _text_types():
    from manim import DecimalNumber, MarkupText, SingleStringMathTex, Text

    from vizlab.fast_number import FastNumber

    return (Text, MarkupText, SingleStringMathTex, DecimalNumber, FastNumber)


_CAP: dict = {}


def _cap_per_font_size(kind: str) -> float:
    """Scene units of cap height per unit of font size, for ``"text"`` (Pango) or ``"tex"`` (LaTeX)."""
    if kind not in _CAP:
        from manim import MathTex, Text

        probe = Text("H", font_size=48) if kind == "text" else MathTex("H", font_size=48)
        _CAP[kind] = probe.height / 48
    return _CAP[kind]


def _cap_height(m) -> float:
    from manim import DecimalNumber, SingleStringMathTex

    kind = "tex" if isinstance(m, (SingleStringMathTex, DecimalNumber)) else "text"
    return float(m.font_size) * _cap_per_font_size(kind)


def _visible(m) -> bool:
    fam = [x for x in m.get_family() if len(x.points)]
    return any(x.get_fill_opacity() > 0.05 or (x.get_stroke_width() > 0 and x.get_stroke_opacity() > 0.05)
               for x in fam)


def _name(m) -> str:
    from manim import DecimalNumber

    if isinstance(m, DecimalNumber):
        s = f"{m.get_value():g}"
    else:
        s = getattr(m, "text", None) or getattr(m, "tex_string", None) or type(m).__name__
    return f"{type(m).__name__} {s[:50]!r}"


def labels_on_screen(mobjects) -> list:
    """The visible text labels among ``mobjects`` (a label is not searched inside for more text)."""
    types = _text_types()
    out = []

    def walk(m):
        if isinstance(m, types):
            if _visible(m):
                out.append(m)
            return
        for s in m.submobjects:
            walk(s)

    for m in mobjects:
        walk(m)
    return out


def _box(m) -> np.ndarray:
    lo, hi = m.get_critical_point((-1, -1, 0)), m.get_critical_point((1, 1, 0))
    return np.array([lo[0], lo[1], hi[0], hi[1]])


def _family(mobjects):
    seen = []
    for m in mobjects:
        seen.extend(m.get_family())
    return seen


_T = np.linspace(0.0, 1.0, 9)
_BERNSTEIN = np.stack([(1 - _T) ** 3, 3 * (1 - _T) ** 2 * _T, 3 * (1 - _T) * _T**2, _T**3], axis=1)  # (9, 4)


def _curve_samples(curve) -> np.ndarray:
    """Points along a curve's cubic Bezier segments (9 per segment), not just its control points."""
    pts = curve.points[: len(curve.points) // 4 * 4].reshape(-1, 4, 3)
    return np.einsum("tk,skd->std", _BERNSTEIN, pts).reshape(-1, 3)


def inspect(mobjects, frame_w: float, frame_h: float, pixel_height: int, after: str) -> list[Problem]:
    """Problems of the mobjects on screen (see the module docstring)."""
    from manim import Axes, NumberLine, ParametricFunction, Rectangle

    problems = []
    labels = labels_on_screen(mobjects)
    min_cap = MIN_CAP_FRACTION * frame_h
    px = pixel_height / frame_h
    boxes = [_box(m) for m in labels]
    for m, b in zip(labels, boxes):
        cap = _cap_height(m)
        if cap < min_cap * 0.995:
            problems.append(Problem("small", after, f"{_name(m)} cap {cap * px:.1f} px < {min_cap * px:.1f} px "
                                                     f"at {pixel_height}p"))
        if (b[0] < -frame_w / 2 + FRAME_MARGIN or b[2] > frame_w / 2 - FRAME_MARGIN
                or b[1] < -frame_h / 2 + FRAME_MARGIN or b[3] > frame_h / 2 - FRAME_MARGIN):
            problems.append(Problem("frame", after, f"{_name(m)} at x {b[0]:.2f}..{b[2]:.2f}, y {b[1]:.2f}..{b[3]:.2f}"
                                                     f" (frame +-{frame_w / 2:.2f} x +-{frame_h / 2:.2f})"))
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            a, c = boxes[i], boxes[j]
            dx = min(a[2], c[2]) - max(a[0], c[0])
            dy = min(a[3], c[3]) - max(a[1], c[1])
            if dx > OVERLAP_TOL and dy > OVERLAP_TOL:
                problems.append(Problem("overlap", after, f"{_name(labels[i])} and {_name(labels[j])}"))
    family = _family(mobjects)
    curves = [m for m in family if (isinstance(m, ParametricFunction) or getattr(m, "is_data_curve", False))
              and len(m.points) and m.get_stroke_opacity() > 0.05]
    samples = [_curve_samples(c) for c in curves]
    for m, b in zip(labels, boxes):
        for p in samples:
            inside = ((p[:, 0] > b[0] + OVERLAP_TOL) & (p[:, 0] < b[2] - OVERLAP_TOL)
                      & (p[:, 1] > b[1] + OVERLAP_TOL) & (p[:, 1] < b[3] - OVERLAP_TOL))
            if inside.any():
                problems.append(Problem("curve", after, f"{_name(m)} lies over a plotted curve"))
                break
    shapes = [m for m in family if isinstance(m, Rectangle) and m.get_fill_opacity() > 0.3 and m.width > 0.05]
    for m, b in zip(labels, boxes):
        for r in shapes:
            c = _box(r)
            if min(b[2], c[2]) - max(b[0], c[0]) > OVERLAP_TOL and min(b[3], c[3]) - max(b[1], c[1]) > OVERLAP_TOL:
                problems.append(Problem("shape", after, f"{_name(m)} lies over a filled bar"))
                break
    on_screen = set(map(id, family))
    for ax in family:
        is_axis = isinstance(ax, Axes) or (isinstance(ax, NumberLine) and not any(
            isinstance(o, Axes) and ax in o.get_family() for o in family))
        if not is_axis or not _visible(ax):
            continue
        labs = getattr(ax, "axis_labels", None)
        if labs is None or not any(id(x) in on_screen for x in labs.get_family()):
            problems.append(Problem("axis", after, f"{type(ax).__name__} at {np.round(ax.get_center()[:2], 2)} "
                                                    "has no quantity/unit label on screen"))
    return problems


def build_scene(cls, pixel_height: int = 1080, after_play=None):
    """Run ``cls().construct()`` with animations skipped (each ``play`` jumps to its end state, updaters
    included; nothing is rasterized or written); ``after_play(scene, k)`` is called after the k-th ``play``.
    Returns the scene in its final state."""
    import tempfile

    from manim import tempconfig
    from manim.renderer.cairo_renderer import CairoRenderer

    with tempfile.TemporaryDirectory() as tmp, tempconfig({
            "media_dir": tmp, "pixel_height": pixel_height, "pixel_width": pixel_height * 16 // 9, "dry_run": True,
            "disable_caching": True, "progress_bar": "none", "verbosity": "ERROR"}):
        camera = cls.lecture_camera() if hasattr(cls, "lecture_camera") else None
        renderer = CairoRenderer(skip_animations=True, **({"camera_class": camera} if camera else {}))
        scene = cls(renderer=renderer, output_folder=Path(tmp) / "slides")
        count = [0]
        original_play = scene.play

        def play(*args, **kwargs):
            original_play(*args, **kwargs)
            count[0] += 1
            if after_play is not None:
                after_play(scene, count[0])

        scene.play = play
        scene.setup()
        scene.construct()
    return scene


def texts_at_end(cls) -> list[str]:
    """The strings of the text labels on screen when scene ``cls`` ends (``Text.text`` / TeX source)."""
    scene = build_scene(cls)
    return [getattr(m, "text", None) or getattr(m, "tex_string", "") for m in labels_on_screen(scene.mobjects)]


def check_scene(cls, pixel_heights=(720, 1080)) -> dict[int, list[Problem]]:
    """Every readability problem of scene class ``cls`` seen after any animation (deduplicated, in order),
    for each of ``pixel_heights`` (16:9 frames), from one run of the scene."""
    from manim import config

    found: dict[int, list[Problem]] = {h: [] for h in pixel_heights}

    def record(k):
        for h in pixel_heights:
            for p in inspect(scene_ref[0].mobjects, config.frame_width, config.frame_height, h, k):
                if all((p.kind, p.what) != (q.kind, q.what) for q in found[h]):
                    found[h].append(p)

    scene_ref = []

    def after(scene, k):
        scene_ref[:] = [scene]
        record(f"play {k}")

    scene_ref.append(build_scene(cls, max(pixel_heights), after))
    record("end")
    return found

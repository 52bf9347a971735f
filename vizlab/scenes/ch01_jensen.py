"""Chapter 1 — Jensen's inequality for the concave logarithm (Prince, *Understanding Deep Learning*,
ch. 17, fig. 17.4; Isachenko lecture 5, "ELBO derivation 1").

For a concave function every chord lies below the curve, so the mean of points on the curve lies below
the curve at their mean:  E[log y] <= log E[y].  With y = p(x, z) / q(z) and z ~ q this is the ELBO
bound on log p(x): the ELBO is the "E log", the evidence is the "log E", the gap between them is the
KL divergence to the posterior.  The sample points are drawn at render time from a fixed seed; both sides
of the inequality come from ``derivations.jensen.jensen_gap``.
"""

from __future__ import annotations

import numpy as np
from manim import DOWN, LEFT, RIGHT, UP, UR, Create, DashedLine, Dot, FadeIn, Line, Text, ValueTracker, VGroup
from manim import Write, always_redraw

from vizlab.formulas import statement
from vizlab.lecture import LectureScene, proof_notes
from vizlab.palette import FOREGROUND, TERM_COLORS
from vizlab.plots import axes, label_axes
from vizlab.style import LABEL_SIZE, SMALL_SIZE, fmt_nats, title

IDENTITY = "jensen"
SEED = 3  # the random points y_i
N_POINTS = 6
Y_RANGE = (0.25, 3.8)  # where the points are drawn (uniform), inside the plotted range


class JensenInequality(LectureScene):
    """Chords of log lie below the curve; the mean of points on log lies below log of their mean."""

    def construct(self):
        # Step: title, statement, the concave log curve
        self.step(proof_notes(IDENTITY))
        head = title("Jensen's inequality")
        formula = statement(IDENTITY, max_width=6.5, font_size=36)
        formula.to_corner(UR, buff=0.45)
        ax = axes([0, 4.2, 1], [-1.5, 1.5, 0.5], x_length=7.2, y_length=5.0)
        ax.to_edge(DOWN, buff=0.85).to_edge(LEFT, buff=1.1)
        ax_labels = label_axes(ax, "y = p(x, z) / q(z)", "log y (nats)")
        curve = ax.plot(np.log, x_range=[np.exp(-1.5), 4.2], color=FOREGROUND, stroke_width=3)
        curve_label = Text("log y", font_size=LABEL_SIZE, color=FOREGROUND)
        curve_label.next_to(ax.c2p(4.2, np.log(4.2)), DOWN + LEFT, buff=0.15).shift(DOWN * 0.25)
        self.play(FadeIn(head), Write(formula), Create(ax), FadeIn(ax_labels), run_time=1.5)
        self.play(Create(curve), FadeIn(curve_label), run_time=1.2)

        # Step: one chord; its points (weighted means) stay under the curve
        self.step("Concavity: every point of a chord, a weighted mean of two points on log, lies below the curve.")
        rng = np.random.default_rng(SEED)
        ys = np.sort(rng.uniform(*Y_RANGE, size=N_POINTS))
        a, b = ys[0], ys[-1]
        chord = Line(ax.c2p(a, np.log(a)), ax.c2p(b, np.log(b)), color=TERM_COLORS["elbo"], stroke_width=3)
        lam = ValueTracker(0.9)

        def on_chord():
            y = lam.get_value() * a + (1 - lam.get_value()) * b
            m = lam.get_value() * np.log(a) + (1 - lam.get_value()) * np.log(b)
            return VGroup(
                DashedLine(ax.c2p(y, m), ax.c2p(y, np.log(y)), color=TERM_COLORS["gap"], stroke_width=3),
                Dot(ax.c2p(y, np.log(y)), color=TERM_COLORS["log_px"], radius=0.07),
                Dot(ax.c2p(y, m), color=TERM_COLORS["elbo"], radius=0.07),
            )

        moving = always_redraw(on_chord)
        ends = VGroup(Dot(ax.c2p(a, np.log(a)), color=FOREGROUND), Dot(ax.c2p(b, np.log(b)), color=FOREGROUND))
        self.play(FadeIn(ends), Create(chord), run_time=1.0)
        self.add(moving)
        self.play(lam.animate.set_value(0.1), run_time=2.5)
        self.play(*[m.animate.set_opacity(0.25) for m in (chord, ends)], run_time=0.4)
        self.remove(moving)

        # Step: N random points on the curve; their mean lies below the curve at the mean
        self.step(f"{N_POINTS} points y_i ~ U{Y_RANGE} (seed {SEED}). Their centroid (mean y, mean log y) is a "
                  "convex combination, so it lies below the curve at mean y: E[log y] <= log E[y].")
        pts = VGroup(*[Dot(ax.c2p(y, np.log(y)), color=FOREGROUND, radius=0.06) for y in ys])
        self.play(FadeIn(pts, lag_ratio=0.2), run_time=1.2)
        from derivations.jensen import jensen_gap  # both sides of the inequality, nats

        jg = jensen_gap(ys)
        mean_y, mean_log, log_mean = jg["mean_y"], jg["mean_log"], jg["log_mean"]
        centroid = Dot(ax.c2p(mean_y, mean_log), color=TERM_COLORS["elbo"], radius=0.09)
        on_curve = Dot(ax.c2p(mean_y, log_mean), color=TERM_COLORS["log_px"], radius=0.09)
        gap = Line(ax.c2p(mean_y, mean_log), ax.c2p(mean_y, log_mean), color=TERM_COLORS["gap"], stroke_width=6)
        spokes = VGroup(*[DashedLine(p.get_center(), centroid.get_center(), color=FOREGROUND, stroke_width=1.2,
                                     stroke_opacity=0.5) for p in pts])
        self.play(Create(spokes), FadeIn(centroid), run_time=1.2)
        self.play(FadeIn(on_curve), Create(gap), run_time=1.0)

        # Step: the two numbers and their gap, computed from the points above
        self.step("With y = p(x,z)/q(z), z ~ q: E[log y] is the ELBO, log E[y] = log p(x), the gap is "
                  "KL(q || p(z|x)). Numbers from derivations.jensen.jensen_gap.")
        readout = VGroup(
            Text(f"log E[y] = {fmt_nats(log_mean)}", font_size=LABEL_SIZE, color=TERM_COLORS["log_px"]),
            Text(f"E[log y] = {fmt_nats(mean_log)}", font_size=LABEL_SIZE, color=TERM_COLORS["elbo"]),
            Text(f"gap = {fmt_nats(jg['gap'])} \u2265 0", font_size=LABEL_SIZE, color=TERM_COLORS["gap"]),
            Text(f"{N_POINTS} points y\u1d62 ~ U{Y_RANGE}, seed {SEED}", font_size=SMALL_SIZE, color=FOREGROUND),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.18)
        readout.next_to(formula, DOWN, buff=0.6).to_edge(RIGHT, buff=0.5)
        self.play(FadeIn(readout, shift=LEFT * 0.2), run_time=1.0)
        self.wait(2.5)

"""Chapter 4 — EM as coordinate ascent on the ELBO (Isachenko lecture 5, "EM-algorithm"; Prince, *UDL*
ch. 17, fig. 17.6; Bishop, *PRML* fig. 9.14).

The bound L(q, theta) <= log p(x | theta) is raised in turns: the E-step sets q to the exact posterior at
the current theta, which closes the gap (``derivations.em``: L(q*, theta) = log p(x | theta)); the M-step
maximizes L(q, theta) over theta with q held fixed, which raises the bound and reopens a gap.

Model: ``derivations.models.linear_gaussian`` at its ``DEFAULT`` x, w, s, with theta = b (the decoder's
offset); all curves are its proved closed forms (``log_evidence``, ``elbo``, ``posterior``).  The M-step's
argmax and the maximum-likelihood b are found numerically at render time (bounded scalar search).  The first
``N_DETAILED`` iterations are shown step by step, then EM runs on until b is within ``B_TOL`` of the
maximum-likelihood b, and the scene says how many iterations that took.  Values in nats.
"""

from __future__ import annotations

import numpy as np
from manim import DOWN, LEFT, RIGHT, UP, UR, Create, DashedLine, Dot, FadeIn, FadeOut, Line, Text, Transform
from manim import VGroup, Write
from scipy.optimize import brentq, minimize_scalar

from vizlab.formulas import statement
from vizlab.lecture import LectureScene, proof_notes
from vizlab.palette import FOREGROUND, TERM_COLORS
from vizlab.plots import OffsetAxes, label_axes
from vizlab.style import LABEL_SIZE, SMALL_SIZE, fmt_nats, note, term_legend, title

IDENTITY = "em"
N_DETAILED = 3  # EM iterations shown step by step
B_TOL = 0.01  # EM runs on until |b - b_ML| < B_TOL
MAX_ITERS = 500
B_RANGE = (0.0, 3.5)  # plotted range of theta = b


def em_path(b0: float | None = None) -> dict:
    """EM iterates of b on the linear-Gaussian model until ``|b - b_ML| < B_TOL``: ``bs`` (b_0, b_1, ...),
    ``b_ml`` (the argmax of log p(x | b), bounded search on the closed form) and ``log_px`` values (nats)."""
    from derivations.models import linear_gaussian

    P = linear_gaussian.DEFAULT
    x, w, s = P["x"], P["w"], P["s"]
    log_px = lambda bb: float(linear_gaussian.log_evidence(x, w, bb, s))  # noqa: E731
    b_ml = float(minimize_scalar(lambda bb: -log_px(bb), bounds=B_RANGE, method="bounded",
                                 options={"xatol": 1e-10}).x)
    bs = [P["b"] if b0 is None else b0]
    while abs(bs[-1] - b_ml) >= B_TOL and len(bs) <= MAX_ITERS:
        m, v = (float(a) for a in linear_gaussian.posterior(x, w, bs[-1], s))  # E-step
        bs.append(float(minimize_scalar(lambda bb: -float(linear_gaussian.elbo(m, v, x, w, bb, s)), bounds=B_RANGE,
                                        method="bounded", options={"xatol": 1e-10}).x))  # M-step
    return {"bs": bs, "b_ml": b_ml, "log_px": [log_px(bb) for bb in bs]}


class EmCoordinateAscent(LectureScene):
    """E-step closes the gap, M-step raises the bound; theta = b of the linear-Gaussian model (nats)."""

    def construct(self):
        from derivations.models import linear_gaussian

        P = linear_gaussian.DEFAULT
        x, w, s = P["x"], P["w"], P["s"]
        log_px = lambda bb: float(linear_gaussian.log_evidence(x, w, bb, s))  # noqa: E731
        bound = lambda m, v, bb: float(linear_gaussian.elbo(m, v, x, w, bb, s))  # noqa: E731
        path = em_path()
        bs, b_ml = path["bs"], path["b_ml"]

        # Step: title and the proved statement (the E-step makes the bound tight)
        self.step(proof_notes(IDENTITY))
        head = title("EM = coordinate ascent on the ELBO")
        eq = statement(IDENTITY, max_width=7.0, font_size=36).next_to(head, DOWN, buff=0.3).align_to(head, LEFT)
        self.play(FadeIn(head), Write(eq), run_time=1.2)

        # Step: log p(x | b) over theta = b
        self.step("The evidence log p(x | theta) of the linear-Gaussian model as a function of theta = b.")
        grid = np.linspace(*B_RANGE, 200)
        lp = np.array([log_px(bb) for bb in grid])
        y_lo, y_hi = log_px(P["b"]) - 0.6, float(lp.max()) + 0.1
        ax = OffsetAxes([B_RANGE[0], B_RANGE[1], 0.5], (y_lo, y_hi), x_length=5.6, y_length=4.2)
        ax.axes.to_corner(DOWN + LEFT, buff=1.0).shift(RIGHT * 0.4)
        ax_labels = label_axes(ax.axes, "\u03b8 = b (decoder offset)", "log-likelihood (nats)")
        evidence = ax.plot(log_px, B_RANGE, color=TERM_COLORS["log_px"], stroke_width=4)
        legend = term_legend(["log_px", "elbo", "gap"], labels={"log_px": "log p(x | \u03b8)",
                                                                  "elbo": "L(q, \u03b8), q fixed",
                                                                  "gap": "KL(q || p(z | x, \u03b8))"})
        legend.move_to(np.array([1.6, 2.0, 0]), aligned_edge=UP + LEFT)
        self.play(Create(ax.axes), FadeIn(ax_labels), Create(evidence), FadeIn(legend), run_time=1.5)

        # Step: iterate E and M steps from the DEFAULT b
        b = bs[0]
        dot = Dot(ax.c2p(b, log_px(b)), color=TERM_COLORS["log_px"], radius=0.08)
        self.play(FadeIn(dot), run_time=0.4)
        curve, gap_line, log = None, None, VGroup()
        for it in range(N_DETAILED):
            self.step(f"Iteration {it + 1}. E-step: q = p(z | x, b), the bound touches log p(x | b). "
                      "M-step: maximize L(q, b) over b with q fixed; the bound rises and a gap reopens.")
            m, v = (float(a) for a in linear_gaussian.posterior(x, w, b, s))
            lo_b = max(B_RANGE[0], self._floor_crossing(lambda bb: bound(m, v, bb), b, -1, y_lo))
            hi_b = min(B_RANGE[1], self._floor_crossing(lambda bb: bound(m, v, bb), b, +1, y_lo))
            new_curve = ax.plot(lambda bb: bound(m, v, bb), (lo_b, hi_b), color=TERM_COLORS["elbo"], stroke_width=3)
            anims = [Transform(curve, new_curve)] if curve is not None else [Create(new_curve)]
            if gap_line is not None:
                anims.append(FadeOut(gap_line))
            self.play(*anims, run_time=1.0)
            curve = curve or new_curve
            b_new = bs[it + 1]
            gap = log_px(b_new) - bound(m, v, b_new)
            gap_line = Line(ax.c2p(b_new, bound(m, v, b_new)), ax.c2p(b_new, log_px(b_new)),
                            color=TERM_COLORS["gap"], stroke_width=7)
            ride = Dot(ax.c2p(b, bound(m, v, b)), color=TERM_COLORS["elbo"], radius=0.07)
            self.add(ride)
            self.play(ride.animate.move_to(ax.c2p(b_new, bound(m, v, b_new))), run_time=1.0)
            self.play(Create(gap_line), dot.animate.move_to(ax.c2p(b_new, log_px(b_new))), run_time=0.8)
            self.remove(ride)
            log.add(Text(f"{it + 1}: b = {b_new:.2f}, gap {fmt_nats(gap, digits=3)}", font_size=SMALL_SIZE,
                         color=FOREGROUND))
            log.arrange(DOWN, aligned_edge=LEFT, buff=0.1).next_to(legend, DOWN, buff=0.35).align_to(legend, LEFT)
            self.add(log)
            b = b_new

        # Step: EM runs on to the maximum-likelihood b; the likelihood rose at every iteration
        n_it = len(bs) - 1
        self.step(f"EM continues: {n_it} iterations until |b - b_ML| < {B_TOL}. The maximum-likelihood b is "
                  f"{b_ml:.2f}; log p(x | b) rose at every iteration.")
        self.play(FadeOut(curve), FadeOut(gap_line), run_time=0.4)
        trail = VGroup(*[Dot(ax.c2p(bb, log_px(bb)), color=TERM_COLORS["log_px"], radius=0.04) for bb in bs])
        self.play(dot.animate.move_to(ax.c2p(bs[-1], log_px(bs[-1]))), FadeIn(trail, lag_ratio=0.1), run_time=1.5)
        ml = DashedLine(ax.c2p(b_ml, y_lo), ax.c2p(b_ml, log_px(b_ml)), color=FOREGROUND, stroke_width=2)
        rise = VGroup(
            Text(f"{n_it} iterations to |b \u2212 b_ML| < {B_TOL}:", font_size=SMALL_SIZE, color=TERM_COLORS["log_px"]),
            Text(f"b = {bs[-1]:.2f},  b_ML = {b_ml:.2f} (dashed)", font_size=SMALL_SIZE, color=TERM_COLORS["log_px"]),
            Text(f"log p(x | b): {fmt_nats(path['log_px'][0])} \u2192 {fmt_nats(path['log_px'][-1])}",
                 font_size=SMALL_SIZE, color=TERM_COLORS["log_px"]),
            note("derivations.models.linear_gaussian, \u03b8 = b"),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.12)
        rise.next_to(log, DOWN, buff=0.3).align_to(log, LEFT)
        self.play(Create(ml), FadeIn(rise), run_time=0.8)
        self.wait(2.0)

    @staticmethod
    def _floor_crossing(f, start: float, direction: int, floor: float) -> float:
        """Where ``f`` (concave, max near ``start``) drops below ``floor`` going ``direction`` (for clipping)."""
        far = start + direction * 50.0
        if f(far) >= floor:
            return far
        return float(brentq(lambda t: f(t) - floor, *sorted((start, far))))

"""Chapter 4 — EM as coordinate ascent on the ELBO (Isachenko lecture 5, "EM-algorithm"; Prince, *UDL*
ch. 17, fig. 17.6; Bishop, *PRML* fig. 9.14).

The bound L(q, theta) <= log p(x | theta) is raised in turns: the E-step sets q to the exact posterior at
the current theta, which closes the gap (``derivations.em``: L(q*, theta) = log p(x | theta)); the M-step
maximizes L(q, theta) over theta with q held fixed, which raises the bound and reopens a gap.

Model: ``derivations.models.linear_gaussian`` at its ``DEFAULT`` x, w, s, with theta = b (the decoder's offset);
all curves are its proved closed forms (``log_evidence``, ``elbo``, ``posterior``).  The M-step's argmax is
found numerically at render time (bounded scalar search).  Values in nats.
"""

from __future__ import annotations

import numpy as np
from manim import (
    DOWN,
    RIGHT,
    LEFT,
    UP,
    UR,
    Create,
    Dot,
    FadeIn,
    FadeOut,
    Line,
    Scene,
    Text,
    Transform,
    VGroup,
    Write,
)
from scipy.optimize import minimize_scalar

from vizlab.common import LABEL_SIZE, SMALL_SIZE, NatsAxes, fmt_nats, note, statement, term_legend, title
from vizlab.palette import FOREGROUND, TERM_COLORS

EM_IDENTITIES = ("em",)
N_ITERS = 3  # EM iterations shown
B_RANGE = (0.0, 3.5)  # plotted range of theta = b


class EmCoordinateAscent(Scene):
    """E-step closes the gap, M-step raises the bound; theta = b of the linear-Gaussian model (nats)."""

    def construct(self):
        from derivations.models import linear_gaussian as lg

        P = lg.DEFAULT
        x, w, s = P["x"], P["w"], P["s"]
        log_px = lambda bb: float(lg.log_evidence(x, w, bb, s))  # noqa: E731
        bound = lambda m, v, bb: float(lg.elbo(m, v, x, w, bb, s))  # noqa: E731

        # Step: title and the proved statement (the E-step makes the bound tight)
        head = title("EM = coordinate ascent on the ELBO")
        eq = statement(*EM_IDENTITIES, max_width=6.0, font_size=36).to_corner(UR, buff=0.45)
        self.play(FadeIn(head), Write(eq), run_time=1.2)

        # Step: log p(x | b) over theta = b
        bs = np.linspace(*B_RANGE, 200)
        lp = np.array([log_px(bb) for bb in bs])
        y_lo, y_hi = log_px(P["b"]) - 0.5, float(lp.max()) + 0.1
        ax = NatsAxes([B_RANGE[0], B_RANGE[1], 0.5], y_lo, y_hi, x_length=6.6, y_length=5.0)
        ax.axes.to_corner(DOWN + LEFT, buff=0.5)
        xl = Text("\u03b8 = b", font_size=SMALL_SIZE + 2, color=FOREGROUND)
        xl.next_to(ax.axes.x_axis, RIGHT, buff=0.15)
        yl = Text("nats", font_size=SMALL_SIZE, color=FOREGROUND).next_to(ax.axes.y_axis, UP, buff=0.1)
        evidence = ax.plot(log_px, B_RANGE, color=TERM_COLORS["log_px"], stroke_width=4)
        legend = term_legend(["log_px", "elbo", "gap"], labels={"log_px": "log p(x | \u03b8)",
                                                                  "elbo": "L(q, \u03b8), q fixed",
                                                                  "gap": "KL(q || p(z | x, \u03b8))"})
        legend.next_to(eq, DOWN, buff=0.4).align_to(np.array([1.2, 0, 0]), LEFT)
        self.play(Create(ax.axes), FadeIn(xl), FadeIn(yl), Create(evidence), FadeIn(legend), run_time=1.5)

        # Step: iterate E and M steps from the DEFAULT b
        b = P["b"]
        dot = Dot(ax.c2p(b, log_px(b)), color=TERM_COLORS["log_px"], radius=0.08)
        self.play(FadeIn(dot), run_time=0.4)
        curve, gap_line, log = None, None, VGroup()
        for it in range(N_ITERS):
            # E-step: q = p(z | x, b); the bound touches log p(x | b) at b
            m, v = (float(a) for a in lg.posterior(x, w, b, s))
            lo_b = max(B_RANGE[0], self._floor_crossing(lambda bb: bound(m, v, bb), b, -1, y_lo))
            hi_b = min(B_RANGE[1], self._floor_crossing(lambda bb: bound(m, v, bb), b, +1, y_lo))
            new_curve = ax.plot(lambda bb: bound(m, v, bb), (lo_b, hi_b), color=TERM_COLORS["elbo"],
                                stroke_width=3)
            e_txt = Text(f"E-step {it + 1}: q = p(z | x, b={b:.2f}), gap 0", font_size=SMALL_SIZE,
                         color=TERM_COLORS["elbo"])
            anims = [Transform(curve, new_curve)] if curve is not None else [Create(new_curve)]
            if gap_line is not None:
                anims.append(FadeOut(gap_line))
            self.play(*anims, run_time=1.0)
            curve = curve or new_curve
            # M-step: b' = argmax_b L(q, b) with q fixed, a bounded scalar search on the closed form
            opt = minimize_scalar(lambda bb: -bound(m, v, bb), bounds=B_RANGE, method="bounded",
                                  options={"xatol": 1e-9})
            b_new = float(opt.x)
            gap = log_px(b_new) - bound(m, v, b_new)
            gap_line = Line(ax.c2p(b_new, bound(m, v, b_new)), ax.c2p(b_new, log_px(b_new)),
                            color=TERM_COLORS["gap"], stroke_width=7)
            ride = Dot(ax.c2p(b, bound(m, v, b)), color=TERM_COLORS["elbo"], radius=0.07)
            self.add(ride)
            self.play(ride.animate.move_to(ax.c2p(b_new, bound(m, v, b_new))), run_time=1.0)
            m_txt = Text(f"M-step {it + 1}: b={b_new:.2f}, L +{bound(m, v, b_new) - bound(m, v, b):.3f},"
                         f" gap {fmt_nats(gap, digits=3, unit='')}", font_size=SMALL_SIZE, color=FOREGROUND)
            self.play(Create(gap_line), dot.animate.move_to(ax.c2p(b_new, log_px(b_new))), run_time=0.8)
            self.remove(ride)
            log.add(e_txt, m_txt)
            log.arrange(DOWN, aligned_edge=LEFT, buff=0.1).next_to(legend, DOWN, buff=0.35).align_to(legend, LEFT)
            if log.width > 5.4:
                log.scale_to_fit_width(5.4)
            self.add(log)
            b = b_new

        # Step: the likelihood rose at every iteration
        rise = Text(f"log p(x | b): {fmt_nats(log_px(P['b']))} \u2192 {fmt_nats(log_px(b))}",
                    font_size=LABEL_SIZE, color=TERM_COLORS["log_px"])
        rise.next_to(log, DOWN, buff=0.3).align_to(log, LEFT)
        src = note("closed forms of derivations.linear_gaussian, theta = b", font_size=SMALL_SIZE * 0.85)
        src.next_to(rise, DOWN, buff=0.15).align_to(rise, LEFT)
        self.play(FadeIn(rise), FadeIn(src), run_time=0.8)
        self.wait(2.0)

    @staticmethod
    def _floor_crossing(f, start: float, direction: int, floor: float) -> float:
        """Where ``f`` (concave, max near ``start``) drops below ``floor`` going ``direction`` (for clipping)."""
        from scipy.optimize import brentq

        far = start + direction * 50.0
        if f(far) >= floor:
            return far
        return float(brentq(lambda t: f(t) - floor, *sorted((start, far))))

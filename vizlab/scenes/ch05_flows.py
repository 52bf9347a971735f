"""Chapter 5 — a normalizing flow is a VAE with a Dirac encoder and decoder (Isachenko lecture 5,
"Normalizing flow as VAE", "VAE vs Normalizing flows").

With the encoder q(z | x) = N(f(x), sigma^2) and the matched decoder, the ELBO L_sigma(x) rises to the
flow's change-of-variables log p(x) = log p(f(x)) + log |f'(x)| as sigma -> 0.  The flow here is
f(x) = log x (``kind="log"`` of ``derivations.flow_as_dirac_vae``), so p(x) is log-normal; the ELBO
values come from ``flow_as_dirac_vae.elbo_of_sigma`` (Gauss-Hermite quadrature) and the limit from
``flow_as_dirac_vae.log_px``, at that module's default x.  Values in nats.
"""

from __future__ import annotations

import inspect

import numpy as np
from manim import DOWN, LEFT, RIGHT, UP, UR, Arrow, Axes, Create, DashedLine, Dot, FadeIn, Line, MathTex
from manim import NumberLine, Text, ValueTracker, VGroup, Write, always_redraw
from scipy.stats import norm

from vizlab.fast_number import FastNumber
from vizlab.formulas import statement
from vizlab.lecture import LectureScene, proof_notes
from vizlab.palette import FOREGROUND, TERM_COLORS
from vizlab.plots import OffsetAxes, label_axes, polyline
from vizlab.style import LABEL_SIZE, MATH_SMALL_SIZE, SMALL_SIZE, TICK_SIZE, note, title

IDENTITY = "flow_as_dirac_vae"
FLOW_KIND = "log"  # f(x) = log x: a non-linear flow (the affine one gives L = log p(x) - sigma^2 / 2)
U_MAX = 2.5  # sigma shrinks from 10^0 to 10^-U_MAX
Z_RANGE = (-1.5, 1.0)


class FlowAsDiracVae(LectureScene):
    """The Gaussian encoder's sigma -> 0 and its ELBO converging to the flow's log p(x) (nats)."""

    def construct(self):
        from derivations import flow_as_dirac_vae as fl

        x = inspect.signature(fl.elbo_of_sigma).parameters["x"].default
        log_px = fl.log_px(x=x, kind=FLOW_KIND)
        us = np.linspace(0.0, U_MAX, 121)
        elbos = fl.elbo_of_sigma(10.0 ** -us, x=x, kind=FLOW_KIND)
        elbo_at = lambda u: float(np.interp(u, us, elbos))  # noqa: E731 - on the precomputed grid

        # Step: title and the proved limit
        self.step(proof_notes(IDENTITY))
        head = title("A flow is a VAE with a Dirac encoder")
        eq = statement(IDENTITY, max_width=6.5, font_size=38).to_corner(UR, buff=0.45)
        self.play(FadeIn(head), Write(eq), run_time=1.2)

        # Step: the flow maps x to z = f(x); the encoder is a Gaussian around f(x)
        self.step("The flow z = f(x) = log x maps data to latent; the encoder is a Gaussian N(f(x), sigma^2).")
        fx = float(np.log(x))
        x_line = NumberLine(x_range=[0, 2, 0.5], length=5.0, include_numbers=True, font_size=TICK_SIZE,
                            color=FOREGROUND, decimal_number_config={"num_decimal_places": 1})
        z_line = NumberLine(x_range=[Z_RANGE[0], Z_RANGE[1], 0.5], length=5.0, include_numbers=True,
                            font_size=TICK_SIZE, color=FOREGROUND, decimal_number_config={"num_decimal_places": 1})
        x_line.move_to(np.array([-3.9, 1.7, 0]))
        z_line.move_to(np.array([-3.9, -2.3, 0]))
        x_lab = label_axes(x_line, "x (data)")
        z_lab = label_axes(z_line, "z (latent)")
        x_dot = Dot(x_line.n2p(x), color=TERM_COLORS["log_px"])
        z_dot = Dot(z_line.n2p(fx), color=TERM_COLORS["log_px"])
        f_arrow = Arrow(x_dot.get_bottom() + DOWN * 0.45, z_line.n2p(fx) + UP * 2.4, buff=0.1, color=FOREGROUND,
                        stroke_width=3)
        f_lab = MathTex(r"z = f(x) = \log x", font_size=MATH_SMALL_SIZE + 2, color=FOREGROUND)
        f_lab.next_to(f_arrow, RIGHT, buff=0.15)
        self.play(Create(x_line), Create(z_line), FadeIn(x_lab), FadeIn(z_lab), FadeIn(x_dot), run_time=1.0)
        self.play(Create(f_arrow), FadeIn(f_lab), FadeIn(z_dot), run_time=0.8)

        u = ValueTracker(0.0)
        sigma = lambda: 10.0 ** -u.get_value()  # noqa: E731
        bump_ax = Axes(x_range=[Z_RANGE[0], Z_RANGE[1], 0.5], y_range=[0, 2.2, 1], x_length=5.0, y_length=1.8,
                       tips=False)
        bump_ax.move_to(z_line.get_center(), aligned_edge=DOWN).shift(UP * 0.02)

        def bump():
            s = sigma()
            zs = np.linspace(max(Z_RANGE[0], fx - 5 * s), min(Z_RANGE[1], fx + 5 * s), 121)
            return polyline(bump_ax, zs, np.minimum(norm.pdf(zs, fx, s), 2.2), TERM_COLORS["elbo"], 3)

        q_curve = always_redraw(bump)
        q_lab = MathTex(r"q(z \mid x) = \mathcal{N}(f(x), \sigma^2)", font_size=MATH_SMALL_SIZE + 2,
                        color=TERM_COLORS["elbo"])
        q_lab.next_to(z_line, DOWN, buff=0.55)
        self.play(Create(q_curve), FadeIn(q_lab), run_time=0.8)

        # Step: the ELBO against sigma, with the flow's log p(x)
        self.step("The ELBO as sigma shrinks (x axis: -log10 sigma), against the flow's log p(x).")
        ax = OffsetAxes([0, U_MAX, 0.5], (float(elbos.min()) - 0.1, log_px + 0.2), x_length=5.2, y_length=3.0)
        ax.axes.move_to(np.array([3.7, -1.3, 0]))
        ax_labels = label_axes(ax.axes, "\u2212log\u2081\u2080 \u03c3", "ELBO (nats)")
        limit = DashedLine(ax.c2p(0, log_px), ax.c2p(U_MAX, log_px), color=TERM_COLORS["log_px"], stroke_width=3)
        limit_lab = Text("flow's log p(x)", font_size=SMALL_SIZE, color=TERM_COLORS["log_px"])
        limit_lab.next_to(limit, UP, buff=0.08).align_to(limit, RIGHT)

        def trace_upto():
            grid = np.linspace(0.0, max(u.get_value(), 1e-3), 100)
            return polyline(ax, grid, np.interp(grid, us, elbos), TERM_COLORS["elbo"], 4)

        trace = always_redraw(trace_upto)
        gap = always_redraw(lambda: Line(ax.c2p(u.get_value(), elbo_at(u.get_value())),
                                         ax.c2p(u.get_value(), log_px), color=TERM_COLORS["gap"], stroke_width=6))
        readout = VGroup(
            VGroup(Text("\u03c3 =", font_size=LABEL_SIZE, color=FOREGROUND),
                   FastNumber(1.0, digits=4, font_size=LABEL_SIZE, color=FOREGROUND)),
            VGroup(Text("ELBO =", font_size=LABEL_SIZE, color=TERM_COLORS["elbo"]),
                   FastNumber(elbo_at(0), digits=4, font_size=LABEL_SIZE, color=TERM_COLORS["elbo"])),
            VGroup(Text("log p(x) \u2212 ELBO =", font_size=LABEL_SIZE, color=TERM_COLORS["gap"]),
                   FastNumber(log_px - elbo_at(0), digits=4, font_size=LABEL_SIZE, color=TERM_COLORS["gap"])),
        )
        for r in readout:
            r.arrange(RIGHT, buff=0.15)
        readout.arrange(DOWN, aligned_edge=LEFT, buff=0.12).next_to(eq, DOWN, buff=0.35).align_to(ax.axes, LEFT)
        readout[0][1].add_updater(lambda d: d.set_value(sigma()))
        readout[1][1].add_updater(lambda d: d.set_value(elbo_at(u.get_value())))
        readout[2][1].add_updater(lambda d: d.set_value(log_px - elbo_at(u.get_value())))
        self.play(Create(ax.axes), FadeIn(ax_labels), Create(limit), FadeIn(limit_lab), FadeIn(readout),
                  run_time=1.2)
        self.add(trace, gap)

        # Step: shrink sigma: the encoder becomes a Dirac delta, the ELBO reaches log p(x)
        self.step("Shrink sigma: the encoder becomes a Dirac delta and the ELBO reaches the flow's log p(x).")
        self.play(u.animate.set_value(U_MAX), run_time=6.0)
        for r in readout:
            r[1].clear_updaters()
        src = note(f"derivations.flow_as_dirac_vae, f(x) = log x at x = {x:g}; log p(x) = {log_px:.4f} nats")
        src.next_to(head, DOWN, buff=0.12).align_to(head, LEFT)
        self.play(FadeIn(src), run_time=0.6)
        self.wait(2.0)

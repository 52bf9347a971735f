"""Chapter 0 — the evidence by Monte Carlo: naive sampling from the prior, importance sampling from q, and
the importance-weighted bounds (Isachenko lecture 5, "Naive Monte-Carlo estimation"; Burda, Grosse &
Salakhutdinov 2016, *Importance Weighted Autoencoders*, Thm. 1).

Both p(x) = E_{p(z)} p(x | z) and p(x) = E_q p(x, z) / q(z) are unbiased, but samples from the prior
rarely land where the posterior mass is, so the naive running mean wanders while the importance-sampled
one settles.  Taking the log of a K-sample average gives the IWAE bounds L_1 = ELBO <= L_K <= log p(x).
Samples, estimates and bounds come from ``derivations.evidence_monte_carlo`` (linear-Gaussian model at
``linear_gaussian.DEFAULT``, fixed seeds); p(x) is a density value, the bounds are in nats.
"""

from __future__ import annotations

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    Axes,
    Create,
    DashedLine,
    Dot,
    FadeIn,
    Scene,
    Text,
    ValueTracker,
    VGroup,
    Write,
    always_redraw,
)

from vizlab.common import SMALL_SIZE, NatsAxes, note, polyline, statement, term_legend, title
from vizlab.palette import FOREGROUND, TERM_COLORS

EVIDENCE_IDENTITIES = ("evidence_monte_carlo",)
SEED = 0
N_SHOW = 10_000  # samples per estimator in the running means


class EvidenceMonteCarlo(Scene):
    """Naive vs importance-sampled running estimates of p(x); IWAE bounds L_K rising to log p(x)."""

    def construct(self):
        from derivations import evidence_monte_carlo as emc

        est = emc.evidence_estimators(seed=SEED, n=N_SHOW)
        exact = est["exact"]
        ns = np.unique(np.round(np.logspace(0, np.log10(N_SHOW), 160)).astype(int))
        run_naive = np.cumsum(est["naive_samples"])[ns - 1] / ns
        run_is = np.cumsum(est["is_samples"])[ns - 1] / ns
        logn = np.log10(ns)

        # Step: title and the proved statement
        head = title("The evidence by Monte Carlo")
        eq = statement(*EVIDENCE_IDENTITIES, max_width=7.5, font_size=32)
        eq.next_to(head, DOWN, buff=0.25).align_to(head, LEFT)
        self.play(FadeIn(head), Write(eq), run_time=1.2)

        # Step: running means of the two unbiased estimators against the exact p(x)
        top = float(max(2.2 * exact, np.max(run_is) * 1.1))
        ax = Axes(x_range=[0, np.log10(N_SHOW), 1], y_range=[0, top, top / 4], x_length=6.0, y_length=3.8,
                  tips=False, axis_config={"color": FOREGROUND, "font_size": 18},
                  x_axis_config={"include_numbers": True, "decimal_number_config": {"num_decimal_places": 0}},
                  y_axis_config={"include_numbers": True, "decimal_number_config": {"num_decimal_places": 2}})
        ax.to_corner(DOWN + LEFT, buff=0.6)
        xl = Text("log\u2081\u2080 samples", font_size=SMALL_SIZE, color=FOREGROUND).next_to(ax.x_axis, DOWN, buff=0.3)
        line = DashedLine(ax.c2p(0, exact), ax.c2p(np.log10(N_SHOW), exact), color=TERM_COLORS["log_px"],
                          stroke_width=3)
        legend = term_legend(["prior", "elbo", "log_px"], labels={
            "prior": "naive: z ~ p(z)", "elbo": "importance: z ~ q", "log_px": "exact p(x)"})
        legend.to_corner(UP + RIGHT, buff=0.45).shift(LEFT * 2.2)
        self.play(Create(ax), FadeIn(xl), Create(line), FadeIn(legend), run_time=1.2)
        upto = ValueTracker(0.0)

        def running(values, key):
            k = max(2, int(np.searchsorted(logn, upto.get_value(), side="right")))
            return polyline(ax, logn[:k], np.minimum(values[:k], top), TERM_COLORS[key], 3)

        naive_curve = always_redraw(lambda: running(run_naive, "prior"))
        is_curve = always_redraw(lambda: running(run_is, "elbo"))
        self.add(naive_curve, is_curve)
        self.play(upto.animate.set_value(np.log10(N_SHOW)), run_time=4.0)
        ratio = est["naive_var"] / est["is_var"]
        var_txt = Text(f"per-sample variance, naive / importance: {ratio:.0f}\u00d7", font_size=SMALL_SIZE,
                       color=FOREGROUND).next_to(legend, DOWN, buff=0.2).align_to(legend, LEFT)
        self.play(FadeIn(var_txt), run_time=0.6)

        # Step: the log of a K-sample average: IWAE bounds between the ELBO and log p(x)
        iw = emc.iwae_curve(seed=SEED)
        ks, vals = np.asarray(iw["k"], float), np.asarray(iw["iwae"], float)
        lk = np.log2(ks)
        nax = NatsAxes([0, float(lk.max()), 1], min(iw["elbo"], vals.min()) - 0.2, iw["log_px"] + 0.2,
                       x_length=5.0, y_length=3.8)
        nax.axes.to_corner(DOWN + RIGHT, buff=0.6)
        kl = Text("log\u2082 K", font_size=SMALL_SIZE, color=FOREGROUND).next_to(nax.axes.x_axis, DOWN, buff=0.3)
        px = DashedLine(nax.c2p(0, iw["log_px"]), nax.c2p(lk.max(), iw["log_px"]), color=TERM_COLORS["log_px"],
                        stroke_width=3)
        elbo = DashedLine(nax.c2p(0, iw["elbo"]), nax.c2p(lk.max(), iw["elbo"]), color=TERM_COLORS["elbo"],
                          stroke_width=2)
        tags = VGroup(
            Text("log p(x)", font_size=SMALL_SIZE, color=TERM_COLORS["log_px"]).next_to(px, UP, buff=0.05),
            Text("ELBO = L\u2081", font_size=SMALL_SIZE, color=TERM_COLORS["elbo"]).next_to(elbo, DOWN, buff=0.05),
        )
        for t, ref in zip(tags, (px, elbo)):
            t.align_to(ref, RIGHT)
        self.play(Create(nax.axes), FadeIn(kl), Create(px), Create(elbo), FadeIn(tags), run_time=1.2)
        dots = VGroup(*[Dot(nax.c2p(x, y), color=FOREGROUND, radius=0.06) for x, y in zip(lk, vals)])
        self.play(FadeIn(dots, lag_ratio=0.3), run_time=1.5)
        cap = note("right: IWAE bounds L_K (nats), from derivations.evidence_monte_carlo",
                   font_size=SMALL_SIZE * 0.8)
        cap.next_to(var_txt, DOWN, buff=0.15).align_to(legend, LEFT)
        if cap.get_right()[0] > 6.9:
            cap.shift(LEFT * (cap.get_right()[0] - 6.9))
        self.play(FadeIn(cap), run_time=0.6)
        self.wait(2.0)

"""Chapter 0 — the evidence by Monte Carlo: naive sampling from the prior, importance sampling from q, and
the importance-weighted bounds (Isachenko lecture 5, "Naive Monte-Carlo estimation"; Burda, Grosse &
Salakhutdinov 2016, *Importance Weighted Autoencoders*, Thm. 1).

Both p(x) = E_{p(z)} p(x | z) and p(x) = E_q p(x, z) / q(z) are unbiased, but samples from the prior
rarely land where the posterior mass is, so the naive running mean wanders while the importance-sampled
one settles.  Taking the log of a K-sample average gives the IWAE bounds L_1 = ELBO <= L_K <= log p(x).
Samples, estimates and bounds come from ``derivations.evidence_monte_carlo`` with the seed and sample size
of its numeric check (``ident.check(seed=0)``, the numbers the book prints); p(x) is a density value, the
bounds are in nats.
"""

from __future__ import annotations

import numpy as np
from manim import DOWN, LEFT, RIGHT, UP, Create, DashedLine, Dot, FadeIn, Text, ValueTracker, VGroup, Write
from manim import always_redraw

from vizlab.formulas import statement
from vizlab.lecture import LectureScene, proof_notes
from vizlab.palette import FOREGROUND, TERM_COLORS
from vizlab.plots import OffsetAxes, axes, label_axes, nice_step, polyline
from vizlab.style import LABEL_SIZE, SMALL_SIZE, note, term_legend, title

IDENTITY = "evidence_monte_carlo"
SEED = 0  # the seed of the book's numeric check


def shown_values() -> dict:
    """The numbers this scene prints, computed exactly as the book's check does (same seed, same n)."""
    from derivations import evidence_monte_carlo as emc

    est = emc.evidence_estimators(seed=SEED)
    return {"variance_ratio": est["naive_var"] / est["is_var"], "estimators": est,
            "iwae": emc.iwae_curve(seed=SEED)}


class EvidenceMonteCarlo(LectureScene):
    """Naive vs importance-sampled running estimates of p(x); IWAE bounds L_K rising to log p(x)."""

    def construct(self):
        vals = shown_values()
        est = vals["estimators"]
        exact = est["exact"]
        n = len(est["naive_samples"])
        ns = np.unique(np.round(np.logspace(0, np.log10(n), 200)).astype(int))
        run_naive = np.cumsum(est["naive_samples"])[ns - 1] / ns
        run_is = np.cumsum(est["is_samples"])[ns - 1] / ns
        logn = np.log10(ns)

        # Step: title and the proved statement
        self.step(proof_notes(IDENTITY))
        head = title("The evidence by Monte Carlo")
        eq = statement(IDENTITY, max_width=7.6, font_size=34)
        eq.next_to(head, DOWN, buff=0.25).align_to(head, LEFT)
        self.play(FadeIn(head), Write(eq), run_time=1.2)

        # Step: running means of the two unbiased estimators against the exact p(x)
        self.step("Two unbiased estimators of p(x): average p(x|z) over z ~ p(z), or p(x,z)/q(z) over z ~ q. "
                  f"{n} draws each, seed {SEED} (the book's check).")
        top = float(max(2.2 * exact, np.max(run_is) * 1.1))
        step_y = nice_step(top, 4)
        n_steps = int(np.ceil(top / step_y))
        ax = axes([0, np.log10(n), 1], [0, n_steps * step_y, step_y], x_length=5.6, y_length=3.3)
        ax.to_corner(DOWN + LEFT, buff=1.0).shift(RIGHT * 0.35)
        ax_labels = label_axes(ax, "samples S (log\u2081\u2080)", "estimate of p(x) (density)")
        line = DashedLine(ax.c2p(0, exact), ax.c2p(np.log10(n), exact), color=TERM_COLORS["log_px"],
                          stroke_width=3)
        legend = term_legend(["prior", "elbo", "log_px"], labels={
            "prior": "naive: z ~ p(z)", "elbo": "importance: z ~ q", "log_px": "exact p(x)"})
        legend.move_to(np.array([1.3, 3.1, 0]), aligned_edge=UP + LEFT)
        self.play(Create(ax), FadeIn(ax_labels), Create(line), FadeIn(legend), run_time=1.2)
        upto = ValueTracker(0.0)

        def running(values, key):
            k = max(2, int(np.searchsorted(logn, upto.get_value(), side="right")))
            return polyline(ax, logn[:k], np.minimum(values[:k], n_steps * step_y), TERM_COLORS[key], 3)

        naive_curve = always_redraw(lambda: running(run_naive, "prior"))
        is_curve = always_redraw(lambda: running(run_is, "elbo"))
        self.add(naive_curve, is_curve)
        self.play(upto.animate.set_value(np.log10(n)), run_time=4.0)
        var_txt = VGroup(Text("variance per sample,", font_size=LABEL_SIZE, color=FOREGROUND),
                         Text(f"naive / importance = {vals['variance_ratio']:.1f}\u00d7", font_size=LABEL_SIZE,
                              color=FOREGROUND)).arrange(DOWN, aligned_edge=LEFT, buff=0.1)
        var_txt.next_to(legend, DOWN, buff=0.3).align_to(legend, LEFT)
        self.play(FadeIn(var_txt), run_time=0.6)

        # Step: the log of a K-sample average: IWAE bounds between the ELBO and log p(x)
        self.step("IWAE (Burda et al. 2016, Thm. 1): log of the K-sample average. L_1 is the ELBO, L_K rises "
                  "with K and stays below log p(x) by Jensen.")
        iw = vals["iwae"]
        ks, bounds = np.asarray(iw["k"], float), np.asarray(iw["iwae"], float)
        lk = np.log2(ks)
        nax = OffsetAxes([0, float(np.ceil(lk.max())), 2], (min(iw["elbo"], bounds.min()) - 0.2, iw["log_px"] + 0.3),
                         x_length=4.6, y_length=3.0)
        nax.axes.to_corner(DOWN + RIGHT, buff=1.0)
        nax_labels = label_axes(nax.axes, "samples K (log\u2082)", "L_K (nats)")
        px = DashedLine(nax.c2p(0, iw["log_px"]), nax.c2p(lk.max(), iw["log_px"]), color=TERM_COLORS["log_px"],
                        stroke_width=3)
        elbo = DashedLine(nax.c2p(0, iw["elbo"]), nax.c2p(lk.max(), iw["elbo"]), color=TERM_COLORS["elbo"],
                          stroke_width=2)
        tags = VGroup(Text("log p(x)", font_size=SMALL_SIZE, color=TERM_COLORS["log_px"]),
                      Text("ELBO = L\u2081", font_size=SMALL_SIZE, color=TERM_COLORS["elbo"]))
        tags[0].next_to(px, UP, buff=0.08).align_to(px, RIGHT)
        tags[1].next_to(elbo, DOWN, buff=0.08).align_to(elbo, RIGHT)
        dots = VGroup(*[Dot(nax.c2p(x, y), color=FOREGROUND, radius=0.06) for x, y in zip(lk, bounds)])
        self.play(Create(nax.axes), FadeIn(nax_labels), Create(px), Create(elbo), FadeIn(tags), run_time=1.2)
        self.play(FadeIn(dots, lag_ratio=0.3), run_time=1.5)
        cap = note("derivations.evidence_monte_carlo, seed 0")
        cap.next_to(eq, DOWN, buff=0.2).align_to(eq, LEFT)
        self.play(FadeIn(cap), run_time=0.6)
        self.wait(2.0)

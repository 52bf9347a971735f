"""Chapter 3 — gradients of an expectation: the score-function estimator and the reparameterization
(pathwise) estimator (Gupta & Wang eqs. 10-17; Isachenko lecture 5, "Reparametrization trick"; Prince,
*UDL* fig. 17.11).

The sampling node z ~ N(mu, sigma^2) blocks backpropagation; writing z = mu + sigma * eps with
eps ~ N(0, 1) moves the randomness to a side input and leaves a deterministic path from phi to f(z).
Both estimators are unbiased (the two proved identities); their per-sample spreads differ.  The
histograms are real per-sample gradients of E f(z) from
``derivations.models.gradient_estimators.gradient_samples`` with the sample size and seed of the book's
check (``reparameterization_gradient.N_VARIANCE`` draws, seed 0), so the variances on screen are the ones the
page prints.
"""

from __future__ import annotations

import numpy as np
from manim import DOWN, LEFT, RIGHT, UP, Arrow, Circle, Create, Cross, DashedLine, FadeIn, FadeOut, GrowArrow
from manim import GrowFromEdge, MathTex, Rectangle, RoundedRectangle, Text, VGroup, Write

from vizlab.formulas import statement
from vizlab.lecture import LectureScene, proof_notes
from vizlab.palette import ESTIMATOR_COLORS, FOREGROUND, TERM_COLORS
from vizlab.plots import OffsetAxes, label_axes, nice_step
from vizlab.style import LABEL_SIZE, MATH_SMALL_SIZE, SMALL_SIZE, note, title

SCORE = "score_function_gradient"
REPARAM = "reparameterization_gradient"
SEED = 0  # the seed of the book's check
N_BINS = 41


def shown_values() -> dict:
    """The per-sample gradients this scene shows, drawn exactly as the book's check draws them."""
    from derivations import reparameterization_gradient as rg
    from derivations.models.gradient_estimators import gradient_samples

    return gradient_samples(rg.N_VARIANCE, seed=SEED)


def _node(label: str, stochastic: bool = False, color: str = FOREGROUND) -> VGroup:
    """A graph node: a circle for a random variable, a rounded box for a deterministic one."""
    tex = MathTex(label, font_size=MATH_SMALL_SIZE + 4, color=color)
    if stochastic:
        shape = Circle(radius=max(tex.width, tex.height) / 2 + 0.15, color=color, stroke_width=3)
    else:
        shape = RoundedRectangle(width=tex.width + 0.35, height=tex.height + 0.35, corner_radius=0.12,
                                 color=color, stroke_width=3)
    return VGroup(shape, tex.move_to(shape))


def _link(a: VGroup, b: VGroup, color: str = FOREGROUND) -> Arrow:
    return Arrow(a.get_right(), b.get_left(), buff=0.08, color=color, stroke_width=3,
                 max_tip_length_to_length_ratio=0.2)


def _histogram(ax, values: np.ndarray, lo: float, hi: float, color: str) -> VGroup:
    """Bars of a histogram of ``values`` over [lo, hi], heights as the share of all samples per bin (%)."""
    counts, edges = np.histogram(values, bins=N_BINS, range=(lo, hi))
    share = 100.0 * counts / len(values)
    bars = VGroup()
    for c, e0, e1 in zip(share, edges[:-1], edges[1:]):
        if c == 0:
            continue
        p0, p1 = ax.c2p(e0, 0), ax.c2p(e1, c)
        bars.add(Rectangle(width=p1[0] - p0[0], height=p1[1] - p0[1], fill_color=color, fill_opacity=0.85,
                           stroke_width=0.5, stroke_color="#000000").move_to((p0 + p1) / 2))
    return bars


class Reparameterization(LectureScene):
    """Sampling moved out of the path; score-function vs pathwise per-sample gradients and their variances."""

    def construct(self):
        # Step: the computation graph with a sampling node in the path
        self.step("phi -> (mu, sigma) -> z ~ N(mu, sigma^2) -> f(z). We want grad_phi E_q f(z).")
        head = title("Reparameterization: sampling moves out of the path")
        phi = _node(r"\phi")
        musig = _node(r"\mu, \sigma")
        z_rand = _node(r"z \sim \mathcal{N}(\mu, \sigma^2)", stochastic=True, color=ESTIMATOR_COLORS["score_function"])
        f = _node(r"f(z)")
        row = VGroup(phi, musig, z_rand, f).arrange(RIGHT, buff=0.4)
        row.move_to(np.array([-3.6, 1.3, 0]))
        if row.width > 6.6:
            row.scale_to_fit_width(6.6)
        links = VGroup(_link(phi, musig), _link(musig, z_rand), _link(z_rand, f))
        self.play(FadeIn(head), FadeIn(row, lag_ratio=0.2), *[GrowArrow(a) for a in links], run_time=1.5)

        # Step: the gradient cannot flow back through the sampling node
        self.step("The sampling node has no derivative with respect to its parameters: backprop stops there.")
        back = Arrow(f.get_bottom() + DOWN * 0.15, z_rand.get_bottom() + DOWN * 0.15 + RIGHT * 0.3,
                     color=TERM_COLORS["gap"], stroke_width=4, buff=0, path_arc=-0.8)
        stop = Cross(z_rand, stroke_color=TERM_COLORS["gap"], stroke_width=5).scale(0.5)
        blocked = Text("no \u2207 through sampling", font_size=LABEL_SIZE, color=TERM_COLORS["gap"])
        blocked.next_to(row, DOWN, buff=0.7)
        self.play(Create(back), Create(stop), FadeIn(blocked), run_time=1.2)

        # Step: reparameterize: z = mu + sigma * eps, eps ~ N(0, 1) enters from the side
        self.step("Reparameterize: z = mu + sigma * eps, eps ~ N(0, 1). The randomness enters from the side; "
                  "the path from phi to f is deterministic.")
        z_det = _node(r"z = \mu + \sigma \epsilon", color=ESTIMATOR_COLORS["reparameterization"])
        z_det.scale_to_fit_width(z_rand.width).move_to(z_rand)
        eps = _node(r"\epsilon \sim \mathcal{N}(0, 1)", stochastic=True, color=ESTIMATOR_COLORS["score_function"])
        eps.scale_to_fit_height(z_rand.height * 0.95).next_to(z_det, DOWN, buff=0.6)
        eps_link = Arrow(eps.get_top(), z_det.get_bottom(), buff=0.08, color=FOREGROUND, stroke_width=3)
        self.play(FadeOut(back), FadeOut(stop), FadeOut(blocked), run_time=0.5)
        self.play(z_rand.animate.move_to(eps), FadeIn(z_det), run_time=1.5)
        self.remove(z_rand)
        self.add(eps)
        path = VGroup(_link(musig, z_det), _link(z_det, f))
        self.play(*[FadeOut(a) for a in links[1:]], *[GrowArrow(a) for a in path], GrowArrow(eps_link),
                  run_time=0.8)
        grad = Arrow(f.get_top() + UP * 0.15, phi.get_top() + UP * 0.15, color=ESTIMATOR_COLORS["reparameterization"],
                     stroke_width=4, buff=0, path_arc=0.5)
        grad_lab = Text("\u2207\u03c6 flows back: pathwise gradient", font_size=SMALL_SIZE,
                        color=ESTIMATOR_COLORS["reparameterization"]).next_to(grad, UP, buff=0.05)
        self.play(Create(grad), FadeIn(grad_lab), run_time=1.0)

        # Step: the two proved estimators
        self.step(proof_notes(SCORE) + "\n\n" + proof_notes(REPARAM))
        tag_s = Text("score function:", font_size=SMALL_SIZE, color=ESTIMATOR_COLORS["score_function"])
        eq_s = statement(SCORE, max_width=6.6, font_size=MATH_SMALL_SIZE + 2, colored=False)
        tag_r = Text("pathwise:", font_size=SMALL_SIZE, color=ESTIMATOR_COLORS["reparameterization"])
        eq_r = statement(REPARAM, max_width=6.6, font_size=MATH_SMALL_SIZE + 2, colored=False)
        eq_s.set_color(ESTIMATOR_COLORS["score_function"])
        eq_r.set_color(ESTIMATOR_COLORS["reparameterization"])
        eqs = VGroup(tag_s, eq_s, tag_r, eq_r).arrange(DOWN, aligned_edge=LEFT, buff=0.12)
        eqs.to_corner(DOWN + LEFT, buff=0.4)
        self.play(Write(eqs), run_time=1.2)

        # Step: per-sample gradient estimates of d/dmu E f(z) from the same eps, as histograms
        g = shown_values()
        n = len(g["score_function"])
        self.step(f"{n} per-sample estimates of d/dmu E f(z), f a cubic, the same eps for both "
                  f"(seed {SEED}, as in the book's check). Same mean, very different spread.")
        exact = float(g["exact"][0])
        sf, rp = g["score_function"][:, 0], g["reparameterization"][:, 0]
        lo, hi = (float(t) for t in np.percentile(np.concatenate([sf, rp]), [1.0, 99.0]))
        step = nice_step(hi - lo, 4)
        lo, hi = np.floor(lo / step) * step, np.ceil(hi / step) * step
        top = float(np.ceil(max(np.histogram(v, bins=N_BINS, range=(lo, hi))[0].max() for v in (sf, rp))
                            / n * 100 / 10) * 10)
        panels = VGroup()
        for k, (key, vals, name) in enumerate((("score_function", sf, "score function"),
                                               ("reparameterization", rp, "pathwise"))):
            oax = OffsetAxes([lo, hi, step], (0, top, top / 2), x_length=5.6, y_length=1.45)
            ax = oax.axes
            ax.move_to(np.array([3.75, 1.55 - 2.5 * k, 0]))
            bars = _histogram(oax, vals, lo, hi, ESTIMATOR_COLORS[key])
            line = DashedLine(oax.c2p(exact, 0), oax.c2p(exact, top), color=FOREGROUND, stroke_width=2)
            var = float(g["var"][key][0])
            lab = Text(f"{name}:  Var = {var:.3g}", font_size=LABEL_SIZE, color=ESTIMATOR_COLORS[key])
            lab.next_to(ax, UP, buff=0.1).align_to(ax, RIGHT)
            ax_labels = label_axes(ax, "per-sample \u2202\u03bc estimate" if k == 1 else None, "share (%)")
            panels.add(VGroup(ax, bars, line, lab, ax_labels))
            self.play(Create(ax), FadeIn(lab), FadeIn(ax_labels), GrowFromEdge(bars, DOWN), Create(line),
                      run_time=1.2)
        ratio = g["var"]["score_function"] / g["var"]["reparameterization"]
        summary = VGroup(
            Text(f"exact \u2202\u03bc = {exact:.3f} (dashed);  variance ratio: "
                 f"\u2202\u03bc {ratio[0]:.1f}\u00d7,  \u2202\u03c3 {ratio[1]:.1f}\u00d7", font_size=SMALL_SIZE,
                 color=FOREGROUND),
            note(f"{n} draws, seed {SEED}; central 98 % of the estimates shown"),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.08)
        summary.to_corner(DOWN + RIGHT, buff=0.3)
        self.play(FadeIn(summary), run_time=1.0)
        self.wait(2.0)

"""Chapter 3 — gradients of an expectation: the score-function estimator and the reparameterization
(pathwise) estimator (Gupta & Wang eqs. 10-17; Isachenko lecture 5, "Reparametrization trick"; Prince,
*UDL* fig. 17.11).

The sampling node z ~ N(mu, sigma^2) blocks backpropagation; writing z = mu + sigma * eps with
eps ~ N(0, 1) moves the randomness to a side input and leaves a deterministic path from phi to f(z).
Both estimators are unbiased (the two proved identities); their per-sample spreads differ.  The
histograms are real per-sample gradients of E f(z) from ``derivations.models.gradient_estimators.gradient_samples``
(same draws eps for both estimators, fixed seed), with the exact gradient ``exact_gradient``.
"""

from __future__ import annotations

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    Arrow,
    Axes,
    Circle,
    Create,
    Cross,
    DashedLine,
    FadeIn,
    FadeOut,
    GrowArrow,
    GrowFromEdge,
    MathTex,
    Rectangle,
    RoundedRectangle,
    Scene,
    Text,
    VGroup,
    Write,
)

from vizlab.common import SMALL_SIZE, nice_step, note, statement, title
from vizlab.palette import ESTIMATOR_COLORS, FOREGROUND, TERM_COLORS

SCORE_IDENTITIES = ("score_function_gradient",)
REPARAM_IDENTITIES = ("reparameterization_gradient",)
N_SAMPLES = 20_000  # per-sample gradient estimates drawn at render time
SEED = 0
N_BINS = 41


def _node(label: str, stochastic: bool = False, color: str = FOREGROUND) -> VGroup:
    """A graph node: a circle for a random variable, a rounded box for a deterministic one."""
    tex = MathTex(label, font_size=30, color=color)
    if stochastic:
        shape = Circle(radius=max(tex.width, tex.height) / 2 + 0.18, color=color, stroke_width=3)
    else:
        shape = RoundedRectangle(width=tex.width + 0.4, height=tex.height + 0.35, corner_radius=0.12,
                                 color=color, stroke_width=3)
    return VGroup(shape, tex.move_to(shape))


def _link(a: VGroup, b: VGroup, color: str = FOREGROUND) -> Arrow:
    return Arrow(a.get_right(), b.get_left(), buff=0.08, color=color, stroke_width=3,
                 max_tip_length_to_length_ratio=0.2)


def _histogram(ax: Axes, values: np.ndarray, lo: float, hi: float, color: str) -> VGroup:
    """Bars of a density histogram of ``values`` over [lo, hi], heights scaled to the panel's top."""
    counts, edges = np.histogram(values, bins=N_BINS, range=(lo, hi))
    top = counts.max()
    bars = VGroup()
    for c, e0, e1 in zip(counts, edges[:-1], edges[1:]):
        if c == 0:
            continue
        p0, p1 = ax.c2p(e0, 0), ax.c2p(e1, c / top)
        bars.add(Rectangle(width=p1[0] - p0[0], height=p1[1] - p0[1], fill_color=color, fill_opacity=0.85,
                           stroke_width=0.5, stroke_color="#000000").move_to((p0 + p1) / 2))
    return bars


class Reparameterization(Scene):
    """Sampling moved out of the path; score-function vs pathwise per-sample gradients and their variances."""

    def construct(self):
        from derivations.models.gradient_estimators import gradient_samples

        # Step: title
        head = title("Reparameterization: sampling moves out of the path")
        self.play(FadeIn(head), run_time=0.8)

        # Step: the computation graph with a sampling node in the path
        phi = _node(r"\phi")
        musig = _node(r"\mu, \sigma")
        z_rand = _node(r"z \sim \mathcal{N}(\mu, \sigma^2)", stochastic=True,
                       color=ESTIMATOR_COLORS["score_function"])
        f = _node(r"f(z)")
        row = VGroup(phi, musig, z_rand, f).arrange(RIGHT, buff=0.45).scale(0.8)
        row.move_to(np.array([-3.6, 1.1, 0]))
        links = VGroup(_link(phi, musig), _link(musig, z_rand), _link(z_rand, f))
        self.play(FadeIn(row, lag_ratio=0.2), *[GrowArrow(a) for a in links], run_time=1.5)

        # Step: the gradient cannot flow back through the sampling node
        back = Arrow(f.get_bottom() + DOWN * 0.15, z_rand.get_bottom() + DOWN * 0.15 + RIGHT * 0.3,
                     color=TERM_COLORS["gap"], stroke_width=4, buff=0, path_arc=-0.8)
        stop = Cross(z_rand, stroke_color=TERM_COLORS["gap"], stroke_width=5).scale(0.5)
        blocked = Text("no \u2207 through sampling", font_size=SMALL_SIZE, color=TERM_COLORS["gap"])
        blocked.next_to(row, DOWN, buff=0.55)
        self.play(Create(back), Create(stop), FadeIn(blocked), run_time=1.2)

        # Step: reparameterize: z = mu + sigma * eps, eps ~ N(0, 1) enters from the side
        z_det = _node(r"z = \mu + \sigma \epsilon", color=ESTIMATOR_COLORS["reparameterization"]).scale(0.8)
        z_det.move_to(z_rand)
        eps = _node(r"\epsilon \sim \mathcal{N}(0, 1)", stochastic=True,
                    color=ESTIMATOR_COLORS["score_function"]).scale(0.8)
        eps.next_to(z_det, DOWN, buff=1.0)
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
        eq_s = statement(*SCORE_IDENTITIES, max_width=6.6, font_size=28, colored=False)
        eq_r = statement(*REPARAM_IDENTITIES, max_width=6.6, font_size=28, colored=False)
        eq_s.set_color(ESTIMATOR_COLORS["score_function"])
        eq_r.set_color(ESTIMATOR_COLORS["reparameterization"])
        eqs = VGroup(eq_s, eq_r).arrange(DOWN, aligned_edge=LEFT, buff=0.25)
        eqs.to_corner(DOWN + LEFT, buff=0.45)
        self.play(Write(eqs), run_time=1.2)

        # Step: per-sample gradient estimates of d/dmu E f(z) from the same eps, as histograms
        g = gradient_samples(n=N_SAMPLES, seed=SEED)
        exact = float(g["exact"][0])
        sf, rp = g["score_function"][:, 0], g["reparameterization"][:, 0]
        lo, hi = (float(t) for t in np.percentile(np.concatenate([sf, rp]), [1.0, 99.0]))
        step = nice_step(hi - lo, 4)
        lo, hi = np.floor(lo / step) * step, np.ceil(hi / step) * step
        panels = VGroup()
        for k, (key, vals, name) in enumerate((("score_function", sf, "score function"),
                                               ("reparameterization", rp, "pathwise (reparameterized)"))):
            ax = Axes(x_range=[lo, hi, step], y_range=[0, 1.05, 1], x_length=5.6, y_length=1.9, tips=False,
                      axis_config={"color": FOREGROUND, "stroke_opacity": 0.7},
                      x_axis_config={"include_numbers": k == 1, "font_size": 16, "decimal_number_config":
                                     {"num_decimal_places": 0 if float(step).is_integer() else 1}},
                      y_axis_config={"include_ticks": False, "stroke_opacity": 0})
            ax.move_to(np.array([3.75, 1.75 - 2.7 * k, 0]))
            bars = _histogram(ax, vals, lo, hi, ESTIMATOR_COLORS[key])
            line = DashedLine(ax.c2p(exact, 0), ax.c2p(exact, 1.05), color=FOREGROUND, stroke_width=2)
            var = float(g["var"][key][0])
            lab = Text(f"{name}:  Var = {var:.2f}", font_size=SMALL_SIZE + 2, color=ESTIMATOR_COLORS[key])
            lab.next_to(ax, UP, buff=0.08).align_to(ax, LEFT)
            panels.add(VGroup(ax, bars, line, lab))
            self.play(Create(ax), FadeIn(lab), GrowFromEdge(bars, DOWN), Create(line), run_time=1.2)
        xlab = MathTex(r"\text{per-sample } \partial_\mu \text{ estimate}", font_size=24, color=FOREGROUND)
        xlab.next_to(panels[1][0], DOWN, buff=0.35)
        ratio = g["var"]["score_function"] / g["var"]["reparameterization"]
        summary = VGroup(
            Text(f"exact \u2202\u03bc = {exact:.3f} (dashed);  means {g['mean']['score_function'][0]:.3f}, "
                 f"{g['mean']['reparameterization'][0]:.3f}", font_size=SMALL_SIZE, color=FOREGROUND),
            Text(f"variance ratio score / pathwise:  \u2202\u03bc {ratio[0]:.1f}\u00d7,  \u2202\u03c3 {ratio[1]:.1f}\u00d7",
                 font_size=SMALL_SIZE, color=FOREGROUND),
            note(f"{N_SAMPLES} draws, seed {SEED}, derivations.gradients; central 98 % of all estimates shown",
                 font_size=SMALL_SIZE * 0.85),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.08)
        if summary.width > 6.6:
            summary.scale_to_fit_width(6.6)
        summary.next_to(xlab, DOWN, buff=0.12).align_to(panels[1][0], LEFT)
        self.play(FadeIn(xlab), FadeIn(summary), run_time=1.0)
        self.wait(2.0)

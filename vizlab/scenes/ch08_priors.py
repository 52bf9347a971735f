"""Chapter 8 — what the surgery asks for: a learned prior (Hoffman & Johnson 2016, sec. 3 and poster;
Tomczak & Welling 2018, "VAE with a VampPrior", AISTATS, eq. 9; issue 15).

The prior enters the ELBO only through the marginal KL, KL(q(z) || p(z)) with q(z) = (1/N) sum_n q(z | x_n)
(the elbo_surgery identity: avg KL = index-code MI + marginal KL).  The scene shows the trained 2-D model's
aggregated posterior (draws stored in ``vae_d2.priors.npz``) under the contours of the N(0, I) prior, then
under the contours of each prior fitted to it (MoG-K, VampPrior-K; encoder and decoder frozen), while a
bar per prior shows its marginal KL (nats) shrinking.  Every number is read from ``vae_d2.json``
(``train.terms.marginal_kl``, ``beyond.fitted_priors``) through ``vizlab.data.load_priors``.

Contours: the highest-density regions holding 50 % and 90 % of each prior's mass; the density levels are
quantiles of log p at the prior's own stored draws, the lines come from ``contourpy`` on a grid.
"""

from __future__ import annotations

import numpy as np
from manim import DOWN, LEFT, RIGHT, UP, Create, FadeIn, FadeOut, GrowFromEdge, PMobject, Rectangle, Text
from manim import DecimalNumber, Transform, VGroup, VMobject, Write

from vizlab import data
from vizlab.formulas import statement
from vizlab.lecture import LectureScene, proof_notes
from vizlab.palette import FOREGROUND, TERM_COLORS
from vizlab.plots import axes, label_axes, nats_axis
from vizlab.style import LABEL_SIZE, SMALL_SIZE, TICK_SIZE, fmt_nats, note, term_legend, title

IDENTITY = "elbo_surgery"
LIMIT = 4.0  # the latent plane shows [-LIMIT, LIMIT]^2
GRID = 241  # grid points per side for the contours
MASSES = (0.5, 0.9)  # each contour encloses this share of the prior's mass
MIN_POINTS = 8  # contour pieces with fewer grid crossings are dropped (islands smaller than a grid cell)
BAR_HEIGHT = 2.2  # scene units of the marginal-KL scale
BAR_STEP = 1.75  # scene units between the bars
BAR_STEP_FOUR = 1.35  # ... when a fourth bar (the jointly trained prior) must fit in the frame
PANEL_X = 0.3  # left edge (scene units) of the legend and captions right of the plane


def log_density(points: np.ndarray, weights: np.ndarray, means: np.ndarray, logvars: np.ndarray) -> np.ndarray:
    """log p(z) (nats) of a mixture of diagonal Gaussians at ``points`` (M, D); ``weights`` (K,) summing to 1,
    ``means``, ``logvars`` (K, D).  Returns (M,)."""
    out = np.empty(len(points))
    for s in range(0, len(points), 4096):  # (chunk, K, D) at a time
        diff = points[s:s + 4096, None, :] - means[None]
        comp = -0.5 * (diff**2 / np.exp(logvars)[None] + logvars[None] + np.log(2 * np.pi)).sum(-1)
        comp += np.log(weights)[None]
        top = comp.max(1, keepdims=True)
        out[s:s + 4096] = (top + np.log(np.exp(comp - top).sum(1, keepdims=True)))[:, 0]
    return out


def hdr_contours(prior: dict, masses=MASSES, limit: float = LIMIT, grid: int = GRID) -> list[list[np.ndarray]]:
    """Per mass m in ``masses``: the lines (each (L, 2) in z) bounding the highest-density region of ``prior``
    that holds m of its mass; the level is the (1 - m) quantile of log p at the prior's stored draws."""
    import contourpy

    g = np.linspace(-limit, limit, grid)
    zx, zy = np.meshgrid(g, g)
    args = (prior["weights"], prior["means"], prior["logvars"])
    logp = log_density(np.stack([zx.ravel(), zy.ravel()], 1), *args).reshape(zx.shape)
    at_draws = log_density(prior["samples"], *args)
    gen = contourpy.contour_generator(zx, zy, logp)
    return [[ln for ln in gen.lines(float(np.quantile(at_draws, 1 - m))) if len(ln) >= MIN_POINTS] for m in masses]


def trained_limit(q_agg: np.ndarray, share: float = 0.95) -> float:
    """Half-width of the plane for the jointly trained model: the ``share`` quantile of max(|z1|, |z2|) over its
    draws, rounded up to a whole step of 5 (at least LIMIT)."""
    reach = float(np.quantile(np.abs(q_agg).max(axis=1), share))
    return max(LIMIT, 5.0 * np.ceil(reach / 5.0))


class LearnedPrior(LectureScene):
    """The 2-D aggregated posterior under N(0, I) and under the fitted priors, then (if trained) the aggregated
    posterior of the model trained with a VampPrior from the start under that prior; marginal KL (nats) per prior."""

    @staticmethod
    def _contour_lines(prior: dict, plane, limit: float = LIMIT) -> VGroup:
        """The 50 % and 90 % highest-density contours of ``prior`` (a mixture dict) drawn on ``plane``, whose
        ends stand for +-``limit`` in z."""
        lines = VGroup()
        k = LIMIT / limit
        for m, pieces in zip(MASSES, hdr_contours(prior, limit=limit)):
            for ln in pieces:
                curve = VMobject(stroke_color=TERM_COLORS["prior"], stroke_width=3.5 if m == MASSES[0] else 2.0)
                curve.set_points_as_corners(np.array([plane.c2p(k * a, k * b) for a, b in ln]))
                curve.is_data_curve = True
                lines.add(curve)
        return lines

    @staticmethod
    def _bar(value: float, rows: list[str], cx: float, floor_y: float, unit_h: float):
        """A marginal-KL bar of height ``value`` nats at x = ``cx``, its name (``rows``, one per line) below, its
        value above."""
        bar = Rectangle(width=0.6, height=max(value * unit_h, 0.02), fill_color=TERM_COLORS["marginal_kl"],
                        fill_opacity=0.9, stroke_width=1, stroke_color="#000000")
        bar.move_to([cx, floor_y, 0], aligned_edge=DOWN)
        name = VGroup(*[Text(r, font_size=SMALL_SIZE, color=FOREGROUND) for r in rows])
        name.arrange(DOWN, buff=0.06).next_to([cx, floor_y, 0], DOWN, buff=0.15)
        readout = Text(fmt_nats(value, digits=3, unit=""), font_size=SMALL_SIZE, color=TERM_COLORS["marginal_kl"])
        readout.next_to(bar, UP, buff=0.1)
        return bar, name, readout

    def construct(self):
        # Step: title and the identity: the prior only enters through the marginal KL
        self.step(proof_notes(IDENTITY) + "\n\nThe prior p(z) enters only the marginal KL: a prior closer to "
                  "q(z) shrinks it, and the ELBO rises by the same amount (Hoffman & Johnson 2016).")
        head = title("What the surgery asks for: a learned prior")
        formula = statement(IDENTITY, max_width=13.0, font_size=32)
        formula.next_to(head, DOWN, buff=0.2).to_edge(LEFT, buff=0.4)
        self.play(FadeIn(head), Write(formula), run_time=1.5)
        pri = data.load_priors(2)
        if pri is None:
            msg = note("no vae_d2.priors.npz / beyond.fitted_priors yet: run python -m training.prior_study vae_d2")
            msg.next_to(formula, DOWN, buff=0.6).to_edge(LEFT, buff=0.4)
            self.play(FadeIn(msg), run_time=0.8)
            self.wait(6)
            return

        # Step: the latent plane and the aggregated posterior's draws
        self.step(f"The aggregated posterior q(z) of the trained 2-D VAE: {len(pri['q_agg'])} draws, one from "
                  f"q(z | x_n) of a random training image each, stored in {pri['file']}.")
        plane = axes([-LIMIT, LIMIT, 1], [-LIMIT, LIMIT, 1], x_length=4.6, y_length=4.6, x_numbers=False,
                     y_numbers=False)
        for axis in (plane.x_axis, plane.y_axis):  # numbers only at the ends: the cloud covers the middle
            axis.add_numbers([-LIMIT, LIMIT], font_size=TICK_SIZE)
        plane.to_corner(DOWN + LEFT, buff=0.75).shift(RIGHT * 0.4)
        plane_labels = label_axes(plane, "z\u2081 (no unit)", "z\u2082 (no unit)")
        # the x axis runs through the middle of the plane: its label goes under the plane, off the contours
        plane_labels[0].next_to(plane.c2p(LIMIT, -LIMIT), DOWN, buff=0.15).align_to(plane.c2p(LIMIT, 0), RIGHT)
        z = pri["q_agg"]
        z = z[np.all(np.abs(z) < LIMIT, axis=1)]
        cloud = PMobject(stroke_width=2)
        cloud.add_points(np.array([plane.c2p(a, b) for a, b in z]), color=TERM_COLORS["q_agg"])
        legend = term_legend(["q_agg", "prior"], labels={"q_agg": "q(z) draws",
                                                         "prior": "p(z): 50 %, 90 % of its mass"})
        legend.next_to(formula, DOWN, buff=0.35).align_to([PANEL_X, 0, 0], LEFT)
        self.play(Create(plane), FadeIn(plane_labels), FadeIn(cloud), FadeIn(legend[0]), run_time=1.5)

        # the marginal-KL scale, bars added one prior at a time, largest KL first; last, if it was trained, the
        # model trained with a learned prior from the start (its own encoder, so its own cloud)
        order = [pri["standard"]] + sorted(pri["priors"].values(), key=lambda p: -p["marginal_kl"][0])
        trained = data.load_trained_prior()
        bar_step = BAR_STEP if trained is None else BAR_STEP_FOUR
        top = max(p["marginal_kl"][0] + 2 * p["marginal_kl"][1] for p in order + ([trained] if trained else []))
        scale = nats_axis(0.0, top, length=BAR_HEIGHT, n_ticks=4)
        scale.shift(np.array([PANEL_X + 0.6, -3.0, 0.0]) - scale.n2p(0))
        scale_lab = label_axes(scale, "KL(q(z) || p(z)) (nats)")
        floor_y, unit_h = scale.n2p(0)[1], scale.n2p(1)[1] - scale.n2p(0)[1]

        shown = None
        for i, prior in enumerate(order):
            value, se = prior["marginal_kl"]
            if i == 0:
                self.step(f"The N(0, I) prior the model was trained with: its contours enclose 50 % and 90 % of its "
                          f"mass. Marginal KL = {fmt_nats(value, se, 3)}, from train.terms.marginal_kl.")
            else:
                self.step(f"A {prior['name']} prior fitted to q(z) (encoder and decoder frozen, maximising "
                          f"E_q(z) log p(z)): the marginal KL {'falls' if value < order[0]['marginal_kl'][0] else 'rises'}"
                          f" to {fmt_nats(value, se, 3)} (beyond.fitted_priors; N(0, I): "
                          f"{fmt_nats(order[0]['marginal_kl'][0], digits=3)}), and the ELBO moves by the difference "
                          f"the other way.")
            lines = self._contour_lines(prior, plane)
            kind, _, k = prior["name"].partition(", K = ")  # "MoG, K = 500" on two lines, "N(0, I)" on one
            bar, name, readout = self._bar(value, [kind] + ([f"K = {k}"] if k else []), PANEL_X + 1.6 + i * bar_step,
                                           floor_y, unit_h)
            caption = VGroup(Text(f"p(z) = {prior['name']}", font_size=LABEL_SIZE, color=FOREGROUND),
                             Text(f"marginal KL = {fmt_nats(value, se, 3)}", font_size=LABEL_SIZE,
                                  color=TERM_COLORS["marginal_kl"])).arrange(DOWN, aligned_edge=LEFT, buff=0.1)
            caption.next_to(legend, DOWN, buff=0.2).align_to(legend, LEFT)
            anims = [Create(lines), GrowFromEdge(bar, DOWN), FadeIn(name), FadeIn(readout)]
            if shown is None:
                anims += [Create(scale), FadeIn(scale_lab), FadeIn(legend[1]), FadeIn(caption)]
            else:
                anims += [FadeOut(shown[0]), FadeOut(shown[1]), FadeIn(caption)]
            self.play(*anims, run_time=2.0)
            self.bring_to_front(lines)
            shown = (lines, caption)
            self.wait(1.0)

        files = [f"from vae_d2.json and {pri['file']}"]
        if trained is not None:
            # Step: a model trained with the VampPrior from the start: encoder, decoder and prior move together
            value, se = trained["marginal_kl"]
            self.step(f"A second model, trained with the {trained['name']} prior from the start "
                      f"({trained['epochs']} epochs): the encoder moves too, so the cloud is its own aggregated "
                      f"posterior, spread far wider than N(0, I) allows (the axes now span +-"
                      f"{trained_limit(trained['q_agg']):.0f}, holding 95 % of its draws). Its marginal KL to its own "
                      f"prior is {fmt_nats(value, se, 3)} "
                      f"({trained['run']}.json, train.terms.marginal_kl).")
            # its latent plane can be far wider than N(0, I)'s: the axes are rescaled to hold 95 % of its draws
            limit = trained_limit(trained["q_agg"])
            k = LIMIT / limit
            z = trained["q_agg"]
            z = z[np.all(np.abs(z) < limit, axis=1)]
            new_cloud = PMobject(stroke_width=2)
            new_cloud.add_points(np.array([plane.c2p(k * a, k * b) for a, b in z]), color=TERM_COLORS["q_agg"])
            lines = self._contour_lines(trained, plane, limit)
            renumber = [Transform(num, DecimalNumber(v, num_decimal_places=0, font_size=TICK_SIZE).move_to(num))
                        for axis in (plane.x_axis, plane.y_axis) for num, v in zip(axis.numbers, (-limit, limit))]
            cx = PANEL_X + 1.6 + len(order) * bar_step
            bar, name, readout = self._bar(value, [trained["name"].partition(", K = ")[0], "trained"], cx, floor_y,
                                           unit_h)
            caption = VGroup(Text(f"trained with p(z) = {trained['name']}", font_size=LABEL_SIZE, color=FOREGROUND),
                             Text(f"marginal KL = {fmt_nats(value, se, 3)}", font_size=LABEL_SIZE,
                                  color=TERM_COLORS["marginal_kl"])).arrange(DOWN, aligned_edge=LEFT, buff=0.1)
            caption.next_to(legend, DOWN, buff=0.2).align_to(legend, LEFT)
            self.play(FadeOut(cloud), FadeIn(new_cloud), FadeOut(shown[0]), FadeOut(shown[1]), *renumber,
                      run_time=1.0)
            self.play(Create(lines), GrowFromEdge(bar, DOWN), FadeIn(name), FadeIn(readout), FadeIn(caption),
                      run_time=2.0)
            self.bring_to_front(lines)
            shown = (lines, caption)
            files = [f"from vae_d2.* and {trained['run']}.*"]
            self.wait(1.0)

        # Step: the last word
        self.step("The marginal KL shrinks as the prior follows the aggregated posterior; with p = q(z) it would "
                  "vanish (the optimal-prior row of the chapter's table).")
        src = VGroup(*[note(line) for line in files]).arrange(DOWN, aligned_edge=LEFT, buff=0.08)
        src.next_to(shown[1], DOWN, buff=0.1).align_to(shown[1], LEFT)
        self.play(FadeIn(src), run_time=0.8)
        self.wait(2.0)

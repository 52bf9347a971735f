"""Chapter 6 — ELBO surgery (Hoffman & Johnson 2016, "ELBO surgery: yet another way to carve up the
variational evidence lower bound", NIPS AABI workshop; Table 1; Isachenko lecture 5, "ELBO surgery").

The average KL to the prior splits into the index-code mutual information and the marginal KL,

    avg KL = I_q[n; z] + KL(q(z) || p(z)),   q(z) = (1/N) sum_n q(z | x_n),

with I_q[n; z] <= log N.  The scene shows the trained 2-D model's aggregated posterior (one sample from
each stored encoding, ``vae_d2.encodings.npz``) over the N(0, I) prior's contours, then the three terms as
bars for each latent size whose results file exists (``vae_d{2,10,20}.json``), all in nats.
"""

from __future__ import annotations

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    Axes,
    Circle,
    Create,
    DashedLine,
    DashedVMobject,
    FadeIn,
    GrowFromEdge,
    PMobject,
    Rectangle,
    Scene,
    Text,
    VGroup,
    Write,
)

from vizlab import data
from vizlab.common import SMALL_SIZE, fmt_nats, note, statement, term_legend, title
from vizlab.palette import FOREGROUND, TERM_COLORS

SURGERY_IDENTITIES = ("elbo_surgery", "surgery", "avg_kl_decomposition")
SAMPLE_SEED = 0  # seed of the one draw z_n ~ q(z | x_n) per stored encoding
BAR_HEIGHT = 3.7  # scene units of the tallest bar (or of log N)


class ElboSurgery(Scene):
    """avg KL = index-code MI + marginal KL (nats), from the trained models' results files."""

    def construct(self):
        # Step: title and the proved identity
        head = title("ELBO surgery")
        formula = statement(*SURGERY_IDENTITIES, max_width=13.0, font_size=30)
        formula.next_to(head, DOWN, buff=0.2).to_edge(LEFT, buff=0.4)
        self.play(FadeIn(head), Write(formula), run_time=1.5)

        # Step: the latent plane with the prior's 1, 2, 3 sigma contours
        plane = Axes(x_range=[-4, 4, 2], y_range=[-4, 4, 2], x_length=4.6, y_length=4.6, tips=False,
                     axis_config={"color": FOREGROUND, "stroke_opacity": 0.5, "include_ticks": True})
        plane.to_corner(DOWN + LEFT, buff=0.45)
        unit = plane.x_axis.get_unit_size()
        contours = VGroup(*[
            DashedVMobject(Circle(radius=r * unit, color=TERM_COLORS["prior"], stroke_width=2.5), num_dashes=40)
            .move_to(plane.c2p(0, 0)) for r in (1, 2, 3)
        ])
        self.play(Create(plane), Create(contours), run_time=1.5)

        # Step: the aggregated posterior q(z): one sample from each real encoding of the 2-D model
        enc = data.load_npz(2, "encodings")
        if enc is not None:
            rng = np.random.default_rng(SAMPLE_SEED)
            mu, logvar = enc["mu"].astype(float), enc["logvar"].astype(float)
            z = mu + np.exp(0.5 * logvar) * rng.standard_normal(mu.shape)
            z = z[np.all(np.abs(z) < 4, axis=1)]
            cloud = PMobject(stroke_width=2)
            cloud.add_points(np.array([plane.c2p(a, b) for a, b in z]), color=TERM_COLORS["q_agg"])
            cap = note(f"{len(mu)} encodings from vae_d2.encodings.npz", font_size=SMALL_SIZE * 0.85)
            self.play(FadeIn(cloud), run_time=1.5)
            self.bring_to_front(contours)  # the prior's contours stay readable over the cloud
        else:
            cap = note("no vae_d2.encodings.npz yet: train the 2-D model")
        legend = term_legend(["prior", "q_agg"], font_size=SMALL_SIZE)
        legend.next_to(plane, UP, buff=0.1, aligned_edge=LEFT)
        cap.next_to(plane, DOWN, buff=0.08)
        self.play(FadeIn(legend), FadeIn(cap), run_time=0.8)

        # Step: avg KL vs MI + marginal KL for each latent size, against log N
        results = {d: data.load_results(d) for d in data.LATENT_DIMS}
        present = {d: r for d, r in results.items() if r is not None}
        tops = [data.term(r, "avg_kl")[0] for r in present.values()]
        tops += [data.term(r, "index_code_mi")[0] + data.term(r, "marginal_kl")[0] for r in present.values()]
        log_n = next((float(r["train"]["log_n"]) for r in present.values() if "log_n" in r["train"]), None)
        scale_max = max(tops + ([log_n] if log_n else []) + [1.0])
        unit_h = BAR_HEIGHT / scale_max
        floor_y = plane.get_bottom()[1] + 0.35
        x0 = 0.9
        groups, grows = VGroup(), []
        for i, d in enumerate(data.LATENT_DIMS):
            cx = x0 + i * 2.15
            label = Text(f"D = {d}", font_size=SMALL_SIZE + 2, color=FOREGROUND)
            label.move_to([cx + 0.35, floor_y - 0.25, 0])
            if d not in present:
                box = DashedVMobject(Rectangle(width=1.4, height=1.6, color=FOREGROUND, stroke_width=2))
                box.move_to([cx + 0.35, floor_y + 0.8, 0])
                missing = note("not trained\nyet", font_size=SMALL_SIZE * 0.9)
                missing.scale_to_fit_width(min(missing.width, box.width - 0.3)).move_to(box)
                label = VGroup(label, note(f"no vae_d{d}.json", font_size=SMALL_SIZE * 0.75)
                               .next_to(label, DOWN, buff=0.05))
                groups.add(VGroup(label, box, missing))
                continue
            r = present[d]
            avg, avg_se = data.term(r, "avg_kl")
            mi, mi_se = data.term(r, "index_code_mi")
            mkl, mkl_se = data.term(r, "marginal_kl")
            bar_avg = self._bar(avg, unit_h, "avg_kl").move_to([cx, floor_y, 0], aligned_edge=DOWN)
            bar_mi = self._bar(mi, unit_h, "index_code_mi").move_to([cx + 0.7, floor_y, 0], aligned_edge=DOWN)
            bar_mkl = self._bar(mkl, unit_h, "marginal_kl").next_to(bar_mi, UP, buff=0)
            t_avg = Text(fmt_nats(avg, unit=""), font_size=SMALL_SIZE * 0.8, color=TERM_COLORS["avg_kl"])
            t_avg.next_to(bar_avg, UP, buff=0.05)
            t_mi = Text(fmt_nats(mi, unit=""), font_size=SMALL_SIZE * 0.8, color=TERM_COLORS["index_code_mi"])
            t_mi.next_to(bar_mkl, UP, buff=0.05).shift(RIGHT * 0.1)
            t_mkl = Text(fmt_nats(mkl, unit=""), font_size=SMALL_SIZE * 0.8, color=TERM_COLORS["marginal_kl"])
            t_mkl.next_to(t_mi, UP, buff=0.04)
            grows += [GrowFromEdge(bar_avg, DOWN), GrowFromEdge(bar_mi, DOWN), GrowFromEdge(bar_mkl, DOWN)]
            groups.add(VGroup(label, t_avg, t_mi, t_mkl))
        bars_legend = term_legend(["avg_kl", "index_code_mi", "marginal_kl"], font_size=SMALL_SIZE)
        bars_legend.next_to(formula, DOWN, buff=0.2).to_edge(RIGHT, buff=0.4)
        self.play(*grows, FadeIn(groups), FadeIn(bars_legend), run_time=2.5)

        # Step: the index-code MI is bounded by log N (N training images)
        if log_n is not None:
            y = floor_y + log_n * unit_h
            line = DashedLine([x0 - 0.5, y, 0], [x0 + 2 * 2.15 + 1.0, y, 0], color=FOREGROUND, stroke_width=2)
            # the tag sits above the line's left end, over the D = 2 group, whose bars (MI < log N) stay below it
            tag = Text(f"log N = {fmt_nats(log_n)}", font_size=SMALL_SIZE, color=FOREGROUND)
            tag.next_to(line, UP, buff=0.06).align_to(line, LEFT)
            self.play(Create(line), FadeIn(tag), run_time=1.2)
        self.wait(2.5)

    @staticmethod
    def _bar(value: float, unit_h: float, key: str) -> Rectangle:
        """A bar of ``value`` nats (drawn at least a hairline: an estimate may sit at zero)."""
        return Rectangle(width=0.6, height=max(abs(value) * unit_h, 0.02), fill_color=TERM_COLORS[key],
                         fill_opacity=0.9, stroke_width=1, stroke_color="#000000")

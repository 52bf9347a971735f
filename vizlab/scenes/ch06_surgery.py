"""Chapter 6 — ELBO surgery (Hoffman & Johnson 2016, "ELBO surgery: yet another way to carve up the
variational evidence lower bound", NIPS AABI workshop; Table 1; Isachenko lecture 5, "ELBO surgery").

The average KL to the prior splits into the index-code mutual information and the marginal KL,

    avg KL = I_q[n; z] + KL(q(z) || p(z)),   q(z) = (1/N) sum_n q(z | x_n),

with I_q[n; z] <= log N.  The scene shows the trained 2-D model's aggregated posterior (one sample from
each stored encoding, ``vae_d2.encodings.npz``) over the N(0, I) prior's contours, then the three terms as
bars on a nats scale for each latent size whose results file exists (``vae_d{2,10,20}.json``).
"""

from __future__ import annotations

import numpy as np
from manim import DOWN, LEFT, RIGHT, UP, Circle, Create, DashedLine, DashedVMobject, FadeIn, GrowFromEdge
from manim import PMobject, Rectangle, Text, VGroup, Write

from vizlab import data
from vizlab.formulas import statement
from vizlab.lecture import LectureScene, proof_notes
from vizlab.palette import FOREGROUND, TERM_COLORS
from vizlab.plots import axes, label_axes, nats_axis
from vizlab.style import SMALL_SIZE, TICK_SIZE, fmt_nats, note, term_legend, title

IDENTITY = "elbo_surgery"
SAMPLE_SEED = 0  # seed of the one draw z_n ~ q(z | x_n) per stored encoding
BAR_HEIGHT = 3.4  # scene units of the nats scale of the bars
GROUP_STEP = 1.6  # scene units between the bar groups of the latent sizes
MONO = "DejaVu Sans Mono"  # the table of values, in columns


class ElboSurgery(LectureScene):
    """avg KL = index-code MI + marginal KL (nats), from the trained models' results files."""

    def construct(self):
        # Step: title and the proved identity
        self.step(proof_notes(IDENTITY))
        head = title("ELBO surgery")
        formula = statement(IDENTITY, max_width=13.0, font_size=32)
        formula.next_to(head, DOWN, buff=0.2).to_edge(LEFT, buff=0.4)
        self.play(FadeIn(head), Write(formula), run_time=1.5)

        # Step: the latent plane with the prior's 1, 2, 3 sigma contours
        self.step("The latent plane of the 2-D VAE and the prior N(0, I): contours at 1, 2, 3 standard deviations.")
        plane = axes([-4, 4, 1], [-4, 4, 1], x_length=4.0, y_length=4.0, x_numbers=False, y_numbers=False)
        for axis in (plane.x_axis, plane.y_axis):  # numbers only at the ends: the cloud covers the middle
            axis.add_numbers([-4, 4], font_size=TICK_SIZE)
        plane.to_corner(DOWN + LEFT, buff=0.75).shift(RIGHT * 0.4)
        plane_labels = label_axes(plane, "z\u2081", "z\u2082")
        unit = plane.x_axis.get_unit_size()
        contours = VGroup(*[
            DashedVMobject(Circle(radius=r * unit, color=TERM_COLORS["prior"], stroke_width=2.5), num_dashes=40)
            .move_to(plane.c2p(0, 0)) for r in (1, 2, 3)
        ])
        self.play(Create(plane), FadeIn(plane_labels), Create(contours), run_time=1.5)

        # Step: the aggregated posterior q(z): one sample from each real encoding of the 2-D model
        self.step("The aggregated posterior q(z) = (1/N) sum_n q(z | x_n): one sample from each stored encoding. "
                  "Where it leaves holes or spills past the prior, the marginal KL is large.")
        enc = data.load_npz(2, "encodings")
        if enc is not None:
            rng = np.random.default_rng(SAMPLE_SEED)
            mu, logvar = enc["mu"].astype(float), enc["logvar"].astype(float)
            z = rng.normal(mu, np.exp(0.5 * logvar))
            z = z[np.all(np.abs(z) < 4, axis=1)]
            cloud = PMobject(stroke_width=2)
            cloud.add_points(np.array([plane.c2p(a, b) for a, b in z]), color=TERM_COLORS["q_agg"])
            cap = VGroup(note(f"{len(mu)} encodings,"), note("vae_d2.encodings.npz")).arrange(DOWN, aligned_edge=LEFT,
                                                                                             buff=0.06)
            self.play(FadeIn(cloud), run_time=1.5)
            self.bring_to_front(contours)  # the prior's contours stay readable over the cloud
        else:
            cap = note("no vae_d2.encodings.npz yet: train the 2-D model")
        legend = term_legend(["prior", "q_agg"], labels={"prior": "prior p(z)", "q_agg": "q(z) samples"})
        legend.next_to(plane, RIGHT, buff=0.3).align_to(plane, UP)
        cap.next_to(legend, DOWN, buff=0.2).align_to(legend, LEFT)
        self.play(FadeIn(legend), FadeIn(cap), run_time=0.8)

        # Step: avg KL vs MI + marginal KL for each latent size, against log N
        self.step("For each latent size: average KL (orange) = index-code MI (purple) + marginal KL (yellow), "
                  "nats, from the results files.")
        results = {d: data.load_results(d) for d in data.LATENT_DIMS}
        present = {d: r for d, r in results.items() if r is not None}
        tops = [data.term(r, "avg_kl")[0] for r in present.values()]
        tops += [data.term(r, "index_code_mi")[0] + data.term(r, "marginal_kl")[0] for r in present.values()]
        log_n = next((float(r["train"]["log_n"]) for r in present.values() if "log_n" in r["train"]), None)
        scale = nats_axis(0.0, max(tops + ([log_n] if log_n else []) + [1.0]), length=BAR_HEIGHT, n_ticks=4)
        scale.shift(np.array([1.7, -3.3, 0.0]) - scale.n2p(0))
        scale_lab = label_axes(scale, "KL (nats)")
        floor_y = scale.n2p(0)[1]
        unit_h = scale.n2p(1)[1] - floor_y
        x0 = 2.45
        groups, grows = VGroup(), []
        for i, d in enumerate(data.LATENT_DIMS):
            cx = x0 + i * GROUP_STEP
            label = Text(f"D = {d}", font_size=SMALL_SIZE, color=FOREGROUND)
            label.move_to([cx + 0.3, floor_y - 0.3, 0])
            if d not in present:
                missing = VGroup(note(f"vae_d{d}.json"), note("not trained")).arrange(DOWN, buff=0.06)
                missing.next_to(label, UP, buff=0.3)
                groups.add(VGroup(label, missing))
                continue
            r = present[d]
            avg, _ = data.term(r, "avg_kl")
            mi, _ = data.term(r, "index_code_mi")
            mkl, _ = data.term(r, "marginal_kl")
            bar_avg = self._bar(avg, unit_h, "avg_kl").move_to([cx, floor_y, 0], aligned_edge=DOWN)
            bar_mi = self._bar(mi, unit_h, "index_code_mi").move_to([cx + 0.6, floor_y, 0], aligned_edge=DOWN)
            bar_mkl = self._bar(mkl, unit_h, "marginal_kl").next_to(bar_mi, UP, buff=0)
            grows += [GrowFromEdge(bar_avg, DOWN), GrowFromEdge(bar_mi, DOWN), GrowFromEdge(bar_mkl, DOWN)]
            groups.add(VGroup(label))
        bars_legend = term_legend(["avg_kl", "index_code_mi", "marginal_kl"])
        bars_legend.next_to(cap, DOWN, buff=0.4).align_to(legend, LEFT)
        self.play(Create(scale), FadeIn(scale_lab), *grows, FadeIn(groups), FadeIn(bars_legend), run_time=2.5)

        # Step: the numbers of the bars (nats) and the bound log N
        self.step("The index-code MI is at most log N (N training images): the dashed line.")
        table = VGroup(Text(f"{'D':<3} {'avg KL':>7} {'MI':>7} {'marg.KL':>7}", font_size=SMALL_SIZE, color=FOREGROUND,
                          font=MONO))
        for d, r in present.items():
            vals = [fmt_nats(data.term(r, k)[0], unit="") for k in ("avg_kl", "index_code_mi", "marginal_kl")]
            table.add(Text(f"{d:<3} {vals[0]:>7} {vals[1]:>7} {vals[2]:>7}", font_size=SMALL_SIZE, color=FOREGROUND,
                           font=MONO))
        table.arrange(DOWN, aligned_edge=LEFT, buff=0.08).next_to(formula, DOWN, buff=0.35).to_edge(RIGHT, buff=0.4)
        anims = [FadeIn(table)]
        if log_n is not None:
            y = floor_y + log_n * unit_h
            line = DashedLine([x0 - 0.25, y, 0], [x0 + 2 * GROUP_STEP + 0.9, y, 0], color=FOREGROUND, stroke_width=2)
            # over the D = 2 group, whose index-code MI (and, in practice, avg KL) stays below log N
            tag = VGroup(Text("log N", font_size=SMALL_SIZE, color=FOREGROUND),
                         Text(f"= {fmt_nats(log_n, unit='')}", font_size=SMALL_SIZE, color=FOREGROUND),
                         ).arrange(DOWN, aligned_edge=LEFT, buff=0.06)
            tag.next_to(line, UP, buff=0.08).align_to(line, LEFT)
            anims += [Create(line), FadeIn(tag)]
        self.play(*anims, run_time=1.2)
        self.wait(2.5)

    @staticmethod
    def _bar(value: float, unit_h: float, key: str) -> Rectangle:
        """A bar of ``value`` nats (drawn at least a hairline: an estimate may sit at zero)."""
        return Rectangle(width=0.5, height=max(abs(value) * unit_h, 0.02), fill_color=TERM_COLORS[key],
                         fill_opacity=0.9, stroke_width=1, stroke_color="#000000")

"""Chapter 7 — the learned data manifold of the 2-D VAE (Kingma & Welling 2014, "Auto-Encoding
Variational Bayes", fig. 4).

Linearly spaced points of the unit square are mapped through the Gaussian inverse CDF to latent codes z;
each cell shows the decoder's Bernoulli means p_theta(x | z).  Both the grid ``z`` (G, G, 2) and the
decoded ``images`` (G, G, 28, 28) are read from ``training/results/vae_d2.manifold.npz``; nothing is
decoded here.  The cells are tiled with ``torchvision.utils.make_grid``.
"""

from __future__ import annotations

import numpy as np
from manim import DOWN, LEFT, RIGHT, UP, Create, FadeIn, ImageMobject, Square, Text, VGroup
from manim.constants import RESAMPLING_ALGORITHMS

from vizlab import data
from vizlab.camera import image_safe_camera
from vizlab.lecture import LectureScene
from vizlab.palette import FOREGROUND, TERM_COLORS
from vizlab.style import LABEL_SIZE, SMALL_SIZE, note, title

GRID_HEIGHT = 6.0  # scene units of the image grid


def manifold_image(images: np.ndarray) -> np.ndarray:
    """(G, G, 28, 28) Bernoulli means in [0, 1] -> one (G*28, G*28, 4) uint8 RGBA image, white ink on black.

    Row i of the grid is row i of ``images`` (``torchvision.utils.make_grid`` with no padding)."""
    import torch
    from torchvision.utils import make_grid

    g1, g2, h, w = images.shape
    cells = torch.as_tensor(np.clip(images, 0.0, 1.0), dtype=torch.float32).reshape(g1 * g2, 1, h, w)
    tiled = make_grid(cells, nrow=g2, padding=0)[0].numpy()  # (G*h, G*w); make_grid repeats 1 channel to 3
    gray = (tiled * 255).round().astype(np.uint8)
    return np.dstack([gray, gray, gray, np.full_like(gray, 255)])


class LearnedManifold(LectureScene):
    """The 2-D decoder on a Gaussian inverse-CDF grid of z (Kingma & Welling fig. 4)."""

    @staticmethod
    def lecture_camera():
        return image_safe_camera()  # ImageMobject under Pillow 13

    def __init__(self, **kwargs):
        kwargs.setdefault("camera_class", self.lecture_camera())
        super().__init__(**kwargs)

    def construct(self):
        # Step: title and provenance
        self.step("The decoder of the trained 2-D VAE, evaluated on a grid of latent codes (Kingma & Welling 2014, "
                  "fig. 4).")
        head = title("The learned MNIST manifold (2-D latent)")
        self.play(FadeIn(head), run_time=0.8)
        man = data.load_npz(2, "manifold")
        if man is None:
            msg = note("no vae_d2.manifold.npz yet: train the 2-D model (python -m training --latent-dim 2)")
            self.play(FadeIn(msg), run_time=0.8)
            self.wait(2)
            return
        z, images = man["z"].astype(float), man["images"].astype(float)
        g = images.shape[0]

        # Step: the decoded grid
        self.step(f"{g} x {g} latent codes z = Phi^-1(u), u on a grid of the unit square; each cell shows the "
                  "Bernoulli means p_theta(x | z), read from vae_d2.manifold.npz.")
        grid = ImageMobject(manifold_image(images))
        grid.set_resampling_algorithm(RESAMPLING_ALGORITHMS["nearest"])
        grid.height = GRID_HEIGHT
        grid.to_edge(DOWN, buff=0.45).to_edge(LEFT, buff=0.6)
        frame = Square(side_length=GRID_HEIGHT, color=FOREGROUND, stroke_width=1.5).move_to(grid)
        self.play(Create(frame), FadeIn(grid, shift=UP * 0.2), run_time=2.0)

        # Step: the latent coordinates at the corners, read from the grid itself
        cell = GRID_HEIGHT / g
        corner = lambda i, j: np.array([  # noqa: E731 - centre of cell (row i, column j)
            grid.get_left()[0] + (j + 0.5) * cell, grid.get_top()[1] - (i + 0.5) * cell, 0.0])
        fmt = lambda v: f"({v[0]:+.2f}, {v[1]:+.2f})".replace("-", "\u2212")  # noqa: E731
        tl = Text(f"z = {fmt(z[0, 0])}", font_size=SMALL_SIZE, color=FOREGROUND)
        br = Text(f"z = {fmt(z[-1, -1])}", font_size=SMALL_SIZE, color=FOREGROUND)
        tl.next_to(grid, UP, buff=0.1).align_to(grid, LEFT)
        br.next_to(grid, RIGHT, buff=0.1).align_to(grid, DOWN)
        info = VGroup(
            Text("z = \u03a6\u207b\u00b9(u),  u on a", font_size=LABEL_SIZE, color=FOREGROUND),
            Text(f"{g} \u00d7 {g} grid of the unit square", font_size=LABEL_SIZE, color=FOREGROUND),
            Text("each cell: p\u03b8(x | z), Bernoulli means", font_size=LABEL_SIZE, color=FOREGROUND),
            note("from vae_d2.manifold.npz"),
            note("Kingma & Welling (2014), fig. 4"),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.12)
        info.next_to(grid, RIGHT, buff=0.4).align_to(grid, UP)
        self.play(FadeIn(tl), FadeIn(br), FadeIn(info), run_time=1.2)

        # Step: walk along the diagonal of the grid; the highlighted cell's z is read from the npz
        self.step("Walk along the diagonal: neighbouring codes decode to similar digits.")
        box = Square(side_length=cell, color=TERM_COLORS["q_agg"], stroke_width=4).move_to(corner(0, 0))
        zlab = Text(f"z = {fmt(z[0, 0])}", font_size=LABEL_SIZE, color=TERM_COLORS["q_agg"])
        zlab.next_to(info, DOWN, buff=0.5, aligned_edge=LEFT)
        self.play(Create(box), FadeIn(zlab), run_time=0.6)
        for k in np.linspace(0, g - 1, 5).round().astype(int)[1:]:
            new = Text(f"z = {fmt(z[k, k])}", font_size=LABEL_SIZE, color=TERM_COLORS["q_agg"])
            new.move_to(zlab, aligned_edge=LEFT)
            self.play(box.animate.move_to(corner(k, k)), zlab.animate.become(new), run_time=1.0)
        self.wait(2.0)

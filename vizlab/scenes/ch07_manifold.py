"""Chapter 7 — the learned data manifold of the 2-D VAE (Kingma & Welling 2014, "Auto-Encoding
Variational Bayes", fig. 4).

Linearly spaced points of the unit square are mapped through the Gaussian inverse CDF to latent codes z;
each cell shows the decoder's Bernoulli means p_theta(x | z).  Both the grid ``z`` (G, G, 2) and the
decoded ``images`` (G, G, 28, 28) are read from ``training/results/vae_d2.manifold.npz``; nothing is
decoded here.
"""

from __future__ import annotations

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    Create,
    FadeIn,
    ImageMobject,
    Scene,
    Square,
    Text,
    VGroup,
)
from manim.constants import RESAMPLING_ALGORITHMS

from vizlab import data
from vizlab.common import SMALL_SIZE, image_safe_camera, note, title
from vizlab.palette import FOREGROUND, TERM_COLORS

GRID_HEIGHT = 6.0  # scene units of the image grid

def manifold_image(images: np.ndarray) -> np.ndarray:
    """(G, G, 28, 28) Bernoulli means in [0, 1] -> one (G*28, G*28, 4) uint8 RGBA image, white ink on black."""
    g1, g2, h, w = images.shape
    tiled = images.transpose(0, 2, 1, 3).reshape(g1 * h, g2 * w)
    gray = (np.clip(tiled, 0.0, 1.0) * 255).astype(np.uint8)
    return np.dstack([gray, gray, gray, np.full_like(gray, 255)])

class LearnedManifold(Scene):
    """The 2-D decoder on a Gaussian inverse-CDF grid of z (Kingma & Welling fig. 4)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("camera_class", image_safe_camera())  # ImageMobject under Pillow 13
        super().__init__(**kwargs)

    def construct(self):
        # Step: title and provenance
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

        # Step: the decoded grid, revealed row by row
        tile = manifold_image(images)
        grid = ImageMobject(tile)
        grid.set_resampling_algorithm(RESAMPLING_ALGORITHMS["nearest"])
        grid.height = GRID_HEIGHT
        grid.to_edge(DOWN, buff=0.35).shift(LEFT * 1.6)
        frame = Square(side_length=GRID_HEIGHT, color=FOREGROUND, stroke_width=1.5).move_to(grid)
        self.play(Create(frame), FadeIn(grid, shift=UP * 0.2), run_time=2.0)

        # Step: the latent coordinates at the corners, read from the grid itself
        cell = GRID_HEIGHT / g
        corner = lambda i, j: np.array([  # noqa: E731 - centre of cell (row i, column j)
            grid.get_left()[0] + (j + 0.5) * cell, grid.get_top()[1] - (i + 0.5) * cell, 0.0])
        fmt = lambda v: f"({v[0]:+.2f}, {v[1]:+.2f})".replace("-", "\u2212")  # noqa: E731
        tl = Text(f"z = {fmt(z[0, 0])}", font_size=SMALL_SIZE, color=FOREGROUND)
        br = Text(f"z = {fmt(z[-1, -1])}", font_size=SMALL_SIZE, color=FOREGROUND)
        tl.next_to(grid, UP, buff=0.08, aligned_edge=LEFT)
        br.next_to(grid, DOWN, buff=0.05, aligned_edge=RIGHT)
        info = VGroup(
            Text("z = \u03a6\u207b\u00b9(u),  u on a", font_size=SMALL_SIZE + 2, color=FOREGROUND),
            Text(f"{g} \u00d7 {g} grid of the unit square", font_size=SMALL_SIZE + 2, color=FOREGROUND),
            Text("each cell: p\u03b8(x | z), Bernoulli means", font_size=SMALL_SIZE + 2, color=FOREGROUND),
            note("from vae_d2.manifold.npz", font_size=SMALL_SIZE),
            note("Kingma & Welling (2014), fig. 4", font_size=SMALL_SIZE),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.12)
        info.next_to(grid, RIGHT, buff=0.5).align_to(grid, UP)
        self.play(FadeIn(tl), FadeIn(br), FadeIn(info), run_time=1.2)

        # Step: walk along the diagonal of the grid; the highlighted cell's z is read from the npz
        box = Square(side_length=cell, color=TERM_COLORS["q_agg"], stroke_width=4).move_to(corner(0, 0))
        zlab = Text(f"z = {fmt(z[0, 0])}", font_size=SMALL_SIZE + 4, color=TERM_COLORS["q_agg"])
        zlab.next_to(info, DOWN, buff=0.5, aligned_edge=LEFT)
        self.play(Create(box), FadeIn(zlab), run_time=0.6)
        for k in np.linspace(0, g - 1, 5).round().astype(int)[1:]:
            new = Text(f"z = {fmt(z[k, k])}", font_size=SMALL_SIZE + 4, color=TERM_COLORS["q_agg"])
            new.move_to(zlab, aligned_edge=LEFT)
            self.play(box.animate.move_to(corner(k, k)), zlab.animate.become(new), run_time=1.0)
        self.wait(2.0)

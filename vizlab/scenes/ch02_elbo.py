"""Chapter 2 — the ELBO: evidence = ELBO + KL to the posterior, and ELBO = reconstruction - KL to the prior.

Sources: Isachenko, Deep Generative Models lecture 5, slides "ELBO derivation 1/2"; Gupta & Wang, "ELBO
and KL-divergence" eqs. 1-9; Prince, *Understanding Deep Learning* ch. 17 (Gaussian KL, eq. 17.21).

``ElboGap`` uses the exact linear-Gaussian model of ``derivations.models.linear_gaussian`` (z ~ N(0, 1),
x | z ~ N(w z + b, s^2), q = N(m, v)) at its ``DEFAULT`` parameters: every number is evaluated at render
time from the proved closed forms.  ``ElboDecomposition`` evaluates the proved Gaussian-KL expression term
by term at a real encoding of the trained 2-D VAE and stacks the trained model's reconstruction and KL
terms from its results file.  All values in nats.
"""

from __future__ import annotations

import numpy as np
import sympy
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    Axes,
    Create,
    DashedLine,
    FadeIn,
    GrowFromEdge,
    Line,
    MathTex,
    Rectangle,
    Scene,
    Text,
    ValueTracker,
    VGroup,
    Write,
    always_redraw,
)

from vizlab import data
from vizlab.common import (
    FastNumber,
    LABEL_SIZE,
    SMALL_SIZE,
    fmt_nats,
    identity,
    nats_axis,
    note,
    number_label,
    polyline,
    rhs,
    statement,
    title,
)
from vizlab.palette import FOREGROUND, TERM_COLORS

ELBO_GAP = ("elbo_gap",)
ELBO_DECOMPOSITION = ("elbo_decompositions", "elbo_decomposition")
GAUSSIAN_KL = ("gaussian_kl",)


def _linear_gaussian():
    """``derivations.models.linear_gaussian`` (imported at render time, not at import)."""
    from derivations.models import linear_gaussian

    return linear_gaussian


def _gauss(zs: np.ndarray, mean: float, var: float) -> np.ndarray:
    """Density values for plotting the curves of q and of the posterior (not a derived quantity)."""
    return np.exp(-0.5 * (zs - mean) ** 2 / var) / np.sqrt(2 * np.pi * var)


class ElboGap(Scene):
    """log p(x) = ELBO + KL(q || p(z|x)) in nats, as q = N(m, v) moves onto the exact posterior."""

    def construct(self):
        lg = _linear_gaussian()
        P = dict(lg.DEFAULT)
        x, w, b, s = P["x"], P["w"], P["b"], P["s"]
        m0, v0 = P["m"], P["v"]
        m_star, v_star = (float(a) for a in lg.posterior(x, w, b, s))
        log_px = float(lg.log_evidence(x, w, b, s))

        # Step: the proved statement, terms in their colors
        head = title("Evidence = ELBO + KL to the posterior")
        eq = statement(*ELBO_GAP, max_width=12.5, font_size=40)
        eq.next_to(head, DOWN, buff=0.3)
        model = Text(
            f"z ~ N(0, 1),  x | z ~ N(wz + b, s\u00b2),  q = N(m, v);   x = {x:g}, w = {w:g}, b = {b:g}, s = {s:g}",
            font_size=SMALL_SIZE, color=FOREGROUND).next_to(eq, DOWN, buff=0.25)
        self.play(FadeIn(head), Write(eq), run_time=1.5)
        self.play(FadeIn(model), run_time=0.6)

        # Step: q and the exact posterior over z
        t = ValueTracker(0.0)
        q_of = lambda: (  # noqa: E731 - q moves on a straight line in (m, log v)
            (1 - t.get_value()) * m0 + t.get_value() * m_star,
            float(np.exp((1 - t.get_value()) * np.log(v0) + t.get_value() * np.log(v_star))),
        )
        z_lo = min(m0 - 3 * np.sqrt(v0), m_star - 3 * np.sqrt(v_star))
        z_hi = max(m0 + 3 * np.sqrt(v0), m_star + 3 * np.sqrt(v_star))
        peak = float(_gauss(np.array([m_star]), m_star, v_star)[0])
        ax = Axes(x_range=[z_lo, z_hi, 1], y_range=[0, 1.15 * peak, peak / 2], x_length=6.4, y_length=3.6,
                  tips=False, axis_config={"color": FOREGROUND, "include_ticks": False},
                  x_axis_config={"include_numbers": True, "font_size": 20})
        ax.to_corner(DOWN + LEFT, buff=0.5)
        zlab = MathTex("z", font_size=30, color=FOREGROUND).next_to(ax.x_axis, RIGHT, buff=0.1)
        post = ax.plot(lambda zz: _gauss(zz, m_star, v_star), x_range=[z_lo, z_hi], color=FOREGROUND,
                       stroke_width=3).set_stroke(opacity=0.9)
        post_lab = Text("p(z | x), exact", font_size=SMALL_SIZE, color=FOREGROUND)
        post_lab.next_to(ax.c2p(m_star, peak), RIGHT, buff=0.15)
        zs = np.linspace(z_lo, z_hi, 160)
        q_curve = always_redraw(lambda: polyline(ax, zs, _gauss(zs, *q_of()), TERM_COLORS["elbo"], 4))
        q_lab = Text("q(z) = N(m, v)", font_size=SMALL_SIZE, color=TERM_COLORS["elbo"])
        q_lab.next_to(ax, UP, buff=0.05).align_to(ax, LEFT)
        self.play(Create(ax), FadeIn(zlab), Create(post), FadeIn(post_lab), run_time=1.2)
        self.play(Create(q_curve), FadeIn(q_lab), run_time=0.8)

        # Step: the evidence bar split into ELBO + KL(q || posterior)
        elbo_of = lambda: float(lg.elbo(*q_of(), x, w, b, s))  # noqa: E731
        kl_of = lambda: float(lg.kl_to_posterior(*q_of(), x, w, b, s))  # noqa: E731
        e0 = elbo_of()
        span = log_px - e0
        axis = nats_axis(e0 - 0.6 * span, log_px + 0.25 * span, length=4.4)
        axis.move_to(np.array([0.9, -1.1, 0.0]))
        unit_lab = Text("nats", font_size=SMALL_SIZE, color=FOREGROUND).next_to(axis, UP, buff=0.1)
        lo = axis.x_range[0]
        bar_elbo = always_redraw(lambda: self._bar(axis, lo, elbo_of(), "elbo"))
        bar_gap = always_redraw(lambda: self._bar(axis, elbo_of(), log_px, "gap"))
        px_line = Line(axis.n2p(log_px) + RIGHT * 0.3, axis.n2p(log_px) + RIGHT * 1.6,
                       color=TERM_COLORS["log_px"], stroke_width=5)
        readout = VGroup(
            self._readout("log p(x) =", log_px, "log_px"),
            self._readout("ELBO =", e0, "elbo"),
            self._readout("KL(q || p(z|x)) =", kl_of(), "gap"),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.2)
        readout.move_to(np.array([2.9, -0.6, 0.0]), aligned_edge=LEFT)
        readout[1][1].add_updater(lambda d: d.set_value(elbo_of()))
        readout[2][1].add_updater(lambda d: d.set_value(kl_of()))
        src = note("closed forms of derivations.linear_gaussian", font_size=SMALL_SIZE * 0.85)
        src.next_to(readout, DOWN, buff=0.3, aligned_edge=LEFT)
        self.play(Create(axis), FadeIn(unit_lab), FadeIn(bar_elbo), FadeIn(bar_gap), Create(px_line),
                  FadeIn(readout), FadeIn(src), run_time=1.5)
        self.wait(0.5)

        # Step: move q onto the posterior; the gap (the KL) closes, the ELBO rises to log p(x)
        self.play(t.animate.set_value(1.0), run_time=5.0)
        for d in readout[1][1], readout[2][1]:
            d.clear_updaters()
        done = VGroup(Text("q = p(z | x):", font_size=SMALL_SIZE + 4, color=TERM_COLORS["elbo"]),
                      Text("KL = 0,  ELBO = log p(x)", font_size=SMALL_SIZE + 4, color=TERM_COLORS["elbo"]),
                      ).arrange(DOWN, aligned_edge=LEFT, buff=0.08)
        done.next_to(src, DOWN, buff=0.35, aligned_edge=LEFT)
        self.play(FadeIn(done), run_time=0.8)
        self.wait(2.0)

    @staticmethod
    def _bar(axis, y0: float, y1: float, key: str) -> Rectangle:
        p0, p1 = axis.n2p(y0), axis.n2p(y1)
        h = max(abs(p1[1] - p0[1]), 1e-3)
        r = Rectangle(width=0.9, height=h, fill_color=TERM_COLORS[key], fill_opacity=0.9, stroke_width=0)
        return r.move_to(np.array([p0[0] + 0.95, (p0[1] + p1[1]) / 2, 0.0]))

    @staticmethod
    def _readout(name: str, value: float, key: str) -> VGroup:
        lab = Text(name, font_size=SMALL_SIZE + 4, color=TERM_COLORS[key])
        num = FastNumber(value, digits=3, font_size=SMALL_SIZE + 4, color=TERM_COLORS[key])
        return VGroup(lab, num.next_to(lab, RIGHT, buff=0.15))


class ElboDecomposition(Scene):
    """ELBO = reconstruction - KL(q || p(z)); the Gaussian KL closed form evaluated term by term (nats)."""

    def construct(self):
        # Step: the proved decomposition
        head = title("ELBO = reconstruction \u2212 KL to the prior")
        eq = statement(*ELBO_DECOMPOSITION, max_width=12.5, font_size=38)
        eq.next_to(head, DOWN, buff=0.3)
        self.play(FadeIn(head), Write(eq), run_time=1.5)

        # Step: the Gaussian KL closed form, proved in derivations
        kl_id = identity(*GAUSSIAN_KL)
        kl_eq = statement(*GAUSSIAN_KL, max_width=12.5, font_size=34)
        kl_eq.next_to(eq, DOWN, buff=0.35)
        self.play(Write(kl_eq), run_time=1.2)

        # Step: its terms evaluated at one real encoding (mu, sigma^2) of the trained 2-D VAE
        mu, var, where = self._encoding()
        rows = VGroup()
        values = self._display_values(kl_id, mu, var) if kl_id is not None else None
        if values is not None:
            expr = rhs(kl_id.statement)
            total = 0.0
            for term in sympy.Add.make_args(sympy.expand(expr)):
                val = float(term.subs(values))
                total += val
                rows.add(self._term_row(term, val))
            rows.add(self._term_row(None, total))
            rows.arrange(DOWN, aligned_edge=LEFT, buff=0.12)
        else:
            rows.add(note("[derivations: Gaussian-KL identity 'gaussian_kl' not registered yet]"))
        cap = note(f"at {where}", font_size=SMALL_SIZE * 0.85)
        block = VGroup(rows, cap).arrange(DOWN, aligned_edge=LEFT, buff=0.2)
        if block.width > 6.2:
            block.scale_to_fit_width(6.2)
        block.to_corner(DOWN + LEFT, buff=0.5)
        self.play(FadeIn(block, lag_ratio=0.15), run_time=2.0)

        # Step: the trained model's reconstruction and KL stack to its ELBO (results file)
        dims = data.available_dims()
        d = 2 if 2 in dims else (dims[0] if dims else None)
        res = data.load_results(d) if d is not None else None
        if res is None:
            msg = note("no training results yet (training/results/vae_d2.json)").to_corner(DOWN + RIGHT, buff=0.6)
            self.play(FadeIn(msg))
            self.wait(2)
            return
        rec, rec_se = data.term(res, "reconstruction")
        kl, kl_se = data.term(res, "avg_kl")
        elbo, elbo_se = data.term(res, "elbo")
        width = 5.0
        unit = width / abs(rec - kl)
        origin = np.array([6.6, -2.4, 0.0])  # zero nats at the right; negative nats run left
        zero = DashedLine(origin + UP * 0.5, origin + DOWN * 1.4, color=FOREGROUND, stroke_width=2)
        zero_lab = Text("0 nats", font_size=SMALL_SIZE, color=FOREGROUND).next_to(zero, UP, buff=0.05)
        rec_bar = Rectangle(width=abs(rec) * unit, height=0.45, fill_color=TERM_COLORS["reconstruction"],
                            fill_opacity=0.9, stroke_width=0).move_to(origin, aligned_edge=RIGHT)
        kl_bar = Rectangle(width=max(kl * unit, 0.02), height=0.45, fill_color=TERM_COLORS["avg_kl"],
                           fill_opacity=0.9, stroke_width=0).next_to(rec_bar, LEFT, buff=0)
        elbo_bar = Rectangle(width=abs(elbo) * unit, height=0.45, fill_color=TERM_COLORS["elbo"], fill_opacity=0.9,
                             stroke_width=0).move_to(origin + DOWN * 0.75, aligned_edge=RIGHT)
        src = f"vae_d{d}.json"
        labels = VGroup(
            number_label("reconstruction", rec, rec_se, "reconstruction", font_size=SMALL_SIZE + 2),
            number_label("\u2212 KL to prior", -kl, kl_se, "avg_kl", font_size=SMALL_SIZE + 2),
            number_label("ELBO", elbo, elbo_se, "elbo", source=src, font_size=SMALL_SIZE + 2),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.1)
        labels.next_to(VGroup(rec_bar, elbo_bar), UP, buff=0.25).align_to(rec_bar, RIGHT)
        self.play(Create(zero), FadeIn(zero_lab), GrowFromEdge(rec_bar, RIGHT), run_time=1.2)
        self.play(GrowFromEdge(kl_bar, RIGHT), run_time=1.0)
        self.play(GrowFromEdge(elbo_bar, RIGHT), FadeIn(labels), run_time=1.2)
        self.wait(2.5)

    # -- helpers ------------------------------------------------------------------------------------------
    @staticmethod
    def _encoding():
        """(mu, sigma^2) arrays of the first stored encoding of the 2-D model, else the toy model's q."""
        enc = data.load_npz(2, "encodings")
        if enc is not None:
            mu = enc["mu"][0].astype(float)
            var = np.exp(enc["logvar"][0].astype(float))
            return mu, var, "the first encoding of vae_d2.encodings.npz, \u03a3 = diag(exp(logvar))"
        P = _linear_gaussian().DEFAULT
        return (np.array([P["m"]]), np.array([P["v"]]),
                "q = N(m, v) of derivations.linear_gaussian.DEFAULT (no trained encodings yet)")

    @staticmethod
    def _display_values(kl_id, mu: np.ndarray, var: np.ndarray) -> dict | None:
        """Values of the statement's display symbols (``derivations.gaussian_kl``: D, log det Sigma, mu^T mu,
        tr Sigma) for the diagonal Gaussian N(mu, diag(var)); ``None`` if the statement uses other symbols."""
        from derivations import gaussian_kl as gk

        known = {
            gk.DIM: float(len(mu)),
            gk.LOGDET: float(np.sum(np.log(var))),
            gk.MUMU: float(mu @ mu),
            gk.TR: float(np.sum(var)),
        }
        free = rhs(kl_id.statement).free_symbols
        if not free <= set(known):
            return None
        return {sym: known[sym] for sym in free}

    @staticmethod
    def _term_row(term, value: float) -> VGroup:
        if term is None:
            tex = MathTex(r"\mathrm{KL}", font_size=30, color=TERM_COLORS["avg_kl"])
            num = Text(f"= {fmt_nats(value)}", font_size=LABEL_SIZE, color=TERM_COLORS["avg_kl"])
        else:
            tex = MathTex(sympy.latex(term), font_size=30, color=FOREGROUND)
            num = Text(f"= {fmt_nats(value, unit='')}", font_size=LABEL_SIZE, color=FOREGROUND)
        return VGroup(tex, num.next_to(tex, RIGHT, buff=0.25))

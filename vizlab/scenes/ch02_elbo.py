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
from manim import DOWN, LEFT, RIGHT, UP, Create, DashedLine, FadeIn, GrowFromEdge, Line, MathTex, NumberLine, Rectangle
from manim import Text, ValueTracker, VGroup, Write, always_redraw
from scipy.stats import norm

from vizlab import data
from vizlab.fast_number import FastNumber
from vizlab.formulas import rhs, statement
from vizlab.lecture import LectureScene, proof_notes
from vizlab.palette import FOREGROUND, TERM_COLORS
from vizlab.plots import OffsetAxes, bar_between, decimals, label_axes, nats_axis, nice_step, polyline
from vizlab.style import LABEL_SIZE, MATH_SMALL_SIZE, SMALL_SIZE, TICK_SIZE, fmt_nats, note, number_label, title

ELBO_GAP = "elbo_gap"
ELBO_DECOMPOSITION = "elbo_decompositions"
GAUSSIAN_KL = "gaussian_kl"


class ElboGap(LectureScene):
    """log p(x) = ELBO + KL(q || p(z|x)) in nats, as q = N(m, v) moves onto the exact posterior."""

    def construct(self):
        from derivations.models import linear_gaussian

        P = dict(linear_gaussian.DEFAULT)
        x, w, b, s = P["x"], P["w"], P["b"], P["s"]
        m0, v0 = P["m"], P["v"]
        m_star, v_star = (float(a) for a in linear_gaussian.posterior(x, w, b, s))
        log_px = float(linear_gaussian.log_evidence(x, w, b, s))

        # Step: the proved statement, terms in their colors
        self.step(proof_notes(ELBO_GAP))
        head = title("Evidence = ELBO + KL to the posterior")
        eq = statement(ELBO_GAP, max_width=12.5, font_size=40)
        eq.next_to(head, DOWN, buff=0.3)
        model = Text(f"z ~ N(0, 1),  x | z ~ N(wz + b, s\u00b2),  q = N(m, v);   "
                     f"x = {x:g}, w = {w:g}, b = {b:g}, s = {s:g}", font_size=SMALL_SIZE, color=FOREGROUND)
        model.next_to(eq, DOWN, buff=0.25)
        self.play(FadeIn(head), Write(eq), run_time=1.5)
        self.play(FadeIn(model), run_time=0.6)

        # Step: q and the exact posterior over z
        self.step("The exact posterior of the linear-Gaussian model, and a Gaussian q = N(m, v) away from it.")
        t = ValueTracker(0.0)
        q_of = lambda: (  # noqa: E731 - q moves on a straight line in (m, log v)
            (1 - t.get_value()) * m0 + t.get_value() * m_star,
            float(np.exp((1 - t.get_value()) * np.log(v0) + t.get_value() * np.log(v_star))),
        )
        oax = OffsetAxes([-2, 3, 1], (0, 1.2, 0.4), x_length=5.0, y_length=2.8)
        ax = oax.axes
        ax.to_corner(DOWN + LEFT, buff=1.0).shift(RIGHT * 0.2)
        ax_labels = label_axes(ax, "z (latent)", "density")
        zs = np.linspace(-2, 3, 200)
        post = polyline(oax, zs, np.minimum(norm.pdf(zs, m_star, np.sqrt(v_star)), 1.2), FOREGROUND, 3)
        q_curve = always_redraw(lambda: polyline(oax, zs, norm.pdf(zs, q_of()[0], np.sqrt(q_of()[1])),
                                                 TERM_COLORS["elbo"], 4))
        legend = VGroup(
            VGroup(Line(LEFT * 0.2, RIGHT * 0.2, color=FOREGROUND, stroke_width=3),
                   Text("p(z | x), exact", font_size=SMALL_SIZE, color=FOREGROUND)).arrange(RIGHT, buff=0.12),
            VGroup(Line(LEFT * 0.2, RIGHT * 0.2, color=TERM_COLORS["elbo"], stroke_width=4),
                   Text("q(z) = N(m, v)", font_size=SMALL_SIZE, color=TERM_COLORS["elbo"])).arrange(RIGHT, buff=0.12),
        ).arrange(RIGHT, buff=0.4)
        legend.next_to(ax, UP, buff=0.55).align_to(ax, LEFT)
        self.play(Create(ax), FadeIn(ax_labels), Create(post), FadeIn(legend[0]), run_time=1.2)
        self.play(Create(q_curve), FadeIn(legend[1]), run_time=0.8)

        # Step: log p(x) as a stacked bar from 0 nats: the ELBO plus the gap KL(q || posterior)
        self.step("From 0 nats: the ELBO (green, down to its value) plus KL(q || p(z|x)) (vermillion, from the "
                  "ELBO up) ends at log p(x) (blue line). "
                  "Every number from the closed forms of derivations.models.linear_gaussian.")
        elbo_of = lambda: float(linear_gaussian.elbo(*q_of(), x, w, b, s))  # noqa: E731
        kl_of = lambda: float(linear_gaussian.kl_to_posterior(*q_of(), x, w, b, s))  # noqa: E731
        e0 = elbo_of()
        axis = nats_axis(min(e0, log_px) * 1.1, 0.0, length=4.2, n_ticks=3)
        axis.move_to(np.array([1.1, -1.3, 0.0]))
        unit_lab = label_axes(axis, "value (nats)")
        # the ELBO from 0 down to its value; beside it the KL, from the ELBO up to log p(x): ELBO + KL = log p(x)
        bar_elbo = always_redraw(lambda: bar_between(axis, 0.0, elbo_of(), "elbo", width=0.45, x_shift=0.5))
        bar_gap = always_redraw(lambda: bar_between(axis, elbo_of(), log_px, "gap", width=0.45, x_shift=1.0))
        px_line = Line(axis.n2p(log_px) + RIGHT * 0.2, axis.n2p(log_px) + RIGHT * 1.35,
                       color=TERM_COLORS["log_px"], stroke_width=5)
        readout = VGroup(
            self._readout("log p(x) =", log_px, "log_px"),
            self._readout("ELBO =", e0, "elbo"),
            self._readout("KL(q || p(z|x)) =", kl_of(), "gap"),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.22)
        readout.move_to(np.array([2.75, -0.7, 0.0]), aligned_edge=LEFT)
        readout[1][1].add_updater(lambda d: d.set_value(elbo_of()))
        readout[2][1].add_updater(lambda d: d.set_value(kl_of()))
        src = note("every number: closed forms of derivations.models.linear_gaussian")
        src.next_to(model, DOWN, buff=0.12)
        self.play(Create(axis), FadeIn(unit_lab), FadeIn(bar_elbo), FadeIn(bar_gap), Create(px_line),
                  FadeIn(readout), FadeIn(src), run_time=1.5)
        self.wait(0.5)

        # Step: move q onto the posterior; the gap (the KL) closes, the ELBO rises to log p(x)
        self.step("Move q onto the posterior: the KL closes, the ELBO rises to log p(x), which does not move.")
        self.play(t.animate.set_value(1.0), run_time=5.0)
        for d in readout[1][1], readout[2][1]:
            d.clear_updaters()
        done = VGroup(Text("q = p(z | x):", font_size=LABEL_SIZE, color=TERM_COLORS["elbo"]),
                      Text("KL = 0,  ELBO = log p(x)", font_size=LABEL_SIZE, color=TERM_COLORS["elbo"]),
                      ).arrange(DOWN, aligned_edge=LEFT, buff=0.1)
        done.next_to(readout, DOWN, buff=0.4, aligned_edge=LEFT)
        self.play(FadeIn(done), run_time=0.8)
        self.wait(2.0)

    @staticmethod
    def _readout(name: str, value: float, key: str) -> VGroup:
        lab = Text(name, font_size=LABEL_SIZE, color=TERM_COLORS[key])
        num = FastNumber(value, digits=3, font_size=LABEL_SIZE, color=TERM_COLORS[key])
        return VGroup(lab, num.next_to(lab, RIGHT, buff=0.15))


class ElboDecomposition(LectureScene):
    """ELBO = reconstruction - KL(q || p(z)); the Gaussian KL closed form evaluated term by term (nats)."""

    def construct(self):
        from derivations import get_identity

        # Step: the proved decomposition
        self.step(proof_notes(ELBO_DECOMPOSITION))
        head = title("ELBO = reconstruction \u2212 KL to the prior")
        eq = statement(ELBO_DECOMPOSITION, max_width=12.5, font_size=38)
        eq.next_to(head, DOWN, buff=0.3)
        self.play(FadeIn(head), Write(eq), run_time=1.5)

        # Step: the Gaussian KL closed form, proved in derivations
        self.step(proof_notes(GAUSSIAN_KL))
        kl_id = get_identity(GAUSSIAN_KL)
        kl_eq = statement(GAUSSIAN_KL, max_width=12.5, font_size=34)
        kl_eq.next_to(eq, DOWN, buff=0.35)
        self.play(Write(kl_eq), run_time=1.2)

        # Step: its terms evaluated at one real encoding (mu, sigma^2) of the trained 2-D VAE
        self.step("The closed form's terms at one real encoding of the trained 2-D VAE (nats).")
        mu, var, where = self._encoding()
        values = self._display_values(kl_id, mu, var)
        rows = VGroup()
        total = 0.0
        for term in sympy.Add.make_args(sympy.expand(rhs(kl_id.statement))):
            val = float(term.subs(values))
            total += val
            rows.add(self._term_row(term, val))
        rows.add(self._term_row(None, total))
        rows.arrange(DOWN, aligned_edge=LEFT, buff=0.14)
        cap = note(where)
        block = VGroup(rows, cap).arrange(DOWN, aligned_edge=LEFT, buff=0.2)
        block.to_corner(DOWN + LEFT, buff=0.5)
        self.play(FadeIn(block, lag_ratio=0.15), run_time=2.0)

        # Step: the trained model's reconstruction and KL stack to its ELBO (results file)
        self.step("The trained 2-D VAE's terms from its results file: reconstruction minus KL is the ELBO.")
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
        width = 4.6
        unit = width / abs(rec - kl)
        origin = np.array([6.5, -1.6, 0.0])  # zero nats at the right; negative nats run left
        zero = DashedLine(origin + UP * 0.4, origin + DOWN * 1.2, color=FOREGROUND, stroke_width=2)
        zero_lab = Text("0 nats", font_size=SMALL_SIZE, color=FOREGROUND).next_to(zero, UP, buff=0.08)
        zero_lab.align_to(zero, RIGHT)
        rec_bar = Rectangle(width=abs(rec) * unit, height=0.4, fill_color=TERM_COLORS["reconstruction"],
                            fill_opacity=0.9, stroke_width=0).move_to(origin, aligned_edge=RIGHT)
        kl_bar = Rectangle(width=max(kl * unit, 0.02), height=0.4, fill_color=TERM_COLORS["avg_kl"],
                           fill_opacity=0.9, stroke_width=0).next_to(rec_bar, LEFT, buff=0)
        elbo_bar = Rectangle(width=abs(elbo) * unit, height=0.4, fill_color=TERM_COLORS["elbo"], fill_opacity=0.9,
                             stroke_width=0).move_to(origin + DOWN * 0.7, aligned_edge=RIGHT)
        labels = VGroup(
            number_label("reconstruction", rec, rec_se, "reconstruction", font_size=SMALL_SIZE + 2),
            number_label("\u2212 KL to prior", -kl, kl_se, "avg_kl", font_size=SMALL_SIZE + 2),
            number_label("ELBO", elbo, elbo_se, "elbo", source=f"vae_d{d}.json", font_size=SMALL_SIZE + 2),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.1)
        labels.next_to(zero_lab, UP, buff=0.25).align_to(rec_bar, RIGHT)
        step = nice_step(abs(rec - kl), 3)
        scale = NumberLine(x_range=[-np.ceil(abs(rec - kl) / step) * step, 0, step], length=np.ceil(abs(rec - kl) / step) * step * unit,
                           include_numbers=True, font_size=TICK_SIZE, color=FOREGROUND,
                           decimal_number_config={"num_decimal_places": decimals(step)})
        scale.shift(origin + DOWN * 1.2 - scale.n2p(0))
        scale_lab = label_axes(scale, "value (nats)")
        scale_lab.next_to(scale, DOWN, buff=0.12).align_to(scale, RIGHT)
        self.play(Create(zero), FadeIn(zero_lab), Create(scale), FadeIn(scale_lab), GrowFromEdge(rec_bar, RIGHT),
                  run_time=1.2)
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
            return mu, var, "at the first encoding of vae_d2.encodings.npz,\n\u03a3 = diag(exp(logvar))"
        from derivations.models import linear_gaussian

        return (np.array([linear_gaussian.DEFAULT["m"]]), np.array([linear_gaussian.DEFAULT["v"]]),
                "at q = N(m, v) of linear_gaussian.DEFAULT (no trained encodings yet)")

    @staticmethod
    def _display_values(kl_id, mu: np.ndarray, var: np.ndarray) -> dict:
        """Values of the statement's display symbols (``derivations.gaussian_kl``: D, log det Sigma, mu^T mu,
        tr Sigma) for the diagonal Gaussian N(mu, diag(var)).  Raises ``KeyError`` naming any other symbol."""
        from derivations import gaussian_kl as gk

        known = {gk.DIM: float(len(mu)), gk.LOGDET: float(np.sum(np.log(var))), gk.MUMU: float(mu @ mu),
                 gk.TR: float(np.sum(var))}
        unknown = rhs(kl_id.statement).free_symbols - set(known)
        if unknown:
            raise KeyError(f"gaussian_kl's statement uses symbols the scene cannot evaluate: {sorted(map(str, unknown))}")
        return known

    @staticmethod
    def _term_row(term, value: float) -> VGroup:
        if term is None:
            tex = MathTex(r"\mathrm{KL}", font_size=MATH_SMALL_SIZE + 4, color=TERM_COLORS["avg_kl"])
            num = Text(f"= {fmt_nats(value)}", font_size=LABEL_SIZE, color=TERM_COLORS["avg_kl"])
        else:
            tex = MathTex(sympy.latex(term), font_size=MATH_SMALL_SIZE + 4, color=FOREGROUND)
            num = Text(f"= {fmt_nats(value, unit='')}", font_size=LABEL_SIZE, color=FOREGROUND)
        return VGroup(tex, num.next_to(tex, RIGHT, buff=0.25))

"""Static matplotlib figures of the posterior-collapse chapter, from the β sweep's results (:mod:`training.beta_sweep`).

Each function takes the points of :func:`training.beta_sweep.sweep_points` (or the pair of
:func:`training.beta_sweep.warmup_pair`) and returns a ``matplotlib.figure.Figure``; nothing is typed in, every
value comes from the results files. Colors are the terms' colors of :mod:`vizlab.palette`; every axis names its
quantity and unit. Matplotlib only (no Manim).

- :func:`rate_distortion_figure`  -- distortion against rate, one point per β, with the ELBO's iso-lines
  (Alemi et al. 2018);
- :func:`active_units_figure`     -- active units against β, and each unit's average KL, sorted;
- :func:`surgery_figure`          -- average KL = index-code MI + marginal KL against β, with log N;
- :func:`warmup_figure`           -- the KL weight, the average KL and the ELBO per epoch, warm-up beside plain.
"""

from __future__ import annotations

import numpy as np

from vizlab.palette import TERM_COLORS, mpl_style

__all__ = ["beta_label", "rate_distortion_figure", "active_units_figure", "surgery_figure", "warmup_figure"]


def beta_label(beta: float) -> str:
    """``0.25`` -> ``"β = 0.25"``, ``1.0`` -> ``"β = 1"`` (no trailing zeros)."""
    return f"β = {beta:g}"


def _beta_colors(points: list[dict]):
    import matplotlib.pyplot as plt

    betas = np.log2([p["beta"] for p in points])
    lo, hi = betas.min(), betas.max()
    cmap = plt.get_cmap("viridis")
    return [cmap(0.05 + 0.85 * ((b - lo) / (hi - lo) if hi > lo else 0.5)) for b in betas]


def _log2_beta_axis(ax, betas) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(betas)
    ax.set_xticklabels([f"{b:g}" for b in betas])
    ax.minorticks_off()
    ax.set_xlabel("β, weight on the KL term in training (log scale)")


def rate_distortion_figure(points: list[dict], levels: list[float]):
    """Distortion (−reconstruction) against rate (average KL), one point per β, and the lines −ELBO = D + R = L.

    ``points``: :func:`training.beta_sweep.sweep_points`; ``levels``: the values L of the iso-lines
    (:func:`training.beta_sweep.iso_elbo_levels`). Nats per image, training set.
    """
    import matplotlib.pyplot as plt

    with plt.rc_context(mpl_style()):
        fig, ax = plt.subplots(figsize=(7, 4.6))
        r = np.array([p["rate"]["value"] for p in points])
        d = np.array([p["distortion"]["value"] for p in points])
        pad_r, pad_d = 0.08 * max(np.ptp(r), 1.0), 0.08 * max(np.ptp(d), 1.0)
        rx = np.array([max(0.0, r.min() - pad_r), r.max() + 2.5 * pad_r])
        dy = np.array([d.min() - pad_d, d.max() + pad_d])
        for i, level in enumerate(levels):
            ax.plot(rx, level - rx, color=TERM_COLORS["elbo"], lw=1, ls="--", alpha=0.7,
                    label="−ELBO = D + R (iso-lines)" if i == 0 else None)
            # label each line near the lower end of its visible part
            x0, x1 = max(rx[0], level - dy[1]), min(rx[1], level - dy[0])
            if x0 < x1:
                x_at = x0 + 0.85 * (x1 - x0)
                ax.text(x_at, level - x_at, f"{level:g}", fontsize=8, color=TERM_COLORS["elbo"], ha="center",
                        va="center", bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
        ax.plot(r, d, color="#888888", lw=1, zorder=1)
        for p, c in zip(points, _beta_colors(points)):
            ax.errorbar(p["rate"]["value"], p["distortion"]["value"], yerr=p["distortion"]["se"], fmt="o", ms=7,
                        color=c, zorder=3, mec="#222222" if p["beta"] == 1 else c)
            ax.annotate(beta_label(p["beta"]), (p["rate"]["value"], p["distortion"]["value"]),
                        textcoords="offset points", xytext=(6, 4), fontsize=9)
        ax.set_xlim(rx)
        ax.set_ylim(*dy)
        ax.set_xlabel("rate R = average KL(q(z|x) || p(z)), nats")
        ax.set_ylabel("distortion D = −reconstruction, nats")
        ax.set_title("Rate against distortion across β (D = 10)")
        ax.legend(loc="upper right", fontsize=9)
        fig.tight_layout()
    return fig


def active_units_figure(points: list[dict]):
    """Left: active units (of D) against β. Right: each unit's average KL, sorted from largest, one line per β.

    Nats per image; the threshold and the images are those of :func:`training.beta_sweep.point`.
    """
    import matplotlib.pyplot as plt

    with plt.rc_context(mpl_style()):
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.8), gridspec_kw={"width_ratios": [1, 1.4]})
        betas = [p["beta"] for p in points]
        colors = _beta_colors(points)
        a1.bar(betas, [p["active_units"] for p in points], width=np.array(betas) * 0.45, color=colors)
        for b, p in zip(betas, points):
            a1.annotate(str(p["active_units"]), (b, p["active_units"]), textcoords="offset points", xytext=(0, 2),
                        ha="center", fontsize=9)
        _log2_beta_axis(a1, betas)
        a1.set_xlabel("β (log scale)")
        a1.set_ylabel(f"active units (of {points[0]['units']})")
        a1.set_ylim(0, points[0]["units"] + 1)
        a1.set_title("Active units")
        for p, c in zip(points, colors):
            kl = np.sort(p["unit_kl"])[::-1]
            a2.plot(np.arange(1, len(kl) + 1), kl, marker="o", ms=4, color=c, label=beta_label(p["beta"]))
        a2.set_yscale("log")
        a2.set_xticks(np.arange(1, points[0]["units"] + 1))
        a2.set_xlabel("latent unit, sorted by its KL")
        a2.set_ylabel("average KL of the unit, nats (log)")
        a2.set_title("KL per unit")
        a2.legend(fontsize=8, ncol=2, loc="upper right")
        fig.tight_layout()
    return fig


def surgery_figure(points: list[dict]):
    """Average KL, index-code MI and marginal KL against β (nats, ± one standard error), and log N."""
    import matplotlib.pyplot as plt

    with plt.rc_context(mpl_style()):
        fig, ax = plt.subplots(figsize=(7, 4.2))
        betas = [p["beta"] for p in points]
        names = {"avg_kl": "average KL (rate)", "index_code_mi": "index-code MI", "marginal_kl": "marginal KL"}
        for key, label in names.items():
            src = "rate" if key == "avg_kl" else key
            v = [p[src]["value"] for p in points]
            e = [p[src]["se"] for p in points]
            ax.errorbar(betas, v, yerr=e, marker="o", ms=5, capsize=3, color=TERM_COLORS[key], label=label,
                        mec="#222222" if key == "marginal_kl" else TERM_COLORS[key])
        ax.axhline(points[0]["log_n"], color="#555555", lw=1, ls=":", label="log N (the MI's ceiling)")
        _log2_beta_axis(ax, betas)
        ax.set_ylabel("nats per image")
        ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]))
        ax.set_title("ELBO surgery across β: average KL = index-code MI + marginal KL")
        ax.legend(fontsize=9)
        fig.tight_layout()
    return fig


def warmup_figure(pair: dict):
    """KL weight, average KL and training ELBO per epoch for the warm-up run beside the plain run (nats/image).

    The warm-up run's training objective (the metrics' ``objective``, :mod:`training.objective`) is drawn dotted
    beside its ELBO when its rows hold it.
    """
    import matplotlib.pyplot as plt

    runs = [("plain", "plain", "#444444", "-"),
            ("warmup", f"KL warm-up over {pair['warmup']['kl_warmup']} epochs", TERM_COLORS["avg_kl"], "-")]
    with plt.rc_context(mpl_style()):
        fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
        for key, label, color, ls in runs:
            rows = pair[f"{key}_metrics"]
            ep = [m["epoch"] for m in rows]
            # rows written before the objective existed had the plain ELBO's weight 1
            axes[0].plot(ep, [m.get("kl_weight", 1.0) for m in rows], color=color, ls=ls, marker="o", ms=3,
                         label=label)
            axes[1].plot(ep, [m["avg_kl"] for m in rows], color=color, ls=ls, marker="o", ms=3, label=label)
            axes[2].plot(ep, [m["elbo"] for m in rows], color=color, ls=ls, marker="o", ms=3, label=label)
            if key == "warmup" and all("objective" in m for m in rows):  # what the warm-up run maximised
                axes[2].plot(ep, [m["objective"] for m in rows], color=color, ls=":", lw=1.5,
                             label="its training objective")
            test = [(m["epoch"], m["test_elbo"]) for m in rows if m.get("test_elbo") is not None]
            if test:
                axes[2].plot(*zip(*test), ls="none", marker="s", ms=6, mfc="none", color=color)
        axes[0].set(title="KL weight w", ylabel="w", xlabel="epoch")
        axes[1].set(title="average KL (rate)", ylabel="nats per image", xlabel="epoch")
        axes[2].set(title="ELBO (□ test set)", ylabel="nats per image", xlabel="epoch")
        lo = min(min(m["elbo"] for m in pair[f"{k}_metrics"][1:] or pair[f"{k}_metrics"]) for k, *_ in runs)
        hi = max(max(max(m["elbo"], m.get("objective", m["elbo"])) for m in pair[f"{k}_metrics"]) for k, *_ in runs)
        axes[2].set_ylim(lo - 0.05 * (hi - lo), hi + 0.1 * (hi - lo))  # epoch 1 of either run off-scale: the tail
        axes[0].legend(fontsize=8, loc="lower right")
        if axes[2].get_legend_handles_labels()[0]:
            axes[2].legend(fontsize=8, loc="lower right")
        fig.tight_layout()
    return fig

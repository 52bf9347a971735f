r"""The book's static figures: one matplotlib figure per chapter, drawn from closed forms or results files.

Every function returns ``(fig, values)``: a matplotlib ``Figure`` in the book's palette (``vizlab.palette``) and
a dict of the numbers it plots, so a page can quote them (``myst_nb.glue``) and the tests can check them
against the closed forms.  Nothing here is typed in: the toy numbers come from ``derivations.models`` (the
models the identities are proved on), the trained-model numbers from ``training/results`` through
``training.result_files``.

Pages import these functions; they never define plotting code of their own (STYLE.md, "the book imports code
from the packages").  No work happens at import time; matplotlib is imported when a function is called.

Sources of the pictures: Prince, *Understanding Deep Learning* (MIT Press, 2023), figs. 17.4 (Jensen), 17.6
(the ELBO as a family of curves under the log-likelihood) and 17.9 (the VAE); Kingma & Welling (ICLR 2014),
fig. 4 (the learned 2-D manifold).
"""

from __future__ import annotations

import math

import numpy as np

from vizlab.palette import ESTIMATOR_COLORS, TERM_COLORS, mpl_style

__all__ = [
    "pm",
    "md_table",
    "table",
    "surgery_table1_rows",
    "surgery_identity_check",
    "training_curves_figure",
    "aggregated_posterior_figure",
    "jensen_figure",
    "evidence_mc_figure",
    "elbo_family_figure",
    "elbo_gap_figure",
    "elbo_terms_figure",
    "gaussian_kl_figure",
    "em_figure",
    "amortized_figure",
    "amortized_values",
    "estimators_figure",
    "reparameterization_figure",
    "flow_figure",
    "surgery_split_figure",
    "bug_reports_figure",
    "vae_diagram_figure",
    "graphical_model_figure",
    "tug_of_war_figure",
    "manifold_figure",
    "interpolation_figure",
    "latent_codes_figure",
    "samples_figure",
]

#: The toy linear-Gaussian model of the identities (``derivations.models.linear_gaussian.DEFAULT``), read lazily.
def _linear_gaussian():
    from derivations.models import linear_gaussian

    return linear_gaussian


def pm(estimate: dict, digits: int = 2, se_digits: int = 3, exact: str = " (exact)") -> str:
    """``"value ± se"`` of a results-file estimate ``{"value", "se"}`` (a non-breaking space after the ±, so a
    line may break before it); ``"value" + exact`` (default ``"value (exact)"``) when the estimate has no Monte
    Carlo error (``se == 0``, e.g. the closed-form average KL)."""
    if estimate["se"] == 0:
        return f"{estimate['value']:.{digits}f}{exact}"
    return f"{estimate['value']:.{digits}f} ±\u00a0{estimate['se']:.{se_digits}f}"


def md_table(rows: list[dict], caption: str, name: str) -> str:
    """A numbered, captioned MyST ``{table}`` (native in the HTML and the PDF) from a list of row dicts with the
    same keys; ``name`` is its label for ``{numref}``. Raises ``ValueError`` if ``rows`` is empty."""
    if not rows:
        raise ValueError(f"md_table {name}: no rows to show")
    keys = list(rows[0])
    esc = lambda v: str(v).replace("|", "\\|")  # noqa: E731 - a literal | would split the cell
    lines = ["| " + " | ".join(esc(k) for k in keys) + " |", "|" + ":---|" * len(keys)]  # left-aligned
    lines += ["| " + " | ".join(esc(r.get(k, "")) for k in keys) + " |" for r in rows]
    return f"```{{table}} {caption}\n:name: {name}\n:class: elbo-table\n\n" + "\n".join(lines) + "\n```"


def table(rows, caption: str, name: str):
    """:func:`md_table` as an IPython ``Markdown`` object, for ``display`` or ``glue`` in a page. ``rows``: a list
    of row dicts or a pandas ``DataFrame`` (its records; the index is left out)."""
    from IPython.display import Markdown

    if hasattr(rows, "to_dict"):
        rows = rows.to_dict("records")
    return Markdown(md_table(rows, caption, name))


def _plt():
    # The backend is left alone: a notebook kernel's inline backend is what turns a glued figure into a PNG
    # (headless tests fall back to Agg by themselves).
    import matplotlib.pyplot as plt

    return plt


# ---------------------------------------------------------------------------------------------- chapter 2
def jensen_figure(y1: float = 0.5, y2: float = 4.0):
    r"""Jensen's inequality for the concave log: the chord between two points lies below the curve.

    For $y \in \{y_1, y_2\}$ with equal weights, the mean of the logs (the chord's midpoint) is below the log of
    the mean; the tangent at the mean lies above the curve (the Gibbs witness). ``y1, y2 > 0``.
    Returns ``(fig, values)`` with ``mean_of_logs``, ``log_of_mean`` and ``gap`` (nats).
    """
    if y1 <= 0 or y2 <= 0 or y1 == y2:
        raise ValueError("jensen_figure needs two different positive points y1, y2")
    plt = _plt()
    y = np.linspace(0.15, 5.0, 400)
    ym = 0.5 * (y1 + y2)
    mean_of_logs = 0.5 * (math.log(y1) + math.log(y2))
    log_of_mean = math.log(ym)
    with plt.rc_context(mpl_style()):
        fig, ax = plt.subplots(figsize=(6.0, 3.8))
        ax.plot(y, np.log(y), color=TERM_COLORS["log_px"], lw=2, label=r"$\log y$")
        ax.plot([y1, y2], [math.log(y1), math.log(y2)], color=TERM_COLORS["elbo"], lw=1.8,
                label="chord (average of the logs)")
        ax.plot(y, log_of_mean + (y - ym) / ym, color=TERM_COLORS["prior"], lw=1.2, ls="--",
                label="tangent at the mean")
        ax.plot([y1, y2], [math.log(y1), math.log(y2)], "o", color=TERM_COLORS["elbo"])
        ax.plot([ym], [mean_of_logs], "s", color=TERM_COLORS["elbo"], ms=7)
        ax.plot([ym], [log_of_mean], "D", color=TERM_COLORS["log_px"], ms=7)
        ax.annotate("", xy=(ym, log_of_mean), xytext=(ym, mean_of_logs),
                    arrowprops={"arrowstyle": "<->", "color": TERM_COLORS["gap"], "lw": 1.5})
        ax.text(ym + 0.08, 0.5 * (mean_of_logs + log_of_mean), "gap", color=TERM_COLORS["gap"], va="center")
        ax.set(xlabel="$y$", ylabel="nats", ylim=(-2.0, 2.2))
        ax.legend(loc="lower right", fontsize=9)
        fig.tight_layout()
    return fig, {"y1": y1, "y2": y2, "mean_of_logs": mean_of_logs, "log_of_mean": log_of_mean,
                 "gap": log_of_mean - mean_of_logs}


# ---------------------------------------------------------------------------------------------- chapter 1
def evidence_mc_figure(seed: int = 0, repeats: int = 200, ks=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)):
    r"""The naive Monte Carlo evidence estimate $\hat p(x) = \frac1K \sum_k p(x \mid z_k)$, $z_k \sim p(z)$.

    On the linear-Gaussian toy model (``derivations.models.linear_gaussian.DEFAULT``): for each $K$ in ``ks``,
    ``repeats`` seeded estimates; the figure shows the median and the 10-90 % band of $\log \hat p(x)$ against the
    exact $\log p(x)$ (nats). The log of an unbiased estimate is biased low for small $K$ (Jensen).
    Returns ``(fig, values)`` with ``ks``, ``median``, ``lo``, ``hi``, ``mean_log`` (arrays) and ``exact``.
    """
    linear_gaussian = _linear_gaussian()
    p = linear_gaussian.DEFAULT
    x, w, b, s = p["x"], p["w"], p["b"], p["s"]
    exact = float(linear_gaussian.log_evidence(x, w, b, s))
    rng = np.random.default_rng(seed)
    ks = np.asarray(ks, dtype=int)
    med, lo, hi, mean_log = [], [], [], []
    for k in ks:
        zs = rng.standard_normal((repeats, k))
        logs = linear_gaussian.log_normal_np(x, w * zs + b, s**2)  # log p(x | z_k)
        est = np.logaddexp.reduce(logs, axis=1) - math.log(k)  # log of the average, stably
        med.append(np.median(est))
        lo.append(np.quantile(est, 0.1))
        hi.append(np.quantile(est, 0.9))
        mean_log.append(est.mean())
    values = {"ks": ks, "median": np.array(med), "lo": np.array(lo), "hi": np.array(hi),
              "mean_log": np.array(mean_log), "exact": exact, "repeats": repeats, "seed": seed}
    plt = _plt()
    with plt.rc_context(mpl_style()):
        fig, ax = plt.subplots(figsize=(6.0, 3.6))
        ax.fill_between(ks, values["lo"], values["hi"], color=TERM_COLORS["elbo"], alpha=0.25,
                        label="10-90 % of the estimates")
        ax.plot(ks, values["median"], "o-", color=TERM_COLORS["elbo"], ms=4, label=r"median of $\log \hat p(x)$")
        ax.axhline(exact, color=TERM_COLORS["log_px"], lw=2, label=r"exact $\log p(x)$")
        ax.set_xscale("log", base=2)
        ax.set(xlabel="samples $K$ from the prior", ylabel="nats")
        ax.legend(loc="lower right", fontsize=9)
        fig.tight_layout()
    return fig, values


# ---------------------------------------------------------------------------------------------- chapter 3
def elbo_family_figure(x_obs: float = 2.0, thetas=(0.6, 2.2)):
    r"""The ELBO as a family of curves under the log-likelihood (after Prince 2023, fig. 17.6).

    Model: $z \sim \mathcal{N}(0,1)$, $x \mid z \sim \mathcal{N}(\theta z, 1)$, one observation ``x_obs``; the
    decoder parameter $\theta$ on the horizontal axis. For each $\theta_k$ in ``thetas``, $q_k$ is the exact posterior
    at $\theta_k$ and the curve is $\mathcal{L}(q_k, \theta)$: below $\log p_\theta(x)$ everywhere, touching it at
    $\theta_k$. Values from ``derivations.models.linear_gaussian`` (with $w = \theta$, $b = 0$, $s = 1$).
    Returns ``(fig, values)``: ``theta`` grid, ``log_px`` and ``elbos`` (one array per $\theta_k$), nats.
    """
    linear_gaussian = _linear_gaussian()
    theta = np.linspace(-0.5, 3.5, 401)
    log_px = linear_gaussian.log_evidence(x_obs, theta, 0.0, 1.0)
    elbos = []
    for tk in thetas:
        m, v = linear_gaussian.posterior(x_obs, tk, 0.0, 1.0)
        elbos.append(linear_gaussian.elbo(float(m), float(v), x_obs, theta, 0.0, 1.0))
    plt = _plt()
    colors = [TERM_COLORS["elbo"], TERM_COLORS["reconstruction"]]
    with plt.rc_context(mpl_style()):
        fig, ax = plt.subplots(figsize=(6.0, 3.8))
        ax.plot(theta, log_px, color=TERM_COLORS["log_px"], lw=2.4, label=r"$\log p_\theta(x)$")
        for k, (tk, el) in enumerate(zip(thetas, elbos)):
            c = colors[k % len(colors)]
            ax.plot(theta, el, color=c, lw=1.6,
                    label=rf"ELBO with $q$ = posterior at $\theta$ = {tk:g}")
            ax.plot([tk], [float(linear_gaussian.log_evidence(x_obs, tk, 0.0, 1.0))], "o", color=c)
        ax.set(xlabel=r"decoder parameter $\theta$", ylabel="nats",
               ylim=(float(np.min(log_px)) - 2.5, float(np.max(log_px)) + 0.6))
        ax.legend(loc="lower center", fontsize=9)
        fig.tight_layout()
    return fig, {"theta": theta, "log_px": np.asarray(log_px), "elbos": [np.asarray(e) for e in elbos],
                 "thetas": tuple(thetas), "x": x_obs}


def elbo_gap_figure():
    r"""The gap: as the mean $m$ of $q = \mathcal{N}(m, v_\star)$ moves, the ELBO rises to $\log p(x)$ and falls.

    Linear-Gaussian toy model (``DEFAULT``) with $q$'s variance fixed at the posterior's, so the ELBO touches
    the evidence exactly at the posterior mean $m_\star$; the shaded gap is $\mathrm{KL}(q \,\|\, p(z \mid x))$.
    Returns ``(fig, values)``: ``m`` grid, ``elbo``, ``gap`` (arrays, nats), ``log_px``, ``m_star``.
    """
    linear_gaussian = _linear_gaussian()
    p = linear_gaussian.DEFAULT
    args = (p["x"], p["w"], p["b"], p["s"])
    log_px = float(linear_gaussian.log_evidence(*args))
    m_star, v_star = (float(a) for a in linear_gaussian.posterior(*args))
    m = np.linspace(m_star - 1.5, m_star + 1.5, 301)
    elbo = linear_gaussian.elbo(m, v_star, *args)
    gap = linear_gaussian.kl_to_posterior(m, v_star, *args)
    plt = _plt()
    with plt.rc_context(mpl_style()):
        fig, ax = plt.subplots(figsize=(6.0, 3.6))
        ax.axhline(log_px, color=TERM_COLORS["log_px"], lw=2.2, label=r"$\log p(x)$")
        ax.plot(m, elbo, color=TERM_COLORS["elbo"], lw=2, label=r"ELBO $\mathcal{L}(q)$")
        ax.fill_between(m, elbo, log_px, color=TERM_COLORS["gap"], alpha=0.25,
                        label=r"gap = KL($q$ $\Vert$ posterior)")
        ax.axvline(m_star, color=TERM_COLORS["prior"], lw=1, ls=":")
        ax.text(m_star, log_px - 0.2 * (log_px - float(elbo.min())), r" $m_\star$", color="#444444")
        ax.set(xlabel=r"mean $m$ of $q(z) = \mathcal{N}(m, v_\star)$", ylabel="nats")
        ax.legend(loc="lower center", fontsize=9)
        fig.tight_layout()
    return fig, {"m": m, "elbo": np.asarray(elbo), "gap": np.asarray(gap), "log_px": log_px, "m_star": m_star,
                 "v_star": v_star}


# ---------------------------------------------------------------------------------------------- chapter 4
def _load_result(d: int):
    from training import result_files as rf

    return rf.load(d)


def elbo_terms_figure(dims=(2, 10, 20)):
    r"""ELBO = reconstruction - average KL for the book's trained models (``training/results/vae_d{D}.json``).

    Bars per latent dimension $D$: the reconstruction term (negative), the average KL (subtracted) and the ELBO,
    training-set averages in nats. Returns ``(fig, values)``: ``{D: {"reconstruction", "avg_kl", "elbo"}}``.
    Raises ``training.result_files.ResultsError`` (one line) if a results file is missing or damaged.
    """
    values = {}
    for d in dims:
        terms = _load_result(d)["train"]["terms"]
        values[d] = {k: float(terms[k]["value"]) for k in ("reconstruction", "avg_kl", "elbo")}
    plt = _plt()
    with plt.rc_context(mpl_style()):
        fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.4), gridspec_kw={"width_ratios": [1.4, 1]})
        xs = np.arange(len(dims))
        wdt = 0.38
        ax = axes[0]
        ax.bar(xs - wdt / 2, [values[d]["reconstruction"] for d in dims], wdt, color=TERM_COLORS["reconstruction"],
               label="reconstruction")
        ax.bar(xs + wdt / 2, [values[d]["elbo"] for d in dims], wdt, color=TERM_COLORS["elbo"], label="ELBO")
        ax.set(xticks=xs, xticklabels=[f"D = {d}" for d in dims], ylabel="nats (per image)")
        ax.axhline(0, color="#222222", lw=0.8)
        ax.legend(loc="lower right", fontsize=9)
        ax = axes[1]
        ax.bar(xs, [values[d]["avg_kl"] for d in dims], 0.5, color=TERM_COLORS["avg_kl"])
        ax.set(xticks=xs, xticklabels=[f"D = {d}" for d in dims], ylabel="average KL (nats)")
        fig.tight_layout()
    return fig, values


# ---------------------------------------------------------------------------------------------- chapter 5
def gaussian_kl_figure(sigmas=(0.5, 1.0, 2.0)):
    r"""$\mathrm{KL}(\mathcal{N}(\mu, \sigma^2) \,\|\, \mathcal{N}(0, 1))$ as the mean $\mu$ moves, one curve per $\sigma$.

    The closed form $\tfrac12(\sigma^2 + \mu^2 - 1 - \log \sigma^2)$ (proved in ``derivations.gaussian_kl``): a
    parabola in $\mu$ whose floor $\tfrac12(\sigma^2 - 1 - \log\sigma^2)$ is zero only for $\sigma = 1$. Left panel:
    the two densities for one $\mu$. Returns ``(fig, values)``: ``mu`` grid and ``kl`` (one array per $\sigma$), nats.
    """
    mu = np.linspace(-3, 3, 301)
    kl = {s: 0.5 * (s**2 + mu**2 - 1.0 - math.log(s**2)) for s in sigmas}
    plt = _plt()
    shades = [TERM_COLORS["avg_kl"], TERM_COLORS["gap"], TERM_COLORS["index_code_mi"]]
    with plt.rc_context(mpl_style()):
        fig, axes = plt.subplots(1, 2, figsize=(7.4, 3.3))
        z = np.linspace(-4, 5, 400)
        ax = axes[0]
        ax.plot(z, np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi), color=TERM_COLORS["prior"], lw=2,
                label=r"$p = \mathcal{N}(0, 1)$")
        m0, s0 = 1.5, 0.5
        ax.plot(z, np.exp(-0.5 * ((z - m0) / s0) ** 2) / (s0 * math.sqrt(2 * math.pi)), color=shades[0], lw=2,
                label=rf"$q = \mathcal{{N}}({m0:g}, {s0:g}^2)$")
        ax.set(xlabel="$z$", ylabel="density", title="two Gaussians")
        ax.legend(fontsize=9, loc="upper left")
        ax = axes[1]
        for s, c in zip(sigmas, shades):
            ax.plot(mu, kl[s], color=c, lw=2, label=rf"$\sigma$ = {s:g}")
        ax.plot([m0], [0.5 * (s0**2 + m0**2 - 1 - math.log(s0**2))], "o", color=shades[0])
        ax.set(xlabel=r"mean $\mu$ of $q$", ylabel="KL(q || p) in nats", title="the KL as the mean moves")
        ax.legend(fontsize=9, loc="upper center")
        fig.tight_layout()
    return fig, {"mu": mu, "kl": kl, "example": (m0, s0)}


# ---------------------------------------------------------------------------------------------- chapter 6
def em_figure(x_obs: float = 2.0, theta0: float = 0.35, steps: int = 3):
    r"""EM on the one-observation model $z \sim \mathcal{N}(0,1)$, $x \mid z \sim \mathcal{N}(\theta z, 1)$.

    E-step: $q$ = the posterior at the current $\theta$ (the bound touches $\log p_\theta(x)$). M-step: the
    $\theta$ that maximizes $\mathcal{L}(q, \theta)$, found on a fine grid of the closed-form ELBO. The figure
    draws $\log p_\theta(x)$, each E-step's ELBO curve and the path of $\theta$.
    Returns ``(fig, values)``: ``thetas`` (the iterates) and ``log_px`` at each, nats; they never decrease.
    """
    linear_gaussian = _linear_gaussian()
    grid = np.linspace(-0.5, 3.5, 4001)
    log_px = linear_gaussian.log_evidence(x_obs, grid, 0.0, 1.0)
    thetas, curves = [theta0], []
    for _ in range(steps):
        m, v = (float(a) for a in linear_gaussian.posterior(x_obs, thetas[-1], 0.0, 1.0))  # E-step
        curve = linear_gaussian.elbo(m, v, x_obs, grid, 0.0, 1.0)
        curves.append(curve)
        thetas.append(float(grid[int(np.argmax(curve))]))  # M-step
    lp = [float(linear_gaussian.log_evidence(x_obs, t, 0.0, 1.0)) for t in thetas]
    plt = _plt()
    with plt.rc_context(mpl_style()):
        fig, ax = plt.subplots(figsize=(6.0, 3.8))
        ax.plot(grid, log_px, color=TERM_COLORS["log_px"], lw=2.4, label=r"$\log p_\theta(x)$")
        for i, c in enumerate(curves):
            ax.plot(grid, c, color=TERM_COLORS["elbo"], lw=1.2, alpha=0.5 + 0.5 * i / max(1, steps - 1),
                    label="ELBO after each E-step" if i == 0 else None)
        ax.plot(thetas, lp, "o-", color=TERM_COLORS["gap"], ms=5, lw=1, label=r"EM iterates $\theta_t$")
        for i, (t, l) in enumerate(zip(thetas, lp)):
            ax.annotate(rf"$\theta_{i}$", (t, l), textcoords="offset points", xytext=(-4, 7), fontsize=9)
        ax.set(xlabel=r"decoder parameter $\theta$", ylabel="nats",
               ylim=(float(np.min(log_px)) - 2.0, float(np.max(log_px)) + 0.8))
        ax.legend(loc="lower center", fontsize=9)
        fig.tight_layout()
    return fig, {"thetas": np.array(thetas), "log_px": np.array(lp), "x": x_obs}


# ------------------------------------------------------------------------------------- amortized inference
def amortized_values(n_points: int = 40, seed: int = 0, steps: int = 500, lr: float = 0.05):
    r"""Amortized variational inference on the linear-Gaussian toy model, by gradient steps on the ELBO.

    Data: ``n_points`` draws of $x$ from the model with $w = 2$, $b = 0.5$, $s = 0.8$ (``DEFAULT``'s decoder).
    Per-point inference: each $x_n$ has its own $q_n = \mathcal{N}(m_n, v_n)$ (2N numbers); the optimum is the
    exact posterior. Amortized inference: one encoder $q_\phi(z \mid x) = \mathcal{N}(a x + c, e^{\ell})$ with
    $\phi = (a, c, \ell)$ (3 numbers for any N), trained by gradient ascent on $\frac1N \sum_n \mathcal{L}_n$ (the
    E-step as gradient steps; the gradient of the closed-form ELBO in $\phi$ is exact here).
    Returns a dict: ``x`` (N,), ``post_mean`` (N,), ``post_var``, ``phi`` (a, c, ell), ``history`` of the mean
    ELBO per step, ``mean_log_px`` and ``mean_elbo_per_point`` (the per-point optimum), nats.
    """
    linear_gaussian = _linear_gaussian()
    p = linear_gaussian.DEFAULT
    w, b, s = p["w"], p["b"], p["s"]
    rng = np.random.default_rng(seed)
    x = w * rng.standard_normal(n_points) + b + s * rng.standard_normal(n_points)
    post_mean, post_var = linear_gaussian.posterior(x, w, b, s)
    a, c, ell = 0.0, 0.0, 0.0
    history = []
    for _ in range(steps + 1):
        m, v = a * x + c, math.exp(ell)
        history.append(float(np.mean(linear_gaussian.elbo(m, v, x, w, b, s))))
        # dL/dm = w (x - w m - b) / s^2 - m ;  dL/dv = -w^2/(2 s^2) - 1/2 + 1/(2 v)   (closed-form ELBO)
        g_m = w * (x - w * m - b) / s**2 - m
        g_v = -(w**2) / (2 * s**2) - 0.5 + 0.5 / v
        a += lr * float(np.mean(g_m * x))
        c += lr * float(np.mean(g_m))
        ell += lr * g_v * v
    return {"x": x, "post_mean": np.asarray(post_mean), "post_var": float(np.asarray(post_var).ravel()[0]),
            "phi": (a, c, ell), "history": np.array(history),
            "mean_log_px": float(np.mean(linear_gaussian.log_evidence(x, w, b, s))),
            "mean_elbo_per_point": float(np.mean(linear_gaussian.elbo(post_mean, post_var, x, w, b, s))),
            "w": w, "b": b, "s": s}


def amortized_figure(**kwargs):
    r"""Left: per-point posterior means (one $q_n$ each) and the amortized encoder's line $\mu_\phi(x)$.
    Right: the mean ELBO over gradient steps in $\phi$, under the mean $\log p(x)$. See :func:`amortized_values`.
    Returns ``(fig, values)``."""
    vals = amortized_values(**kwargs)
    a, c, _ = vals["phi"]
    plt = _plt()
    with plt.rc_context(mpl_style()):
        fig, axes = plt.subplots(1, 2, figsize=(7.6, 3.4))
        ax = axes[0]
        ax.plot(vals["x"], vals["post_mean"], "o", color=TERM_COLORS["q_agg"], ms=5,
                label=r"per-point $q_n$: posterior mean")
        xs = np.linspace(vals["x"].min() - 0.5, vals["x"].max() + 0.5, 50)
        ax.plot(xs, a * xs + c, color=TERM_COLORS["elbo"], lw=2, label=r"encoder $\mu_\phi(x)$")
        ax.set(xlabel="observation $x$", ylabel="mean of $q$ over $z$", title="one network for all points")
        ax.legend(fontsize=9, loc="upper left")
        ax = axes[1]
        ax.axhline(vals["mean_log_px"], color=TERM_COLORS["log_px"], lw=2, label=r"mean $\log p(x_n)$")
        ax.plot(np.arange(1, len(vals["history"]) + 1), vals["history"], color=TERM_COLORS["elbo"], lw=2,
                label="mean ELBO")
        ax.set_xscale("log")
        lo = vals["mean_log_px"] - 3.0
        ax.set(xlabel=r"gradient steps in $\phi$ (log scale)", ylabel="nats", title="E-step by gradient ascent",
               ylim=(lo, vals["mean_log_px"] + 0.5))
        ax.legend(fontsize=9, loc="lower right")
        fig.tight_layout()
    return fig, vals


# ---------------------------------------------------------------------------------------------- chapter 7/8
def estimators_figure(n: int = 2000, seed: int = 0):
    r"""The spreads of the two single-sample gradient estimators of $\partial_\mu \mathbb{E}_{q}[f(z)]$.

    The same $n$ seeded draws $\epsilon$ for both (``derivations.models.gradient_estimators.gradient_samples``,
    $q = \mathcal{N}(\mu, \sigma^2)$, $f$ its cubic): histograms of the score-function and reparameterization
    estimates against the exact gradient. Returns ``(fig, values)``: ``exact``, ``mean``, ``std`` per estimator
    (the d/d$\mu$ column).
    """
    from derivations.models import gradient_estimators as ge

    g = ge.gradient_samples(n=n, seed=seed)
    exact = float(g["exact"][0])
    data = {k: g[k][:, 0] for k in ("score_function", "reparameterization")}
    plt = _plt()
    labels = {"score_function": "score function", "reparameterization": "reparameterization"}
    with plt.rc_context(mpl_style()):
        fig, ax = plt.subplots(figsize=(6.0, 3.6))
        lo, hi = np.quantile(data["score_function"], [0.01, 0.99])
        bins = np.linspace(min(lo, data["reparameterization"].min()), max(hi, data["reparameterization"].max()), 70)
        for k, arr in data.items():
            ax.hist(np.clip(arr, bins[0], bins[-1]), bins=bins, color=ESTIMATOR_COLORS[k], alpha=0.6,
                    label=f"{labels[k]} (sd {arr.std(ddof=1):.2f})")
        ax.axvline(exact, color="#222222", lw=1.5, ls="--", label=f"exact gradient {exact:.3f}")
        ax.set(xlabel=r"one-sample estimate of $\partial_\mu\, \mathbb{E}_q[f(z)]$", ylabel="count")
        ax.legend(fontsize=9)
        fig.tight_layout()
    return fig, {"exact": exact, "mean": {k: float(v.mean()) for k, v in data.items()},
                 "std": {k: float(v.std(ddof=1)) for k, v in data.items()}, "n": n, "seed": seed}


def reparameterization_figure(n_paths: int = 12, seed: int = 0):
    r"""The reparameterized sample moves with the parameter: $z = \mu + \sigma\epsilon$ for fixed draws $\epsilon$.

    $q = \mathcal{N}(\mu, \sigma^2)$ and $f$ as in ``derivations.models.gradient_estimators`` (the cubic
    ``COEFFS``, $\sigma$ = ``SIGMA``). Left: $z$ against $\mu$ for ``n_paths`` seeded $\epsilon$ (parallel lines of
    slope 1). Right: $f(\mu + \sigma\epsilon)$ against $\mu$ for the same draws, their average, and the exact
    $\mathbb{E}_q f$ (closed form: $c_1\mu + c_2(\mu^2 + \sigma^2) + c_3(\mu^3 + 3\mu\sigma^2)$), whose slope at
    ``MU`` is the gradient. Returns ``(fig, values)``: ``mu`` grid, ``exact`` $\mathbb{E}_q f$, ``average`` over the
    paths, ``slope_exact`` at ``MU``.
    """
    from derivations.models import gradient_estimators as ge

    c1, c2, c3 = ge.COEFFS
    sigma, mu0 = ge.SIGMA, ge.MU
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal(n_paths)
    mu = np.linspace(mu0 - 1.5, mu0 + 1.5, 201)
    z = mu[:, None] + sigma * eps[None, :]
    f = c1 * z + c2 * z**2 + c3 * z**3
    exact = c1 * mu + c2 * (mu**2 + sigma**2) + c3 * (mu**3 + 3 * mu * sigma**2)
    plt = _plt()
    col = ESTIMATOR_COLORS["reparameterization"]
    with plt.rc_context(mpl_style()):
        fig, axes = plt.subplots(1, 2, figsize=(7.6, 3.4))
        ax = axes[0]
        ax.plot(mu, z, color=col, lw=0.9, alpha=0.7)
        ax.axvline(mu0, color=TERM_COLORS["prior"], ls=":", lw=1)
        ax.set(xlabel=r"parameter $\mu$", ylabel=r"$z = \mu + \sigma\epsilon$", title="each draw is a path")
        ax = axes[1]
        ax.plot(mu, f, color=col, lw=0.8, alpha=0.45)
        ax.plot(mu, f.mean(1), color=col, lw=2.2, label=f"average of the {n_paths} paths")
        ax.plot(mu, exact, color="#222222", lw=1.6, ls="--", label=r"exact $\mathbb{E}_q f$")
        ax.axvline(mu0, color=TERM_COLORS["prior"], ls=":", lw=1)
        ax.set(xlabel=r"parameter $\mu$", ylabel=r"$f(\mu + \sigma\epsilon)$", title="differentiate along it",
               ylim=(float(np.quantile(f, 0.02)), float(np.quantile(f, 0.98))))
        ax.legend(fontsize=8, loc="upper left")
        fig.tight_layout()
    return fig, {"mu": mu, "exact": exact, "average": f.mean(1), "eps": eps,
                 "slope_exact": float(ge.exact_gradient()[0])}


# ---------------------------------------------------------------------------------------------- chapter 9
def flow_figure(a: float = 0.8, c: float = 1.2):
    r"""A one-dimensional flow $x = g(z) = c\,z + a \tanh z$ and the density it pushes forward.

    Notation of ``derivations.flow_as_dirac_vae``: $g$ generates, $f = g^{-1}$ encodes. Base $p(z) = \mathcal{N}(0, 1)$;
    $g$ is increasing for $c > 0$, $a > -c$. The density of $x$ by the change of variables,
    $p(x) = p(z)\,/\,|g'(z)|$ at $z = f(x)$, against a histogram of $g(z)$ for seeded draws $z$.
    Returns ``(fig, values)``: ``z``, ``x`` (= g(z)), ``px`` (the density at ``x``), ``integral`` (of ``px`` over the
    grid, close to 1), ``a``, ``c``. Raises ``ValueError`` if $g$ is not increasing.
    """
    if c <= 0 or a <= -c:
        raise ValueError("flow_figure needs c > 0 and a > -c (an increasing map)")
    z = np.linspace(-4.5, 4.5, 2001)
    xz = c * z + a * np.tanh(z)
    dfdz = c + a / np.cosh(z) ** 2
    pz = np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    px = pz / dfdz
    integral = float(np.trapezoid(px, xz)) if hasattr(np, "trapezoid") else float(np.trapz(px, xz))
    rng = np.random.default_rng(0)
    samples = rng.standard_normal(20000)
    plt = _plt()
    with plt.rc_context(mpl_style()):
        fig, axes = plt.subplots(1, 2, figsize=(7.4, 3.3))
        ax = axes[0]
        ax.plot(z, xz, color=TERM_COLORS["elbo"], lw=2)
        ax.set(xlabel="latent $z$", ylabel="$x = g(z)$", title="an invertible map")
        ax = axes[1]
        ax.hist(c * samples + a * np.tanh(samples), bins=80, density=True, color=TERM_COLORS["q_agg"], alpha=0.45,
                label="$g(z)$, $z \\sim \\mathcal{N}(0,1)$")
        ax.plot(xz, px, color=TERM_COLORS["log_px"], lw=2, label="change of variables")
        ax.set(xlabel="$x$", ylabel="density", title="the pushed-forward density", xlim=(-5, 5),
               ylim=(0, 1.45 * float(px.max())))
        ax.legend(fontsize=8, loc="upper left")
        fig.tight_layout()
    return fig, {"z": z, "x": xz, "px": px, "integral": integral, "a": a, "c": c}


# ---------------------------------------------------------------------------------------------- chapter 10
def surgery_split_figure(dims=(2, 10, 20)):
    r"""Average KL = index-code MI + marginal KL for the trained models (``vae_d{D}.json``, training set, nats).

    Stacked bars: the index-code mutual information $I_q[n; z]$ under the marginal KL
    $\mathrm{KL}(q_{\mathrm{agg}} \,\|\, p)$, beside the average KL; a dashed line at $\log N$, the MI's ceiling.
    Returns ``(fig, values)``: ``{D: {"avg_kl", "index_code_mi", "marginal_kl"}}`` and ``log_n``.
    """
    values, log_n = {}, None
    for d in dims:
        res = _load_result(d)
        terms = res["train"]["terms"]
        values[d] = {k: float(terms[k]["value"]) for k in ("avg_kl", "index_code_mi", "marginal_kl")}
        log_n = float(res["train"]["log_n"])
    plt = _plt()
    with plt.rc_context(mpl_style()):
        fig, ax = plt.subplots(figsize=(6.2, 3.6))
        xs = np.arange(len(dims))
        wdt = 0.36
        mi = [values[d]["index_code_mi"] for d in dims]
        mk = [values[d]["marginal_kl"] for d in dims]
        ax.bar(xs - wdt / 2, [values[d]["avg_kl"] for d in dims], wdt, color=TERM_COLORS["avg_kl"],
               label="average KL")
        ax.bar(xs + wdt / 2, mi, wdt, color=TERM_COLORS["index_code_mi"], label="index-code MI")
        ax.bar(xs + wdt / 2, mk, wdt, bottom=mi, color=TERM_COLORS["marginal_kl"], label="marginal KL",
               edgecolor="#555555", lw=0.5)
        ax.axhline(log_n, color=TERM_COLORS["prior"], ls="--", lw=1.2, label="log N (the MI's ceiling)")
        ax.set(xticks=xs, xticklabels=[f"D = {d}" for d in dims], ylabel="nats (per image)")
        ax.legend(fontsize=9, loc="upper left", ncol=2)
        ax.set_ylim(0, max(max(values[d]["avg_kl"] for d in dims), log_n) * 1.35)
        fig.tight_layout()
    return fig, {"values": values, "log_n": log_n}


def surgery_table1_rows(dims=None) -> list[dict]:
    """The rows of the ELBO-surgery chapter's Table 1: per latent size, ours (``value ± se``, or "not trained
    yet") and the paper's (Hoffman & Johnson 2016, Table 1), with the palette's term labels as columns.

    ``dims``: latent sizes (default ``training.result_files.LATENT_DIMS``). Nats, training set.
    """
    from training import result_files as rf
    from vizlab.palette import TERM_LABELS

    ours = {row["latent_dim"]: row["ours"] for row in rf.table1_rows()}
    rows = []
    for d in rf.LATENT_DIMS if dims is None else dims:
        mine, paper = ours.get(d), rf.PAPER_TABLE1[d]
        rows.append({"D": str(d), "": "ours", **{TERM_LABELS[t]: pm(mine[t]) if mine else "not trained yet"
                                                  for t in rf.TERMS}})
        rows.append({"D": "", "": "paper", **{TERM_LABELS[t]: f"{paper[t]:.2f}" for t in rf.TERMS}})
    return rows


def surgery_identity_check(dims=None) -> list[dict]:
    r"""Average KL $=$ index-code MI $+$ marginal KL (H&J eq. 3), checked on the trained models' results files.

    The MI is the direct estimate (``index_code_mi_direct``, its own Monte Carlo draws), not the one obtained by
    subtraction, so the check is not true by construction. One row per trained size in ``dims`` (default: every
    one available): ``{"D", "avg_kl", "sum", "difference", "se", "z"}`` (nats; ``se`` combines the two
    independent estimates' errors -- the average KL of the N(0, I) models is exact; ``z`` = difference / se).
    """
    from training import result_files as rf

    out = []
    for d in rf.available() if dims is None else dims:
        terms = rf.load(d)["train"]["terms"]
        mi, mkl, avg = terms["index_code_mi_direct"], terms["marginal_kl"], terms["avg_kl"]
        total = mi["value"] + mkl["value"]
        se = math.hypot(mi["se"], mkl["se"])
        out.append({"D": d, "avg_kl": avg["value"], "sum": total, "difference": avg["value"] - total, "se": se,
                    "z": (avg["value"] - total) / se})
    return out


def training_curves_figure(dims=None):
    """The trainer's per-epoch training ELBO (left) and its reconstruction and KL terms (right) of each trained
    model in ``dims`` (default: every one available), from ``vae_d{D}.metrics.jsonl``, and one marker per model
    for the final model's test ELBO from its results file. Nats per image.

    Returns ``(fig, values)``: ``{D: {"epochs": [...], "elbo": [...], "test_elbo": float}}``.
    """
    from training import result_files as rf
    from vizlab.palette import TERM_LABELS

    dims = list(rf.available() if dims is None else dims)
    styles = dict(zip(rf.LATENT_DIMS, ["-", "--", ":"]))
    values = {}
    plt = _plt()
    with plt.rc_context(mpl_style()):
        fig, (ax_elbo, ax_terms) = plt.subplots(1, 2, figsize=(10, 3.8))
        for d in dims:
            metrics = rf.load_metrics(d)
            epochs = [m["epoch"] for m in metrics]
            style = styles.get(d, "-")
            test_elbo = rf.load(d)["test"]["elbo"]["value"]
            values[d] = {"epochs": epochs, "elbo": [m["elbo"] for m in metrics], "test_elbo": test_elbo}
            ax_elbo.plot(epochs, values[d]["elbo"], style, color=TERM_COLORS["elbo"], label=f"train, D = {d}")
            # the test ELBO of the final model, from the results file (these runs evaluated the test set at the end)
            ax_elbo.plot([epochs[-1]], [test_elbo], linestyle="none",
                         marker={"-": "o", "--": "s", ":": "^"}[style], ms=7, color=TERM_COLORS["log_px"],
                         label=f"test (final), D = {d}")
            ax_terms.plot(epochs, [m["reconstruction"] for m in metrics], style,
                          color=TERM_COLORS["reconstruction"], label=f"{TERM_LABELS['reconstruction']}, D = {d}")
            ax_terms.plot(epochs, [m["avg_kl"] for m in metrics], style, color=TERM_COLORS["avg_kl"],
                          label=f"KL, D = {d}")
        ax_elbo.set(xlabel="epoch", ylabel="nats", title="ELBO per image", ylim=(-140, -80))
        ax_terms.set(xlabel="epoch", ylabel="nats", title="reconstruction and KL per image")
        ax_elbo.legend(fontsize=8)
        ax_terms.legend(fontsize=8, ncol=2)
        fig.tight_layout()
    return fig, values


def aggregated_posterior_figure(dims=None, seed: int = 0):
    r"""Samples of the aggregated posterior $q_{\mathrm{agg}}(z)$ of each trained model in ``dims`` (default:
    every one available): one $z = \mu + \sigma \odot \epsilon$ per encoded training image of
    ``vae_d{D}.encodings.npz`` (numpy generator seeded with ``seed``; for $D > 2$ the first two coordinates),
    against the prior's $1\sigma$ and $2\sigma$ circles.

    Returns ``(fig, values)``: ``{"n_encodings": n, "z": {D: (n, 2) array}}``.
    """
    from training import result_files as rf

    dims = list(rf.available() if dims is None else dims)
    rng = np.random.default_rng(seed)
    values = {"z": {}}
    plt = _plt()
    with plt.rc_context(mpl_style()):
        fig, axes = plt.subplots(1, len(dims), figsize=(3.4 * len(dims), 3.6), squeeze=False)
        for ax, d in zip(axes[0], dims):
            enc = rf.load_npz(rf.load(d), "encodings")
            z = enc["mu"] + np.exp(0.5 * enc["logvar"]) * rng.standard_normal(enc["mu"].shape)
            values["z"][d] = z[:, :2]
            values["n_encodings"] = len(z)
            ax.scatter(z[:, 0], z[:, 1], s=3, alpha=0.4, color=TERM_COLORS["q_agg"], linewidths=0)
            angle = np.linspace(0, 2 * np.pi, 200)
            for radius in (1, 2):
                ax.plot(radius * np.cos(angle), radius * np.sin(angle), color=TERM_COLORS["prior"], lw=1)
            ax.set(aspect="equal", title=f"D = {d}" + ("" if d == 2 else " (z₁, z₂)"),
                   xlabel="$z_1$", ylabel="$z_2$", xlim=(-4, 4), ylim=(-4, 4))
        fig.tight_layout()
    return fig, values


def bug_reports_figure(dims=(2, 10, 20), pixels: int = 784):
    r"""What three loss-convention bugs make the trained models report, beside the true ELBO (training set, nats).

    From ``vae_d{D}.json``: the true ELBO (reconstruction - average KL); the KL weighted by $M/N$ (batch size over
    training-set size); the reconstruction averaged over the ``pixels`` instead of summed; the ELBO in bits.
    Returns ``(fig, values)``: ``{D: {"correct", "kl_times_m_over_n", "pixel_mean", "bits"}}``.
    """
    values = {}
    for d in dims:
        res = _load_result(d)
        terms, m, n = res["train"]["terms"], res["config"]["batch_size"], res["train"]["n"]
        rec, kl = float(terms["reconstruction"]["value"]), float(terms["avg_kl"]["value"])
        values[d] = {"correct": rec - kl, "kl_times_m_over_n": rec - kl * m / n, "pixel_mean": rec / pixels - kl,
                     "bits": (rec - kl) / math.log(2)}
    labels = {"correct": "correct ELBO", "kl_times_m_over_n": "KL weighted by M/N",
              "pixel_mean": "pixel mean", "bits": "in bits"}
    colors = {"correct": TERM_COLORS["elbo"], "kl_times_m_over_n": TERM_COLORS["avg_kl"],
              "pixel_mean": TERM_COLORS["reconstruction"], "bits": TERM_COLORS["prior"]}
    plt = _plt()
    with plt.rc_context(mpl_style()):
        fig, ax = plt.subplots(figsize=(7.0, 3.6))
        xs = np.arange(len(dims))
        wdt = 0.2
        for i, key in enumerate(labels):
            ax.bar(xs + (i - 1.5) * wdt, [values[d][key] for d in dims], wdt, color=colors[key], label=labels[key])
        ax.axhline(0, color="#222222", lw=0.8)
        ax.set(xticks=xs, xticklabels=[f"D = {d}" for d in dims], ylabel="reported ELBO (nats per image)")
        ax.legend(fontsize=8, loc="lower right", ncol=2)
        lowest = min(min(v.values()) for v in values.values())
        ax.set_ylim(1.1 * lowest, 0)
        fig.tight_layout()
    return fig, values


# ---------------------------------------------------------------------------------------------- the VAE
def _box(ax, xy, w, h, text, color, fontsize=10):
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch(xy, w, h, boxstyle="round,pad=0.02,rounding_size=0.08", fc=color, ec="#333333",
                                lw=1.0, alpha=0.9))
    ax.text(xy[0] + w / 2, xy[1] + h / 2, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, start, end):
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "-|>", "color": "#333333", "lw": 1.3})


def vae_diagram_figure(d: int = 2):
    r"""The VAE as a picture: $x \to$ encoder $\to (\mu, \log\sigma^2) \to z = \mu + \sigma \odot \epsilon \to$ decoder
    $\to$ Bernoulli means $\to \log p_\theta(x \mid z)$, with the KL to the prior taken from $(\mu, \log \sigma^2)$.

    Layer widths are read from the trained model's results (``vae_d{d}.json``: ``model.hidden``,
    ``model.latent_dim``). Returns ``(fig, values)``: ``hidden``, ``latent_dim``, ``x_dim`` (784).
    """
    model = _load_result(d)["model"]
    hidden = list(model["hidden"])
    D = int(model["latent_dim"])
    plt = _plt()
    with plt.rc_context(mpl_style()):
        fig, ax = plt.subplots(figsize=(7.4, 2.9))
        ax.set_xlim(0, 10.6)
        ax.set_ylim(0, 4)
        ax.set_axis_off()
        blue, green = "#cfe6f7", "#d4efe4"
        _box(ax, (0.05, 1.5), 0.95, 1.0, "$x$\n784 pixels\nin {0, 1}", "#eeeeee", 9)
        enc = " → ".join(str(h) for h in hidden)
        _box(ax, (1.35, 1.3), 1.75, 1.4, f"encoder $q_\\phi$\n784 → {enc}\n→ {2 * D} outputs", blue, 9)
        _box(ax, (3.45, 2.25), 1.2, 0.7, r"$\mu_\phi(x)$", blue, 10)
        _box(ax, (3.45, 1.05), 1.2, 0.7, r"$\log\sigma^2_\phi(x)$", blue, 10)
        _box(ax, (5.0, 1.5), 1.35, 1.0, f"$z = \\mu + \\sigma \\odot \\epsilon$\n$z \\in \\mathbb{{R}}^{{{D}}}$",
             "#fff3cf", 9)
        dec = " → ".join(str(h) for h in reversed(hidden))
        _box(ax, (6.7, 1.3), 1.75, 1.4, f"decoder $p_\\theta$\n{D} → {dec}\n→ 784 logits", green, 9)
        _box(ax, (8.8, 1.5), 1.7, 1.0, "Bernoulli means\n$\\mathrm{sigmoid}$(logits)", green, 9)
        _box(ax, (4.9, 3.25), 1.55, 0.6, r"$\epsilon \sim \mathcal{N}(0, I)$", "#eeeeee", 9)
        _box(ax, (2.75, 0.05), 3.15, 0.6, r"KL$(q_\phi(z|x)\,\Vert\,p(z))$ from $\mu, \log\sigma^2$",
             TERM_COLORS["avg_kl"], 9)
        _box(ax, (8.55, 0.05), 2.0, 0.6, r"$\log p_\theta(x \mid z)$", TERM_COLORS["reconstruction"], 9)
        _arrow(ax, (1.0, 2.0), (1.35, 2.0))
        _arrow(ax, (3.1, 2.2), (3.45, 2.6))
        _arrow(ax, (3.1, 1.8), (3.45, 1.4))
        _arrow(ax, (4.65, 2.6), (5.0, 2.15))
        _arrow(ax, (4.65, 1.4), (5.0, 1.85))
        _arrow(ax, (5.67, 3.25), (5.67, 2.5))
        _arrow(ax, (6.35, 2.0), (6.7, 2.0))
        _arrow(ax, (8.45, 2.0), (8.8, 2.0))
        _arrow(ax, (4.05, 1.05), (4.2, 0.65))
        _arrow(ax, (9.65, 1.5), (9.55, 0.65))
        fig.tight_layout()
    return fig, {"hidden": hidden, "latent_dim": D, "x_dim": 784}


def graphical_model_figure():
    r"""The VAE's graphical model: $z_n \to x_n$ inside a plate over $n = 1..N$ (solid: the generative model
    $p(z)\,p_\theta(x \mid z)$, parameter $\theta$), and the encoder $q_\phi(z \mid x)$ dashed, with its one $\phi$
    shared by all $n$ (amortization). Returns ``(fig, values)`` with the node names."""
    from matplotlib.patches import Circle, FancyBboxPatch

    plt = _plt()
    with plt.rc_context(mpl_style()):
        fig, ax = plt.subplots(figsize=(4.6, 3.2))
        ax.set_xlim(0, 4.6)
        ax.set_ylim(0, 3.2)
        ax.set_aspect("equal")
        ax.set_axis_off()
        ax.add_patch(FancyBboxPatch((1.2, 0.25), 2.0, 2.7, boxstyle="round,pad=0.02", fc="none", ec="#333333"))
        ax.text(3.1, 0.35, "$N$", ha="right", fontsize=11)
        ax.add_patch(Circle((2.2, 2.3), 0.38, fc="white", ec="#333333", lw=1.4))
        ax.text(2.2, 2.3, "$z_n$", ha="center", va="center", fontsize=12)
        ax.add_patch(Circle((2.2, 0.95), 0.38, fc="#cccccc", ec="#333333", lw=1.4))
        ax.text(2.2, 0.95, "$x_n$", ha="center", va="center", fontsize=12)
        ax.annotate("", xy=(2.2, 1.33), xytext=(2.2, 1.92),
                    arrowprops={"arrowstyle": "-|>", "color": "#333333", "lw": 1.4})
        ax.annotate("", xy=(1.95, 2.02), xytext=(1.95, 1.23),
                    arrowprops={"arrowstyle": "-|>", "color": TERM_COLORS["q_agg"], "lw": 1.4, "ls": "--",
                                "connectionstyle": "arc3,rad=-0.5"})
        ax.plot([4.0], [1.62], "o", color="#333333", ms=5)
        ax.text(4.05, 1.85, r"$\theta$", fontsize=12)
        ax.annotate("", xy=(2.6, 1.62), xytext=(3.95, 1.62),
                    arrowprops={"arrowstyle": "-|>", "color": "#333333", "lw": 1.0})
        ax.plot([0.45], [1.62], "o", color=TERM_COLORS["q_agg"], ms=5)
        ax.text(0.3, 1.85, r"$\phi$", fontsize=12, color=TERM_COLORS["q_agg"])
        ax.annotate("", xy=(1.72, 1.62), xytext=(0.5, 1.62),
                    arrowprops={"arrowstyle": "-|>", "color": TERM_COLORS["q_agg"], "lw": 1.0, "ls": "--"})
        fig.tight_layout()
    return fig, {"nodes": ("z_n", "x_n", "theta", "phi")}


def tug_of_war_figure(dims=(2, 10, 20)):
    r"""The reconstruction term and the average KL per epoch of training (``vae_d{D}.metrics.jsonl``).

    Left: the reconstruction term $\mathbb{E}_q \log p_\theta(x \mid z)$ rises; right: the KL to the prior, which
    the encoder pays for every nat of information it keeps, rises with it. Training-set averages, nats.
    Returns ``(fig, values)``: ``{D: {"epoch", "reconstruction", "avg_kl", "elbo"}}`` (arrays).
    """
    from training import result_files as rf

    values = {}
    for d in dims:
        rows = rf.load_metrics(d)
        values[d] = {k: np.array([r[k] for r in rows], dtype=float)
                     for k in ("epoch", "reconstruction", "avg_kl", "elbo")}
    plt = _plt()
    styles = {dims[i]: ls for i, ls in enumerate(["-", "--", ":", "-."][: len(dims)])}
    with plt.rc_context(mpl_style()):
        fig, axes = plt.subplots(1, 2, figsize=(7.6, 3.3))
        for d in dims:
            v = values[d]
            axes[0].plot(v["epoch"], v["reconstruction"], styles[d], color=TERM_COLORS["reconstruction"], lw=1.8,
                         label=f"D = {d}")
            axes[1].plot(v["epoch"], v["avg_kl"], styles[d], color=TERM_COLORS["avg_kl"], lw=1.8, label=f"D = {d}")
        lo = min(float(np.quantile(values[d]["reconstruction"], 0.02)) for d in dims)
        hi = max(float(values[d]["reconstruction"].max()) for d in dims)
        axes[0].set(xlabel="epoch", ylabel="nats", title="reconstruction (higher is better)",
                    ylim=(lo - 2, hi + 2))
        axes[1].set(xlabel="epoch", ylabel="nats", title="average KL to the prior (a cost)")
        for ax in axes:
            ax.legend(fontsize=9)
        fig.tight_layout()
    return fig, values


def manifold_figure(d: int = 2, stride: int = 1):
    r"""The decoded 2-D manifold (Kingma & Welling 2014, fig. 4): Bernoulli means on a grid of $z$ at Gaussian
    quantiles, from ``vae_d{d}.manifold.npz``. ``stride`` > 1 keeps every stride-th row and column.
    Returns ``(fig, values)``: ``grid`` (G), ``z`` (G, G, 2) of the kept nodes."""
    from training import result_files as rf

    man = rf.load_npz(_load_result(d), "manifold")
    images, z = man["images"][::stride, ::stride], man["z"][::stride, ::stride]
    g, _, h, w = images.shape
    plt = _plt()
    with plt.rc_context(mpl_style()):
        fig, ax = plt.subplots(figsize=(5.2, 5.2))
        ax.imshow(images.transpose(0, 2, 1, 3).reshape(g * h, g * w), vmin=0, vmax=1, cmap="gray_r")
        ax.set_axis_off()
        fig.tight_layout()
    return fig, {"grid": g, "z": z}


def interpolation_figure(d: int = 2):
    r"""A latent interpolation: the decoded images along the grid's diagonal, a straight line in $z$ from one
    corner of the quantile grid of ``vae_d{d}.manifold.npz`` to the other, with each node's $(z_1, z_2)$.
    Returns ``(fig, values)``: ``z`` (G, 2) along the line."""
    from training import result_files as rf

    man = rf.load_npz(_load_result(d), "manifold")
    g = man["images"].shape[0]
    idx = np.arange(g)
    imgs, zs = man["images"][idx, idx], man["z"][idx, idx]
    keep = np.unique(np.linspace(0, g - 1, min(g, 10)).round().astype(int))
    plt = _plt()
    with plt.rc_context(mpl_style()):
        fig, axes = plt.subplots(1, len(keep), figsize=(1.0 * len(keep), 1.6))
        for ax, k in zip(np.atleast_1d(axes), keep):
            ax.imshow(imgs[k], vmin=0, vmax=1, cmap="gray_r")
            ax.set_axis_off()
            ax.set_title(f"{zs[k][0]:.1f}\n{zs[k][1]:.1f}", fontsize=9)
        fig.tight_layout()
    return fig, {"z": zs[keep]}


def latent_codes_figure(d: int = 2):
    r"""The encoder's means $\mu_\phi(x_n)$ of the encoded training images (``vae_d{d}.encodings.npz``), colored
    by digit label, over the prior's 1- and 2-sigma circles. Returns ``(fig, values)``: ``n`` images."""
    from training import result_files as rf

    enc = rf.load_npz(_load_result(d), "encodings")
    mu, labels = enc["mu"], enc["labels"].astype(int)
    plt = _plt()
    with plt.rc_context(mpl_style()):
        fig, ax = plt.subplots(figsize=(4.8, 4.3))
        sc = ax.scatter(mu[:, 0], mu[:, 1], c=labels, cmap="tab10", s=3, alpha=0.7, linewidths=0, vmin=-0.5,
                        vmax=9.5)
        angle = np.linspace(0, 2 * np.pi, 200)
        for r in (1, 2):
            ax.plot(r * np.cos(angle), r * np.sin(angle), color=TERM_COLORS["prior"], lw=1)
        cb = fig.colorbar(sc, ax=ax, ticks=range(10), fraction=0.046, pad=0.04)
        cb.set_label("digit label")
        ax.set(aspect="equal", xlabel=r"$\mu_1$", ylabel=r"$\mu_2$", xlim=(-4, 4), ylim=(-4, 4))
        fig.tight_layout()
    return fig, {"n": int(len(mu))}


def _mosaic(images: np.ndarray, cols: int, pad: int = 1, fill: float = 0.0) -> np.ndarray:
    """Tile ``images`` (n, h, w) row by row into one array, ``cols`` per row, ``pad`` pixels of ``fill`` between."""
    n, h, w = images.shape
    rows = -(-n // cols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), fill, dtype=np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = img
    return out


def samples_figure(name: str = "vae_d10_e20_beta1", results_dir=None):
    r"""Samples and reconstructions of a trained model, from ``NAME.samples.npz`` (:mod:`training.samples`).

    Left: the decoder's Bernoulli means $\mathrm{sigmoid}(f_\theta(z))$ at $z \sim p(z)$, 8 per row. Right: each
    binarized test image $x$ beside its reconstruction $\mathrm{sigmoid}(f_\theta(\mu_\phi(x)))$, in pairs, 2
    pairs per row (so the figure stays legible on a phone). ``results_dir`` defaults to
    ``training/results/beta_sweep``. Returns ``(fig, values)``: ``run``, ``epochs``, ``latent_dim``, ``beta``,
    ``kl_warmup``, ``free_bits``, ``seed``, ``n_samples``,
    ``n_recon``. Raises ``training.result_files.ResultsError`` (one line) for a missing or damaged file.
    """
    from pathlib import Path

    from training import result_files as rf
    from training.samples import load_samples

    folder = Path(results_dir) if results_dir is not None else rf.RESULTS_DIR / "beta_sweep"
    s = load_samples(folder / f"{name}.samples.npz")
    pairs = np.stack([s["test_images"], s["reconstructions"]], axis=1)  # (R, 2, 28, 28)
    r = len(pairs)
    per_row = 2
    # one pair = data | reconstruction behind a light grey line; pairs 6 white pixels apart
    pair_imgs = np.stack([_mosaic(p, 2, pad=1, fill=0.15) for p in pairs])
    right = _mosaic(pair_imgs, per_row, pad=6)
    left = _mosaic(s["samples"], 8, pad=1, fill=0.15)
    plt = _plt()
    with plt.rc_context(mpl_style()):
        fig, axes = plt.subplots(1, 2, figsize=(6.4, 4.0),
                                 gridspec_kw={"width_ratios": [left.shape[1] / left.shape[0],
                                                               right.shape[1] / right.shape[0]]})
        axes[0].imshow(left, vmin=0, vmax=1, cmap="gray_r", interpolation="nearest")
        axes[0].set_title(r"samples at $z \sim \mathcal{N}(0, I)$", fontsize=13)
        axes[1].imshow(right, vmin=0, vmax=1, cmap="gray_r", interpolation="nearest")
        axes[1].set_title("test | reconstruction", fontsize=13)
        for ax in axes:
            ax.set_axis_off()
        fig.tight_layout()
    values = {k: s[k] for k in ("run", "epochs", "latent_dim", "beta", "kl_warmup", "free_bits", "seed")}
    values.update(n_samples=int(len(s["samples"])), n_recon=r)
    return fig, values

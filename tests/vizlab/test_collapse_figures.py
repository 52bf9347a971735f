"""vizlab.collapse: the posterior-collapse chapter's figures draw what they are given, with labelled axes."""

import numpy as np
import pytest

from vizlab import collapse


def _point(beta, rate, dist, active, mi, mkl, log_n=11.0):
    kl = np.sort(np.linspace(rate, 0.01, 10) / np.linspace(rate, 0.01, 10).sum() * rate)
    return {"beta": beta, "kl_warmup": 0, "free_bits": 0.0, "epochs": 10, "rate": {"value": rate, "se": 0.0},
            "distortion": {"value": dist, "se": 0.02}, "index_code_mi": {"value": mi, "se": 0.01},
            "marginal_kl": {"value": mkl, "se": 0.01}, "log_n": log_n, "active_units": active, "units": 10,
            "unit_kl": kl}


POINTS = [_point(0.5, 30.0, 70.0, 10, 10.9, 19.1), _point(1.0, 20.0, 78.0, 9, 10.5, 9.5),
          _point(4.0, 6.0, 110.0, 3, 5.5, 0.5)]


@pytest.fixture(autouse=True)
def _close():
    import matplotlib

    matplotlib.use("Agg")
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _labelled(fig):
    return all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes)


def test_rate_distortion_has_a_point_per_beta_and_the_iso_lines():
    levels = [95.0, 100.0, 105.0, 110.0, 115.0]
    fig = collapse.rate_distortion_figure(POINTS, levels)
    ax = fig.axes[0]
    assert _labelled(fig)
    iso = [l for l in ax.get_lines() if l.get_linestyle() == "--"]
    assert len(iso) == len(levels)
    for line, level in zip(iso, levels):  # each dashed line is D = L - R
        x, y = line.get_data()
        np.testing.assert_allclose(np.asarray(x) + np.asarray(y), level)
    texts = {t.get_text() for t in ax.texts}
    assert {"β = 0.5", "β = 1", "β = 4"} <= texts


def test_active_units_bars_match_the_counts():
    fig = collapse.active_units_figure(POINTS)
    a1, a2 = fig.axes
    assert [round(b.get_height()) for b in a1.patches] == [10, 9, 3]
    assert len(a2.get_lines()) == 3 and _labelled(fig)


def test_surgery_figure_draws_three_terms_and_log_n():
    fig = collapse.surgery_figure(POINTS)
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert sorted(labels) == sorted(["average KL (rate)", "index-code MI", "marginal KL", "log N (the MI's ceiling)"])
    assert len(ax.containers) == 3  # one error-bar series per term
    assert _labelled(fig)


def test_warmup_figure_plots_both_runs_per_epoch():
    rows = [{"epoch": e, "elbo": -100.0 - 10 / e, "avg_kl": 15.0, "kl_weight": min(1.0, e / 3),
             "test_elbo": -101.0 if e % 2 == 0 else None} for e in range(1, 6)]
    plain = [{**r, "kl_weight": 1.0} for r in rows]
    pair = {"warmup": {"kl_warmup": 3}, "plain": {}, "warmup_metrics": rows, "plain_metrics": plain}
    fig = collapse.warmup_figure(pair)
    w_ax = fig.axes[0]
    ys = [list(l.get_ydata()) for l in w_ax.get_lines()]
    assert ys[0] == [1.0] * 5 and ys[1] == [r["kl_weight"] for r in rows]
    assert len(fig.axes) == 3 and _labelled(fig)

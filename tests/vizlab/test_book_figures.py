"""vizlab.book_figures: each figure plots what its closed form or results file says, and the tables stay tables."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vizlab import book_figures as bf


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _has_results(*dims: int) -> bool:
    from training import result_files as rf

    return set(dims) <= set(rf.available())


def test_jensen_gap_is_log_of_mean_minus_mean_of_logs():
    fig, v = bf.jensen_figure(0.5, 4.0)
    assert v["gap"] == pytest.approx(math.log(2.25) - 0.5 * (math.log(0.5) + math.log(4.0)))
    assert v["gap"] > 0 and fig.axes
    with pytest.raises(ValueError, match="positive"):
        bf.jensen_figure(-1.0, 2.0)


def test_every_elbo_curve_lies_under_the_evidence_and_touches_it_at_its_own_theta():
    _, v = bf.elbo_family_figure(x_obs=2.0, thetas=(0.6, 2.2))
    for tk, elbo in zip(v["thetas"], v["elbos"]):
        assert np.all(elbo <= v["log_px"] + 1e-9)
        i = int(np.argmin(np.abs(v["theta"] - tk)))
        assert elbo[i] == pytest.approx(v["log_px"][i], abs=1e-9)
        assert np.max(v["log_px"] - elbo) > 0.5  # a real gap away from theta_k: the curves are not copies


def test_gap_figure_is_the_gap_identity():
    _, v = bf.elbo_gap_figure()
    np.testing.assert_allclose(v["log_px"] - v["elbo"], v["gap"], atol=1e-9)
    assert v["gap"].min() >= -1e-12
    i = int(np.argmin(v["gap"]))
    assert v["m"][i] == pytest.approx(v["m_star"], abs=0.02)


def test_em_iterates_never_lower_the_evidence():
    _, v = bf.em_figure(steps=3)
    assert np.all(np.diff(v["log_px"]) >= -1e-9)
    assert v["log_px"][-1] > v["log_px"][0] + 0.1  # and they do climb


def test_amortized_encoder_learns_the_posterior_mean_and_variance():
    v = bf.amortized_values()
    a, c, ell = v["phi"]
    w, b, s = v["w"], v["b"], v["s"]
    assert a == pytest.approx(w / (w**2 + s**2), abs=1e-3)
    assert c == pytest.approx(-w * b / (w**2 + s**2), abs=1e-3)
    assert math.exp(ell) == pytest.approx(v["post_var"], rel=1e-3)
    assert v["history"][-1] == pytest.approx(v["mean_log_px"], abs=1e-4)
    assert v["history"][0] < v["mean_log_px"] - 1.0


def test_both_estimators_are_unbiased_and_reparameterization_is_tighter():
    _, v = bf.estimators_figure(n=2000, seed=0)
    for k in ("score_function", "reparameterization"):
        se = v["std"][k] / math.sqrt(v["n"])
        assert abs(v["mean"][k] - v["exact"]) < 4 * se, k
    assert v["std"]["reparameterization"] < v["std"]["score_function"]


def test_reparameterization_paths_average_to_the_expectation():
    _, v = bf.reparameterization_figure(n_paths=12)
    # E f is the exact closed form; the slope of the exact curve at MU is the gradient of the identities' model
    mu, exact = v["mu"], v["exact"]
    i = int(np.argmin(np.abs(mu - 0.5)))
    assert (exact[i + 1] - exact[i - 1]) / (mu[i + 1] - mu[i - 1]) == pytest.approx(v["slope_exact"], rel=1e-3)


def test_gaussian_kl_is_zero_only_at_the_prior():
    _, v = bf.gaussian_kl_figure(sigmas=(0.5, 1.0, 2.0))
    for s, kl in v["kl"].items():
        assert kl.min() >= 0
        assert (kl.min() < 1e-12) == (s == 1.0)


def test_flow_density_integrates_to_one_and_rejects_a_non_invertible_map():
    _, v = bf.flow_figure()
    assert v["integral"] == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(ValueError, match="increasing"):
        bf.flow_figure(a=-2.0, c=1.0)


def test_naive_evidence_estimate_is_biased_low_and_converges():
    _, v = bf.evidence_mc_figure(repeats=100)
    assert v["mean_log"][0] < v["exact"] - 0.5  # log of an unbiased estimate: low for K = 1 (Jensen)
    assert abs(v["median"][-1] - v["exact"]) < 0.05


@pytest.mark.skipif(not _has_results(2, 10, 20), reason="no committed training results")
def test_results_figures_read_the_results_files():
    from training import result_files as rf

    _, terms = bf.elbo_terms_figure((2, 10, 20))
    _, split = bf.surgery_split_figure((2, 10, 20))
    for d in (2, 10, 20):
        t = rf.load(d)["train"]["terms"]
        assert terms[d]["elbo"] == t["elbo"]["value"] and terms[d]["avg_kl"] == t["avg_kl"]["value"]
        assert terms[d]["elbo"] == pytest.approx(terms[d]["reconstruction"] - terms[d]["avg_kl"], abs=1e-6)
        assert split["values"][d]["marginal_kl"] == t["marginal_kl"]["value"]
    _, model = bf.vae_diagram_figure(2)
    assert model["hidden"] == list(rf.load(2)["model"]["hidden"]) and model["latent_dim"] == 2
    _, curves = bf.tug_of_war_figure((2,))
    assert len(curves[2]["epoch"]) == len(rf.load_metrics(2))


@pytest.mark.skipif(not _has_results(2), reason="no committed 2-D results")
def test_manifold_and_interpolation_come_from_the_manifold_file():
    from training import result_files as rf

    man = rf.load_npz(rf.load(2), "manifold")
    _, v = bf.manifold_figure(2)
    assert v["grid"] == man["images"].shape[0]
    _, line = bf.interpolation_figure(2)
    np.testing.assert_array_equal(line["z"][0], man["z"][0, 0])
    np.testing.assert_array_equal(line["z"][-1], man["z"][-1, -1])
    _, codes = bf.latent_codes_figure(2)
    assert codes["n"] == len(rf.load_npz(rf.load(2), "encodings")["mu"])


def test_md_table_escapes_pipes_and_pm_formats_the_error():
    text = bf.md_table([{"finding": "KL(p || q)", "value": bf.pm({"value": 1.2345, "se": 0.0123})}], "cap", "tbl-x")
    assert text.startswith("```{table} cap\n:name: tbl-x")
    row = text.splitlines()[-2]
    assert row.count("|") - row.count("\\|") == 3  # three cell borders: the cell's own || is escaped
    assert "1.23 ±\u00a00.012" in text
    assert bf.pm({"value": 2.0, "se": 0}) == "2.00 (exact)"
    with pytest.raises(ValueError, match="no rows"):
        bf.md_table([], "cap", "tbl-y")


def test_samples_figure_shows_the_committed_samples_file():
    from training import result_files as rf
    from training.samples import load_samples

    s = load_samples(rf.RESULTS_DIR / "beta_sweep" / "vae_d10_e20_beta1.samples.npz")
    fig, v = bf.samples_figure("vae_d10_e20_beta1")
    assert (v["run"], v["epochs"], v["latent_dim"], v["beta"]) == (s["run"], s["epochs"], s["latent_dim"], s["beta"])
    assert v["run"] == "vae_d10_e20_beta1" and v["latent_dim"] == 10 and v["beta"] == 1.0
    assert (v["n_samples"], v["n_recon"]) == (len(s["samples"]), len(s["test_images"]))
    left, right = (ax.get_images()[0].get_array() for ax in fig.axes)
    # left: 8 samples per row, 1 px apart; its first tile is the first sample
    np.testing.assert_array_equal(left[:28, :28], s["samples"][0])
    assert left.shape == (8 * 29 - 1, 8 * 29 - 1)
    # right: pairs (test image | reconstruction), 2 per row, 6 px apart
    np.testing.assert_array_equal(right[:28, :28], s["test_images"][0])
    np.testing.assert_array_equal(right[:28, 29:57], s["reconstructions"][0])
    np.testing.assert_array_equal(right[:28, 63:91], s["test_images"][1])
    np.testing.assert_array_equal(right[34:62, :28], s["test_images"][2])
    assert right.shape == (8 * 28 + 7 * 6, 2 * 57 + 6)


def test_samples_figure_refuses_a_missing_file(tmp_path):
    from training.result_files import ResultsError

    with pytest.raises(ResultsError, match="not found"):
        bf.samples_figure("nothing", results_dir=tmp_path)


def test_table_takes_rows_or_a_frame_and_pm_can_show_an_exact_value_bare():
    pd = pytest.importorskip("pandas")
    rows = [{"a": "1", "b": "x | y"}, {"a": "2", "b": "z"}]
    assert bf.table(rows, "cap", "tbl-z").data == bf.table(pd.DataFrame(rows), "cap", "tbl-z").data \
        == bf.md_table(rows, "cap", "tbl-z")
    assert bf.pm({"value": 2.0, "se": 0}, exact="") == "2.00"
    assert bf.pm({"value": 2.0, "se": 0.5}, exact="") == "2.00 ±\u00a00.500"


@pytest.mark.skipif(not _has_results(2, 10, 20), reason="no committed results")
def test_surgery_page_numbers_come_from_the_results_files():
    from training import result_files as rf
    from vizlab.palette import TERM_LABELS

    rows = bf.surgery_table1_rows((2, 10, 20))
    assert [r[""] for r in rows] == ["ours", "paper"] * 3
    for i, d in enumerate((2, 10, 20)):
        t = rf.load(d)["train"]["terms"]
        assert rows[2 * i][TERM_LABELS["marginal_kl"]] == bf.pm(t["marginal_kl"])
        assert rows[2 * i + 1][TERM_LABELS["elbo"]] == f"{rf.PAPER_TABLE1[d]['elbo']:.2f}"
    for c in bf.surgery_identity_check((2, 10, 20)):
        # the identity holds on the trained models within 4 standard errors, and it is checked with the *direct*
        # MI estimate: with the MI by subtraction the difference would be 0 by construction
        assert abs(c["z"]) < 4 and c["difference"] != 0.0
        t = rf.load(c["D"])["train"]["terms"]
        assert abs(t["avg_kl"]["value"] - t["index_code_mi"]["value"] - t["marginal_kl"]["value"]) < 1e-9
    _, curves = bf.training_curves_figure((2,))
    assert len(curves[2]["epochs"]) == len(rf.load_metrics(2))
    assert curves[2]["test_elbo"] == rf.load(2)["test"]["elbo"]["value"]
    _, a = bf.aggregated_posterior_figure((2, 10), seed=0)
    _, b = bf.aggregated_posterior_figure((2, 10), seed=0)
    enc = rf.load_npz(rf.load(10), "encodings")
    assert a["n_encodings"] == len(enc["mu"]) and a["z"][10].shape == (len(enc["mu"]), 2)
    np.testing.assert_array_equal(a["z"][10], b["z"][10])  # seeded
    # one draw per encoding, around each code: the mean offset from mu is within 4 standard errors of 0
    offset = (a["z"][2] - rf.load_npz(rf.load(2), "encodings")["mu"]) / np.exp(
        0.5 * rf.load_npz(rf.load(2), "encodings")["logvar"])
    assert np.all(np.abs(offset.mean(0)) < 4 / np.sqrt(len(offset)))

"""training.beta_sweep: the sweep's results read back (rate, distortion, active units, the warm-up pair)."""

import json
import shutil

import numpy as np
import pytest

from training import beta_sweep as bs
from training import result_files as rf
from training.io import npz_bytes


def _copy_run(src_name: str, folder, name: str, *, scale_kl: float = 1.0, **objective) -> None:
    """A results file (and companions) in ``folder`` named ``name``, from a committed one, with ``objective`` in
    its config. ``scale_kl`` multiplies the stored encodings' means (to give runs different active units)."""
    r = json.loads((rf.RESULTS_DIR / f"{src_name}.json").read_text())
    r["name"] = name
    r["config"].update(objective)
    r["files"] = {"metrics": f"{name}.metrics.jsonl", "encodings": f"{name}.encodings.npz"}
    (folder / f"{name}.json").write_text(json.dumps(r))
    shutil.copy(rf.RESULTS_DIR / f"{src_name}.metrics.jsonl", folder / f"{name}.metrics.jsonl")
    with np.load(rf.RESULTS_DIR / f"{src_name}.encodings.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["mu"] = (arrays["mu"] * scale_kl).astype(np.float32)
    (folder / f"{name}.encodings.npz").write_bytes(npz_bytes(**arrays))


@pytest.fixture
def sweep_dir(tmp_path):
    for beta, scale in ((0.5, 1.0), (1.0, 1.0), (2.0, 0.0)):
        _copy_run("vae_d10", tmp_path, f"b{beta:g}", scale_kl=scale, beta=beta)
    _copy_run("vae_d10", tmp_path, "b1_warm", beta=1.0, kl_warmup=3)
    _copy_run("vae_d10", tmp_path, "b2_fb", beta=2.0, free_bits=0.5)
    _copy_run("vae_d10_e30", tmp_path, "b4_short", beta=4.0)  # another length: not part of the sweep
    return tmp_path


def test_sweep_points_are_the_plain_runs_of_one_length_by_beta(sweep_dir):
    runs = bs.load_runs(sweep_dir)
    assert len(runs) == 6
    points = bs.sweep_points(runs, sweep_dir)
    assert [p["beta"] for p in points] == [0.5, 1.0, 2.0]
    src = rf.load_path(rf.RESULTS_DIR / "vae_d10.json")["train"]["terms"]
    p = points[1]
    assert p["rate"] == src["avg_kl"] and p["distortion"]["value"] == -src["reconstruction"]["value"]
    assert p["rate"]["value"] + p["distortion"]["value"] == pytest.approx(-p["elbo"]["value"])
    assert p["index_code_mi"] == src["index_code_mi"] and p["units"] == 10 and p["n_encoded"] == 5000


def test_active_units_and_unit_kl_come_from_the_encodings(sweep_dir):
    points = bs.sweep_points(bs.load_runs(sweep_dir), sweep_dir)
    enc = np.load(rf.RESULTS_DIR / "vae_d10.encodings.npz")
    var = enc["mu"].astype(np.float64).var(0, ddof=1)
    assert points[0]["active_units"] == int((var > 0.01).sum()) > 0
    assert points[2]["active_units"] == 0  # every posterior mean set to 0: no unit varies with x
    kl = 0.5 * (np.exp(enc["logvar"].astype(np.float64)) + enc["mu"].astype(np.float64) ** 2 - 1
                - enc["logvar"].astype(np.float64)).mean(0)
    np.testing.assert_allclose(points[0]["unit_kl"], kl, rtol=1e-12)
    # the per-unit KLs of the stored images sum to about the run's average KL over all 60000
    assert points[0]["unit_kl"].sum() == pytest.approx(points[0]["rate"]["value"], rel=0.05)


def test_warmup_pair_finds_the_plain_run_beside_it(sweep_dir):
    pair = bs.warmup_pair(bs.load_runs(sweep_dir), sweep_dir)
    assert pair["warmup"]["kl_warmup"] == 3 and pair["plain"]["kl_warmup"] == 0
    assert pair["warmup"]["beta"] == pair["plain"]["beta"] == 1.0
    assert len(pair["warmup_metrics"]) == len(pair["plain_metrics"]) == pair["plain"]["epochs"]


def test_no_pair_and_no_sweep_without_runs(tmp_path):
    assert bs.load_runs(tmp_path / "absent") == [] and bs.sweep_points([]) == []
    assert bs.warmup_pair([]) is None and bs.iso_elbo_levels([]) == []


def test_a_damaged_sweep_file_is_refused_in_one_line(sweep_dir):
    r = json.loads((sweep_dir / "b1.json").read_text())
    r["config"]["beta"] = -1.0
    (sweep_dir / "b1.json").write_text(json.dumps(r))
    with pytest.raises(rf.ResultsError, match="config.beta"):
        bs.load_runs(sweep_dir)


def test_iso_elbo_levels_bracket_every_point():
    pts = [{"rate": {"value": r}, "distortion": {"value": d}} for r, d in ((2.0, 150.0), (20.0, 78.0), (35.0, 62.0))]
    levels = bs.iso_elbo_levels(pts)
    neg = [p["rate"]["value"] + p["distortion"]["value"] for p in pts]  # 152, 98, 97
    assert levels[0] <= min(neg) and levels[-1] >= max(neg)
    steps = np.diff(levels)
    assert np.allclose(steps, steps[0]) and 3 <= len(levels) <= 8
    assert bs.iso_elbo_levels(pts, step=10.0)[:2] == [90.0, 100.0]


def test_committed_sweep_files_pass_the_schema():
    # the sweep trained for the posterior-collapse chapter (scripts/beta_sweep.sh): every file reads
    runs = bs.load_runs()
    points = bs.sweep_points(runs)
    assert len(points) >= 5 and len({p["epochs"] for p in points}) == 1
    assert bs.warmup_pair(runs) is not None
    for r in runs:
        assert rf.problems(r) == [] and r["model"]["latent_dim"] == 10


def test_free_bits_pairs_match_the_plain_run_of_the_same_beta(sweep_dir):
    pairs = bs.free_bits_pairs(bs.load_runs(sweep_dir), sweep_dir)
    assert len(pairs) == 1
    fb, plain = pairs[0]
    assert (fb["beta"], fb["free_bits"]) == (2.0, 0.5) and (plain["beta"], plain["free_bits"]) == (2.0, 0.0)
    assert plain["active_units"] == 0  # the b2 copy has its posterior means zeroed

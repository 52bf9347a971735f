"""The learned-prior scene (issue 15): its inputs, its contours, the marginal KLs it shows, one -ql render.

Against the frozen fixtures of ``vizlab_fixtures.py`` (``vae_d2.json`` with a ``beyond`` section and
``vae_d2.priors.npz``), so the tests do not change when the trainer's results do.
"""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from vizlab_fixtures import FIXTURE_FITTED, FIXTURE_TRAINED_K, FIXTURE_TRAINED_MKL

from vizlab import data

SCENE = "LearnedPrior"


def test_load_priors_reads_the_results_and_the_npz(fixture_results):
    pri = data.load_priors(2)
    res = json.loads((fixture_results / "vae_d2.json").read_text())
    assert pri["file"] == res["beyond"]["priors_npz"]
    assert pri["standard"]["marginal_kl"][0] == res["train"]["terms"]["marginal_kl"]["value"]
    assert set(pri["priors"]) == set(FIXTURE_FITTED)
    for key, p in pri["priors"].items():
        assert p["marginal_kl"][0] == FIXTURE_FITTED[key]
        k = int(key.split(":")[1])
        assert p["means"].shape == p["logvars"].shape == (k, 2) and p["weights"].shape == (k,)
        assert math.isclose(p["weights"].sum(), 1.0, rel_tol=1e-5)
    assert np.allclose(pri["priors"]["vamp:20"]["weights"], 1 / 20)  # the VampPrior: equal weights
    assert pri["q_agg"].shape[1] == 2
    assert "vae_d2.priors.npz" in [p.name for p in data.priors_paths(2)]


def test_load_trained_prior_reads_the_jointly_trained_model(fixture_results):
    tr = data.load_trained_prior()
    assert tr["run"] == data.TRAINED_PRIOR_RUN and tr["file"] == f"{data.TRAINED_PRIOR_RUN}.priors.npz"
    assert tr["marginal_kl"][0] == FIXTURE_TRAINED_MKL and tr["epochs"] == 40
    assert tr["name"] == f"VampPrior, K = {FIXTURE_TRAINED_K}"
    assert tr["means"].shape == tr["logvars"].shape == (FIXTURE_TRAINED_K, 2)
    assert math.isclose(tr["weights"].sum(), 1.0, rel_tol=1e-5)
    assert tr["q_agg"].shape[1] == 2 and tr["samples"].shape[1] == 2
    names = [p.name for p in data.priors_paths(2)]
    assert names[-2:] == [f"{data.TRAINED_PRIOR_RUN}.json", f"{data.TRAINED_PRIOR_RUN}.priors.npz"]


def test_trained_prior_errors_and_absence(fixture_results, tmp_path, monkeypatch):
    from training.result_files import ResultsError

    d = _copy(fixture_results, tmp_path, monkeypatch)
    res = json.loads((d / "vae_d2_vamp500.json").read_text())
    res["config"]["prior"] = "standard"
    (d / "vae_d2_vamp500.json").write_text(json.dumps(res))
    with pytest.raises(ResultsError, match="not a learned prior") as err:
        data.load_trained_prior()
    assert "\n" not in str(err.value)
    res["config"]["prior"] = "vamp:7"  # the file holds 30 components
    (d / "vae_d2_vamp500.json").write_text(json.dumps(res))
    with pytest.raises(ResultsError, match="needs 7"):
        data.load_trained_prior()
    (d / "vae_d2_vamp500.json").unlink()
    assert data.load_trained_prior() is None
    assert data.load_priors(2) is not None  # the fitted priors do not depend on it


def _copy(fixture_results, tmp_path, monkeypatch):
    d = tmp_path / "results"
    shutil.copytree(fixture_results, d)
    monkeypatch.setenv("ELBO_LAB_RESULTS_DIR", str(d))
    return d


def test_missing_priors_give_none_and_a_visible_note(fixture_results, tmp_path, monkeypatch):
    from vizlab.readability import texts_at_end
    from vizlab.scenes import get_spec

    d = _copy(fixture_results, tmp_path, monkeypatch)
    (d / "vae_d2.priors.npz").unlink()
    assert data.load_priors(2) is None
    texts = texts_at_end(get_spec(SCENE).load())
    assert any("novae_d2.priors.npz" in t for t in texts)  # Manim's Text drops spaces from .text


def test_damaged_priors_npz_is_a_one_line_error(fixture_results, tmp_path, monkeypatch):
    from training.result_files import ResultsError

    d = _copy(fixture_results, tmp_path, monkeypatch)
    with np.load(d / "vae_d2.priors.npz") as z:
        arrays = {k: z[k] for k in z.files if k != "mog_means"}
    np.savez(d / "vae_d2.priors.npz", **arrays)
    with pytest.raises(ResultsError, match="mog_means") as err:
        data.load_priors(2)
    assert "\n" not in str(err.value)
    (d / "vae_d2.priors.npz").write_bytes(b"not a zip")
    with pytest.raises(ResultsError, match="cannot be read"):
        data.load_priors(2)


def test_hdr_contours_of_the_standard_normal_are_the_exact_circles():
    """For N(0, I) the region holding mass m is the disc of radius sqrt(-2 log(1 - m)); the level comes from
    seeded draws, so the radius is exact up to the draws' quantile error (about 1 % at 20000 draws)."""
    from vizlab.scenes.ch08_priors import MASSES, hdr_contours

    rng = np.random.default_rng(0)
    prior = {"weights": np.ones(1), "means": np.zeros((1, 2)), "logvars": np.zeros((1, 2)),
             "samples": rng.standard_normal((20000, 2))}
    for m, lines in zip(MASSES, hdr_contours(prior)):
        assert len(lines) == 1
        r = np.hypot(*lines[0].T)
        assert np.allclose(r, math.sqrt(-2 * math.log(1 - m)), rtol=0.03), (m, r.min(), r.max())


def test_scene_shows_each_marginal_kl_shrinking_left_to_right(fixture_results):
    from vizlab.readability import build_scene, labels_on_screen
    from vizlab.scenes import get_spec
    from vizlab.style import fmt_nats

    pri = data.load_priors(2)
    want = [pri["standard"]["marginal_kl"][0]] + sorted((v for v in FIXTURE_FITTED.values()), reverse=True)
    scene = build_scene(get_spec(SCENE).load())
    found = {m.text: m.get_center()[0] for m in labels_on_screen(scene.mobjects) if hasattr(m, "text")}
    readouts = [fmt_nats(v, digits=3, unit="") for v in want]
    assert all(r in found for r in readouts), (readouts, sorted(found))
    xs = [found[r] for r in readouts]
    assert xs == sorted(xs)  # largest KL (N(0, I)) at the left, each fitted prior's bar to its right
    assert any("0.050" in t and "marginalKL" in t for t in found)  # the last caption: the smallest KL


def test_scene_is_registered_with_its_inputs(fixture_results):
    from vizlab.scenes import SCENE_NAMES, get_spec

    assert SCENE in SCENE_NAMES
    names = [p.name for p in get_spec(SCENE).inputs()]
    assert "vae_d2.json" in names and "vae_d2.priors.npz" in names and "elbo_surgery.py" in names


def test_scene_renders_at_low_quality(fixture_results, tmp_path):
    """One -ql render of this scene only: 854 x 480, 8-30 s, last frame not blank."""
    import av

    from vizlab.render import render_scene
    from vizlab.scenes import get_spec

    res = render_scene(get_spec(SCENE), "l", tmp_path)
    with av.open(str(res.video)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (854, 480)
        seconds = float(container.duration) / av.time_base
    assert 8.0 <= seconds <= 30.0
    assert res.last_frame.std() > 5

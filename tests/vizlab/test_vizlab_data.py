"""vizlab.data reads the trainer's result files through training.result_files and tolerates missing ones."""

import math

import numpy as np
import pytest

from vizlab import data


def test_results_dir_override(fixture_results):
    assert data.results_dir() == fixture_results.resolve()
    assert data.available_dims() == [2, 10]


def test_load_results_and_terms(fixture_results):
    res = data.load_results(2)
    from training.result_files import SCHEMA

    assert res["schema"] == SCHEMA and res["units"] == "nats"
    value, se = data.term(res, "avg_kl")
    mi, _ = data.term(res, "index_code_mi")
    mkl, _ = data.term(res, "marginal_kl")
    assert math.isclose(value, mi + mkl) and se > 0
    assert data.term(res, "elbo", split="test")[0] < 0
    assert data.term(res, "no_such_term") is None


def test_missing_files_give_none(fixture_results):
    assert data.load_results(20) is None
    assert data.load_npz(20, "encodings") is None


def test_npz_companions(fixture_results):
    enc = data.load_npz(2, "encodings")
    assert set(enc) == {"mu", "logvar", "labels"} and enc["mu"].shape[1] == 2
    man = data.load_npz(2, "manifold")
    g = man["z"].shape[0]
    assert man["z"].shape == (g, g, 2) and man["images"].shape == (g, g, 28, 28)
    assert np.all((man["images"] >= 0) & (man["images"] <= 1))


def test_declared_inputs_name_result_files(fixture_results):
    from vizlab.scenes import get_spec

    names = {p.name for p in get_spec("ElboSurgery").inputs()}
    assert {"vae_d2.json", "vae_d10.json", "vae_d20.json", "vae_d2.encodings.npz", "elbo_surgery.py"} <= names
    assert {p.name for p in get_spec("LearnedManifold").inputs()} == {"vae_d2.json", "vae_d2.manifold.npz"}


def test_each_latent_size_has_its_committed_results():
    """Every latent size of the one list (``training.result_files.LATENT_DIMS``, Table 1's, which vizlab re-exports:
    the same object, so that is not asserted) has a committed results file, which the book and the scenes read."""
    from training import result_files

    assert set(data.LATENT_DIMS) <= set(result_files.available(result_files.RESULTS_DIR))


def test_invalid_file_is_an_error_not_a_missing_one(fixture_results, tmp_path, monkeypatch):
    """A results file with the wrong schema raises training.result_files' error (only absence gives None)."""
    import json

    from training.result_files import ResultsError

    bad = json.loads((fixture_results / "vae_d2.json").read_text())
    bad["schema"] = "elbo-lab/results/v0"
    (tmp_path / "vae_d2.json").write_text(json.dumps(bad))
    monkeypatch.setenv("ELBO_LAB_RESULTS_DIR", str(tmp_path))
    with pytest.raises(ResultsError):
        data.load_results(2)
    assert data.load_results(10) is None

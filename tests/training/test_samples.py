"""training.samples: the samples file of a trained run holds what its docstring says, and bad input is one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.io import UsageError
from training.result_files import ResultsError
from training.samples import load_samples, main, write_samples
from training.train import train

from training_fixtures import train_config


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 1-epoch D = 3 run on random images, and its labeled test set (100 images)."""
    tmp = tmp_path_factory.mktemp("samples")
    g = torch.Generator().manual_seed(0)
    tr, te = torch.rand(300, 784, generator=g) * 0.6, torch.rand(100, 784, generator=g) * 0.6
    run = train(train_config(tmp, latent_dim=3, out_dir=str(tmp / "run_a")), data=(tr, te))
    return run, (te, torch.arange(100) % 10)


def test_file_holds_samples_reconstructions_and_provenance(tmp_path, tiny_run):
    run, test = tiny_run
    out = write_samples(run, tmp_path / "res" / "a.samples.npz", n_samples=64, n_recon=16, seed=5, test_data=test)
    assert out.stat().st_size < 300_000
    s = load_samples(out)
    assert s["samples"].shape == (64, 28, 28) and s["test_images"].shape == s["reconstructions"].shape == (16, 28, 28)
    assert (s["run"], s["seed"], s["epochs"], s["latent_dim"], s["beta"]) == ("run_a", 5, 1, 3, 1.0)
    np.testing.assert_array_equal(s["labels"], np.arange(16) % 10)
    assert set(np.unique(s["test_images"])) <= {0.0, 1.0}
    # the stored test images are a Bernoulli draw of the grey images: pixels whose grey level is 0 are never on
    assert not s["test_images"].reshape(16, -1)[test[0][:16].numpy() == 0].any()
    # reconstructions are the decoder's Bernoulli means at the encoder's mean of the stored binary images
    from training.checkpoint import load_model

    model, _, _ = load_model(run)
    with torch.no_grad():
        x = torch.from_numpy(s["test_images"].reshape(16, 784))
        p = torch.sigmoid(model.decode(model.encode(x)[0])).numpy().reshape(16, 28, 28)
    assert np.abs(s["reconstructions"] - p).max() <= 0.5 / 255 + 1e-6
    assert s["samples"].min() >= 0 and s["samples"].max() <= 1


def test_same_seed_same_file_other_seed_other_samples(tmp_path, tiny_run):
    run, test = tiny_run
    a = load_samples(write_samples(run, tmp_path / "a.npz", seed=1, test_data=test))
    b = load_samples(write_samples(run, tmp_path / "b.npz", seed=1, test_data=test))
    c = load_samples(write_samples(run, tmp_path / "c.npz", seed=2, test_data=test))
    for k in ("samples", "test_images", "reconstructions"):
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["samples"], c["samples"])


def test_samples_follow_the_prior_through_the_decoder(tmp_path, tiny_run):
    """The mean of many stored samples matches the decoder's mean under z ~ N(0, I), within Monte Carlo error."""
    run, test = tiny_run
    s = load_samples(write_samples(run, tmp_path / "m.npz", n_samples=1024, n_recon=1, seed=0, test_data=test))
    from training.checkpoint import load_model

    model, _, _ = load_model(run)
    with torch.no_grad():
        ref = torch.sigmoid(model.decode(torch.randn(20000, 3, generator=torch.Generator().manual_seed(99))))
    ref = ref.numpy().reshape(-1, 28, 28)
    mean, se = s["samples"].mean(0), s["samples"].std(0) / np.sqrt(1024)
    assert np.all(np.abs(mean - ref.mean(0)) <= 5 * se + 1 / 255)


def test_bad_options_and_damaged_files_are_one_line(tmp_path, tiny_run, capsys):
    run, test = tiny_run
    with pytest.raises(UsageError, match="--n-recon 200 is more than the 100 test images"):
        write_samples(run, tmp_path / "x.npz", n_recon=200, test_data=test)
    with pytest.raises(UsageError, match=r"must name a file ending in \.npz"):
        write_samples(run, tmp_path / "x.txt", test_data=test)
    (tmp_path / "d.npz").mkdir()
    with pytest.raises(UsageError, match="not a regular file"):
        write_samples(run, tmp_path / "d.npz", test_data=test)
    with pytest.raises(UsageError, match="--seed -1 is out of range"):
        write_samples(run, tmp_path / "x.npz", seed=-1, test_data=test)
    assert not (tmp_path / "x.npz").exists()

    assert main([str(tmp_path / "no_run"), "--out", str(tmp_path / "y.npz")]) == 2
    assert main([str(run), "--out", str(tmp_path / "y.npz"), "--n-samples", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("error: ") for e in err)
    assert "checkpoint.pt not found" in err[0] and "--n-samples" in err[1]

    good = write_samples(run, tmp_path / "g.npz", test_data=test)
    (tmp_path / "cut.npz").write_bytes(good.read_bytes()[:200])
    with pytest.raises(ResultsError, match="cannot be read as .npz"):
        load_samples(tmp_path / "cut.npz")
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files if k != "reconstructions"}
    np.savez(tmp_path / "partial.npz", **arrays)
    with pytest.raises(ResultsError, match="field reconstructions is missing"):
        load_samples(tmp_path / "partial.npz")
    with pytest.raises(ResultsError, match="not found"):
        load_samples(tmp_path / "none.npz")

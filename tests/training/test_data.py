import gzip
import shutil

import pytest
import torch

from training.data import DataError, binarize, load_mnist, prepare_mnist, resolve_data_root


def test_load_tiny_mnist_shapes_and_range(tiny_mnist):
    x, y = load_mnist(True, tiny_mnist, verify=False)
    assert x.shape == (300, 784) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert y.shape == (300,) and y.dtype == torch.int64


def test_sha256_mismatch_is_one_line_error_naming_file(tiny_mnist):
    with pytest.raises(DataError) as e:
        prepare_mnist(tiny_mnist, verify=True)
    msg = str(e.value)
    assert "\n" not in msg and "idx" in msg and "sha256" in msg


def test_missing_data_names_the_fix(tmp_path):
    with pytest.raises(DataError) as e:
        load_mnist(True, tmp_path / "nowhere")
    assert "ELBO_LAB_DATA" in str(e.value) and "\n" not in str(e.value)


def test_gz_only_root_is_decompressed_into_cache(tiny_mnist, tmp_path, monkeypatch):
    packed = tmp_path / "packed"
    raw = packed / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (tiny_mnist / "MNIST" / "raw").iterdir():
        with open(f, "rb") as src, gzip.open(raw / (f.name + ".gz"), "wb") as dst:
            shutil.copyfileobj(src, dst)
    monkeypatch.setenv("ELBO_LAB_CACHE", str(tmp_path / "cache"))
    raw.chmod(0o555)  # read-only, like ../shared/datasets
    try:
        x, _ = load_mnist(False, packed, verify=False)
    finally:
        raw.chmod(0o755)
    assert x.shape == (100, 784)
    assert any((tmp_path / "cache").rglob("t10k-images-idx3-ubyte"))


def test_data_root_resolution_order(monkeypatch, tmp_path):
    monkeypatch.setenv("ELBO_LAB_DATA", str(tmp_path / "env"))
    assert resolve_data_root(tmp_path / "arg") == (tmp_path / "arg").resolve()
    assert resolve_data_root(None) == (tmp_path / "env").resolve()
    monkeypatch.delenv("ELBO_LAB_DATA")
    monkeypatch.chdir(tmp_path)
    assert resolve_data_root(None) == (tmp_path / "data").resolve()


def test_binarization_is_dynamic_and_unbiased():
    g = torch.full((2000, 784), 0.3)
    a, b = binarize(g, torch.Generator().manual_seed(1)), binarize(g, torch.Generator().manual_seed(2))
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(a, b)  # a fresh draw each time
    # mean of 1.568e6 Bernoulli(0.3) draws: se = sqrt(.21/1.568e6) = 3.7e-4; allow 5 se
    assert abs(a.mean().item() - 0.3) < 5 * (0.21 / a.numel()) ** 0.5


@pytest.mark.skipif("not __import__('os').environ.get('ELBO_LAB_DATA')", reason="real MNIST not configured")
def test_real_mnist_verifies():
    x, y = load_mnist(False)
    assert x.shape == (10000, 784)
    # label counts of the test split are published; check the total and the pixel mean of [0,1] grey levels
    assert y.bincount().sum().item() == 10000
    assert abs(x.mean().item() - 0.1325) < 2e-3


def test_binarization_matches_each_pixel_probability():
    # P(x_d = 1) = g_d pixel by pixel, including the ends g = 0 and g = 1
    g = torch.linspace(0, 1, 784).expand(4000, 784)
    x = binarize(g, torch.Generator().manual_seed(3))
    assert x[:, 0].sum() == 0 and x[:, -1].sum() == 4000
    se = (g[0] * (1 - g[0]) / 4000).sqrt().clamp_min(1e-6)
    assert ((x.mean(0) - g[0]).abs() <= 5 * se).all()
    # the twin: a binarization at threshold 0.5 (static, biased) is rejected by the same check
    static = (g > 0.5).float()
    assert not ((static.mean(0) - g[0]).abs() <= 5 * se).all()

import json
import math

import pytest
import torch

from training.__main__ import main as cli_main
from training.config import ConfigError, TrainConfig
from training.estimators import iwae_bound
from training.evaluate import evaluate_run
from training.elbo_step import ManualElboStep
from training.model import gaussian_kl_to_standard_normal
from training.checkpoint import load_model
from training.train import TrainingDiverged, train

from training_fixtures import poison_forward, train_config as _cfg
def test_one_epoch_smoke_run_writes_metrics_and_checkpoint(tmp_path, tiny_images):
    out = train(_cfg(tmp_path), data=tiny_images)
    lines = (out / "metrics.jsonl").read_text().splitlines()
    m = json.loads(lines[0])
    assert len(lines) == 1 and m["epoch"] == 1
    assert math.isfinite(m["elbo"]) and m["elbo"] < 0 and m["avg_kl"] >= 0
    assert m["elbo"] == pytest.approx(m["reconstruction"] - m["avg_kl"], rel=1e-5)
    assert m["test_elbo"] is not None and m["images_per_s"] > 0
    assert json.loads((out / "config.json").read_text())["latent_dim"] == 2
    model, cfg, epochs = load_model(out)
    assert epochs == 1 and cfg.hidden == (32,)


@pytest.mark.parametrize("gradients", ["manual", "autograd"])
def test_resume_ends_with_same_parameters_as_uninterrupted(tmp_path, tiny_images, gradients):
    full = train(_cfg(tmp_path / "a", epochs=3, gradients=gradients), data=tiny_images)
    part = train(_cfg(tmp_path / "b", epochs=1, gradients=gradients), data=tiny_images)
    train(_cfg(tmp_path / "b", epochs=3, gradients=gradients), resume=True, data=tiny_images)
    ma, _, ea = load_model(full)
    mb, _, eb = load_model(part)
    assert ea == eb == 3
    for (na, pa), (nb, pb) in zip(ma.state_dict().items(), mb.state_dict().items()):
        assert na == nb and torch.equal(pa, pb), na
    ja = (full / "metrics.jsonl").read_text().splitlines()
    jb = (part / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(l)["elbo"] for l in ja] == [json.loads(l)["elbo"] for l in jb]


@pytest.mark.parametrize("field, value", [("latent_dim", 3), ("hidden", (16,)), ("seed", 4), ("train_subset", 200),
                                          ("activation", "relu")])
def test_resume_with_another_identity_is_refused(tmp_path, tiny_images, field, value):
    train(_cfg(tmp_path), data=tiny_images)
    with pytest.raises(ConfigError, match=f"other {field}"):
        train(_cfg(tmp_path, epochs=2, **{field: value}), resume=True, data=tiny_images)


@pytest.mark.parametrize("gradients", ["manual", "autograd"])
def test_nan_stops_run_and_keeps_last_good_checkpoint(tmp_path, tiny_images, monkeypatch, gradients):
    out = train(_cfg(tmp_path, epochs=1, gradients=gradients), data=tiny_images)
    good = torch.load(out / "checkpoint.pt", weights_only=True)["model"]
    if gradients == "autograd":
        poison_forward(monkeypatch)
    else:
        orig_step = ManualElboStep.step

        def poisoned_step(self, x):
            elbo, rec, kl = orig_step(self, x)
            return elbo * float("nan"), rec, kl

        monkeypatch.setattr(ManualElboStep, "step", poisoned_step)
    with pytest.raises(TrainingDiverged, match="non-finite ELBO .* epoch 2.*--resume --lr"):
        train(_cfg(tmp_path, epochs=2, gradients=gradients), resume=True, data=tiny_images)
    kept = torch.load(out / "checkpoint.pt", weights_only=True)
    assert kept["epoch"] == 1
    assert all(torch.equal(kept["model"][k], good[k]) for k in good)


@pytest.mark.parametrize("kw, word", [
    ({"latent_dim": 0}, "latent_dim"), ({"lr": 0.0}, "lr"), ({"lr": -1.0}, "lr"),
    ({"device": "tpu"}, "device"), ({"batch_size": 10_000}, "batch_size"), ({"gradients": "finite"}, "gradients"),
])
def test_bad_config_is_rejected(tmp_path, tiny_images, kw, word):
    with pytest.raises(ConfigError, match=word):
        train(_cfg(tmp_path, **kw), data=tiny_images)


@pytest.mark.parametrize("args, word", [
    (["--latent-dim", "0"], "latent_dim"), (["--lr", "0"], "lr"), (["--device", "tpu"], "device"),
    (["--batch-size", "1000"], "larger than"), (["--batch-size", "100000"], "out of range"),
])
def test_cli_bad_config_is_one_line_exit_2(tmp_path, tiny_mnist, capsys, args, word):
    rc = cli_main(["train", "--data-root", str(tiny_mnist), "--no-verify-data", "--out-dir", str(tmp_path / "r"),
                   "--no-progress", "--test-every", "0", *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and word in err and "\n" not in err and "Traceback" not in err


def _log_px_by_quadrature(model, x, half_width=6.0, points=101):
    r"""$\log p(x) = \log \int p(x|z) p(z) dz$ for a D = 2 model, by the midpoint rule on a square grid. Nats, (n,).

    For the tiny model below (posterior sigma ~0.4) this grid agrees with a 481-point one to 1e-5 nats (measured).
    """
    from training.model import log_standard_normal

    g = torch.linspace(-half_width, half_width, points, dtype=torch.float64)
    z = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    log_cell = 2 * math.log(float(g[1] - g[0]))
    out = []
    with torch.no_grad():
        for xi in x:
            lj = torch.cat([model.log_px_given_z(xi[None], model.decode(c.float())).double() + log_standard_normal(c)
                            for c in z.split(40_000)])
            out.append(torch.logsumexp(lj, 0) + log_cell)
    return torch.stack(out)


def test_iwae_bound_lies_between_the_elbo_and_log_px(tmp_path, tiny_images):
    # ELBO <= IWAE_1 (equal in expectation) <= IWAE_K <= log p(x), with log p(x) computed exactly enough by
    # quadrature over the 2-D latent space; a bound that forgets the -log K of Burda et al. (eq. 8) exceeds it.
    out = train(_cfg(tmp_path, epochs=2), data=tiny_images)
    model, _, _ = load_model(out)
    x = torch.bernoulli(tiny_images[1][:12], generator=torch.Generator().manual_seed(0))
    log_px = _log_px_by_quadrature(model, x)
    mu, logvar = model.encode(x)
    with torch.no_grad():
        z = mu + torch.exp(0.5 * logvar) * torch.randn((400, *mu.shape), generator=torch.Generator().manual_seed(2))
        elbo = (model.log_px_given_z(x, model.decode(z)).double().mean(0)
                - gaussian_kl_to_standard_normal(mu.double(), logvar.double()))  # (n,), 400 samples per image
    _, b1 = iwae_bound(model, x, k=1, seed=1)
    _, b1000 = iwae_bound(model, x, k=1000, seed=1)
    se = lambda d: (d.std() / math.sqrt(len(d))).item()  # noqa: E731 - standard error of a mean over images
    assert abs((b1 - elbo).mean().item()) < 4 * se(b1 - elbo)  # IWAE with K = 1 is the ELBO, in expectation
    assert (log_px - elbo).min() > 0  # the ELBO is a lower bound, here strictly (the posterior is not Gaussian)
    gap_1000 = (log_px - b1000).mean().item()
    assert -3 * se(log_px - b1000) < gap_1000 < 0.5 * (log_px - elbo).mean().item()
def _independent_terms(model, images, draws=20, q_agg_draws=40_000):
    """The results file's terms computed another way: ``torch.distributions`` densities, ``draws`` samples per
    image for the reconstruction term, and the aggregated posterior as a ``MixtureSameFamily`` sampled
    ``q_agg_draws`` times. Each Monte Carlo value comes with its standard error: ``{name: (value, se)}``."""
    from torch.distributions import (Bernoulli, Categorical, Independent, MixtureSameFamily, Normal,
                                     kl_divergence)

    from training.data import binarize

    gen = torch.Generator().manual_seed(0)  # the evaluation's fixed binarization: training set, then test set
    xtr, xte = binarize(images[0], gen), binarize(images[1], gen)
    g = torch.Generator().manual_seed(123)
    out = {}
    with torch.no_grad():
        for split, x in (("train", xtr), ("test", xte)):
            mu, logvar = (a.double() for a in model.encode(x))
            q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
            p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
            kl = kl_divergence(q, p).mean().item()
            z = mu + torch.exp(0.5 * logvar) * torch.randn((draws, *mu.shape), generator=g, dtype=torch.float64)
            rec = Independent(Bernoulli(logits=model.decode(z.float()).double()), 1).log_prob(x.double())  # (S, n)
            rec_se = math.sqrt((rec.var(0) / draws).sum().item()) / len(x)
            rec_v = rec.mean().item()
            if split == "train":
                out.update(avg_kl=kl, reconstruction=(rec_v, rec_se), elbo=(rec_v - kl, rec_se))
                n = len(mu)
                q_agg = MixtureSameFamily(Categorical(logits=torch.zeros(n, dtype=torch.float64)),
                                          Independent(Normal(mu, torch.exp(0.5 * logvar)), 1))
                idx = torch.randint(0, n, (q_agg_draws,), generator=g)
                zs = mu[idx] + torch.exp(0.5 * logvar[idx]) * torch.randn((q_agg_draws, mu.shape[1]), generator=g,
                                                                          dtype=torch.float64)
                lq_agg = q_agg.log_prob(zs)
                lq_own = Independent(Normal(mu[idx], torch.exp(0.5 * logvar[idx])), 1).log_prob(zs)
                lp = Independent(Normal(torch.zeros(mu.shape[1], dtype=torch.float64),
                                        torch.ones(mu.shape[1], dtype=torch.float64)), 1).log_prob(zs)
                for name, v in (("marginal_kl", lq_agg - lp), ("index_code_mi", lq_own - lq_agg)):
                    out[name] = (v.mean().item(), v.std().item() / math.sqrt(len(v)))
            else:
                out["test_elbo"] = (rec_v - kl, rec_se)
    return out


def test_evaluate_writes_contract_files(tmp_path, tiny_images):
    out = train(_cfg(tmp_path, epochs=1), data=tiny_images)
    labels = torch.zeros(300, dtype=torch.int64), torch.zeros(100, dtype=torch.int64)
    res = evaluate_run(out, results_dir=tmp_path / "res", iwae_k=10, iwae_images=5,
                       data=((tiny_images[0], labels[0]), (tiny_images[1], labels[1])))
    r = json.loads(res.read_text())
    t = r["train"]["terms"]
    assert r["schema"] == "elbo-lab/results/v1" and r["units"] == "nats"
    assert r["train"]["log_n"] == pytest.approx(math.log(300))
    # The terms against an independent computation (torch.distributions, many more draws), on the same fixed
    # binarization (seed 0, train then test): the closed-form KL to ~float32 precision, the Monte Carlo terms
    # within 4 combined standard errors.
    ref = _independent_terms(load_model(out)[0], tiny_images)
    assert t["avg_kl"]["value"] == pytest.approx(ref["avg_kl"], abs=1e-4) and t["avg_kl"]["se"] == 0
    for key, got, want in (("reconstruction", t["reconstruction"], ref["reconstruction"]),
                           ("elbo", t["elbo"], ref["elbo"]), ("test elbo", r["test"]["elbo"], ref["test_elbo"]),
                           ("marginal_kl", t["marginal_kl"], ref["marginal_kl"]),
                           ("index_code_mi_direct", t["index_code_mi_direct"], ref["index_code_mi"]),
                           ("index_code_mi", t["index_code_mi"], ref["index_code_mi"])):
        assert abs(got["value"] - want[0]) < 4 * math.hypot(got["se"], want[1]), (key, got, want)
    for k in ("command", "seed", "epochs", "git_commit", "device", "wall_time_s"):
        assert k in r["provenance"]
    import numpy as np

    enc = np.load(tmp_path / "res" / r["files"]["encodings"])
    assert enc["mu"].shape == (300, 2) and enc["labels"].shape == (300,)
    man = np.load(tmp_path / "res" / r["files"]["manifold"])
    assert man["images"].shape == (20, 20, 28, 28) and man["z"].shape == (20, 20, 2)


def test_configs_saved_before_the_gradients_field_read_as_autograd():
    d = TrainConfig().to_dict()
    del d["gradients"]
    assert TrainConfig.from_dict(d).gradients == "autograd"
    assert TrainConfig().gradients == "manual"


def test_every_config_field_has_help_text(capsys):
    # --help is built from each TrainConfig field's metadata["help"]; a field without one would break the parser
    import dataclasses

    from training.__main__ import field_help

    helps = field_help()
    assert set(helps) == {f.name for f in dataclasses.fields(TrainConfig)}
    assert all(len(v) > 10 for v in helps.values())
    assert cli_main(["train", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for f in dataclasses.fields(TrainConfig):  # each field's flag and the start of its help text are shown
        assert "--" + f.name.replace("_", "-") in out and " ".join(f.metadata["help"].split())[:30] in out, f.name

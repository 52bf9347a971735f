"""training.prior_study: the IWAE bound against K, active units, the fitted priors (on a tiny model)."""

import math

import pytest
import torch

from training_fixtures import train_config, write_idx_mnist
from training.model import VAE
from training.estimators import active_units
from training.prior_study import fit_prior, iwae_vs_k
from training.surgery_estimators import aggregated_posterior_estimates


def _model_and_data(seed=0):
    torch.manual_seed(seed)
    model = VAE(latent_dim=2, hidden=(16,)).eval()
    x = (torch.rand(12, 784, generator=torch.Generator().manual_seed(1)) < 0.2).float()
    return model, x


def test_iwae_k1_is_the_elbo_and_the_bound_rises_with_k():
    model, x = _model_and_data()
    b = iwae_vs_k(model, x, ks=(1, 10, 100), chunk=37, seed=0)
    with torch.no_grad():
        elbo = torch.stack([model(x).elbo for _ in range(300)]).double()  # (300, 12)
    ref = elbo.mean()
    se_ref = elbo.mean(1).std() / math.sqrt(300)
    # L_1 averaged over 100 groups of one draw per image is the ELBO of these images
    assert abs(b["1"]["value"] - ref.item()) < 4 * math.hypot(se_ref.item(), elbo.std().item() / math.sqrt(12 * 100))
    assert b["1"]["value"] < b["10"]["value"] < b["100"]["value"]  # Burda et al. (2016), theorem 1
    with pytest.raises(ValueError, match="divide"):
        iwae_vs_k(model, x, ks=(3, 10))


def test_active_units_counts_variance_above_threshold():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(20000, 3, generator=g) * torch.tensor([1.0, 0.2, 0.05])  # variances 1, 0.04, 0.0025
    a = active_units(mu)
    assert a["count"] == 2 and a["of"] == 3
    assert a["variance_per_unit"][1] == pytest.approx(0.04, rel=0.05)


def test_fitted_mixture_prior_lowers_the_marginal_kl():
    g = torch.Generator().manual_seed(0)
    mu = torch.cat([torch.randn(200, 2, generator=g) * 0.3 + 3.0, torch.randn(200, 2, generator=g) * 0.3 - 3.0])
    logvar = torch.full_like(mu, -2.0)
    model, _ = _model_and_data()
    prior, trace, _ = fit_prior(model, mu, logvar, "mog", 4, steps=300, seed=0)
    with torch.no_grad():
        fitted = aggregated_posterior_estimates(mu, logvar, num_samples=4000, seed=1, prior=prior.distribution())["marginal_kl"]
    standard = aggregated_posterior_estimates(mu, logvar, num_samples=4000, seed=1)["marginal_kl"]
    assert fitted.value < standard.value - 4 * math.hypot(fitted.se, standard.se)
    assert trace[-1] > trace[0]


@pytest.mark.parametrize("spec", ["mog:3", "vamp:4"])
def test_learned_prior_components_rebuild_the_trained_prior(spec):
    """The components stored for the 2-D scene are the model's own prior: the mixture they define has its log-density."""
    from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

    from training.prior_study import learned_prior_components

    torch.manual_seed(0)
    model = VAE(latent_dim=2, hidden=(16,), prior=spec).eval()
    with torch.no_grad():
        model.prior.pseudo_raw.uniform_(0, 1) if spec.startswith("vamp") else model.prior.logits.normal_()
        c = {k: torch.as_tensor(v) for k, v in learned_prior_components(model).items()}
        rebuilt = MixtureSameFamily(Categorical(probs=c["learned_weights"]),
                                    Independent(Normal(c["learned_means"], torch.exp(0.5 * c["learned_logvars"])), 1))
        z = torch.randn(50, 2, generator=torch.Generator().manual_seed(2)) * 2
        torch.testing.assert_close(rebuilt.log_prob(z), model.prior_distribution().log_prob(z), rtol=1e-5, atol=1e-5)
        # a wrong component set (the means moved by 0.3) is told apart
        wrong = MixtureSameFamily(Categorical(probs=c["learned_weights"]),
                                  Independent(Normal(c["learned_means"] + 0.3, torch.exp(0.5 * c["learned_logvars"])), 1))
        assert not torch.allclose(wrong.log_prob(z), model.prior_distribution().log_prob(z), atol=1e-3)


def test_learned_prior_components_refuse_the_standard_prior():
    from training.prior_study import learned_prior_components

    with pytest.raises(ValueError, match="not learned"):
        learned_prior_components(VAE(latent_dim=2, hidden=(16,)))


# --- issue 23: every case is one line (exit 2 usage, 1 failure), no file outside --results-dir ----------------

import json
from pathlib import Path


@pytest.fixture(scope="module")
def study_dirs(tmp_path_factory):
    """A trained tiny run ``runs/vae_d2`` with its results file ``res/vae_d2.json``, on a tiny IDX MNIST."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))

    from training.evaluate import evaluate_run
    from training.train import train

    base = tmp_path_factory.mktemp("study")
    data = write_idx_mnist(base / "data", n_train=300, n_test=40)
    cfg = train_config(base, out_dir=str(base / "runs" / "vae_d2"), hidden=(16,), epochs=1)
    cfg.data_root, cfg.verify_data = str(data), False
    run = train(cfg)
    evaluate_run(run, name="vae_d2", results_dir=base / "res", data_root=str(data), iwae_k=2, iwae_images=2,
                 threads=1, verify=False)
    return base, data


def _study(capsys, base, data, *extra, names=("vae_d2",)):
    from training.prior_study import main

    args = [*names, "--runs", str(base / "runs"), "--results-dir", str(base / "res"), "--data-root", str(data),
            "--no-verify-data", "--iwae-images", "2", "--fit-steps", "0", "--threads", "1", *map(str, extra)]
    rc = main(args)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if rc != 0:
        assert err.startswith("error: ") and err.count("\n") == 1 and "unexpected" not in err, err
    return rc, err


def _tree(base):
    return {p.relative_to(base): (p.read_bytes() if p.is_file() else None) for p in sorted(base.rglob("*"))}


@pytest.mark.parametrize("extra, named", [
    (["--iwae-images", "0"], "--iwae-images"), (["--iwae-images", "1"], "--iwae-images"),
    (["--iwae-images", "nan"], "--iwae-images"), (["--threads", "-1"], "--threads"), (["--threads", "inf"], "--threads"),
    (["--threads", "100000"], "--threads"), (["--fit-k", "0"], "--fit-k"), (["--fit-k", "nan"], "--fit-k"),
    (["--fit-steps", "-1"], "--fit-steps"), (["--surgery-samples", "0"], "--surgery-samples"),
    (["--surgery-samples", "1e9"], "--surgery-samples"), (["--runs", "NOWHERE"], "--runs"),
    (["--measure-to", "x", "--merge-from", "y"], "not allowed"), (["--measure-to", "RES/vae_d2.json"], "--measure-to"),
    (["--merge-from", "NOWHERE"], "--measure-to"), (["--bogus"], "--bogus"),
])
def test_bad_options_are_one_line_usage_errors(study_dirs, capsys, extra, named):
    base, data = study_dirs
    before = _tree(base)
    extra = [a.replace("NOWHERE", str(base / "nowhere")).replace("RES", str(base / "res")) for a in extra]
    rc, err = _study(capsys, base, data, *extra)
    assert rc == 2 and named in err, err
    assert _tree(base) == before


@pytest.mark.parametrize("names, said", [
    (["../victim"], "plain name"), (["a\x00b"], "NUL"), (["vae_d9"], "checkpoint.pt not found"),
    (["vae_d2", "vae_d2"], "twice"), ([".."], "plain name"), (["/etc/passwd"], "plain name"),
])
def test_names_are_plain_and_must_exist(study_dirs, capsys, names, said):
    base, data = study_dirs
    (base / "victim.json").write_text("{}")
    before = _tree(base)
    rc, err = _study(capsys, base, data, names=names)
    assert rc == 2 and said in err, err
    assert _tree(base) == before and (base / "victim.json").read_text() == "{}"


def test_missing_results_file_and_damaged_checkpoint(study_dirs, capsys, tmp_path):
    import shutil

    base, data = study_dirs
    runs = tmp_path / "runs"
    shutil.copytree(base / "runs" / "vae_d2", runs / "vae_x")
    rc, err = _study(capsys, base, data, "--runs", runs, names=["vae_x"])
    assert rc == 2 and "vae_x.json not found" in err and "evaluate" in err
    (base / "res" / "vae_x.json").write_text("{damaged")
    try:
        rc, err = _study(capsys, base, data, "--runs", runs, names=["vae_x"])
        assert rc == 1 and "vae_x.json" in err and "JSON" in err  # refused before measuring
    finally:
        (base / "res" / "vae_x.json").unlink()
    shutil.copy(base / "res" / "vae_d2.json", base / "res" / "vae_x.json")
    try:
        (runs / "vae_x" / "checkpoint.pt").write_bytes(b"not a checkpoint")
        rc, err = _study(capsys, base, data, "--runs", runs, names=["vae_x"])
        assert rc == 1 and "damaged" in err
    finally:
        (base / "res" / "vae_x.json").unlink()


def test_a_valid_study_writes_only_inside_the_results_folder(study_dirs, capsys, tmp_path):
    base, data = study_dirs
    before = {p for p in base.rglob("*") if "res" not in p.relative_to(base).parts[:1]}
    measured = tmp_path / "m"
    rc, err = _study(capsys, base, data, "--measure-to", measured)
    assert rc == 0, err
    assert [p.name for p in measured.iterdir()] == ["vae_d2.json"]
    rc, err = _study(capsys, base, data, "--merge-from", measured)
    assert rc == 0, err
    r = json.loads((base / "res" / "vae_d2.json").read_text())
    assert r["beyond"]["iwae_vs_k"]["n_images"] == 2
    (measured / "vae_d2.json").write_text("{damaged")
    rc, err = _study(capsys, base, data, "--merge-from", measured)
    assert rc == 1 and "--measure-to" in err
    assert {p for p in base.rglob("*") if "res" not in p.relative_to(base).parts[:1]} == before


def test_a_direct_study_writes_its_pictures_and_results_file_together(study_dirs, capsys):
    base, data = study_dirs
    rc, err = _study(capsys, base, data)
    assert rc == 0, err
    r = json.loads((base / "res" / "vae_d2.json").read_text())
    assert r["beyond"]["priors_npz"] == "vae_d2.priors.npz" and (base / "res" / "vae_d2.priors.npz").is_file()
    assert not [p for p in (base / "res").iterdir() if p.name.startswith(".elbo-lab")]

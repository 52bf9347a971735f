"""The β-weighted training objective, KL warm-up and free bits (training/objective.py and the trainer's flags)."""

import json
import math

import pytest
import torch

from training.__main__ import main as cli_main
from training.config import ConfigError, TrainConfig
from training.elbo_step import ManualElboStep
from training.evaluate import evaluate_run
from training.model import VAE, gaussian_kl_per_dim
from training.objective import kl_penalty, kl_weight, objective
from training.result_files import RESULTS_DIR, load_path, problems, read_metrics
from training.checkpoint import load_model
from training.train import train

from training_fixtures import train_config as _cfg


# --- the weight schedule ----------------------------------------------------------------------------------------

def test_kl_weight_without_warmup_is_beta_at_every_step():
    assert {kl_weight(0.5, 0, e, s, 7) for e in (1, 2, 9) for s in range(7)} == {0.5}


def test_kl_weight_ramps_linearly_to_beta_over_the_warmup_epochs():
    beta, W, steps = 2.0, 3, 4
    ws = [kl_weight(beta, W, e, s, steps) for e in range(1, 6) for s in range(steps)]
    # step k (0-based over the run) has t = (k + 1) / steps epochs done: w = beta * t / W until t = W
    for k, w in enumerate(ws):
        assert w == pytest.approx(beta * min(1.0, (k + 1) / steps / W), rel=1e-15)
    assert ws[0] == pytest.approx(beta / (W * steps)) and ws[0] > 0
    assert ws[W * steps - 1] == beta and set(ws[W * steps - 1:]) == {beta}  # beta from the last step of epoch W on
    assert all(a < b for a, b in zip(ws[: W * steps], ws[1 : W * steps]))  # strictly rising during the ramp


# --- validation -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, word", [
    ({"beta": 0.0}, "beta"), ({"beta": -1.0}, "beta"), ({"beta": float("nan")}, "beta"),
    ({"beta": float("inf")}, "beta"), ({"kl_warmup": -1}, "kl_warmup"), ({"kl_warmup": 1.5}, "kl_warmup"),
    ({"free_bits": -0.1}, "free_bits"), ({"free_bits": float("nan")}, "free_bits"),
    ({"free_bits": 0.5, "prior": "mog:3"}, "free_bits"),
])
def test_bad_objective_settings_are_refused(tmp_path, kw, word):
    with pytest.raises(ConfigError, match=word) as e:
        _cfg(tmp_path, **kw).validate()
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("args, word", [
    (["--beta", "0"], "beta"), (["--beta", "nan"], "beta"), (["--beta", "-2"], "beta"),
    (["--kl-warmup", "-1"], "kl_warmup"), (["--kl-warmup", "2.5"], "--kl-warmup"),
    (["--free-bits", "-1"], "free_bits"), (["--free-bits", "inf"], "free_bits"),
])
def test_cli_bad_objective_flag_is_one_line_exit_2(tmp_path, tiny_mnist, capsys, args, word):
    rc = cli_main(["train", "--data-root", str(tiny_mnist), "--no-verify-data", "--out-dir", str(tmp_path / "r"),
                   "--no-progress", "--test-every", "0", *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and word in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def test_cli_flags_reach_the_stored_config(tmp_path, tiny_mnist, capsys):
    out = tmp_path / "r"
    rc = cli_main(["train", "--data-root", str(tiny_mnist), "--no-verify-data", "--out-dir", str(out), "--no-progress",
                   "--test-every", "0", "--hidden", "16", "--epochs", "1", "--batch-size", "100", "--threads", "1",
                   "--beta", "0.5", "--kl-warmup", "3", "--free-bits", "0.25"])
    assert rc == 0, capsys.readouterr().err
    saved = json.loads((out / "config.json").read_text())
    assert (saved["beta"], saved["kl_warmup"], saved["free_bits"]) == (0.5, 3, 0.25)
    row = read_metrics(out / "metrics.jsonl")[0]
    assert row["kl_weight"] == pytest.approx(0.5 / 3)  # the end of epoch 1 of a 3-epoch ramp to 0.5


# --- resume -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("gradients, extra", [("manual", {}), ("autograd", {}), ("manual", {"free_bits": 0.05}),
                                              ("autograd", {"free_bits": 0.05})])
def test_resume_keeps_the_weight_schedule(tmp_path, tiny_images, gradients, extra):
    kw = dict(gradients=gradients, beta=0.5, kl_warmup=2, **extra)
    full = train(_cfg(tmp_path / "a", epochs=3, **kw), data=tiny_images)
    part = train(_cfg(tmp_path / "b", epochs=1, **kw), data=tiny_images)
    train(_cfg(tmp_path / "b", epochs=3, **kw), resume=True, data=tiny_images)
    ma, cfg, _ = load_model(full)
    mb, _, _ = load_model(part)
    for (name, pa), pb in zip(ma.state_dict().items(), mb.state_dict().values()):
        assert torch.equal(pa, pb), name
    ra, rb = read_metrics(full / "metrics.jsonl"), read_metrics(part / "metrics.jsonl")
    assert [r["kl_weight"] for r in ra] == [r["kl_weight"] for r in rb] == [0.25, 0.5, 0.5]
    assert [r["objective"] for r in ra] == [r["objective"] for r in rb]
    assert (cfg.beta, cfg.kl_warmup) == (0.5, 2)


@pytest.mark.parametrize("field, value", [("beta", 2.0), ("kl_warmup", 5), ("free_bits", 0.1)])
def test_resume_with_another_objective_is_refused(tmp_path, tiny_images, field, value):
    train(_cfg(tmp_path), data=tiny_images)
    with pytest.raises(ConfigError, match=f"other {field}"):
        train(_cfg(tmp_path, epochs=2, **{field: value}), resume=True, data=tiny_images)


# --- free bits and the objective --------------------------------------------------------------------------------

def test_free_bits_floor_each_dimension_of_the_batch_mean_kl():
    # batch-mean KL per dimension: [0.1, 2.0, 0.5]; with lambda = 0.5 the penalty is 0.5 + 2.0 + 0.5
    kl_dims = torch.tensor([[0.0, 1.0, 0.4], [0.2, 3.0, 0.6]], requires_grad=True)
    assert kl_penalty(kl_dims, 0.0).item() == pytest.approx((0.0 + 1.0 + 0.4 + 0.2 + 3.0 + 0.6) / 2)
    assert kl_penalty(kl_dims, 0.5).item() == pytest.approx(0.5 + 2.0 + 0.5)
    assert kl_penalty(kl_dims, 0.05).item() == pytest.approx(0.1 + 2.0 + 0.5)  # a floor below every dim: no change
    rec = torch.tensor([-10.0, -20.0])
    assert objective(rec, kl_dims, 2.0, 0.5).item() == pytest.approx(-15.0 - 2.0 * 3.0)
    kl_penalty(kl_dims, 0.5).backward()
    # only the dimension above the floor passes a gradient (1/B to each of its entries)
    assert torch.equal(kl_dims.grad, torch.tensor([[0.0, 0.5, 0.0], [0.0, 0.5, 0.0]]))


def test_free_bits_need_the_kl_per_dimension():
    with pytest.raises(ValueError, match="per latent dimension"):
        objective(torch.zeros(2), torch.ones(2), 1.0, 0.5)


def _objective_grads_autograd(model, x, seed, w, free_bits):
    for p in model.parameters():
        p.grad = None
    torch.manual_seed(seed)
    terms = model(x)
    obj = objective(terms.reconstruction, terms.kl_dims, w, free_bits)
    (-obj).backward()
    return obj.detach(), terms, [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("w, free_bits", [(1.0, 0.0), (0.3, 0.0), (4.0, 0.0), (0.7, 0.08), (1.0, 0.075)])
def test_manual_gradient_of_the_weighted_objective_equals_autograd(w, free_bits):
    torch.manual_seed(0)
    model = VAE(latent_dim=4, hidden=(7,), x_dim=11).double()
    x = (torch.rand(6, 11, dtype=torch.double) < 0.4).double()
    obj_ref, terms, ref = _objective_grads_autograd(model, x, 1, w, free_bits)
    if free_bits:  # the floor must bind in some dimensions and not in others, or the case tests nothing
        means = terms.kl_dims.detach().mean(0)
        assert (means < free_bits).any() and (means > free_bits).any(), means
    for p in model.parameters():
        p.grad = None
    step = ManualElboStep(model)
    torch.manual_seed(1)
    elbo, rec, kl = step.step(x, kl_weight=w, free_bits=free_bits)
    assert step.last_objective.item() == pytest.approx(obj_ref.item(), rel=1e-12)
    # the terms returned are the true ELBO's, whatever the weight
    assert elbo.item() == pytest.approx(terms.elbo.sum().item(), rel=1e-12)
    assert kl.item() == pytest.approx(terms.kl.sum().item(), rel=1e-12)
    for (name, _), g, r in zip(model.named_parameters(), [p.grad for p in model.parameters()], ref):
        assert torch.allclose(g, r, rtol=1e-10, atol=1e-12), name


def test_free_bits_change_the_gradient():
    # the twin: the same batch without the floor gives another gradient (the floored dims' KL pull is gone)
    torch.manual_seed(0)
    model = VAE(latent_dim=4, hidden=(7,), x_dim=11).double()
    x = (torch.rand(6, 11, dtype=torch.double) < 0.4).double()
    _, _, with_floor = _objective_grads_autograd(model, x, 1, 1.0, 0.08)
    _, _, plain = _objective_grads_autograd(model, x, 1, 1.0, 0.0)
    assert not all(torch.allclose(a, b, rtol=1e-10, atol=1e-12) for a, b in zip(with_floor, plain))


def test_beta_changes_the_training(tmp_path, tiny_images):
    a = train(_cfg(tmp_path / "a", epochs=2, beta=1.0), data=tiny_images)
    b = train(_cfg(tmp_path / "b", epochs=2, beta=4.0), data=tiny_images)
    ka = read_metrics(a / "metrics.jsonl")[-1]
    kb = read_metrics(b / "metrics.jsonl")[-1]
    assert kb["avg_kl"] < ka["avg_kl"]  # a heavier KL weight pulls q(z|x) towards the prior
    assert ka["objective"] == pytest.approx(ka["elbo"], rel=1e-5)  # beta = 1: the objective is the ELBO
    assert kb["objective"] == pytest.approx(kb["reconstruction"] - 4.0 * kb["avg_kl"], rel=1e-5)


# --- what is reported is the true ELBO ----------------------------------------------------------------------------

def test_reported_elbo_does_not_depend_on_beta_for_the_same_parameters(tmp_path, tiny_labeled, tiny_images):
    out = train(_cfg(tmp_path / "run", epochs=1, beta=0.5), data=tiny_images)
    r4 = json.loads(evaluate_run(out, name="b05", results_dir=tmp_path / "res", iwae_k=5, iwae_images=5,
                                 data=tiny_labeled).read_text())
    # the same parameters, the checkpoint's config saying beta = 1: every reported number is the same
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    ckpt["config"]["beta"] = 1.0
    torch.save(ckpt, out / "checkpoint.pt")
    r1 = json.loads(evaluate_run(out, name="b1", results_dir=tmp_path / "res", iwae_k=5, iwae_images=5,
                                 data=tiny_labeled).read_text())
    assert r4["config"]["beta"] == 0.5 and r1["config"]["beta"] == 1.0
    assert r4["train"]["terms"] == r1["train"]["terms"] and r4["test"] == r1["test"]
    assert problems(r4) == []


def test_results_without_the_objective_keys_read_as_the_plain_elbo():
    from training.beta_sweep import objective_of

    old = load_path(RESULTS_DIR / "vae_d10.json")  # written before beta existed
    assert "beta" not in old["config"]
    assert objective_of(old) == {"beta": 1.0, "kl_warmup": 0, "free_bits": 0.0}
    assert objective_of({**old, "config": {**old["config"], "beta": 0.5, "kl_warmup": 4}})["beta"] == 0.5


def test_the_schema_refuses_a_bad_beta_in_the_config():
    old = load_path(RESULTS_DIR / "vae_d10.json")
    for bad in (0, -1, "NaN"):
        found = problems({**old, "config": {**old["config"], "beta": bad}})
        assert found and found[0][0] == "config.beta", found
    assert problems({**old, "config": {**old["config"], "kl_warmup": 1.5}})[0][0] == "config.kl_warmup"


def test_configs_saved_before_the_objective_fields_read_as_the_plain_elbo():
    d = TrainConfig().to_dict()
    for k in ("beta", "kl_warmup", "free_bits"):
        del d[k]
    cfg = TrainConfig.from_dict(d).validate()
    assert (cfg.beta, cfg.kl_warmup, cfg.free_bits) == (1.0, 0, 0.0)
    assert {"beta", "kl_warmup", "free_bits"} <= set(TrainConfig.identity_fields())

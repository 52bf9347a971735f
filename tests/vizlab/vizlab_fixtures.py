"""Frozen, synthetic result files for the vizlab tests (schema ``elbo-lab/results/v1``).

The frame-comparison tests must not change when the lead retrains, so they render against these files
(``ELBO_LAB_RESULTS_DIR``) rather than ``training/results``.  The values are test fixtures, not results:
they are shaped like a trained run (Hoffman & Johnson's Table 1 magnitudes) and generated from a fixed
seed.  ``vae_d20.json`` is left out on purpose, so the "missing dimension" note is exercised.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from scipy.stats import norm

N_TRAIN = 60000


def _results(d: int, elbo: float, rec: float, avg_kl: float, mi: float, mkl: float) -> dict:
    se = 0.05
    t = lambda v: {"value": v, "se": se}  # noqa: E731
    return {
        "schema": "elbo-lab/results/v1",
        "model": {"latent_dim": d, "hidden": [500, 500], "activation": "softplus", "prior": "N(0,I)",
                  "encoder": "diagonal Gaussian", "decoder": "Bernoulli"},
        "config": {"latent_dim": d, "seed": 0},
        "provenance": {"command": "tests/vizlab/fixtures.py", "seed": 0, "epochs": 0, "git_commit": "fixture",
                       "device": "cpu", "wall_time_s": 0.0, "torch": "n/a", "created": "2026-11-22T00:00:00Z"},
        "units": "nats",
        "train": {"n": N_TRAIN,
                  "terms": {"elbo": t(elbo), "reconstruction": t(rec), "avg_kl": t(avg_kl),
                            "marginal_kl": t(mkl), "index_code_mi": t(mi), "index_code_mi_direct": t(mi)},
                  "log_n": math.log(N_TRAIN), "flags": []},
        "test": {"n": 10000, "elbo": t(elbo - 1.0), "iwae": {"value": elbo + 3.0, "se": se, "k": 1000,
                                                               "n_images": 1000}},
        "paper": {},
        "files": {"metrics": f"vae_d{d}.metrics.jsonl", "encodings": f"vae_d{d}.encodings.npz",
                  **({"manifold": "vae_d2.manifold.npz"} if d == 2 else {})},
    }


def write_fixture_results(out: Path) -> Path:
    """Write vae_d2.json (+ encodings, manifold, priors) and vae_d10.json into ``out``; return ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "vae_d2.json").write_text(json.dumps(_results(2, -135.0, -127.5, 7.5, 7.2, 0.3), indent=2))
    (out / "vae_d10.json").write_text(json.dumps(_results(10, -105.0, -84.0, 21.0, 10.8, 10.2), indent=2))
    rng = np.random.default_rng(0)
    # encodings: ten clusters on a ring (one per label), narrow posteriors -> an aggregated posterior with holes
    m = 1000
    labels = rng.integers(0, 10, size=m)
    angle = 2 * np.pi * labels / 10
    mu = np.stack([1.6 * np.cos(angle), 1.6 * np.sin(angle)], 1) + 0.35 * rng.standard_normal((m, 2))
    logvar = np.full((m, 2), -3.0) + 0.2 * rng.standard_normal((m, 2))
    np.savez(out / "vae_d2.encodings.npz", mu=mu.astype(np.float32), logvar=logvar.astype(np.float32),
             labels=labels.astype(np.int64))
    # manifold: a G x G inverse-CDF grid, each "image" a blob whose position follows z
    g = 12
    u = norm.ppf(np.linspace(0.05, 0.95, g))
    z = np.stack(np.meshgrid(u, u[::-1], indexing="xy"), -1)  # (G, G, 2), rows top->bottom = z2 high->low
    yy, xx = np.mgrid[0:28, 0:28]
    cx = 14 + 5 * z[..., 0, None, None]
    cy = 14 - 5 * z[..., 1, None, None]
    images = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 18.0)
    np.savez(out / "vae_d2.manifold.npz", z=z.astype(np.float32), images=images.astype(np.float32))
    write_fixture_priors(out, mu, logvar, labels, rng)
    write_fixture_trained_prior(out, rng)
    return out


#: Marginal KL (nats) of the fixture's jointly trained 2-D VampPrior model (a fixture value, not a result).
FIXTURE_TRAINED_MKL = 0.08
FIXTURE_TRAINED_K = 30


def write_fixture_trained_prior(out: Path, rng) -> None:
    """``vae_d2_vamp500.json`` and its priors ``.npz``, shaped like ``reproduce --prior vamp:K`` followed by
    ``prior_study``: its own aggregated posterior (five blobs) and its learned prior's K equal-weight components."""
    n, k = 2000, FIXTURE_TRAINED_K
    centres = np.stack([[1.2 * np.cos(a), 1.2 * np.sin(a)] for a in np.linspace(0, 2 * np.pi, 5, endpoint=False)])
    q_agg = centres[rng.integers(0, 5, size=n)] + 0.4 * rng.standard_normal((n, 2))
    means = centres[rng.integers(0, 5, size=k)] + 0.3 * rng.standard_normal((k, 2))
    logvars = np.full((k, 2), np.log(0.35**2))
    pick = rng.integers(0, k, size=n)
    samples = means[pick] + np.exp(0.5 * logvars[pick]) * rng.standard_normal((n, 2))
    np.savez(out / "vae_d2_vamp500.priors.npz", **{a: v.astype(np.float32) for a, v in {
        "q_agg_samples": q_agg, "standard_samples": rng.standard_normal((n, 2)), "learned_weights": np.full(k, 1 / k),
        "learned_means": means, "learned_logvars": logvars, "learned_samples": samples}.items()})
    res = _results(2, -133.0, -127.5, 5.5, 5.42, FIXTURE_TRAINED_MKL)
    res["name"] = "vae_d2_vamp500"
    res["model"]["prior"] = f"VampPrior with {k} learned pseudo-inputs"
    res["config"]["prior"] = f"vamp:{k}"
    res["provenance"]["epochs"] = 40
    res["files"] = {"metrics": "vae_d2_vamp500.metrics.jsonl", "encodings": "vae_d2_vamp500.encodings.npz"}
    res["beyond"] = {"priors_npz": "vae_d2_vamp500.priors.npz"}
    (out / "vae_d2_vamp500.json").write_text(json.dumps(res, indent=2))


#: Marginal KLs (nats) of the fixture's fitted priors (fixture values, not results; N(0, I)'s is vae_d2's 0.3).
FIXTURE_FITTED = {"mog:10": 0.05, "vamp:20": 0.15}


def write_fixture_priors(out: Path, mu, logvar, labels, rng) -> None:
    """``vae_d2.priors.npz`` and a ``beyond`` section in ``vae_d2.json``, shaped like ``training.prior_study``'s:
    draws of q(z), of N(0, I) and of two fitted priors (a 10-component MoG on the ring's clusters, a
    20-component equal-weight "VampPrior")."""
    n = 2000
    pick = rng.integers(0, len(mu), size=n)
    q_agg = mu[pick] + np.exp(0.5 * logvar[pick]) * rng.standard_normal((n, 2))
    centres = np.stack([mu[labels == c].mean(0) for c in range(10)])
    mog_logvars = np.full((10, 2), np.log(0.4**2))
    vamp_means = mu[rng.integers(0, len(mu), size=20)]
    vamp_logvars = np.full((20, 2), np.log(0.5**2))

    def draws(means, logvars, weights):
        k = rng.choice(len(means), size=n, p=weights)
        return means[k] + np.exp(0.5 * logvars[k]) * rng.standard_normal((n, 2))

    arrays = {"q_agg_samples": q_agg, "standard_samples": rng.standard_normal((n, 2)),
              "mog_weights": np.full(10, 0.1), "mog_means": centres, "mog_logvars": mog_logvars,
              "mog_samples": draws(centres, mog_logvars, np.full(10, 0.1)),
              "vamp_means": vamp_means, "vamp_logvars": vamp_logvars,
              "vamp_samples": draws(vamp_means, vamp_logvars, np.full(20, 0.05))}
    np.savez(out / "vae_d2.priors.npz", **{k: v.astype(np.float32) for k, v in arrays.items()})
    res = json.loads((out / "vae_d2.json").read_text())
    res["beyond"] = {"fitted_priors": {"priors": {k: {"marginal_kl": {"value": v, "se": 0.01, "n_samples": n}}
                                                  for k, v in FIXTURE_FITTED.items()}},
                     "priors_npz": "vae_d2.priors.npz"}
    (out / "vae_d2.json").write_text(json.dumps(res, indent=2))

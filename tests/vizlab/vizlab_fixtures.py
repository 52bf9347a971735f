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
    """Write vae_d2.json (+ encodings, manifold) and vae_d10.json into ``out``; return ``out``."""
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
    return out

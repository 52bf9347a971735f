"""Evaluate a finished run and write its results file (the contract with vizlab/ and book/, docs/ARCHITECTURE.md).

Everything is measured on one fixed, seeded stochastic binarization of each MNIST split:

- training set (all N images): reconstruction term $\\mathbb{E}_q \\log p(x|z)$ (2 reparameterized samples per
  image; its standard error is the Monte Carlo error of the dataset average), average KL (closed form, exact given
  the encodings), ELBO = reconstruction − average KL, marginal KL and index-code MI (:mod:`training.surgery`,
  S = N samples);
- test set: ELBO likewise, and the importance-weighted bound (Burda et al. 2016)
  $\\log \\frac1K \\sum_k p(x, z_k)/q(z_k|x)$ with K = ``iwae_k`` on the first ``iwae_images`` test images; its
  standard error is over images.

Files written to ``results_dir`` (default ``training/results/``), each atomically: ``NAME.json``,
``NAME.metrics.jsonl`` (copy of the run's per-epoch metrics), ``NAME.encodings.npz`` (``mu``, ``logvar``,
``labels`` of the first 5000 training images) and, for D = 2, ``NAME.manifold.npz`` (``z`` (G, G, 2) on the
Gaussian inverse-CDF grid of Kingma & Welling 2014 fig. 4, ``images`` (G, G, 28, 28) decoded Bernoulli means).
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import math
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from .data import binarize, load_mnist
from .model import VAE, gaussian_kl_to_standard_normal, log_diag_gaussian, log_standard_normal
from .result_files import PAPER_TABLE1, RESULTS_DIR, SCHEMA
from .surgery import surgery_terms
from .train import atomic_write_text, load_model

ENCODINGS_SUBSET = 5000
MANIFOLD_GRID = 20


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
    except Exception:
        return "unknown"


def _est(value: float, se: float) -> dict:
    return {"value": float(value), "se": float(se)}


@torch.no_grad()
def encode_all(model: VAE, x: torch.Tensor, batch_size: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoder outputs for all rows of ``x`` (n, 784) -> ``(mu, logvar)``, each (n, D)."""
    outs = [model.encode(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])


@torch.no_grad()
def reconstruction_term(model: VAE, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, samples: int = 2,
                        seed: int = 0, batch_size: int = 2000) -> dict:
    r"""$\frac1n \sum_i \mathbb{E}_{q(z|x_i)} \log p(x_i|z)$ with ``samples`` (≥ 2) draws per image. Nats.

    The standard error is $\sqrt{\sum_i \hat v_i / S}\,/\,n$, $\hat v_i$ the per-image sample variance: the Monte
    Carlo error of the average over these n images (the images themselves are not resampled).
    """
    gen = torch.Generator(device=x.device).manual_seed(seed)
    total, var_sum = 0.0, 0.0
    for i in range(0, len(x), batch_size):
        m, lv, xb = mu[i : i + batch_size], logvar[i : i + batch_size], x[i : i + batch_size]
        eps = torch.randn((samples, *m.shape), generator=gen, device=x.device)
        z = m + torch.exp(0.5 * lv) * eps  # (S, B, D)
        r = model.log_px_given_z(xb, model.decode(z)).double()  # (S, B)
        total += r.mean(0).sum().item()
        var_sum += (r.var(0, unbiased=True) / samples).sum().item()
    n = len(x)
    return _est(total / n, math.sqrt(var_sum) / n)


@torch.no_grad()
def iwae_bound(model: VAE, x: torch.Tensor, k: int = 1000, chunk: int = 250, seed: int = 0) -> tuple[dict, torch.Tensor]:
    r"""IWAE bound $\mathcal{L}_K(x) = \log \frac1K \sum_k \frac{p(x|z_k)p(z_k)}{q(z_k|x)}$ (Burda et al. 2016, eq. 8).

    ``x`` (n, 784) -> (``{"value", "se"}`` averaged over the n images, per-image bounds (n,)). Nats.
    """
    gen = torch.Generator(device=x.device).manual_seed(seed)
    per_image = []
    for i in range(len(x)):
        xi = x[i : i + 1]
        mu, logvar = model.encode(xi)
        logw = []
        for j in range(0, k, chunk):
            c = min(chunk, k - j)
            z = mu + torch.exp(0.5 * logvar) * torch.randn((c, mu.shape[1]), generator=gen, device=x.device)
            # $\log w_k = \log p(x|z_k) + \log p(z_k) - \log q(z_k|x)$
            lw = model.log_px_given_z(xi, model.decode(z)) + log_standard_normal(z) - log_diag_gaussian(z, mu, logvar)
            logw.append(lw.double())
        lw = torch.cat(logw)
        per_image.append(torch.logsumexp(lw, 0) - math.log(k))
    b = torch.stack(per_image)
    return _est(b.mean().item(), b.std().item() / math.sqrt(len(b))), b


def _atomic_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _save_npz(path: Path, **arrays) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    _atomic_bytes(path, buf.getvalue())


@torch.no_grad()
def evaluate_run(run_dir: str | os.PathLike, name: str | None = None, results_dir: str | os.PathLike | None = None,
                 data_root: str | None = None, iwae_k: int = 1000, iwae_images: int = 1000,
                 train_subset: int | None = None, threads: int = 0, command: str = "", seed: int = 0,
                 data: tuple | None = None, verify: bool = True, note: str = "") -> Path:
    """Measure a trained run and write ``NAME.json`` and its companions; return the JSON's path.

    Args:
        run_dir: folder with ``checkpoint.pt``, ``config.json`` and ``metrics.jsonl`` (from :func:`training.train.train`).
        name: results name, default ``vae_d{D}``.
        results_dir: output folder, default :data:`training.results.RESULTS_DIR`.
        data: optional ``((train_images, train_labels), (test_images, test_labels))`` to skip loading MNIST.
        note: free text on how the run was trained (e.g. a change of optimizer on resume), kept in the provenance
            and shown by the book.

    Raises:
        FileNotFoundError: no checkpoint in ``run_dir``. DataError: MNIST missing or corrupt.
    """
    t0 = time.perf_counter()
    if threads:
        torch.set_num_threads(threads)
    run_dir = Path(run_dir)
    if not (run_dir / "checkpoint.pt").exists():
        raise FileNotFoundError(f"{run_dir}/checkpoint.pt not found: train first (python -m training train --out-dir {run_dir})")
    model, cfg, epochs = load_model(run_dir)
    d = cfg.latent_dim
    name = name or f"vae_d{d}"
    out = Path(results_dir) if results_dir else RESULTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    if data is None:
        (tr_x, tr_y) = load_mnist(True, data_root or cfg.data_root, verify=verify, subset=train_subset)
        (te_x, te_y) = load_mnist(False, data_root or cfg.data_root, verify=verify)
    else:
        (tr_x, tr_y), (te_x, te_y) = data
        if train_subset is not None:
            tr_x, tr_y = tr_x[:train_subset], tr_y[:train_subset]
    # One fixed stochastic binarization per split (seeded), shared by every term below.
    gen = torch.Generator().manual_seed(seed)
    xtr, xte = binarize(tr_x, gen), binarize(te_x, gen)

    mu, logvar = encode_all(model, xtr)
    rec = reconstruction_term(model, xtr, mu, logvar, seed=seed)
    surg = surgery_terms(mu, logvar, seed=seed)
    avg_kl = surg["avg_kl"].value
    terms = {
        "elbo": _est(rec["value"] - avg_kl, rec["se"]),
        "reconstruction": rec,
        "avg_kl": _est(avg_kl, 0.0),
        "marginal_kl": surg["marginal_kl"].to_dict(),
        "index_code_mi": surg["index_code_mi"].to_dict(),
        "index_code_mi_direct": surg["index_code_mi_direct"].to_dict(),
    }
    mu_te, logvar_te = encode_all(model, xte)
    rec_te = reconstruction_term(model, xte, mu_te, logvar_te, seed=seed)
    kl_te = gaussian_kl_to_standard_normal(mu_te.double(), logvar_te.double()).mean().item()
    n_iw = min(iwae_images, len(xte))
    iw, _ = iwae_bound(model, xte[:n_iw], k=iwae_k, seed=seed)

    # Companions: metrics, encodings of a subset, the decoded manifold (D = 2).
    files = {"metrics": f"{name}.metrics.jsonl", "encodings": f"{name}.encodings.npz"}
    metrics_src = run_dir / "metrics.jsonl"
    metrics = [json.loads(l) for l in metrics_src.read_text().splitlines() if l.strip()] if metrics_src.exists() else []
    atomic_write_text(out / files["metrics"], "".join(json.dumps(m) + "\n" for m in metrics))
    m = min(ENCODINGS_SUBSET, len(xtr))
    _save_npz(out / files["encodings"], mu=mu[:m].numpy().astype(np.float32),
              logvar=logvar[:m].numpy().astype(np.float32), labels=tr_y[:m].numpy().astype(np.int64))
    if d == 2:
        files["manifold"] = f"{name}.manifold.npz"
        g = MANIFOLD_GRID
        # Kingma & Welling (2014) fig. 4: a uniform grid on the unit square through the Gaussian inverse CDF
        u = torch.linspace(0.5 / g, 1 - 0.5 / g, g)
        q = torch.distributions.Normal(0.0, 1.0).icdf(u)
        z = torch.stack(torch.meshgrid(q.flip(0), q, indexing="ij")[::-1], dim=-1)  # (G, G, 2): rows = z2 high->low
        images = torch.sigmoid(model.decode(z.reshape(-1, 2))).reshape(g, g, 28, 28)
        _save_npz(out / files["manifold"], z=z.numpy().astype(np.float32), images=images.numpy().astype(np.float32))

    train_seconds = float(sum(mm.get("seconds", 0.0) for mm in metrics))
    result = {
        "schema": SCHEMA,
        "name": name,
        "model": {"latent_dim": d, "hidden": list(cfg.hidden), "activation": cfg.activation, "prior": "N(0,I)",
                  "encoder": "diagonal Gaussian", "decoder": "Bernoulli"},
        "config": cfg.to_dict(),
        "provenance": {
            "command": command, "seed": cfg.seed, "epochs": epochs, "git_commit": _git_commit(),
            "device": str(next(model.parameters()).device), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "wall_time_s": train_seconds,
            "eval_time_s": time.perf_counter() - t0,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "binarization": f"training: dynamic (fresh Bernoulli draw per use); evaluation: one fixed draw, seed {seed}",
            "note": note,
        },
        "units": "nats",
        "train": {"n": len(xtr), "terms": terms, "log_n": surg["log_n"], "flags": surg["flags"]},
        "test": {"n": len(xte), "elbo": _est(rec_te["value"] - kl_te, rec_te["se"]),
                 "reconstruction": rec_te, "avg_kl": _est(kl_te, 0.0),
                 "iwae": {**iw, "k": iwae_k, "n_images": n_iw}},
        "paper": PAPER_TABLE1.get(d),
        "files": files,
    }
    path = out / f"{name}.json"
    atomic_write_text(path, json.dumps(result, indent=2) + "\n")
    return path

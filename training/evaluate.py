"""Evaluate a finished run and write its results file (the contract with vizlab/ and book/, docs/ARCHITECTURE.md).

Everything is measured on one fixed, seeded stochastic binarization of each MNIST split:

- training set (all N images): reconstruction term $\\mathbb{E}_q \\log p(x|z)$ (2 reparameterized samples per
  image; its standard error is the Monte Carlo error of the dataset average), average KL (closed form, exact given
  the encodings), ELBO = reconstruction − average KL, marginal KL and index-code MI (:mod:`training.surgery`,
  S = N samples);
- test set: ELBO likewise, and the importance-weighted bound (Burda et al. 2016)
  $\\log \\frac1K \\sum_k p(x, z_k)/q(z_k|x)$ with K = ``iwae_k`` on the first ``iwae_images`` test images; its
  standard error is over images.

Files written to ``results_dir`` (default ``training/results/``), all-or-nothing (:func:`training.io.atomic_write_set`,
after the result passed the schema of :mod:`training.result_files`): ``NAME.json``,
``NAME.metrics.jsonl`` (copy of the run's per-epoch metrics), ``NAME.encodings.npz`` (``mu``, ``logvar``,
``labels`` of the first 5000 training images) and, for D = 2, ``NAME.manifold.npz`` (``z`` (G, G, 2) on the
Gaussian inverse-CDF grid of Kingma & Welling 2014 fig. 4, ``images`` (G, G, 28, 28) decoded Bernoulli means).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from .data import binarize, load_mnist, require_mnist
from .model import VAE, gaussian_kl_to_standard_normal, log_diag_gaussian, log_standard_normal
from .cli import EVALUATE_BOUNDS, check_folder
from .io import FolderLock, UsageError, atomic_write_set, check_name, npz_bytes, prepare_folder, remove_stale_temps
from .result_files import PAPER_TABLE1, RESULTS_DIR, SCHEMA, ResultsError, problems, read_metrics
from .surgery_estimators import surgery_terms
from .train import CHECKPOINT, METRICS, load_checkpoint, model_from_checkpoint

ENCODINGS_SUBSET = 5000
MANIFOLD_GRID = 20
#: Bounds of evaluate's numeric options: name -> (lowest, highest) (defined with the other commands' bounds).
BOUNDS = EVALUATE_BOUNDS


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
def log_importance_weights(model: VAE, xi: torch.Tensor, k: int, gen: torch.Generator, chunk: int = 250,
                           prior=None) -> torch.Tensor:
    r"""$\log w_k = \log p(x|z_k) + \log p(z_k) - \log q(z_k|x)$ for $z_k \sim q(z|x)$, $k = 1..K$ (Burda et al. 2016).

    ``xi`` (1, 784) one image -> (K,) float64, nats. ``prior``: a distribution with ``log_prob`` (default: the
    model's own prior, N(0, I) unless learned). Draws from ``gen`` in chunks of ``chunk``.
    """
    if prior is None and model.prior.learned:
        prior = model.prior_distribution()
    mu, logvar = model.encode(xi)
    logw = []
    for j in range(0, k, chunk):
        c = min(chunk, k - j)
        z = mu + torch.exp(0.5 * logvar) * torch.randn((c, mu.shape[1]), generator=gen, device=xi.device)
        lp = log_standard_normal(z) if prior is None else prior.log_prob(z)
        logw.append((model.log_px_given_z(xi, model.decode(z)) + lp - log_diag_gaussian(z, mu, logvar)).double())
    return torch.cat(logw)


@torch.no_grad()
def iwae_bound(model: VAE, x: torch.Tensor, k: int = 1000, chunk: int = 250, seed: int = 0) -> tuple[dict, torch.Tensor]:
    r"""IWAE bound $\mathcal{L}_K(x) = \log \frac1K \sum_k \frac{p(x|z_k)p(z_k)}{q(z_k|x)}$ (Burda et al. 2016, eq. 8).

    ``x`` (n, 784) -> (``{"value", "se"}`` averaged over the n images, per-image bounds (n,)). Nats.
    """
    gen = torch.Generator(device=x.device).manual_seed(seed)
    prior = model.prior_distribution() if model.prior.learned else None  # a learned prior: built once
    per_image = [torch.logsumexp(log_importance_weights(model, x[i : i + 1], k, gen, chunk, prior), 0) - math.log(k)
                 for i in range(len(x))]
    b = torch.stack(per_image)
    return _est(b.mean().item(), b.std().item() / math.sqrt(len(b))), b


def _finite_or_text(obj):
    """``obj`` with every non-finite float replaced by the string JSON would need (``"NaN"``, ``"Infinity"``), so the
    schema names the field instead of ``json`` writing bare ``NaN`` (which is not JSON)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, dict):
        return {k: _finite_or_text(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_text(v) for v in obj]
    return obj


def check_options(name: str | None, iwae_k: int, iwae_images: int, train_subset: int | None, threads: int,
                  note: str) -> None:
    """Raise :class:`UsageError` (one line, exit code 2) on an out-of-range option of :func:`evaluate_run`."""
    if name is not None:
        check_name(name, "--name")
    values = {"iwae_k": iwae_k, "iwae_images": iwae_images, "train_subset": train_subset, "threads": threads}
    for key, v in values.items():
        lo, hi = BOUNDS[key]
        if v is None and key == "train_subset":
            continue
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            flag = "--" + key.replace("_", "-")
            raise UsageError(f"{flag} {v!r} is out of range: use an integer from {lo} to {hi}")
    if not isinstance(note, str) or len(note) > 4000 or "\x00" in note:
        raise UsageError("--note must be text of at most 4000 characters")


def evaluate_run(run_dir: str | os.PathLike, name: str | None = None, results_dir: str | os.PathLike | None = None,
                 data_root: str | None = None, iwae_k: int = 1000, iwae_images: int = 1000,
                 train_subset: int | None = None, threads: int = 0, command: str = "", seed: int = 0,
                 data: tuple | None = None, verify: bool = True, note: str = "", allow_flagged: bool = False) -> Path:
    """Measure a trained run and write ``NAME.json`` and its companions, all-or-nothing; return the JSON's path.

    The result is checked against the results schema (:mod:`training.result_files`) before anything is written:
    a non-finite or out-of-range term (MI outside [0, log N], a negative KL, ...) is refused, unless
    ``allow_flagged``, which writes the files with the problems listed in ``train.flags`` -- and every reader
    refuses such a file. The results folder is locked while it is written.

    Args:
        run_dir: folder with ``checkpoint.pt`` (from :func:`training.train.train`).
        name: results name (a plain file stem), default ``vae_d{D}``.
        results_dir: output folder, default :data:`training.result_files.RESULTS_DIR`.
        data: optional ``((train_images, train_labels), (test_images, test_labels))`` to skip loading MNIST.
        note: free text on how the run was trained, kept in the provenance and shown by the book.

    Raises:
        UsageError: a bad option or name. CheckpointError: no or a damaged checkpoint. ResultsError: the
        measured terms fail the schema (and ``allow_flagged`` is off). DiskFull: nothing was written.
        FolderBusy: another evaluate writes to the results folder. DataError: MNIST missing or corrupt.
    """
    check_options(name, iwae_k, iwae_images, train_subset, threads, note)
    check_folder(RESULTS_DIR if results_dir is None else results_dir, "--results-dir")  # creates nothing yet
    t0 = time.perf_counter()
    if threads:
        torch.set_num_threads(threads)
    run_dir = Path(run_dir)
    ckpt = load_checkpoint(run_dir)
    model = model_from_checkpoint(ckpt, run_dir / CHECKPOINT)
    cfg, epochs = ckpt["config"], int(ckpt["epoch"])
    if data is None:
        require_mnist(data_root or cfg.data_root)  # before the results folder is made
    out = prepare_folder(RESULTS_DIR if results_dir is None else results_dir, "--results-dir")
    d = cfg.latent_dim
    name = name or f"vae_d{d}"
    for f in (f"{name}.json", f"{name}.metrics.jsonl", f"{name}.encodings.npz", f"{name}.manifold.npz"):
        if (out / f).exists() and not (out / f).is_file():  # refused before the measuring, not after it
            raise UsageError(f"{out / f} exists and is not a regular file (a folder?): move it away or choose "
                             f"another --name or --results-dir; nothing was written")
    with FolderLock(out, "--results-dir"):
        remove_stale_temps(out)
        result, files = _measure(model, cfg, epochs, ckpt, run_dir, name, data_root, iwae_k, iwae_images,
                                 train_subset, command, seed, data, verify, note, t0)
        found = problems(result)
        if found and not allow_flagged:
            field, msg = found[0]
            raise ResultsError(f"refusing to write {out / (name + '.json')}: field {field} {msg}"
                               f"{f' (and {len(found) - 1} more)' if len(found) > 1 else ''}; the run may have "
                               f"diverged (see {run_dir / METRICS}); --allow-flagged writes it anyway, and readers "
                               f"will refuse it")
        if found:
            result["train"]["flags"] = list(result["train"]["flags"]) + [f"{f} {m}" for f, m in found]
        files[f"{name}.json"] = json.dumps(result, indent=2, allow_nan=False) + "\n"  # last: it names the others
        atomic_write_set(out, files)
    return out / f"{name}.json"


@torch.no_grad()
def _measure(model, cfg, epochs, ckpt, run_dir, name, data_root, iwae_k, iwae_images, train_subset, command, seed,
             data, verify, note, t0) -> tuple[dict, dict[str, bytes | str]]:
    """The results dict (non-finite numbers as strings, see :func:`_finite_or_text`) and its companions' bytes."""
    d = cfg.latent_dim
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
    prior = model.prior_distribution() if model.prior.learned else None  # None: N(0, I), closed-form KL
    surg = surgery_terms(mu, logvar, seed=seed, prior=prior)
    avg_kl, avg_kl_se = surg["avg_kl"].value, surg["avg_kl"].se  # se 0 for N(0, I); Monte Carlo otherwise
    terms = {
        "elbo": _est(rec["value"] - avg_kl, math.hypot(rec["se"], avg_kl_se)),
        "reconstruction": rec,
        "avg_kl": _est(avg_kl, avg_kl_se),
        "marginal_kl": surg["marginal_kl"].to_dict(),
        "index_code_mi": surg["index_code_mi"].to_dict(),
        "index_code_mi_direct": surg["index_code_mi_direct"].to_dict(),
    }
    mu_te, logvar_te = encode_all(model, xte)
    rec_te = reconstruction_term(model, xte, mu_te, logvar_te, seed=seed)
    if prior is None:
        kl_te, kl_te_se = gaussian_kl_to_standard_normal(mu_te.double(), logvar_te.double()).mean().item(), 0.0
    else:  # one draw per test image: log q(z|x) - log p(z), its mean and standard error
        g_te = torch.Generator(device=xte.device).manual_seed(seed + 1)
        z_te = mu_te + torch.exp(0.5 * logvar_te) * torch.randn(mu_te.shape, generator=g_te, device=xte.device)
        k = (log_diag_gaussian(z_te, mu_te, logvar_te) - torch.cat([prior.log_prob(z_te[i : i + 4096])
                                                                    for i in range(0, len(z_te), 4096)])).double()
        kl_te, kl_te_se = k.mean().item(), k.std().item() / math.sqrt(len(k))
    n_iw = min(iwae_images, len(xte))
    iw, _ = iwae_bound(model, xte[:n_iw], k=iwae_k, seed=seed)

    # Companions: metrics (from the checkpoint, where each epoch's row is kept), encodings, the manifold (D = 2).
    files: dict[str, bytes | str] = {}
    names = {"metrics": f"{name}.metrics.jsonl", "encodings": f"{name}.encodings.npz"}
    if ckpt["metrics"] is not None:
        metrics = list(ckpt["metrics"])
    else:  # checkpoints written before metrics were kept inside them
        metrics = read_metrics(run_dir / METRICS) if (run_dir / METRICS).exists() else []
        metrics = [m for m in metrics if m["epoch"] <= epochs]
    files[names["metrics"]] = "".join(json.dumps(_finite_or_text(m)) + "\n" for m in metrics)
    m = min(ENCODINGS_SUBSET, len(xtr))
    files[names["encodings"]] = npz_bytes(mu=mu[:m].numpy().astype(np.float32),
                                          logvar=logvar[:m].numpy().astype(np.float32),
                                          labels=tr_y[:m].numpy().astype(np.int64))
    if d == 2:
        names["manifold"] = f"{name}.manifold.npz"
        g = MANIFOLD_GRID
        # Kingma & Welling (2014) fig. 4: a uniform grid on the unit square through the Gaussian inverse CDF
        u = torch.linspace(0.5 / g, 1 - 0.5 / g, g)
        q = torch.distributions.Normal(0.0, 1.0).icdf(u)
        z = torch.stack(torch.meshgrid(q.flip(0), q, indexing="ij")[::-1], dim=-1)  # (G, G, 2): rows = z2 high->low
        images = torch.sigmoid(model.decode(z.reshape(-1, 2))).reshape(g, g, 28, 28)
        files[names["manifold"]] = npz_bytes(z=z.numpy().astype(np.float32), images=images.numpy().astype(np.float32))

    flags = list(surg["flags"])
    if not (torch.isfinite(mu).all() and torch.isfinite(logvar).all()):
        flags.append("encodings hold non-finite mu or logvar")
    train_seconds = float(sum(mm.get("seconds", 0.0) for mm in metrics if isinstance(mm.get("seconds"), float)))
    result = {
        "schema": SCHEMA,
        "name": name,
        "model": {"latent_dim": d, "hidden": list(cfg.hidden), "activation": cfg.activation, "prior": model.prior.describe(),
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
            # the run's start and each resume, with what it changed (epochs, lr, threads, ...): training/train.py
            "history": list(ckpt["history"]),
        },
        "units": "nats",
        "train": {"n": len(xtr), "terms": terms, "log_n": surg["log_n"], "flags": flags},
        "test": {"n": len(xte), "elbo": _est(rec_te["value"] - kl_te, math.hypot(rec_te["se"], kl_te_se)),
                 "reconstruction": rec_te, "avg_kl": _est(kl_te, kl_te_se),
                 "iwae": {**iw, "k": iwae_k, "n_images": n_iw}},
        "paper": PAPER_TABLE1.get(d),
        "files": names,
    }
    return _finite_or_text(result), files

"""Evaluate a finished run and write its results file (the contract with vizlab/ and book/, docs/ARCHITECTURE.md).

Everything is measured on one fixed, seeded stochastic binarization of each MNIST split:

- training set (all N images): reconstruction term $\\mathbb{E}_q \\log p(x|z)$ (2 reparameterized samples per
  image; its standard error is the Monte Carlo error of the dataset average), average KL (closed form, exact given
  the encodings), ELBO = reconstruction − average KL, marginal KL and index-code MI (:mod:`training.surgery_estimators`,
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
from .checkpoint import CHECKPOINT, METRICS, load_checkpoint, model_from_checkpoint
from .estimators import Estimate, average_kl_estimate, encode_all, iwae_bound, reconstruction_term
from .cli import EVALUATE_BOUNDS, check_folder
from .io import FolderLock, UsageError, atomic_write_set, check_name, npz_bytes, prepare_folder, remove_stale_temps
from .result_files import PAPER_TABLE1, RESULTS_DIR, SCHEMA, ResultsError, problems, read_metrics
from .surgery_estimators import surgery_terms

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


def _elbo(reconstruction: Estimate, avg_kl: Estimate) -> Estimate:
    """ELBO = reconstruction − average KL; independent draws, so the standard errors add in quadrature."""
    return Estimate(reconstruction.value - avg_kl.value, math.hypot(reconstruction.se, avg_kl.se),
                    reconstruction.n_samples)


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
    surgery = surgery_terms(mu, logvar, seed=seed, prior=prior)
    avg_kl = surgery["avg_kl"]  # se 0 for N(0, I); Monte Carlo otherwise
    terms = {
        "elbo": _elbo(rec, avg_kl).term(),
        "reconstruction": rec.term(),
        "avg_kl": avg_kl.term(),
        "marginal_kl": surgery["marginal_kl"].to_dict(),
        "index_code_mi": surgery["index_code_mi"].to_dict(),
        "index_code_mi_direct": surgery["index_code_mi_direct"].to_dict(),
    }
    mu_te, logvar_te = encode_all(model, xte)
    rec_te = reconstruction_term(model, xte, mu_te, logvar_te, seed=seed)
    # N(0, I): closed form, exact; a learned prior: one draw per test image, log q(z|x) - log p(z)
    kl_te = average_kl_estimate(mu_te, logvar_te, prior, torch.Generator(device=xte.device).manual_seed(seed + 1))
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

    flags = list(surgery["flags"])
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
        "train": {"n": len(xtr), "terms": terms, "log_n": surgery["log_n"], "flags": flags},
        "test": {"n": len(xte), "elbo": _elbo(rec_te, kl_te).term(), "reconstruction": rec_te.term(),
                 "avg_kl": kl_te.term(), "iwae": {**iw.term(), "k": iwae_k, "n_images": n_iw}},
        "paper": PAPER_TABLE1.get(d),
        "files": names,
    }
    return _finite_or_text(result), files

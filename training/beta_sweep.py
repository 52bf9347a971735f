r"""The β sweep read back: rate, distortion, active units and the surgery terms of each trained run.

The runs of ``scripts/beta_sweep.sh`` (D = 10 VAEs whose training objective weighted the KL term by β, and a KL
warm-up run, :mod:`training.objective`) are evaluated into ``training/results/beta_sweep/`` (:data:`SWEEP_DIR`).
This module reads them through :mod:`training.result_files` (every file validated by the schema) and returns the
numbers the posterior-collapse chapter plots. Every term is the *true* ELBO's, whatever β the run trained with.

In the language of Alemi et al. (2018, "Fixing a Broken ELBO"), for a VAE with a Gaussian encoder:

- **rate** $R = \frac1N \sum_n \mathrm{KL}(q_\phi(z \mid x_n) \,\|\, p(z))$, the average KL (nats), an upper bound on
  the index-code mutual information;
- **distortion** $D = -\frac1N \sum_n \mathbb{E}_{q_\phi(z|x_n)} \log p_\theta(x_n \mid z)$, minus the reconstruction
  term (nats);
- so $-\mathrm{ELBO} = D + R$: runs with the same ELBO lie on a line of slope $-1$ in the $(R, D)$ plane, and the
  β-weighted objective $D + \beta R$ is minimised where that plane's frontier has slope $-\beta$.

Active units follow Burda et al. (2016, sec. 5.2): unit $u$ is active if $\mathrm{Var}_x(\mathbb{E}_{q(z|x)}[z_u])
> 0.01$ (:data:`training.estimators.ACTIVE_THRESHOLD`), here over the first 5000 training images stored in each
run's encodings file; the per-unit KL is averaged over the same images.

Functions: :func:`objective_of`, :func:`load_runs`, :func:`point`, :func:`sweep_points`, :func:`warmup_pair`,
:func:`free_bits_pairs`, :func:`iso_elbo_levels`. Errors: :class:`training.result_files.ResultsError` (one line) for a damaged file.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from . import result_files as rf

#: Where ``scripts/beta_sweep.sh`` writes the sweep's results files.
SWEEP_DIR = rf.RESULTS_DIR / "beta_sweep"

#: The objective settings of a results file written before the fields existed: the plain ELBO.
OBJECTIVE_DEFAULTS = {"beta": 1.0, "kl_warmup": 0, "free_bits": 0.0}


def objective_of(result: dict) -> dict:
    """``{"beta", "kl_warmup", "free_bits"}`` of a results dict's config; absent keys read as the plain ELBO's."""
    cfg = result.get("config") or {}
    return {k: type(v)(cfg.get(k, v)) for k, v in OBJECTIVE_DEFAULTS.items()}


def load_runs(folder: str | os.PathLike | None = None) -> list[dict]:
    """Every results file in ``folder`` (default :data:`SWEEP_DIR`), validated, sorted by (epochs, warm-up, β).

    Returns ``[]`` if the folder does not exist. Raises :class:`~training.result_files.ResultsError` if a file
    fails the schema.
    """
    folder = Path(folder) if folder is not None else SWEEP_DIR
    if not folder.is_dir():
        return []
    runs = [rf.load_path(p) for p in sorted(folder.glob("*.json"))]

    def key(r):
        o = objective_of(r)
        return (r["provenance"]["epochs"], o["kl_warmup"], o["free_bits"], o["beta"])

    return sorted(runs, key=key)


def _per_unit(result: dict, folder: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """(D,) variance over images of each unit's posterior mean, (D,) each unit's average KL (nats), and the
    number of images they are computed on."""
    enc = rf.load_npz(result, "encodings", folder)
    mu, logvar = enc["mu"].astype(np.float64), enc["logvar"].astype(np.float64)
    # $\mathrm{KL}_u = \tfrac12(\sigma_u^2 + \mu_u^2 - 1 - \log\sigma_u^2)$, averaged over the stored images
    kl = 0.5 * (np.exp(logvar) + mu**2 - 1.0 - logvar)
    return mu.var(0, ddof=1), kl.mean(0), int(mu.shape[0])


def point(result: dict, folder: str | os.PathLike | None = None) -> dict:
    """One run as the chapter uses it. Nats; estimates as ``{"value", "se"}``.

    Keys: ``name``, ``beta``, ``kl_warmup``, ``free_bits``, ``epochs``, ``rate`` (average KL), ``distortion``
    (−reconstruction), ``elbo``, ``index_code_mi``, ``marginal_kl``, ``log_n``, ``test_elbo``, ``iwae``,
    ``active_units`` (count), ``units`` (D), ``unit_variance`` (D,) and ``unit_kl`` (D,) (first 5000 training
    images), ``n_encoded`` (how many images those two use).
    """
    from .estimators import ACTIVE_THRESHOLD

    folder = Path(folder) if folder is not None else SWEEP_DIR
    t = result["train"]["terms"]
    var, unit_kl, n_encoded = _per_unit(result, folder)
    rec = t["reconstruction"]
    return {
        "name": result["name"], **objective_of(result), "epochs": result["provenance"]["epochs"],
        "rate": t["avg_kl"], "distortion": {"value": -rec["value"], "se": rec["se"]}, "elbo": t["elbo"],
        "index_code_mi": t["index_code_mi"], "marginal_kl": t["marginal_kl"], "log_n": result["train"]["log_n"],
        "test_elbo": result["test"]["elbo"], "iwae": result["test"]["iwae"],
        "active_units": int((var > ACTIVE_THRESHOLD).sum()), "units": int(result["model"]["latent_dim"]),
        "unit_variance": var, "unit_kl": unit_kl, "n_encoded": n_encoded, "active_threshold": ACTIVE_THRESHOLD,
    }


def sweep_points(runs: list[dict], folder: str | os.PathLike | None = None) -> list[dict]:
    """The β sweep: the plain runs (no warm-up, no free bits) of the training length with the most β values,
    one :func:`point` per β, sorted by β. ``[]`` if there are no plain runs."""
    plain = [r for r in runs if objective_of(r)["kl_warmup"] == 0 and objective_of(r)["free_bits"] == 0]
    if not plain:
        return []
    by_epochs: dict[int, dict[float, dict]] = {}
    for r in plain:
        by_epochs.setdefault(r["provenance"]["epochs"], {})[objective_of(r)["beta"]] = r
    epochs = max(by_epochs, key=lambda e: (len(by_epochs[e]), e))
    return [point(by_epochs[epochs][b], folder) for b in sorted(by_epochs[epochs])]


def warmup_pair(runs: list[dict], folder: str | os.PathLike | None = None) -> dict | None:
    """A KL warm-up run and the plain run beside it (same β, epochs, free bits; no warm-up), with their metrics.

    Returns ``{"warmup": point, "plain": point, "warmup_metrics": rows, "plain_metrics": rows}`` (the per-epoch
    rows of :func:`training.result_files.read_metrics`) or ``None`` if no such pair is in ``runs``.
    """
    folder = Path(folder) if folder is not None else SWEEP_DIR
    for w in runs:
        ow = objective_of(w)
        if ow["kl_warmup"] == 0:
            continue
        for p in runs:
            op = objective_of(p)
            if (op["kl_warmup"] == 0 and op["beta"] == ow["beta"] and op["free_bits"] == ow["free_bits"]
                    and p["provenance"]["epochs"] == w["provenance"]["epochs"]):
                return {"warmup": point(w, folder), "plain": point(p, folder),
                        "warmup_metrics": rf.read_metrics(rf.companion(w, "metrics", folder)),
                        "plain_metrics": rf.read_metrics(rf.companion(p, "metrics", folder))}
    return None


def free_bits_pairs(runs: list[dict], folder: str | os.PathLike | None = None) -> list[tuple[dict, dict]]:
    """``[(free-bits run, plain run), ...]``: each run with free bits beside the run of the same β and length
    without them (and without warm-up), as :func:`point` dicts; runs without such a partner are left out."""
    folder = Path(folder) if folder is not None else SWEEP_DIR
    out = []
    for f in runs:
        of = objective_of(f)
        if of["free_bits"] == 0 or of["kl_warmup"]:
            continue
        for p in runs:
            op = objective_of(p)
            if (op["free_bits"] == 0 and op["kl_warmup"] == 0 and op["beta"] == of["beta"]
                    and p["provenance"]["epochs"] == f["provenance"]["epochs"]):
                out.append((point(f, folder), point(p, folder)))
                break
    return out


def iso_elbo_levels(points: list[dict], step: float | None = None) -> list[float]:
    r"""Round values of $-\mathrm{ELBO} = D + R$ (nats) whose lines $D = L - R$ cross the sweep's points.

    From just below the best point's $-\mathrm{ELBO}$ to just above the worst, at ``step`` (default: a round step
    giving about 5 lines). ``[]`` for no points.
    """
    if not points:
        return []
    neg = [p["distortion"]["value"] + p["rate"]["value"] for p in points]
    lo, hi = min(neg), max(neg)
    if step is None:
        span = max(hi - lo, 1.0)
        raw = span / 4
        mag = 10 ** math.floor(math.log10(raw))
        step = min(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    n = int(math.ceil((hi - first) / step)) + 1
    return [first + i * step for i in range(n)]


__all__ = ["OBJECTIVE_DEFAULTS", "SWEEP_DIR", "free_bits_pairs", "iso_elbo_levels", "load_runs", "objective_of", "point",
           "sweep_points", "warmup_pair"]

"""Read the committed result files of the trainer (schema ``elbo-lab/results/v1``, docs/ARCHITECTURE.md).

The files under ``training/results/`` were written by :func:`training.evaluate.evaluate_run`; vizlab/ and book/
read them through this module, so no number of ours is ever typed into a page or a scene.
"""

from __future__ import annotations

import json
from pathlib import Path

SCHEMA = "elbo-lab/results/v1"

#: Directory of the committed results (inside the package, so it works from any working directory).
RESULTS_DIR = Path(__file__).resolve().parent / "results"

#: Hoffman & Johnson (2016), Table 1: binarized MNIST, 60000 training images, N(0, I) prior. Nats.
#: These are the paper's published numbers, the reference we compare against (not results of ours).
PAPER_TABLE1 = {
    2: {"elbo": -129.63, "avg_kl": 7.41, "index_code_mi": 7.20, "marginal_kl": 0.21},
    10: {"elbo": -88.95, "avg_kl": 19.17, "index_code_mi": 10.82, "marginal_kl": 8.35},
    20: {"elbo": -87.45, "avg_kl": 20.2, "index_code_mi": 10.67, "marginal_kl": 9.53},
}

#: The latent sizes of Table 1, the one list used by the trainer's defaults, vizlab and the book.
LATENT_DIMS: tuple[int, ...] = tuple(PAPER_TABLE1)

TERMS = ("elbo", "avg_kl", "index_code_mi", "marginal_kl")


class ResultsError(RuntimeError):
    """A results file is missing or has the wrong schema; the message names the file and the fix."""


def path_for(latent_dim: int, results_dir: Path | None = None) -> Path:
    return (results_dir or RESULTS_DIR) / f"vae_d{latent_dim}.json"


def available(results_dir: Path | None = None) -> list[int]:
    """Latent sizes with a results file, sorted (e.g. ``[2, 10, 20]``)."""
    out = []
    for p in (results_dir or RESULTS_DIR).glob("vae_d*.json"):
        try:
            out.append(int(p.stem.removeprefix("vae_d")))
        except ValueError:
            continue
    return sorted(out)


def load(latent_dim: int, results_dir: Path | None = None) -> dict:
    """The results dict of the model with ``latent_dim`` D. Raises :class:`ResultsError` if absent or invalid."""
    p = path_for(latent_dim, results_dir)
    if not p.exists():
        raise ResultsError(
            f"{p} not found: train and evaluate it (python -m training train --latent-dim {latent_dim} "
            f"--out-dir runs/vae_d{latent_dim}; python -m training evaluate runs/vae_d{latent_dim})"
        )
    data = json.loads(p.read_text())
    if data.get("schema") != SCHEMA:
        raise ResultsError(f"{p} has schema {data.get('schema')!r}, expected {SCHEMA!r}: re-run python -m training evaluate")
    return data


def companion(result: dict, kind: str, results_dir: Path | None = None) -> Path:
    """Path of a companion file (``"metrics"``, ``"encodings"``, ``"manifold"``) of a loaded result."""
    name = result["files"].get(kind)
    if name is None:
        raise ResultsError(f"results {result.get('name')} have no {kind!r} file (the manifold exists only for D = 2)")
    return (results_dir or RESULTS_DIR) / name


def load_metrics(latent_dim: int, results_dir: Path | None = None) -> list[dict]:
    """Per-epoch training metrics (list of dicts, see :mod:`training.train`)."""
    p = companion(load(latent_dim, results_dir), "metrics", results_dir)
    return [json.loads(l) for l in p.read_text().splitlines() if l.strip()]


def table1_rows(results_dir: Path | None = None) -> list[dict]:
    """Our Table 1 beside Hoffman & Johnson's: one row per trained latent size.

    Each row: ``{"latent_dim", "epochs", "ours": {term: {"value", "se"}}, "paper": {term: value} | None,
    "test_elbo": {...}, "iwae": {...}, "log_n": float, "flags": [...]}`` with terms ``elbo, avg_kl,
    index_code_mi, marginal_kl`` in nats.
    """
    rows = []
    for d in available(results_dir):
        r = load(d, results_dir)
        rows.append({
            "latent_dim": d,
            "epochs": r["provenance"]["epochs"],
            "ours": {t: r["train"]["terms"][t] for t in TERMS},
            "paper": PAPER_TABLE1.get(d),
            "test_elbo": r["test"]["elbo"],
            "iwae": r["test"]["iwae"],
            "log_n": r["train"]["log_n"],
            "flags": r["train"]["flags"],
        })
    return rows

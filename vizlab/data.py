"""Inputs of the scenes: the trainer's result files, read through ``training.result_files`` (no Manim import).

``training.result_files`` is the one reader of ``training/results/vae_d{D}.json`` (schema, file naming,
validation) and holds the one list of latent sizes, ``LATENT_DIMS``.  This module only adds what a scene
needs on top of it:

* ``ELBO_LAB_RESULTS_DIR`` points the scenes at another results directory (the tests render against frozen
  fixtures);
* a missing file gives ``None`` so a scene can show a visible "not trained yet" note instead of failing
  (an invalid file still raises ``training.result_files``' one-line error);
* ``term`` reads ``(value, se)`` in nats, and ``inputs`` lists the files a scene declares for the render
  manifest.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from training import result_files
from training.result_files import LATENT_DIMS

__all__ = [
    "LATENT_DIMS",
    "REPO_ROOT",
    "results_dir",
    "available_dims",
    "load_results",
    "load_npz",
    "term",
    "result_paths",
    "derivations_files",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
ENV_RESULTS = "ELBO_LAB_RESULTS_DIR"


def results_dir() -> Path:
    """Directory of ``vae_d{D}.json``: ``$ELBO_LAB_RESULTS_DIR``, else ``training.result_files.RESULTS_DIR``."""
    env = os.environ.get(ENV_RESULTS)
    return Path(env).resolve() if env else Path(result_files.RESULTS_DIR).resolve()


def available_dims() -> list[int]:
    """Latent sizes with a result file, sorted."""
    return result_files.available(results_dir())


def load_results(d: int) -> dict | None:
    """The parsed ``vae_d{d}.json`` (terms in nats), or ``None`` if it does not exist.

    Raises ``training.result_files.ResultsError`` (one line) if the file exists but is invalid.
    """
    if not result_files.path_for(d, results_dir()).exists():
        return None
    return result_files.load(d, results_dir())


def load_npz(d: int, kind: str) -> dict[str, np.ndarray] | None:
    """Arrays of the ``kind`` companion (``"encodings"``, ``"manifold"``) of ``vae_d{d}.json``, or ``None``."""
    res = load_results(d)
    if res is None or kind not in res.get("files", {}):
        return None
    path = result_files.companion(res, kind, results_dir())
    if not path.exists():
        return None
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def term(res: dict, key: str, split: str = "train") -> tuple[float, float] | None:
    """(value, standard error) in nats of term ``key`` of a results dict, or ``None`` if absent.

    ``split="train"`` reads ``train.terms.<key>``; ``split="test"`` reads ``test.<key>``.
    """
    node = res.get(split, {})
    node = node.get("terms", node) if split == "train" else node
    t = node.get(key)
    if t is None:
        return None
    return float(t["value"]), float(t.get("se", float("nan")))


def result_paths(dims=LATENT_DIMS, kinds: tuple[str, ...] = ()) -> list[Path]:
    """Files a scene declares as inputs (for the render manifest): each ``vae_d{d}.json`` of ``dims``
    (existing or not) and, where that JSON exists, its ``kinds`` companions."""
    out = []
    for d in dims:
        out.append(result_files.path_for(d, results_dir()))
        res = load_results(d) if kinds else None
        for kind in kinds:
            if res is not None and kind in res.get("files", {}):
                out.append(result_files.companion(res, kind, results_dir()))
    return out


def derivations_files(*modules: str) -> list[Path]:
    """Source files of the ``derivations`` modules a scene shows or calls (dotted names under
    ``derivations``, e.g. ``"models.linear_gaussian"``), plus every module of the package's core (which
    defines every statement); all of the package when no module is named."""
    root = REPO_ROOT / "derivations"
    if not modules:
        return sorted(root.rglob("*.py")) if root.is_dir() else []
    core = sorted(p for p in root.glob("*.py") if p.stem in {"core", "notation", "registry"})
    core += sorted(root.glob("core/*.py"))  # core.py split into role modules
    return core + [root.joinpath(*m.split(".")).with_suffix(".py") for m in modules]

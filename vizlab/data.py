"""Inputs of the scenes: the trainer's result files, read per docs/ARCHITECTURE.md (no Manim import).

Result files are the contract between ``training`` and everything downstream:
``training/results/vae_d{D}.json`` (schema ``"elbo-lab/results/v1"``, all terms in nats, each with its
standard error) plus ``vae_d{D}.encodings.npz`` (``mu``, ``logvar``, ``labels``) and
``vae_d2.manifold.npz`` (``z`` (G, G, 2), ``images`` (G, G, 28, 28)).

``training.results`` is used when it is importable; otherwise the files are read directly from the same
directory.  Setting the environment variable ``ELBO_LAB_RESULTS_DIR`` points vizlab at another results
directory (the tests use it to render against frozen inputs).  Missing files give ``None`` / ``[]`` so a
scene can show a visible "not yet trained" note instead of failing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

__all__ = [
    "SCHEMA",
    "LATENT_DIMS",
    "REPO_ROOT",
    "results_dir",
    "available_dims",
    "load_results",
    "load_npz",
    "term",
    "result_files",
    "derivations_files",
]

SCHEMA = "elbo-lab/results/v1"
#: Latent sizes of the ELBO-surgery table (Hoffman & Johnson 2016, Table 1).
LATENT_DIMS: tuple[int, ...] = (2, 10, 20)
REPO_ROOT = Path(__file__).resolve().parents[1]
ENV_RESULTS = "ELBO_LAB_RESULTS_DIR"


def _training_results():
    """The ``training.results`` module, or ``None`` while it does not exist yet."""
    try:
        from training import result_files as results  # type: ignore[import-not-found]
    except Exception:  # noqa: BLE001 - training is written concurrently; fall back to the files
        return None
    return results


def results_dir() -> Path:
    """Directory of ``vae_d{D}.json``: ``$ELBO_LAB_RESULTS_DIR``, else ``training.results.RESULTS_DIR``."""
    env = os.environ.get(ENV_RESULTS)
    if env:
        return Path(env).resolve()
    mod = _training_results()
    if mod is not None and hasattr(mod, "RESULTS_DIR"):
        return Path(mod.RESULTS_DIR).resolve()
    return REPO_ROOT / "training" / "results"


def _json_path(d: int) -> Path:
    return results_dir() / f"vae_d{d}.json"


def available_dims() -> list[int]:
    """Latent sizes with a result file, sorted."""
    d = results_dir()
    out = []
    for p in d.glob("vae_d*.json") if d.is_dir() else []:
        stem = p.stem[len("vae_d") :]
        if stem.isdigit():
            out.append(int(stem))
    return sorted(out)


def load_results(d: int) -> dict | None:
    """The parsed ``vae_d{d}.json`` (terms in nats), or ``None`` if it does not exist.

    Read through ``training.results.load(d, results_dir)`` when ``training`` is importable, else directly.
    """
    path = _json_path(d)
    if not path.exists():
        return None
    mod = _training_results()
    if mod is not None and hasattr(mod, "load"):
        try:
            return mod.load(d, path.parent)
        except TypeError:  # an older signature without results_dir
            if not os.environ.get(ENV_RESULTS):
                return mod.load(d)
    with path.open() as f:
        res = json.load(f)
    if res.get("schema") != SCHEMA:
        raise ValueError(f"{path}: schema {res.get('schema')!r}, expected {SCHEMA!r}")
    return res


def _npz_path(d: int, kind: str) -> Path:
    res = load_results(d)
    name = (res or {}).get("files", {}).get(kind) or f"vae_d{d}.{kind}.npz"
    return results_dir() / name


def load_npz(d: int, kind: str) -> dict[str, np.ndarray] | None:
    """Arrays of ``vae_d{d}.{kind}.npz`` (``kind`` = ``"encodings"`` or ``"manifold"``), or ``None``."""
    path = _npz_path(d, kind)
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
    if isinstance(t, dict):
        return float(t["value"]), float(t.get("se", float("nan")))
    return float(t), float("nan")


def result_files(dims=LATENT_DIMS, kinds=("json",)) -> list[Path]:
    """Paths (existing or not) of result files a scene declares as inputs, for the render manifest."""
    out = []
    for d in dims:
        for kind in kinds:
            out.append(_json_path(d) if kind == "json" else results_dir() / f"vae_d{d}.{kind}.npz")
    return out


def derivations_files(*modules: str) -> list[Path]:
    """Source files of ``derivations`` modules a scene shows or calls (plus ``core`` and ``notation``, which
    define every statement); all of the package when no module is named."""
    root = REPO_ROOT / "derivations"
    if not modules:
        return sorted(root.rglob("*.py")) if root.is_dir() else []
    return [root / f"{m}.py" for m in ("core", "notation", *modules)]

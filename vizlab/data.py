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
    "load_priors",
    "load_trained_prior",
    "priors_paths",
    "TRAINED_PRIOR_RUN",
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


def _priors_file(res: dict) -> Path | None:
    """Path of the 2-D model's priors file: a ``files.priors`` companion if the results list one, else
    ``beyond.priors_npz`` (written by ``python -m training.prior_study``) in ``results_dir()``."""
    if "priors" in res.get("files", {}):
        return result_files.companion(res, "priors", results_dir())
    name = res.get("beyond", {}).get("priors_npz")
    return results_dir() / name if name else None


#: Results name of the 2-D model trained with a learned prior from the start (``python -m training reproduce
#: --prior vamp:500 --dims 2``), whose aggregated posterior the learned-prior scene shows last.
TRAINED_PRIOR_RUN = "vae_d2_vamp500"


def priors_paths(d: int = 2) -> list[Path]:
    """Files the learned-prior scene declares: ``vae_d{d}.json`` and, where it names one, its priors ``.npz``;
    then ``TRAINED_PRIOR_RUN.json`` (existing or not) and, where it names one, its priors ``.npz``."""
    out = [result_files.path_for(d, results_dir())]
    res = load_results(d)
    p = _priors_file(res) if res is not None else None
    out += [p] if p is not None else []
    trained = results_dir() / f"{TRAINED_PRIOR_RUN}.json"
    out.append(trained)
    if trained.exists():
        p = _priors_file(result_files.load_path(trained))
        out += [p] if p is not None else []
    return out


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001 - zip, pickle and format errors all mean a damaged file
        raise result_files.ResultsError(f"{path} cannot be read as .npz ({type(e).__name__}): restore it (git) or "
                                        f"re-run python -m training.prior_study") from None


def _getter(arrays: dict, path: Path, d: int):
    def get(name: str, ndim: int = 2, rows: int | None = None) -> np.ndarray:
        a = arrays.get(name)
        if (a is None or a.ndim != ndim or a.dtype.kind != "f" or (ndim == 2 and a.shape[1] != d)
                or (rows is not None and len(a) != rows) or not np.isfinite(a).all()):
            raise result_files.ResultsError(f"{path}: field {name} is missing, not finite or not a (.., {d}) float "
                                            f"array: re-run python -m training.prior_study")
        return a.astype(float)
    return get


def load_trained_prior(name: str = TRAINED_PRIOR_RUN) -> dict | None:
    """The 2-D model trained with a learned prior from the start (encoder, decoder and prior together), or
    ``None`` if ``NAME.json`` or its priors ``.npz`` (``python -m training.prior_study NAME``) does not exist.

    Returns ``{"file", "run", "name", "epochs", "q_agg": (M, 2) draws of its own aggregated posterior,
    "marginal_kl": (value, se), "elbo": (value, se), "weights" (K,), "means", "logvars" (K, 2), "samples" (S, 2)}``
    in nats; the prior is the one the model was trained with, as a mixture (a VampPrior's components are the
    encoder's q(z | u_k) at its pseudo-inputs, weights 1/K; Tomczak & Welling 2018, eq. 9), and ``marginal_kl``
    is KL(q_agg || that prior) from ``train.terms.marginal_kl`` (Hoffman & Johnson 2016, eq. 3).  Raises
    ``training.result_files.ResultsError`` (one line) if the model's prior is not learned or the ``.npz`` is
    damaged or lacks an array.
    """
    path = results_dir() / f"{name}.json"
    if not path.exists():
        return None
    res = result_files.load_path(path)
    spec = str(res.get("config", {}).get("prior", "standard"))
    if spec == "standard":
        raise result_files.ResultsError(f"{path}: model.prior is 'standard', not a learned prior: point "
                                        f"TRAINED_PRIOR_RUN at a run trained with --prior vamp:K or mog:K")
    _prior_spec(spec)
    npz = _priors_file(res)
    if npz is None or not npz.exists():
        return None
    get = _getter(_read_npz(npz), npz, int(res["model"]["latent_dim"]))
    return {"file": npz.name, "run": name, "epochs": int(res["provenance"]["epochs"]),
            "q_agg": get("q_agg_samples"), "marginal_kl": term(res, "marginal_kl"), "elbo": term(res, "elbo"),
            **_mixture(get, npz, "learned", spec)}


def _mixture(get, path: Path, prefix: str, spec: str) -> dict:
    """A prior stored as ``{prefix}_means``/``_logvars``/``_samples`` (and ``_weights``; a VampPrior's are 1/K when
    absent): ``{"name", "weights", "means", "logvars", "samples"}``; ``ResultsError`` if the count is not K."""
    parsed = _prior_spec(spec)
    kind, k = parsed
    means, logvars = get(f"{prefix}_means"), get(f"{prefix}_logvars")
    if len(means) != k or len(logvars) != k:
        raise result_files.ResultsError(f"{path}: field {prefix}_means has {len(means)} components, {spec} needs {k}: "
                                        f"re-run python -m training.prior_study")
    weights = np.full(k, 1.0 / k) if kind == "vamp" and prefix == "vamp" else get(f"{prefix}_weights", 1, k)
    return {"name": parsed.display_name, "weights": weights, "means": means,
            "logvars": logvars, "samples": get(f"{prefix}_samples")}


def _prior_spec(key: str) -> tuple[str, int]:
    """``"mog:K"``/``"vamp:K"`` parsed by the trainer's one parser (:func:`training.prior_spec.parse_prior`)."""
    from training.io import ConfigError
    from training.prior_spec import parse_prior

    try:
        spec = parse_prior(key)
    except ConfigError:
        spec = None
    if spec is None or spec.kind == "standard":
        raise result_files.ResultsError(f"beyond.fitted_priors.priors has an unknown prior {key!r} (expected "
                                        f"mog:K or vamp:K): re-run python -m training.prior_study")
    return spec


def load_priors(d: int = 2) -> dict | None:
    """The fitted priors of the D = ``d`` model for the learned-prior scene, or ``None`` if its results file,
    ``beyond.fitted_priors`` or the priors ``.npz`` do not exist.

    Returns ``{"file": name, "q_agg": (M, 2) draws of q(z), "standard": {...}, "priors": {key: {...}}}``; each
    prior (the N(0, I) one and each ``mog:K`` / ``vamp:K`` of ``beyond.fitted_priors.priors``) is a dict with
    ``marginal_kl`` = (value, se) in nats (KL(q_agg || p), Hoffman & Johnson 2016, eq. 3; N(0, I)'s from
    ``train.terms.marginal_kl``), the mixture ``weights`` (K,), ``means`` and ``logvars`` (K, 2), and
    ``samples`` (S, 2) drawn from it.  The VampPrior is the mixture of the encoder's q(z | u_k) with equal
    weights (Tomczak & Welling 2018, eq. 9).  Raises ``training.result_files.ResultsError`` (one line) if
    the ``.npz`` is damaged or lacks an array.
    """
    res = load_results(d)
    if res is None or "fitted_priors" not in res.get("beyond", {}):
        return None
    path = _priors_file(res)
    if path is None or not path.exists():
        return None
    get = _getter(_read_npz(path), path, d)

    mkl = term(res, "marginal_kl")
    out = {"file": path.name, "q_agg": get("q_agg_samples"),
           "standard": {"name": "N(0, I)", "marginal_kl": mkl, "weights": np.ones(1), "means": np.zeros((1, d)),
                        "logvars": np.zeros((1, d)), "samples": get("standard_samples")},
           "priors": {}}
    for key, entry in res["beyond"]["fitted_priors"].get("priors", {}).items():
        out["priors"][key] = {**_mixture(get, path, _prior_spec(key)[0], key),
                              "marginal_kl": (float(entry["marginal_kl"]["value"]),
                                              float(entry["marginal_kl"].get("se", float("nan"))))}
    return out


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
    defines, proves and writes every statement: every top-level module but the identities of
    ``registry.ORDER`` and the command-line tools); all of the package when no module is named."""
    import ast

    root = REPO_ROOT / "derivations"
    if not modules:
        return sorted(root.rglob("*.py")) if root.is_dir() else []
    registry = root / "registry.py"
    order = set()
    for node in ast.walk(ast.parse(registry.read_text())) if registry.is_file() else []:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "ORDER" for t in node.targets):
            order = set(ast.literal_eval(node.value))
    tools = {"__main__", "check", "report", "loss_conventions"}
    core = sorted(p for p in root.glob("*.py") if p.stem not in order | tools)
    return core + [root.joinpath(*m.split(".")).with_suffix(".py") for m in modules]

"""The one reader (and checker) of the trainer's result files: schema ``elbo-lab/results/v1``.

The files under ``training/results/`` are written by :func:`training.evaluate.evaluate_run`; ``vizlab`` and the
book read them through this module only, so no number of ours is typed into a page or a scene, and nothing
downstream renders from a file that holds NaN, an infinite or an absurd value.

One contract, checked where the files are written and where they are read:

- :data:`SCHEMA_PATH` -- ``training/results.schema.json``, a JSON Schema (draft 2020-12) of ``NAME.json`` and of
  one ``NAME.metrics.jsonl`` row (``$defs/metrics_row``), checked with the ``jsonschema`` library;
- :func:`problems` -- that schema plus the checks one field cannot express: $0 \\le I \\le \\log N$ for the two
  index-code MI estimates and $\\mathrm{KL}(q_{\\mathrm{agg}} \\| p) \\ge 0$ (each within 3 standard errors,
  Hoffman & Johnson 2016, eq. 3), ``log_n`` = log ``n``, ELBO = reconstruction − average KL, and MI = average KL −
  marginal KL.

Non-finite numbers are parsed as the strings ``"NaN"``, ``"Infinity"`` (never as floats), so the schema refuses
them by field. Every refusal is :class:`ResultsError`, one line naming the file and the field.

Functions: :func:`load` / :func:`load_path` (a validated dict), :func:`available`, :func:`path_for`,
:func:`companion`, :func:`load_metrics`, :func:`load_npz` (validated arrays), :func:`table1_rows`; constants
:data:`LATENT_DIMS`, :data:`PAPER_TABLE1`, :data:`TERMS`, :data:`RESULTS_DIR`.
"""

from __future__ import annotations

import functools
import json
import math
import os
from pathlib import Path

from .io import TrainingError

SCHEMA = "elbo-lab/results/v1"
#: The JSON Schema of a results file (and of a metrics row, ``$defs/metrics_row``).
SCHEMA_PATH = Path(__file__).resolve().parent / "results.schema.json"

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

#: Standard errors an estimate may stray outside its range before it is refused (as training.surgery_estimators flags).
N_SIGMA = 3.0

#: Arrays of each companion ``.npz``: name -> (number of dimensions, dtype kind: "f" float, "i" integer).
NPZ_ARRAYS = {
    "encodings": {"mu": (2, "f"), "logvar": (2, "f"), "labels": (1, "i")},
    "manifold": {"z": (3, "f"), "images": (4, "f")},
}


class ResultsError(TrainingError):
    """A results file is missing, unreadable or fails the schema; the message names the file, the field and the fix."""


@functools.cache
def schema() -> dict:
    """The JSON Schema document (:data:`SCHEMA_PATH`)."""
    return json.loads(SCHEMA_PATH.read_text())


@functools.cache
def _validator(ref: str | None = None):
    import jsonschema

    doc = schema()
    if ref is not None:  # a sub-schema of $defs, resolved against the whole document
        doc = {"$schema": doc["$schema"], "$defs": doc["$defs"], "$ref": f"#/$defs/{ref}"}
    cls = jsonschema.validators.validator_for(doc)
    cls.check_schema(doc)
    return cls(doc)


def _field(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _short(value) -> str:
    s = json.dumps(value) if not isinstance(value, str) else repr(value)
    return s if len(s) <= 40 else s[:37] + "..."


def _schema_problems(data, ref: str | None = None) -> list[tuple[str, str]]:
    out = []
    for e in sorted(_validator(ref).iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        if e.validator == "type" and isinstance(e.instance, str) and e.instance in ("NaN", "Infinity", "-Infinity"):
            msg = f"is {e.instance}, not a finite number"
        elif e.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            msg = f"= {_short(e.instance)} is out of range ({e.validator} {e.validator_value})"
        elif e.validator == "maxItems" and list(e.absolute_path)[-1:] == ["flags"]:
            msg = f"lists problems {_short(e.instance)} (written with --allow-flagged)"
        else:
            msg = " ".join(e.message.split())
            msg = msg if len(msg) <= 120 else msg[:117] + "..."
        out.append((_field(e.absolute_path), msg))
    return out


def _num(x) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def problems(data: dict) -> list[tuple[str, str]]:
    """Every ``(field, problem)`` of a results dict: the JSON Schema, then the checks across fields.

    An empty list means the file may be written and read. Fields are dotted paths (``train.terms.elbo.value``).
    """
    found = _schema_problems(data)
    if found or not isinstance(data, dict):
        return found
    tr = data["train"]
    t, n, log_n = tr["terms"], tr["n"], tr["log_n"]
    if abs(log_n - math.log(n)) > 1e-6:
        found.append(("train.log_n", f"= {log_n} but log n = {math.log(n):.6f} for n = {n}"))
    for key in ("index_code_mi", "index_code_mi_direct"):
        if key in t:
            v, se = t[key]["value"], t[key]["se"]
            if v < -N_SIGMA * se or v > log_n + N_SIGMA * se:
                found.append((f"train.terms.{key}.value",
                              f"= {v:.4f} ± {se:.4f} is outside [0, log N = {log_n:.4f}] (an MI lies in that range)"))
    marginal_kl_est = t["marginal_kl"]
    if marginal_kl_est["value"] < -N_SIGMA * marginal_kl_est["se"]:
        found.append(("train.terms.marginal_kl.value", f"= {marginal_kl_est['value']:.4f} ± {marginal_kl_est['se']:.4f} < 0 (a KL is >= 0)"))

    def close(a, b):
        return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))

    if not close(t["elbo"]["value"], t["reconstruction"]["value"] - t["avg_kl"]["value"]):
        found.append(("train.terms.elbo.value", "differs from reconstruction - avg_kl"))
    if not close(t["index_code_mi"]["value"], t["avg_kl"]["value"] - marginal_kl_est["value"]):
        found.append(("train.terms.index_code_mi.value", "differs from avg_kl - marginal_kl (H&J eq. 3)"))
    return found


def check(data: dict, source: str | os.PathLike) -> dict:
    """``data`` if :func:`problems` finds nothing, else :class:`ResultsError` naming ``source`` and the first field."""
    found = problems(data)
    if found:
        field, msg = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise ResultsError(f"{source}: field {field} {msg}{more}: this file cannot be used; re-run "
                           f"python -m training evaluate on a healthy run (or restore the file with git)")
    return data


def check_metrics_row(row: dict, source: str) -> dict:
    """One metrics row checked against ``$defs/metrics_row``; a row of the older name ``kl`` reads as ``avg_kl``."""
    if isinstance(row, dict) and "kl" in row and "avg_kl" not in row:  # rows written before the rename
        row = {("avg_kl" if k == "kl" else k): v for k, v in row.items()}
    found = _schema_problems(row, "metrics_row")
    if found:
        field, msg = found[0]
        raise ResultsError(f"{source}: field {field} {msg}: the metrics file is damaged; restore it (git) or "
                           f"re-run python -m training evaluate")
    return row


def parse_json(text: str, source: str | os.PathLike):
    """``json.loads`` that keeps NaN/Infinity as strings (so the schema names them) and fails in one line."""
    try:
        return json.loads(text, parse_constant=str)
    except (json.JSONDecodeError, RecursionError) as e:
        where = f"line {e.lineno}" if isinstance(e, json.JSONDecodeError) else "nesting"
        raise ResultsError(f"{source}: not valid JSON ({where}): the file is damaged; restore it (git) or re-run "
                           f"python -m training evaluate") from None


def path_for(latent_dim: int, results_dir: str | os.PathLike | None = None) -> Path:
    return Path(results_dir or RESULTS_DIR) / f"vae_d{int(latent_dim)}.json"


def available(results_dir: str | os.PathLike | None = None) -> list[int]:
    """Latent sizes with a results file, sorted (e.g. ``[2, 10, 20]``). Files are not validated here."""
    folder = Path(results_dir or RESULTS_DIR)
    out = []
    for p in folder.glob("vae_d*.json") if folder.is_dir() else []:
        stem = p.stem.removeprefix("vae_d")
        if stem.isdigit() and p.is_file():
            out.append(int(stem))
    return sorted(out)


def _read_text(p: Path, limit: int = 16 << 20) -> str:
    try:
        if not p.is_file():
            raise ResultsError(f"{p} is not a regular file: remove it or point --results-dir elsewhere")
        if p.stat().st_size > limit:
            raise ResultsError(f"{p} is {p.stat().st_size} bytes, more than a results file can be: restore it (git)")
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ResultsError(f"{p} cannot be read ({getattr(e, 'strerror', None) or e}): restore it (git)") from None


def load_path(path: str | os.PathLike) -> dict:
    """The validated results dict stored at ``path``. Raises :class:`ResultsError` (one line)."""
    p = Path(path)
    if not p.exists():
        raise ResultsError(f"{p} not found: train and evaluate it (python -m training train --out-dir runs/NAME; "
                           f"python -m training evaluate runs/NAME)")
    return check(parse_json(_read_text(p), p), p)


def load(latent_dim: int, results_dir: str | os.PathLike | None = None) -> dict:
    """The results dict of the model with ``latent_dim`` D, validated. Raises :class:`ResultsError` if absent
    or invalid (one line naming the file and the field)."""
    p = path_for(latent_dim, results_dir)
    if not p.exists():
        raise ResultsError(
            f"{p} not found: train and evaluate it (python -m training train --latent-dim {latent_dim} "
            f"--out-dir runs/vae_d{latent_dim}; python -m training evaluate runs/vae_d{latent_dim})"
        )
    return load_path(p)


def companion(result: dict, kind: str, results_dir: str | os.PathLike | None = None) -> Path:
    """Path of a companion file (``"metrics"``, ``"encodings"``, ``"manifold"``) of a loaded result."""
    name = result["files"].get(kind)
    if name is None:
        raise ResultsError(f"results {result.get('name')} have no {kind!r} file (the manifold exists only for D = 2)")
    return Path(results_dir or RESULTS_DIR) / name


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """Rows of a ``metrics.jsonl`` file, each checked (``$defs/metrics_row``), epochs strictly increasing."""
    p = Path(path)
    rows, last = [], 0
    for i, line in enumerate(_read_text(p).splitlines(), 1):
        if not line.strip():
            continue
        row = check_metrics_row(parse_json(line, f"{p}:{i}"), f"{p}:{i}")
        if row["epoch"] <= last:
            raise ResultsError(f"{p}:{i}: field epoch = {row['epoch']} does not follow epoch {last}: the metrics "
                               f"file is damaged; restore it (git) or re-run python -m training evaluate")
        last = row["epoch"]
        rows.append(row)
    return rows


def load_metrics(latent_dim: int, results_dir: str | os.PathLike | None = None) -> list[dict]:
    """Per-epoch training metrics: dicts ``epoch, elbo, reconstruction, avg_kl, test_elbo, seconds,
    images_per_s`` (nats per image; see :mod:`training.train`)."""
    return read_metrics(companion(load(latent_dim, results_dir), "metrics", results_dir))


def load_npz(result: dict, kind: str, results_dir: str | os.PathLike | None = None) -> dict:
    """Arrays of a companion ``.npz`` (``"encodings"``: ``mu``, ``logvar`` (M, D), ``labels`` (M,);
    ``"manifold"``: ``z`` (G, G, 2), ``images`` (G, G, 28, 28) in [0, 1]), checked: the expected names, ranks
    and dtypes, D = the model's latent size, and every float finite. Raises :class:`ResultsError`."""
    import numpy as np

    p = companion(result, kind, results_dir)
    if not p.is_file():
        raise ResultsError(f"{p} not found or not a regular file: re-run python -m training evaluate")
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001 - zip, pickle and format errors all mean a damaged file
        raise ResultsError(f"{p} cannot be read as .npz ({type(e).__name__}): restore it (git) or re-run "
                           f"python -m training evaluate") from None
    d = result["model"]["latent_dim"]
    for name, (ndim, dkind) in NPZ_ARRAYS[kind].items():
        a = arrays.get(name)
        if a is None or a.ndim != ndim or a.dtype.kind != dkind:
            raise ResultsError(f"{p}: field {name} is missing or not a {ndim}-D {'float' if dkind == 'f' else 'int'} "
                               f"array: re-run python -m training evaluate")
        if dkind == "f" and not np.isfinite(a).all():
            raise ResultsError(f"{p}: field {name} holds non-finite values: re-run python -m training evaluate "
                               f"on a healthy run")
    if kind == "encodings" and not (arrays["mu"].shape == arrays["logvar"].shape
                                    and arrays["mu"].shape[1] == d and len(arrays["labels"]) == len(arrays["mu"])):
        raise ResultsError(f"{p}: field mu/logvar/labels shapes {arrays['mu'].shape}, {arrays['logvar'].shape}, "
                           f"{arrays['labels'].shape} do not fit D = {d}: re-run python -m training evaluate")
    if kind == "manifold":
        im = arrays["images"]
        if arrays["z"].shape[-1] != 2 or im.shape[-2:] != (28, 28) or im.min() < 0 or im.max() > 1:
            raise ResultsError(f"{p}: field images/z have the wrong shape or range: re-run python -m training evaluate")
    return arrays


def table1_rows(results_dir: str | os.PathLike | None = None) -> list[dict]:
    """Our Table 1 beside Hoffman & Johnson's: one row per trained latent size.

    Each row: ``{"latent_dim", "epochs", "ours": {term: {"value", "se"}}, "paper": {term: value} | None,
    "test_elbo": {...}, "iwae": {...}, "log_n": float, "flags": [...]}`` with terms ``elbo, avg_kl,
    index_code_mi, marginal_kl`` in nats. Raises :class:`ResultsError` if a file is invalid.
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

r"""Samples and reconstructions of a trained run, in one small ``.npz`` the book can draw without a checkpoint.

    python -m training.samples runs/beta_sweep/vae_d10_e20_beta1 \
        --out training/results/beta_sweep/vae_d10_e20_beta1.samples.npz

The file (:func:`write_samples`, written atomically by :func:`training.io.atomic_write`) holds:

- ``samples`` (S, 28, 28) uint8: decoder Bernoulli means $\mathrm{sigmoid}(f_\theta(z))$ at $z \sim p(z)$
  (N(0, I) for the standard prior), S = ``n_samples`` (default 64), drawn from ``torch.Generator`` seeded ``seed``;
- ``test_images`` (R, 28, 28) uint8 of 0/1: the first R = ``n_recon`` (default 16) MNIST test images, binarized by
  one Bernoulli draw per pixel (seeded ``seed``), the binary images the encoder sees;
- ``reconstructions`` (R, 28, 28) uint8: decoder Bernoulli means at the encoder's mean, $\mathrm{sigmoid}(f_\theta(
  \mu_\phi(x)))$; ``labels`` (R,) int64 the test images' digit labels;
- provenance: ``run`` (the run folder's name), ``seed``, ``epochs`` (epochs trained), ``latent_dim``, ``beta``,
  ``kl_warmup``, ``free_bits`` (the training objective, :mod:`training.objective`), ``scale`` = 255.

Probabilities are stored as ``round(255 p)`` (uint8, :data:`SCALE`): about 1/510 of rounding error, invisible in a
picture, and a file of a few tens of KB. :func:`load_samples` reads and checks such a file (names, shapes,
dtypes, ranges) and returns the probabilities as float32 in [0, 1].

Errors are one line (:class:`training.io.UsageError` for bad options, :class:`training.checkpoint.CheckpointError` for a
missing or damaged checkpoint, :class:`training.result_files.ResultsError` for a damaged samples file).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from .io import UsageError

#: Stored value = round(SCALE * probability) as uint8.
SCALE = 255
#: Bounds of the options: name -> (lowest, highest).
BOUNDS = {"n_samples": (1, 1024), "n_recon": (1, 256), "seed": (0, 2**31 - 1)}
#: Arrays of a samples file: name -> (number of dimensions, dtype kind).
ARRAYS = {"samples": (3, "u"), "test_images": (3, "u"), "reconstructions": (3, "u"), "labels": (1, "i"),
          "run": (0, "U"), "seed": (0, "i"), "epochs": (0, "i"), "latent_dim": (0, "i"), "beta": (0, "f"),
          "kl_warmup": (0, "i"), "free_bits": (0, "f"), "scale": (0, "i")}


def _to_uint8(p) -> np.ndarray:
    return np.rint(np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0) * SCALE).astype(np.uint8)


def check_options(n_samples: int, n_recon: int, seed: int) -> None:
    """Raise :class:`UsageError` (one line) if an option is not an integer within :data:`BOUNDS`."""
    for key, v in {"n_samples": n_samples, "n_recon": n_recon, "seed": seed}.items():
        lo, hi = BOUNDS[key]
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise UsageError(f"--{key.replace('_', '-')} {v!r} is out of range: use an integer from {lo} to {hi}")


def check_out(out: str | os.PathLike) -> Path:
    """The output path, checked without writing: a ``.npz`` file name whose folder can be created or written."""
    from .cli import check_folder
    from .io import NAME_RE

    raw = str(out)
    if not raw.strip() or "\x00" in raw:
        raise UsageError(f"--out {raw!r} is not a usable path: give a file name ending in .npz")
    p = Path(raw).expanduser()
    if p.suffix != ".npz" or not NAME_RE.fullmatch(p.name) or ".." in p.name:
        raise UsageError(f"--out {raw!r} must name a file ending in .npz (letters, digits, '.', '_' or '-'), "
                         f"e.g. --out training/results/beta_sweep/run.samples.npz")
    if p.exists() and not p.is_file():
        raise UsageError(f"--out {p} exists and is not a regular file (a folder?): choose another --out")
    check_folder(p.parent if str(p.parent) else ".", "--out's folder")
    return p


def draw(model, test_x, n_samples: int = 64, seed: int = 0) -> dict[str, np.ndarray]:
    """The arrays of a samples file from a model (eval mode) and grey test images ``test_x`` (R, 784) in [0, 1].

    Returns ``samples`` (n_samples, 28, 28), ``test_images`` (R, 28, 28) of 0/1 and ``reconstructions``
    (R, 28, 28), all uint8 (probabilities times :data:`SCALE`). Deterministic given ``seed``.
    """
    import torch

    from .data import binarize

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        x = binarize(test_x.float().cpu(), gen)
        if model.prior.learned:  # sample the model's own prior, seeded
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                z = model.prior_distribution().sample((n_samples,))
        else:
            z = torch.randn((n_samples, model.latent_dim), generator=gen)
        samples = torch.sigmoid(model.decode(z))
        mu, _ = model.encode(x)
        recon = torch.sigmoid(model.decode(mu))
    shape = (-1, 28, 28)
    return {"samples": _to_uint8(samples.numpy().reshape(shape)),
            "test_images": x.numpy().reshape(shape).astype(np.uint8),
            "reconstructions": _to_uint8(recon.numpy().reshape(shape))}


def write_samples(run_dir: str | os.PathLike, out: str | os.PathLike, n_samples: int = 64, n_recon: int = 16,
                  seed: int = 0, data_root: str | os.PathLike | None = None, verify: bool = True,
                  test_data: tuple | None = None) -> Path:
    """Draw samples and reconstructions from ``run_dir/checkpoint.pt`` and write them to ``out`` atomically.

    Args:
        run_dir: a run folder of :func:`training.train.train`; its name becomes the ``run`` field.
        out: the ``.npz`` to write (its folder is created if needed).
        test_data: optional ``(images (n, 784) in [0, 1], labels (n,))`` instead of loading the MNIST test split.

    Returns the path written. Raises: :class:`UsageError` (bad option or path), ``CheckpointError`` (no or a
    damaged checkpoint), ``DataError`` (MNIST missing or corrupt), ``DiskFull``.
    """
    check_options(n_samples, n_recon, seed)
    out = check_out(out)
    from .data import load_mnist, require_mnist
    from .io import atomic_write, npz_bytes
    from .checkpoint import CHECKPOINT, load_checkpoint, model_from_checkpoint

    run_dir = Path(run_dir)
    ckpt = load_checkpoint(run_dir)
    model = model_from_checkpoint(ckpt, run_dir / CHECKPOINT)
    cfg = ckpt["config"]
    if test_data is None:
        require_mnist(data_root or cfg.data_root)
        test_x, test_y = load_mnist(False, data_root or cfg.data_root, verify=verify)
    else:
        test_x, test_y = test_data
    if len(test_x) < n_recon:
        raise UsageError(f"--n-recon {n_recon} is more than the {len(test_x)} test images: use at most {len(test_x)}")
    arrays = draw(model, test_x[:n_recon], n_samples, seed)
    arrays.update(
        labels=np.asarray(test_y[:n_recon]).astype(np.int64),
        run=np.array(run_dir.resolve().name), seed=np.array(seed, dtype=np.int64),
        epochs=np.array(int(ckpt["epoch"]), dtype=np.int64), latent_dim=np.array(cfg.latent_dim, dtype=np.int64),
        beta=np.array(float(cfg.beta)), kl_warmup=np.array(int(cfg.kl_warmup), dtype=np.int64),
        free_bits=np.array(float(cfg.free_bits)), scale=np.array(SCALE, dtype=np.int64))
    out.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(out, npz_bytes(**arrays))


def load_samples(path: str | os.PathLike) -> dict:
    """Read and check a samples file of :func:`write_samples`.

    Returns a dict: ``samples`` (S, 28, 28), ``test_images`` (R, 28, 28) and ``reconstructions`` (R, 28, 28) as
    float32 in [0, 1]; ``labels`` (R,) int; ``run`` str; ``seed``, ``epochs``, ``latent_dim``, ``kl_warmup`` int;
    ``beta``, ``free_bits`` float. Raises :class:`training.result_files.ResultsError` (one line) if the file is
    missing, unreadable, or a field is missing or has the wrong shape, dtype or range.
    """
    from .result_files import ResultsError

    p = Path(path)
    fix = f"re-create it: python -m training.samples RUN_DIR --out {p}"
    if not p.is_file():
        raise ResultsError(f"{p} not found or not a regular file: {fix}")
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001 - zip, pickle and format errors all mean a damaged file
        raise ResultsError(f"{p} cannot be read as .npz ({type(e).__name__}): {fix}") from None
    for name, (ndim, kind) in ARRAYS.items():
        a = arrays.get(name)
        if a is None or a.ndim != ndim or a.dtype.kind != kind:
            raise ResultsError(f"{p}: field {name} is missing or not a {ndim}-D array of kind {kind!r}: {fix}")
    imgs = ("samples", "test_images", "reconstructions")
    r = len(arrays["test_images"])
    if (any(arrays[k].shape[1:] != (28, 28) for k in imgs) or len(arrays["reconstructions"]) != r
            or len(arrays["labels"]) != r or int(arrays["scale"]) != SCALE or arrays["test_images"].max() > 1):
        raise ResultsError(f"{p}: shapes or ranges do not fit (images (n, 28, 28), one label and one reconstruction "
                           f"per test image, binary test images, scale {SCALE}): {fix}")
    res = {k: arrays[k].astype(np.float32) / (1 if k == "test_images" else SCALE) for k in imgs}
    res["labels"] = arrays["labels"].astype(int)
    res["run"] = str(arrays["run"])
    for k in ("seed", "epochs", "latent_dim", "kl_warmup"):
        res[k] = int(arrays[k])
    for k in ("beta", "free_bits"):
        res[k] = float(arrays[k])
    return res


def build_parser() -> argparse.ArgumentParser:
    from . import cli

    p = cli.OneLineParser(prog="python -m training.samples",
                          description="Write samples and reconstructions of a trained run to a small .npz.")
    p.add_argument("run_dir", type=cli.path_text, help="run folder holding checkpoint.pt")
    p.add_argument("--out", type=cli.path_text, required=True, help="the .npz to write (atomically)")
    for key, what in (("n_samples", "samples from the prior"), ("n_recon", "first test images to reconstruct"),
                      ("seed", "seed of z and of the test images' binarization")):
        lo, hi = BOUNDS[key]
        default = {"n_samples": 64, "n_recon": 16, "seed": 0}[key]
        p.add_argument("--" + key.replace("_", "-"), dest=key, type=cli.number(int, lo, hi), default=default,
                       help=f"{what} (default: {default})")
    p.add_argument("--data-root", type=cli.path_text, default=None, help="folder holding MNIST/raw "
                   "(default: the run's, else $ELBO_LAB_DATA)")
    return p


def main(argv=None) -> int:
    """Run the command line; return the exit code (0; 2 a bad option or a missing checkpoint; 1 a failure).
    Every error is one line ``error: ...``, never a traceback."""
    from . import cli

    argv = list(sys.argv[1:] if argv is None else argv)

    def body(a) -> int:
        path = write_samples(a.run_dir, a.out, a.n_samples, a.n_recon, a.seed, a.data_root)
        print(f"wrote {path} ({path.stat().st_size} bytes)")
        return 0

    return cli.run_parsed(argv, build_parser(), body, memory_hint="lower --n-samples")


if __name__ == "__main__":
    sys.exit(main())

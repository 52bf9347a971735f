"""Run configuration of the VAE trainer (nanoGPT-style ``@dataclass``).

Every field carries its ``--help`` text in ``metadata["help"]`` (read by :mod:`training.__main__`), and fields
that make up a run's *identity* (the model, the data, the seed) say so with ``metadata["identity"]``: a resumed
run must keep them; every other field (epochs, learning rate and its schedule, batch size, threads, device,
paths spelled differently, ...) may change on ``--resume``, and each change is appended to the run's history.

The resolved config is written beside the outputs (``config.json``) and embedded in the results file.
A config is validated once, when it is made (``__post_init__``: from the command line, from a saved file by
:meth:`TrainConfig.from_dict`, or in Python); call :meth:`TrainConfig.validate` again only after changing a field
by hand. Invalid values raise :class:`ConfigError` (:mod:`training.io`) whose message is one line naming the field
(and its flag) and the fix. :meth:`TrainConfig.check_batch_fits` is the one check that needs the data.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from .io import ConfigError
from .prior_spec import PriorSpec, parse_prior


def opt(default, help: str, *, identity: bool = False):
    """A config field: its default, its ``--help`` text, and whether it is part of the run's identity."""
    return field(default=default, metadata={"help": help, "identity": identity})


@dataclass
class TrainConfig:
    # --- model (Hoffman & Johnson 2016 use "a basic VAE": MLP encoder and decoder) ---
    latent_dim: int = opt(2, "D, dimension of z; Table 1 uses 2, 10 and 20", identity=True)
    hidden: tuple[int, ...] = opt((500, 500), "widths of the encoder's hidden layers (the decoder mirrors them)",
                                  identity=True)
    activation: str = opt("softplus", '"softplus" (smooth, no dead units) or "relu"', identity=True)
    # --- optimisation ---
    epochs: int = opt(50, "passes over the 60000 training images (may be raised on --resume)")
    batch_size: int = opt(100, "images per Adam step")
    lr: float = opt(1e-3, 'Adam learning rate (the peak learning rate when lr_schedule is "cosine"); may be '
                          "lowered on --resume, e.g. after a NaN stop")
    lr_schedule: str = opt("constant", '"constant", or "cosine": linear warm-up from 0 over warmup_epochs, then '
                                       "cosine decay to lr_final at the end of the last epoch (defined in epochs: "
                                       "a resumed run follows the same curve; a change of epochs on resume (recorded in the run's "
                                       "history) recomputes the curve over the new count)")
    warmup_epochs: float = opt(0.0, 'epochs of linear learning-rate warm-up ("cosine" schedule only)')
    lr_final: float = opt(0.0, 'learning rate at the end of the last epoch ("cosine" schedule only)')
    batch_size_late: int = opt(0, "images per step from epoch batch_late_from on (0 = batch_size throughout)")
    batch_late_from: int = opt(0, "first epoch (1-based) that uses batch_size_late (0 = never)")
    prior: str = opt("standard", 'p(z): "standard" N(0, I), "mog:K" (K learned diagonal Gaussians) or "vamp:K" '
                                 "(VampPrior, K learned pseudo-inputs); learned priors train with autograd",
                     identity=True)
    # --- the training objective (training/objective.py); the reported ELBO is always the true ELBO (beta = 1) ---
    beta: float = opt(1.0, "weight on the KL term of the training objective (beta-VAE, Higgins et al. 2017); "
                           "1 = the ELBO; reported ELBOs stay the true ELBO", identity=True)
    kl_warmup: int = opt(0, "epochs of linear KL-weight warm-up from 0 to beta (KL annealing, Bowman et al. 2016); "
                            "0 = none", identity=True)
    free_bits: float = opt(0.0, "free bits: a KL floor in nats per latent dimension on the minibatch-average KL "
                                "(Kingma et al. 2016); 0 = none; N(0, I) prior only", identity=True)
    seed: int = opt(0, "seeds torch (init, shuffling, binarization, reparameterization noise)", identity=True)
    gradients: str = opt("manual", '"manual": the ELBO\'s gradient written out (training/elbo_step.py), faster on '
                                   'CPU; "autograd": torch.autograd, the reference (same gradients to float '
                                   "rounding)")
    # --- data ---
    data_root: str | None = opt(None, "folder holding MNIST/raw; default $ELBO_LAB_DATA, else ./data")
    train_subset: int | None = opt(None, "use only the first n training images (smoke tests); default all 60000",
                                   identity=True)
    verify_data: bool = opt(True, "check the sha256 of the MNIST files against the canonical values")
    # --- run bookkeeping ---
    out_dir: str = opt("runs/vae_d2", "the run folder: checkpoint.pt, config.json, metrics.jsonl land here")
    test_every: int = opt(5, "compute the test-set ELBO every k epochs (0 = never during training)")
    device: str = opt("auto", '"auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N"')
    threads: int = opt(0, "CPU threads for torch; 0 = all cores of this machine")
    progress: bool = opt(True, "show a tqdm progress bar with the running ELBO")
    max_minutes: float = opt(0.0, "stop after the epoch that passes this wall time (0 = no limit); --resume "
                                  "continues")

    #: Bounds of the numeric fields: name -> (lowest, highest) allowed value.
    BOUNDS = {
        "latent_dim": (1, 1024), "epochs": (1, 100_000), "batch_size": (1, 60_000), "lr": (0.0, 10.0),
        "warmup_epochs": (0.0, 100_000.0), "lr_final": (0.0, 10.0), "batch_size_late": (0, 60_000),
        "batch_late_from": (0, 100_000), "seed": (0, 2**32 - 1), "train_subset": (1, 60_000),
        "test_every": (0, 100_000), "threads": (0, 256), "max_minutes": (0.0, 1e6),
        "beta": (0.0, 1e4), "kl_warmup": (0, 100_000), "free_bits": (0.0, 1e3),
    }

    def __post_init__(self):
        self.validate()

    @property
    def prior_spec(self) -> PriorSpec:
        """``prior`` parsed (by :func:`training.prior_spec.parse_prior`, at validation)."""
        if self._prior_spec.text != self.prior:  # the field was changed by hand after validation
            self._prior_spec = parse_prior(self.prior)
        return self._prior_spec

    def validate(self) -> "TrainConfig":
        """Raise :class:`ConfigError` (one line) on an invalid value; return ``self`` otherwise. Runs when the
        config is made; call it again only after changing a field by hand."""
        self._check_types()
        for name, (lo, hi) in self.BOUNDS.items():
            v = getattr(self, name)
            if v is None:
                continue
            if not (math.isfinite(v) and lo <= v <= hi):
                raise ConfigError(f"{name}={v!r} is out of range: use a value from {lo} to {hi} ({_flag(name)})")
        if not self.beta > 0:
            raise ConfigError(f"beta={self.beta} is invalid: the KL weight must be > 0 (e.g. --beta 0.5; 1 = the ELBO)")
        if self.free_bits > 0 and self.prior != "standard":
            raise ConfigError(f"free_bits={self.free_bits} needs the N(0, I) prior (its KL splits over dimensions), "
                              f"not prior={self.prior!r}: drop --free-bits or use --prior standard")
        if not self.lr > 0:
            raise ConfigError(f"lr={self.lr} is invalid: the learning rate must be > 0 (e.g. --lr 1e-3)")
        if not self.hidden or len(self.hidden) > 8 or any(not 1 <= h <= 8192 for h in self.hidden):
            raise ConfigError(f"hidden={list(self.hidden)!r} is invalid: give 1 to 8 layer widths from 1 to 8192, "
                              f"e.g. --hidden 500 500")
        if self.activation not in ("softplus", "relu"):
            raise ConfigError(f"activation={self.activation!r} is unknown: use 'softplus' or 'relu'")
        if self.gradients not in ("manual", "autograd"):
            raise ConfigError(f"gradients={self.gradients!r} is unknown: use 'manual' or 'autograd'")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ConfigError(f"lr_schedule={self.lr_schedule!r} is unknown: use 'constant' or 'cosine'")
        self._prior_spec = parse_prior(self.prior)  # raises ConfigError with the fix
        dev = self.device
        if not (dev in ("auto", "cpu", "cuda") or (dev.startswith("cuda:") and dev[5:].isdigit() and len(dev) < 9)):
            raise ConfigError(f"device={dev!r} is unknown: use auto, cpu, cuda or cuda:N")
        if not self.out_dir.strip() or "\x00" in self.out_dir:
            raise ConfigError(f"out_dir={self.out_dir!r} is not a usable path: give a folder, e.g. --out-dir runs/r1")
        if self.data_root is not None and (not self.data_root.strip() or "\x00" in self.data_root):
            raise ConfigError(f"data_root={self.data_root!r} is not a usable path: give the folder holding MNIST/raw")
        return self

    def check_batch_fits(self, n_train: int) -> None:
        """Raise :class:`ConfigError` if a batch size exceeds the ``n_train`` training images (known once the data
        is loaded)."""
        if self.batch_size > n_train:
            raise ConfigError(
                f"batch_size={self.batch_size} is larger than the {n_train} training images: lower --batch-size"
            )
        if self.batch_size_late > n_train:
            raise ConfigError(f"batch_size_late={self.batch_size_late} is larger than the {n_train} training "
                              f"images: lower --batch-size-late")

    def _check_types(self) -> None:
        """Each field holds its declared type (a config read from a damaged checkpoint may not)."""
        kinds = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            t = str(f.type)
            if t.endswith(" | None"):
                if v is None:
                    continue
                t = t.removesuffix(" | None")
            if t == "tuple[int, ...]":
                ok = isinstance(v, (tuple, list)) and all(isinstance(h, int) and not isinstance(h, bool) for h in v)
            else:
                ok = isinstance(v, kinds[t]) and (t == "bool" or not isinstance(v, bool))
            if not ok:
                want = {"int": "an integer", "float": "a number", "str": "a text", "bool": "true or false"}.get(t, t)
                raise ConfigError(f"{f.name}={v!r} has the wrong type: {_flag(f.name)} takes {want}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """The config of a saved dict (``config.json`` or a checkpoint), validated (names, types and ranges)."""
        if not isinstance(d, dict):
            raise ConfigError(f"a saved config must be a JSON object, not {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown config field(s) {sorted(map(str, unknown))}: valid fields are {sorted(names)}")
        d = dict(d)
        d.setdefault("gradients", "autograd")  # configs written before the field existed were trained with autograd
        if isinstance(d.get("hidden"), list):
            d["hidden"] = tuple(d["hidden"])
        cfg = cls(**d)
        cfg._check_types()
        return cfg

    @classmethod
    def identity_fields(cls) -> tuple[str, ...]:
        """Fields that define a run (model, data, seed): they must match on ``--resume``."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("identity"))


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def resolve_device(name: str):
    """Map a config device string to a ``torch.device``; raise :class:`ConfigError` if it is unavailable."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} requested but CUDA is not available here: use --device cpu or auto")
    return torch.device(name)


__all__ = ["ConfigError", "TrainConfig", "opt", "resolve_device"]

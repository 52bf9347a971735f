"""Run configuration of the VAE trainer (nanoGPT-style ``@dataclass``, every field commented).

The resolved config is written beside the outputs (``config.json``) and embedded in the results file.
Invalid values raise :class:`ConfigError` whose message is one line naming the field and the fix.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field and how to fix it."""


@dataclass
class TrainConfig:
    # --- model (Hoffman & Johnson 2016 use "a basic VAE": MLP encoder and decoder) ---
    latent_dim: int = 2  # D, dimension of z; Table 1 uses 2, 10 and 20
    hidden: tuple[int, ...] = (500, 500)  # widths of the encoder's hidden layers (the decoder mirrors them)
    activation: str = "softplus"  # "softplus" (smooth, no dead units) or "relu"
    # --- optimisation ---
    epochs: int = 50  # passes over the 60000 training images
    batch_size: int = 100  # images per Adam step
    lr: float = 1e-3  # Adam learning rate
    seed: int = 0  # seeds torch (init, shuffling, binarization, reparameterization noise)
    gradients: str = "manual"  # "manual": the ELBO's gradient written out (training/elbo_step.py), faster on CPU;
    #                            "autograd": torch.autograd, the reference (same gradients to float rounding)
    # --- data ---
    data_root: str | None = None  # folder holding MNIST/raw; None -> $ELBO_LAB_DATA, else ./data
    train_subset: int | None = None  # use only the first n training images (smoke tests); None = all 60000
    verify_data: bool = True  # check the sha256 of the MNIST files against the canonical values
    # --- run bookkeeping ---
    out_dir: str = "runs/vae_d2"  # checkpoint, config.json, metrics.jsonl land here
    test_every: int = 5  # compute the test-set ELBO every k epochs (0 = never during training)
    device: str = "auto"  # "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N"
    threads: int = 0  # CPU threads for torch; 0 = all cores of this machine
    progress: bool = True  # show a tqdm progress bar with the running ELBO
    max_minutes: float = 0.0  # stop after the epoch that passes this wall time (0 = no limit); --resume continues

    def validate(self, n_train: int | None = None) -> "TrainConfig":
        """Raise :class:`ConfigError` (one line) on an invalid value; return ``self`` otherwise."""
        if not isinstance(self.latent_dim, int) or self.latent_dim < 1:
            raise ConfigError(f"latent_dim={self.latent_dim!r} is invalid: use an integer >= 1 (e.g. --latent-dim 2)")
        if not self.hidden or any(int(h) < 1 for h in self.hidden):
            raise ConfigError(f"hidden={self.hidden!r} is invalid: give positive layer widths, e.g. --hidden 500 500")
        if self.activation not in ("softplus", "relu"):
            raise ConfigError(f"activation={self.activation!r} is unknown: use 'softplus' or 'relu'")
        if self.gradients not in ("manual", "autograd"):
            raise ConfigError(f"gradients={self.gradients!r} is unknown: use 'manual' or 'autograd'")
        if self.epochs < 1:
            raise ConfigError(f"epochs={self.epochs} is invalid: use an integer >= 1")
        if not self.lr > 0:
            raise ConfigError(f"lr={self.lr} is invalid: the learning rate must be > 0 (e.g. --lr 1e-3)")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size={self.batch_size} is invalid: use an integer >= 1")
        if n_train is not None and self.batch_size > n_train:
            raise ConfigError(
                f"batch_size={self.batch_size} is larger than the {n_train} training images: lower --batch-size"
            )
        if self.train_subset is not None and self.train_subset < 1:
            raise ConfigError(f"train_subset={self.train_subset} is invalid: use a positive count or leave it unset")
        if self.test_every < 0:
            raise ConfigError(f"test_every={self.test_every} is invalid: use 0 (never) or a positive epoch count")
        if self.threads < 0:
            raise ConfigError(f"threads={self.threads} is invalid: use 0 (all cores) or a positive count")
        dev = self.device
        if not (dev in ("auto", "cpu", "cuda") or (dev.startswith("cuda:") and dev[5:].isdigit())):
            raise ConfigError(f"device={dev!r} is unknown: use auto, cpu, cuda or cuda:N")
        return self

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown config field(s) {sorted(unknown)}: valid fields are {sorted(names)}")
        d = dict(d)
        d.setdefault("gradients", "autograd")  # configs written before the field existed were trained with autograd
        if "hidden" in d:
            d["hidden"] = tuple(int(h) for h in d["hidden"])
        return cls(**d)


def resolve_device(name: str):
    """Map a config device string to a ``torch.device``; raise :class:`ConfigError` if it is unavailable."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} requested but CUDA is not available here: use --device cpu or auto")
    return torch.device(name)


__all__ = ["ConfigError", "TrainConfig", "resolve_device"]

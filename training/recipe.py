r"""The training recipe of ``python -m training reproduce``: :class:`training.config.TrainConfig` values.

:data:`RECIPE` (chosen for time-to-quality on a 2-core CPU; ``book`` explains it from ``plan.json``'s copy in
the results' provenance): Adam, linear warm-up then cosine decay of the learning rate to ~0 (SGDR without
restarts, Loshchilov & Hutter 2017), batch 100 for the first part of the run, a larger batch late (fewer,
cheaper-per-image steps when the noise of small batches no longer helps), and the written-out gradient of
:mod:`training.elbo_step`. Every key is a ``TrainConfig`` field except those of :data:`RECIPE_ONLY`, which say
how the epoch-dependent fields are derived (:func:`run_config`) or describe what the config cannot.
"""

from __future__ import annotations

from pathlib import Path

#: Table 1's latent sizes, and the number of MNIST training images.
PAPER_DIMS = (2, 10, 20)
N_TRAIN = 60000

#: Recipe keys that are not ``TrainConfig`` fields: ``optimizer`` (a description: Adam is the trainer's only
#: optimizer), ``late_fraction`` (share of the epochs, the last ones, trained with ``batch_size_late``; it sets
#: ``batch_late_from``), ``batch_capped_to_subset`` (set by :func:`recipe_for` on a small ``train_subset``).
RECIPE_ONLY = ("optimizer", "late_fraction", "batch_capped_to_subset")

#: The training recipe of ``reproduce``. ``warmup_epochs`` may be fractional.
RECIPE = {
    "optimizer": "Adam (fused), betas (0.9, 0.999)",
    "lr_schedule": "cosine",
    "lr": 2e-3,
    "warmup_epochs": 2.0,
    "lr_final": 1e-5,
    "batch_size": 100,
    "batch_size_late": 250,
    "late_fraction": 0.5,
    "gradients": "manual",
}

#: The recipe before this command (issue 14): Adam 1e-3, constant, batch 100 (the benchmark's comparison).
PREVIOUS_RECIPE = {"optimizer": "Adam (fused)", "lr_schedule": "constant", "lr": 1e-3, "batch_size": 100,
                   "batch_size_late": 0, "late_fraction": 0.0, "warmup_epochs": 0.0, "lr_final": 0.0,
                   "gradients": "manual"}



def recipe_for(name: str, train_subset: int | None) -> dict:
    """The recipe ``name`` (``"recipe"`` or ``"previous"``); on a ``train_subset`` smaller than one of its batches
    (a smoke test), that batch is the whole subset, and ``batch_capped_to_subset`` says so in the plan."""
    recipe = dict(PREVIOUS_RECIPE if name == "previous" else RECIPE)
    if train_subset is not None:
        for key in ("batch_size", "batch_size_late"):
            if recipe[key] > train_subset:
                recipe[key] = train_subset
                recipe["batch_capped_to_subset"] = True
    return recipe


def run_config(dim: int, epochs: int, recipe: dict, out_dir: Path, threads: int, device: str,
               data_root: str | None, train_subset: int | None, prior: str = "standard", seed: int = 0,
               verify: bool = True):
    """The :class:`training.config.TrainConfig` of one model of the job: the recipe's config values, with the two
    that depend on the epochs derived here (the warm-up, at most ``epochs - 1``; the first epoch of the late batch
    size, from ``late_fraction``). Raises ``ConfigError`` if a value is invalid."""
    from .config import TrainConfig

    late_from = 0
    if recipe.get("batch_size_late") and recipe.get("late_fraction", 0) > 0:
        late_from = max(1, epochs - int(round(recipe["late_fraction"] * epochs)) + 1)
    values = {k: v for k, v in recipe.items() if k not in RECIPE_ONLY}
    values.update(warmup_epochs=min(recipe["warmup_epochs"], max(epochs - 1, 0)),
                  batch_size_late=recipe["batch_size_late"] if late_from else 0, batch_late_from=late_from)
    return TrainConfig(
        **values, latent_dim=dim, epochs=epochs, prior=prior, seed=seed, data_root=data_root,
        train_subset=train_subset, out_dir=str(out_dir), test_every=0, device=device, threads=threads,
        progress=False, verify_data=verify,
    )


def time_to(metrics: list[dict], target: float) -> float | None:
    """Cumulative training seconds at the end of the first epoch whose ELBO is >= ``target`` nats, or ``None`` if
    none is. ``metrics``: the trainer's per-epoch rows (``seconds``, ``elbo``: the epoch's running average)."""
    t = 0.0
    for m in metrics:
        t += m["seconds"]
        if m["elbo"] >= target:
            return t
    return None


__all__ = ["N_TRAIN", "PAPER_DIMS", "PREVIOUS_RECIPE", "RECIPE", "RECIPE_ONLY", "recipe_for", "run_config", "time_to"]

"""The scene registry: every lecture animation, in story order, with the input files it declares.

The story order is ``derivations.registry.ORDER``: a scene that shows identities sits at the first of them
(``tests/test_story_order.py`` checks it); the scenes of trained runs close the list.

Importing this module does not import Manim; ``SceneSpec.load()`` imports the scene's chapter module.
The render manifest hashes each scene's chapter file, the vizlab helpers and ``inputs()`` (see
``vizlab.render``), so a scene is re-rendered exactly when something it shows could have changed.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vizlab import data

__all__ = ["SceneSpec", "SCENES", "SCENE_NAMES", "get_spec"]

_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class SceneSpec:
    name: str  # PascalCase class name, also the video's file name <name>.mp4
    module: str  # chapter module under vizlab.scenes, e.g. "ch02_elbo"
    summary: str  # one line for `python -m vizlab list`
    inputs: Callable[[], list[Path]]  # files whose content the scene shows (hashed into the manifest)

    @property
    def source(self) -> Path:
        """The chapter file defining the scene."""
        return _HERE / f"{self.module}.py"

    def load(self):
        """The scene class, a ``vizlab.lecture.LectureScene`` (imports Manim and manim-slides)."""
        mod = importlib.import_module(f"vizlab.scenes.{self.module}")
        return getattr(mod, self.name)


def _derivations(*modules: str) -> Callable[[], list[Path]]:
    return lambda: data.derivations_files(*modules)


def _with_results(modules: tuple[str, ...], dims, kinds: tuple[str, ...]) -> Callable[[], list[Path]]:
    """Derivations modules + result files: ``kinds`` of the 2-D model, the JSON of every dim in ``dims``."""
    return lambda: data.derivations_files(*modules) + data.result_paths(dims) + data.result_paths((2,), kinds)


SCENES: tuple[SceneSpec, ...] = (
    SceneSpec("EvidenceMonteCarlo", "ch00_evidence",
              "naive vs importance-sampled estimates of p(x); IWAE bounds between the ELBO and log p(x)",
              _derivations("evidence_monte_carlo", "models.linear_gaussian")),
    SceneSpec("JensenInequality", "ch01_jensen",
              "chords under log, the mean of points lies below the curve (UDL fig. 17.4)",
              _derivations("jensen")),
    SceneSpec("ElboGap", "ch02_elbo",
              "log p(x) = ELBO + KL(q || posterior) as q moves to the exact linear-Gaussian posterior",
              _derivations("elbo_gap", "models.linear_gaussian")),
    SceneSpec("ElboDecomposition", "ch02_elbo",
              "ELBO = reconstruction - KL to the prior; the Gaussian KL closed form term by term",
              _with_results(("elbo_decompositions", "gaussian_kl", "models.linear_gaussian"), data.LATENT_DIMS,
                            ("encodings",))),
    SceneSpec("EmCoordinateAscent", "ch04_em",
              "EM: the E-step closes the gap, the M-step raises the bound", _derivations("em", "models.linear_gaussian")),
    SceneSpec("Reparameterization", "ch03_gradients",
              "sampling moved out of the path; score-function vs pathwise gradient variances",
              _derivations("score_function_gradient", "reparameterization_gradient", "models.gradient_estimators")),
    SceneSpec("FlowAsDiracVae", "ch05_flows",
              "Gaussian encoder with sigma -> 0: the ELBO converges to the flow's log p(x)",
              _derivations("flow_as_dirac_vae")),
    SceneSpec("ElboSurgery", "ch06_surgery",
              "aggregated posterior vs prior; avg KL = index-code MI + marginal KL for 2/10/20-D",
              _with_results(("elbo_surgery",), data.LATENT_DIMS, ("encodings",))),
    SceneSpec("LearnedManifold", "ch07_manifold",
              "the 2-D decoder on a Gaussian inverse-CDF grid (Kingma & Welling fig. 4)",
              lambda: data.result_paths((2,), ("manifold",))),
    SceneSpec("LearnedPrior", "ch08_priors",
              "q(z) of the 2-D model under N(0, I) and fitted MoG / VampPrior contours; the marginal KL shrinks",
              lambda: data.derivations_files("elbo_surgery") + data.priors_paths(2)),
)

SCENE_NAMES: tuple[str, ...] = tuple(s.name for s in SCENES)


def get_spec(name: str) -> SceneSpec:
    """The spec of scene ``name``; ``KeyError`` listing the valid names."""
    for s in SCENES:
        if s.name == name:
            return s
    raise KeyError(f"unknown scene {name!r}; valid: {', '.join(SCENE_NAMES)}")

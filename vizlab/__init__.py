"""ELBO Lab's lecture animations: a Manim scene for every ELBO identity, driven by real values.

* ``vizlab.palette``  -- one color per ELBO term (no Manim import; used by the book and matplotlib too).
* ``vizlab.data``     -- reads the trainer's result files (``training/results/*.json`` + ``.npz``).
* ``vizlab.common``   -- Manim helpers: stacked term bars, term legend, numbers read from files.
* ``vizlab.scenes``   -- the scenes, one file per chapter, in story order (``vizlab.scenes.SCENES``).
* ``vizlab.render``   -- ``python -m vizlab render|list``: renders to ``DIR/<SceneName>.mp4``, skips
  scenes whose code and inputs are unchanged (``DIR/manifest.json``).

Importing ``vizlab`` does no work and does not import Manim.
"""

__all__ = ["palette"]

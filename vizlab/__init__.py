"""ELBO Lab's lecture animations: a Manim scene for every ELBO identity, driven by real values.

* ``vizlab.palette``     -- one color per ELBO term (no Manim import; used by the book and matplotlib too).
* ``vizlab.data``        -- the scenes' inputs, read through ``training.result_files`` (the one reader).
* ``vizlab.style``       -- text sizes of the lecture-readability rule, titles, notes, legends, numbers.
* ``vizlab.formulas``    -- ``sympy.latex`` of the registry's proved statements, terms colored.
* ``vizlab.plots``       -- axes labelled with quantity and unit, bars, curves.
* ``vizlab.fast_number`` -- a number readout cheap enough to update every frame.
* ``vizlab.camera``      -- a camera that draws images under Pillow 13.
* ``vizlab.lecture``     -- ``LectureScene``: a scene that is also a manim-slides deck, speaker notes.
* ``vizlab.readability`` -- the readability rule checked on a scene's mobjects after every animation.
* ``vizlab.scenes``      -- the scenes, one file per chapter, in story order (``vizlab.scenes.SCENES``).
* ``vizlab.render``      -- renders to ``DIR/<SceneName>.mp4`` (+ slides), skips unchanged scenes.
* ``vizlab.slides``      -- ``python -m vizlab slides``: offline RevealJS decks and a PDF handout.

Importing ``vizlab`` does no work and does not import Manim.
"""

__all__ = ["palette"]

"""``ImageMobject`` under Pillow >= 13: a camera whose image drawing works (used by ``LearnedManifold``).

Manim 0.22's ``Camera.display_image_mobject`` builds its canvas with
``Image.fromarray(np.zeros((h, w)), mode="RGBA")``; Pillow 13 rejects a 2-D float array with an RGBA mode
("Invalid mode for data type").  ``image_safe_camera()`` answers that one call with
``Image.new("RGBA", (w, h))`` (the same transparent canvas) for the duration of each image draw; nothing
global is left patched.
"""

from __future__ import annotations

import numpy as np

__all__ = ["image_safe_camera"]


class _PillowShim:
    """Stands in for ``PIL.Image`` inside ``manim.camera.camera`` during one image draw."""

    def __init__(self, image_module):
        self._image = image_module

    def __getattr__(self, name):
        return getattr(self._image, name)

    def fromarray(self, obj, mode=None):
        arr = np.asarray(obj)
        if mode == "RGBA" and arr.ndim == 2:
            return self._image.new("RGBA", (arr.shape[1], arr.shape[0]))
        return self._image.fromarray(obj) if mode is None else self._image.fromarray(obj, mode=mode)


def image_safe_camera():
    """A ``Camera`` subclass whose image drawing works with Pillow 13 (see the module docstring).

    Use as ``Scene.__init__(self, camera_class=image_safe_camera(), **kw)``.
    """
    import manim.camera.camera as cam_mod
    from manim import Camera

    class ImageSafeCamera(Camera):
        def display_image_mobject(self, image_mobject, pixel_array):
            original = cam_mod.Image
            cam_mod.Image = _PillowShim(original)
            try:
                return super().display_image_mobject(image_mobject, pixel_array)
            finally:
                cam_mod.Image = original

    return ImageSafeCamera

"""The base of every scene: one ``construct`` gives the video and the slide deck (manim-slides).

``LectureScene`` is a ``manim_slides.Slide``.  ``python -m vizlab render`` renders it as a video (the slide
breaks add no time); ``python -m vizlab slides`` renders the same class and converts its slides to an
offline RevealJS deck and a PDF handout.  A scene calls ``self.step(notes)`` where the lecturer pauses,
*before* the animations of the step; ``notes`` become the speaker notes of that slide.  The statement's
slide carries the justification of every step of the proof from the ``derivations`` registry
(``proof_notes``).
"""

from __future__ import annotations

from manim_slides import Slide

__all__ = ["LectureScene", "proof_notes"]


def proof_notes(name: str) -> str:
    """Markdown speaker notes for identity ``name``: title, source, and each proof step's justification
    (``derivations.get_identity(name).steps[i].why``), numbered as in the book."""
    from derivations import get_identity

    ident = get_identity(name)
    lines = [f"**{ident.title}** ({ident.source})", "", "Proof, step by step:"]
    lines += [f"{i + 1}. {s.why}" for i, s in enumerate(ident.steps)]
    return "\n".join(lines)


class LectureScene(Slide):
    """A Manim scene that is also a slide deck; subclasses implement ``construct`` with ``self.step``."""

    #: Reversed clips are only used by manim-slides' Qt presenter, not by the HTML deck or the PDF.
    skip_reversing = True

    def __init__(self, *args, **kwargs):
        # manim-slides 5.7's ``Slide.__init__`` only sets ``config["write_to_movie"] = True`` (for OpenGL), a
        # key Manim 0.22 no longer has (it raises); the Cairo renderer writes the movie anyway, so skip it.
        super(Slide, self).__init__(*args, **kwargs)

    def render(self, *args, **kwargs) -> None:
        """Render the video, then write the slides (``manim_slides.Slide.render`` without its
        ``max_files_cached = inf``, which Manim 0.22 rejects; -1 is its "unlimited")."""
        from manim import Scene, config

        max_files = config["max_files_cached"]
        config["max_files_cached"] = -1  # the slides are cut from the partial movie files: keep them all
        try:
            Scene.render(self, *args, **kwargs)
        finally:
            config["max_files_cached"] = max_files
        self._save_slides(use_cache=not (config["disable_caching"] or self.disable_caching),
                          flush_cache=self.flush_cache, skip_reversing=self.skip_reversing)

    def step(self, notes: str = "") -> None:
        """Start a new slide here (the lecturer pauses before it); ``notes``: its speaker notes (Markdown)."""
        self.next_slide(notes=notes)

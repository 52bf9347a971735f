"""The story order is written once, ``derivations.registry.ORDER``; the scenes, the book and the registry follow it.

(The book's table of contents is held to it by ``tests/book/test_book_sources.py``; the registry by
``tests/derivations/test_derivations_identities.py``.)
"""
from __future__ import annotations

from derivations.registry import ORDER


def _story_position(spec) -> int | None:
    """The place in ``ORDER`` of the first identity a scene shows (read from the files it declares), or None."""
    shown = [p.stem for p in spec.inputs() if p.parent.name == "derivations" and p.stem in ORDER]
    return min(ORDER.index(m) for m in shown) if shown else None


def test_scenes_follow_the_story_order():
    from vizlab.scenes import SCENES

    positions = [(spec.name, _story_position(spec)) for spec in SCENES]
    told = [pos for _, pos in positions if pos is not None]
    assert told == sorted(told), f"scenes out of derivations.registry.ORDER: {positions}"
    assert {ORDER[p] for p in told} >= {"evidence_monte_carlo", "jensen", "elbo_gap", "em", "elbo_surgery"}


def test_the_order_check_can_fail():
    """Swapping two scenes of different identities breaks the order the test above checks."""
    from vizlab.scenes import SCENES

    told = [_story_position(s) for s in SCENES if _story_position(s) is not None]
    swapped = [told[1], told[0], *told[2:]]
    assert told[0] != told[1] and swapped != sorted(swapped)

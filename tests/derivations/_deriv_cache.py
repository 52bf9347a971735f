"""Shared helpers for the derivations tests: proofs and checks are cached (they are deterministic); edited copies."""
import dataclasses
import functools

from derivations import REGISTRY


@functools.lru_cache(maxsize=None)
def proof_of(name: str, twin: int | None = None):
    ident = REGISTRY[name] if twin is None else REGISTRY[name].wrong_twins[twin]
    return ident.prove()


@functools.lru_cache(maxsize=None)
def check_of(name: str, twin: int | None = None, seed: int = 0):
    ident = REGISTRY[name] if twin is None else REGISTRY[name].wrong_twins[twin]
    return ident.check(seed)


TWIN_CASES = [(n, k) for n, ident in REGISTRY.items() for k in range(len(ident.wrong_twins))]


def edited(ident, index=None, statement=None, **changes):
    """A copy of ``ident`` (same class) built from its public ``build()``, with the step ``index`` changed by
    ``changes`` (``expr=...``, ``witness=...``, ``rel=...``) and/or the statement replaced: what a user editing
    a derivation might do."""
    built = dict(ident.build())
    if index is not None:
        steps = list(built["steps"])
        steps[index] = dataclasses.replace(steps[index], **changes)
        built["steps"] = steps
    if statement is not None:
        built["statement"] = statement
    return type(ident)(ident.name, ident.title, ident.source, build=lambda: built, check_fn=ident.check_fn)

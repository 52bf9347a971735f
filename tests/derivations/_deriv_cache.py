"""Shared helpers for the derivations tests: proofs and checks are cached (they are deterministic)."""
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

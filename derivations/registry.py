"""The identity registry, in story order: the report, the tests, the scenes and the book enumerate it."""
from __future__ import annotations

from importlib import import_module

from derivations.identity import Identity
from derivations.steps import UnknownIdentityError

#: Module names, in the order the story is told.
ORDER = [
    "evidence_monte_carlo",
    "jensen",
    "elbo_gap",
    "elbo_decompositions",
    "gaussian_kl",
    "em",
    "score_function_gradient",
    "reparameterization_gradient",
    "flow_as_dirac_vae",
    "elbo_surgery",
]


def _load() -> dict:
    reg = {}
    for mod in ORDER:
        ident = import_module(f"derivations.{mod}").IDENTITY  # a missing module is an error
        reg[ident.name] = ident
    return reg


#: ``dict[str, Identity]`` in story order.
REGISTRY: dict = _load()


def get_identity(name: str) -> Identity:
    """Return the identity called ``name``.

    Raises:
        UnknownIdentityError: (a ``KeyError``) if ``name`` is not registered; the message lists the known names.
    """
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownIdentityError(
            f"unknown identity {name!r}; known identities: {', '.join(REGISTRY)}"
        ) from None

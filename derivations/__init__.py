r"""ELBO Lab derivations: every ELBO identity proved with SymPy and confirmed numerically.

>>> from derivations import REGISTRY, get_identity
>>> ident = get_identity("elbo_gap")
>>> ident.prove().ok, ident.check(seed=0).ok            # doctest: +SKIP
(True, True)

``REGISTRY`` is a ``dict[str, Identity]`` in story order.  Importing this package builds SymPy symbols
only; proofs run on ``prove()``, numeric checks on ``check(seed)``.  Run the report with
``python -m derivations``.  Quantities are in nats.
"""
from derivations.identity import Identity
from derivations.steps import Derivation, NumericResult, ProofResult, Step, UnknownIdentityError


def __getattr__(name):  # REGISTRY and get_identity on first use: the identity modules import SciPy (seconds)
    if name in ("REGISTRY", "get_identity"):
        from derivations import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'derivations' has no attribute {name!r}")


__all__ = ["REGISTRY", "get_identity", "Identity", "Step", "Derivation", "ProofResult", "NumericResult",
           "UnknownIdentityError", "check_derivation"]


def check_derivation(text: str, seed: int = 0):
    """Check a derivation written in the course's LaTeX (an ``aligned`` block); see :mod:`derivations.check`.

    Imported on first use (the LaTeX reader needs ``lark``).  Returns a :class:`derivations.check.CheckResult`.
    """
    from derivations.check import check_derivation as _check

    return _check(text, seed=seed)

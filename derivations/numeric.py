r"""Numeric helpers of the checks: tolerances from standard errors, normalization of densities.

Numeric checks return :class:`derivations.steps.NumericResult`; their tolerances follow from standard errors
(``Z_TOL = 4`` standard errors plus a floating-point floor, :func:`within`).  Every density a check uses is
shown to integrate to one with :func:`integrates_to_one`, so a consistently unnormalized model cannot pass.
"""
from __future__ import annotations

import math
from typing import Callable

__all__ = ["Z_TOL", "within", "integrates_to_one", "normalization_claims", "Component", "result_of"]

#: Monte Carlo tolerance, in standard errors.  With a fixed seed the checks are deterministic; 4 SE
#: means a correct identity would fail with probability about 6e-5 under a fresh seed.
Z_TOL = 4.0


def within(estimate: float, se: float, exact: float, floor: float = 1e-9) -> tuple[bool, float]:
    r"""Is ``|estimate - exact| <= Z_TOL * se + floor * (1 + |exact|)``?  Returns ``(ok, tol)``.

    The floor absorbs floating-point round-off for zero-variance (or quadrature) estimates.
    """
    tol = Z_TOL * float(se) + floor * (1.0 + abs(float(exact)))
    return bool(abs(float(estimate) - float(exact)) <= tol), float(tol)


def integrates_to_one(pdf: Callable[[float], float], lo: float = -math.inf, hi: float = math.inf,
                      tol: float = 1e-7) -> tuple[bool, float]:
    r"""Does $\int_{lo}^{hi} \mathrm{pdf}(t)\,dt = 1$ (adaptive quadrature, ``scipy.integrate.quad``)?

    Args:
        pdf: a scalar density function (not a log-density).  lo, hi: the support.
        tol: allowed absolute error of the total mass.
    Returns:
        ``(ok, mass)``.
    """
    from scipy.integrate import quad

    mass, err = quad(pdf, lo, hi, limit=200, epsabs=1e-11, epsrel=1e-11)
    return bool(abs(mass - 1.0) <= tol + err), float(mass)


def normalization_claims(pdfs: dict, lo: float = -math.inf, hi: float = math.inf) -> list:
    """``[(f"{label} integrates to {mass}", ok), ...]`` for each ``label -> pdf`` (see :func:`integrates_to_one`)."""
    out = []
    for label, pdf in pdfs.items():
        ok, mass = integrates_to_one(pdf, lo, hi)
        out.append((f"{label} integrates to {mass:.9f}", ok))
    return out


class Component:
    """One reported numeric component: an estimate with its standard error against the value it must match.

    ``ok`` is :func:`within` ``(estimate, se, exact)``; :meth:`rejects_perturbation` says whether the same
    estimate would reject an ``exact`` off by the relative error ``rel`` (the power of the check).
    """

    def __init__(self, label: str, estimate: float, se: float, exact: float):
        self.label, self.estimate, self.se, self.exact = label, float(estimate), float(se), float(exact)
        self.ok, self.tol = within(self.estimate, self.se, self.exact)

    def rejects_perturbation(self, rel: float = 0.05) -> bool:
        """Would a claimed value ``exact * (1 ± rel)`` fail the comparison (both signs)?"""
        return all(not within(self.estimate, self.se, self.exact * (1 + s * rel))[0] for s in (-1, 1))

    def text(self) -> str:
        return (f"{self.label}: {self.estimate:.5g} ± {self.se:.2g} vs {self.exact:.5g} "
                f"({'ok' if self.ok else 'FAIL'}, tol {self.tol:.2g})")

    def __repr__(self) -> str:
        return f"Component({self.text()})"


def result_of(components: list, extra: list | None = None, head: int = 0):
    """A :class:`~derivations.steps.NumericResult` from components (headline ``components[head]``) and extra
    ``(label, ok)`` claims; ok when every component and every claim holds."""
    from derivations.steps import NumericResult

    extra = extra or []
    ok = all(c.ok for c in components) and all(flag for _, flag in extra)
    msg = "; ".join([c.text() for c in components] + [f"{lab} ({'ok' if flag else 'FAIL'})" for lab, flag in extra])
    h = components[head]
    return NumericResult(bool(ok), h.estimate, h.se, h.exact, h.tol, msg)

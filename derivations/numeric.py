r"""Numeric helpers of the checks: tolerances from standard errors, normalization of densities.

Numeric checks return :class:`derivations.steps.NumericResult`; their tolerances follow from standard errors
(``Z_TOL = 4`` standard errors plus a floating-point floor, :func:`within`).  Every density a check uses is
shown to integrate to one with :func:`integrates_to_one`, so a consistently unnormalized model cannot pass.
"""
from __future__ import annotations

import math
from typing import Callable

__all__ = ["Z_TOL", "within", "integrates_to_one"]

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

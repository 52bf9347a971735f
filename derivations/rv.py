r"""Gaussian log-density and ``sympy.stats`` wrappers for the worked instances (every symbol concrete).

* :func:`log_normal` -- the one SymPy :math:`\log \mathcal{N}(y; \mu, \sigma^2)` of the package;
* :func:`normal_rv` -- a ``sympy.stats.Normal`` random symbol from a mean and a *variance*;
* :func:`expect_rv` -- the unevaluated ``sympy.stats.Expectation`` over the random symbols of an expression
  (named so it cannot be confused with ``sympy.stats.E`` or Euler's number ``sympy.E``).

General proofs use :class:`derivations.expectation.Expect` instead, which needs no distribution.
"""
from __future__ import annotations

import sympy as sp

__all__ = ["log_normal", "normal_rv", "expect_rv"]


def log_normal(y, mean, var):
    r"""$\log \mathcal{N}(y; \mu, \sigma^2) = -\tfrac12 \log 2\pi\sigma^2 - (y - \mu)^2 / 2\sigma^2$ (SymPy, nats).

    ``var`` is the variance :math:`\sigma^2`, not the standard deviation.
    """
    return -sp.log(2 * sp.pi * var) / 2 - (y - mean) ** 2 / (2 * var)


def normal_rv(name: str, mean, var):
    """A SymPy ``stats.Normal`` random symbol with the given mean and *variance*."""
    from sympy.stats import Normal

    return Normal(name, mean, sp.sqrt(var))


def expect_rv(expr):
    r"""Unevaluated ``sympy.stats.Expectation`` over the random symbols in ``expr`` (rendered $E[\dots]$)."""
    from sympy.stats import Expectation

    return Expectation(expr)

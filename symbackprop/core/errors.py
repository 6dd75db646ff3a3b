"""The errors symbackprop raises for its users: one base class, one subclass per kind of bad input.

Catch :class:`SymbackpropError` to catch them all. Each subclass also keeps the built-in class
it has always been (``ValueError``, ``RuntimeError``, ``AssertionError``), so code written
against those still catches it.

>>> import symbackprop as sb
>>> try:
...     sb.mlp([2, 1], activation="swish-ish")
... except sb.SymbackpropError as e:
...     print(type(e).__name__)
GraphError
"""

from __future__ import annotations

__all__ = [
    "SymbackpropError",
    "GraphError",
    "VerificationError",
    "RenderError",
    "CheckError",
    "UnavailableError",
]


class SymbackpropError(Exception):
    """The base of every error symbackprop raises on purpose."""


class GraphError(SymbackpropError, ValueError):
    """A graph was built wrongly (bad name, undeclared symbol, missing loss, ...)."""


class VerificationError(SymbackpropError, ValueError):
    """A printed equation does not hold."""


class RenderError(SymbackpropError, RuntimeError):
    """Rendering or compiling a document failed."""


class CheckError(SymbackpropError, AssertionError):
    """A matrix or general form disagrees with the scalar derivation."""


class UnavailableError(SymbackpropError, RuntimeError):
    """What was asked for needs a library that is not installed (scipy's erf for numpy, say)."""

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
    "ValuesError",
]


class SymbackpropError(Exception):
    """The base of every error symbackprop raises on purpose."""


class GraphError(SymbackpropError, ValueError):
    """A graph was built wrongly (bad name, undeclared symbol, missing loss, ...)."""


class VerificationError(SymbackpropError, ValueError):
    """A printed equation does not hold."""


class ValuesError(SymbackpropError, ValueError):
    """At the given values a number the output would show is not a real float64: it overflows,
    is not real, or is not defined. A refusal of the values (exit 2), not a failed check."""


class RenderError(SymbackpropError, RuntimeError):
    """Rendering or compiling a document failed."""


class CheckError(SymbackpropError, AssertionError):
    """A matrix or general form disagrees with the scalar derivation."""


class UnavailableError(SymbackpropError, RuntimeError):
    """What was asked for needs a library that is not installed (scipy's erf for numpy, say)."""

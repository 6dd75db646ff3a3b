"""The identity activation of a linear output layer: no function, no kernel."""

from __future__ import annotations

import sympy as sp

from .base import N_, Activation


def identity(x: sp.Expr) -> sp.Expr:
    """The identity activation (a linear output layer).

    >>> identity(sp.Symbol("z"))
    z
    """
    return x


IDENTITY = Activation(
    name="identity",
    function=identity,
    latex=None,
    prose=N_("identity"),
    elementary=identity,
    scalar=lambda x: x,
)

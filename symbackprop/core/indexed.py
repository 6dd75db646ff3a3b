"""The general form's vocabulary: an indexed quantity and its index bounds.

The general form (forms/general.py) derives with quantities and the batched array code
(codegen/general.py) evaluates them, so they sit below both.

>>> import sympy as sp
>>> i = sp.Idx("i")
>>> Quantity("x", "x", "input", (i,), ((1, 3),)).entry
x[i]
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

__all__ = ["Quantity", "as_basic"]


@dataclass(frozen=True)
class Quantity:
    """An indexed family: ``name[indices]`` over ``ranges``; a leaf (kind input, target,
    parameter) or a node with a definition ``expr`` in other quantities' entries."""

    name: str
    latex: str
    kind: str
    indices: tuple[sp.Symbol, ...] = ()
    ranges: tuple[tuple[sp.Expr, sp.Expr], ...] = ()
    expr: sp.Expr | None = None

    @property
    def base(self) -> sp.IndexedBase | sp.Symbol:
        return sp.IndexedBase(self.name) if self.indices else sp.Symbol(self.name, real=True)

    def at(self, *ix) -> sp.Expr:
        """The entry at ``ix`` (the quantity itself when it has no indices)."""
        return self.base[ix] if self.indices else self.base

    @property
    def entry(self) -> sp.Expr:
        return self.at(*self.indices)



def as_basic(x) -> sp.Expr:
    """An index bound or index as a SymPy object (bounds may be written as plain ints)."""
    return x if isinstance(x, sp.Basic) else sp.Integer(x)

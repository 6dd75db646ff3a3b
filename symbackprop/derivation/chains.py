"""What a derivation hands out: the chain rule of one gradient (:class:`Chain`, a sum over
paths of products of :class:`Factor`) and the δ of one node (:class:`Delta`).

>>> import sympy as sp
>>> L, y, w = sp.symbols("L y w")
>>> Chain(w, L, ((Factor(L, y, 2 * y), Factor(y, w, 3)),), sp.Integer(0)).expr()
6*y
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sympy as sp

from ..printing.display import delta_latex, factor_latex
from ..printing.latex import chain_latex

if TYPE_CHECKING:
    from .reverse import Derivation

__all__ = ["Chain", "Delta", "Factor"]


@dataclass(frozen=True)
class Factor:
    """One factor ∂of/∂wrt of a chain, with its local result in textbook form."""

    of: sp.Symbol
    wrt: sp.Symbol
    result: sp.Expr
    _derivation: Derivation | None = field(default=None, repr=False, compare=False)

    @property
    def derivative(self) -> sp.Derivative:
        """The unevaluated ∂of/∂wrt."""
        return sp.Derivative(self.of, self.wrt, evaluate=False)

    def __str__(self) -> str:
        return f"d{self.of}/d{self.wrt}"

    def _repr_latex_(self) -> str:
        return factor_latex(self)


@dataclass(frozen=True)
class Chain:
    """∂L/∂p as a sum over paths of products of local derivatives (the chain rule).

    ``paths[k]`` lists the factors of path k from the loss down to the parameter.
    """

    parameter: sp.Symbol
    loss: sp.Symbol
    paths: tuple[tuple[Factor, ...], ...]
    delta_form: sp.Expr

    def expr(self) -> sp.Expr:
        """Σ over paths of the product of the local results: equals the gradient."""
        return sp.Add(*[sp.Mul(*[f.result for f in path]) for path in self.paths])

    def symbolic(self) -> sp.Expr:
        """Σ over paths of the product of unevaluated ∂/∂ factors."""
        return sp.Add(
            *[sp.Mul(*[f.derivative for f in path], evaluate=False) for path in self.paths],
            evaluate=False,
        )

    def __iter__(self) -> Iterator[tuple[Factor, ...]]:
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    _derivation: Derivation | None = field(default=None, repr=False, compare=False)

    def _repr_latex_(self) -> str | None:
        return _chain_latex(self) if self._derivation is not None else None

    def __repr__(self) -> str:
        rhs = " + ".join(" * ".join(str(f) for f in path) for path in self.paths) or "0"
        return f"Chain(d{self.loss}/d{self.parameter} = {rhs})"


@dataclass(frozen=True)
class Delta:
    """δ of a node, ∂L/∂node, as a recursion over the δ of the nodes after it.

    ``recursion`` uses the δ symbols of the next named δ-nodes (for an MLP, the pre-activations
    of the next layer: δ^(l) = (Σ w δ^(l+1)) σ′(z^(l))); ``value`` is the same in node symbols.
    """

    node: sp.Symbol
    symbol: sp.Symbol
    recursion: sp.Expr
    value: sp.Expr
    assumes: tuple[str, ...] = ()
    _derivation: Derivation | None = field(default=None, repr=False, compare=False)

    def _repr_latex_(self) -> str:
        return delta_latex(self)


def _chain_latex(chain: Chain) -> str:
    return chain_latex(chain._derivation, chain)

"""The pass a hand calculation makes: forward and backward, numerically, at full precision.

A :class:`HandPass` runs over a Derivation's own local factors, compiled once, and gives every
quantity a claims file names: node values, ``dL/dv`` for nodes and parameters, local factors
``dc/dp`` and updates ``p'``. Any local factor, the parameters the backward pass reads, or the
rounding of one node can be changed, which is how each slip in :mod:`slips` is worked out.

>>> import symbackprop as sb
>>> d = sb.derive(sb.mlp([2, 2, 1]))
>>> v = dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)
>>> hand = HandPass(d, v, learning_rate=0.1)
>>> round(hand.truth["dL/dw5"], 4), round(hand.rounded(d.graph.symbol("yhat"), 1)["dL/dw5"], 4)
(-0.0998, -0.1182)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import sympy as sp

from ..codegen.scalar import NUMPY_FUNCTIONS
from ..core.graph import Kind
from ..derivation.reverse import Derivation

__all__ = ["HandPass", "CompiledExpr", "compile_expr", "evaluate_at"]

#: An expression's symbols (in order) and its lambdified function of them.
CompiledExpr = tuple[tuple[sp.Symbol, ...], Callable[..., float]]


class HandPass:
    """Forward and backward pass by hand, at full precision, over the network's local factors."""

    def __init__(self, derivation: Derivation, values: Mapping, learning_rate: float = 0.1,
                 like: HandPass | None = None):
        self.derivation = derivation
        self.graph = g = derivation.graph
        self.values = {g.symbol(k): float(v) for k, v in values.items() if k in g}
        self.learning_rate = float(learning_rate)
        self.loss = g.loss_symbol
        if like is not None and like.derivation is derivation:  # reuse the compiled functions
            self._forward, self._edges, self._local = like._forward, like._edges, like._local
        else:
            self._forward = {n: compile_expr(g.expr(n)) for n in g.nodes}
            self._edges = [(c, p) for c in g.nodes for p in g.parents(c)]
            self._local = {e: compile_expr(derivation.local(*e)) for e in self._edges}
        self._cache: dict[str, dict[str, float] | list] = {}
        self.truth = self.quantities()

    def forward(self, rounded: Mapping[sp.Symbol, int] | None = None) -> dict[sp.Symbol, float]:
        """Every value; a node in ``rounded`` is rounded to that many decimals before use."""
        at = dict(self.values)
        for n in self.graph.nodes:
            value = evaluate_at(self._forward[n], at)
            if rounded and n in rounded:
                value = round(value, rounded[n])
            at[n] = value
        return at

    def quantities(self, at: Mapping[sp.Symbol, float] | None = None,
                   local: Callable[[sp.Symbol, sp.Symbol, dict], float] | None = None,
                   weights_at: Mapping[sp.Symbol, float] | None = None) -> dict[str, float]:
        """Every claimable quantity by name, from one forward and one backward pass.

        ``local(child, parent, at)`` replaces a local factor's value; ``weights_at`` holds the
        parameter values the backward pass's local factors read (the forward pass keeps its own).
        """
        at = dict(self.forward() if at is None else at)
        back = {**at, **(weights_at or {})}
        factor = {}
        for c, p in self._edges:
            factor[(c, p)] = local(c, p, back) if local else evaluate_at(self._local[(c, p)], back)
        g, loss = self.graph, self.loss.name
        delta: dict[sp.Symbol, float] = {self.loss: 1.0}
        for v in reversed(g.symbols):
            terms = [delta[c] * factor[(c, v)] for c in g.children(v) if c in delta]
            if terms:
                delta[v] = math.fsum(terms)
        out = {s.name: float(x) for s, x in at.items()}
        for v, dv in delta.items():
            if v != self.loss:
                out[f"d{loss}/d{v.name}"] = dv
        for p in g.parameters:
            grad = delta.get(p, 0.0)
            out[f"d{loss}/d{p.name}"] = grad
            out[f"{p.name}'"] = self.values[p] - self.learning_rate * grad
        for (c, p), x in factor.items():
            out.setdefault(f"d{c.name}/d{p.name}", x)
        return out

    def rounded(self, node: sp.Symbol, digits: int) -> dict[str, float]:
        """The quantities when only ``node`` is rounded to ``digits`` decimals before use."""
        key = f"rounded:{node.name}:{digits}"
        if key not in self._cache:
            self._cache[key] = self.quantities(self.forward({node: digits}))
        return self._cache[key]

    def intermediates(self) -> list[sp.Symbol]:
        """The nodes a hand calculation writes down (and may round) before the loss."""
        return [n for n in self.graph.nodes if self.graph.kind(n) is Kind.NODE]


def compile_expr(expr: sp.Expr) -> CompiledExpr:
    """``expr`` lambdified once over its free symbols (sorted), to be evaluated at many points."""
    symbols = tuple(sorted(expr.free_symbols, key=sp.default_sort_key))
    return symbols, sp.lambdify(symbols, expr, modules=[NUMPY_FUNCTIONS, "numpy"])


def evaluate_at(compiled: CompiledExpr, at: Mapping[sp.Symbol, float]) -> float:
    """A compiled expression's value at ``at`` (a value for each of its symbols, and maybe more)."""
    symbols, f = compiled
    return float(f(*(at[s] for s in symbols)))

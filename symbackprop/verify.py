"""Checks that a printed equality holds, before it is printed.

Each side of an equation may use leaves, node symbols, δ symbols and unevaluated derivatives
∂a/∂b. :class:`Meaning` rewrites a side into inputs, targets and parameters only, computing every
∂L/∂v *independently of the reverse-mode engine*: by differentiating the loss with v held as a
free variable, in elementary functions (σ as 1/(1 + e^(−x)), not through our textbook fdiff).
:func:`verify` then decides lhs = rhs symbolically where that is cheap, else numerically at
random points, and raises :class:`VerificationError` naming the equation if it fails.

>>> import symbackprop as sb
>>> net = sb.mlp([2, 2, 1]); d = sb.derive(net)
>>> yhat, z3 = net.symbol("yhat"), net.symbol("z3")
>>> meaning = Meaning(d)
>>> verify(meaning(sp.Derivative(yhat, z3)), meaning(yhat * (1 - yhat)), "dyhat/dz3").method
'numeric'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from . import functions
from .derive import Derivation

__all__ = ["Meaning", "verify", "Check", "VerificationError", "elementary"]

_POINTS = 3
_RTOL = 1e-9
_SYMBOLIC_OPS = 60


class VerificationError(ValueError):
    """A printed equation does not hold."""


@dataclass(frozen=True)
class Check:
    label: str
    method: str  # "identical", "symbolic" or "numeric"


def elementary(expr: sp.Expr) -> sp.Expr:
    """Rewrite the engine's activations as elementary functions (σ -> 1/(1 + e^(−x)), …).

    >>> x = sp.Symbol("x")
    >>> elementary(functions.sigmoid(x))
    1/(1 + exp(-x))
    """
    return expr.replace(
        lambda e: isinstance(e, functions.sigmoid | functions.softplus | functions.softmax),
        lambda e: e.rewrite(sp.exp) if not isinstance(e, functions.softplus)
        else e.rewrite(sp.log),
    ).replace(
        lambda e: isinstance(e, functions.relu), lambda e: e.rewrite(sp.Max)
    ).replace(
        lambda e: isinstance(e, functions.leaky_relu), lambda e: e.rewrite(sp.Piecewise)
    )


class Meaning:
    """Rewrites expressions of a derivation into leaves, with derivatives taken from scratch."""

    def __init__(self, derivation: Derivation) -> None:
        self.d = derivation
        self.graph = derivation.graph
        self._by_delta = {s: v for v, s in derivation.delta_symbols.items()}
        self._adjoint: dict[sp.Symbol, sp.Expr] = {}
        self._descendants = self._all_descendants()
        self._order = {s: i for i, s in enumerate(self.graph.symbols)}

    def _all_descendants(self) -> dict[sp.Symbol, set[sp.Symbol]]:
        out: dict[sp.Symbol, set[sp.Symbol]] = {}
        children = self.d._children
        for v in reversed(self.graph.symbols):
            acc: set[sp.Symbol] = set()
            for c in children[v]:
                acc.add(c)
                acc |= out[c]
            out[v] = acc
        return out

    def adjoint(self, v: sp.Symbol) -> sp.Expr:
        """∂L/∂v from the loss with v held free: no δ, no reverse mode, no textbook fdiff."""
        if v not in self._adjoint:
            g = self.graph
            subs: dict[sp.Symbol, sp.Expr] = {}
            for u in g.nodes:  # expand only what lies after v, in terms of v
                if u in self._descendants[v]:
                    subs[u] = elementary(g.expr(u)).xreplace(subs)
            loss = subs.get(g.loss_symbol, g.loss_symbol)
            self._adjoint[v] = self._leaves(sp.diff(loss, v)) if loss != g.loss_symbol else (
                sp.S.One if v == g.loss_symbol else sp.S.Zero
            )
        return self._adjoint[v]

    def _leaves(self, expr: sp.Expr) -> sp.Expr:
        return elementary(self.graph.expand(expr))

    def __call__(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` in inputs, targets and parameters only."""
        g = self.graph
        loss = g.loss_symbol

        def derivative(e: sp.Derivative) -> sp.Expr:
            (a, b), = [(e.expr, e.variables[0])]
            if a == loss:
                return self.adjoint(b)
            return self._leaves(sp.diff(elementary(g.expr(a)), b))

        expr = expr.replace(lambda e: isinstance(e, sp.Derivative), derivative)
        expr = expr.xreplace(
            {s: self.adjoint(v) for s, v in self._by_delta.items() if s in expr.free_symbols}
        )
        return self._leaves(expr)


def _random_points(symbols: list[sp.Symbol], n: int) -> list[list[float]]:
    # A fixed seed keeps rendering deterministic; values stay away from relu kinks at 0.
    rng = np.random.default_rng(20230509)
    pts = []
    for _ in range(n):
        vals = rng.uniform(0.15, 0.85, size=len(symbols)) * rng.choice([-1.0, 1.0], len(symbols))
        pts.append([float(v) for v in vals])
    return pts


def _positive_targets(symbols, graph):
    from .graph import Kind

    return [i for i, s in enumerate(symbols) if s in graph and graph.kind(s) is Kind.TARGET]


def verify(lhs: sp.Expr, rhs: sp.Expr, label: str, graph=None) -> Check:
    """Decide lhs = rhs (both in leaves): identical, symbolically, else at random points.

    >>> x = sp.Symbol("x")
    >>> verify(sp.sin(x) ** 2 + sp.cos(x) ** 2, sp.S.One, "Pythagoras").method
    'symbolic'
    """
    if lhs == rhs:
        return Check(label, "identical")
    diff = elementary(lhs - rhs)
    if sp.count_ops(diff) <= _SYMBOLIC_OPS:
        try:
            if sp.simplify(diff) == 0:
                return Check(label, "symbolic")
        except (TypeError, ValueError, NotImplementedError):  # pragma: no cover - SymPy gaps
            pass
    symbols = sorted((lhs.free_symbols | rhs.free_symbols), key=sp.default_sort_key)
    from .numeric import NUMPY_FUNCTIONS

    modules = [NUMPY_FUNCTIONS, "numpy"]
    f_l = sp.lambdify(symbols, elementary(lhs), modules=modules)
    f_r = sp.lambdify(symbols, elementary(rhs), modules=modules)
    targets = _positive_targets(symbols, graph) if graph is not None else []
    groups = [[symbols.index(s) for s in group if s in symbols]
              for group in (graph.one_hot_groups if graph is not None else [])]
    for point in _random_points(symbols, _POINTS):
        for i in targets:  # targets are labels or probabilities: keep them in (0, 1)
            point[i] = abs(point[i])
        for group in groups:  # one-hot targets: a distribution that sums to one
            total = sum(point[i] for i in group)
            for i in group:
                point[i] /= total
        with np.errstate(all="ignore"):
            a, b = complex(f_l(*point)), complex(f_r(*point))
        if not (np.isfinite(a) and np.isfinite(b)) or abs(a - b) > _RTOL * max(1.0, abs(a), abs(b)):
            where = ", ".join(f"{s}={v:.3g}" for s, v in zip(symbols, point, strict=True))
            raise VerificationError(
                f"equation {label!r} does not hold: left side {a.real:.12g}, right side "
                f"{b.real:.12g} at {where}"
            )
    return Check(label, "numeric")

"""Checks that a printed equality holds, before it is printed.

Each side of an equation may use leaves, node symbols, δ symbols and unevaluated derivatives
∂a/∂b. :class:`Meaning` gives each of those a value at random points *independently of the
reverse-mode engine*:

- a node is computed by a forward pass from its own expression;
- a local derivative ∂a/∂b is SymPy's derivative of a's expression in elementary functions
  (σ as 1/(1 + e^(−x)), not through our textbook ``fdiff``);
- ∂L/∂v and δ_v come from forward-mode propagation of a unit tangent from v to the loss,
  multiplying those local derivatives: no δ, no reverse mode.

:func:`verify` decides lhs = rhs symbolically where that is cheap (no ∂L/∂v in it, small after
expansion), else numerically at random points, and raises :class:`VerificationError` naming the
equation when it fails.

>>> import symbackprop as sb
>>> net = sb.mlp([2, 2, 1]); d = sb.derive(net)
>>> h1, z1 = net.symbol("h1"), net.symbol("z1")
>>> verify(sp.Derivative(h1, z1), h1 * (1 - h1), "dh1/dz1", Meaning(d)).method
'symbolic'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from . import functions
from .derive import Derivation
from .graph import Kind

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
        lambda e: isinstance(e, functions.sigmoid | functions.softmax),
        lambda e: e.rewrite(sp.exp),
    ).replace(
        lambda e: isinstance(e, functions.softplus), lambda e: e.rewrite(sp.log)
    ).replace(
        lambda e: isinstance(e, functions.relu), lambda e: e.rewrite(sp.Max)
    ).replace(
        lambda e: isinstance(e, functions.leaky_relu), lambda e: e.rewrite(sp.Piecewise)
    )


def _compile(symbols: list[sp.Symbol], expr: sp.Expr):
    # Plain identifiers keep lambdify from dummifying names such as w_11^(2).
    plain = [sp.Symbol(f"v{k}", real=True) for k in range(len(symbols))]
    from .numeric import NUMPY_FUNCTIONS

    return sp.lambdify(plain, expr.xreplace(dict(zip(symbols, plain, strict=True))),
                       modules=[NUMPY_FUNCTIONS, "numpy"])


class Meaning:
    """Values of nodes, local derivatives and ∂L/∂v at random points, from scratch."""

    def __init__(self, derivation: Derivation, points: int = _POINTS) -> None:
        self.d = derivation
        self.graph = g = derivation.graph
        self._by_delta = {s: v for v, s in derivation.delta_symbols.items()}
        self._local_fn: dict[tuple[sp.Symbol, sp.Symbol], tuple] = {}
        self._adjoints: list[dict[sp.Symbol, float]] = []
        self.points = [self._forward(leaves) for leaves in self._random_leaves(points)]
        self._adjoints = [{} for _ in self.points]
        self._parents = {v: g.parents(v) for v in g.nodes}

    def _random_leaves(self, n: int) -> list[dict[sp.Symbol, float]]:
        # A fixed seed keeps rendering deterministic; magnitudes stay away from relu's kink.
        g = self.graph
        rng = np.random.default_rng(20230509)
        out = []
        for _ in range(n):
            point = {}
            for s in g.leaves:
                v = float(rng.uniform(0.15, 0.85))
                if g.kind(s) is not Kind.TARGET and rng.random() < 0.5:
                    v = -v
                point[s] = v
            for group in g.one_hot_groups:  # a distribution that sums to one
                total = sum(point[s] for s in group)
                for s in group:
                    point[s] /= total
            out.append(point)
        return out

    def _forward(self, point: dict[sp.Symbol, float]) -> dict[sp.Symbol, float]:
        for v, expr in self.graph.forward_equations():
            args = sorted(expr.free_symbols, key=sp.default_sort_key)
            point[v] = float(_compile(args, elementary(expr))(*(point[a] for a in args)))
        return point

    def local(self, a: sp.Symbol, b: sp.Symbol, k: int) -> float:
        """∂a/∂b at point k, from a's expression in elementary functions."""
        if (a, b) not in self._local_fn:
            raw = sp.diff(elementary(self.graph.expr(a)), b)
            args = sorted(raw.free_symbols, key=sp.default_sort_key)
            self._local_fn[(a, b)] = (args, _compile(args, raw))
        args, f = self._local_fn[(a, b)]
        point = self.points[k]
        return float(f(*(point[s] for s in args)))

    def adjoint(self, v: sp.Symbol, k: int) -> float:
        """∂L/∂v at point k by forward mode: a unit tangent at v carried to the loss."""
        cache = self._adjoints[k]
        if v not in cache:
            g = self.graph
            tangent = {v: 1.0}
            for u in g.nodes:
                if u == v:
                    continue
                t = sum(self.local(u, p, k) * tangent[p] for p in self._parents[u] if p in tangent)
                if t != 0.0 or any(p in tangent for p in self._parents[u]):
                    tangent[u] = t
            cache[v] = tangent.get(g.loss_symbol, 0.0) if v != g.loss_symbol else 1.0
        return cache[v]

    def value(self, expr: sp.Expr, k: int) -> complex:
        """``expr`` at point k."""
        g, loss = self.graph, self.graph.loss_symbol
        numbers: dict[sp.Basic, sp.Expr] = {}
        for e in sp.preorder_traversal(expr):
            if isinstance(e, sp.Derivative):
                a, b = e.expr, e.variables[0]
                numbers[e] = sp.Float(self.adjoint(b, k) if a == loss else self.local(a, b, k), 30)
        for s in expr.free_symbols:
            if s in self._by_delta:
                numbers[s] = sp.Float(self.adjoint(self._by_delta[s], k), 30)
            elif s in g:
                numbers[s] = sp.Float(self.points[k][g.symbol(s)], 30)
        return complex(sp.N(elementary(expr.xreplace(numbers)), 20))

    def is_local(self, expr: sp.Expr) -> bool:
        """No ∂L/∂v and no δ in it: it can be expanded into leaves and compared symbolically."""
        loss = self.graph.loss_symbol
        if any(s in self._by_delta for s in expr.free_symbols):
            return False
        return not any(isinstance(e, sp.Derivative) and e.expr == loss
                       for e in sp.preorder_traversal(expr))

    def expand(self, expr: sp.Expr) -> sp.Expr:
        """A local expression in leaves and elementary functions."""
        g = self.graph
        expr = expr.replace(lambda e: isinstance(e, sp.Derivative),
                            lambda e: sp.diff(elementary(g.expr(e.expr)), e.variables[0]))
        return elementary(g.expand(expr))


def verify(lhs: sp.Expr, rhs: sp.Expr, label: str, meaning: Meaning | None = None) -> Check:
    """Decide lhs = rhs: identical, symbolically, else at the meaning's random points.

    Without a ``meaning`` both sides are plain expressions (in any symbols).

    >>> x = sp.Symbol("x")
    >>> verify(sp.sin(x) ** 2 + sp.cos(x) ** 2, sp.S.One, "Pythagoras").method
    'symbolic'
    """
    if lhs == rhs:
        return Check(label, "identical")
    local = meaning is None or (meaning.is_local(lhs) and meaning.is_local(rhs))
    if local:
        a, b = (lhs, rhs) if meaning is None else (meaning.expand(lhs), meaning.expand(rhs))
        if a == b:
            return Check(label, "identical")
        diff = elementary(a - b)
        if sp.count_ops(diff) <= _SYMBOLIC_OPS:
            try:
                if sp.simplify(diff) == 0:
                    return Check(label, "symbolic")
            except (TypeError, ValueError, NotImplementedError):  # pragma: no cover
                pass
        if meaning is None:
            return _numeric_free(a, b, label)
    for k in range(len(meaning.points)):
        left, right = meaning.value(lhs, k), meaning.value(rhs, k)
        if not _agree(left, right):
            where = ", ".join(f"{s}={v:.3g}" for s, v in meaning.points[k].items()
                              if s in meaning.graph.leaves)
            raise VerificationError(
                f"equation {label!r} does not hold: left side {left.real:.12g}, right side "
                f"{right.real:.12g} at {where}"
            )
    return Check(label, "numeric")


def _agree(a: complex, b: complex) -> bool:
    finite = all(math.isfinite(x) for x in (a.real, a.imag, b.real, b.imag))
    return finite and abs(a - b) <= _RTOL * max(1.0, abs(a), abs(b))


def _numeric_free(a: sp.Expr, b: sp.Expr, label: str) -> Check:
    symbols = sorted(a.free_symbols | b.free_symbols, key=sp.default_sort_key)
    rng = np.random.default_rng(20230509)
    for _ in range(_POINTS):
        values = {s: sp.Float(rng.uniform(0.15, 0.85), 30) for s in symbols}
        left = complex(sp.N(elementary(a).xreplace(values), 20))
        right = complex(sp.N(elementary(b).xreplace(values), 20))
        if not _agree(left, right):
            raise VerificationError(f"equation {label!r} does not hold: {left.real:.12g} vs "
                                    f"{right.real:.12g}")
    return Check(label, "numeric")

"""Checks that a printed equality holds, before it is printed.

Each side of an equation may use leaves, node symbols, δ symbols and unevaluated derivatives
∂a/∂b. :class:`Meaning` gives each of those a value at random points *independently of the
reverse-mode engine*:

- a node is computed by a forward pass from its own expression;
- a local derivative ∂a/∂b is SymPy's derivative of a's expression in elementary functions
  (σ as 1/(1 + e^(−x)), not through our textbook ``fdiff``);
- ∂L/∂v and δ_v come from those local derivatives' numbers alone, swept once per point
  from the loss back (Σ over v's children c of ∂c/∂v · ∂L/∂c): no δ of the engine, no
  symbolic derivative of the loss.

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
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..core import functions, ops
from ..core.errors import ValuesError, VerificationError
from ..core.graph import Kind
from ..derivation.reverse import Derivation
from .digits import precise_number, precise_value
from .floats import (
    UNDEFINED,
    UnknownNode,
    compiled_plain,
    float_of,
    float_value,
    kink_differences,
    logit_value,
    nowhere,
)
from .shapes import is_zero, neighbourhood_key, plain, shaped_diff

__all__ = ["Meaning", "verify", "Check", "VerificationError", "elementary"]

_POINTS = 3
_RTOL = 1e-9
_SYMBOLIC_OPS = 60
# How many nodes a symbolic comparison may unfold before it is left to the numbers.
_UNFOLD_STEPS = 4
# The most symbols a symbolic comparison's neighbourhood may hold to be decided once per shape.
_SHAPE_SYMBOLS = 48
_CASEWISE = (sp.Heaviside, sp.Piecewise, sp.Abs, sp.sign, sp.Max, sp.Min)


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
    if not any(_rewritten(type(f)) for f in expr.atoms(sp.Function)):
        return expr
    # replace works from the leaves up, so nested activations are rewritten too
    return expr.replace(lambda e: isinstance(e, sp.Function) and _rewritten(type(e)),
                        lambda e: ops.op_of(type(e)).elementary(*e.args))


def _rewritten(function: type) -> bool:
    # the engine's own activations only: a user's subclass keeps the derivative it was given,
    # which is what the finite differences then judge
    op = ops.op_of(function, subclasses=False)
    return op is not None and op.function is not sp.tanh


class Meaning:
    """Values of nodes, local derivatives and ∂L/∂v at points in the graph's domain, from scratch.

    Every check is local, so its cost does not grow with the depth of the graph: a node's value
    comes from the forward pass, a local derivative from its own expression, ∂L/∂v from one numeric
    sweep of those back from the loss per point. Nothing is expanded into leaves.

    ``values`` (leaf name -> number, e.g. a spec's [values]) are the first choice of points,
    perturbed so that no equation holds only by a coincidence of the given numbers.
    """

    def __init__(self, derivation: Derivation, points: int = _POINTS, *,
                 values: Mapping[str, float] | None = None) -> None:
        self.d = derivation
        self.graph = g = derivation.graph
        self._by_delta = {s: v for v, s in derivation.delta_symbols.items()}
        self._local_fn: dict[tuple[sp.Symbol, sp.Symbol], tuple] = {}
        self._node_fn: dict[sp.Symbol, tuple] = {}
        self._shapes: dict = {}  # compiled per shape of expression: a node's, a derivative's
        self._parents = {v: g.parents(v) for v in g.nodes}
        self._children: dict[sp.Symbol, list[sp.Symbol]] = {v: [] for v in g.symbols}
        for v, parents in self._parents.items():
            for p in parents:
                self._children[p].append(v)
        self._elementary: dict[sp.Symbol, sp.Expr] = {}
        self._raw_local: dict[tuple[sp.Symbol, sp.Symbol], sp.Expr] = {}
        self._order = {v: i for i, v in enumerate(g.nodes)}
        self.points = self._choose_points(points, values)
        self._adjoints: list[dict[sp.Symbol, float]] = [{} for _ in self.points]
        self._spare: list[int] | None = None
        self._precise: dict[int, dict] = {}
        self._n = points
        #: What a symbolic comparison decided, by the shape of its neighbourhood (see verify).
        self._decided: dict[tuple, str | None] = {}

    # -- points in the domain ---------------------------------------------------------------
    def _choose_points(self, n: int, values: Mapping[str, float] | None) -> list[dict]:
        """The first ``n`` candidates at which every node is finite: the given values perturbed,
        then random points (signs random, then all positive), then the given values as they are.
        """
        points: list[dict] = []
        saturating = [v for v in self.graph.nodes
                      if isinstance(self.graph.expr(v), functions.sigmoid | functions.softmax)]
        # and a σ written inline (−y log σ(n3) in the loss): its logit, |z| > 16 saturating
        logits = [f.args[0] for v in self.graph.nodes for f in self.graph.expr(v).atoms(
            functions.sigmoid) if f != self.graph.expr(v)]
        candidates, inline_saturated = list(self._candidates(n, values)), []
        for k, leaves in enumerate(candidates):
            point = self._forward(leaves)
            # A saturated sigmoid or softmax (1 − σ below 1e-7) leaves too few digits for a
            # float comparison: such points are taken only as the last resort (the given values).
            last = k == len(candidates) - 1
            if all(math.isfinite(x) for x in point.values()) and (
                    last or not any(min(point[v], 1 - point[v]) < 1e-7 for v in saturating)):
                if any(abs(logit_value(z, point)) > 16 for z in logits):
                    inline_saturated.append(point)  # only where too few others are found
                    continue
                points.append(point)
                if len(points) == n:
                    break
        points += inline_saturated[:n - len(points)]
        if not points:
            # a domain no point was found in says nothing against the equations: the values
            # (or the graph's domain) are refused, exit 2, as no check failed
            raise ValuesError(
                "no point was found at which every node of the graph is defined and finite; "
                "give [values] in its domain"
            )
        return points

    def spare_points(self) -> list[int]:
        """Indices of further points, random ones only, for an equation the first points cannot
        decide (at values near ±1e300 both sides of a true equation may be nan in floats):
        the equation is an identity, so any point in the domain judges it. Made once."""
        if self._spare is None:
            try:
                extra = self._choose_points(self._n, None)
            except VerificationError:
                extra = []
            self._spare = list(range(len(self.points), len(self.points) + len(extra)))
            self.points.extend(extra)
            self._adjoints.extend({} for _ in extra)
        return self._spare

    def _candidates(self, n: int, values: Mapping[str, float] | None):
        # A fixed seed keeps rendering deterministic; magnitudes stay away from relu's kink.
        g = self.graph
        rng = np.random.default_rng(20230509)
        given = None
        if values is not None and all(s.name in values for s in g.leaves):
            given = {s: float(values[s.name]) for s in g.leaves}
            for _ in range(2 * n):
                yield self._normalised({s: v * (1 + rng.uniform(-0.1, 0.1))
                                        + rng.uniform(-0.02, 0.02) for s, v in given.items()})
        for positive in (False, True):
            for _ in range(3 * n):
                point = {}
                for s in g.leaves:
                    v = float(rng.uniform(0.15, 0.85))
                    if not positive and g.kind(s) is not Kind.TARGET and rng.random() < 0.5:
                        v = -v
                    point[s] = v
                yield self._normalised(point)
        if given is not None:
            yield given

    def _normalised(self, point: dict[sp.Symbol, float]) -> dict[sp.Symbol, float]:
        for group in self.graph.one_hot_groups:  # a distribution that sums to one
            total = sum(point[s] for s in group)
            for s in group:
                point[s] = point[s] / total if total else 1 / len(group)
        return point

    def _forward(self, point: dict[sp.Symbol, float]) -> dict[sp.Symbol, float]:
        for v, expr in self.graph.forward_equations():
            if v not in self._node_fn:  # compiled once per shape (1,000 σ(z_k) are one)
                shape, renamed = plain(expr)
                if shape not in self._shapes:
                    body = elementary(shape)
                    self._shapes[shape] = nowhere if body.has(*UNDEFINED) else \
                        compiled_plain(list(renamed.values()), body)
                self._node_fn[v] = (list(renamed), self._shapes[shape])
            args, f = self._node_fn[v]
            point[v] = float_of(f, [point[a] for a in args])
        return point

    # -- local derivatives and adjoints -----------------------------------------------------
    def local(self, a: sp.Symbol, b: sp.Symbol, k: int) -> float:
        """∂a/∂b at point k, from a's expression in elementary functions."""
        if (a, b) not in self._local_fn:
            # once per shape of a's expression (and b's place in it), in its plain symbols
            expr = self.graph.expr(a)
            if isinstance(expr, sp.Add):  # a wide sum: only the terms in b (linear in size)
                expr = sp.Add(*(t for t in expr.args if t.has(b)))
            shape, renamed = plain(expr)
            key = (shape, renamed.get(b, b))
            if key not in self._shapes:
                self._shapes[key] = _compiled_local(shaped_diff(elementary(shape), key[1]))
            args, f = self._shapes[key]
            back = {v: s for s, v in renamed.items()}
            self._local_fn[(a, b)] = (tuple(back[v] for v in args),
                                      back.get(f, f) if isinstance(f, sp.Symbol) else f)
        args, f = self._local_fn[(a, b)]
        point = self.points[k]
        if not args:
            return f if isinstance(f, float) else point[f]
        return float_of(f, [point[s] for s in args])

    def node_expr(self, a: sp.Symbol) -> sp.Expr:
        """Node a's own expression in elementary functions (its parents stay symbols)."""
        if a not in self._elementary:
            self._elementary[a] = elementary(self.graph.expr(a))
        return self._elementary[a]

    def local_expr(self, a: sp.Symbol, b: sp.Symbol) -> sp.Expr:
        """∂a/∂b as SymPy's derivative of a's own expression in elementary functions."""
        if (a, b) not in self._raw_local:
            expr = self.node_expr(a)
            if isinstance(expr, sp.Add):  # a wide sum: only the terms in b (linear in size)
                expr = sp.Add(*(t for t in expr.args if t.has(b)))
            self._raw_local[(a, b)] = shaped_diff(expr, b)
        return self._raw_local[(a, b)]

    def adjoint(self, v: sp.Symbol, k: int) -> float:
        """∂L/∂v at point k: Σ over v's children c of ∂c/∂v · ∂L/∂c, numbers only.

        The first request at a point sweeps every node once, from the loss back, multiplying
        the local derivatives above (SymPy's derivatives of each node's own expression, never
        the engine's δs). A unit tangent carried forward from each node instead, as this did
        before, sums the same products but visits every later node once per node: quadratic
        in the graph (28 s of a 64-step RNN's notes).
        """
        cache = self._adjoints[k]
        if not cache:
            g = self.graph
            cache[g.loss_symbol] = 1.0
            for u in reversed(g.nodes):
                if u != g.loss_symbol:
                    cache[u] = math.fsum(self.local(c, u, k) * cache[c]
                                         for c in self._children[u])
        if v not in cache:  # a leaf
            cache[v] = math.fsum(self.local(c, v, k) * cache[c] for c in self._children[v])
        return cache[v]

    def value(self, expr: sp.Expr, k: int) -> complex:
        """``expr`` at point k (nan where it is not defined there)."""
        numbers = self._numbers(expr, k)
        try:
            return complex(float_value(expr, numbers))
        except UnknownNode:
            pass
        # not through SymPy's evalf: a Float argument evaluates as it is substituted, and
        # exp(1e300) there asks mpmath for 1e300 bits; precise_value bounds that first
        z = precise_value(elementary(expr), numbers)
        return complex(math.nan) if z is None else z

    def precise(self, expr: sp.Expr, k: int) -> complex | None:
        """``expr`` at point k in 50 digits, every node recomputed from the leaves (the δs and
        ∂L/∂v stay the sweep's floats); None where that cannot be had cheaply. For
        an equation written in an ill-conditioned form: SiLU′(w) = SiLU(w) + σ(w)(1 − SiLU(w))
        loses every digit at w = 1e17 in floats, where it is 1."""
        if k not in self._precise:
            point, nodes = self.points[k], {}
            nodes.update({s: point[s] for s in self.graph.leaves})
            for v in self.graph.nodes:
                nodes[v] = precise_number(self.node_expr(v), nodes)
            self._precise[k] = nodes
        numbers = {**self._numbers(expr, k), **self._precise[k]}
        return precise_value(elementary(expr), numbers)

    def _numbers(self, expr: sp.Expr, k: int) -> dict[sp.Basic, float]:
        g, loss = self.graph, self.graph.loss_symbol
        numbers: dict[sp.Basic, float] = {}
        for e in expr.atoms(sp.Derivative):
            a, b = e.expr, e.variables[0]
            numbers[e] = self.adjoint(b, k) if a == loss else self.local(a, b, k)
        for s in expr.free_symbols:
            if s in self._by_delta:
                numbers[s] = self.adjoint(self._by_delta[s], k)
            elif s in g:
                numbers[s] = self.points[k][g.symbol(s)]
        return numbers

    def on_kink(self, expr: sp.Expr, k: int) -> bool:
        """Whether a derivative in ``expr`` meets a kink at k (its nodes'; any node's for a δ)."""
        nodes = self.graph.nodes if not self.is_local(expr) else [
            e.expr for e in expr.atoms(sp.Derivative) if e.expr in self.graph]
        return any(_finite(z := self.value(difference, k)) and z == 0
                   for v in nodes for difference in kink_differences(self.node_expr(v)))

    def is_local(self, expr: sp.Expr) -> bool:
        """No ∂L/∂v and no δ in it: it can be compared symbolically, node by node."""
        loss = self.graph.loss_symbol
        if any(s in self._by_delta for s in expr.free_symbols):
            return False
        return not any(e.expr == loss for e in expr.atoms(sp.Derivative))

    def unfold(self, expr: sp.Expr) -> sp.Expr:
        """One level down: each local derivative and each node by its own expression.

        >>> import symbackprop as sb
        >>> net = sb.mlp([1, 1]); m = Meaning(sb.derive(net))
        >>> m.unfold(net.symbol("yhat"))
        1/(1 + exp(-z1))
        """
        expr = self.derivatives(expr)
        return elementary(expr).xreplace({s: self.node_expr(s) for s in expr.free_symbols
                                          if s in self._order})

    def derivatives(self, expr: sp.Expr) -> sp.Expr:
        """Each local derivative ∂a/∂b replaced by SymPy's derivative of a's own expression."""
        found = expr.atoms(sp.Derivative)
        if not found:
            return expr
        return expr.xreplace({e: self.local_expr(e.expr, e.variables[0]) for e in found})

    def expand(self, expr: sp.Expr) -> sp.Expr:
        """A local expression in leaves and elementary functions (for tests and small graphs:
        its size can grow exponentially with depth, and verify never calls it)."""
        g = self.graph
        expr = expr.replace(lambda e: isinstance(e, sp.Derivative),
                            lambda e: sp.diff(elementary(g.expr(e.expr)), e.variables[0]))
        return elementary(g.expand(expr))


def _compiled_local(raw: sp.Expr) -> tuple[tuple, object]:
    """(args, f) for a local derivative: f compiled of args; else a float, or the symbol."""
    if raw.has(*UNDEFINED):  # e.g. 1/relu(w) differentiated: nowhere a number
        return (), math.nan
    if not raw.free_symbols:  # a number, or a constant such as e
        try:
            return (), float(raw)
        except TypeError:  # complex or undefined
            return (), math.nan
    if raw.is_Symbol:
        return (), raw
    args = tuple(sorted(raw.free_symbols, key=sp.default_sort_key))
    return args, compiled_plain(list(args), raw)


def _symbolically_equal(lhs: sp.Expr, rhs: sp.Expr, meaning: Meaning | None) -> str | None:
    """"identical" or "symbolic" if lhs = rhs is shown without expanding into leaves, else None.

    Nodes are opaque symbols; the latest node either side uses is replaced by its own
    expression on both sides, a few times at most, while the difference stays small. So the
    cost is bounded per equation, whatever the depth of the graph.
    """
    a, b = lhs, rhs
    if meaning is not None:  # SymPy would read ∂h1/∂z1 of two symbols as 0
        a, b = meaning.derivatives(a), meaning.derivatives(b)
    a, b = elementary(a), elementary(b)
    small = None
    for _step in range(_UNFOLD_STEPS + 1):
        if a == b:
            return "identical"
        diff = a - b
        cancelled = is_zero(diff, sp.cancel, _SYMBOLIC_OPS)  # the usual rational identities in exp(-z)
        if cancelled is None:  # too large, or past what polys may be given
            break
        small = diff
        if cancelled:
            return "symbolic"
        nodes = [s for s in diff.free_symbols if meaning is not None and s in meaning._order]
        if not nodes:
            break
        latest = max(nodes, key=meaning._order.__getitem__)
        a = a.xreplace({latest: meaning.node_expr(latest)})
        b = b.xreplace({latest: meaning.node_expr(latest)})
    # simplify turns Heaviside, Abs, Max and their kin into Piecewise case splits that can run
    # for minutes (H(z) − H(z, 0) over a tanh did); the meaning's points decide those instead
    if small is None or small.has(*_CASEWISE):
        return None
    return "symbolic" if is_zero(small, sp.simplify) else None


def verify(lhs: sp.Expr, rhs: sp.Expr, label: str, meaning: Meaning | None = None) -> Check:
    """Decide lhs = rhs: identical, symbolically, else at the meaning's points.

    Without a ``meaning`` both sides are plain expressions (in any symbols).

    >>> x = sp.Symbol("x")
    >>> verify(sp.sin(x) ** 2 + sp.cos(x) ** 2, sp.S.One, "Pythagoras").method
    'symbolic'
    """
    if lhs == rhs:
        return Check(label, "identical")
    if meaning is not None and lhs in meaning._order and meaning.graph.expr(lhs) == rhs:
        return Check(label, "identical")  # a node's own definition (cancel() took 20 ms each)
    if meaning is None or (meaning.is_local(lhs) and meaning.is_local(rhs)):
        # A deep net's local derivatives repeat a few shapes (every ∂h_k/∂z_k = h_k(1 − h_k)):
        # each is decided once, by what the comparison can read (the nodes it may unfold).
        key = None if meaning is None else neighbourhood_key(
            (lhs, rhs), meaning.graph.expr, meaning._parents, meaning._order, _UNFOLD_STEPS + 1,
            _SHAPE_SYMBOLS)
        if key is None or key not in meaning._decided:
            method = _symbolically_equal(lhs, rhs, meaning)
            if key is not None:
                meaning._decided[key] = method
        method = meaning._decided[key] if key is not None else method
        if method:
            return Check(label, method)
        if meaning is None:
            return _numeric_free(lhs, rhs, label)
    decided = _numeric_points(lhs, rhs, label, meaning, range(len(meaning.points)))
    if not decided:
        decided = _numeric_points(lhs, rhs, label, meaning, meaning.spare_points())
    if not decided:
        raise ValuesError(f"equation {label!r} cannot be checked: its sides are not both finite "
                          "numbers off a kink at the given values or at any other point tried")
    return Check(label, "numeric")


def _numeric_points(lhs: sp.Expr, rhs: sp.Expr, label: str, meaning: Meaning, ks) -> int:
    """How many of the points ``ks`` decide lhs = rhs (raising VerificationError at the first
    that refutes it). A point where a side is not a finite number decides nothing: nan or ∞
    is what floats make of a true equation far out (∞ · 0 in a tangent, 0/0 of a saturated σ)
    as much as of a false one; the worked example's numbers are checked on their own.
    """
    decided = 0
    for k in ks:
        left, right = meaning.value(lhs, k), meaning.value(rhs, k)
        if not (_finite(left) and _finite(right)):
            continue
        decided += 1
        if not _agree(left, right) and not _agree_precisely(lhs, rhs, meaning, k):
            if meaning.on_kink(lhs, k) or meaning.on_kink(rhs, k):
                # at a kink a derivative is a convention (relu′(0) = 0, SymPy's ½), not a fact
                decided -= 1
                continue
            where = ", ".join(f"{s}={v:.3g}" for s, v in meaning.points[k].items()
                              if s in meaning.graph.leaves)
            raise VerificationError(
                f"equation {label!r} does not hold: left side {left.real:.12g}, right side "
                f"{right.real:.12g} at {where}"
            )
    return decided


def _agree_precisely(lhs: sp.Expr, rhs: sp.Expr, meaning: Meaning, k: int) -> bool:
    """Whether both sides agree at point k in 50 digits: floats that disagree may only have
    lost the digits (a difference of two numbers near 1e17), not found a false equation."""
    left, right = meaning.precise(lhs, k), meaning.precise(rhs, k)
    return left is not None and right is not None and _agree(left, right)


def _finite(z: complex) -> bool:
    return math.isfinite(z.real) and math.isfinite(z.imag)


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

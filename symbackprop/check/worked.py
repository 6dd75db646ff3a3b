"""Worked examples: the numbers of one gradient-descent step, each from one compiled evaluation.

Display rounding reads every number from the derivation's evaluator (its stable forms: p − y,
log σ from logits), so a saturated output gives the same finite gradient ``check`` gives. By-hand
rounding runs one compiled pass in which each node, δ and gradient is rounded before it is
used, as a student does. A local derivative is computed when it is looked up, from the node
values, by a function compiled once per shape of derivative (a deep chain's thousand
∂h_k/∂z_k = h_k(1 − h_k) are one), never one compile per printed number. A parameter's chain
paths are listed only when asked for (``factors[name]``): documents use the δ recursion.

>>> import symbackprop as sb
>>> d = sb.derive(sb.mlp([2, 2, 1]))
>>> v = dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)
>>> ex = sb.worked_example(d, v)
>>> ex.show(ex.deltas["z3"]), ex.show(ex.gradients["w5"])
('-0.162', '-0.100')
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Context, Decimal

import mpmath
import numpy as np
import sympy as sp

from ..codegen.scalar import NUMPY_FUNCTIONS, compile_numeric, identifiers, subclassed_functions
from ..codegen.stable import stable_forward
from ..core.errors import ValuesError
from ..core.graph import Graph, Kind
from ..derivation.reverse import MAX_CHAIN_PATHS, Derivation, derive
from ..printing.display import worked_example_markdown
from .digits import DIGITS, MANY_DIGITS, precise_number, precise_value
from .floats import real_float
from .handkey import key_deltas, key_gradients, key_nodes
from .shapes import plain
from .verify import elementary

__all__ = ["WorkedExample", "FactorValue", "ChainFactors", "LocalValues", "worked_example",
           "round_half_up", "precise_nodes", "precise_at", "non_finite_node", "require_finite"]

# Enough digits for any float64 (up to 1.8e308) and 15 decimals, so quantize never overflows.
_DECIMALS = Context(prec=400)
FLOAT64_MAX = float(np.finfo(np.float64).max)


def round_half_up(x: float, digits: int) -> float:
    """Round as by hand (0.0625 -> 0.063 at 3 digits), not to even.

    >>> round_half_up(0.0625, 3), round_half_up(-0.7087, 2), round_half_up(1e300, 3)
    (0.063, -0.71, 1e+300)
    >>> round_half_up(0.29 + 0.1 * 0.525, 3)  # 0.3425 in decimals, whatever floats make of it
    0.343
    """
    if not math.isfinite(x) or x == 0:
        return x
    exact = Decimal(repr(float(x)))
    # Float noise first: 0.29 + 0.1 · 0.525 is 0.34249999999999997 in floats, 0.3425 by hand,
    # and by hand it rounds up. Noise is below the 12th significant digit; the digits kept are
    # never fewer than six past the asked ones (1.8e308 at 15 decimals keeps every digit).
    quantum = min(exact.adjusted() - 11, -digits - 6)
    exact = exact.quantize(Decimal(1).scaleb(quantum), context=_DECIMALS)
    q = Decimal(1).scaleb(-digits)
    return float(exact.quantize(q, rounding=ROUND_HALF_UP, context=_DECIMALS))


@dataclass(frozen=True)
class FactorValue:
    """One factor ∂of/∂wrt of a chain: its local result and its value."""

    of: str
    wrt: str
    expr: sp.Expr
    value: float


@dataclass
class WorkedExample:
    """The numbers of one gradient-descent step, each as a symbolic form and a value.

    ``rounding`` is ``"display"`` (full precision carried, rounded only when shown) or
    ``"by_hand"`` (each intermediate rounded to ``digits`` decimals before it is used, so that
    a student's hand calculation matches line by line). ``deltas`` holds δ = ∂L/∂v of every
    node v but the loss, ``local_derivatives`` every local derivative ∂child/∂parent by (child, parent)
    names; ``factors`` lists a parameter's chain paths when it is looked up (empty past
    ``MAX_CHAIN_PATHS``), never on the way to the numbers.
    """

    derivation: Derivation
    values: dict[str, float]
    learning_rate: float
    digits: int
    rounding: str
    nodes: dict[str, float] = field(default_factory=dict)
    factors: Mapping[str, list[list[FactorValue]]] = field(default_factory=dict)
    gradients: dict[str, float] = field(default_factory=dict)
    updated: dict[str, float] = field(default_factory=dict)
    deltas: dict[str, float] = field(default_factory=dict)
    local_derivatives: Mapping[tuple[str, str], float] = field(default_factory=dict)

    @property
    def loss(self) -> float:
        return self.nodes[self.derivation.loss.name]

    def show(self, x: float) -> str:
        """``x`` at the example's number of decimals (half up)."""
        # + 0.0 turns a rounded -0.0 into 0.0: "-0.000" is not a number anyone writes.
        return f"{round_half_up(x, self.digits) + 0.0:.{self.digits}f}"

    def _repr_markdown_(self) -> str:
        """Jupyter: the forward values, the δs, the gradients and the update, as tables."""
        return worked_example_markdown(self)

    def __repr__(self) -> str:
        return (f"<WorkedExample of {self.derivation.graph.title}: loss {self.show(self.loss)}, "
                f"{len(self.gradients)} gradients, {self.rounding} rounding, "
                f"{self.digits} decimals>")


def worked_example(
    derivation: Derivation | Graph,
    values: Mapping,
    learning_rate: float = 0.1,
    digits: int = 3,
    rounding: str = "display",
) -> WorkedExample:
    """Forward pass, loss, every chain factor, every gradient and one update step, in numbers.

    >>> import symbackprop as sb
    >>> d = sb.derive(sb.mlp([2, 2, 1]))
    >>> v = dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)
    >>> ex = sb.worked_example(d, v, learning_rate=0.1, digits=3)
    >>> ex.show(ex.nodes["z1"]), ex.show(ex.gradients["w5"]), ex.show(ex.updated["w5"])
    ('0.470', '-0.100', '0.560')
    """
    if rounding not in ("display", "by_hand"):
        raise ValueError(f"rounding must be 'display' or 'by_hand', got {rounding!r}")
    if isinstance(digits, bool) or not isinstance(digits, int) or not 0 <= digits <= 15:
        raise ValueError(f"digits must be an integer from 0 to 15, got {digits!r}")
    if isinstance(learning_rate, bool) or not (
        isinstance(learning_rate, numbers.Real) and math.isfinite(learning_rate) and learning_rate > 0
    ):
        raise ValueError(f"the learning rate must be a positive number, got {learning_rate!r}")
    d = derivation if isinstance(derivation, Derivation) else derive(derivation)
    g = d.graph
    at = {g.symbol(k).name: v for k, v in values.items()}
    ev = d.evaluator
    ev._args(at)  # validates names and numbers with one clear message
    ex = WorkedExample(d, {k: float(v) for k, v in at.items()}, float(learning_rate), digits, rounding)
    by_hand = rounding == "by_hand"
    if by_hand:
        nodes, deltas, grads = _by_hand_pass(d, ex.values, digits)
    else:
        result = ev.evaluate(ex.values)
        nodes, deltas, grads = result.nodes, result.deltas, result.gradients
    ex.nodes = {v.name: float(nodes[v.name]) for v in g.nodes}
    ex.deltas = {k: float(x) for k, x in deltas.items()}
    if by_hand:  # the key's numbers: each product is the product of the factors it shows
        def shown(x: float) -> float:
            return round_half_up(x, digits)
        ex.nodes = key_nodes(d, ex.values, ex.nodes, shown)
        ex.deltas.update(key_deltas(d, ex.values, ex.nodes, ex.deltas, shown))
        key = key_gradients(d, ex.values, ex.nodes, ex.deltas, shown)
        grads = {p: key[p] if math.isfinite(key[p]) else float(x) for p, x in grads.items()}
    known = {s: ex.values[s.name] for s in g.leaves} | {v: ex.nodes[v.name] for v in g.nodes}
    ex.local_derivatives = LocalValues(d, known, digits if by_hand else None)

    def keep(x: float) -> float:
        return round_half_up(x, digits) if by_hand else float(x)

    # By hand, each gradient is its δ form (Σ δ_c ∂c/∂p) at the key's rounded numbers
    # (handkey.py), as the notes print it: no chain path is listed on the way.
    ex.factors = ChainFactors(d, ex.local_derivatives)
    for p in g.parameters:
        gradient = float(grads[p.name])
        ex.gradients[p.name] = gradient
        with np.errstate(all="ignore"):
            step = np.float64(ex.values[p.name]) - np.float64(ex.learning_rate) * gradient
        ex.updated[p.name] = keep(float(step))
    return ex


class ChainFactors(Mapping):
    """Each parameter's chain paths as :class:`FactorValue` rows, listed when looked up (once):
    a document never asks, ``symbackprop example`` does. Empty past ``MAX_CHAIN_PATHS``.

    >>> import symbackprop as sb
    >>> d = sb.derive(sb.mlp([1, 1]))
    >>> ex = sb.worked_example(d, dict(x1=1.0, w1=0.5, y=1.0))
    >>> [f"d{f.of}/d{f.wrt}" for f in ex.factors["w1"][0]]
    ['dL/dyhat', 'dyhat/dz1', 'dz1/dw1']
    """

    def __init__(self, derivation: Derivation,
                 local: Mapping[tuple[str, str], float]) -> None:
        self._d, self._local, self._listed = derivation, local, {}

    def __getitem__(self, name: str) -> list[list[FactorValue]]:
        if name not in self._listed:
            p = self._d.graph.symbol(name)
            if self._d.graph.kind(p) is not Kind.PARAMETER:
                raise KeyError(name)
            self._listed[name] = _paths(self._d, p, self._local)
        return self._listed[name]

    def __iter__(self):
        return (p.name for p in self._d.graph.parameters)

    def __len__(self) -> int:
        return len(self._d.graph.parameters)


class LocalValues(Mapping):
    """Every local derivative ∂child/∂parent by (child, parent) names, each computed when first
    looked up by a function compiled once per shape of derivative: the gradients never need
    them (they come from the δs), a document looks up a few, and compiling all of a deep
    net's at once (one function of 3,000 derivatives for a 1000-weight chain) cost more than
    its whole worked section.

    >>> import symbackprop as sb
    >>> d = sb.derive(sb.mlp([1, 1]))
    >>> ex = sb.worked_example(d, dict(x1=1.0, w1=0.5, y=1.0))
    >>> round(ex.local_derivatives[("z1", "w1")], 3)
    1.0
    """

    def __init__(self, derivation: Derivation, known: Mapping[sp.Symbol, float],
                 digits: int | None) -> None:
        self._d, self._known, self._digits = derivation, known, digits
        self._pairs: dict[tuple[str, str], tuple[sp.Symbol, sp.Symbol]] | None = None
        self._values: dict[tuple[str, str], float] = {}
        self._precise: dict = {}  # the nodes in digits, for every value floats lose

    def _all(self) -> dict[tuple[str, str], tuple[sp.Symbol, sp.Symbol]]:
        if self._pairs is None:
            d = self._d
            self._pairs = {(c.name, v.name): (c, v) for v in d.graph.symbols
                           for c in d.children(v) if c in d.deltas}
        return self._pairs

    def __getitem__(self, key: tuple[str, str]) -> float:
        if key not in self._values:
            c, v = self._all()[key]
            self._values[key] = _local_value(self._d, self._known, c, v, self._digits,
                                             self._precise)
        return self._values[key]

    def __iter__(self):
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def _paths(d: Derivation, p: sp.Symbol, local: Mapping[tuple[str, str], float]):
    # Past the limit no path is listed (the count is DP, no listing): documents and the gradient
    # itself are built from δ values, so a net with many paths still gets its worked example.
    if d.path_count(p) > MAX_CHAIN_PATHS:
        return []
    return [[FactorValue(f.of.name, f.wrt.name, f.result, local[(f.of.name, f.wrt.name)])
             for f in path] for path in d.chain(p).paths]


def _local_value(d: Derivation, known: Mapping[sp.Symbol, float], c: sp.Symbol, v: sp.Symbol,
                 digits: int | None, cache: dict) -> float:
    """∂c/∂v at ``known``, compiled once per shape; in 50 digits where floats lose it."""
    expr = d.local(c, v)
    shape, renamed = plain(expr)
    f = _cached(d, ("local", shape), lambda: compile_numeric(list(renamed.values()), [shape]))
    with np.errstate(all="ignore"):
        x = real_float(f(*(np.float64(known[s]) for s in renamed))[0])
    if not math.isfinite(x):
        x = _precise_where_floats_fail(d, known, expr, x, cache)
    return round_half_up(x, digits) if digits is not None else x


def _precise_where_floats_fail(d: Derivation, known: Mapping[sp.Symbol, float], expr: sp.Expr,
                               x: float, cache: dict) -> float:
    """A local derivative that is nan or inf in floats, recomputed with every node in 50 digits.

    Floats round a saturated σ to exactly 1, so ∂L/∂ŷ = (ŷ − y)/(ŷ(ŷ − 1)) becomes 0/0; from
    the leaves in 50 digits it is the finite number the evaluator's stable forms agree with.
    Where 50 digits cannot be had cheaply (an argument past the bounds of .digits) or the number is not real,
    the float stays as it was.
    """
    z = precise_at(d.graph, known, expr, cache=cache)
    return z.real if z is not None and z.imag == 0 else x


def precise_nodes(g: Graph, known: Mapping[sp.Symbol, float],
                  digits: int = DIGITS) -> dict[sp.Symbol, object]:
    """Every leaf and node of ``g`` in ``digits`` digits from the leaves in ``known`` (a node
    that cannot be had cheaply, see :mod:`.digits`, is None, and so is all computed from it).
    """
    precise: dict[sp.Symbol, object] = {s: mpmath.mpf(float(known[s])) for s in g.leaves}
    for v in g.nodes:
        precise[v] = precise_number(elementary(g.expr(v)), precise, digits)
    return precise


def precise_at(g: Graph, known: Mapping[sp.Symbol, float], expr: sp.Expr,
               extra: Mapping[sp.Symbol, float] | None = None,
               cache: dict | None = None) -> complex | None:
    """``expr`` (in leaves and nodes of ``g``, and the symbols of ``extra``) from the leaves in
    ``known``: in 50 digits, and where those round away the answer (1 − σ(1000) is 0 in 50
    digits) once more in as many digits as the bounded magnitudes can need. None where neither
    gives a number. ``cache`` keeps the nodes' digits between calls at the same values."""
    cache = {} if cache is None else cache
    for digits in (DIGITS, MANY_DIGITS):
        if digits not in cache:
            cache[digits] = precise_nodes(g, known, digits)
        numbers = {**(extra or {}), **cache[digits]}
        z = precise_value(elementary(expr), numbers, digits)
        if z is not None:
            return z
    return None


def non_finite_node(ex: WorkedExample) -> tuple[str, str] | None:
    """The first node of the example whose value is not a finite float, with why: (name,
    "overflow" | "not_real" | "undefined"); None if every node is finite."""
    g = ex.derivation.graph
    for v in g.nodes:
        if math.isfinite(ex.nodes[v.name]):
            continue
        z = precise_at(g, {s: ex.values[s.name] for s in g.leaves}, v, cache={})
        if z is not None and z.imag != 0:
            return v.name, "not_real"
        if math.isinf(ex.nodes[v.name]) or z is not None and abs(z) > FLOAT64_MAX:
            return v.name, "overflow"
        return v.name, "undefined"
    return None


def require_finite(ex: WorkedExample) -> None:
    """Refuse (ValuesError) an example with a node that no float64 holds: it would show ∞ or
    nan for a number that is finite, or not a real number at all."""
    found = non_finite_node(ex)
    if found is None:
        lost = next((p for p, g in ex.gradients.items() if not math.isfinite(g)), None)
        if lost is not None:  # every node finite, but inf/inf or 0·inf past 1e308 on the way
            raise ValuesError(f"at these values float64 loses the gradient for {lost} (an "
                              "overflow on the way); the worked example cannot show it: give "
                              "values where every number is finite")
        return
    name, why = found
    reason = {"overflow": "overflows float64 (its magnitude is past 1.8e308)",
              "not_real": "is not a real number (a log or root of a negative number)",
              "undefined": "is not defined in float64 (an overflow or a division by zero "
                           "on the way)"}[why]
    raise ValuesError(f"at these values the node {name} {reason}; the worked example cannot "
                      "show it: give values where every node is a finite number")


def _cached(d: Derivation, key, make):
    cache = d.__dict__.setdefault("_worked_cache", {})
    if key not in cache:
        cache[key] = make()
    return cache[key]


class _rounded(sp.Function):  # noqa: N801 - printed by name into the by-hand code
    """Rounded to the example's digits, half up; only in generated code."""


def _by_hand_pass(d: Derivation, values: Mapping[str, float], digits: int):
    """Nodes, δs and gradients with every intermediate rounded before it is used."""
    f, names = _cached(d, ("by_hand", digits), lambda: _compile_by_hand(d, digits))
    g = d.graph
    with np.errstate(all="ignore"):
        out = f(*(np.float64(values[s.name]) for s in g.leaves))
    out = [real_float(x) for x in out]
    node_names, delta_names, param_names = names
    n, k = len(node_names), len(delta_names)
    return (dict(zip(node_names, out[:n], strict=True)),
            dict(zip(delta_names, out[n:n + k], strict=True)),
            dict(zip(param_names, out[n + k:], strict=True)))


def _compile_by_hand(d: Derivation, digits: int):
    g = d.graph
    ev = d.evaluator
    backward = [v for v in reversed(g.nodes) if v in d.deltas and v != g.loss_symbol]
    grads = {p: sp.Dummy(f"dL_d{p.name}") for p in g.parameters}
    ident = identifiers([*g.leaves, *g.nodes, *(d.delta_symbols[v] for v in backward),
                          *grads.values()])
    steps = [(ident[v], _rounded(e.xreplace(ident))) for v, e in stable_forward(g)]
    steps += [(ident[d.delta_symbols[v]], _rounded(ev._delta_for_code(v).xreplace(ident)))
              for v in backward]
    steps += [(ident[grads[p]], _rounded(d.deltas.get(p, sp.S.Zero).xreplace(ident)))
              for p in g.parameters]
    outputs = [name for name, _ in steps]

    def rounded(x):
        return round_half_up(float(x), digits)

    modules = [{"_rounded": rounded}, subclassed_functions(e for _, e in steps),
               NUMPY_FUNCTIONS, "numpy"]
    f = sp.lambdify([ident[s] for s in g.leaves], outputs, modules=modules,
                    cse=lambda _exprs: (steps, outputs), docstring_limit=0)
    names = ([v.name for v in g.nodes], [v.name for v in backward],
             [p.name for p in g.parameters])
    return f, names

"""Numbers from a derivation: lambdified evaluators, finite differences, worked examples.

The evaluator is made once by ``sympy.lambdify``. Its common subexpressions are not searched
for: backpropagation already is the elimination, so the forward nodes and the δs are handed to
lambdify as its CSE assignments, in order, and the generated code reads like the derivation.

>>> import symbackprop as sb
>>> d = sb.derive(sb.mlp([2, 2, 1]))
>>> values = dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)
>>> round(d.evaluate(values).gradients["w5"], 4)
-0.0998
"""

from __future__ import annotations

import inspect
import keyword
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import sympy as sp

from . import functions
from .derive import Derivation, derive
from .graph import Graph

__all__ = [
    "Evaluator",
    "Evaluation",
    "GradientCheck",
    "CheckRow",
    "WorkedExample",
    "check_gradients",
    "worked_example",
    "round_half_up",
    "NUMPY_FUNCTIONS",
]


# -- numpy implementations of the activations, in numerically stable forms ----------------------
def _sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -np.asarray(x, dtype=float)))


def _softplus(x):
    return np.logaddexp(0.0, np.asarray(x, dtype=float))


def _relu(x):
    return np.maximum(np.asarray(x, dtype=float), 0.0)


def _leaky_relu(x, slope):
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, x, slope * x)


def _softmax(k, *zs):
    zs = np.broadcast_arrays(*[np.asarray(z, dtype=float) for z in zs])
    top = np.maximum.reduce(zs)
    exps = [np.exp(z - top) for z in zs]
    return exps[int(k) - 1] / sum(exps)


def _log_softmax(k, *zs):
    zs = np.broadcast_arrays(*[np.asarray(z, dtype=float) for z in zs])
    top = np.maximum.reduce(zs)
    return zs[int(k) - 1] - top - np.log(sum(np.exp(z - top) for z in zs))


def _clamped_log(x):
    # As torch's BCELoss: the log of a probability is clamped at −100, so a prediction of exactly
    # 0 gives a large finite loss instead of inf (and its gradient stays finite).
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(np.asarray(x, dtype=float)), -100.0)


class log_softmax(sp.Function):  # noqa: N801 - printed by name into lambdified code
    """log softmax(k, z1, …, zn), only in generated code: z_k − log Σ exp(z), never log(0)."""


class clamped_log(sp.Function):  # noqa: N801
    """log(x) clamped at −100, only in generated code (torch's BCELoss does the same)."""


def _stable_loss(g: Graph, expr: sp.Expr) -> sp.Expr:
    """The loss with every log of a probability computed from its logits, as torch's
    BCEWithLogitsLoss and CrossEntropyLoss do: log σ(z) = −softplus(−z), log(1 − σ(z)) =
    −softplus(z), log softmax_k(z) = z_k − logsumexp(z). So σ(±1000) or a softmax that
    underflows gives a finite loss. Any other log is clamped at −100, as BCELoss does."""
    logits: dict[sp.Expr, sp.Expr] = {}
    for v in g.nodes:
        e = g.expr(v)
        if isinstance(e, functions.sigmoid):
            z = e.args[0]
            logits[sp.log(v)] = -functions.softplus(-z)
            logits[sp.log(1 - v)] = -functions.softplus(z)
        elif isinstance(e, functions.softmax):
            logits[sp.log(v)] = log_softmax(*e.args)
    stable = expr.xreplace(logits)
    return stable.replace(lambda e: isinstance(e, sp.log), lambda e: clamped_log(e.args[0]))


def _heaviside(x, at_zero=0.5):
    return np.heaviside(np.asarray(x, dtype=float), float(at_zero))


NUMPY_FUNCTIONS = {
    # SymPy's own NumPy printing rewrites Heaviside as a Piecewise, which folds the leaky_relu
    # inside its argument into nested selects that numpy.select rejects; np.heaviside does not.
    "Heaviside": _heaviside,
    "log_softmax": _log_softmax,
    "clamped_log": _clamped_log,
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "softmax": _softmax,
}
_RESERVED = set(NUMPY_FUNCTIONS) | set(dir(__builtins__)) | {"numpy", "np", "math"}


def _subclassed_functions(exprs) -> dict[str, object]:
    """Numpy implementations for a user's subclasses of the engine's activations (a sigmoid
    with its own derivative, say): the value is the parent's, whatever the derivative says."""
    out: dict[str, object] = {}
    for e in exprs:
        for f in e.atoms(sp.Function):
            cls = type(f)
            if cls.__name__ in NUMPY_FUNCTIONS:
                continue
            for parent in cls.__mro__[1:]:
                if parent.__name__ in NUMPY_FUNCTIONS and parent.__module__ == functions.__name__:
                    out[cls.__name__] = NUMPY_FUNCTIONS[parent.__name__]
                    break
    return out


def _identifiers(symbols: Sequence[sp.Symbol]) -> dict[sp.Symbol, sp.Symbol]:
    """Readable, unique Python identifiers for symbols whose names may hold ^ ( ) [ ] , ."""
    taken: set[str] = set()
    out = {}
    for s in symbols:
        base = re.sub(r"[^0-9A-Za-z_]+", "_", s.name).strip("_") or "v"
        if base[0].isdigit():
            base = "v_" + base
        name, k = base, 1
        while name in taken or name in _RESERVED or keyword.iskeyword(name):
            k += 1
            name = f"{base}_{k}"
        taken.add(name)
        out[s] = sp.Symbol(name, real=True)
    return out


def _as_float_or_array(x, shape):
    arr = np.asarray(x, dtype=float)
    if arr.shape != shape:
        arr = np.broadcast_to(arr, shape).copy()
    return float(arr) if arr.ndim == 0 else arr


@dataclass(frozen=True)
class Evaluation:
    """Numbers at one point: every node (loss included), every δ and every gradient."""

    nodes: dict[str, float | np.ndarray]
    gradients: dict[str, float | np.ndarray]
    deltas: dict[str, float | np.ndarray]
    loss: float | np.ndarray


class Evaluator:
    """The numpy functions of one derivation, lambdified once.

    ``evaluate(values)`` runs forward and backward; ``loss(values)`` runs forward only.
    ``source`` is the generated code: the forward pass, then one line per δ and gradient.
    """

    def __init__(self, derivation: Derivation) -> None:
        self.derivation = derivation
        g = derivation.graph
        self.graph = g
        self.leaves = g.leaves
        backward_nodes = [v for v in reversed(g.nodes) if v in derivation.deltas and v != g.loss_symbol]
        self._grad_symbols = {p: sp.Symbol(f"dL_d{p.name}", real=True) for p in g.parameters}
        all_symbols = [
            *self.leaves,
            *g.nodes,
            *(derivation.delta_symbols[v] for v in backward_nodes),
            *self._grad_symbols.values(),
        ]
        ident = _identifiers(all_symbols)
        self._divides: set[sp.Symbol] = set()  # nodes whose δ code divides (_delta_for_code)
        forward = [(ident[v], (_stable_loss(g, g.expr(v)) if v == g.loss_symbol else g.expr(v))
                    .xreplace(ident)) for v in g.nodes]
        backward = [
            (ident[derivation.delta_symbols[v]], self._delta_for_code(v).xreplace(ident))
            for v in backward_nodes
        ]
        grads = [
            (ident[self._grad_symbols[p]], derivation.deltas.get(p, sp.S.Zero).xreplace(ident))
            for p in g.parameters
        ]
        args = [ident[s] for s in self.leaves]
        self._node_names = [v.name for v in g.nodes]
        self._delta_names = [v.name for v in backward_nodes]
        self._param_names = [p.name for p in g.parameters]
        outputs = [a for a, _ in forward] + [a for a, _ in backward] + [a for a, _ in grads]
        steps = forward + backward + grads
        modules = [_subclassed_functions(e for _, e in steps), NUMPY_FUNCTIONS, "numpy"]
        self._full = sp.lambdify(
            args, outputs, modules=modules, cse=lambda _exprs: (steps, outputs),
            docstring_limit=0,
        )
        self._forward = sp.lambdify(
            args, ident[g.loss_symbol], modules=modules,
            cse=lambda _exprs: (forward, ident[g.loss_symbol]), docstring_limit=0,
        )

    def _delta_for_code(self, v: sp.Symbol) -> sp.Expr:
        # Where the exact δ simplifies to a form without division (sigmoid + bce gives ŷ − y),
        # compute that: it is cheaper and does not divide by ŷ(1 − ŷ). The division may sit in
        # the recursion itself or in a δ it uses (δ_z = δ_ŷ·ŷ(1 − ŷ) with δ_ŷ = (ŷ − y)/(ŷ(1 − ŷ))).
        d = self.derivation
        recursion = d.deltas[v]
        divides = self._divides
        used = recursion.free_symbols
        uses = {n for n, s in d.delta_symbols.items() if s in used}
        if not _has_division(recursion) and not uses & divides:
            return recursion
        exact = d.exact_value(v)
        if not _has_division(exact):
            return exact
        if _has_division(recursion):
            divides.add(v)
        return recursion

    @property
    def source(self) -> str:
        """The generated Python source of the forward + backward evaluator."""
        return inspect.getsource(self._full)

    def _args(self, values: Mapping) -> list:
        known: dict[sp.Symbol, object] = {}
        for key, v in values.items():
            try:
                s = self.graph.symbol(key)
            except ValueError:
                raise ValueError(f"unknown name {str(key)!r} in values") from None
            known[s] = v
        missing = [s.name for s in self.leaves if s not in known]
        if missing:
            raise ValueError(f"values are missing for: {', '.join(missing)}")
        leaves = set(self.leaves)
        extra = [s.name for s in known if s not in leaves]
        if extra:
            raise ValueError(f"values given for nodes, which are computed: {', '.join(extra)}")
        out = []
        for s in self.leaves:
            v = known[s]
            if isinstance(v, bool) or not isinstance(v, int | float | np.ndarray | np.number):
                raise ValueError(f"value of {s.name} must be a number or a numpy array, got {v!r}")
            # numpy scalars, so that a division by zero is inf (with numpy's warning), as it is
            # for arrays, rather than Python's ZeroDivisionError
            out.append(np.asarray(v, dtype=float) if isinstance(v, np.ndarray) else np.float64(v))
        return out

    def evaluate(self, values: Mapping) -> Evaluation:
        """Forward and backward pass at ``values`` (name -> float or array, broadcast)."""
        args = self._args(values)
        shape = np.broadcast_shapes(*(np.shape(a) for a in args))
        with np.errstate(all="ignore"):
            out = self._full(*args)
        out = [_as_float_or_array(x, shape) for x in out]
        n, k = len(self._node_names), len(self._delta_names)
        nodes = dict(zip(self._node_names, out[:n], strict=True))
        deltas = dict(zip(self._delta_names, out[n : n + k], strict=True))
        grads = dict(zip(self._param_names, out[n + k :], strict=True))
        return Evaluation(nodes, grads, deltas, nodes[self.graph.loss_symbol.name])

    def loss(self, values: Mapping) -> float | np.ndarray:
        """The loss alone (the forward pass)."""
        args = self._args(values)
        shape = np.broadcast_shapes(*(np.shape(a) for a in args))
        with np.errstate(all="ignore"):
            return _as_float_or_array(self._forward(*args), shape)


def _has_division(expr: sp.Expr) -> bool:
    return any(
        isinstance(p, sp.Pow) and p.exp.is_negative and not p.base.is_number
        for p in sp.preorder_traversal(expr)
    )


# -- finite differences ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckRow:
    """One parameter's comparison of the engine's gradient with central differences."""

    name: str
    engine: float
    finite_difference: float
    error: float
    ok: bool
    skipped: str = ""


@dataclass(frozen=True)
class GradientCheck:
    """``ok`` when every checked row agrees; ``max_error`` over checked rows."""

    rows: list[CheckRow]
    eps: float
    rtol: float
    atol: float

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    @property
    def max_error(self) -> float:
        errors = [r.error for r in self.rows if not r.skipped]
        return max(errors, default=0.0)

    @property
    def skipped(self) -> list[CheckRow]:
        return [r for r in self.rows if r.skipped]

    def __str__(self) -> str:
        lines = [f"{'parameter':<16}{'engine':>16}{'finite diff.':>16}{'error':>12}  status"]
        for r in self.rows:
            status = f"skipped: {r.skipped}" if r.skipped else ("ok" if r.ok else "WRONG")
            lines.append(
                f"{r.name:<16}{r.engine:>16.9g}{r.finite_difference:>16.9g}{r.error:>12.2e}  {status}"
            )
        verdict = "all gradients agree" if self.ok else "SOME GRADIENTS DISAGREE"
        lines.append(f"max error {self.max_error:.2e} (rtol {self.rtol:g}, atol {self.atol:g}): {verdict}")
        return "\n".join(lines)


_KINKED = (functions.relu, functions.leaky_relu, sp.Heaviside, sp.Abs, sp.Max, sp.Min)


def _kink_arguments(graph: Graph) -> list[sp.Expr]:
    """Arguments of the non-smooth functions in the forward pass, in leaves and node symbols
    (never expanded into leaves: that is exponential in depth, and recursed past Python's
    limit on a 400-node relu chain)."""
    found: list[sp.Expr] = []
    for _, expr in graph.forward_equations():
        for f in sp.preorder_traversal(expr):
            if isinstance(f, _KINKED) and f.args:
                arg = f.args[0]
                if arg not in found:
                    found.append(arg)
    return found


def check_gradients(
    derivation: Derivation | Graph,
    values: Mapping,
    eps: float = 1e-6,
    rtol: float = 1e-6,
    atol: float = 1e-8,
) -> GradientCheck:
    """Compare every gradient with central finite differences of the loss.

    A row is ok when |engine − fd| ≤ atol + rtol·max(|engine|, |fd|); rows whose step crosses a
    kink of relu / leaky_relu are skipped and say so.

    >>> import symbackprop as sb
    >>> d = sb.derive(sb.mlp([2, 2, 1]))
    >>> v = dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)
    >>> sb.check_gradients(d, v).ok
    True
    """
    d = derivation if isinstance(derivation, Derivation) else derive(derivation)
    ev = d.evaluator
    at = {d.graph.symbol(k).name: v for k, v in values.items()}
    engine = ev.evaluate(at).gradients
    kinks = _kink_arguments(d.graph)
    kink_f = (
        sp.lambdify([*d.graph.leaves, *d.graph.nodes], kinks, modules=[NUMPY_FUNCTIONS, "numpy"],
                    cse=True)
        if kinks
        else None
    )
    rows = []
    for p in d.graph.parameters:
        x0 = np.asarray(at[p.name], dtype=float)
        h = eps * np.maximum(1.0, np.abs(x0))
        plus, minus = dict(at), dict(at)
        plus[p.name], minus[p.name] = x0 + h, x0 - h
        if kink_f is not None:
            crossed = _crosses_kink(kink_f, kinks, d.graph, plus, minus, at, ev)
            if crossed:
                rows.append(
                    CheckRow(p.name, float(np.max(engine[p.name])), math.nan, 0.0, True,
                             f"the step crosses a kink ({crossed} = 0)")
                )
                continue
        fd = (np.asarray(ev.loss(plus)) - np.asarray(ev.loss(minus))) / (2 * h)
        g = np.asarray(engine[p.name], dtype=float)
        err = np.abs(g - fd)
        tol = atol + rtol * np.maximum(np.abs(g), np.abs(fd))
        worst = int(np.argmax(err - tol)) if err.ndim else 0
        rows.append(
            CheckRow(
                p.name,
                float(g.flat[worst]) if g.ndim else float(g),
                float(np.asarray(fd).flat[worst]) if np.ndim(fd) else float(fd),
                float(np.max(err / np.maximum(1.0, np.maximum(np.abs(g), np.abs(fd))))),
                bool(np.all(np.isfinite(g)) and np.all(err <= tol)),
            )
        )
    return GradientCheck(rows, eps, rtol, atol)


def _crosses_kink(kink_f, kinks, graph, plus, minus, at, ev) -> str:
    def values(vals):
        nodes = ev.evaluate(vals).nodes
        args = [np.asarray(vals[s.name], dtype=float) for s in graph.leaves] + [
            np.asarray(nodes[s.name], dtype=float) for s in graph.nodes]
        return [np.asarray(a, dtype=float) for a in kink_f(*args)]

    for k, (a, b, c) in enumerate(zip(values(plus), values(minus), values(at), strict=True)):
        # Crossed: the step changes the argument's sign, or starts on the kink and moves off it.
        # A parameter that does not move an argument sitting at 0 leaves it there: no kink.
        moved = (a != c) | (b != c)
        if np.any(np.sign(a) != np.sign(b)) or np.any((c == 0) & moved):
            arg = kinks[k]
            if arg in graph.nodes:  # the node, and one level of what it is (never the leaves)
                return f"{sp.sstr(arg)} = {sp.sstr(graph.expr(arg))}"
            return sp.sstr(arg)
    return ""


# -- worked examples -------------------------------------------------------------------------------
def round_half_up(x: float, digits: int) -> float:
    """Round as by hand (0.0625 -> 0.063 at 3 digits), not to even.

    >>> round_half_up(0.0625, 3), round_half_up(-0.7087, 2)
    (0.063, -0.71)
    """
    if not math.isfinite(x):
        return x
    q = Decimal(1).scaleb(-digits)
    return float(Decimal(repr(float(x))).quantize(q, rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class FactorValue:
    of: str
    wrt: str
    expr: sp.Expr
    value: float


@dataclass
class WorkedExample:
    """The numbers of one gradient-descent step, each as a symbolic form and a value.

    ``rounding`` is ``"display"`` (full precision carried, rounded only when shown) or
    ``"by_hand"`` (each intermediate rounded to ``digits`` decimals before it is used, so that
    a student's hand calculation matches line by line).
    """

    derivation: Derivation
    values: dict[str, float]
    learning_rate: float
    digits: int
    rounding: str
    nodes: dict[str, float] = field(default_factory=dict)
    factors: dict[str, list[list[FactorValue]]] = field(default_factory=dict)
    gradients: dict[str, float] = field(default_factory=dict)
    updated: dict[str, float] = field(default_factory=dict)

    @property
    def loss(self) -> float:
        return self.nodes[self.derivation.loss.name]

    def show(self, x: float) -> str:
        """``x`` at the example's number of decimals (half up)."""
        # + 0.0 turns a rounded -0.0 into 0.0: "-0.000" is not a number anyone writes.
        return f"{round_half_up(x, self.digits) + 0.0:.{self.digits}f}"

    def to_latex(self, **options) -> str:
        """The worked example as a LaTeX fragment (see symbackprop.render)."""
        from .render import render

        return render(self, kind="fragment", **options)


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
    d.evaluator._args(at)  # validates names and numbers with one clear message
    ex = WorkedExample(d, {k: float(v) for k, v in at.items()}, float(learning_rate), digits, rounding)
    by_hand = rounding == "by_hand"

    def keep(x: float) -> float:
        return round_half_up(x, digits) if by_hand else float(x)

    known: dict[sp.Symbol, float] = {s: ex.values[s.name] for s in g.leaves}
    for v, expr in g.forward_equations():
        known[v] = keep(_number(expr, known))
        ex.nodes[v.name] = known[v]
    for p in g.parameters:
        chain = d.chain(p)
        paths, total = [], 0.0
        for path in chain.paths:
            row = [FactorValue(f.of.name, f.wrt.name, f.result, keep(_number(f.result, known)))
                   for f in path]
            paths.append(row)
            total += math.prod(f.value for f in row)
        ex.factors[p.name] = paths
        ex.gradients[p.name] = keep(total)
        ex.updated[p.name] = keep(known[p] - ex.learning_rate * ex.gradients[p.name])
    return ex


def _number(expr: sp.Expr, known: Mapping[sp.Symbol, float]) -> float:
    symbols = sorted(expr.free_symbols, key=sp.default_sort_key)
    f = sp.lambdify(symbols, expr, modules=[NUMPY_FUNCTIONS, "numpy"])
    return float(f(*(known[s] for s in symbols)))

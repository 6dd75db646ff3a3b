"""Numbers from a derivation: the lambdified evaluator and its numerically stable forms.

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

import builtins
import functools
import inspect
import keyword
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import sympy as sp

from ..core import functions, ops
from ..core.graph import Graph
from ..printing.display import evaluation_markdown

if TYPE_CHECKING:  # the evaluator reads a derivation; the derivation builds it
    from ..derivation.reverse import Derivation

__all__ = [
    "Evaluator",
    "Evaluation",
    "NUMPY_FUNCTIONS",
]


# -- numpy for what generated code calls: the registry's kernels, and the stable loss helpers ----
def _as_float(kernel):
    """The kernel on float64 arrays: a spec's integers (and a user's ints) are cast first."""
    if len(inspect.signature(kernel).parameters) == 1:  # most: one frame, one cast
        def on_float(x):
            return kernel(np.asarray(x, dtype=float))
        return on_float

    def on_floats(*args):
        return kernel(*[np.asarray(a, dtype=float) for a in args])
    return on_floats


def _log_softmax(k, *zs):
    zs = np.broadcast_arrays(*[np.asarray(z, dtype=float) for z in zs])
    top = np.maximum.reduce(zs)
    return zs[int(k) - 1] - top - np.log(sum(np.exp(z - top) for z in zs))


def _log_softmax_complement(k, *zs):
    # log(1 − softmax_k(z)) = logsumexp(z without z_k) − logsumexp(z): finite however far z_k
    # stands above the others, where 1 − p_k rounds to 0.
    zs = np.broadcast_arrays(*[np.asarray(z, dtype=float) for z in zs])
    k = int(k) - 1
    others = [z for i, z in enumerate(zs) if i != k]
    if not others:
        return np.full(zs[0].shape, -np.inf)[()]
    return _logsumexp(others) - _logsumexp(zs)


def _logsumexp(zs):
    top = np.maximum.reduce(zs)
    top = np.where(np.isfinite(top), top, 0.0)
    return top + np.log(sum(np.exp(z - top) for z in zs))


def _softmax_ratio(j, k, *zs):
    # p_j / (1 − p_k) = exp(z_j) / Σ_{i≠k} exp(z_i): a softmax over the others, exact where
    # p_j and 1 − p_k both underflow (softmax + bce at saturation).
    zs = np.broadcast_arrays(*[np.asarray(z, dtype=float) for z in zs])
    j, k = int(j) - 1, int(k) - 1
    others = [z for i, z in enumerate(zs) if i != k]
    return np.exp(zs[j] - _logsumexp(others))


class log_softmax(sp.Function):  # noqa: N801 - printed by name into lambdified code
    """log softmax(k, z1, …, zn), only in generated code: z_k − log Σ exp(z), never log(0)."""


class log_softmax_complement(sp.Function):  # noqa: N801
    """log(1 − softmax(k, z1, …, zn)), only in generated code, from the logits."""


class softmax_ratio(sp.Function):  # noqa: N801
    """softmax_j / (1 − softmax_k) of the same logits, only in generated code."""


def stable_loss(g: Graph, expr: sp.Expr) -> sp.Expr:
    """The loss with every log of a probability computed from its logits, as torch's
    BCEWithLogitsLoss and CrossEntropyLoss do: log σ(z) = −softplus(−z), log(1 − σ(z)) =
    −softplus(z), log softmax_k(z) = z_k − logsumexp(z), log(1 − softmax_k(z)) from the
    logsumexp of the others. So σ(±1000) or a softmax that underflows gives a finite loss.
    Any other log is left as it is: no clamping, so the loss and its gradient always agree."""
    logits: dict[sp.Expr, sp.Expr] = {}
    for v in g.nodes:
        e = g.expr(v)
        if isinstance(e, functions.sigmoid):
            z = e.args[0]
            logits[sp.log(v)] = -functions.softplus(-z)
            logits[sp.log(1 - v)] = -functions.softplus(z)
        elif isinstance(e, functions.softmax):
            logits[sp.log(v)] = log_softmax(*e.args)
            logits[sp.log(1 - v)] = log_softmax_complement(*e.args)
    return expr.xreplace(logits)


def _stable_ratios(g: Graph, expr: sp.Expr) -> sp.Expr:
    """``expr`` with each p_j/(1 − p_k) of one softmax computed from the logits.

    The exact δ of softmax + bce keeps such ratios (they do not cancel); both p_j and 1 − p_k
    underflow at saturation, where the ratio, a softmax over the other logits, is finite.
    """
    # each softmax's outputs by index, in one pass (a scan of every node per output took 10 of
    # the 16 s of a 16-step softmax RNN's worked example)
    groups: dict[tuple, dict[int, sp.Symbol]] = {}
    for v in g.nodes:
        e = g.expr(v)
        if isinstance(e, functions.softmax):
            groups.setdefault(e.args[1:], {})[int(e.args[0])] = v
    complements: dict[sp.Expr, tuple] = {}
    for logits, members in groups.items():
        for k, v in members.items():
            complements[1 - v] = (k, logits, members, 1)
            complements[v - 1] = (k, logits, members, -1)
    if not complements:
        return expr

    def pair(term: sp.Expr) -> sp.Expr:
        top, bottom = [], []
        for f in sp.Mul.make_args(sp.factor(sp.cancel(term))):
            base, power = f.as_base_exp()
            if f.is_number or not power.is_negative:
                top.append(f)
            elif base not in complements or not power.is_Integer:
                bottom.append(base**-power)
            else:
                bottom.extend([base] * int(-power))
        dens, bottom = bottom, []
        for base in dens:
            if base not in complements:
                bottom.append(base)
                continue
            k, zs, members, sign = complements[base]
            found = next(((i, j) for i, t in enumerate(top)
                          for j, p in members.items() if t == p), None)
            if found is None:
                bottom.append(base)
                continue
            i, j = found
            top[i] = sign * softmax_ratio(j, k, *zs)
        return sp.Mul(*top) / sp.Mul(*bottom)

    def stable(e: sp.Expr) -> sp.Expr:
        if not _has_division(e):
            return e
        if isinstance(e, sp.Add):
            return sp.Add(*[stable(a) for a in e.args])
        if isinstance(e, sp.Mul):
            args = [stable(a) for a in e.args]
            out = sp.Mul(*args)
            if any(isinstance(a, sp.Add) and _has_division(a) for a in args) \
                    or not _has_division(out):
                return out
            return pair(out)
        return e

    return stable(expr)


def _heaviside(x, at_zero=0.5):
    return np.heaviside(np.asarray(x, dtype=float), float(at_zero))


NUMPY_FUNCTIONS = {
    # SymPy's own NumPy printing rewrites Heaviside as a Piecewise, which folds the leaky_relu
    # inside its argument into nested selects that numpy.select rejects; np.heaviside does not.
    "Heaviside": _heaviside,
    "log_softmax": _log_softmax,
    "log_softmax_complement": _log_softmax_complement,
    "softmax_ratio": _softmax_ratio,
    **ops.namespace("numpy", wrap=_as_float, missing_kernels=True),
    # scipy's fused kernels where installed: several times faster on the numbers and short
    # arrays the scalar evaluator works on
    **ops.namespace("scipy", wrap=_as_float),
}


def _reserved_names() -> frozenset[str]:
    """Every name generated code may read: lambdify's namespaces (numpy, math, SymPy's printer
    output such as ``e`` and ``pi``), builtins, keywords and the engine's own functions."""
    names = set(NUMPY_FUNCTIONS) | set(dir(builtins)) | set(dir(np)) | set(dir(math))
    names |= set(dir(sp)) | set(keyword.kwlist) | set(keyword.softkwlist)
    names |= {"numpy", "np", "math", "mpmath", "sympy", "scipy", "torch", "jax", "jnp", "builtins"}
    # and what export.py's standalone modules define around the lines
    names |= {"Result", "LEAVES", "PARAMETERS", "ctx", "grad_output", "cotangent", "saved",
              "NamedTuple", "typing", "functools", "others", "zs", "top"}
    return frozenset(names)


_RESERVED = _reserved_names()


def subclassed_functions(exprs) -> dict[str, object]:
    """Numpy implementations for a user's subclasses of the engine's activations (a sigmoid
    with its own derivative, say): the value is the parent's, whatever the derivative says."""
    out: dict[str, object] = {}
    for e in exprs:
        for f in e.atoms(sp.Function):
            cls = type(f)
            op = ops.op_of(cls)
            if cls.__name__ not in NUMPY_FUNCTIONS and op is not None and op.name in NUMPY_FUNCTIONS:
                out[cls.__name__] = NUMPY_FUNCTIONS[op.name]
    return out


def identifiers(symbols: Sequence[sp.Symbol]) -> dict[sp.Symbol, sp.Symbol]:
    """Readable, unique Python identifiers for symbols whose names may hold ^ ( ) [ ] , .

    A user's name never becomes a name the generated code reads (``exp``, ``e``, ``sign``,
    ``np``...), nor another symbol's identifier (a node named ``dL_dw`` and the gradient of
    ``w``): it gets a suffix. Names that start with ``_`` are lambdify's own, so never used.

    >>> identifiers([sp.Symbol("e"), sp.Symbol("exp_"), sp.Symbol("x^(1)")])
    {e: e_1, exp_: exp_1, x^(1): x_1}
    """
    taken: set[str] = set()
    out = {}
    for s in symbols:
        base = re.sub(r"[^0-9A-Za-z_]+", "_", s.name).strip("_") or "v"
        if base[0].isdigit():
            base = "v_" + base
        name, k = base, 0
        while name in taken or name in _RESERVED or not name.isidentifier():
            k += 1
            name = f"{base}_{k}"
        taken.add(name)
        out[s] = sp.Symbol(name, real=True)
    return out


class _EngineSymbol(sp.Symbol):
    """A name the engine makes (dL_dw): its own class, never equal to a user's symbol."""


def compile_numeric(args: Sequence[sp.Symbol], exprs: Sequence[sp.Expr]):
    """One numpy function of ``args`` returning every expression of ``exprs``, compiled once.

    Every symbol is renamed to a collision-free identifier first, so any user name is safe.

    >>> x, e = sp.symbols("x e")
    >>> f = compile_numeric([x, e], [sp.E * e * x, sp.sign(e)])
    >>> [float(v) for v in f(np.float64(1.0), np.float64(2.0))]
    [5.43656365691809, 1.0]
    """
    exprs = list(exprs)
    symbols = set(args).union(*(e.free_symbols for e in exprs))
    ident = identifiers(sorted(symbols, key=sp.default_sort_key))
    modules = [subclassed_functions(exprs), NUMPY_FUNCTIONS, "numpy"]
    return sp.lambdify([ident[a] for a in args], [e.xreplace(ident) for e in exprs],
                       modules=modules, cse=True, docstring_limit=0)


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

    def _repr_markdown_(self) -> str:
        return evaluation_markdown(self)


@dataclass(frozen=True)
class _Code:
    """The evaluator's lines in collision-free identifiers: (identifier, expression) pairs."""

    args: list[sp.Symbol]
    forward: list[tuple[sp.Symbol, sp.Expr]]
    backward: list[tuple[sp.Symbol, sp.Expr]]
    gradients: list[tuple[sp.Symbol, sp.Expr]]
    loss: sp.Symbol


#: numpy's float64 as a function of the generated code (the "numpy" module provides it).
_FLOAT64 = sp.Function("float64")


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
        self._grad_symbols = {p: _EngineSymbol(f"dL_d{p.name}", real=True) for p in g.parameters}
        all_symbols = [
            *self.leaves,
            *g.nodes,
            *(derivation.delta_symbols[v] for v in backward_nodes),
            *self._grad_symbols.values(),
        ]
        ident = identifiers(all_symbols)
        self._divides: set[sp.Symbol] = set()  # nodes whose δ code divides (_delta_for_code)
        forward = [(ident[v], (stable_loss(g, g.expr(v)) if v == g.loss_symbol else g.expr(v))
                    .xreplace(ident)) for v in g.nodes]
        backward = [
            (ident[derivation.delta_symbols[v]], self._delta_for_code(v).xreplace(ident))
            for v in backward_nodes
        ]
        grads = [
            (ident[self._grad_symbols[p]],
             (self._delta_for_code(p) if p in derivation.deltas else sp.S.Zero).xreplace(ident))
            for p in g.parameters
        ]
        args = [ident[s] for s in self.leaves]
        self._node_names = [v.name for v in g.nodes]
        self._delta_names = [v.name for v in backward_nodes]
        self._param_names = [p.name for p in g.parameters]
        outputs = [a for a, _ in forward] + [a for a, _ in backward] + [a for a, _ in grads]
        steps = forward + backward + grads
        # What export.py prints into standalone modules: the same lines, other printers.
        self.code = _Code(args, forward, backward, grads, ident[g.loss_symbol])
        modules = [subclassed_functions(e for _, e in steps), NUMPY_FUNCTIONS, "numpy"]
        # A line that is a bare number would be a Python int or float in the generated code,
        # and 1/a would then raise ZeroDivisionError instead of giving inf as numpy does.
        steps = [(a, _FLOAT64(e) if e.is_Number else e) for a, e in steps]
        forward = [(a, _FLOAT64(e) if e.is_Number else e) for a, e in forward]
        self._full = sp.lambdify(
            args, outputs, modules=modules, cse=lambda _exprs: (steps, outputs),
            docstring_limit=0,
        )
        # The forward pass alone is compiled when loss() first needs it: printing the lines a
        # second time was a third of building a long RNN's evaluator, which notes never use.
        self._forward_parts = (args, ident[g.loss_symbol], modules, forward)
        self._forward_fn = None

    def _delta_for_code(self, v: sp.Symbol) -> sp.Expr:
        # For a node's δ line and a parameter's gradient line alike (σ(w·x) divides in w's).
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
        exact = _stable_ratios(self.graph, d.exact_value(v))
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

    def _forward(self, *args):
        if self._forward_fn is None:
            leaves, loss, modules, forward = self._forward_parts
            self._forward_fn = sp.lambdify(leaves, loss, modules=modules,
                                           cse=lambda _exprs: (forward, loss), docstring_limit=0)
        return self._forward_fn(*args)


def _has_division(expr: sp.Expr) -> bool:
    return any(
        isinstance(p, sp.Pow) and p.exp.is_negative and not p.base.is_number
        for p in sp.preorder_traversal(expr)
    )


def number(expr: sp.Expr, known: Mapping[sp.Symbol, float]) -> float:
    """``expr`` at ``known`` (symbol -> number), compiled once per distinct expression.

    Arithmetic is numpy's: 1/0 is inf, never ZeroDivisionError.
    """
    expr = expr if isinstance(expr, sp.Basic) else sp.Float(expr)
    symbols = tuple(sorted(expr.free_symbols, key=sp.default_sort_key))
    f = _compiled(expr, symbols)
    with np.errstate(all="ignore"):
        return float(f(*(np.float64(known[s]) for s in symbols))[0])


@functools.lru_cache(maxsize=4096)
def _compiled(expr: sp.Expr, symbols: tuple[sp.Symbol, ...]):
    return compile_numeric(symbols, [expr])

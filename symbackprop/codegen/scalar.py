"""Numbers from a derivation: the lambdified evaluator (its stable forms are in stable.py).

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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import sympy as sp

from ..core import functions, ops
from ..core.graph import product
from ..core.polys import polys_can_take
from ..printing.display import evaluation_markdown, tex_names
from .heap import keep_freed_arrays
from .rows import Arguments, Results, as_float_or_array, places
from .stable import (
    NUMPY_HELPERS,
    has_division,
    masked_steps,
    stable_forward,
    stable_local,
    stable_ratios,
)
from .stacked import StackedProgram, StackLine, stack_lines

if TYPE_CHECKING:  # the evaluator reads a derivation; the derivation builds it
    from ..derivation.reverse import Derivation

__all__ = [
    "Evaluator",
    "Evaluation",
    "NUMPY_FUNCTIONS",
    "calls_as_floats",
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


def calls_as_floats(expr: sp.Expr) -> sp.Expr:
    """``expr`` with each function of numbers alone as its float: log(10**30) would call
    numpy.log on a Python int past int64, which numpy holds as an object and cannot log.

    >>> calls_as_floats(sp.log(10**30) + sp.Symbol("x")).atoms(sp.log)
    set()
    """
    calls = [f for f in expr.atoms(sp.Function) if f.is_number and f.is_real]
    return expr.xreplace({f: f.evalf(17) for f in calls}) if calls else expr


def _heaviside(x, at_zero=0.5):
    return np.heaviside(np.asarray(x, dtype=float), float(at_zero))


#: from this many elements on (a stacked group's rows), numpy's in-place kernels beat scipy's
LARGE_ARRAY = 4096


def _by_size(small, large):
    """``small`` on numbers and short arrays, ``large`` on long ones."""
    @functools.wraps(small)
    def kernel(*args):
        return large(*args) if getattr(args[0], "size", 1) >= LARGE_ARRAY else small(*args)
    return kernel


_NUMPY_KERNELS = ops.namespace("numpy")
NUMPY_FUNCTIONS = {
    # SymPy's own NumPy printing rewrites Heaviside as a Piecewise, which folds the leaky_relu
    # inside its argument into nested selects that numpy.select rejects; np.heaviside does not.
    "Heaviside": _heaviside,
    **NUMPY_HELPERS,
    **ops.namespace("numpy", wrap=_as_float, missing_kernels=True),
    # scipy's fused kernels where installed: several times faster on the numbers and short
    # arrays the scalar evaluator works on; on a stacked group's long arrays numpy's in-place
    # kernel is (expit 1.5 ms, numpy's sigmoid 0.6 ms on 64 × 4096)
    **{name: _as_float(_by_size(kernel, _NUMPY_KERNELS[name]) if name in _NUMPY_KERNELS
                       else kernel)
       for name, kernel in ops.namespace("scipy").items()},
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
    return sp.lambdify([ident[a] for a in args],
                       [calls_as_floats(e).xreplace(ident) for e in exprs],
                       modules=modules, cse=True, docstring_limit=0)


@dataclass(frozen=True)
class Evaluation:
    """Numbers at one point: every node (loss included), every δ and every gradient."""

    nodes: dict[str, float | np.ndarray]
    gradients: dict[str, float | np.ndarray]
    deltas: dict[str, float | np.ndarray]
    loss: float | np.ndarray
    #: name -> LaTeX as the documents spell it, for the tables Jupyter shows
    names: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

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
        keep_freed_arrays()  # a batch's arrays stay in the heap for the next call (heap.py)
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
        self._logit_deltas: dict[sp.Symbol, sp.Expr | None] = {}  # δ_a·a(1 − a) of a sigmoid a
        self._node_of_delta = {s: n for n, s in derivation.delta_symbols.items()}
        forward = [(ident[v], e.xreplace(ident)) for v, e in stable_forward(g)]
        backward = [
            (ident[derivation.delta_symbols[v]],
             masked_steps(self._delta_for_code(v)).xreplace(ident))
            for v in backward_nodes
        ]
        grads = [
            (ident[self._grad_symbols[p]],
             masked_steps(self._delta_for_code(p) if p in derivation.deltas else sp.S.Zero
                          ).xreplace(ident))
            for p in g.parameters
        ]
        args = [ident[s] for s in self.leaves]
        self._node_names = [v.name for v in g.nodes]
        self._delta_names = [v.name for v in backward_nodes]
        self._param_names = [p.name for p in g.parameters]
        steps = forward + backward + grads
        # What export.py prints into standalone modules: the same lines, other printers.
        self.code = _Code(args, forward, backward, grads, ident[g.loss_symbol])
        modules = [subclassed_functions(e for _, e in steps), NUMPY_FUNCTIONS, "numpy"]
        # A line that is a bare number would be a Python int or float in the generated code,
        # and 1/a would then raise ZeroDivisionError instead of giving inf as numpy does.
        steps = [(a, _FLOAT64(e) if e.is_Number else calls_as_floats(e)) for a, e in steps]
        forward = [(a, _FLOAT64(e) if e.is_Number else calls_as_floats(e)) for a, e in forward]
        # Each row of a stacked group is ordered by its node's (or parameter's) place in the
        # graph, so that a group reads the previous group's rows in the order they were made.
        rank = {ident[v]: k for k, v in enumerate(g.nodes)}
        rank.update({ident[derivation.delta_symbols[v]]: rank[ident[v]] for v in backward_nodes})
        rank.update({ident[self._grad_symbols[p]]: k for k, p in enumerate(g.parameters)})
        n_grads = len(grads)
        self._lines = [StackLine(a, e, rank[a], gradient=k >= len(steps) - n_grads)
                       for k, (a, e) in enumerate(steps)]
        self._stack_parts = (args, modules)
        self._program = stack_lines(args, self._lines, modules)
        self._mean_program: StackedProgram | None = None
        targets = {"nodes": [ident[v] for v in g.nodes],
                   "deltas": [ident[derivation.delta_symbols[v]] for v in backward_nodes],
                   "gradients": [ident[self._grad_symbols[p]] for p in g.parameters]}
        self._targets = targets
        self._place_cache: dict[int, tuple] = {}
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
        # the δs this line reads, through the symbols it holds (a scan of every δ per line was
        # quadratic in the graph)
        node_of = self._node_of_delta
        uses = {node_of[s] for s in recursion.free_symbols if s in node_of}
        if not has_division(recursion) and not uses & divides:
            return self._with_primes(v, recursion)
        # first the local rewrite; exact_value only where it leaves a division
        folded = self._fold_sigmoids(recursion, uses & divides)
        if not any(d.delta_symbols[n] in folded.free_symbols for n in uses & divides) \
                and not has_division(folded):
            return folded
        exact = stable_ratios(self.graph, d.exact_value(v))
        if not has_division(exact):
            return exact
        if has_division(recursion):
            divides.add(v)
        return recursion

    def _with_primes(self, v: sp.Symbol, recursion: sp.Expr) -> sp.Expr:
        # Each term δ_c·∂c/∂v where c applies an activation with a ``prime`` gets that prime
        # in place of the textbook derivative, which is written in the activation's value and
        # rounds away: SiLU′ = a + σ(1 − a) is 0 at z = 1e17, σ(1 − σ) is 0 at z = 40. Only
        # where the line does not divide: there the textbook form is what cancels the division
        # (δ_a·a(1 − a) with δ_a = (a − y)/(a(1 − a))).
        users = self._prime_users.get(v)
        if not users:
            return recursion
        d, loss = self.derivation, self.graph.loss_symbol
        old, new = [], []
        for c in users:
            stable = stable_local(self.graph.expr(c), v)
            if has_division(stable):  # σ′(z)/σ(z) of a log σ, which the textbook cancels to 1 − σ
                continue
            ref = sp.S.One if c == loss else d.delta_symbols[c]
            old.append(-product(ref, d.local(c, v)))
            new.append(product(ref, stable))
        # the recursion is Σ_c δ_c·∂c/∂v, term by term as the derivation made it: each such
        # term cancels exactly against its negation
        return sp.Add(recursion, *old, *new)

    @functools.cached_property
    def _tex_names(self) -> dict[str, str]:
        return tex_names(self.graph)

    @functools.cached_property
    def _prime_users(self) -> dict[sp.Symbol, list[sp.Symbol]]:
        """symbol -> the nodes whose expressions apply an activation with a prime to it."""
        users: dict[sp.Symbol, list[sp.Symbol]] = {}
        for c in self.graph.nodes:
            if c not in self.derivation.deltas:
                continue
            for f in self.graph.expr(c).atoms(sp.Function):
                op = ops.op_of(type(f), subclasses=False)
                if op is not None and op.prime is not None:
                    for v in f.free_symbols:
                        if c not in users.setdefault(v, []):
                            users[v].append(c)
        return users

    def _fold_sigmoids(self, recursion: sp.Expr, dividing: set[sp.Symbol]) -> sp.Expr:
        # Each consumer of a sigmoid a = σ(z) reads δ_a·a(1 − a): written as δ_z/(a(1 − a)),
        # with δ_z = δ_a·a(1 − a) cancelled once (ŷ − y for bce), SymPy's own Mul drops the
        # a(1 − a), so 0·inf never happens at saturation. Local to the line, unlike exact_value,
        # which writes out everything after the node (minutes through a batch norm).
        logits = self._logit_deltas
        swap = {}
        for n in dividing:
            if n not in logits:
                e = self.graph.expr(n)
                z = (sp.cancel(self.derivation.deltas[n] * n * (1 - n))
                     if isinstance(e, functions.sigmoid)
                     and polys_can_take(self.derivation.deltas[n]) else None)
                logits[n] = z if z is not None and not has_division(z) else None
            if logits[n] is not None:
                swap[self.derivation.delta_symbols[n]] = logits[n] / (n * (1 - n))
        return recursion.xreplace(swap) if swap else recursion

    @property
    def source(self) -> str:
        """The generated Python source of the forward + backward evaluator: a line per node, δ
        and gradient, where wide layers' isomorphic lines are evaluated as stacked groups."""
        return inspect.getsource(self._program.function)

    @property
    def groups(self) -> int:
        """How many stacked groups the generated code evaluates (0: every line alone)."""
        return self._program.groups

    @functools.cached_property
    def _args(self) -> Arguments:
        return Arguments(self.graph, self.leaves)

    def evaluate(self, values: Mapping, *, batch_mean: bool = False) -> Evaluation:
        """Forward and backward pass at ``values`` (name -> float or array, broadcast).

        ``batch_mean=True``: ``gradients`` and ``loss`` are each a float, the mean over the
        batch (every axis of the broadcast values): the gradients of the mean loss, as a
        training step uses them, without making the per-sample gradient arrays. Nodes and δs
        stay per sample.

        >>> import symbackprop as sb, numpy as np
        >>> d = sb.derive(sb.mlp([1, 1]))
        >>> ev = d.evaluator.evaluate(dict(x1=np.array([1.0, 2.0]), w1=0.5, y=1.0),
        ...                           batch_mean=True)
        >>> round(ev.gradients["w1"], 6) == round(float(np.mean(
        ...     d.evaluate(dict(x1=np.array([1.0, 2.0]), w1=0.5, y=1.0)).gradients["w1"])), 6)
        True
        """
        args, shape = self._args.with_shape(values)
        program = self._program
        if batch_mean:
            if self._mean_program is None:
                args_, modules = self._stack_parts
                self._mean_program = stack_lines(args_, self._lines, modules, mean=True)
            program = self._mean_program
        with np.errstate(all="ignore"):
            out = program.function(*args, len(shape))
        places, gradients = self._places(program)
        found = Results(program, out, shape, batch_mean, gradients)
        nodes = dict(zip(self._node_names, found.values(places["nodes"]), strict=True))
        deltas = dict(zip(self._delta_names, found.values(places["deltas"]), strict=True))
        grads = dict(zip(self._param_names, found.values(places["gradients"]), strict=True))
        loss = nodes[self.graph.loss_symbol.name]
        if batch_mean:
            loss = float(np.mean(loss))
        return Evaluation(nodes, grads, deltas, loss, self._tex_names)

    def _places(self, program: StackedProgram) -> tuple[dict[str, list[int]], frozenset]:
        found = self._place_cache.get(id(program))
        if found is None:
            where = {kind: places(program, targets) for kind, targets in self._targets.items()}
            gradients = frozenset(program.where[t][0] for t in self._targets["gradients"])
            found = self._place_cache[id(program)] = (where, gradients)
        return found

    def loss(self, values: Mapping) -> float | np.ndarray:
        """The loss alone (the forward pass)."""
        args = self._args(values)
        shape = np.broadcast_shapes(*(np.shape(a) for a in args))
        with np.errstate(all="ignore"):
            return as_float_or_array(self._forward(*args), shape)

    def _forward(self, *args):
        if self._forward_fn is None:
            leaves, loss, modules, forward = self._forward_parts
            self._forward_fn = sp.lambdify(leaves, loss, modules=modules,
                                           cse=lambda _exprs: (forward, loss), docstring_limit=0)
        return self._forward_fn(*args)


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

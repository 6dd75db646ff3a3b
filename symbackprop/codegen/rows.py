"""The arrays a stacked group of the scalar evaluator runs on, and its results by line.

Generated code (stacked.py) calls these by the names in :data:`STACK_FUNCTIONS`. Every block is
(rows, *batch): a group's rows first, then the batch's axes, so that rows of any group broadcast
against each other and against a line's own value.

>>> rows(1, 1.0, 2.0).shape, rows(1, np.zeros(3), 1.0).shape
((2, 1), (2, 3))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # results are read from a program stacked.py makes
    from .stacked import StackedProgram

__all__ = ["STACK_FUNCTIONS", "Arguments", "LinearPlan", "ProductPlan", "Results",
           "as_float_or_array", "leaf_value", "linear", "mean_products", "padded", "places",
           "products", "row_means", "rows"]


def rows(nd, *values):
    """values stacked as rows, each padded to the batch's nd axes (a number: (1, …, 1))."""
    try:
        out = np.array(values, dtype=float)
    except ValueError:  # ragged: rows of several shapes broadcast to one
        arrays = [np.asarray(v, dtype=float) for v in values]
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        out = np.empty((len(arrays), *shape))
        for k, a in enumerate(arrays):
            out[k] = a
    return padded(out, nd)


def padded(block, nd):
    missing = nd - (block.ndim - 1)
    return block.reshape(block.shape[:1] + (1,) * missing + block.shape[1:]) if missing > 0 \
        else block


@dataclass
class LinearPlan:
    """Where each coefficient and constant of a group of weighted sums goes."""

    rows: int
    operands: int
    coef_rows: np.ndarray
    coef_cols: np.ndarray
    coef_mult: np.ndarray
    const_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    const_mult: np.ndarray = field(default_factory=lambda: np.zeros(0))


def linear(nd, plan, operands, *values):
    """Row j: Σ_k C[j, k]·operand_k + its constants; C from the coefficients' values."""
    n = len(plan.coef_rows)
    coefs, consts = values[:n], values[n:]
    V = padded(np.asarray(operands, dtype=float), nd)
    try:
        c = np.array(coefs, dtype=float)
    except ValueError:
        c = None
    if c is not None and c.ndim == 1:  # numbers: one matrix product
        C = np.zeros((plan.rows, plan.operands))
        C[plan.coef_rows, plan.coef_cols] = plan.coef_mult * c
        out = (C @ V.reshape(plan.operands, -1)).reshape((plan.rows, *V.shape[1:]))
    else:  # coefficients that are arrays themselves: multiplied out, summed over k
        cs = rows(nd, *coefs)
        C = np.zeros((plan.rows, plan.operands, *cs.shape[1:]))
        C[plan.coef_rows, plan.coef_cols] = plan.coef_mult.reshape((-1,) + (1,) * nd) * cs
        out = (C * V[None]).sum(axis=1)
    if consts:
        K = rows(nd, *consts)
        S = np.zeros((plan.rows, len(consts)))
        S[plan.const_rows, np.arange(len(consts))] = plan.const_mult
        add = (S @ K.reshape(len(consts), -1)).reshape((plan.rows, *K.shape[1:]))
        if np.broadcast_shapes(out.shape, add.shape) == out.shape:
            out += add  # in place: a fresh array of a wide layer's size costs its page faults
        else:
            out = out + add
    return out


@dataclass
class ProductPlan:
    """Row r is mult·A[ia[r]]·B[ib[r]]; ``grid``: the rows are every (b, a) pair, b major."""

    ia: np.ndarray
    ib: np.ndarray
    mult: float
    grid: bool


def products(plan, A, B):
    """Per sample: every row's product, as one block: the outer product itself where the rows
    are every (b, a) pair, b major (a layer's ∂L/∂w_ij = δ_j·a_i, source-major)."""
    A, B = np.asarray(A, dtype=float), np.asarray(B, dtype=float)
    if plan.grid:
        out = np.multiply(B[:, None], A[None, :])
        out = out.reshape((out.shape[0] * out.shape[1], *out.shape[2:]))
    else:
        out = A[plan.ia] * B[plan.ib]
    if plan.mult != 1:
        out *= plan.mult
    return out


def mean_products(plan, A, B):
    """Batch means of every row's product: one matrix product of the distinct rows."""
    A, B = np.asarray(A, dtype=float), np.asarray(B, dtype=float)
    shape = np.broadcast_shapes(A.shape[1:], B.shape[1:])
    A = np.broadcast_to(A, A.shape[:1] + shape).reshape(A.shape[0], -1)
    B = np.broadcast_to(B, B.shape[:1] + shape).reshape(B.shape[0], -1)
    M = A @ B.T
    return plan.mult * M[plan.ia, plan.ib] / max(A.shape[1], 1)


def row_means(block):
    """Each row's mean over the batch (a broadcast axis averages to the same number)."""
    block = np.asarray(block, dtype=float)
    return block.reshape(block.shape[0], -1).mean(axis=1)


#: the helpers by the names generated code calls (a user's identifiers never start with _)
STACK_FUNCTIONS = {"_rows": rows, "_linear": linear, "_products": products,
                   "_mean_products": mean_products, "_row_means": row_means}


def as_float_or_array(x, shape: tuple) -> float | np.ndarray:
    """x as float64 of ``shape`` (a number: a float), broadcast and copied where it is smaller."""
    arr = np.asarray(x, dtype=float)
    if arr.shape != shape:
        arr = np.broadcast_to(arr, shape).copy()
    return float(arr) if arr.ndim == 0 else arr


class Results:
    """The generated function's results by target: a line's value, or its group's row, all
    in one flat list whose places are fixed when the code is made."""

    def __init__(self, program: StackedProgram, out: list, shape: tuple, mean: bool,
                 gradients: frozenset) -> None:
        flat: list = []
        for k, v in enumerate(out):
            if program.sizes[k] is not None:
                flat.extend(_rows_of(v, shape, mean and k in gradients))
            elif mean and k in gradients:
                flat.append(float(np.mean(v)))
            else:
                flat.append(as_float_or_array(v, shape))
        self.flat = flat

    def values(self, places: list[int]) -> list:
        flat = self.flat
        return [flat[i] for i in places] if len(places) < 2 else itemgetter(*places)(flat)


def places(program: StackedProgram, targets: list) -> list[int]:
    """Each target's place in the flat list of :class:`Results`."""
    base, at = [], 0
    for size in program.sizes:
        base.append(at)
        at += 1 if size is None else size
    return [base[k] + (r or 0) for k, r in (program.where[t] for t in targets)]


def _rows_of(block, shape: tuple, mean: bool) -> list:
    block = np.asarray(block, dtype=float)
    if mean and block.ndim == 1:  # a gradient group's batch means
        return block.tolist()
    full = (block.shape[0], *shape)
    if block.shape != full:
        block = np.broadcast_to(block.reshape(block.shape[:1] + (1,) * (
            len(full) - block.ndim) + block.shape[1:]), full)
        if not mean:
            block = block.copy()
    if mean:
        return block.reshape(full[0], -1).mean(axis=1).tolist()
    return block.tolist() if block.ndim == 1 else list(block)


class Arguments:
    """The leaves' values by name as the generated function's arguments: numbers as numpy
    float64, arrays as float64 arrays; every leaf once, and nothing else.

    The usual call (every leaf by its name, numbers or arrays) is one pass: a net of 8 385
    parameters spent more in checking its values one by one than in its arithmetic.
    """

    def __init__(self, graph, leaves: list) -> None:
        self.graph, self.leaves = graph, leaves
        self._positions = {s.name: k for k, s in enumerate(leaves)}
        self._names = [s.name for s in leaves]
        self._arrays_at: list[int] = []

    def with_shape(self, values: Mapping) -> tuple[list, tuple]:
        """The arguments and the batch's shape (the arrays' broadcast shapes)."""
        args = self(values)
        at = self._arrays_at
        if len(at) == sum(1 for k in at if type(args[k]) is np.ndarray) and \
                len(at) == list(map(type, args)).count(np.ndarray):
            arrays = {args[k].shape for k in at}
        else:
            arrays = {a.shape for a in args if type(a) is np.ndarray}
        return args, np.broadcast_shapes(*arrays)

    def __call__(self, values: Mapping) -> list:
        position = self._positions
        if len(values) != len(position):
            return self._args_checked(values)
        if list(values) == self._names:  # the leaves' own order: no look-ups
            out = list(values.values())
        else:
            out = [None] * len(position)
            try:
                for key, v in values.items():
                    out[position[key]] = v  # distinct names: every place filled once
            except (KeyError, TypeError):
                return self._args_checked(values)
        types = list(map(type, out))
        if set(types) <= {np.float64, np.ndarray}:  # only the arrays need a look
            at = self._arrays_at  # where they were last time, checked at C speed
            if types.count(np.ndarray) != len(at) or any(types[k] is not np.ndarray
                                                         for k in at):
                at = self._arrays_at = [k for k, t in enumerate(types) if t is np.ndarray]
            for k in at:
                out[k] = np.asarray(out[k], dtype=float)
            return out
        for k, v in enumerate(out):
            t = type(v)
            if t is float:
                out[k] = np.float64(v)
            elif t is np.ndarray:
                out[k] = np.asarray(v, dtype=float)
            elif t is not np.float64:
                out[k] = leaf_value(self.leaves[k], v)
        return out

    def _args_checked(self, values: Mapping) -> list:
        # every fault named: an unknown name, a missing leaf, a node, a value of another type
        known: dict = {}
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
        return [leaf_value(s, known[s]) for s in self.leaves]


def leaf_value(s, v) -> float | np.ndarray:
    """The value v of leaf s as the generated code takes it, or ValueError naming s."""
    if isinstance(v, bool) or not isinstance(v, int | float | np.ndarray | np.number):
        raise ValueError(f"value of {s.name} must be a number or a numpy array, got {v!r}")
    # numpy scalars, so that a division by zero is inf (with numpy's warning), as it is
    # for arrays, rather than Python's ZeroDivisionError
    return np.asarray(v, dtype=float) if isinstance(v, np.ndarray) else np.float64(v)

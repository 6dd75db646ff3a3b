"""Code from the matrix equations: a batched evaluator of the loss and every gradient.

The backward pass it runs is the matrix form's own equations (see :mod:`symbackprop.forms.matrix`),
printed by :class:`MatrixCodePrinter` into a few array operations per layer. A backend is a
namespace of array functions (numpy always; torch, jax, cupy where installed), so one printer
serves every array library.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import sympy as sp

from ..printing.display import batch_evaluator_markdown
from .backends import BACKENDS  # the array libraries, importable from here as before
from .export_matrix import matrix_module
from .guard import assert_engine_made
from .matrix_code import MatrixCodePrinter, generate
from .matrix_numpy import NUMPY_HELPERS

if TYPE_CHECKING:
    from ..forms.matrix import MatrixForm

__all__ = ["BatchEvaluator", "BatchResult", "MatrixCodePrinter", "BACKENDS", "Workspace"]


# -- the batched evaluator -------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchResult:
    """The loss of a batch and the gradients of every weight matrix and bias, layer 1 first."""

    loss: float
    weight_gradients: list
    bias_gradients: list | None
    gradients: dict[str, float] | None = None  # by parameter name, from evaluate()


class Workspace:
    """The arrays the numpy gradients write each Z, A and δ into, kept from one call to the next
    of one thread (one batch's worth: a new shape or dtype replaces them). Only the evaluator's
    own intermediates live here; the loss and gradients it returns are new arrays every call.
    Fresh arrays of that size cost page faults the kernel zeroes: 3,072 per call, the larger
    part of the time, at 64-64-64-1, batch 4096, float64.

    >>> work = Workspace()
    >>> work("Z1", (2, 3), np.float32) is work("Z1", (2, 3), np.float32)
    True
    """

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def __call__(self, name: str, shape: tuple, dtype) -> np.ndarray:
        array = self.arrays.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = self.arrays[name] = np.empty(shape, dtype)
        return array


class BatchEvaluator:
    """Loss and gradients of a whole batch, from code generated out of the matrix equations.

    ``f(X, Y, weights, biases)`` takes X of shape (n_0, m), Y of shape (n_L, m), the weight
    matrices (n_l, n_{l−1}) and the biases (n_l,) (scalars for a shared bias, None without
    biases). ``source`` is the generated code: a few array operations per layer, no loop over
    weights. ``backend`` is ``"auto"`` (the code of the arrays' own library: numpy's for numpy
    arrays, torch's for tensors, …), ``"numpy"`` or, where installed, ``"torch"``, ``"jax"``,
    ``"cupy"``. The arithmetic is in the arrays' dtype: float32 arrays give float32 gradients.

    >>> import numpy as np
    >>> import symbackprop as sb
    >>> f = sb.matrix_form([2, 2, 1]).evaluator()
    >>> X, Y = np.array([[0.5], [0.3]]), np.array([[1.0]])
    >>> W = [np.array([[0.7, 0.4], [0.3, 0.6]]), np.array([[0.55, 0.45]])]
    >>> round(float(f(X, Y, W).weight_gradients[1][0, 0]), 4)  # seed 000's ∂L/∂w5
    -0.0998
    """

    def __init__(self, form: MatrixForm, backend: str = "auto") -> None:
        if backend not in BACKENDS and backend != "auto":
            raise ValueError(f"unknown backend {backend!r}; expected auto or one of: "
                             f"{', '.join(BACKENDS)}")
        self.form = form
        self.backend = backend
        self._compiled: dict[str, tuple] = {}
        self._workspaces = threading.local()  # each thread its own: calls never share arrays
        # auto: numpy's code now (the fastest on numpy arrays at every batch size measured, see
        # bench/results.md), another library's on the first call with its arrays, so tensors
        # are never copied to numpy and back.
        first = "numpy" if backend == "auto" else backend
        self._gradients, self._forward, self._loss = self._compile(first)
        self.source = self._compiled[first][3]

    def _compile(self, backend: str) -> tuple:
        if backend not in self._compiled:
            try:
                namespace = BACKENDS[backend]()
            except ImportError as err:
                raise ImportError(f"the {backend} backend needs {err.name}, which is not "
                                  "installed") from None
            source = generate(self.form, backend)
            scope: dict[str, object] = dict(namespace)
            if backend == "numpy":  # the numpy gradients' fused sigmoid and gemv sums
                scope.update(NUMPY_HELPERS)
            assert_engine_made(source, {"def", "return", "None", "if", "else", "forward", "loss",
                                        "gradients", "work", "out", "dtype", *scope},
                               _GENERATED_NAME)
            # The source is printed from the engine's own equations: fixed names (W1, delta1,
            # …), numbers and the namespace's functions, which assert_engine_made confirmed.
            exec(compile(source, "<symbackprop matrix form>", "exec"), scope)
            self._compiled[backend] = (scope["gradients"], scope["forward"], scope["loss"], source)
        return self._compiled[backend][:3]

    def _functions(self, X) -> tuple:
        """(gradients, forward, loss) for X's array library: under auto, torch tensors run the
        torch code, jax arrays the jax code, cupy arrays the cupy code, anything else numpy's."""
        if self.backend != "auto":
            return self._gradients, self._forward, self._loss
        library = type(X).__module__.partition(".")[0]
        if library in ("torch", "jax", "jaxlib", "cupy"):
            return self._compile("jax" if library == "jaxlib" else library)
        return self._gradients, self._forward, self._loss

    def _arguments(self, X, Y, weights, biases) -> list:
        form = self.form
        if len(weights) != form.depth:
            raise ValueError(f"expected {form.depth} weight matrices, got {len(weights)}")
        args = [X] + ([Y] if Y is not None else []) + list(weights)
        if form.bias_mode:
            if biases is None or len(biases) != form.depth:
                raise ValueError(f"expected {form.depth} biases")
            if form.bias_mode == "shared":
                args += list(biases)
            else:
                args += [b.reshape(-1, 1) for b in biases]
        return args

    def __call__(self, X, Y, weights: Sequence, biases: Sequence | None = None) -> BatchResult:
        gradients = self._functions(X)[0]
        extra = {}
        if gradients is self._compiled.get("numpy", (None,))[0]:
            extra["work"] = self._workspace()
        with np.errstate(over="ignore"):  # e^−z of the sigmoid at z < −709: inf, and σ = 1/inf = 0
            loss, dW, db = gradients(*self._arguments(X, Y, weights, biases), **extra)
        if db is not None:  # back to the shapes the biases came in: (n_l,), or a scalar
            db = [g.sum() if self.form.bias_mode == "shared" else g.reshape(-1) for g in db]
        return BatchResult(loss, list(dW), None if db is None else list(db))

    def _workspace(self) -> Workspace:
        work = getattr(self._workspaces, "work", None)
        if work is None:
            work = self._workspaces.work = Workspace()
        return work

    def _repr_markdown_(self) -> str:
        return batch_evaluator_markdown(self)

    def forward(self, X, weights: Sequence, biases: Sequence | None = None):
        """The output activations A^[L], shape (n_L, m)."""
        with np.errstate(over="ignore"):
            return self._functions(X)[1](*self._arguments(X, None, weights, biases))

    def loss(self, X, Y, weights: Sequence, biases: Sequence | None = None) -> float:
        """The batch loss only (the forward pass)."""
        with np.errstate(over="ignore"):
            return self._functions(X)[2](*self._arguments(X, Y, weights, biases))

    def evaluate(self, values: Mapping[str, object]) -> BatchResult:
        """The same, from a table of the network's own names: an array of m samples per input
        and target, a number per parameter. ``gradients`` maps each parameter's name to its
        gradient over the batch.

        >>> import symbackprop as sb
        >>> net = sb.mlp([2, 2, 1])
        >>> f = sb.matrix_form(net).evaluator()
        >>> v = dict(x1=[0.5, 0.1], x2=[0.3, 0.2], y=[1.0, 0.0],
        ...          w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)
        >>> sorted(f.evaluate(v).gradients) == sorted(p.name for p in net.parameters)
        True
        """
        net = self.form.network
        if net is None:
            raise ValueError("evaluate() needs the form of a network: matrix_form(net)")
        missing = [s.name for s in net.leaves if s.name not in values]
        if missing:
            raise ValueError(f"no value for: {', '.join(missing)}")
        rows = [np.atleast_1d(np.asarray(values[s.name], dtype=float))
                for s in [*net.inputs, *net.targets]]
        m = max(len(r) for r in rows)
        rows = [np.broadcast_to(r, (m,)) for r in rows]
        X, Y = np.array(rows[: len(net.inputs)]), np.array(rows[len(net.inputs):])
        depth, sizes = net.depth, net.sizes

        def number(s: sp.Symbol) -> float:
            return float(values[s.name])

        W = [np.array([[number(net.weight(l, i, j)) for i in range(1, sizes[l - 1] + 1)]
                       for j in range(1, sizes[l] + 1)]) for l in range(1, depth + 1)]
        B = None
        if net.bias_mode == "shared":
            B = [number(net.bias(l, 1)) for l in range(1, depth + 1)]
        elif net.bias_mode:
            B = [np.array([number(net.bias(l, j)) for j in range(1, sizes[l] + 1)])
                 for l in range(1, depth + 1)]
        out = self(X, Y, W, B)
        gradients: dict[str, float] = {}
        for l in range(1, depth + 1):
            for i in range(1, sizes[l - 1] + 1):
                for j in range(1, sizes[l] + 1):
                    gradients[net.weight(l, i, j).name] = float(out.weight_gradients[l - 1][j - 1, i - 1])
            if net.bias_mode == "shared":
                gradients[net.bias(l, 1).name] = float(out.bias_gradients[l - 1])
            elif net.bias_mode:
                for j in range(1, sizes[l] + 1):
                    gradients[net.bias(l, j).name] = float(out.bias_gradients[l - 1][j - 1])
        return BatchResult(out.loss, out.weight_gradients, out.bias_gradients, gradients)

    def save(self, path) -> None:
        """Write a standalone numpy module (see export.matrix_module): it imports only numpy,
        checks every shape, and its ``loss_and_gradients(X, Y, weights, biases)`` returns a
        NamedTuple of the loss and the gradients."""
        Path(path).write_text(matrix_module(self.form), encoding="utf-8")


_GENERATED_NAME = re.compile(r"(?:[WbZAP]|delta|dW|db|n_)[0-9]+|[XYLm]|float|sum|shape|T|axis|keepdims|True")

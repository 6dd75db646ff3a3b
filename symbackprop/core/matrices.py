"""The matrix form's vocabulary: one entry's stand-in symbols, the column softmax, and the
rules that lift an entry's expression to a whole matrix.

The matrix form (forms/matrix.py) derives with these and the array code that evaluates it
(codegen/matrix_code.py) prints them, so they sit below both.

>>> Y_ENTRY, A_ENTRY
(y, a)
>>> entry_loss("mse")
((-a + y)**2, True)
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from . import functions

__all__ = ["Y_ENTRY", "A_ENTRY", "Z_ENTRY", "X_ENTRY", "ColumnSoftmax", "ColumnLogSoftmax",
           "ColumnLogSoftmaxComplement", "entry_loss", "to_matrix"]

# Scalar stand-ins for one entry: the target y, the activation a and the pre-activation z.
Y_ENTRY, A_ENTRY, Z_ENTRY, X_ENTRY = sp.symbols("y a z x", real=True)


class ColumnSoftmax(sp.MatrixExpr):
    """softmax applied to each column of a matrix (each sample's pre-activations)."""

    def __new__(cls, arg: sp.MatrixExpr):
        return super().__new__(cls, arg)

    @property
    def arg(self) -> sp.MatrixExpr:
        return self.args[0]

    @property
    def shape(self):
        return self.arg.shape

    def _entry(self, i, j, **kwargs):
        rows = int(self.shape[0])
        return functions.softmax(i + 1, *[self.arg[k, j] for k in range(rows)])


class ColumnLogSoftmax(ColumnSoftmax):
    """log softmax of each column, for code that computes a log-probability from its logits."""

    def _entry(self, i, j, **kwargs):
        return sp.log(super()._entry(i, j))


class ColumnLogSoftmaxComplement(ColumnSoftmax):
    """log(1 − softmax) of each column, from the logits: the logsumexp of the other entries
    minus the logsumexp of all, finite where 1 − p rounds to 0 (softmax + bce at saturation)."""

    def _entry(self, i, j, **kwargs):
        return sp.log(1 - super()._entry(i, j))


# -- the scalar facts the matrix rules need, taken from functions.py -----------------------
def entry_loss(name: str) -> tuple[sp.Expr, bool]:
    """One output's loss term e(y, a), and whether the loss is a mean of such terms (else a sum).

    Read off the engine's own definition: compare the loss of two outputs with two single ones.
    """
    loss = functions.LOSSES[name]
    y1, y2, a1, a2 = sp.symbols("y1 y2 a1 a2", real=True)
    one = loss([Y_ENTRY], [A_ENTRY])
    pair = one.xreplace({Y_ENTRY: y1, A_ENTRY: a1}) + one.xreplace({Y_ENTRY: y2, A_ENTRY: a2})
    two = loss([y1, y2], [a1, a2])
    if sp.expand(two - pair) == 0:
        return one, False
    if sp.expand(2 * two - pair) == 0:
        return one, True
    raise ValueError(f"the loss {name!r} is neither a sum nor a mean over outputs")


# -- scalar entry -> matrix expression ---------------------------------------------------------
def to_matrix(expr: sp.Expr, env: Mapping[sp.Symbol, sp.MatrixExpr], shape) -> sp.MatrixExpr:
    """The matrix whose every entry is ``expr`` with y, a, z read as Y, A, Z's entries.

    Products become Hadamard products, powers Hadamard powers, constants multiples of the
    all-ones matrix; numbers and size symbols stay scalar coefficients.
    """
    if not expr.free_symbols & set(env):
        return expr * sp.OneMatrix(*shape)
    if expr in env:
        return env[expr]
    if isinstance(expr, sp.Add):
        return sp.MatAdd(*[to_matrix(t, env, shape) for t in expr.args]).doit()
    if isinstance(expr, sp.Mul):
        scalars = [f for f in expr.args if not f.free_symbols & set(env)]
        matrices = [to_matrix(f, env, shape) for f in expr.args if f.free_symbols & set(env)]
        body = matrices[0] if len(matrices) == 1 else sp.HadamardProduct(*matrices)
        return sp.Mul(*scalars) * body if scalars else body
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer:
        return sp.HadamardPower(to_matrix(expr.base, env, shape), expr.exp)
    if isinstance(expr, sp.Function):
        first, *rest = expr.args
        if not any(r.free_symbols & set(env) for r in rest):
            return ElementwiseApplyFunction(sp.Lambda(X_ENTRY, expr.func(X_ENTRY, *rest)),
                                            to_matrix(first, env, shape))
    raise ValueError(f"no matrix form for the entry {expr}")

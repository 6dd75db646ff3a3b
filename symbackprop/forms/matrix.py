"""The matrix form of an MLP (seed 004), derived for any depth with symbolic layer sizes.

A batch of m samples is a matrix with one column per sample. Layer l has n_l units::

    Z^[l] = W^[l] A^[l−1] + b^[l] 1ᵀ        A^[l] = f_l(Z^[l])        A^[0] = X

The backward pass is reverse mode over those few operations, each with its own rule (the
matrix version of micrograd's ``_backward``): a product W·A sends Wᵀ·G to A and G·Aᵀ to W, an
elementwise f sends G ⊙ f′(Z), a column softmax sends P ⊙ (G − 1 1ᵀ(P ⊙ G)), and the loss
sends its entrywise derivative. f′ comes from the activation's own ``fdiff`` (σ′ = σ(1−σ),
written A ⊙ (1 − A)); the loss and its averaging come from :mod:`symbackprop.core.functions`. So
δ^[L] = Ŷ − Y for softmax + cross-entropy and sigmoid + bce is derived here, not typed.

δ^[l] is the derivative of one sample's loss, column by column, as textbooks write it; the
batch loss averages the samples where the loss is a mean (mse, bce: ∂L/∂W^[l] = (1/m) δ^[l]
A^[l−1]ᵀ) and sums them where it is a sum (sse, half_sse, cross_entropy).

>>> import symbackprop as sb
>>> mf = matrix_form([2, 3, 1], activation="sigmoid", loss="mse", bias=True)
>>> mf.equation("delta", 1).rhs
HadamardProduct(W2.T*delta2, A1, -A1 + 1)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import sympy as sp

from ..builders.mlp import BIAS_MODES, MLP, check_architecture, mlp

# The check report and the LaTeX printer live in their own modules; their names stay importable
# from here, where they were first defined.
from ..check.matrix import MatrixCheck, MatrixCheckError, MatrixCheckRow, check_matrix_form
from ..codegen.matrix import BatchEvaluator
from ..core import functions
from ..core.matrices import (
    A_ENTRY,
    Y_ENTRY,
    Z_ENTRY,
    ColumnSoftmax,
    entry_loss,
    to_matrix,
)
from ..printing.matrix_latex import MatrixLatexPrinter, MatrixPrinting  # noqa: F401  (codegen's)
from .base import Equations, Form

if TYPE_CHECKING:
    from ..codegen.matrix import BatchEvaluator

__all__ = [
    "MatrixForm",
    "MatrixEquation",
    "ColumnSoftmax",
    "matrix_form",
    "MatrixLatexPrinter",
    "MatrixCheck",
    "MatrixCheckError",
    "MatrixCheckRow",
]

@dataclass(frozen=True)
class MatrixEquation:
    """One equation of the matrix form: ``lhs = rhs``.

    ``kind`` is ``"forward"``, ``"activation"``, ``"loss"``, ``"delta"``, ``"weight"`` or
    ``"bias"``; ``layer`` is its layer (the output layer for the loss).
    """

    kind: str
    layer: int
    lhs: sp.Basic
    rhs: sp.Basic

    @property
    def stage(self) -> str:
        """forward, loss, delta or gradient (the Form protocol's word for ``kind``)."""
        return {"activation": "forward", "weight": "gradient", "bias": "gradient"}.get(
            self.kind, self.kind)

    @property
    def name(self) -> str:
        """What the equation defines: ``Z1``, ``A1``, ``L``, ``delta2``, ``dW1``, …"""
        return str(self.lhs)

    def latex(self, printer: MatrixLatexPrinter | None = None) -> str:
        p = printer or MatrixLatexPrinter()
        return f"{p.doprint(self.lhs)} = {p.doprint(self.rhs)}"

    def _repr_latex_(self) -> str:
        return f"$\\displaystyle {self.latex()}$"


def _activation(name: str) -> Callable[[sp.Expr], sp.Expr]:
    return lambda x: functions.activation(name, [x])[0]


def _derivative_in_textbook_form(name: str) -> sp.Expr:
    """f′(z) written with a = f(z) where f′ is a function of f (σ′ = a(1 − a)), else of z."""
    fz = _activation(name)(Z_ENTRY)
    derivative = sp.diff(fz, Z_ENTRY)
    return derivative.xreplace({fz: A_ENTRY}) if fz != Z_ENTRY else derivative


def _hadamard(*factors: sp.MatrixExpr) -> sp.MatrixExpr:
    """A ⊙ B ⊙ …, one flat product (no nested parentheses in print)."""
    flat = [a for f in factors for a in (f.args if isinstance(f, sp.HadamardProduct) else (f,))]
    return sp.HadamardProduct(*flat)


def _positive_difference(expr: sp.Expr) -> sp.Expr:
    """−c·(y − a) as c·(a − y): the sign goes into the difference, as (ŷ − y) is written."""
    coeff, rest = expr.as_coeff_Mul()
    adds = [f for f in sp.Mul.make_args(rest) if isinstance(f, sp.Add)]
    if coeff < 0 and len(adds) == 1:
        others = [f for f in sp.Mul.make_args(rest) if f is not adds[0]]
        return sp.Mul(-coeff, *others, -adds[0])
    return expr


# -- the derivation ------------------------------------------------------------------------------
class MatrixForm(Form):
    """The matrix equations of an MLP: forward pass, loss, δ recursion and gradients.

    Build it with :func:`matrix_form`. Sizes are symbols (n_0 … n_L, batch size m), so the
    equations hold for every width; :meth:`check` instantiates them with small numbers and
    compares them entry by entry with the scalar derivation of :func:`symbackprop.derive`.
    """

    kind = "matrix"

    def __init__(self, sizes: Sequence[int], activations: Sequence[str], loss: str,
                 bias: bool | str = False, reduction: str | None = None) -> None:
        if bias not in BIAS_MODES:
            raise ValueError(f"bias must be one of {BIAS_MODES}, got {bias!r}")
        self.sizes = list(sizes)
        self.activations = list(activations)
        self.loss_name = loss
        self.bias_mode = bias
        self.depth = L = len(self.sizes) - 1
        self.entry_loss, is_mean = entry_loss(loss)
        if reduction not in (None, "mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction or ("mean" if is_mean else "sum")
        self.n = [sp.Symbol(f"n_{l}", integer=True, positive=True) for l in range(L + 1)]
        self.m = sp.Symbol("m", integer=True, positive=True)
        n, m = self.n, self.m
        #: Per output the loss is c · Σ_j e(y_j, a_j) with c = 1/n_L for a mean; per batch r · Σ.
        self.unit_scale = 1 / n[L] if is_mean else sp.S.One
        self.batch_scale = 1 / m if self.reduction == "mean" else sp.S.One
        self.X = sp.MatrixSymbol("A0", n[0], m)
        self.Y = sp.MatrixSymbol("Y", n[L], m)
        self.W = [None] + [sp.MatrixSymbol(f"W{l}", n[l], n[l - 1]) for l in range(1, L + 1)]
        if bias == "shared":
            self.b = [None] + [sp.Symbol(f"b{l}", real=True) for l in range(1, L + 1)]
        elif bias:
            self.b = [None] + [sp.MatrixSymbol(f"b{l}", n[l], 1) for l in range(1, L + 1)]
        else:
            self.b = [None] * (L + 1)
        self.Z = [None] + [sp.MatrixSymbol(f"Z{l}", n[l], m) for l in range(1, L + 1)]
        self.A = [self.X] + [sp.MatrixSymbol(f"A{l}", n[l], m) for l in range(1, L + 1)]
        self.delta = [None] + [sp.MatrixSymbol(f"delta{l}", n[l], m) for l in range(1, L + 1)]
        self.dW = [None] + [sp.MatrixSymbol(f"dW{l}", n[l], n[l - 1]) for l in range(1, L + 1)]
        self.db = [None] + [
            None if not bias else sp.Symbol(f"db{l}", real=True) if bias == "shared"
            else sp.MatrixSymbol(f"db{l}", n[l], 1)
            for l in range(1, L + 1)
        ]
        self.L = sp.Symbol("L", real=True)
        #: The MLP this form was made from, if any: its names let evaluate() take a value table.
        self.network: MLP | None = None

    # -- forward ---------------------------------------------------------------------------
    def _pre_activation(self, l: int) -> sp.MatrixExpr:
        n, m = self.n, self.m
        wa = self.W[l] * self.A[l - 1]
        if not self.bias_mode:
            return wa
        b = self.b[l]
        spread = b * sp.OneMatrix(n[l], m) if self.bias_mode == "shared" else b * sp.OneMatrix(1, m)
        # MatAdd as built keeps W A first, as the lecture writes it.
        return sp.MatAdd(wa, -spread if self.bias_mode == "threshold" else spread)

    def _apply(self, l: int, Z: sp.MatrixExpr) -> sp.MatrixExpr:
        name = self.activations[l - 1]
        if name == "softmax":
            return ColumnSoftmax(Z)
        fz = _activation(name)(Z_ENTRY)
        return Z if fz == Z_ENTRY else to_matrix(fz, {Z_ENTRY: Z}, Z.shape)

    @cached_property
    def forward(self) -> list[MatrixEquation]:
        """Z^[l] = W^[l] A^[l−1] + b^[l] 1ᵀ and A^[l] = f(Z^[l]) for every layer."""
        out = []
        for l in range(1, self.depth + 1):
            out.append(MatrixEquation("forward", l, self.Z[l], self._pre_activation(l)))
            out.append(MatrixEquation("activation", l, self.A[l], self._apply(l, self.Z[l])))
        return out

    @cached_property
    def loss(self) -> MatrixEquation:
        """L = r · c · 1ᵀ E 1, E the entrywise loss terms e(Y, Â): the sum of every entry."""
        L, n, m = self.depth, self.n, self.m
        terms = to_matrix(self.entry_loss, {Y_ENTRY: self.Y, A_ENTRY: self.A[L]}, (n[L], m))
        total = sp.OneMatrix(1, n[L]) * terms * sp.OneMatrix(m, 1)
        return MatrixEquation("loss", L, self.L, self.batch_scale * self.unit_scale * total)

    # -- backward: one rule per operation ----------------------------------------------------
    def _output_delta(self) -> sp.MatrixExpr:
        """δ^[L] = ∂ℓ/∂Z^[L] per sample: the loss's rule, then the output activation's."""
        L = self.depth
        name, shape = self.activations[-1], (self.n[L], self.m)
        env = {Y_ENTRY: self.Y, A_ENTRY: self.A[L], Z_ENTRY: self.Z[L]}
        upstream = self.unit_scale * sp.diff(self.entry_loss, A_ENTRY)  # ∂ℓ/∂a, entry by entry
        if name != "softmax":
            derivative = _derivative_in_textbook_form(name)
            entry = upstream * derivative
            # Keep the product of the two rules, −(2/n)(Y − A) ⊙ A ⊙ (1 − A), unless it cancels
            # to something shorter (σ + bce: (A − Y)/n).
            cancelled = _positive_difference(sp.factor(sp.cancel(entry)))
            if 2 * sp.count_ops(cancelled) <= sp.count_ops(entry):
                return to_matrix(cancelled, env, shape)
            upstream = _positive_difference(sp.factor(upstream))  # (2/n)(a − y)
            if derivative == 1:
                return to_matrix(upstream, env, shape)
            return _hadamard(to_matrix(upstream, env, shape), to_matrix(derivative, env, shape))
        # Column softmax: δ = P ⊙ G − P ⊙ (1 1ᵀ (P ⊙ G)). When P ⊙ G is k·Y and the targets of
        # a column sum to one (one-hot), 1ᵀ(P ⊙ G) = k 1ᵀ and δ = k(Y − P): p − y for k = −1.
        pg = sp.cancel(A_ENTRY * upstream)
        k = sp.cancel(pg / Y_ENTRY)
        if not k.free_symbols & {A_ENTRY, Y_ENTRY, Z_ENTRY}:
            return to_matrix(sp.expand(pg - k * A_ENTRY), env, shape)
        return self._softmax_rule(self.A[L], to_matrix(upstream, env, shape))

    def output_delta_for_any_targets(self) -> sp.MatrixExpr:
        """δ^[L] without the one-hot assumption: for softmax + cross-entropy, where the
        printed δ = A − Y needs every target column to sum to 1, it is A ⊙ (1 1ᵀ Y) − Y
        (scaled). The code evaluators compute this form; it equals A − Y for one-hot Y.

        >>> from symbackprop.codegen.matrix import MatrixCodePrinter
        >>> f = matrix_form([2, 3], ["softmax"], "cross_entropy")
        >>> MatrixCodePrinter(True).doprint(f.output_delta_for_any_targets())
        '(Y.sum(axis=0, keepdims=True))*A1 - Y'
        """
        L = self.depth
        upstream = self.unit_scale * sp.diff(self.entry_loss, A_ENTRY)
        if self.activations[-1] != "softmax":
            return self._output_delta()
        pg = sp.cancel(A_ENTRY * upstream)
        k = sp.cancel(pg / Y_ENTRY)
        if k.free_symbols & {A_ENTRY, Y_ENTRY, Z_ENTRY}:
            return self._output_delta()
        rows = self.n[L]
        column_sums = sp.OneMatrix(rows, 1) * (sp.OneMatrix(1, rows) * self.Y)
        env = {Y_ENTRY: self.Y, A_ENTRY: self.A[L], Z_ENTRY: self.Z[L]}
        return to_matrix(sp.expand(pg), env, (rows, self.m)) \
            - k * sp.HadamardProduct(self.A[L], column_sums)

    def _softmax_rule(self, P: sp.MatrixExpr, G: sp.MatrixExpr) -> sp.MatrixExpr:
        rows = P.shape[0]
        pg = sp.HadamardProduct(P, G)
        return pg - sp.HadamardProduct(P, sp.OneMatrix(rows, 1) * (sp.OneMatrix(1, rows) * pg))

    def _hidden_delta(self, l: int) -> sp.MatrixExpr:
        """δ^[l] = (W^[l+1]ᵀ δ^[l+1]) ⊙ f′(Z^[l]): the product's rule, then the activation's."""
        upstream = self.W[l + 1].T * self.delta[l + 1]
        name = self.activations[l - 1]
        if name == "softmax":
            return self._softmax_rule(self.A[l], upstream)
        derivative = _derivative_in_textbook_form(name)
        if derivative == 1:
            return upstream
        env = {A_ENTRY: self.A[l], Z_ENTRY: self.Z[l]}
        return _hadamard(upstream, to_matrix(derivative, env, self.A[l].shape))

    @cached_property
    def deltas(self) -> list[MatrixEquation]:
        """δ^[L] from the loss, then δ^[l] for l = L−1 … 1."""
        out = [MatrixEquation("delta", self.depth, self.delta[self.depth], self._output_delta())]
        for l in range(self.depth - 1, 0, -1):
            out.append(MatrixEquation("delta", l, self.delta[l], self._hidden_delta(l)))
        return out

    @cached_property
    def gradients(self) -> list[MatrixEquation]:
        """∂L/∂W^[l] = r δ^[l] A^[l−1]ᵀ and ∂L/∂b^[l] = ±r δ^[l] 1 (r = 1/m for a mean)."""
        return self.gradient_equations(self.batch_scale)

    def gradient_equations(self, r: sp.Expr) -> list[MatrixEquation]:
        m = self.m
        out = []
        for l in range(self.depth, 0, -1):
            d = self.delta[l]
            out.append(MatrixEquation("weight", l, self.dW[l], r * d * self.A[l - 1].T))
            if not self.bias_mode:
                continue
            if self.bias_mode == "shared":
                rhs = r * sp.OneMatrix(1, self.n[l]) * d * sp.OneMatrix(m, 1)
            else:
                rhs = r * d * sp.OneMatrix(m, 1)
                rhs = -rhs if self.bias_mode == "threshold" else rhs
            out.append(MatrixEquation("bias", l, self.db[l], rhs))
        return out

    @property
    def equations(self) -> Equations:
        """Every equation in the order a lecture gives them: forward, loss, δ, gradients
        (``mf.equations`` and, as the Form protocol writes it, ``mf.equations()``)."""
        return Equations([*self.forward, self.loss, *self.deltas, *self.gradients])

    def equation(self, kind: str, layer: int) -> MatrixEquation:
        """The equation of ``kind`` for ``layer``.

        >>> matrix_form([2, 2, 2], "softmax", "cross_entropy").equation("delta", 2).rhs
        A2 - Y
        """
        for eq in self.equations:
            if eq.kind == kind and eq.layer == layer:
                return eq
        raise KeyError(f"no {kind} equation for layer {layer}")

    # -- checking ------------------------------------------------------------------------------
    def check(self, sizes: Sequence[int] | None = None, batch: int = 2,
              seed: int = 0) -> MatrixCheck:
        """Instantiate the equations and compare every entry with the scalar derivation.

        Sizes default to this form's (capped at 3 units a layer). The report has one row per
        equation (its largest relative difference), ``ok`` and ``max_error``. An equation that
        disagrees raises MatrixCheckError (an AssertionError) naming it; its ``report`` has all.

        >>> report = matrix_form([2, 3, 1]).check()
        >>> report.ok, report.max_error < 1e-12, len(report.rows)
        (True, True, 9)
        """
        return check_matrix_form(self, sizes, batch, seed)

    # -- output --------------------------------------------------------------------------------
    def latex(self) -> list[str]:
        """Each equation as a LaTeX line ``lhs = rhs``."""
        printer = MatrixLatexPrinter()
        return [eq.latex(printer) for eq in self.equations]

    def evaluator(self, sizes: Sequence[int] | str | None = None,
                  backend: str = "auto") -> BatchEvaluator:
        """A function of a batch that returns the loss and every gradient (see BatchEvaluator).

        The sizes are the form's own, fixed when it was built: ``sizes`` may repeat them and
        nothing else. ``evaluator("torch")``, the backend alone, reads as it did before the
        Form protocol put the sizes first.
        """
        if isinstance(sizes, str):
            sizes, backend = None, sizes
        if sizes is not None and tuple(sizes) != tuple(self.sizes):
            raise ValueError(f"this matrix form has the sizes {list(self.sizes)}, fixed when it "
                             f"was built; got {list(sizes)}")
        return BatchEvaluator(self, backend)

    def scalar_model(self, sizes: Sequence[int] | None = None) -> MLP:
        """The MLP these equations describe: the one the form was built from, else the
        sequential MLP at ``sizes`` (by default the form's)."""
        if sizes is None and self.network is not None:
            return self.network
        return mlp(list(sizes or self.sizes), list(self.activations), self.loss_name,
                   self.bias_mode, "sequential")

    def __repr__(self) -> str:
        sizes = "-".join(str(s) for s in self.sizes)
        return f"<MatrixForm {sizes}: {', '.join(self.activations)}, {self.loss_name}>"


def matrix_form(
    network: MLP | Sequence[int],
    activation: str | Sequence[str] = "sigmoid",
    loss: str = "mse",
    bias: bool | str = False,
    reduction: str | None = None,
) -> MatrixForm:
    """The matrix form of an MLP, given as a network or as its sizes.

    >>> mf = matrix_form([2, 2, 1], activation="sigmoid", loss="bce")
    >>> mf.equation("delta", 2).rhs  # σ + bce: the σ′ cancels
    1/n_2*(A2 - Y)
    """
    if isinstance(network, MLP):
        form = MatrixForm(network.sizes, network.activations, network.loss_name,
                          network.bias_mode, reduction)
        form.network = network
        return form
    sizes, acts = check_architecture(network, activation, loss, bias)
    return MatrixForm(sizes, acts, loss, bias, reduction)


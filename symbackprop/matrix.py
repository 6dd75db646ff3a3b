"""The matrix form of an MLP (seed 004), derived for any depth with symbolic layer sizes.

A batch of m samples is a matrix with one column per sample. Layer l has n_l units::

    Z^[l] = W^[l] A^[l−1] + b^[l] 1ᵀ        A^[l] = f_l(Z^[l])        A^[0] = X

The backward pass is reverse mode over those few operations, each with its own rule (the
matrix version of micrograd's ``_backward``): a product W·A sends Wᵀ·G to A and G·Aᵀ to W, an
elementwise f sends G ⊙ f′(Z), a column softmax sends P ⊙ (G − 1 1ᵀ(P ⊙ G)), and the loss
sends its entrywise derivative. f′ comes from the activation's own ``fdiff`` (σ′ = σ(1−σ),
written A ⊙ (1 − A)); the loss and its averaging come from :mod:`symbackprop.functions`. So
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

import io
import re
import tokenize
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.printing.latex import LatexPrinter
from sympy.printing.pycode import PythonCodePrinter

from . import functions
from .mlp import BIAS_MODES, MLP, _check_architecture

__all__ = [
    "MatrixForm",
    "MatrixEquation",
    "BatchEvaluator",
    "BatchResult",
    "ColumnSoftmax",
    "matrix_form",
    "BACKENDS",
]

# Scalar stand-ins for one entry: the target y, the activation a and the pre-activation z.
_y, _a, _z, _x = sp.symbols("y a z x", real=True)


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

    def latex(self, printer: MatrixLatexPrinter | None = None) -> str:
        p = printer or MatrixLatexPrinter()
        return f"{p.doprint(self.lhs)} = {p.doprint(self.rhs)}"


# -- the scalar facts the matrix rules need, taken from functions.py ----------------------------
def _entry_loss(name: str) -> tuple[sp.Expr, bool]:
    """One output's loss term e(y, a), and whether the loss is a mean of such terms (else a sum).

    Read off the engine's own definition: compare the loss of two outputs with two single ones.
    """
    loss = functions.LOSSES[name]
    y1, y2, a1, a2 = sp.symbols("y1 y2 a1 a2", real=True)
    one = loss([_y], [_a])
    pair = one.xreplace({_y: y1, _a: a1}) + one.xreplace({_y: y2, _a: a2})
    two = loss([y1, y2], [a1, a2])
    if sp.expand(two - pair) == 0:
        return one, False
    if sp.expand(2 * two - pair) == 0:
        return one, True
    raise ValueError(f"the loss {name!r} is neither a sum nor a mean over outputs")


def _activation(name: str) -> Callable[[sp.Expr], sp.Expr]:
    return lambda x: functions.activation(name, [x])[0]


def _derivative_in_textbook_form(name: str) -> sp.Expr:
    """f′(z) written with a = f(z) where f′ is a function of f (σ′ = a(1 − a)), else of z."""
    fz = _activation(name)(_z)
    derivative = sp.diff(fz, _z)
    return derivative.xreplace({fz: _a}) if fz != _z else derivative


# -- scalar entry -> matrix expression ---------------------------------------------------------
def _to_matrix(expr: sp.Expr, env: Mapping[sp.Symbol, sp.MatrixExpr], shape) -> sp.MatrixExpr:
    """The matrix whose every entry is ``expr`` with y, a, z read as Y, A, Z's entries.

    Products become Hadamard products, powers Hadamard powers, constants multiples of the
    all-ones matrix; numbers and size symbols stay scalar coefficients.
    """
    if not expr.free_symbols & set(env):
        return expr * sp.OneMatrix(*shape)
    if expr in env:
        return env[expr]
    if isinstance(expr, sp.Add):
        return sp.MatAdd(*[_to_matrix(t, env, shape) for t in expr.args]).doit()
    if isinstance(expr, sp.Mul):
        scalars = [f for f in expr.args if not f.free_symbols & set(env)]
        matrices = [_to_matrix(f, env, shape) for f in expr.args if f.free_symbols & set(env)]
        body = matrices[0] if len(matrices) == 1 else sp.HadamardProduct(*matrices)
        return sp.Mul(*scalars) * body if scalars else body
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer:
        return sp.HadamardPower(_to_matrix(expr.base, env, shape), expr.exp)
    if isinstance(expr, sp.Function):
        first, *rest = expr.args
        if not any(r.free_symbols & set(env) for r in rest):
            return ElementwiseApplyFunction(sp.Lambda(_x, expr.func(_x, *rest)),
                                            _to_matrix(first, env, shape))
    raise ValueError(f"no matrix form for the entry {expr}")


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
class MatrixForm:
    """The matrix equations of an MLP: forward pass, loss, δ recursion and gradients.

    Build it with :func:`matrix_form`. Sizes are symbols (n_0 … n_L, batch size m), so the
    equations hold for every width; :meth:`check` instantiates them with small numbers and
    compares them entry by entry with the scalar derivation of :func:`symbackprop.derive`.
    """

    def __init__(self, sizes: Sequence[int], activations: Sequence[str], loss: str,
                 bias: bool | str = False, reduction: str | None = None) -> None:
        if bias not in BIAS_MODES:
            raise ValueError(f"bias must be one of {BIAS_MODES}, got {bias!r}")
        self.sizes = list(sizes)
        self.activations = list(activations)
        self.loss_name = loss
        self.bias_mode = bias
        self.depth = L = len(self.sizes) - 1
        self.entry_loss, is_mean = _entry_loss(loss)
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
        fz = _activation(name)(_z)
        return Z if fz == _z else _to_matrix(fz, {_z: Z}, Z.shape)

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
        terms = _to_matrix(self.entry_loss, {_y: self.Y, _a: self.A[L]}, (n[L], m))
        total = sp.OneMatrix(1, n[L]) * terms * sp.OneMatrix(m, 1)
        return MatrixEquation("loss", L, self.L, self.batch_scale * self.unit_scale * total)

    # -- backward: one rule per operation ----------------------------------------------------
    def _output_delta(self) -> sp.MatrixExpr:
        """δ^[L] = ∂ℓ/∂Z^[L] per sample: the loss's rule, then the output activation's."""
        L = self.depth
        name, shape = self.activations[-1], (self.n[L], self.m)
        env = {_y: self.Y, _a: self.A[L], _z: self.Z[L]}
        upstream = self.unit_scale * sp.diff(self.entry_loss, _a)  # ∂ℓ/∂a, entry by entry
        if name != "softmax":
            derivative = _derivative_in_textbook_form(name)
            entry = upstream * derivative
            # Keep the product of the two rules, −(2/n)(Y − A) ⊙ A ⊙ (1 − A), unless it cancels
            # to something shorter (σ + bce: (A − Y)/n).
            cancelled = _positive_difference(sp.factor(sp.cancel(entry)))
            if 2 * sp.count_ops(cancelled) <= sp.count_ops(entry):
                return _to_matrix(cancelled, env, shape)
            upstream = _positive_difference(sp.factor(upstream))  # (2/n)(a − y)
            if derivative == 1:
                return _to_matrix(upstream, env, shape)
            return _hadamard(_to_matrix(upstream, env, shape), _to_matrix(derivative, env, shape))
        # Column softmax: δ = P ⊙ G − P ⊙ (1 1ᵀ (P ⊙ G)). When P ⊙ G is k·Y and the targets of
        # a column sum to one (one-hot), 1ᵀ(P ⊙ G) = k 1ᵀ and δ = k(Y − P): p − y for k = −1.
        pg = sp.cancel(_a * upstream)
        k = sp.cancel(pg / _y)
        if not k.free_symbols & {_a, _y, _z}:
            return _to_matrix(sp.expand(pg - k * _a), env, shape)
        return self._softmax_rule(self.A[L], _to_matrix(upstream, env, shape))

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
        env = {_a: self.A[l], _z: self.Z[l]}
        return _hadamard(upstream, _to_matrix(derivative, env, self.A[l].shape))

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
        return self._gradients(self.batch_scale)

    def _gradients(self, r: sp.Expr) -> list[MatrixEquation]:
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
    def equations(self) -> list[MatrixEquation]:
        """Every equation in the order a lecture gives them: forward, loss, δ, gradients."""
        return [*self.forward, self.loss, *self.deltas, *self.gradients]

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
    def check(self, sizes: Sequence[int] | None = None, batch: int = 2, seed: int = 0) -> float:
        """Instantiate the equations and compare every entry with the scalar derivation.

        Sizes default to this form's (capped at 3 units a layer); returns the largest
        relative difference, and raises AssertionError naming the equation if one fails.
        """
        return _check(self, sizes, batch, seed)

    # -- output --------------------------------------------------------------------------------
    def latex(self) -> list[str]:
        """Each equation as a LaTeX line ``lhs = rhs``."""
        printer = MatrixLatexPrinter()
        return [eq.latex(printer) for eq in self.equations]

    def _repr_latex_(self) -> str:
        body = r" \\ ".join(line.replace(" = ", " &= ", 1) for line in self.latex())
        return rf"$\displaystyle \begin{{aligned}} {body} \end{{aligned}}$"

    def evaluator(self, backend: str = "numpy") -> BatchEvaluator:
        """A function of a batch that returns the loss and every gradient (see BatchEvaluator)."""
        return BatchEvaluator(self, backend)

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
    sizes, acts = _check_architecture(network, activation, loss, bias)
    return MatrixForm(sizes, acts, loss, bias, reduction)


# -- printing ------------------------------------------------------------------------------------
def _matrix_latex_name(name: str, loss: str = r"\mathcal{L}") -> str:
    """W2 -> W^{[2]}, delta2 -> \\delta^{[2]}, dW2 -> ∂L/∂W^{[2]}, A0 -> A^{[0]}."""
    if name == "L":
        return loss
    for prefix, spelled in (("delta", r"\delta"), ("dW", "W"), ("db", "b"), ("W", "W"),
                            ("b", "b"), ("Z", "Z"), ("A", "A")):
        layer = name[len(prefix):]
        if name.startswith(prefix) and layer.isdigit():
            if prefix.startswith("d") and prefix != "delta":
                return rf"\frac{{\partial {loss}}}{{\partial {spelled}^{{[{layer}]}}}}"
            return rf"{spelled}^{{[{layer}]}}"
    return name


class _MatrixPrinting:
    """What the LaTeX and the code printer share: f(Z) printed as the scalar f applied to Z,
    and sums written with their positive terms first (Y − A, not −A + Y)."""

    def _print_ElementwiseApplyFunction(self, expr: ElementwiseApplyFunction) -> str:
        var, body = expr.function.variables[0], expr.function.expr
        holder = sp.Symbol("MATRIXARGUMENT")
        text = self._print(body.xreplace({var: holder}))
        return text.replace("MATRIXARGUMENT", self._print(expr.expr))

    def _print_MatAdd(self, expr: sp.MatAdd) -> str:
        parts = sorted((self._print(a) for a in expr.args), key=lambda t: t.startswith("-"))
        text = parts[0]
        for t in parts[1:]:
            text += f" - {t[1:].lstrip()}" if t.startswith("-") else f" + {t}"
        return text


class MatrixLatexPrinter(_MatrixPrinting, LatexPrinter):
    """LaTeX of matrix equations as seed 004 writes them: W^{[l]}, ⊙, ᵀ, 1 for all-ones."""

    def __init__(self, loss: str = r"\mathcal{L}", **settings) -> None:
        super().__init__({"mul_symbol": None, **settings})
        self.loss = loss  # the loss's spelling, as the rest of the notes write it
        self._entry = False  # inside a Σ over entries: print Y_{ji}, products, powers

    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol) -> str:
        name = _matrix_latex_name(expr.name, self.loss)
        return rf"{{{name}}}_{{ji}}" if self._entry else name

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        coeff, matrices = expr.as_coeff_matrices()
        ones = sp.OneMatrix
        summed = (len(matrices) == 3 and isinstance(matrices[0], ones)
                  and isinstance(matrices[2], ones) and matrices[0].shape[0] == 1
                  and matrices[2].shape[1] == 1)
        if not summed or self._entry:
            return super()._print_MatMul(expr)
        # 1ᵀ M 1 is the sum of M's entries: written as the double sum lecture notes use.
        rows, cols = matrices[1].shape
        self._entry = True
        try:
            body = self._print(matrices[1])
        finally:
            self._entry = False
        if isinstance(matrices[1], sp.MatAdd):
            body = rf"\left({body}\right)"
        sums = (rf"\sum_{{i=1}}^{{{self._print(cols)}}} \sum_{{j=1}}^{{{self._print(rows)}}} "
                f"{body}")
        if coeff == 1:
            return sums
        if coeff == -1:
            return f"- {sums}"
        return f"{self._print(coeff)} {sums}"

    def _print_Heaviside(self, expr: sp.Heaviside, exp=None) -> str:
        # H(z) with H(0) = 0: the indicator 1[Z > 0], entry by entry.
        return rf"\mathbb{{1}}\left[{self._print(expr.args[0])} > 0\right]"

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        spelled = _matrix_latex_name(expr.name, self.loss)  # L, and b^{[l]} of a shared bias
        return spelled if spelled != expr.name else super()._print_Symbol(expr)

    def _print_OneMatrix(self, expr: sp.OneMatrix) -> str:
        rows, cols = expr.shape
        if self._entry:
            return "1"
        if rows == 1:
            return rf"\mathbf{{1}}_{{{self._print(cols)}}}^{{\top}}"
        if cols == 1:
            return rf"\mathbf{{1}}_{{{self._print(rows)}}}"
        return r"\mathbf{1}"

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        inner = self._print(expr.arg)
        if not isinstance(expr.arg, sp.MatrixSymbol):
            inner = rf"\left({inner}\right)"
        return rf"{{{inner}}}^{{\top}}"  # braces: W^{[2]} already has a superscript


    def _wrap(self, expr: sp.Basic) -> str:
        text = self._print(expr)
        compound = isinstance(expr, sp.MatAdd | sp.MatMul | sp.HadamardProduct)
        return rf"\left({text}\right)" if compound else text

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        parts = [self._wrap(a) for a in expr.args]
        return " ".join(parts) if self._entry else r" \odot ".join(parts)

    def _print_HadamardPower(self, expr: sp.HadamardPower) -> str:
        base = rf"\left({self._print(expr.base)}\right)"
        power = self._print(expr.exp)
        return rf"{base}^{{{power}}}" if self._entry else rf"{base}^{{\odot {power}}}"

    def _print_ColumnSoftmax(self, expr: ColumnSoftmax) -> str:
        return rf"\operatorname{{softmax}}\left({self._print(expr.arg)}\right)"

    def _print_ColumnLogSoftmax(self, expr: ColumnLogSoftmax) -> str:
        return rf"\log \operatorname{{softmax}}\left({self._print(expr.arg)}\right)"


class MatrixCodePrinter(_MatrixPrinting, PythonCodePrinter):
    """Array code for the matrix equations: ``@`` for products, ``*`` for ⊙, ``.T``, and the
    all-ones products as sums over samples or units, or as broadcasting."""

    def __init__(self, numpy_methods: bool = False) -> None:
        super().__init__({"fully_qualified_modules": False, "allow_unknown_functions": True,
                          "inline": True})
        # numpy, jax and cupy arrays sum with .sum(axis=…, keepdims=True); torch spells it
        # differently, so other backends call the namespace's sample_sum / unit_sum.
        self.numpy_methods = numpy_methods

    def _sum(self, which: str, text: str) -> str:
        if not self.numpy_methods:
            return f"{which}({text})"
        axis = 1 if which == "sample_sum" else 0
        inner = text if text.isidentifier() else f"({text})"
        return f"{inner}.sum(axis={axis}, keepdims=True)"

    def _print_HadamardProduct(self, expr: sp.HadamardProduct, coeff=sp.S.One) -> str:
        # Scalars out front once: 2/n*((A - Y)*A*(1 - A)), not (2/n*(A - Y))*A*(1 - A).
        factors = []
        for a in expr.args:
            c, rest = a.as_coeff_mmul() if isinstance(a, sp.MatMul) else (sp.S.One, a)
            coeff *= c
            factors.append(rest)
        text = "*".join(self._atom(f) for f in factors)
        return text if coeff == 1 else f"{self._print(coeff)}*({text})"

    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol) -> str:
        return "X" if expr.name == "A0" else expr.name

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return expr.name

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        return f"heaviside({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def _print_OneMatrix(self, expr: sp.OneMatrix) -> str:
        return "1"

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        return f"{self._atom(expr.arg)}.T"

    def _atom(self, expr: sp.Basic) -> str:
        text = self._print(expr)
        atoms = (sp.MatrixSymbol, sp.OneMatrix, sp.Transpose, ElementwiseApplyFunction,
                 ColumnSoftmax)
        return text if isinstance(expr, atoms) else f"({text})"

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        coeff, matrices = expr.as_coeff_matrices()
        matrices = list(matrices)
        if len(matrices) == 1 and isinstance(matrices[0], sp.HadamardProduct):
            return self._print_HadamardProduct(matrices[0], coeff)
        if len(matrices) == 1 and isinstance(matrices[0], sp.OneMatrix):
            return self._print(coeff)  # a scalar times all-ones: numpy broadcasts the scalar
        wrap: list[str] = []
        # An all-ones factor in front sums over units (1ᵀ·M), behind it sums over samples
        # (M·1); what it repeats (1·M, M·1ᵀ, and the repetition in 1 1ᵀ·M) is broadcasting.
        if isinstance(matrices[0], sp.OneMatrix) and len(matrices) > 1:
            if matrices[0].shape[1] != 1:
                wrap.append("unit_sum")
            matrices = matrices[1:]
        if isinstance(matrices[-1], sp.OneMatrix) and len(matrices) > 1:
            if matrices[-1].shape[0] != 1:
                wrap.append("sample_sum")
            matrices = matrices[:-1]
        text = " @ ".join(self._atom(a) for a in matrices) if len(matrices) > 1 \
            else self._print(matrices[0])
        for fn in reversed(wrap):
            text = self._sum(fn, text)
        if coeff == 1:
            return text
        if coeff == -1:
            return f"-{self._atom_text(text, matrices)}"
        return f"{self._print(coeff)}*{self._atom_text(text, matrices)}"

    @staticmethod
    def _atom_text(text: str, matrices) -> str:
        simple = len(matrices) == 1 and isinstance(matrices[0], sp.MatrixSymbol)
        return text if simple or text.endswith(")") and text[0].isalpha() else f"({text})"


    def _print_HadamardPower(self, expr: sp.HadamardPower) -> str:
        return f"{self._atom(expr.base)}**{self._print(expr.exp)}"

    def _print_ColumnSoftmax(self, expr: ColumnSoftmax) -> str:
        return f"softmax_columns({self._print(expr.arg)})"

    def _print_ColumnLogSoftmax(self, expr: ColumnLogSoftmax) -> str:
        return f"log_softmax_columns({self._print(expr.arg)})"


# -- backends --------------------------------------------------------------------------------------
def _numpy_namespace() -> dict[str, object]:
    from .numeric import NUMPY_FUNCTIONS

    def softmax_columns(z):
        e = np.exp(z - z.max(axis=0, keepdims=True))
        return e / e.sum(axis=0, keepdims=True)

    def log_softmax_columns(z):
        shifted = z - z.max(axis=0, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))

    def log(x):
        # As torch's BCELoss: a log of a probability is clamped at −100, so ŷ = 0 gives a large
        # finite loss, not inf. Sigmoid and softmax outputs never get here: their logs are
        # computed from the logits.
        with np.errstate(divide="ignore"):
            return np.maximum(np.log(x), -100.0)

    return {
        **{k: v for k, v in NUMPY_FUNCTIONS.items() if k != "softmax"},
        "heaviside": lambda x, h: np.heaviside(x, float(h)),
        "tanh": np.tanh, "exp": np.exp, "log": log, "sqrt": np.sqrt,
        "softmax_columns": softmax_columns, "log_softmax_columns": log_softmax_columns,
        "sample_sum": lambda x: x.sum(axis=1, keepdims=True),
        "unit_sum": lambda x: x.sum(axis=0, keepdims=True),
        "np": np,
    }


def _torch_namespace() -> dict[str, object]:
    import torch

    return {
        "sigmoid": torch.sigmoid, "softplus": torch.nn.functional.softplus,
        "relu": torch.relu, "tanh": torch.tanh, "exp": torch.exp, "sqrt": torch.sqrt,
        "log": lambda x: torch.clamp(torch.log(x), min=-100.0),
        "leaky_relu": lambda x, s: torch.where(x > 0, x, float(s) * x),
        "heaviside": lambda x, h: torch.heaviside(x, torch.tensor(float(h), dtype=x.dtype)),
        "softmax_columns": lambda z: torch.softmax(z, dim=0),
        "log_softmax_columns": lambda z: torch.log_softmax(z, dim=0),
        "sample_sum": lambda x: x.sum(dim=1, keepdim=True),
        "unit_sum": lambda x: x.sum(dim=0, keepdim=True),
    }


def _jax_namespace() -> dict[str, object]:
    import jax
    import jax.numpy as jnp

    return {
        "sigmoid": jax.nn.sigmoid, "softplus": jax.nn.softplus, "relu": jax.nn.relu,
        "tanh": jnp.tanh, "exp": jnp.exp, "sqrt": jnp.sqrt,
        "log": lambda x: jnp.maximum(jnp.log(x), -100.0),
        "leaky_relu": lambda x, s: jnp.where(x > 0, x, float(s) * x),
        "heaviside": lambda x, h: jnp.heaviside(x, float(h)),
        "softmax_columns": lambda z: jax.nn.softmax(z, axis=0),
        "log_softmax_columns": lambda z: jax.nn.log_softmax(z, axis=0),
        "sample_sum": lambda x: x.sum(axis=1, keepdims=True),
        "unit_sum": lambda x: x.sum(axis=0, keepdims=True),
    }


def _cupy_namespace() -> dict[str, object]:
    import cupy

    space = {k: v for k, v in _numpy_namespace().items() if k != "np"}
    space.update({
        "tanh": cupy.tanh, "exp": cupy.exp, "sqrt": cupy.sqrt,
        "sigmoid": lambda x: cupy.exp(-cupy.logaddexp(0.0, -x)),
        "softplus": lambda x: cupy.logaddexp(0.0, x),
        "relu": lambda x: cupy.maximum(x, 0.0),
        "leaky_relu": lambda x, s: cupy.where(x > 0, x, float(s) * x),
        "heaviside": lambda x, h: cupy.heaviside(x, float(h)),
        "log": lambda x: cupy.maximum(cupy.log(x), -100.0),
        "softmax_columns": lambda z: (lambda e: e / e.sum(axis=0, keepdims=True))(
            cupy.exp(z - z.max(axis=0, keepdims=True))),
        "log_softmax_columns": lambda z: (lambda s: s - cupy.log(cupy.exp(s).sum(axis=0,
                                                                                keepdims=True)))(
            z - z.max(axis=0, keepdims=True)),
    })
    return space


#: Array libraries the generated code can run on: name -> function returning its namespace.
BACKENDS: dict[str, Callable[[], dict[str, object]]] = {
    "numpy": _numpy_namespace,
    "torch": _torch_namespace,
    "jax": _jax_namespace,
    "cupy": _cupy_namespace,
}


# -- the batched evaluator -------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchResult:
    """The loss of a batch and the gradients of every weight matrix and bias, layer 1 first."""

    loss: float
    weight_gradients: list
    bias_gradients: list | None
    gradients: dict[str, float] | None = None  # by parameter name, from evaluate()


class BatchEvaluator:
    """Loss and gradients of a whole batch, from code generated out of the matrix equations.

    ``f(X, Y, weights, biases)`` takes X of shape (n_0, m), Y of shape (n_L, m), the weight
    matrices (n_l, n_{l−1}) and the biases (n_l,) (scalars for a shared bias, None without
    biases). ``source`` is the generated code: a few array operations per layer, no loop over
    weights. ``backend`` is ``"numpy"`` or, where installed, ``"torch"``, ``"jax"``, ``"cupy"``.

    >>> import numpy as np
    >>> f = matrix_form([2, 2, 1]).evaluator()
    >>> X, Y = np.array([[0.5], [0.3]]), np.array([[1.0]])
    >>> W = [np.array([[0.7, 0.4], [0.3, 0.6]]), np.array([[0.55, 0.45]])]
    >>> round(float(f(X, Y, W).weight_gradients[1][0, 0]), 4)  # seed 000's ∂L/∂w5
    -0.0998
    """

    def __init__(self, form: MatrixForm, backend: str = "numpy") -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; expected one of: {', '.join(BACKENDS)}")
        try:
            namespace = BACKENDS[backend]()
        except ImportError as err:
            raise ImportError(f"the {backend} backend needs {err.name}, which is not installed") \
                from None
        self.form = form
        self.backend = backend
        self.source = _generate(form, backend)
        scope: dict[str, object] = dict(namespace)
        _assert_engine_made(self.source, scope)
        # The source is printed from the engine's own equations: fixed names (W1, delta1, ...),
        # numbers and the namespace's functions, which _assert_engine_made has just confirmed.
        exec(compile(self.source, "<symbackprop matrix form>", "exec"), scope)
        self._gradients = scope["gradients"]
        self._forward = scope["forward"]
        self._loss = scope["loss"]

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
        loss, dW, db = self._gradients(*self._arguments(X, Y, weights, biases))
        if db is not None:  # back to the shapes the biases came in: (n_l,), or a scalar
            db = [g.sum() if self.form.bias_mode == "shared" else g.reshape(-1) for g in db]
        return BatchResult(loss, list(dW), None if db is None else list(db))

    def forward(self, X, weights: Sequence, biases: Sequence | None = None):
        """The output activations A^[L], shape (n_L, m)."""
        return self._forward(*self._arguments(X, None, weights, biases))

    def loss(self, X, Y, weights: Sequence, biases: Sequence | None = None) -> float:
        """The batch loss only (the forward pass)."""
        return self._loss(*self._arguments(X, Y, weights, biases))

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
        """Write the generated source to a file (it imports numpy and the activations)."""
        from pathlib import Path

        Path(path).write_text(_HEADER + self.source, encoding="utf-8")


_HEADER = '''"""Generated by symbackprop from the matrix form of the network. Numpy backend."""
from symbackprop.matrix import BACKENDS

globals().update(BACKENDS["numpy"]())

'''


_GENERATED_NAME = re.compile(r"(?:[WbZA]|delta|dW|db|n_)[0-9]+|[XYLm]|float|sum|shape|T|axis|keepdims|True")


def _assert_engine_made(source: str, namespace: Mapping[str, object]) -> None:
    """Refuse to run code with any name the generator does not write: a second lock behind
    the fact that no user text reaches the equations (names are W1, delta2, …, never a key)."""
    allowed = {"def", "return", "None", "forward", "loss", "gradients", *namespace}
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    for tok in tokens:
        if tok.type == tokenize.NAME and tok.string not in allowed \
                and not _GENERATED_NAME.fullmatch(tok.string):
            raise RuntimeError(f"generated code uses an unexpected name {tok.string!r}")


def _stable_loss_entry(form: MatrixForm) -> sp.MatrixExpr:
    """The loss terms for code: logs of sigmoid and softmax outputs computed from the logits
    (as torch's BCEWithLogitsLoss and CrossEntropyLoss do), so Z = ±1000 gives finite numbers."""
    L = form.depth
    name = form.activations[-1]
    shape = (form.n[L], form.m)
    entry = form.entry_loss
    env = {_y: form.Y, _a: form.A[L]}
    if name == "sigmoid":
        entry = entry.xreplace({sp.log(_a): -functions.softplus(-_z),
                                sp.log(1 - _a): -functions.softplus(_z)})
        env[_z] = form.Z[L]
    elif name == "softmax" and entry.has(sp.log(_a)):
        logp = sp.Symbol("logp", real=True)
        entry = entry.xreplace({sp.log(_a): logp})
        env[logp] = ColumnLogSoftmax(form.Z[L])
    return _to_matrix(entry, env, shape)


def _generate(form: MatrixForm, backend: str = "numpy") -> str:
    p = MatrixCodePrinter(numpy_methods=backend in ("numpy", "jax", "cupy"))
    L = form.depth
    params = [f"W{l}" for l in range(1, L + 1)]
    if form.bias_mode:
        params += [f"b{l}" for l in range(1, L + 1)]
    sizes = ["    m = X.shape[1]"] + [f"    n_{L} = W{L}.shape[0]"]
    forward = [f"    {p.doprint(eq.lhs)} = {p.doprint(eq.rhs)}" for eq in form.forward]
    entry = _stable_loss_entry(form)
    total = f"float(({p.doprint(entry)}).sum())"
    scale = form.batch_scale * form.unit_scale
    loss = f"    L = {p.doprint(scale)}*{total}" if scale != 1 else f"    L = {total}"
    # The 1/m of a mean is applied once, to δ^[L] (every δ below is linear in it), rather than
    # to every gradient: the same numbers with 2L fewer array operations.
    r = form.batch_scale
    output, *hidden = form.deltas
    backward = [f"    {p.doprint(eq.lhs)} = {p.doprint(eq.rhs)}" for eq in hidden]
    if r != 1:
        backward.insert(0, f"    {p.doprint(output.lhs)} = {p.doprint(r * output.rhs)}"
                           f"  # δ^[{L}] of the equations, times {p.doprint(r)}: see the gradients")
    else:
        backward.insert(0, f"    {p.doprint(output.lhs)} = {p.doprint(output.rhs)}")
    backward += [f"    {p.doprint(eq.lhs)} = {p.doprint(eq.rhs)}" for eq in form._gradients(sp.S.One)]
    dW = ", ".join(f"dW{l}" for l in range(1, L + 1))
    db = ", ".join(f"db{l}" for l in range(1, L + 1))
    returns = f"    return L, [{dW}], " + (f"[{db}]" if form.bias_mode else "None")
    signature = ", ".join(["X", "Y", *params])
    fsig = ", ".join(["X", *params])
    sizes_needed = "\n".join(sizes)
    lines = [
        f"def forward({fsig}):",
        '    """The output A^[L] of a batch X (one sample per column)."""',
        *forward,
        f"    return A{L}",
        "",
        "",
        f"def loss({signature}):",
        '    """The batch loss: the forward pass only."""',
        sizes_needed,
        *forward,
        loss,
        "    return L",
        "",
        "",
        f"def gradients({signature}):",
        '    """The batch loss and ∂L/∂W^[l], ∂L/∂b^[l] for every layer, by backpropagation."""',
        sizes_needed,
        *forward,
        loss,
        *backward,
        returns,
        "",
    ]
    return "\n".join(lines)


# -- the check against the scalar derivation ----------------------------------------------------------
def _check(form: MatrixForm, sizes: Sequence[int] | None, batch: int, seed: int) -> float:
    from .derive import derive
    from .mlp import mlp

    if sizes is None:
        sizes = [min(s, 3) for s in form.sizes]
        if form.activations[-1] == "softmax":
            sizes[-1] = max(sizes[-1], 2)
    sizes = list(sizes)
    net = mlp(sizes, list(form.activations), form.loss_name, form.bias_mode, "sequential")
    d = derive(net)
    L, rng = form.depth, np.random.default_rng(seed)
    params = {p.name: float(rng.uniform(-1, 1)) for p in net.parameters}
    samples = []
    for _ in range(batch):
        values = dict(params)
        values.update({x.name: float(rng.uniform(-2, 2)) for x in net.inputs})
        if form.loss_name == "cross_entropy":
            hot = int(rng.integers(len(net.targets)))
            values.update({t.name: float(k == hot) for k, t in enumerate(net.targets)})
        else:
            values.update({t.name: float(rng.uniform(0, 1)) for t in net.targets})
        samples.append(values)
    scalar = [d.evaluate(v) for v in samples]
    shapes = {n: size for n, size in zip(form.n, sizes, strict=True)}
    shapes[form.m] = batch

    def concrete(symbol):
        return symbol.subs(shapes) if isinstance(symbol, sp.MatrixSymbol) else symbol

    known: dict[sp.Basic, sp.Float] = {}

    def remember(symbol, array) -> None:
        symbol = concrete(symbol)
        if isinstance(symbol, sp.MatrixSymbol):
            for (i, j), v in np.ndenumerate(np.atleast_2d(array)):
                known[symbol[i, j]] = sp.Float(float(v), 30)
        else:
            known[symbol] = sp.Float(float(array), 30)

    def evaluate(expr) -> np.ndarray:
        explicit = sp.Matrix(expr.subs(shapes).as_explicit()) if hasattr(expr, "shape") \
            else sp.Matrix([[expr]])
        return np.array([[float(e.xreplace(known).evalf(30)) for e in row]
                         for row in explicit.tolist()])

    def column(f) -> np.ndarray:
        return np.array([[f(ev, k) for k, ev in enumerate(scalar)]])

    r = 1 / batch if form.reduction == "mean" else 1
    remember(form.X, [[v[x.name] for v in samples] for x in net.inputs])
    remember(form.Y, [[v[t.name] for v in samples] for t in net.targets])
    for l in range(1, L + 1):
        remember(form.W[l], [[params[net.weight(l, i, j).name] for i in range(1, sizes[l - 1] + 1)]
                             for j in range(1, sizes[l] + 1)])
        if form.bias_mode == "shared":
            remember(form.b[l], params[net.bias(l, 1).name])
        elif form.bias_mode:
            remember(form.b[l], [[params[net.bias(l, j).name]] for j in range(1, sizes[l] + 1)])

    def expected(eq: MatrixEquation) -> np.ndarray:
        l, units = eq.layer, range(1, sizes[eq.layer] + 1)
        if eq.kind in ("forward", "activation", "delta"):
            node = net.pre if eq.kind != "activation" else net.act
            table = "deltas" if eq.kind == "delta" else "nodes"
            return np.array([[getattr(ev, table)[node(l, j).name] for ev in scalar]
                             for j in units])
        if eq.kind == "loss":
            return np.array([[r * sum(ev.loss for ev in scalar)]])
        if eq.kind == "weight":
            return np.array([[r * sum(ev.gradients[net.weight(l, i, j).name] for ev in scalar)
                              for i in range(1, sizes[l - 1] + 1)] for j in units])
        if form.bias_mode == "shared":
            return np.array([[r * sum(ev.gradients[net.bias(l, 1).name] for ev in scalar)]])
        return np.array([[r * sum(ev.gradients[net.bias(l, j).name] for ev in scalar)]
                         for j in units])

    worst = 0.0
    for eq in form.equations:
        got, want = evaluate(eq.rhs), expected(eq)
        err = float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want))))
        if not err <= 1e-9:
            raise AssertionError(
                f"matrix equation {eq.kind} of layer {eq.layer} ({eq.lhs} = {eq.rhs}) differs "
                f"from the scalar derivation by {err:.3g} at sizes {sizes}, batch {batch}")
        worst = max(worst, err)
        remember(eq.lhs, got if isinstance(eq.lhs, sp.MatrixSymbol) else got[0, 0])
    return worst

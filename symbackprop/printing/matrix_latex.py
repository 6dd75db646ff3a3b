r"""LaTeX of the matrix form's equations, as seed 004 writes them: W^{[l]}, ⊙, ᵀ, 1 for all-ones.

:class:`MatrixLatexPrinter` prints the equations of :mod:`symbackprop.forms.matrix`; the code printer
of :mod:`symbackprop.codegen.matrix` shares :class:`MatrixPrinting` with it (f(Z) printed as the scalar
f applied to Z, positive terms first).

>>> from symbackprop.forms.matrix import matrix_form
>>> print(MatrixLatexPrinter().doprint(matrix_form([2, 2, 1]).equation("delta", 1).rhs))
\left({W^{[2]}}^{\top} \delta^{[2]}\right) \odot A^{[1]} \odot \left(\mathbf{1} - A^{[1]}\right)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.printing.latex import LatexPrinter

if TYPE_CHECKING:
    from ..forms.matrix import ColumnLogSoftmax, ColumnLogSoftmaxComplement, ColumnSoftmax

__all__ = ["MatrixLatexPrinter"]


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


class MatrixPrinting:
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


class MatrixLatexPrinter(MatrixPrinting, LatexPrinter):
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

    def _print_ColumnLogSoftmaxComplement(self, expr: ColumnLogSoftmaxComplement) -> str:
        return rf"\log \left(1 - \operatorname{{softmax}}\left({self._print(expr.arg)}\right)\right)"

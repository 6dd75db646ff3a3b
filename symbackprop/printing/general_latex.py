"""How a general form's equations print: indexed entries as textbooks write them.

h_{t,j}, \\delta_{t+1,i}, ∂L/∂W_{p,q}; a word in a size's subscript upright (d_{\\mathrm{in}}); an
indicator as 𝟙[T = t]; a logarithm after its factor (y log ŷ).

>>> import sympy as sp
>>> h, t, j = sp.IndexedBase("h"), *sp.symbols("t j", integer=True)
>>> GeneralLatexPrinter({"h": "h"}).doprint(h[t - 1, j])
'h_{t - 1,j}'
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp
from sympy.printing.latex import LatexPrinter

from .latex import TexPrinter

__all__ = ["GeneralLatexPrinter"]


class GeneralLatexPrinter(LatexPrinter):
    """Indexed entries as textbooks write them: h_{t,j}, \\delta_{t+1,i}, ∂L/∂W_{p,q}."""

    def __init__(self, names: Mapping[str, str], **settings) -> None:
        super().__init__({"mul_symbol": None, **settings})
        self.names = dict(names)

    def _stem(self, name: str) -> str:
        return self.names.get(name, name)

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        ix = ",".join(self._print(i) for i in expr.indices)
        return f"{self._stem(expr.base.name)}_{{{ix}}}"

    def _print_Pow(self, expr: sp.Pow, exp=None) -> str:
        # a stem with a superscript (a^{[1]}) is braced before it is raised: {a^{[1]}_{s,j}}^{2}
        base = expr.base
        if isinstance(base, sp.Indexed) and "^" in self._stem(base.base.name) and \
                expr.exp.is_Integer and expr.exp > 1:
            return f"{{{self._print(base)}}}^{{{self._print(expr.exp)}}}"
        return super()._print_Pow(expr)

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        if expr.name in self.names:
            return self.names[expr.name]
        stem, _, sub = expr.name.partition("_")
        if len(sub) > 1 and sub.isalpha():  # a word, not indices: d_{\mathrm{in}}, as in print
            return rf"{super()._print_Symbol(sp.Symbol(stem))}_{{\mathrm{{{sub}}}}}"
        return super()._print_Symbol(expr)

    def size(self, size: sp.Symbol) -> str:
        """A size as printed: n_{h}, d_{\\mathrm{in}} (a word in a subscript stands upright)."""
        return self._print_Symbol(size)

    def _print_Mul(self, expr: sp.Mul) -> str:
        # a textbook writes y log ŷ, the logarithm last; SymPy's order puts it first
        logs = [f for f in expr.args if isinstance(f, sp.log)]
        if not logs or len(logs) == len(expr.args):
            return super()._print_Mul(expr)
        rest = [f for f in expr.args if not isinstance(f, sp.log)]
        order, self._settings["order"] = self._settings["order"], "none"
        try:
            return super()._print_Mul(sp.Mul(*rest, *logs, evaluate=False))
        finally:
            self._settings["order"] = order

    _print_Add = TexPrinter._print_Add
    _print_Heaviside = TexPrinter._print_Heaviside

    def _print_KroneckerDelta(self, expr, exp=None) -> str:
        i, j = expr.args
        return rf"\mathbb{{1}}\left[{self._print(i)} = {self._print(j)}\right]"

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        (var, _count), = expr.variable_count
        return rf"\frac{{\partial {self._print(expr.expr)}}}{{\partial {self._print(var)}}}"

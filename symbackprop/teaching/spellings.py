"""The network's quantities as derivations write them: LaTeX spellings to symbols and back to keys.

A :class:`SymbolTable` maps a canonical LaTeX spelling (``\\hat{y}``, ``w_5``, ``\\delta_{z_3}``)
to the network's symbol, δ or function, through the network's own notation and a spec's
``[lint.symbols]`` table; :func:`claim_key` names a quantity the way a claims file does
(``dL/dw5``, ``w5'``). lint reads a document's sides with the first and hands grade the second;
grade reads a claim written as the notes print it with both.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import sympy as sp

from ..core.functions import ACTIVATIONS
from ..core.graph import Kind
from ..derivation.reverse import Derivation
from ..printing.latex import TexPrinter
from .latexparse import Updated, canonical

__all__ = ["SymbolTable", "read_lint_symbols", "claim_key"]

_SQUARED = re.compile(r"\\left\((.+)\\right\)\^\{?2\}?")
_MAX_TABLE = 500


class SymbolTable:
    """Spellings (canonical LaTeX) to the network's symbols, δs and functions.

    >>> import symbackprop as sb
    >>> t = SymbolTable(sb.derive(sb.mlp([2, 2, 1])))
    >>> t(r"\\hat{y}"), t("w_5"), t(r"\\delta_z_3")
    (yhat, w5, Derivative(L, z3))
    """

    def __init__(self, derivation: Derivation, extra: Mapping[str, object] | None = None):
        g = self.graph = derivation.graph
        tex = TexPrinter(derivation)
        loss = g.loss_symbol
        self.table: dict[str, object] = {}
        self.names_delta: dict[str, sp.Expr] = {}
        for s in g.symbols:
            for spelling in (g.latex_name(s), tex(s)):
                if spelling:
                    self.table.setdefault(canonical(spelling), s)
                    squared = _SQUARED.fullmatch(spelling)
                    if squared:  # a variance printed (σ^{[2]})²: σ^{[2]} is its square root
                        self.table.setdefault(canonical(squared.group(1)), sp.sqrt(s))
        constants = {a for n in g.nodes for a in g.expr(n).atoms(sp.NumberSymbol)}
        for c in constants:  # a norm's ε: a constant the notes name
            spelling = sp.latex(c)
            if spelling.startswith("\\") and spelling[1:].isalpha():
                self.table.setdefault(canonical(spelling), c)
                if spelling == r"\epsilon":
                    self.table.setdefault(canonical(r"\varepsilon"), c)
        for node in g.nodes:
            if node == loss:
                continue
            delta = sp.Derivative(loss, node, evaluate=False)
            spellings = [derivation.delta_latex(node), rf"\delta_{{{tex(node)}}}"]
            key = g.delta_key(node)
            for spelling in filter(None, spellings):
                self.table.setdefault(canonical(spelling), delta)
            self.names_delta[f"delta_{node.name}"] = delta
            if key:
                self.names_delta[key] = delta
        self.names = {s.name: s for s in g.symbols}
        for spelling, target in (extra or {}).items():
            if isinstance(target, bool):
                raise ValueError(f"lint.symbols.{spelling}: expected a name or a number")
            if isinstance(target, int | float | Decimal):
                self.table[canonical(spelling)] = sp.Rational(str(target))
            elif isinstance(target, str) and target in ACTIVATIONS:
                self.table[canonical(spelling) + "()"] = ACTIVATIONS[target]
            elif isinstance(target, str) and target in g:
                self.table[canonical(spelling)] = g.symbol(target)
            elif isinstance(target, str) and target in self.names_delta:
                self.table[canonical(spelling)] = self.names_delta[target]
            else:
                raise ValueError(f"lint.symbols: {str(spelling)[:40]!r} = {str(target)[:40]!r} "
                                 "names nothing in this network")

    def __call__(self, spelling: str):
        """The symbol a canonical spelling names (None: unknown)."""
        found = self.table.get(spelling)
        if found is not None or spelling.endswith("()"):
            return found
        if spelling in self.names:
            return self.names[spelling]
        if spelling in self.names_delta:
            return self.names_delta[spelling]
        for prefix in ("\\delta_", "delta_"):
            if spelling.startswith(prefix):
                inner = self(spelling[len(prefix):])
                if isinstance(inner, sp.Symbol) and self.graph.kind(inner) is Kind.NODE:
                    return sp.Derivative(self.graph.loss_symbol, inner, evaluate=False)
        return None


def read_lint_symbols(spec_path: str | Path) -> dict[str, object]:
    """The ``[lint.symbols]`` table of a spec file (spellings the notation does not know)."""
    with open(spec_path, "rb") as f:
        data = tomllib.load(f)
    table = data.get("lint", {})
    if not isinstance(table, dict) or set(table) - {"symbols"}:
        raise ValueError(f"{spec_path}: [lint] holds one table, [lint.symbols]")
    symbols = table.get("symbols", {})
    if not isinstance(symbols, dict) or len(symbols) > _MAX_TABLE:
        raise ValueError(f"{spec_path}: [lint.symbols] must map at most {_MAX_TABLE} spellings")
    return symbols


def claim_key(expr: sp.Expr, g) -> str:
    """grade's name for a quantity (``z1``, ``dL/dw5``, ``dyhat/dz3``, ``w5'``), or ''.

    >>> import symbackprop as sb
    >>> g = sb.mlp([2, 2, 1])
    >>> claim_key(sp.Derivative(g.loss_symbol, g.symbol("w5")), g), claim_key(sp.Integer(2), g)
    ('dL/dw5', '')
    """
    if isinstance(expr, Updated):
        return expr.name
    if expr.is_Symbol and expr in g:
        return expr.name
    if isinstance(expr, sp.Derivative) and expr.expr.is_Symbol and expr.expr in g:
        return f"d{expr.expr.name}/d{expr.variables[0].name}"
    return ""

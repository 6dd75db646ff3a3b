"""The builders' common ground: the derivation, the printer and equations verified as made."""

from __future__ import annotations

import math
import re

import sympy as sp

from ..builders.base import Model
from ..builders.mlp import MLP
from ..check.verify import Meaning, VerificationError, elementary, verify
from ..check.worked import WorkedExample
from ..codegen.scalar import number
from ..derivation.reverse import Derivation
from ..printing.latex import Tex, TexPrinter
from .layout import RELATION, ROW_LIMIT, width
from .model import Equation, Step

# A negative number alone as a function's argument needs no brackets of its own: σ(−0.13),
# softmax(−0.16, 0.23), not σ((−0.13)); within a product or a power it keeps them.
_ARGUMENT_PARENS = re.compile(
    r"(\\left\(|, )\\left\((-[0-9.]+)\\right\)(?=\s*(?:, |\\right\)))")

#: A chain with more paths than this is shown in δ form only (it would not fit a page).
MAX_SHOWN_PATHS = 4
#: A formula longer than this (in LaTeX characters) would run off the page: it is left out.
MAX_LINE = 160
#: Notes write several equations per parameter (about 10 ms each): above this many parameters
#: they would run to hundreds of pages, and the matrix form says the same in a dozen lines.
MAX_NOTES_PARAMETERS = 1000
#: Sums with more terms than this are broken across lines.
TERMS_PER_LINE = 4


class Base:
    """What every section builder shares: the derivation, its printer, and verified equations."""

    def __init__(self, d: Derivation, example: WorkedExample | None, options: dict) -> None:
        self.d = d
        self.g = d.graph
        self.example = example
        self.tex = TexPrinter(d)
        self.meaning = Meaning(d, values=example.values if example else None)
        self.methods: dict[str, int] = {}
        self.options = options
        self.mlp = self.g if isinstance(self.g, MLP) else None
        #: Numbers the worked example has computed beyond the nodes (the δs), by symbol name.
        self.known: dict[str, float] = {}

    def count(self, method: str, n: int = 1) -> None:
        """Record that ``n`` equations were checked by ``method`` (one of METHODS)."""
        self.methods[method] = self.methods.get(method, 0) + n

    # -- equations, each verified as it is made ----------------------------------------------
    def equation(self, label: str, lhs: sp.Expr, *rhs: sp.Expr | tuple[sp.Expr, Tex],
                 lhs_tex: Tex | None = None) -> Equation:
        """lhs = rhs1 = rhs2 …; each rhs is an expression, or (expression, how to print it)."""
        steps, method = [], "identical"
        for r in rhs:
            expr, printed = r if isinstance(r, tuple) else (r, None)
            check = verify(lhs, expr, label, self.meaning)
            method = _weaker(method, check.method)
            lines = printed if isinstance(printed, list) else [printed or self.tex(expr)]
            steps.append(Step(lines))
        self.count(method)
        return Equation(label, lhs_tex or self.tex(lhs), steps, method)

    def numbers(self, label: str, lhs: Tex, symbolic: sp.Expr, value: float) -> Equation:
        """symbolic form = numbers substituted = result, checked against the carried values."""
        ex = self.example
        shown = {s: ex.show(self._value(s)) for s in symbolic.free_symbols}
        printer = TexPrinter(self.d, mul_symbol="dot")
        printer.names.update(
            {s: (rf"\left({v}\right)" if v.startswith("-") else v) for s, v in shown.items()}
        )
        full = _evaluate(symbolic, {s: self._value(s) for s in symbolic.free_symbols})
        if not math.isfinite(full):
            full = self._precise(symbolic)
        if ex.rounding == "display" and not _close(full, value):
            raise VerificationError(
                f"equation {label!r} does not hold: {symbolic} = {full!r}, not {value!r}"
            )
        from_shown = _evaluate(symbolic, {s: float(v) for s, v in shown.items()})
        relation = "=" if ex.show(from_shown) == ex.show(value) else r"\approx"
        self.count("numbers")
        # A model's long sums (∂L/∂U_11 over 16 steps) are broken across lines, in graph order;
        # otherwise Σ w x first and the bias last, as the forward pass prints it.
        # The numbers decide too: eight products with signed factors print twice as wide as
        # their symbols (a head over two channels' features ran 270 pt past the margin).
        # (any model's: its answer key writes every equation out, with no focus)
        long_symbols = (getattr(self, "focus", None) is not None and isinstance(symbolic, sp.Add)
                        and len(self.tex(symbolic)) > MAX_LINE)
        long = long_symbols or isinstance(self.g, Model) and isinstance(symbolic, sp.Add) and (
            width(printer(symbolic)) > ROW_LIMIT - width(lhs) - RELATION)
        terms = None
        if long_symbols:
            terms = self.in_order(symbolic)
        elif isinstance(symbolic, sp.Add) and hasattr(self, "_textbook_terms"):
            terms = self._textbook_terms(symbolic)

        def substituted(text: str) -> str:
            return _ARGUMENT_PARENS.sub(r"\1\2", text)

        if long:
            steps = [Step(broken([self.tex(a) for a in terms], self.tex))]
        elif terms:
            steps = [Step([self.tex.terms(self.tex(a) for a in terms)])]
        else:
            steps = [Step([self.tex(symbolic)])]
        if symbolic.free_symbols and not isinstance(symbolic, sp.Symbol):
            if long:
                steps.append(Step(broken([substituted(printer(a)) for a in terms], self.tex)))
            elif terms:
                steps.append(Step([Tex(substituted(printer.terms(printer(a) for a in terms)))]))
            else:
                steps.append(Step([Tex(substituted(printer(symbolic)))]))
        steps.append(Step([Tex(ex.show(value))], relation))
        return Equation(label, lhs, steps, "numbers")

    def _precise(self, expr: sp.Expr) -> float:
        """``expr`` with every node recomputed from the leaves in 50 digits. Floats round a
        saturated σ to exactly 1, so 0·log(1 − ŷ) becomes nan; these digits keep what the
        evaluator's stable forms keep."""
        if "_precise_nodes" not in self.__dict__:
            g, values = self.g, self.example.values
            known = {s: sp.Float(values[s.name], 50) for s in g.leaves}
            for v in g.nodes:
                known[v] = sp.N(elementary(g.expr(v)).xreplace(known), 50)
            self._precise_nodes = known
        known = dict(self._precise_nodes)
        known.update({s: sp.Float(self._value(s), 50) for s in expr.free_symbols
                      if s not in known})
        try:
            return float(sp.N(elementary(expr).xreplace(known), 50))
        except TypeError:  # complex or undefined
            return math.nan

    def _value(self, s: sp.Symbol) -> float:
        ex = self.example
        for table in (ex.nodes, ex.values, self.known):
            if s.name in table:
                return table[s.name]
        # A δ the gradient's δ form uses but the section of named δs does not list (an RNN's
        # δ of a_t, where its textbook names δ_t on h_t): the engine's own number.
        node = next((v for v, sym in self.d.delta_symbols.items() if sym == s), None)
        if node is not None and node.name in ex.deltas:
            return ex.deltas[node.name]
        return math.nan


def broken(terms: list[str], tex: TexPrinter) -> list[Tex]:
    """Printed terms as one line, or as many lines as keep each within MAX_LINE (of LaTeX, a
    fair proxy for width); at most TERMS_PER_LINE terms to a line.

    >>> broken(["a", "-b"], TexPrinter.__new__(TexPrinter))
    ['a - b']
    """
    whole = tex.terms(terms)
    if len(whole) <= MAX_LINE:
        return [whole]
    chunks: list[list[str]] = [[]]
    for term in terms:
        if chunks[-1] and (len(chunks[-1]) == TERMS_PER_LINE
                           or len(tex.terms([*chunks[-1], term])) > MAX_LINE):
            chunks.append([])
        chunks[-1].append(term)
    lines = [tex.terms(chunk) for chunk in chunks]
    return [Tex(x if not k or x.startswith("-") else "+ " + x) for k, x in enumerate(lines)]


def _layer(offset: int) -> str:
    """``l``, ``l+1`` or ``l-1``: a layer index written as a textbook writes it."""
    return "l" if offset == 0 else f"l{offset:+d}"


def _letters(offset: int, unit: str = "i") -> dict[str, str]:
    """Notation fields for layer l+offset with the unit letter ``unit`` (never ``l-1+1``)."""
    return {"i": unit, "j": unit, "ij": unit, "ji": unit, "l": _layer(offset), "n": unit,
            "lp1": _layer(offset + 1), "lm1": _layer(offset - 1)}


def _weaker(a: str, b: str) -> str:
    order = ["identical", "symbolic", "numeric"]
    return order[max(order.index(a), order.index(b))]


def _evaluate(expr: sp.Expr, values: dict) -> float:

    return number(expr, values)


def _close(a: float, b: float, digits: int | None = None, by_hand: bool = False) -> bool:
    if by_hand and digits is not None:
        return abs(a - b) <= 10 * 10.0 ** (-digits) * max(1.0, abs(b))
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def _plain(x: float) -> str:
    return f"{x:g}"


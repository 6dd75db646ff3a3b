"""The backward pass: each error signal from the ones after it."""

from __future__ import annotations

import sympy as sp

from ..derivation.walk import is_small
from ..printing.latex import Tex
from .base import MAX_LINE, broken
from .layout import pack
from .model import Paragraph, Section


class DeltasSection:
    def deltas(self) -> Section:
        d, g, t = self.d, self.g, self.tex
        s = Section("deltas")
        named = [v for v in g.delta_nodes if v in d.deltas]
        every = len(named)
        if self.focus is not None:  # the rest follow the general form's recursion
            named = [v for v in named if v in self.focus.deltas]
        s.blocks.append(Paragraph("deltas_intro", {
            "definition": Tex(r"\delta_v = \frac{\partial " + t(g.loss_symbol) + r"}{\partial v}"),
            "recursion": Tex(r"\delta_v = \sum_c \delta_c \, \frac{\partial c}{\partial v}"),
        }))
        eqs = []
        for v in self._backward_order(named):
            delta = d.delta(v)
            rhs = [sp.Derivative(g.loss_symbol, v)]
            rec = delta.recursion
            printed = self._delta_recursion_tex(v, rec)
            if self.focus is not None and len(printed) > MAX_LINE and isinstance(rec, sp.Add):
                printed = broken([self._ordered_term(x) for x in self.in_order(rec)], t)
            rhs.append((rec, printed))
            notes = {}
            # is_small first: count_ops walks the whole tree, which for an RNN's δ in node
            # symbols grows exponentially with the number of steps.
            if delta.value != rec and is_small(delta.value, 200) and sp.count_ops(delta.value) <= 40 \
                    and len(t(delta.value)) <= MAX_LINE:
                if delta.assumes:
                    group = next(gr for gr in g.one_hot_groups
                                 if set(gr) <= d.exact_value(v).free_symbols)
                    notes[len(rhs)] = Tex(r"\bigl(" + t(sp.Add(*group)) + r" = 1\bigr)")
                rhs.append(delta.value)
            eq = self.equation(f"delta {v}", delta.symbol, *rhs)
            for k, note in notes.items():
                eq.steps[k].note = note
            eqs.append(eq)
        s.blocks.extend(pack(eqs))
        self.rest(s, every - len(named))
        if any(d.delta(v).assumes for v in named):
            s.blocks.append(Paragraph("one_hot"))
        return s

    def _backward_order(self, named: list[sp.Symbol]) -> list[sp.Symbol]:
        """Output layer first, as the sweep goes; within a layer the units in ascending order."""
        if not self.mlp:
            return list(reversed(named))
        net, wanted = self.mlp, set(named)
        return [net.pre(l, j) for l in range(net.depth, 0, -1)  # noqa: E741
                for j in range(1, net.sizes[l] + 1) if net.pre(l, j) in wanted]

    def _delta_recursion_tex(self, v: sp.Symbol, rec: sp.Expr) -> Tex:
        # Print Σ_c δ_c ∂c/∂a · ∂a/∂v in the textbook's order when v feeds one activation.
        d, t = self.d, self.tex
        children = [c for c in d._children[v] if c in d.deltas]
        if len(children) == 1 and children[0] != d.loss:
            a = children[0]
            inner = d.deltas[a]
            outer = d.local(a, v)
            named = set(self.g.delta_nodes)
            if any(c in named or c == d.loss for c in d._children[a]):
                inner_expr = d._through(a, named)
                if isinstance(inner_expr, sp.Add):
                    terms = [self._ordered_term(term) for term in inner_expr.args]
                    body = self.tex.terms(terms)
                    return Tex(rf"\left({body}\right)" + _times(t, outer))
                return Tex(self._ordered_term(inner_expr) + _times(t, outer))
            return Tex(t.factor(inner) + _times(t, outer))
        return t(rec)

    def _ordered_term(self, term: sp.Expr) -> str:
        """δ first, then the rest: δ_k w_jk as the textbooks write it."""
        deltas = set(self.d.delta_symbols.values())
        factors = sp.Mul.make_args(term)
        first = [f for f in factors if f in deltas]
        rest = [f for f in factors if f not in deltas]
        coeff = [f for f in rest if f.is_number]
        rest = [f for f in rest if not f.is_number]
        sign = ""
        if coeff and coeff[0] == -1:
            sign, coeff = "-", []
        return sign + self.tex.product([*coeff, *first, *rest], sep=" ")


def _times(t, factor: sp.Expr) -> str:
    """`` · factor``, or nothing for a factor of 1 (an identity activation's derivative)."""
    return "" if factor == 1 else " " + t.factor(factor)

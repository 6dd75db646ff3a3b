"""The forward pass: each node from the ones before it."""

from __future__ import annotations

import sympy as sp

from ..printing.latex import Tex
from .base import TERMS_PER_LINE
from .layout import pack
from .model import Equations, Paragraph, Section


class ForwardSection:
    def forward(self) -> Section:
        g = self.g
        s = Section("forward")
        s.blocks.append(Paragraph("forward_intro"))
        for key, args, nodes in self._layers():
            sub = Section(key, args)
            shown = [v for v in nodes if self.shows(v)]
            eqs = [self.equation(f"forward {v}", v, self._forward_rhs(v)) for v in shown]
            sub.blocks.extend(pack(eqs, kinds=[type(self.g.expr(v)) for v in shown]))
            self.rest(sub, len(nodes) - len(shown))
            s.subsections.append(sub)
        sub = Section("loss")
        loss = g.loss_symbol
        sub.blocks.append(Equations([self.equation(f"loss {loss}", loss, self._forward_rhs(loss))]))
        s.subsections.append(sub)
        return s

    def _textbook_terms(self, expr: sp.Add) -> list[sp.Expr]:
        """Σ w x in the order of the inputs first, a lone bias last (− b for a threshold)."""
        order = {p: k for k, p in enumerate(self.g.parameters)}
        nodes = {v: k for k, v in enumerate(self.g.symbols)}

        def key(term: sp.Expr):
            syms = sorted(term.free_symbols, key=lambda x: nodes.get(x, len(nodes)))
            params = [order[x] for x in syms if x in order]
            lone_parameter = len(syms) == 1 and syms[0] in order
            first = min((nodes.get(x, len(nodes)) for x in syms if x not in order), default=0)
            return (lone_parameter, first, params)

        return sorted(expr.args, key=key)

    def _forward_rhs(self, v: sp.Symbol):
        expr = self.g.expr(v)
        if isinstance(expr, sp.Add):
            return (expr, self._broken_sum(self._textbook_terms(expr)))
        return expr

    def _broken_sum(self, terms) -> list[Tex]:
        printed = [self.tex(a) for a in terms]
        lines = [self.tex.terms(printed[k:k + TERMS_PER_LINE])
                 for k in range(0, len(printed), TERMS_PER_LINE)]
        return [Tex(("+ " if k and not ln.startswith("-") else "") + ln)
                for k, ln in enumerate(lines)]

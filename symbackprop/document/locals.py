"""Local derivatives: one per edge of the graph."""

from __future__ import annotations

import sympy as sp

from ..core.graph import Kind
from .model import Equations, Paragraph, Section


class LocalsSection:
    def locals_(self) -> Section:
        s = Section("locals")
        s.blocks.append(Paragraph("locals_intro"))
        eqs, left_out = [], 0
        for c in self.g.nodes:
            if not self.shows(c):
                left_out += 1
                continue
            for v in self.g.parents(c):
                if self.g.kind(v) in (Kind.INPUT, Kind.TARGET) or not self.shows(v):
                    continue  # no gradient flows into data
                if c in self.d.deltas:
                    local = self.d.local(c, v)
                    lhs = sp.Derivative(c, v)
                    eqs.append(self.equation(f"d{c}/d{v}", self._as_local(lhs), local,
                                             lhs_tex=self.tex(lhs)))
        s.blocks.append(Equations(eqs, columns=3 if len(eqs) > 8 else 1))
        self.rest(s, left_out)
        return s

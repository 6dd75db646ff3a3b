"""Local derivatives: one per edge of the graph."""

from __future__ import annotations

import sympy as sp

from ..core.graph import Kind
from .context import DocumentContext
from .model import Equations, Paragraph, Section

__all__ = ["locals_section"]


def locals_section(ctx: DocumentContext) -> Section:
    """∂c/∂v for every edge a gradient flows along (none into the data)."""
    d, g = ctx.derivation, ctx.graph
    s = Section("locals")
    s.blocks.append(Paragraph("locals_intro"))
    eqs, left_out = [], 0
    for c in g.nodes:
        if not ctx.shows(c):
            left_out += 1
            continue
        for v in g.parents(c):
            if g.kind(v) in (Kind.INPUT, Kind.TARGET) or not ctx.shows(v):
                continue  # no gradient flows into data
            if c in d.deltas:
                local = d.local(c, v)
                lhs = sp.Derivative(c, v)
                eqs.append(ctx.equation(f"d{c}/d{v}", ctx.as_local(lhs), local,
                                        lhs_tex=ctx.tex(lhs)))
    s.blocks.append(Equations(eqs, columns=3 if len(eqs) > 8 else 1))
    ctx.rest(s, left_out)
    return s

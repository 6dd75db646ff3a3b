"""The forward pass: each node from the ones before it."""

from __future__ import annotations

import sympy as sp

from ..printing.latex import Tex
from .context import DocumentContext
from .formulas import broken_sum
from .layout import pack
from .model import Equations, Paragraph, Section

__all__ = ["forward_section"]


def forward_section(ctx: DocumentContext) -> Section:
    """Every node's definition, layer by layer (an MLP) or in graph order, then the loss."""
    g = ctx.graph
    s = Section("forward")
    s.blocks.append(Paragraph("forward_intro"))
    for key, args, nodes in _layers(ctx):
        sub = Section(key, args)
        shown = [v for v in nodes if ctx.shows(v)]
        eqs = [ctx.equation(f"forward {v}", v, _forward_rhs(ctx, v)) for v in shown]
        sub.blocks.extend(pack(eqs, kinds=[type(g.expr(v)) for v in shown]))
        ctx.rest(sub, len(nodes) - len(shown))
        s.subsections.append(sub)
    sub = Section("loss")
    loss = g.loss_symbol
    sub.blocks.append(Equations([ctx.equation(f"loss {loss}", loss, _forward_rhs(ctx, loss))]))
    s.subsections.append(sub)
    return s


def _layers(ctx: DocumentContext) -> list[tuple[str, dict, list[sp.Symbol]]]:
    """The subsections' keys, arguments and nodes: an MLP's layers, else one of every node."""
    g, net = ctx.graph, ctx.mlp
    if net:
        out = []
        for l in range(1, net.depth + 1):  # noqa: E741
            key = "output_layer" if l == net.depth else "hidden_layer"
            units = range(1, net.sizes[l] + 1)
            out.append((key, {"l": l}, [net.pre(l, j) for j in units]
                        + [net.act(l, j) for j in units]))
        return out
    return [("nodes", {}, [v for v in g.nodes if v != g.loss_symbol])]


def _forward_rhs(ctx: DocumentContext, v: sp.Symbol):
    expr = ctx.graph.expr(v)
    if isinstance(expr, sp.Add):
        return (expr, _broken_sum(ctx, ctx.textbook_terms(expr)))
    return expr


def _broken_sum(ctx: DocumentContext, terms) -> list[Tex]:
    return broken_sum([ctx.tex(a) for a in terms], ctx.tex)

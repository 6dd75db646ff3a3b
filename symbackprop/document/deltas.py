"""The backward pass: each error signal from the ones after it."""

from __future__ import annotations

import sympy as sp

from ..derivation.walk import is_small
from ..printing.latex import Tex
from .context import MAX_SHOWN_FACTORS, DocumentContext
from .formulas import MAX_LINE, broken
from .layout import pack
from .model import Paragraph, Section

__all__ = ["deltas_section"]


def deltas_section(ctx: DocumentContext) -> Section:
    """Each named δ as its definition, its recursion and (when short) its value."""
    d, g, t, focus = ctx.derivation, ctx.graph, ctx.tex, ctx.focus
    s = Section("deltas")
    named = [v for v in g.delta_nodes if v in d.deltas]
    every = len(named)
    if focus is not None:  # the rest follow the general form's recursion
        named = [v for v in named if v in focus.deltas]
    s.blocks.append(Paragraph("deltas_intro", {
        "definition": Tex(r"\delta_v = \frac{\partial " + t(g.loss_symbol) + r"}{\partial v}"),
        "recursion": Tex(r"\delta_v = \sum_c \delta_c \, \frac{\partial c}{\partial v}"),
    }))
    eqs, assumes = [], False
    for v in ctx.backward_order(named):
        # A δ far from the loss is a product of as many factors in node symbols, each built
        # from the one after it: quadratic in the depth, and too long to print. Its
        # recursion alone is written; the value only for a δ whose chains are short.
        delta = d.delta(v) if ctx.chain_factors(v) <= MAX_SHOWN_FACTORS else None
        rhs = [sp.Derivative(g.loss_symbol, v)]
        rec = delta.recursion if delta is not None else d.recursion(v, ctx.named_nodes)
        printed = _delta_recursion_tex(ctx, v, rec)
        if focus is not None and len(printed) > MAX_LINE and isinstance(rec, sp.Add):
            printed = broken([ctx.ordered_term(x) for x in ctx.in_order(rec)], t)
        rhs.append((rec, printed))
        notes = {}
        # is_small first: count_ops walks the whole tree, which for an RNN's δ in node
        # symbols grows exponentially with the number of steps.
        if delta is not None and delta.value != rec and is_small(delta.value, 200) \
                and sp.count_ops(delta.value) <= 40 and len(t(delta.value)) <= MAX_LINE:
            if delta.assumes:
                group = next(gr for gr in g.one_hot_groups
                             if set(gr) <= d.exact_value(v).free_symbols)
                notes[len(rhs)] = Tex(r"\bigl(" + t(sp.Add(*group)) + r" = 1\bigr)")
            rhs.append(delta.value)
        eq = ctx.equation(f"delta {v}", d.delta_symbols[v], *rhs)
        for k, note in notes.items():
            eq.steps[k].note = note
        drawn = ctx.drawing[1].get(v.name)  # the drawing the gradients' paths run along
        eq.node = drawn if isinstance(drawn, str) else None
        eqs.append(eq)
        assumes = assumes or delta is not None and bool(delta.assumes)
    s.blocks.extend(pack(eqs))
    ctx.rest(s, every - len(named))
    if assumes:
        s.blocks.append(Paragraph("one_hot"))
    return s


def _delta_recursion_tex(ctx: DocumentContext, v: sp.Symbol, rec: sp.Expr) -> Tex:
    # Print Σ_c δ_c ∂c/∂a · ∂a/∂v in the textbook's order when v feeds one activation; the
    # δs printed are named ones only (an RNN's δᵒ_t, never δ of ŷ_t or of L_t, which no line
    # defines).
    d, t = ctx.derivation, ctx.tex
    children = [c for c in d.children(v) if c in d.deltas]
    if len(children) == 1 and children[0] != d.loss:
        a = children[0]
        outer = d.local(a, v)
        named = ctx.named_nodes
        if a in named:
            return Tex(t.factor(d.delta_symbols[a]) + _times(t, outer))
        inner_expr = d.recursion(a, named)
        if isinstance(inner_expr, sp.Add):
            terms = [ctx.ordered_term(term) for term in inner_expr.args]
            body = t.terms(terms)
            if outer == 1:  # ŷ = o: nothing multiplies the sum, so no brackets around it
                return Tex(body)
            return Tex(rf"\left({body}\right)" + _times(t, outer))
        return Tex(ctx.ordered_term(inner_expr) + _times(t, outer))
    return t(rec)


def _times(t, factor: sp.Expr) -> str:
    """`` · factor``, or nothing for a factor of 1 (an identity activation's derivative)."""
    return "" if factor == 1 else " " + t.factor(factor)

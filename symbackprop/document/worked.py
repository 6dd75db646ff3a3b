"""A worked example: the derivation with numbers."""

from __future__ import annotations

import sympy as sp

from ..check.verify import VerificationError
from ..derivation.reverse import MAX_CHAIN_PATHS
from ..printing.latex import Tex
from .context import MAX_SHOWN_FACTORS, DocumentContext, number, values_agree
from .layout import pack
from .model import Equation, Paragraph, Section, Step

__all__ = ["worked_section"]


def worked_section(ctx: DocumentContext) -> Section:
    """The given numbers, the forward pass, the δs and gradients, and the updated parameters,
    each reusing the numbers above it as a student would: every symbol a line uses is given
    or defined by a line above it (the context refuses any other, naming it)."""
    ex, g, t = ctx.example, ctx.graph, ctx.tex
    s = Section("worked")
    s.blocks.append(Paragraph("worked_given", {
        "given": [Tex(f"{t(x)} = {ex.show(ex.values[x.name])}") for x in g.leaves],
        "eta": Tex(rf"\eta = {_plain(ex.learning_rate)}"),
        "by_hand": ex.rounding == "by_hand", "digits": ex.digits,
    }))
    nodes, deltas = _needed(ctx)
    fwd = Section("worked_forward")
    fwd.blocks.extend(pack([
        ctx.numbers(f"value of {v}", t(v), g.expr(v), ex.nodes[v.name], defines=v)
        for v in nodes
    ], kinds=[type(g.expr(v)) for v in nodes]))
    s.subsections.append(fwd)
    s.subsections.append(_backward(ctx, deltas))
    s.subsections.append(_update(ctx))
    return s


def _needed(ctx: DocumentContext) -> tuple[list[sp.Symbol], list[sp.Symbol]]:
    """The nodes (in forward order) and named δs (in backward order) the example computes.

    Without a focus, all of them. A model's example shows a few gradients: it computes what
    those gradients and the loss use, and what that uses in turn, and nothing else, so every
    number it prints is computed above it (a focus that left h_4 or δ_1 to the general form
    would print their numbers from nowhere).
    """
    d, g = ctx.derivation, ctx.graph
    named = [v for v in g.delta_nodes if v in d.deltas]
    if ctx.focus is None:
        return list(g.nodes), ctx.backward_order(named)
    of_delta = {d.delta_symbols[v]: v for v in named}
    nodes, wanted = set(g.nodes), set()
    todo = [g.loss_symbol, *(s for p in ctx.shown_parameters
                             for s in d.gradient(p, form="named").free_symbols)]
    while todo:
        s = todo.pop()
        if s in wanted:
            continue
        if s in of_delta:
            wanted.add(s)
            todo.extend(_delta_expr(ctx, of_delta[s]).free_symbols)
        elif s in nodes:
            wanted.add(s)
            todo.extend(g.expr(s).free_symbols)
    return ([v for v in g.nodes if v in wanted],
            ctx.backward_order([v for v in named if d.delta_symbols[v] in wanted]))


def _delta_expr(ctx: DocumentContext, v: sp.Symbol) -> sp.Expr:
    """δ_v as the example computes it: from the named δs after it (the recursion alone: a δ's
    value in node symbols can be huge), or ŷ − y where the targets are one-hot."""
    d = ctx.derivation
    rec = d.recursion(v)
    if rec.free_symbols & ctx.delta_symbols or not d.graph.one_hot_groups:
        return rec
    delta = d.delta(v)
    if delta.assumes and values_agree(
            number(delta.value, {s: ctx.value(s) for s in delta.value.free_symbols}),
            ctx.evaluated.deltas[v.name]):
        return delta.value  # the targets are one-hot: ŷ − y, as the δ section says
    return rec


def _backward(ctx: DocumentContext, named: list[sp.Symbol]) -> Section:
    ex, t = ctx.example, ctx.tex
    back = Section("worked_backward")
    shown = ctx.shown_parameters
    eqs = []
    seen = set()
    # A model's notes give these inside the δ numbers below (its general form comes first).
    # The chains' factors, each once, found without listing a path (a deep net has 4^15).
    for p in shown if ctx.focus is None else []:
        if ctx.derivation.path_count(p) > MAX_CHAIN_PATHS \
                or ctx.chain_factors(p) > MAX_SHOWN_FACTORS:
            # too many or too long to be a list a reader follows (and each chain's edges,
            # walked per parameter, were quadratic in a deep net): the δs below carry them
            continue
        for f in ctx.derivation.chain_edges(p):
            key = (f.of.name, f.wrt.name)
            if key in seen:
                continue
            seen.add(key)
            lhs = t(sp.Derivative(f.of, f.wrt))
            eqs.append(ctx.numbers(f"d{f.of}/d{f.wrt}", lhs, f.result,
                                   ex.local_derivatives[key]))
    if eqs:
        back.blocks.append(Paragraph("worked_locals"))
        back.blocks.extend(pack(eqs, reorder=True))
    deltas = _delta_numbers(ctx, named)
    if deltas:
        back.blocks.append(Paragraph("worked_deltas"))
        back.blocks.extend(pack(deltas))
    grads = [_gradient_numbers(ctx, p) for p in shown]
    back.blocks.append(Paragraph("worked_gradients"))
    back.blocks.extend(pack(grads))
    return back


def _update(ctx: DocumentContext) -> Section:
    ex, g, t = ctx.example, ctx.graph, ctx.tex
    upd = Section("worked_update")
    eqs = []
    eta = sp.Symbol("eta")
    for p in ctx.shown_parameters:
        new = ex.updated[p.name]
        expected = ex.values[p.name] - ex.learning_rate * ex.gradients[p.name]
        if not values_agree(new, expected, digits=ex.digits, by_hand=ex.rounding == "by_hand"):
            raise VerificationError(f"equation 'update {p}' does not hold")
        grad = _bracketed(ex.show(ex.gradients[p.name]))
        from_shown = float(ex.show(ex.values[p.name])) - ex.learning_rate * float(
            ex.show(ex.gradients[p.name]))
        rel = "=" if ex.show(from_shown) == ex.show(new) else r"\approx"
        eqs.append(Equation(
            f"update {p}", Tex(rf"{{{t(p)}}}'"),
            [Step([Tex(rf"{t(p)} - {t(eta)} \frac{{\partial {t(g.loss_symbol)}}}"
                       rf"{{\partial {t(p)}}}")]),
             Step([Tex(rf"{ex.show(ex.values[p.name])} - {_plain(ex.learning_rate)} "
                       rf"\cdot {grad}")]),
             Step([Tex(ex.show(new))], rel)],
            "numbers"))
        ctx.count("numbers")
    upd.blocks.extend(pack(eqs))
    return upd


def _delta_numbers(ctx: DocumentContext, named: list[sp.Symbol]) -> list[Equation]:
    """Each error signal in ``named`` in numbers, once, from the ones after it; each is added
    to the context's known numbers, for the δs and gradients that reuse it."""
    ex, d, t = ctx.example, ctx.derivation, ctx.tex
    engine = ctx.evaluated.deltas
    eqs = []
    for v in named:
        sym = d.delta_symbols[v]
        rec = _delta_expr(ctx, v)
        if ex.rounding == "by_hand":
            # A student rounds each δ before reusing it: so do we, from the shown numbers.
            known = {x: float(ex.show(ctx.value(x))) for x in rec.free_symbols}
            value = float(ex.show(number(rec, known)))
        else:
            value = engine[v.name]
        ctx.known[sym.name] = value
        eqs.append(ctx.numbers(f"value of {sym}", t(sym), rec, value, defines=sym))
    return eqs


def _gradient_numbers(ctx: DocumentContext, p: sp.Symbol) -> Equation:
    """∂L/∂p = (δ form) = numbers = value, reusing the δ numbers above."""
    ex, d = ctx.example, ctx.derivation
    lhs = ctx.tex(sp.Derivative(ctx.graph.loss_symbol, p))
    form = d.gradient(p, form="named")  # over the δs computed above, as the general form names them
    value = ex.gradients[p.name]
    engine = float(ctx.evaluated.gradients[p.name])
    if not values_agree(value, engine, digits=ex.digits, by_hand=ex.rounding == "by_hand"):
        raise VerificationError(f"equation 'gradient {p}' disagrees with the evaluator")
    if form == 0:
        ctx.count("numbers")
        return Equation(f"gradient {p}", lhs, [Step([Tex(ex.show(0.0))])], "numbers")
    return ctx.numbers(f"gradient {p}", lhs, form, value)


def _bracketed(shown: str) -> str:
    """A shown number as a factor: a negative one in brackets."""
    return rf"\left({shown}\right)" if shown.startswith("-") else shown


def _plain(x: float) -> str:
    return f"{x:g}"

"""A worked example: the derivation with numbers."""

from __future__ import annotations

import sympy as sp

from ..check.verify import VerificationError
from ..codegen.scalar import number
from ..printing.latex import Tex
from .context import DocumentContext, values_agree
from .layout import pack
from .model import Equation, Paragraph, Section, Step

__all__ = ["worked_section"]


def worked_section(ctx: DocumentContext) -> Section:
    """The given numbers, the forward pass, the δs and gradients, and the updated parameters,
    each reusing the numbers above it as a student would."""
    ex, g, t = ctx.example, ctx.graph, ctx.tex
    s = Section("worked")
    s.blocks.append(Paragraph("worked_given", {
        "given": [Tex(f"{t(x)} = {ex.show(ex.values[x.name])}") for x in g.leaves],
        "eta": Tex(rf"\eta = {_plain(ex.learning_rate)}"),
        "by_hand": ex.rounding == "by_hand", "digits": ex.digits,
    }))
    fwd = Section("worked_forward")
    fwd.blocks.extend(pack([
        ctx.numbers(f"value of {v}", t(v), g.expr(v), ex.nodes[v.name]) for v in g.nodes
        if ctx.shows(v)
    ], kinds=[type(g.expr(v)) for v in g.nodes if ctx.shows(v)]))
    s.subsections.append(fwd)
    s.subsections.append(_backward(ctx))
    s.subsections.append(_update(ctx))
    return s


def _backward(ctx: DocumentContext) -> Section:
    ex, g, t = ctx.example, ctx.graph, ctx.tex
    back = Section("worked_backward")
    shown = ctx.shown_parameters
    eqs = []
    seen = set()
    # A model's notes give these inside the δ numbers below (its general form comes first).
    for p in shown if ctx.focus is None else []:
        for path in ex.factors.get(p.name, []):
            for f in path:
                key = (f.of, f.wrt)
                if key in seen:
                    continue
                seen.add(key)
                lhs = t(sp.Derivative(g.symbol(f.of), g.symbol(f.wrt)))
                eqs.append(ctx.numbers(f"d{f.of}/d{f.wrt}", lhs, f.expr, f.value))
    if eqs:
        back.blocks.append(Paragraph("worked_locals"))
        back.blocks.extend(pack(eqs, reorder=True))
    deltas = _delta_numbers(ctx)
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


def _delta_numbers(ctx: DocumentContext) -> list[Equation]:
    """Each error signal in numbers, once, from the ones after it; each is added to the
    context's known numbers, for the δs and gradients that reuse it."""
    ex, d, g, t = ctx.example, ctx.derivation, ctx.graph, ctx.tex
    named = ctx.backward_order([v for v in g.delta_nodes if v in d.deltas])
    engine = d.evaluate(ex.values).deltas
    eqs, names = [], set(g.delta_nodes)
    for v in named:
        sym = d.delta_symbols[v]
        if ctx.focus is not None and v not in ctx.focus.deltas:
            # Left to the general form: its number as a reader would carry it.
            value = engine[v.name]
            ctx.known[sym.name] = (float(ex.show(value)) if ex.rounding == "by_hand"
                                   else value)
            continue
        delta = d.delta(v)
        rec = d._through(v, names)  # the recursion alone: δ values in node symbols can be huge
        if delta.assumes and not (rec.free_symbols & set(d.delta_symbols.values())) \
                and values_agree(number(delta.value, {s: ctx.value(s) for s in
                                                      delta.value.free_symbols}),
                                 engine[v.name]):
            rec = delta.value  # the targets are one-hot: ŷ − y, as the δ section says
        if ex.rounding == "by_hand":
            # A student rounds each δ before reusing it: so do we, from the shown numbers.
            known = {x: float(ex.show(ctx.value(x))) for x in rec.free_symbols}
            value = float(ex.show(number(rec, known)))
        else:
            value = engine[v.name]
        ctx.known[sym.name] = value
        eqs.append(ctx.numbers(f"value of {sym}", t(sym), rec, value))
    return eqs


def _gradient_numbers(ctx: DocumentContext, p: sp.Symbol) -> Equation:
    """∂L/∂p = (δ form) = numbers = value, reusing the δ numbers above."""
    ex, d = ctx.example, ctx.derivation
    lhs = ctx.tex(sp.Derivative(ctx.graph.loss_symbol, p))
    form = d.gradient(p, form="delta")
    value = ex.gradients[p.name]
    engine = float(d.evaluate(ex.values).gradients[p.name])
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

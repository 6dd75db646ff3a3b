"""Gradients of the parameters, an MLP's general form and matrix form, and the update."""

from __future__ import annotations

import sympy as sp

from ..check.verify import VerificationError, verify
from ..derivation.chains import Factor
from ..forms.matrix import MatrixLatexPrinter, matrix_form
from ..printing.latex import Tex
from .context import MAX_SHOWN_FACTORS, DocumentContext
from .formulas import MAX_LINE, broken, layer_letters
from .layout import pack
from .model import Equation, Equations, Paragraph, Section, Step
from .network import MAX_DRAWN_NODES

__all__ = ["gradients_section", "mlp_general_section", "matrix_section", "descent_section",
           "MAX_SHOWN_PATHS", "FOCUS_SHOWN_PATHS", "MAX_SHOWN_FACTORS"]

#: A chain with more paths than this is shown in δ form only (it would not fit a page).
MAX_SHOWN_PATHS = 4
#: A model's notes (its general form first) write a chain out only when it is this short.
FOCUS_SHOWN_PATHS = 2


def gradients_section(ctx: DocumentContext) -> Section:
    """Every parameter's gradient: the whole chain for the shown ones, else its δ form."""
    g, focus = ctx.graph, ctx.focus
    s = Section("gradients")
    s.blocks.append(Paragraph("gradients_intro"))
    shown = ctx.shown_parameters
    long = [p for p in shown if ctx.chain_factors(p) > MAX_SHOWN_FACTORS]
    written = [p for p in shown if ctx.chain_factors(p) <= MAX_SHOWN_FACTORS]
    if len(shown) < len(g.parameters) and focus is None and written:
        s.blocks.append(Paragraph("gradients_selection", {
            "shown": [Tex(ctx.tex(p)) for p in written],
            "full": not ctx.options.only and not long,
        }))
    if long and focus is None:
        s.blocks.append(Paragraph("gradients_long", {"count": len(long),
                                                      "factors": MAX_SHOWN_FACTORS}))
    groups = _parameter_groups(ctx)
    shown_set = set(shown)  # a tuple's `in` per parameter was quadratic in a deep net
    for key, args, params in groups:
        sub = Section(key, args) if len(groups) > 1 else s
        chains = [p for p in params if p in shown_set]
        # With a focus, the general form gives the rest (said once, below).
        short = [p for p in params if p not in shown_set] if focus is None else []
        if chains:
            sub.blocks.append(Equations([_gradient_equation(ctx, p, True) for p in chains]))
        if short:
            eqs = [_gradient_equation(ctx, p, False) for p in short]
            sub.blocks.extend(pack(eqs))
        if sub is not s:
            s.subsections.append(sub)
    if focus is not None:
        ctx.rest(s, len(g.parameters) - len(shown))
    unused = [p for p in g.parameters if ctx.derivation.gradient(p, form="delta") == 0]
    if unused:
        # Said in words: a zero is easy to misread as a slip of the engine.
        s.blocks.append(Paragraph("unused", {"names": [Tex(ctx.tex(p)) for p in unused]}))
    return s


def _parameter_groups(ctx: DocumentContext) -> list[tuple[str, dict, list[sp.Symbol]]]:
    net = ctx.mlp
    if net:
        return [("layer", {"l": l}, net.weights(l) + net.layer_biases(l))
                for l in range(net.depth, 0, -1)]  # noqa: E741
    return [("parameters", {}, ctx.graph.parameters)]


def _gradient_equation(ctx: DocumentContext, p: sp.Symbol, whole_chain: bool = True) -> Equation:
    d, t, L = ctx.derivation, ctx.tex, ctx.graph.loss_symbol
    lhs = sp.Derivative(L, p)
    if p not in d.deltas:
        return ctx.equation(f"dL/d{p}", lhs, sp.S.Zero)
    rhs: list = []
    # Count the paths before listing them: a deep net has exponentially many (2^15 in a
    # [2]*16 MLP), and only the δ form is printed then.
    most = MAX_SHOWN_PATHS if ctx.focus is None else FOCUS_SHOWN_PATHS
    # A long chain, too, is its δ form only: its factors would make the notes quadratic.
    long = ctx.chain_factors(p) > MAX_SHOWN_FACTORS
    chain = d.chain(p) if whole_chain and not long and d.path_count(p) <= most else None
    if chain is not None:
        symbolic = [t.product([f.derivative for f in path], sep=" ") for path in chain.paths]
        results = [t.product([f.result for f in path]) for path in chain.paths]
        rhs.append((ctx.as_local(chain.symbolic()), _lines(symbolic)))
        rhs.append((chain.expr(), _lines(results)))
    form = d.gradient(p, form="named")  # over the δs the notes name (δ_t, not δ of a_t)
    if ctx.focus is not None and isinstance(form, sp.Add):  # a model's sums run long
        rhs.append((form, broken([ctx.ordered_term(x) for x in ctx.in_order(form)], t)))
    else:
        rhs.append((form, Tex(_delta_form_tex(ctx, form))))
    eq = ctx.equation(f"dL/d{p}", lhs, *rhs)
    if chain is not None:  # a few paths, listed: one overlay each
        eq.paths = [ctx.drawn_path(path) for path in chain.paths]
    elif whole_chain and long:
        # the δ form multiplies p's own local derivatives by the δs after them: their edges
        # light it (the whole chain's would make the page's edges quadratic in the depth)
        eq.paths = [ctx.drawn_path([Factor(c, p, sp.S.One) for c in d.children(p)
                                    if c in d.deltas])]
    elif whole_chain and (ctx.focus is None or len(ctx.graph.nodes) <= MAX_DRAWN_NODES):
        # too many to list: the union of their edges on the drawing, found without listing
        eq.paths = [ctx.drawn_path(d.chain_edges(p))]
    return eq


def _lines(terms: list[str]) -> list[Tex]:
    if len(terms) <= 1:
        return [Tex(terms[0] if terms else "0")]
    return [Tex(x if not k else ("- " + x[1:].lstrip() if x.startswith("-") else "+ " + x))
            for k, x in enumerate(terms)]


def _delta_form_tex(ctx: DocumentContext, form: sp.Expr) -> str:
    return ctx.tex.terms([ctx.ordered_term(term) for term in sp.Add.make_args(form)])


def mlp_general_section(ctx: DocumentContext) -> Section | None:
    """An MLP's gradients for any layer l (∂L/∂w = δ a), each checked on every instance
    (None: not an MLP, or the sequential notation, which has no general letters)."""
    net = ctx.mlp
    if not net or net.notation.name == "sequential":
        return None
    n, d = net.notation, ctx.derivation
    s = Section("general")
    w, delta = n.latex_general("weight", l="l"), n.latex_general("delta", l="l")
    a_prev = n.latexes["act"].format(**layer_letters(-1, "i"))
    b = n.latex_general("bias", l="l")
    sign = "-" if net.bias_mode == "threshold" else ""
    # Each general statement is checked on every instance before it is printed.
    count = 0
    for l in range(1, net.depth + 1):  # noqa: E741
        for i in range(1, net.sizes[l - 1] + 1):
            for j in range(1, net.sizes[l] + 1):
                lhs = sp.Derivative(net.loss_symbol, net.weight(l, i, j))
                rhs = d.delta_symbols[net.pre(l, j)] * net.act(l - 1, i)
                verify(lhs, rhs, f"general form w({l},{i},{j})", ctx.meaning)
                count += 1
    loss = ctx.tex(net.loss_symbol)
    eqs = [Equation("general weight gradient",
                    Tex(rf"\frac{{\partial {loss}}}{{\partial {w}}}"),
                    [Step([Tex(f"{delta} {a_prev}")])], "numeric")]
    if net.bias_mode:
        for l in range(1, net.depth + 1):  # noqa: E741
            for bsym in net.layer_biases(l):
                lhs = sp.Derivative(net.loss_symbol, bsym)
                verify(lhs, d.gradient(bsym, form="delta"), f"general form {bsym}", ctx.meaning)
        if net.bias_mode != "shared":
            eqs.append(Equation("general bias gradient",
                                Tex(rf"\frac{{\partial {loss}}}{{\partial {b}}}"),
                                [Step([Tex(f"{sign}{delta}")])], "numeric"))
    ctx.count("numeric", len(eqs))
    s.blocks.append(Paragraph("general_intro", {"threshold": bool(sign), "weights": count}))
    s.blocks.append(Equations(eqs))
    return s


def matrix_section(ctx: DocumentContext) -> Section:
    """Seed 004's matrix equations, derived by forms/matrix.py and checked entry by entry
    against this derivation (small sizes, a batch of two, random numbers) before they are
    printed."""
    form = matrix_form(ctx.mlp)
    try:
        form.check()
    except AssertionError as err:
        raise VerificationError(str(err)) from None
    p = MatrixLatexPrinter(loss=ctx.tex(ctx.graph.loss_symbol))

    def block(equations) -> list[Equations]:
        return pack([Equation(f"matrix {eq.kind} {eq.layer}", Tex(p.doprint(eq.lhs)),
                              [Step([Tex(p.doprint(eq.rhs))])], "matrix")
                     for eq in equations])

    ctx.count("matrix", len(form.equations))
    s = Section("matrix")
    s.blocks.append(Paragraph("matrix_intro"))
    s.blocks.extend(block([*form.forward, form.loss]))
    mean = form.reduction == "mean"
    s.blocks.append(Paragraph("matrix_backward"))
    s.blocks.extend(block(form.deltas))
    s.blocks.append(Paragraph("matrix_gradients", {"mean": mean}))
    s.blocks.extend(block(form.gradients))
    return s


def descent_section(ctx: DocumentContext) -> Section:
    """One step of gradient descent for the shown parameters (at most 24), in δ form."""
    t, g, L = ctx.tex, ctx.graph, ctx.graph.loss_symbol
    s = Section("descent")
    s.blocks.append(Paragraph("descent_intro"))
    eqs = []
    shown = ctx.shown_parameters[:24]
    for p in shown:
        form = ctx.derivation.gradient(p, form="named")
        step = Tex(rf"{t(p)} - \eta \frac{{\partial {t(L)}}}{{\partial {t(p)}}}")
        delta_step = Tex(rf"{t(p)} - \eta \, {t.factor(form) if form != 0 else '0'}")
        if isinstance(form, sp.Mul) and form.could_extract_minus_sign():
            delta_step = Tex(rf"{t(p)} + \eta \, {_delta_form_tex(ctx, -form)}")
        check = verify(sp.Derivative(L, p), form, f"update {p}", ctx.meaning)
        ctx.count(check.method)
        steps = [Step([step]), Step([delta_step])]
        if ctx.focus is not None and len(delta_step) > MAX_LINE:
            steps = steps[:1]  # a model's long δ form is in the gradients section above
        eqs.append(Equation(f"update {p}", Tex(rf"{{{t(p)}}}'"), steps, check.method))
    s.blocks.extend(pack(eqs))
    if len(g.parameters) > len(shown):
        s.blocks.append(Paragraph("descent_rest", {"count": len(g.parameters) - len(shown)}))
    return s

"""A model's general form: its forward definitions, named δs and gradients with symbolic sizes.

A model built by :mod:`symbackprop.builders` (an RNN, a convolution, attention, a network of
blocks) has a general form, derived by :mod:`symbackprop.forms.general` and checked entry by
entry against the scalar derivation before anything is printed. Its notes open with that form;
the unrolled instance that follows shows representatives only (:mod:`.focus`).
"""

from __future__ import annotations

import sympy as sp

from ..builders.base import Model
from ..check.verify import VerificationError
from ..forms.models import general_form
from ..printing.latex import Tex
from .context import DocumentContext
from .describe import intermediate_nodes
from .formulas import MAX_LINE
from .model import Equation, Equations, Paragraph, Section, Step

__all__ = ["model_form_section"]


def model_form_section(ctx: DocumentContext) -> Section | None:
    """The model's general form, every δ and gradient checked entry by entry against the
    scalar derivation at the form's small sizes before it is printed (None: no form)."""
    g = ctx.graph
    if not isinstance(g, Model):
        return None
    try:
        form = general_form(g)
    except ValueError:
        return None
    try:
        form.verify()
    except AssertionError as err:
        raise VerificationError(str(err)) from None
    equations = form.equations()
    p = form.printer
    s = Section("model_form")
    sizes = [Tex(p.doprint(v)) for _, v in sorted(form.sizes.items())]
    s.blocks.append(Paragraph("model_form_intro", {"sizes": sizes,
                                                   "checks": len(form.check_sizes)}))
    for kind in ("forward", "delta", "gradient"):
        chosen = [eq for eq in equations if eq.kind == kind]
        if not chosen:
            continue
        s.blocks.append(Paragraph(f"model_form_{kind}"))
        s.blocks.append(Equations([_general_equation(form, eq) for eq in chosen]))
        if kind == "delta" and form.assumptions:  # Σ_k y_k = 1, which made δ^o = ŷ − y
            s.blocks.append(Paragraph("model_form_one_hot", {
                "facts": [Tex(x) for x in form.assumption_latex()]}))
        checked = "matrix" if kind != "forward" else "identical"
        ctx.count(checked, len(chosen))
    if ctx.focus is not None:
        s.blocks.append(Paragraph("focus_intro", {
            "nodes": intermediate_nodes(g), "parameters": len(g.parameters),
            "shown": [Tex(ctx.tex(x)) for x in ctx.focus.parameters]}))
    return s


def _general_equation(form, eq) -> Equation:
    p = form.printer
    steps = []
    if eq.kind == "delta":
        q = form.quantities[eq.name]
        steps.append(Step([Tex(p.doprint(sp.Derivative(form.loss.base, q.entry)))]))
    whole = p.doprint(eq.rhs)
    if len(whole) > MAX_LINE and isinstance(eq.rhs, sp.Add):
        lines = [p.doprint(term) for term in sp.Add.make_args(eq.rhs)]
        lines = [x if not k else (f"- {x[1:].lstrip()}" if x.startswith("-") else f"+ {x}")
                 for k, x in enumerate(lines)]
        steps.append(Step([Tex(x) for x in lines]))
    else:
        steps.append(Step([Tex(whole)]))
    return Equation(f"general {eq.kind} {eq.name}", Tex(p.doprint(eq.lhs)), steps,
                    "matrix" if eq.kind != "forward" else "identical")

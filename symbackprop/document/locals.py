"""Local derivatives: one per edge of the graph."""

from __future__ import annotations

import re

import sympy as sp

from ..core.graph import Kind
from .context import DocumentContext
from .layout import grid_columns
from .model import Equation, Equations, Paragraph, Section

__all__ = ["locals_section", "is_trivial"]

# One letter or number, signed, with its sub- and superscripts (x^{(0)}_{1}, -w_{12}, 1).
_ONE_SYMBOL = re.compile(r"-?\s*(?:[A-Za-z]|\\[A-Za-z]+|[0-9.]+)(?:\s*[_^]\{[^{}]*\})*")


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
    # The one-symbol results (∂z/∂w = x, ∂z/∂b = 1) first, in a table of their own: they
    # are read at a glance, and the activations' derivatives after them get the room.
    trivial = [eq for eq in eqs if is_trivial(eq)]
    rest = [eq for eq in eqs if not is_trivial(eq)]
    for group in (trivial, rest):
        if group:
            columns = grid_columns(group) if len(group) > 3 else 1
            s.blocks.append(Equations(group, columns=columns))
    ctx.rest(s, left_out)
    return s


def is_trivial(eq: Equation) -> bool:
    """Whether a local derivative is one symbol or number (``x``, ``-1``), at most signed.

    >>> from symbackprop.printing.latex import Tex
    >>> from symbackprop.document.model import Step
    >>> is_trivial(Equation("", Tex("d"), [Step([Tex("-x_{1}")])]))
    True
    """
    if len(eq.steps) != 1 or len(eq.steps[0].lines) != 1:
        return False
    return _ONE_SYMBOL.fullmatch(eq.steps[0].lines[0].strip()) is not None

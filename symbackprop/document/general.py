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
from .base import MAX_LINE
from .focus import Focus
from .model import Equation, Equations, Paragraph, Section, Step


class ModelFormSection:
    """The general form section, and the focus the unrolled sections after it read."""

    @property
    def focus(self) -> Focus | None:
        """None: every equation is written out (an MLP, a plain graph, ``full`` or ``only``)."""
        if "_focus" not in self.__dict__:
            wanted = not (self.options.get("full") or self.options.get("only") is not None)
            self._focus = Focus(self.g) if wanted and isinstance(self.g, Model) else None
        return self._focus

    def shows(self, v: sp.Symbol) -> bool:
        """Whether the unrolled instance writes ``v`` (a node; leaves always appear)."""
        return self.focus is None or v not in self.focus.hidden

    def in_order(self, expr: sp.Add) -> list[sp.Expr]:
        """A long sum's terms in the graph's order (step 1, 2, …, 16), not SymPy's (1, 10, 11,
        …): by the latest node each term uses, a δ standing for its node."""
        if "_order" not in self.__dict__:
            self._order = {s: k for k, s in enumerate(self.g.symbols)}
            self._order.update({sym: self._order[v] for v, sym in self.d.delta_symbols.items()})
        return sorted(expr.args, key=lambda term: max(
            (self._order.get(s, -1) for s in term.free_symbols), default=-1))

    def rest(self, section: Section, left_out: int) -> None:
        """Say, where representatives stand for the rest, how many the general form covers."""
        if left_out:
            section.blocks.append(Paragraph("focus_rest", {"count": left_out}))

    def model_form(self) -> Section | None:
        """The model's general form, every δ and gradient checked entry by entry against the
        scalar derivation at the form's small sizes before it is printed (None: no form)."""
        if not isinstance(self.g, Model):
            return None

        try:
            form = general_form(self.g)
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
            s.blocks.append(Equations([self._general_equation(form, eq) for eq in chosen]))
            if kind == "delta" and form.assumptions:  # Σ_k y_k = 1, which made δ^o = ŷ − y
                s.blocks.append(Paragraph("model_form_one_hot", {
                    "facts": [Tex(x) for x in form.assumption_latex()]}))
            checked = "matrix" if kind != "forward" else "identical"
            self.count(checked, len(chosen))
        if self.focus is not None:
            s.blocks.append(Paragraph("focus_intro", {
                "nodes": len(self.g.nodes), "parameters": len(self.g.parameters),
                "shown": [Tex(self.tex(x)) for x in self.focus.parameters]}))
        return s

    def _general_equation(self, form, eq) -> Equation:
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

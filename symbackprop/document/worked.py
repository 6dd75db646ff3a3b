"""A worked example: the derivation with numbers."""

from __future__ import annotations

import sympy as sp

from ..check.verify import VerificationError
from ..printing.latex import Tex
from .base import _close, _evaluate, _plain
from .layout import pack
from .model import Equation, Paragraph, Section, Step


class WorkedSection:
    def worked(self) -> Section:
        ex, g, t = self.example, self.g, self.tex
        s = Section("worked")
        s.blocks.append(Paragraph("worked_given", {
            "given": [Tex(f"{t(x)} = {ex.show(ex.values[x.name])}") for x in g.leaves],
            "eta": Tex(rf"\eta = {_plain(ex.learning_rate)}"),
            "by_hand": ex.rounding == "by_hand", "digits": ex.digits,
        }))
        fwd = Section("worked_forward")
        fwd.blocks.extend(pack([
            self.numbers(f"value of {v}", t(v), g.expr(v), ex.nodes[v.name]) for v in g.nodes
            if self.shows(v)
        ], kinds=[type(g.expr(v)) for v in g.nodes if self.shows(v)]))
        s.subsections.append(fwd)
        back = Section("worked_backward")
        shown = self.shown_parameters()
        eqs = []
        seen = set()
        # A model's notes give these inside the δ numbers below (its general form comes first).
        for p in shown if self.focus is None else []:
            for path in ex.factors.get(p.name, []):
                for f in path:
                    key = (f.of, f.wrt)
                    if key in seen:
                        continue
                    seen.add(key)
                    lhs = t(sp.Derivative(g.symbol(f.of), g.symbol(f.wrt)))
                    eqs.append(self._factor_numbers(f, lhs))
        if eqs:
            back.blocks.append(Paragraph("worked_locals"))
            back.blocks.extend(pack(eqs, reorder=True))
        deltas = self._delta_numbers()
        if deltas:
            back.blocks.append(Paragraph("worked_deltas"))
            back.blocks.extend(pack(deltas))
        grads = [self._gradient_numbers(p) for p in shown]
        back.blocks.append(Paragraph("worked_gradients"))
        back.blocks.extend(pack(grads))
        s.subsections.append(back)
        upd = Section("worked_update")
        eqs = []
        eta = sp.Symbol("eta")
        for p in shown:
            new = ex.updated[p.name]
            expected = ex.values[p.name] - ex.learning_rate * ex.gradients[p.name]
            if not _close(new, expected, digits=ex.digits, by_hand=ex.rounding == "by_hand"):
                raise VerificationError(f"equation 'update {p}' does not hold")
            grad = self._num(ex.gradients[p.name])
            shown = float(ex.show(ex.values[p.name])) - ex.learning_rate * float(
                ex.show(ex.gradients[p.name]))
            rel = "=" if ex.show(shown) == ex.show(new) else r"\approx"
            eqs.append(Equation(
                f"update {p}", Tex(rf"{{{t(p)}}}'"),
                [Step([Tex(rf"{t(p)} - {t(eta)} \frac{{\partial {t(g.loss_symbol)}}}"
                           rf"{{\partial {t(p)}}}")]),
                 Step([Tex(rf"{ex.show(ex.values[p.name])} - {_plain(ex.learning_rate)} "
                           rf"\cdot {grad}")]),
                 Step([Tex(ex.show(new))], rel)],
                "numbers"))
            self.count("numbers")
        upd.blocks.extend(pack(eqs))
        s.subsections.append(upd)
        return s

    def _delta_numbers(self) -> list:
        """Each error signal in numbers, once, from the ones after it (then reused)."""
        ex, d, t = self.example, self.d, self.tex
        named = self._backward_order([v for v in self.g.delta_nodes if v in d.deltas])
        engine = self.d.evaluate(ex.values).deltas
        eqs, names = [], set(self.g.delta_nodes)
        for v in named:
            sym = d.delta_symbols[v]
            if self.focus is not None and v not in self.focus.deltas:
                # Left to the general form: its number as a reader would carry it.
                value = engine[v.name]
                self.known[sym.name] = (float(ex.show(value)) if ex.rounding == "by_hand"
                                        else value)
                continue
            delta = d.delta(v)
            rec = d._through(v, names)  # the recursion alone: δ values in node symbols can be huge
            if delta.assumes and not (rec.free_symbols & set(d.delta_symbols.values())) \
                    and _close(_evaluate(delta.value, {s: self._value(s) for s in
                                                       delta.value.free_symbols}),
                               engine[v.name]):
                rec = delta.value  # the targets are one-hot: ŷ − y, as the δ section says
            if ex.rounding == "by_hand":
                # A student rounds each δ before reusing it: so do we, from the shown numbers.
                known = {x: float(ex.show(self._value(x))) for x in rec.free_symbols}
                value = float(ex.show(_evaluate(rec, known)))
            else:
                value = engine[v.name]
            self.known[sym.name] = value
            eqs.append(self.numbers(f"value of {sym}", t(sym), rec, value))
        return eqs

    def _gradient_numbers(self, p: sp.Symbol) -> Equation:
        """∂L/∂p = (δ form) = numbers = value, reusing the δ numbers above."""
        ex, t = self.example, self.tex
        lhs = t(sp.Derivative(self.g.loss_symbol, p))
        form = self.d.gradient(p, form="delta")
        value = ex.gradients[p.name]
        if not _close(value, self._engine_gradient(p), digits=ex.digits,
                      by_hand=ex.rounding == "by_hand"):
            raise VerificationError(f"equation 'gradient {p}' disagrees with the evaluator")
        if form == 0:
            self.count("numbers")
            return Equation(f"gradient {p}", lhs, [Step([Tex(ex.show(0.0))])], "numbers")
        return self.numbers(f"gradient {p}", lhs, form, value)

    def _engine_gradient(self, p: sp.Symbol) -> float:
        values = self.example.values
        return float(self.d.evaluate(values).gradients[p.name])

    def _factor_numbers(self, f, lhs: Tex) -> Equation:
        return self.numbers(f"d{f.of}/d{f.wrt}", lhs, f.expr, f.value)

    def _num(self, x: float) -> str:
        s = self.example.show(x)
        return rf"\left({s}\right)" if s.startswith("-") else s

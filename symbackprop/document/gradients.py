"""Gradients of the parameters, their general form, the matrix form and the update."""

from __future__ import annotations

import sympy as sp

from ..check.verify import VerificationError, elementary, verify
from ..forms.matrix import MatrixLatexPrinter, matrix_form
from ..printing.latex import Tex
from .base import MAX_LINE, MAX_SHOWN_PATHS, _letters, broken
from .layout import pack
from .model import Equation, Equations, Paragraph, Section, Step

#: Up to this many parameters (seed 000's net has 6) every chain is written out by default.
SMALL_NET = 9
#: A model's notes (its general form first) write a chain out only when it is this short.
FOCUS_SHOWN_PATHS = 2


class GradientsSection:
    def gradients(self) -> Section:
        s = Section("gradients")
        s.blocks.append(Paragraph("gradients_intro"))
        shown = self.shown_parameters()
        if len(shown) < len(self.g.parameters) and self.focus is None:
            s.blocks.append(Paragraph("gradients_selection", {
                "shown": [Tex(self.tex(p)) for p in shown], "full": not self.options.get("only"),
            }))
        groups = self._param_groups()
        for key, args, params in groups:
            sub = Section(key, args) if len(groups) > 1 else s
            chains = [p for p in params if p in shown]
            # With a focus, the general form gives the rest (said once, below).
            short = [p for p in params if p not in shown] if self.focus is None else []
            if chains:
                sub.blocks.append(Equations([self._gradient_equation(p, True) for p in chains]))
            if short:
                eqs = [self._gradient_equation(p, False) for p in short]
                sub.blocks.extend(pack(eqs))
            if sub is not s:
                s.subsections.append(sub)
        if self.focus is not None:
            self.rest(s, len(self.g.parameters) - len(shown))
        unused = [p for p in self.g.parameters if self.d.gradient(p, form="delta") == 0]
        if unused:
            # Said in words: a zero is easy to misread as a slip of the engine.
            s.blocks.append(Paragraph("unused", {"names": [Tex(self.tex(p)) for p in unused]}))
        return s

    def shown_parameters(self) -> list[sp.Symbol]:
        """The parameters whose whole chain is written out (``only``; else all for a small
        net; else one representative weight per layer, the first unit's first weight)."""
        g, only = self.g, self.options.get("only")
        if only is not None:
            return [p for p in g.parameters if p.name in set(only)]
        if self.focus is not None:
            return list(self.focus.parameters)
        if self.options.get("full") or not self.mlp or len(g.parameters) <= SMALL_NET:
            return list(g.parameters)
        net = self.mlp
        return [net.weight(l, 1, 1) for l in range(net.depth, 0, -1)]  # noqa: E741

    def _param_groups(self) -> list[tuple[str, dict, list[sp.Symbol]]]:
        if self.mlp:
            net = self.mlp
            return [("layer", {"l": l}, net.weights(l) + net.layer_biases(l))
                    for l in range(net.depth, 0, -1)]  # noqa: E741
        return [("parameters", {}, self.g.parameters)]

    def _as_local(self, expr: sp.Expr) -> sp.Expr:
        """∂L/∂v on an edge or as a chain's factor is L's own partial derivative; Meaning reads
        ∂L/∂v as the total one, which differs where v also reaches L another way (weight decay)."""
        L = self.g.loss_symbol
        return expr.replace(lambda e: isinstance(e, sp.Derivative) and e.expr == L,
                            lambda e: sp.diff(elementary(self.g.expr(L)), e.variables[0]))

    def _gradient_equation(self, p: sp.Symbol, whole_chain: bool = True) -> Equation:
        d, t, L = self.d, self.tex, self.g.loss_symbol
        lhs = sp.Derivative(L, p)
        if p not in d.deltas:
            return self.equation(f"dL/d{p}", lhs, sp.S.Zero)
        rhs: list = []
        # Count the paths before listing them: a deep net has exponentially many (2^15 in a
        # [2]*16 MLP), and only the δ form is printed then.
        most = MAX_SHOWN_PATHS if self.focus is None else FOCUS_SHOWN_PATHS
        chain = d.chain(p) if whole_chain and d.path_count(p) <= most else None
        if chain is not None:
            symbolic = [t.product([f.derivative for f in path], sep=" ") for path in chain.paths]
            results = [t.product([f.result for f in path]) for path in chain.paths]
            rhs.append((self._as_local(chain.symbolic()), self._lines(symbolic)))
            rhs.append((chain.expr(), self._lines(results)))
        form = d.gradient(p, form="delta")
        if self.focus is not None and isinstance(form, sp.Add):  # a model's sums run long
            rhs.append((form, broken([self._ordered_term(x) for x in self.in_order(form)],
                                     self.tex)))
        else:
            rhs.append((form, Tex(self._delta_form_tex(form))))
        eq = self.equation(f"dL/d{p}", lhs, *rhs)
        if chain is not None:
            eq.paths = [self.drawn_path(path) for path in chain.paths]
        return eq

    def _lines(self, terms: list[str]) -> list[Tex]:
        if len(terms) <= 1:
            return [Tex(terms[0] if terms else "0")]
        return [Tex(x if not k else ("- " + x[1:].lstrip() if x.startswith("-") else "+ " + x))
                for k, x in enumerate(terms)]

    def _delta_form_tex(self, form: sp.Expr) -> str:
        return self.tex.terms([self._ordered_term(term) for term in sp.Add.make_args(form)])

    def general_form(self) -> Section | None:
        net = self.mlp
        if not net or net.notation.name == "sequential":
            return None
        n, d = net.notation, self.d
        s = Section("general")
        w, delta = n.latex_general("weight", l="l"), n.latex_general("delta", l="l")
        a_prev = n.latexes["act"].format(**_letters(-1, "i"))
        b = n.latex_general("bias", l="l")
        sign = "-" if net.bias_mode == "threshold" else ""
        # Each general statement is checked on every instance before it is printed.
        count = 0
        for l in range(1, net.depth + 1):  # noqa: E741
            for i in range(1, net.sizes[l - 1] + 1):
                for j in range(1, net.sizes[l] + 1):
                    lhs = sp.Derivative(net.loss_symbol, net.weight(l, i, j))
                    rhs = d.delta_symbols[net.pre(l, j)] * net.act(l - 1, i)
                    verify(lhs, rhs, f"general form w({l},{i},{j})", self.meaning)
                    count += 1
        eqs = [Equation("general weight gradient",
                        Tex(rf"\frac{{\partial {self.tex(net.loss_symbol)}}}{{\partial {w}}}"),
                        [Step([Tex(f"{delta} {a_prev}")])], "numeric")]
        if net.bias_mode:
            for l in range(1, net.depth + 1):  # noqa: E741
                for bsym in net.layer_biases(l):
                    lhs = sp.Derivative(net.loss_symbol, bsym)
                    verify(lhs, d.gradient(bsym, form="delta"), f"general form {bsym}",
                           self.meaning)
            if net.bias_mode != "shared":
                eqs.append(Equation("general bias gradient",
                                    Tex(rf"\frac{{\partial {self.tex(net.loss_symbol)}}}"
                                        rf"{{\partial {b}}}"),
                                    [Step([Tex(f"{sign}{delta}")])], "numeric"))
        self.count("numeric", len(eqs))
        s.blocks.append(Paragraph("general_intro", {"threshold": bool(sign), "weights": count}))
        s.blocks.append(Equations(eqs))
        return s

    def matrix_form(self) -> Section:
        """Seed 004's matrix equations, derived by matrix.py and checked entry by entry against
        this derivation (small sizes, a batch of two, random numbers) before they are printed."""
        form = matrix_form(self.mlp)
        try:
            form.check()
        except AssertionError as err:
            raise VerificationError(str(err)) from None
        p = MatrixLatexPrinter(loss=self.tex(self.g.loss_symbol))

        def block(equations) -> list[Equations]:
            return pack([Equation(f"matrix {eq.kind} {eq.layer}", Tex(p.doprint(eq.lhs)),
                                  [Step([Tex(p.doprint(eq.rhs))])], "matrix")
                         for eq in equations])

        self.count("matrix", len(form.equations))
        s = Section("matrix")
        s.blocks.append(Paragraph("matrix_intro"))
        s.blocks.extend(block([*form.forward, form.loss]))
        mean = form.reduction == "mean"
        s.blocks.append(Paragraph("matrix_backward"))
        s.blocks.extend(block(form.deltas))
        s.blocks.append(Paragraph("matrix_gradients", {"mean": mean}))
        s.blocks.extend(block(form.gradients))
        return s

    def updates(self) -> Section:
        t, L = self.tex, self.g.loss_symbol
        s = Section("descent")
        s.blocks.append(Paragraph("descent_intro"))
        eqs = []
        shown = self.shown_parameters()[:24]
        for p in shown:
            form = self.d.gradient(p, form="delta")
            step = Tex(rf"{t(p)} - \eta \frac{{\partial {t(L)}}}{{\partial {t(p)}}}")
            delta_step = Tex(rf"{t(p)} - \eta \, {t.factor(form) if form != 0 else '0'}")
            if isinstance(form, sp.Mul) and form.could_extract_minus_sign():
                delta_step = Tex(rf"{t(p)} + \eta \, {self._delta_form_tex(-form)}")
            check = verify(sp.Derivative(L, p), form, f"update {p}", self.meaning)
            self.count(check.method)
            steps = [Step([step]), Step([delta_step])]
            if self.focus is not None and len(delta_step) > MAX_LINE:
                steps = steps[:1]  # a model's long δ form is in the gradients section above
            eqs.append(Equation(f"update {p}", Tex(rf"{{{t(p)}}}'"), steps, check.method))
        s.blocks.extend(pack(eqs))
        if len(self.g.parameters) > len(shown):
            s.blocks.append(Paragraph("descent_rest", {"count": len(self.g.parameters) - len(shown)}))
        return s

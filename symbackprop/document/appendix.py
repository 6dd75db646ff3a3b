"""The appendix (derivatives of the activations) and the contrast without backprop."""

from __future__ import annotations

import sympy as sp

from ..functions import sigmoid, softmax
from ..latex import Tex
from ..verify import elementary, verify
from .base import _weaker
from .model import Equation, Equations, Paragraph, Section, Step


class AppendixSection:
    def contrast(self) -> Section:
        d, g, t = self.d, self.g, self.tex
        s = Section("contrast")
        deep = g.parameters[0]
        expanded = d.gradient(deep)
        reused = d.gradient(deep, form="delta")
        big, small = sp.count_ops(expanded), sp.count_ops(reused)
        s.blocks.append(Paragraph("contrast_intro", {"parameter": Tex(t(deep)), "expanded": big,
                                                      "reused": small}))
        printed = t(expanded)
        if len(printed) < 6000:
            s.blocks.append(Equations([self.equation(f"expanded dL/d{deep}",
                                                     sp.Derivative(g.loss_symbol, deep),
                                                     (expanded, self._wrap(printed)))]))
        return s

    def _wrap(self, printed: str) -> list[Tex]:
        # Break a long product at \cdot-free spaces between top-level factors.
        out, depth, start = [], 0, 0
        for k, ch in enumerate(printed):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif printed.startswith(r"\left(", k):
                depth += 1
            elif printed.startswith(r"\right)", k):
                depth -= 1
            if depth == 0 and ch == " " and k - start > 90 and not printed.startswith(
                    r" \right", k):
                out.append(Tex(printed[start:k]))
                start = k + 1
        out.append(Tex(printed[start:]))
        return out

    def appendix(self) -> Section:
        s = Section("appendix")
        acts = set()
        for v in self.g.nodes:
            e = self.g.expr(v)
            acts |= {type(f).__name__ for f in sp.preorder_traversal(e) if isinstance(f, sp.Function)}
        if acts & {"sigmoid", "softplus"}:  # softplus' is σ
            s.subsections.append(self._sigmoid_appendix())
        if "tanh" in acts:
            s.subsections.append(self._tanh_appendix())
        if "softmax" in acts and self.g.one_hot_groups:
            s.subsections.append(self._softmax_appendix())
        return s

    def _steps(self, label: str, lhs: sp.Expr, truth: sp.Expr,
               steps: list[tuple[sp.Expr, str]], lhs_tex: Tex) -> Equation:
        """A chain of rewritings, each checked against ``truth`` (a derivative from scratch)."""
        out = []
        method = "identical"
        for k, (step, printed) in enumerate(steps, start=1):
            # In exponentials both sides cancel to one form; with tanh left in, SymPy needed
            # simplify() (0.8 s of every tanh network's notes).
            check = verify(elementary(truth).rewrite(sp.exp), elementary(step).rewrite(sp.exp),
                           f"{label}, step {k}")
            method = _weaker(method, check.method)
            out.append(Step([Tex(printed)]))
        self.count(method)
        return Equation(label, lhs_tex, out, method)

    def _sigmoid_appendix(self) -> Section:
        x = sp.Symbol("x", real=True)
        s = Section("sigmoid")
        truth = sp.diff(1 / (1 + sp.exp(-x)), x)
        s.blocks.append(Paragraph("sigmoid_intro", {
            "definition": Tex(r"\sigma(x) = \frac{1}{1 + e^{-x}}"),
            "rule": Tex(r"\left(\frac{f}{g}\right)' = \frac{f' g - f g'}{g^{2}}"),
            "f": Tex("f = 1"), "g": Tex(r"g = 1 + e^{-x}"),
        }))
        g, ex = 1 + sp.exp(-x), sp.exp(-x)
        sig = sigmoid(x)
        # Each step: the expression that is verified, and how a lecturer writes it.
        steps = [
            ((0 * g - 1 * (-ex)) / g**2,
             r"\frac{0 \cdot (1 + e^{-x}) - 1 \cdot (-e^{-x})}{(1 + e^{-x})^{2}}"),
            (ex / g**2, r"\frac{e^{-x}}{(1 + e^{-x})^{2}}"),
            ((1 / g) * (ex / g), r"\frac{1}{1 + e^{-x}} \cdot \frac{e^{-x}}{1 + e^{-x}}"),
            ((1 / g) * ((g - 1) / g),
             r"\frac{1}{1 + e^{-x}} \cdot \frac{(1 + e^{-x}) - 1}{1 + e^{-x}}"),
            ((1 / g) * (1 - 1 / g),
             r"\frac{1}{1 + e^{-x}} \left(1 - \frac{1}{1 + e^{-x}}\right)"),
            (sig * (1 - sig), r"\sigma(x) \bigl(1 - \sigma(x)\bigr)"),
        ]
        s.blocks.append(Equations([self._steps("sigma'", sp.Derivative(sigmoid(x), x), truth,
                                               steps, Tex(r"\sigma'(x)"))]))
        s.blocks.append(Paragraph("sigmoid_steps", {
            "numerator": Tex("e^{-x}"), "rewritten": Tex(r"(1 + e^{-x}) - 1"),
            "definition": Tex(r"\sigma(x) = \frac{1}{1 + e^{-x}}"),
        }))
        return s

    def _tanh_appendix(self) -> Section:
        x = sp.Symbol("x", real=True)
        s = Section("tanh")
        ex, emx = sp.exp(x), sp.exp(-x)
        truth = sp.diff((sp.exp(x) - sp.exp(-x)) / (sp.exp(x) + sp.exp(-x)), x)
        steps = [
            (((ex + emx) ** 2 - (ex - emx) ** 2) / (ex + emx) ** 2,
             r"\frac{(e^{x} + e^{-x})^{2} - (e^{x} - e^{-x})^{2}}{(e^{x} + e^{-x})^{2}}"),
            (1 - (ex - emx) ** 2 / (ex + emx) ** 2,
             r"1 - \frac{(e^{x} - e^{-x})^{2}}{(e^{x} + e^{-x})^{2}}"),
            (1 - sp.tanh(x) ** 2, r"1 - \tanh^{2} x"),
        ]
        s.blocks.append(Paragraph("tanh_intro", {
            "definition": Tex(r"\tanh x = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}")}))
        s.blocks.append(Equations([self._steps("tanh'", sp.Derivative(sp.tanh(x), x), truth,
                                               steps, Tex(r"\tanh'(x)"))]))
        return s

    def _softmax_appendix(self) -> Section:
        s = Section("softmax")
        z1, z2, z3 = sp.symbols("z1 z2 z3", real=True)
        y1, y2, y3 = sp.symbols("y1 y2 y3", real=True)
        zs, ys = (z1, z2, z3), (y1, y2, y3)
        p = [softmax(k, *zs) for k in (1, 2, 3)]
        loss = -sp.Add(*[y * sp.log(q) for y, q in zip(ys, p, strict=True)])
        truth = sp.diff(elementary(loss), z1).subs(y3, 1 - y1 - y2)
        pk = sp.Symbol("p_k")
        s.blocks.append(Paragraph("softmax_intro", {
            "definition": Tex(r"p_k = \frac{e^{z_k}}{\sum_j e^{z_j}}"),
            "jacobian": Tex(r"\frac{\partial p_i}{\partial z_k} = p_i (\delta_{ik} - p_k)"),
            "loss": Tex(r"L = -\sum_i y_i \log p_i"),
        }))
        steps = [
            -sp.Add(*[m * (sp.KroneckerDelta(i, 1) - p[0]) for i, m in enumerate(ys, 1)]),
            sp.Add(-y1, p[0] * sp.Add(*ys, evaluate=False), evaluate=False),
        ]
        checks = []
        for k, st in enumerate(steps, 1):
            checks.append(verify(elementary(truth), elementary(st).subs(y3, 1 - y1 - y2),
                                 f"softmax cross-entropy, step {k}"))
        verify(elementary(truth), elementary(p[0] - y1), "softmax cross-entropy, result")
        self.count("numeric")
        eq = Equation(
            "softmax cross-entropy",
            Tex(r"\frac{\partial L}{\partial z_k}"),
            [Step([Tex(r"-\sum_i y_i \frac{1}{p_i} \, p_i (\delta_{ik} - p_k)")]),
             Step([Tex(r"-y_k + p_k \sum_i y_i")]),
             Step([Tex(r"p_k - y_k")])],
            "numeric",
        )
        s.blocks.append(Equations([eq]))
        s.blocks.append(Paragraph("softmax_steps", {"sum": Tex(r"\sum_i y_i = 1")}))
        del pk
        return s

"""The appendix (derivatives of the activations, a small model's scalar graph) and the contrast
without backprop."""

from __future__ import annotations

import sympy as sp

from ..check.verify import elementary, verify
from ..core import ops
from ..core.functions import softmax
from ..printing.latex import Tex
from .context import DocumentContext, weaker_check
from .drawings import model_scene
from .model import Equation, Equations, Figure, Paragraph, Section, Step
from .tikz import graph_scene

__all__ = ["contrast_section", "appendix_section", "MAX_SCALAR_GRAPH"]

#: A model drawn as its textbook figure also shows its scalar graph (one node per number) in
#: the appendix when the graph has at most this many inputs and nodes: past that it is a
#: tangle no one reads.
MAX_SCALAR_GRAPH = 16


def contrast_section(ctx: DocumentContext) -> Section:
    """The first parameter's gradient expanded without backpropagation, beside its δ form."""
    d, g, t = ctx.derivation, ctx.graph, ctx.tex
    s = Section("contrast")
    deep = g.parameters[0]
    expanded = d.gradient(deep)
    reused = d.gradient(deep, form="delta")
    big, small = sp.count_ops(expanded), sp.count_ops(reused)
    s.blocks.append(Paragraph("contrast_intro", {"parameter": Tex(t(deep)), "expanded": big,
                                                  "reused": small}))
    printed = t(expanded)
    if len(printed) < 6000:
        s.blocks.append(Equations([ctx.equation(f"expanded dL/d{deep}",
                                                sp.Derivative(g.loss_symbol, deep),
                                                (expanded, _wrap(printed)))]))
    return s


def _wrap(printed: str) -> list[Tex]:
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


def appendix_section(ctx: DocumentContext) -> Section:
    """The derivative of every activation the network uses, derived step by step (and
    softmax with cross-entropy, where the targets are one-hot); it may have no subsection."""
    g = ctx.graph
    s = Section("appendix")
    acts = set()
    for v in g.nodes:
        e = g.expr(v)
        acts |= {type(f).__name__ for f in sp.preorder_traversal(e) if isinstance(f, sp.Function)}
    for op in _derived(acts):
        s.subsections.append(_derivation_appendix(ctx, op))
    if "softmax" in acts and g.one_hot_groups:
        s.subsections.append(_softmax_appendix(ctx))
    if model_scene(g) is not None and len(g.inputs) + len(g.nodes) <= MAX_SCALAR_GRAPH:
        scalar = Section("scalar_graph")
        scene = graph_scene(ctx.derivation, ctx.tex)
        scalar.blocks.append(Figure(scene.tikz(), Paragraph("caption_graph"), scene=scene))
        s.subsections.append(scalar)
    return s


def _steps(ctx: DocumentContext, label: str, truth: sp.Expr,
           steps: list[tuple[sp.Expr, str]], lhs_tex: Tex) -> Equation:
    """A chain of rewritings, each checked against ``truth`` (a derivative from scratch)."""
    out = []
    method = "identical"
    for k, (step, printed) in enumerate(steps, start=1):
        # In exponentials both sides cancel to one form; with tanh left in, SymPy needed
        # simplify() (0.8 s of every tanh network's notes).
        check = verify(elementary(truth).rewrite(sp.exp), elementary(step).rewrite(sp.exp),
                       f"{label}, step {k}")
        method = weaker_check(method, check.method)
        out.append(Step([Tex(printed)]))
    ctx.count(method)
    return Equation(label, lhs_tex, out, method)


def _derivation_appendix(ctx: DocumentContext, op: ops.Activation) -> Section:
    """The registry's step-by-step derivation of ``op``'s textbook derivative."""
    x = sp.Symbol("x", real=True)
    d = op.derivation(x)
    s = Section(d.section, {"name": op.prose})
    s.blocks.append(Paragraph(d.before[0], {k: Tex(v) for k, v in d.before[1].items()}))
    s.blocks.append(Equations([_steps(ctx, d.label, sp.diff(d.definition, x), list(d.steps),
                                      Tex(d.lhs))]))
    if d.after:
        s.blocks.append(Paragraph(d.after[0], {k: Tex(v) for k, v in d.after[1].items()}))
    return s


def _softmax_appendix(ctx: DocumentContext) -> Section:
    s = Section("softmax")
    z1, z2, z3 = sp.symbols("z1 z2 z3", real=True)
    y1, y2, y3 = sp.symbols("y1 y2 y3", real=True)
    zs, ys = (z1, z2, z3), (y1, y2, y3)
    p = [softmax(k, *zs) for k in (1, 2, 3)]
    loss = -sp.Add(*[y * sp.log(q) for y, q in zip(ys, p, strict=True)])
    truth = sp.diff(elementary(loss), z1).subs(y3, 1 - y1 - y2)
    s.blocks.append(Paragraph("softmax_intro", {
        "definition": Tex(r"p_k = \frac{e^{z_k}}{\sum_j e^{z_j}}"),
        "jacobian": Tex(r"\frac{\partial p_i}{\partial z_k} = p_i (\delta_{ik} - p_k)"),
        "loss": Tex(r"L = -\sum_i y_i \log p_i"),
    }))
    steps = [
        -sp.Add(*[m * (sp.KroneckerDelta(i, 1) - p[0]) for i, m in enumerate(ys, 1)]),
        sp.Add(-y1, p[0] * sp.Add(*ys, evaluate=False), evaluate=False),
    ]
    for k, st in enumerate(steps, 1):
        verify(elementary(truth), elementary(st).subs(y3, 1 - y1 - y2),
               f"softmax cross-entropy, step {k}")
    verify(elementary(truth), elementary(p[0] - y1), "softmax cross-entropy, result")
    ctx.count("numeric")
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
    return s


def _derived(names: set[str]) -> list[ops.Activation]:
    """The registry's activations whose derivation the appendix shows, in the registry's order:
    each one used, and each one whose function a used one's derivative is written with (σ, for
    softplus′ = σ and silu′)."""
    x = sp.Symbol("x", real=True)
    used = [ops.ACTIVATIONS[n] for n in names if n in ops.ACTIVATIONS and n != "softmax"]
    called = {type(f) for op in used for f in sp.diff(op(x), x).atoms(sp.Function)}
    return [op for op in dict.fromkeys(ops.ACTIVATIONS.values()) if op.derivation and (
        op in used or op.function in called)]

"""The network section (what the net is, and its drawing) and the abstract of the notes."""

from __future__ import annotations

from ..printing.latex import Tex, widths_latex
from .context import DocumentContext
from .describe import intermediate_nodes, model_outline
from .drawings import model_caption, model_scene
from .formulas import layer_letters
from .model import Figure, Paragraph, Section

__all__ = ["network_section", "abstract_paragraph", "MAX_DRAWN_NODES"]

#: A model with more nodes than this is not drawn (its notes give the general form instead).
MAX_DRAWN_NODES = 80


def network_section(ctx: DocumentContext) -> Section:
    """What the network is (its widths, activations, bias and loss), its drawing, its symbols."""
    g, t, net = ctx.graph, ctx.tex, ctx.mlp
    s = Section("network")
    if net:
        s.blocks.append(Paragraph("network_mlp", {
            "widths": Tex(widths_latex(net.sizes, ", ")),
            "activations": list(dict.fromkeys(net.activations)),
            "bias": {False: "none", True: "unit", "threshold": "threshold",
                     "shared": "shared"}[net.bias_mode],
            "loss": net.loss_name,
            "notation": net.notation.name,
            "definitions": _definitions(ctx),
        }))
    elif model_outline(g) is not None:
        # a builder's model is described by its own sizes, not by the nodes it unrolls into
        s.blocks.append(Paragraph("network_model", {
            "model": _model(g), "loss": g.loss_name,
            "parameters": len(g.parameters)}))
    else:
        s.blocks.append(Paragraph("network_graph", {
            "inputs": len(g.inputs), "targets": len(g.targets),
            "parameters": len(g.parameters), "nodes": intermediate_nodes(g),
        }))
    wide = net is not None and (len(net.sizes) + 0.9) > 2.2 * max(net.sizes) * 0.5
    # A long unrolled model drawn as its scalar graph (an RNN over 16 steps: 305 nodes) is no
    # picture, and TeX's dimensions overflow on it; a model's own drawing stays small.
    if model_scene(g) is not None:
        scene = ctx.scene
        tikz, nodes = ctx.drawing
        s.blocks.append(Figure(tikz, Paragraph("caption_model", model_caption(g)),
                               scene.width > 2.2 * scene.height, nodes, scene.walked(), scene))
    elif ctx.focus is None or len(g.nodes) <= MAX_DRAWN_NODES:
        tikz, nodes = ctx.drawing
        caption = Paragraph("caption_network", {"mlp": net is not None, "model": _model(g)})
        s.blocks.append(Figure(tikz, caption, wide, nodes, scene=ctx.scene))
    shown = {}
    for name, syms in (("inputs", g.inputs), ("targets", g.targets),
                       ("parameters", g.parameters)):
        # A long list ends on its last name, not on "…" that the sentence's period would
        # double ("…, w₁₂, …."): the reader sees where the names run to.
        listed = list(syms) if len(syms) <= 12 else [*syms[:10], None, syms[-1]]
        shown[name] = [Tex(r"\ldots") if x is None else Tex(t(x)) for x in listed]
    s.blocks.append(Paragraph("symbols", shown))
    return s


def abstract_paragraph(ctx: DocumentContext, sections: list[Section]) -> Paragraph:
    """What the notes are about: the network, its loss, and what ``sections`` derive."""
    net = ctx.mlp
    args = {"mlp": net is not None, "parameters": len(ctx.graph.parameters),
            "example": ctx.example is not None,
            "matrix": any(s.key == "matrix" for s in sections)}
    args["model"] = _model(ctx.graph)
    if args["model"]:
        args["loss"] = ctx.graph.loss_name
    if net:
        args.update(widths=Tex(widths_latex(net.sizes, r"\text{-}")),
                    activations=list(dict.fromkeys(net.activations)), loss=net.loss_name)
    return Paragraph("abstract", args)


def _model(graph) -> dict | None:
    """A builder's model as the ``model_phrase`` macro reads it (its kind among its sizes)."""
    outline = model_outline(graph)
    return None if outline is None else {"kind": outline[0], **outline[1]}


def _definitions(ctx: DocumentContext) -> list[Tex]:
    """The notation's defining equations for layer l, in its own letters (no ASCII)."""
    net = ctx.mlp
    n = net.notation
    if n.name == "sequential":
        return []
    here, before = layer_letters(0, "j"), layer_letters(-1, "i")
    pre, act = n.latexes["pre"].format(**here), n.latexes["act"].format(**here)
    w = n.latexes["weight"].format(**{**here, "i": "i", "ij": "ij", "ji": "ji", "n": "ij"})
    a_prev = n.latexes["act"].format(**before)
    b = n.latexes["bias"].format(**here)
    bias = {False: "", True: f" + {b}", "shared": " + " + n.latexes["layer_bias"].format(**here),
            "threshold": f" - {b}"}[net.bias_mode]
    delta = n.latexes["delta"].format(**here)
    loss = ctx.tex(net.loss_symbol)
    return [Tex(rf"{pre} = \sum_{{i}} {w} \, {a_prev}{bias}"),
            Tex(rf"{act} = f\bigl({pre}\bigr)"),
            Tex(rf"{delta} = \frac{{\partial {loss}}}{{\partial {pre}}}")]

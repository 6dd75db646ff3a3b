"""The network section: what the net is, and its drawing."""

from __future__ import annotations

import sympy as sp

from ..derive import Derivation
from ..graph import Kind
from ..latex import Tex, TexPrinter
from ..mlp import MLP
from .base import _letters
from .model import Figure, Paragraph, Section


class NetworkSection:
    def network(self) -> Section:
        g, t = self.g, self.tex
        s = Section("network")
        if self.mlp:
            net = self.mlp
            s.blocks.append(Paragraph("network_mlp", {
                "widths": Tex(", ".join(str(n) for n in net.sizes)),
                "activations": list(dict.fromkeys(net.activations)),
                "bias": {False: "none", True: "unit", "threshold": "threshold",
                         "shared": "shared"}[net.bias_mode],
                "loss": net.loss_name,
                "notation": net.notation.name,
                "definitions": self._definitions(),
            }))
        else:
            s.blocks.append(Paragraph("network_graph", {
                "inputs": len(g.inputs), "targets": len(g.targets),
                "parameters": len(g.parameters), "nodes": len(g.nodes) - 1,
            }))
        wide = self.mlp is not None and (len(self.mlp.sizes) + 0.9) > 2.2 * max(self.mlp.sizes) * 0.5
        tikz, nodes = tikz_network(self.d, t, with_nodes=True)
        s.blocks.append(Figure(tikz, Paragraph("caption_network", {"mlp": self.mlp is not None}),
                               wide, nodes))
        shown = {}
        for name, syms in (("inputs", g.inputs), ("targets", g.targets),
                           ("parameters", g.parameters)):
            shown[name] = [Tex(t(x)) for x in syms[:12]] + ([Tex(r"\ldots")] if len(syms) > 12 else [])
        s.blocks.append(Paragraph("symbols", shown))
        return s

    def abstract(self) -> Paragraph:
        """What the notes are about: the network, its loss, and what is derived."""
        g = self.g
        args = {"mlp": self.mlp is not None, "parameters": len(g.parameters),
                "example": self.example is not None, "matrix": any(
                    s.key == "matrix" for s in getattr(self, "_sections", []))}
        if self.mlp:
            args.update(widths=Tex("-".join(str(n) for n in self.mlp.sizes)),
                        activations=list(dict.fromkeys(self.mlp.activations)),
                        loss=self.mlp.loss_name)
        return Paragraph("abstract", args)

    def _definitions(self) -> list[Tex]:
        """The notation's defining equations for layer l, in its own letters (no ASCII)."""
        net = self.mlp
        n = net.notation
        if n.name == "sequential":
            return []
        here, before = _letters(0, "j"), _letters(-1, "i")
        pre, act = n.latexes["pre"].format(**here), n.latexes["act"].format(**here)
        w = n.latexes["weight"].format(**{**here, "i": "i", "ij": "ij", "ji": "ji", "n": "ij"})
        a_prev = n.latexes["act"].format(**before)
        b = n.latexes["bias"].format(**here)
        bias = {False: "", True: f" + {b}", "shared": " + " + n.latexes["layer_bias"].format(**here),
                "threshold": f" - {b}"}[net.bias_mode]
        delta = n.latexes["delta"].format(**here)
        loss = self.tex(net.loss_symbol)
        return [Tex(rf"{pre} = \sum_{{i}} {w} \, {a_prev}{bias}"),
                Tex(rf"{act} = f\bigl({pre}\bigr)"),
                Tex(rf"{delta} = \frac{{\partial {loss}}}{{\partial {pre}}}")]

    def _layers(self) -> list[tuple[str, dict, list[sp.Symbol]]]:
        g = self.g
        if self.mlp:
            net = self.mlp
            out = []
            for l in range(1, net.depth + 1):  # noqa: E741
                key = "output_layer" if l == net.depth else "hidden_layer"
                units = range(1, net.sizes[l] + 1)
                out.append((key, {"l": l}, [net.pre(l, j) for j in units]
                            + [net.act(l, j) for j in units]))
            return out
        return [("nodes", {}, [v for v in g.nodes if v != g.loss_symbol])]


def tikz_network(d: Derivation, t: TexPrinter, with_nodes: bool = False):
    """A TikZ drawing of the network, edges labelled with their weights.

    With ``with_nodes``, also the TikZ node name of each graph symbol (for highlighting paths).
    """
    g = d.graph
    tikz, nodes = _tikz_mlp(g, t) if isinstance(g, MLP) else _tikz_graph(d, t)
    return (tikz, nodes) if with_nodes else tikz


def _tikz_mlp(net: MLP, t: TexPrinter) -> Tex:
    tall = max(net.sizes)
    dx, dy = 3.4, 1.7 if tall <= 4 else 1.2
    lines = [r"\begin{tikzpicture}[>=stealth, unit/.style={circle, draw, minimum size=11mm, "
             r"inner sep=1pt, font=\small}, w/.style={font=\scriptsize, fill=white, inner sep=1pt}]"]
    for l, n in enumerate(net.sizes):  # noqa: E741
        for j in range(1, n + 1):
            y = (n + 1) / 2 - j
            if l == 0:
                label = t(net.act(0, j))
            else:
                label = rf"{t(net.pre(l, j))}\,|\,{t(net.act(l, j))}"
            lines.append(rf"\node[unit] (n{l}-{j}) at ({l * dx:.2f},{y * dy:.2f}) {{${label}$}};")
    for l in range(1, len(net.sizes)):  # noqa: E741
        for i in range(1, net.sizes[l - 1] + 1):
            for j in range(1, net.sizes[l] + 1):
                pos = 0.3 if (i + j) % 2 else 0.55
                w = t(net.weight(l, i, j))
                lines.append(rf"\draw[->] (n{l - 1}-{i}) -- node[w, pos={pos}] {{${w}$}} "
                             rf"(n{l}-{j});")
    last = len(net.sizes) - 1
    lines.append(rf"\node[unit] (loss) at ({(last + 0.9) * dx:.2f},0) "
                 rf"{{${t(net.loss_symbol)}$}};")
    for j in range(1, net.sizes[-1] + 1):
        lines.append(rf"\draw[->, dashed] (n{last}-{j}) -- (loss);")
    lines.append(r"\end{tikzpicture}")
    nodes = {net.loss_symbol.name: "loss"}
    for l, n in enumerate(net.sizes):  # noqa: E741
        for j in range(1, n + 1):
            nodes[net.act(l, j).name] = f"n{l}-{j}"
            if l:
                nodes[net.pre(l, j).name] = f"n{l}-{j}"
    return Tex("\n".join(lines)), nodes


def _tikz_graph(d: Derivation, t: TexPrinter) -> Tex:
    """Inputs, nodes and the loss in columns by depth; a node's parameters are its label."""
    g = d.graph
    depth: dict[sp.Symbol, int] = {}
    for s in g.symbols:
        parents = [p for p in g.parents(s) if g.kind(p) is not Kind.PARAMETER]
        depth[s] = 1 + max((depth[p] for p in parents), default=-1)
    columns: dict[int, list[sp.Symbol]] = {}
    for s in g.symbols:
        if g.kind(s) in (Kind.TARGET, Kind.PARAMETER):
            continue
        columns.setdefault(depth[s], []).append(s)
    lines = [r"\begin{tikzpicture}[>=stealth, unit/.style={circle, draw, minimum size=9mm, "
             r"inner sep=1pt, font=\small}]"]
    ids = {}
    for c, syms in sorted(columns.items()):
        for k, s in enumerate(syms):
            ids[s] = f"v{len(ids)}"
            y = (len(syms) - 1) / 2 - k
            style = "unit" if g.kind(s) in (Kind.NODE, Kind.LOSS) else "unit, dashed"
            params = [p for p in g.parents(s) if g.kind(p) is Kind.PARAMETER]
            if params:
                names = ", ".join(t(p) for p in params)
                style += rf", label={{[font=\scriptsize]above:${names}$}}"
            lines.append(rf"\node[{style}] ({ids[s]}) at ({c * 2.6:.2f},{y * 1.6:.2f}) "
                         rf"{{${t(s)}$}};")
    for s in g.nodes:
        for p in g.parents(s):
            if p in ids:
                # A skip edge would cross the nodes between: it arcs over them instead.
                span = depth[s] - depth[p]
                how = "--" if span <= 1 else f"to[bend left={min(20 + 10 * span, 60)}]"
                lines.append(rf"\draw[->] ({ids[p]}) {how} ({ids[s]});")
    lines.append(r"\end{tikzpicture}")
    return Tex("\n".join(lines)), {s.name: i for s, i in ids.items()}

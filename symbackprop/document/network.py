"""The network section: what the net is, and its drawing."""

from __future__ import annotations

import sympy as sp

from ..printing.latex import Tex
from .base import _letters
from .model import Figure, Paragraph, Section
from .tikz import tikz_network

#: A model with more nodes than this is not drawn (its notes give the general form instead).
MAX_DRAWN_NODES = 80


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
        # A long unrolled model (an RNN over 16 steps: 305 nodes) is no picture, and TeX's
        # dimensions overflow on it; its general form, which comes next, is the picture.
        if self.focus is None or len(g.nodes) <= MAX_DRAWN_NODES:
            tikz, nodes = tikz_network(self.d, t, with_nodes=True)
            s.blocks.append(Figure(tikz, Paragraph("caption_network",
                                                   {"mlp": self.mlp is not None}), wide, nodes))
        shown = {}
        for name, syms in (("inputs", g.inputs), ("targets", g.targets),
                           ("parameters", g.parameters)):
            shown[name] = [Tex(t(x)) for x in syms[:12]] + ([Tex(r"\ldots")] if len(syms) > 12 else [])
        s.blocks.append(Paragraph("symbols", shown))
        return s

    def drawn_path(self, factors) -> list[tuple[str, str]]:
        """The drawing's edges that a chain's factors run along (∂c/∂v: from v's node to c's;
        a weight: its own edge). Factors within one drawn node (∂h/∂z) have no edge."""
        if not hasattr(self, "_drawn"):
            self._drawn = tikz_network(self.d, self.tex, with_nodes=True)[1]
        at = self._drawn
        edges = []
        for f in factors:
            wrt, of = at.get(f.wrt.name), at.get(f.of.name)
            if isinstance(wrt, tuple):
                edges.append(wrt)
            elif isinstance(wrt, str) and isinstance(of, str) and wrt != of:
                edges.append((wrt, of))
        return list(dict.fromkeys(edges))

    def abstract(self) -> Paragraph:
        """What the notes are about: the network, its loss, and what is derived."""
        g = self.g
        args = {"mlp": self.mlp is not None, "parameters": len(g.parameters),
                "example": self.example is not None, "matrix": any(
                    s.key == "matrix" for s in getattr(self, "_sections", []))}
        if self.mlp:
            args.update(widths=Tex(r"\text{-}".join(str(n) for n in self.mlp.sizes)),
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

"""The drawing of the network in TikZ: an MLP's units in columns with each weight on its edge,
a model (RNN, convolution, attention, blocks) as textbooks draw it (:mod:`.drawings`), any
other graph's nodes in columns by depth with their parameters as labels (:func:`tikz_graph`,
which a model's appendix also shows where it is small enough to read).

Beside the picture, :func:`tikz_network` gives each graph symbol's TikZ node (a weight: its
edge's two ends; a model's shared weight: for each node it feeds, the edges of that use), so
that slides can draw a chain's path in red over the same picture.
"""

from __future__ import annotations

import sympy as sp

from ..builders.mlp import MLP
from ..core.graph import Kind
from ..derivation.reverse import Derivation
from ..printing.latex import Tex, TexPrinter
from .drawing import Box, label_size, place_labels
from .drawings import model_scene

__all__ = ["tikz_network", "tikz_graph", "MAX_DRAWING_WIDTH", "MAX_LABEL_WIDTH"]

#: A node's label of parameters wider than this (cm; the columns are 2.6 apart) is shortened to
#: its first and last (w_{1,1,1}, …, b_{1}: a convolution with channels)
MAX_LABEL_WIDTH = 3.0
#: The widest drawing (cm) whose \scriptsize labels stay legible once it is shrunk to the text
#: width (16.6 cm): about 70 % of their size.
MAX_DRAWING_WIDTH = 23.5


def tikz_network(d: Derivation, t: TexPrinter, with_nodes: bool = False):
    """A TikZ drawing of the network, edges labelled with their weights.

    With ``with_nodes``, also the TikZ node name of each graph symbol (for highlighting paths).
    """
    g = d.graph
    scene = None if isinstance(g, MLP) else model_scene(g)
    if isinstance(g, MLP):
        tikz, nodes = _tikz_mlp(g, t)
    elif scene is not None:
        tikz, nodes = scene.tikz(), scene.symbols
    else:
        tikz, nodes = tikz_graph(d, t)
    return (tikz, nodes) if with_nodes else tikz


def _tikz_mlp(net: MLP, t: TexPrinter) -> tuple[Tex, dict]:
    """Units in columns; each weight labels its edge where the label meets nothing else."""
    tall = max(net.sizes)
    labels = {}
    for l, n in enumerate(net.sizes):  # noqa: E741
        for j in range(1, n + 1):
            labels[l, j] = (t(net.act(0, j)) if l == 0 else
                            rf"{t(net.pre(l, j))}\,|\,{t(net.act(l, j))}")
    # A unit is a circle around its label: the widest label sets every unit's size.
    radius = max(0.55, max(label_size(x, script=False)[0] for x in labels.values()) / 2 + 0.08)
    dy = max(1.7 if tall <= 4 else 1.35, 2 * radius + 0.35)
    # Wider gaps give the labels room; widen until every layer's labels fit, as long as the
    # drawing, shrunk to the page, keeps them legible. Else the layers that do not fit at the
    # narrowest (or all, if even that is too wide) carry their weight matrix's name instead.
    def columns(widen: float) -> tuple[float, dict]:
        dx = (max(3.4, 2 * radius + 2.2) + 0.8 * max(0, tall - 2)) * widen
        return dx, {(col, j): (col * dx, ((n + 1) / 2 - j) * dy)
                    for col, n in enumerate(net.sizes) for j in range(1, n + 1)}

    def layers(at: dict, labelled: bool) -> dict:
        units = [Box(x, y, 2 * radius, 2 * radius) for x, y in at.values()]
        placed = {}
        for l in range(1, len(net.sizes)):  # noqa: E741
            pairs = [(i, j) for i in range(1, net.sizes[l - 1] + 1)
                     for j in range(1, net.sizes[l] + 1)]
            edges = [(at[l - 1, i], at[l, j], t(net.weight(l, i, j))) for i, j in pairs]
            placed[l] = (pairs, edges, place_labels(edges, units) if labelled else None)
        return placed

    chosen, first = None, None
    for widen in (1.0, 1.15, 1.3, 1.45, 1.6):
        dx, at = columns(widen)
        if (len(net.sizes) - 0.1) * dx + radius > MAX_DRAWING_WIDTH:
            # too wide to read once shrunk, and every wider gap is wider still: no label is
            # placed at any (placing them cost a 16-layer net 1.3 s, to be thrown away)
            break
        placed = layers(at, labelled=True)
        first = first or (dx, at, placed)
        if all(centres is not None for _, _, centres in placed.values()):
            chosen = (dx, at, placed)
            break
    if chosen is None and first is not None:
        chosen = first  # legible, but some layer's labels fit at no gap: it gets its name
    if chosen is None:  # even the narrowest is too wide to read: every layer gets its name
        dx, at = columns(1.0)
        chosen = (dx, at, layers(at, labelled=False))
    dx, at, placed = chosen
    lines = [r"\begin{tikzpicture}[>=stealth, unit/.style={circle, draw, "
             rf"minimum size={2 * radius:.2f}cm, inner sep=1pt, font=\small}}, "
             r"w/.style={font=\scriptsize, fill=white, inner sep=1pt}]"]
    for (col, j), (x, y) in at.items():
        lines.append(rf"\node[unit] (n{col}-{j}) at ({x:.2f},{y:.2f}) {{${labels[col, j]}$}};")
    for l, (pairs, edges, centres) in placed.items():  # noqa: E741
        for i, j in pairs:
            lines.append(rf"\draw[->] (n{l - 1}-{i}) -- (n{l}-{j});")
        if centres is not None:
            for (_, _, w), (x, y) in zip(edges, centres, strict=True):
                lines.append(rf"\node[w] at ({x:.2f},{y:.2f}) {{${w}$}};")
        else:
            # Too many to label one by one: the bundle carries the layer's weight in general.
            name = net.notation.latex_general("weight", l=str(l))
            top = (max(net.sizes[l - 1], net.sizes[l]) - 1) / 2 * dy + radius + 0.35
            lines.append(rf"\node[font=\small] at ({(l - 0.5) * dx:.2f},{top:.2f}) {{${name}$}};")
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
    for l in range(1, len(net.sizes)):  # noqa: E741
        for i in range(1, net.sizes[l - 1] + 1):
            for j in range(1, net.sizes[l] + 1):
                nodes[net.weight(l, i, j).name] = (f"n{l - 1}-{i}", f"n{l}-{j}")
    return Tex("\n".join(lines)), nodes


def tikz_graph(d: Derivation, t: TexPrinter) -> tuple[Tex, dict]:
    """The scalar graph: inputs, nodes and the loss in columns by depth; a node's parameters
    are its label. With each symbol's TikZ node."""
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
                if label_size(names)[0] > MAX_LABEL_WIDTH:  # would run into its neighbours'
                    names = rf"{t(params[0])}, \ldots, {t(params[-1])}"
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

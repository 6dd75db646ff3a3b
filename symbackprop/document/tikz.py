"""The drawing of the network: an MLP's units in columns with each weight on its edge, a model
(RNN, convolution, attention, blocks) as textbooks draw it (:mod:`.drawings`), any other graph's
nodes in columns by depth with their parameters as labels (:func:`graph_scene`, which a model's
appendix also shows where it is small enough to read). Each is laid out once as a
:class:`~.drawings.scene.Scene`, which emits the TikZ (and the HTML page's SVG).

Beside the picture, :func:`tikz_network` gives each graph symbol's TikZ node (a weight: its
edge's two ends; a model's shared weight: for each node it feeds, the edges of that use), so
that slides can draw a chain's path in red over the same picture.
"""

from __future__ import annotations

import sympy as sp

from ..builders.mlp import MLP
from ..core.graph import Graph, Kind
from ..derivation.reverse import Derivation
from ..printing.latex import Tex, TexPrinter
from .drawing import Box, label_size, place_labels
from .drawings import Scene, model_scene

__all__ = ["tikz_network", "tikz_graph", "network_scene", "mlp_scene", "graph_scene", "chain_links",
           "MAX_DRAWING_WIDTH", "MAX_DRAWN_COLUMNS", "MAX_LABEL_WIDTH"]

#: A node's label of parameters wider than this (cm; the columns are 2.6 apart) is shortened to
#: its first and last (w_{1,1,1}, …, b_{1}: a convolution with channels)
MAX_LABEL_WIDTH = 3.0
#: The widest drawing (cm) whose \scriptsize labels stay legible once it is shrunk to the text
#: width (16.6 cm): about 70 % of their size.
MAX_DRAWING_WIDTH = 23.5
#: A network with more layers of units than this is drawn as its first and last ones with ⋯
#: between: 200 columns would be 8 m of picture, past the largest dimension TeX can hold
#: (16,384 pt) and no picture once shrunk to the page.
MAX_DRAWN_COLUMNS = 16
#: The columns such a drawing keeps at its start and at its end.
KEPT_COLUMNS = (4, 3)


def tikz_network(d: Derivation, t: TexPrinter, with_nodes: bool = False):
    """A TikZ drawing of the network, edges labelled with their weights.

    With ``with_nodes``, also the TikZ node name of each graph symbol (for highlighting paths).
    """
    scene = network_scene(d, t)
    return (scene.tikz(), scene.symbols) if with_nodes else scene.tikz()


def network_scene(d: Derivation, t: TexPrinter) -> Scene:
    """The network's drawing as geometry: an MLP's units, a model's own drawing, else the
    scalar graph; its ``symbols`` give each graph symbol's node.

    >>> import symbackprop as sb
    >>> from symbackprop.printing.latex import TexPrinter
    >>> d = sb.derive(sb.mlp([1, 1])); sorted(network_scene(d, TexPrinter(d)).nodes)
    ['loss', 'n0-1', 'n1-1']
    """
    g = d.graph
    scene = mlp_scene(g, t) if isinstance(g, MLP) else model_scene(g) or graph_scene(d, t)
    scene.links = chain_links(g, scene.symbols)
    return scene


def chain_links(g: Graph, at: dict) -> list[tuple[str, str]]:
    """Each graph edge between two drawn nodes as (its parent's node, its child's node): what a
    chain's factor ∂child/∂parent runs along on the drawing (``at``: a scene's symbols).

    >>> import symbackprop as sb
    >>> g = sb.mlp([1, 1]); chain_links(g, {"x1": "a", "z1": "b", "yhat": "b", "L": "c"})
    [('a', 'b'), ('b', 'c')]
    """
    out: dict[tuple[str, str], None] = {}
    for child in dict.fromkeys([*g.nodes, g.loss_symbol]):
        of = at.get(child.name)
        if not isinstance(of, str):
            continue
        for parent in g.parents(child):
            wrt = at.get(parent.name)
            if isinstance(wrt, str) and wrt != of:
                out[wrt, of] = None
    return list(out)


def mlp_scene(net: MLP, t: TexPrinter) -> Scene:
    """Units in columns; each weight labels its edge where the label meets nothing else. A
    network deeper than ``MAX_DRAWN_COLUMNS`` keeps its first and last columns, ⋯ between."""
    tall = max(net.sizes)
    count = len(net.sizes)
    shown = list(range(count)) if count <= MAX_DRAWN_COLUMNS else \
        [*range(KEPT_COLUMNS[0]), *range(count - KEPT_COLUMNS[1], count)]
    # where each kept column stands: the elided ones leave one column's gap for the ⋯
    place = {col: k + (k >= KEPT_COLUMNS[0] and count > MAX_DRAWN_COLUMNS)
             for k, col in enumerate(shown)}
    labels = {}
    for l, n in enumerate(net.sizes):  # noqa: E741
        if l not in place:
            continue
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
        return dx, {(col, j): (place[col] * dx, ((n + 1) / 2 - j) * dy)
                    for col, n in enumerate(net.sizes) if col in place
                    for j in range(1, n + 1)}

    def layers(at: dict, labelled: bool) -> dict:
        units = [Box(x, y, 2 * radius, 2 * radius) for x, y in at.values()]
        placed = {}
        for l in range(1, len(net.sizes)):  # noqa: E741
            if l not in place or l - 1 not in place:
                continue
            pairs = [(i, j) for i in range(1, net.sizes[l - 1] + 1)
                     for j in range(1, net.sizes[l] + 1)]
            edges = [(at[l - 1, i], at[l, j], t(net.weight(l, i, j))) for i, j in pairs]
            placed[l] = (pairs, edges, place_labels(edges, units) if labelled else None)
        return placed

    chosen, first = None, None
    for widen in (1.0, 1.15, 1.3, 1.45, 1.6):
        dx, at = columns(widen)
        if (place[count - 1] + 0.9) * dx + radius > MAX_DRAWING_WIDTH:
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
    s = Scene(options=r">=stealth, unit/.style={circle, draw, "
              rf"minimum size={2 * radius:.2f}cm, inner sep=1pt, font=\small}}, "
              r"w/.style={font=\scriptsize, fill=white, inner sep=1pt}")
    for (col, j), (x, y) in at.items():
        s.node(f"n{col}-{j}", x, y, labels[col, j], w=2 * radius, tikz="unit")
    last = count - 1
    s.node("loss", (place[last] + 0.9) * dx, 0, t(net.loss_symbol), w=2 * radius, tikz="unit")
    if count > MAX_DRAWN_COLUMNS:
        s.label(r"\cdots", KEPT_COLUMNS[0] * dx, 0, tikz=r"font=\small")
    for l, (pairs, edges, centres) in placed.items():  # noqa: E741
        drawn = [s.connect(f"n{l - 1}-{i}", f"n{l}-{j}") for i, j in pairs]
        if centres is not None:
            for edge, (_, _, w), (x, y) in zip(drawn, edges, centres, strict=True):
                s.label(w, x, y, font=r"\scriptsize", on=edge, tikz="w")
        else:
            # Too many to label one by one: the bundle carries the layer's weight in general
            # (a layer of one edge, a chain's, its own weight: w_j on every edge named none).
            name = edges[0][2] if len(edges) == 1 else \
                net.notation.latex_general("weight", l=str(l))
            top = (max(net.sizes[l - 1], net.sizes[l]) - 1) / 2 * dy + radius + 0.35
            s.label(name, (place[l] - 0.5) * dx, top, tikz=r"font=\small")
    for j in range(1, net.sizes[-1] + 1):
        s.connect(f"n{last}-{j}", "loss", style="->, dashed")
    s.symbols[net.loss_symbol.name] = "loss"
    for l, n in enumerate(net.sizes):  # noqa: E741
        if l not in place:
            continue
        for j in range(1, n + 1):
            s.symbols[net.act(l, j).name] = f"n{l}-{j}"
            if l:
                s.symbols[net.pre(l, j).name] = f"n{l}-{j}"
    for l in range(1, len(net.sizes)):  # noqa: E741
        if l not in place or l - 1 not in place:
            continue
        for i in range(1, net.sizes[l - 1] + 1):
            for j in range(1, net.sizes[l] + 1):
                s.symbols[net.weight(l, i, j).name] = (f"n{l - 1}-{i}", f"n{l}-{j}")
    return s


def tikz_graph(d: Derivation, t: TexPrinter) -> tuple[Tex, dict]:
    """The scalar graph (:func:`graph_scene`) in TikZ, with each symbol's TikZ node."""
    scene = graph_scene(d, t)
    return scene.tikz(), scene.symbols


def graph_scene(d: Derivation, t: TexPrinter) -> Scene:
    """The scalar graph: inputs, nodes and the loss in columns by depth; a node's parameters
    are its label, above it where no edge runs through it. Its ``symbols``: each symbol's node.

    >>> import symbackprop as sb
    >>> from symbackprop.printing.latex import TexPrinter
    >>> d = sb.derive(sb.mlp([1, 1])); graph_scene(d, TexPrinter(d)).problems()
    []
    """
    g = d.graph
    depth: dict[sp.Symbol, int] = {}
    for v in g.symbols:
        parents = [p for p in g.parents(v) if g.kind(p) is not Kind.PARAMETER]
        depth[v] = 1 + max((depth[p] for p in parents), default=-1)
    columns: dict[int, list[sp.Symbol]] = {}
    for v in g.symbols:
        if g.kind(v) in (Kind.TARGET, Kind.PARAMETER):
            continue
        columns.setdefault(depth[v], []).append(v)
    s = Scene(options=r">=stealth, unit/.style={circle, draw, minimum size=9mm, "
              r"inner sep=1pt, font=\small}")
    labels = []
    # TikZ grows a circle around a wide name: every circle is the widest one's size.
    size = max(0.9, *(label_size(t(v), script=False)[0] for vs in columns.values() for v in vs))
    for c, syms in sorted(columns.items()):
        for k, v in enumerate(syms):
            name, latex = f"v{len(s.nodes)}", t(v)
            style = "unit" if g.kind(v) in (Kind.NODE, Kind.LOSS) else "unit, dashed"
            if size > 0.9:
                style += f", minimum size={size:.2f}cm"
            node = s.node(name, c * 2.6, ((len(syms) - 1) / 2 - k) * 1.6, latex, w=size,
                          tikz=style, style="dashed" if "dashed" in style else "")
            s.symbols[v.name] = name
            params = [p for p in g.parents(v) if g.kind(p) is Kind.PARAMETER]
            if params:
                names = ", ".join(t(p) for p in params)
                if label_size(names)[0] > MAX_LABEL_WIDTH:  # would run into its neighbours'
                    names = rf"{t(params[0])}, \ldots, {t(params[-1])}"
                labels.append((node, names))
    for v in g.nodes:
        for p in g.parents(v):
            if p.name in s.symbols and g.kind(p) is not Kind.PARAMETER:
                # A skip edge would cross the nodes between: it arcs over them instead.
                span = depth[v] - depth[p]
                a, b = s.symbols[p.name], s.symbols[v.name]
                if span <= 1:
                    s.connect(a, b)
                else:
                    s.bend(a, b, min(20 + 10 * span, 60))
    # A node's parameters above it, else on the first side where no edge runs through them.
    for node, names in labels:
        s.label_near(node, names, tikz=r"font=\scriptsize")
    return s

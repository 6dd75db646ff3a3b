"""A model's drawing as geometry: nodes (boxes in cm), edges (polylines between them), labels
beside edges and frames around groups, then emitted as TikZ (:meth:`Scene.tikz`) or as SVG
(:func:`.svg.scene_svg`): one layout, two emitters.

The layout code of each model (rnn.py, conv.py, …) places everything; a :class:`Scene` keeps it
all in one coordinate system, so that what is drawn is what :meth:`Scene.problems` checks: no two
labels meet, no label touches a node or sits on an edge (its own included: a label stands
beside its edge, never over it).

>>> s = Scene()
>>> a, b = s.node("a", 0, 0, "x"), s.node("b", 3, 0, "h")
>>> e = s.connect("a", b.name)
>>> _ = s.label_beside(e, "U", side=1)
>>> s.problems()
[]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ...printing.latex import Tex
from ..drawing import MARGIN, Box, label_size

__all__ = ["Scene", "Node", "Edge", "Label", "Frame", "Point", "bend_controls"]

Point = tuple[float, float]


@dataclass(frozen=True)
class Node:
    """A drawn node: a circle, a rectangle, or ``plain`` text, with its box (cm)."""

    name: str
    box: Box
    latex: str
    shape: str = "circle"
    style: str = ""
    #: The node's whole TikZ option list, where a picture-wide style draws it (``unit``).
    tikz: str = ""

    @property
    def centre(self) -> Point:
        return self.box.x, self.box.y

    def boundary(self, towards: Point) -> Point:
        """Where the ray from the centre towards ``towards`` leaves the node's shape."""
        x, y = self.box.x, self.box.y
        dx, dy = towards[0] - x, towards[1] - y
        length = math.hypot(dx, dy)
        if length < 1e-9:
            return x, y
        if self.shape == "circle":
            r = self.box.w / 2
            return x + dx / length * r, y + dy / length * r
        scale = min(self.box.w / 2 / abs(dx) if abs(dx) > 1e-9 else math.inf,
                    self.box.h / 2 / abs(dy) if abs(dy) > 1e-9 else math.inf)
        return x + dx * scale, y + dy * scale


@dataclass(frozen=True)
class Edge:
    """A polyline; ``ends`` names the nodes it joins (drawn ``(a) -- (b)`` when straight)."""

    points: tuple[Point, ...]
    style: str = "->"
    ends: tuple[str, str] | None = None
    straight: bool = True
    #: A curve, TikZ's ``to[bend left=bend]`` between its ends (``points`` then sample it).
    bend: float = 0.0
    order: int = field(default=0, compare=False)

    @property
    def segments(self) -> list[tuple[Point, Point]]:
        return list(zip(self.points, self.points[1:], strict=False))


@dataclass(frozen=True)
class Label:
    """Math at a box (cm); ``on``: the edge it names, sitting on it over a background fill
    (other edges may pass its rim, none its core)."""

    box: Box
    latex: str
    font: str = r"\small"
    on: Edge | None = None
    #: The label's whole TikZ option list, where a picture-wide style sets it (``w``).
    tikz: str = ""
    order: int = field(default=0, compare=False)

    @property
    def core(self) -> Box:
        """The middle of an on-edge label, which no other edge may cross."""
        b = self.box
        return Box(b.x, b.y, b.w / 2 - 2 * MARGIN, b.h / 2 - 2 * MARGIN)


@dataclass(frozen=True)
class Frame:
    """A drawn rectangle around a group (a kernel window, the softmax), with its own style."""

    box: Box
    style: str


@dataclass
class Scene:
    """Everything a model's drawing holds, and the graph symbols each node stands for."""

    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    #: Graph symbol name -> the TikZ node that draws it; a weight: {node it feeds: [edges]}.
    symbols: dict = field(default_factory=dict)
    #: Extra TikZ styles (name -> definition), e.g. one colour per kernel tap.
    styles: dict[str, str] = field(default_factory=dict)
    #: The backward pass on the drawing, one slide overlay each: where it is (math, as
    #: ``t = 3``), the edges it runs along and frames to draw (a kernel window).
    walk: list[tuple[str, list[tuple[str, str]], list[Box]]] = field(default_factory=list)
    #: The tikzpicture's whole option list, where the picture defines its own styles.
    options: str = ""
    #: Every (node, node) a chain's factor may run along (a graph edge between two drawn
    #: nodes), drawn or not: a softmax's outputs on one another, a window's cells into the
    #: entry it makes. The slides draw such an edge in red when a path lights it; the SVG
    #: holds the undrawn ones hidden until lit.
    links: list[tuple[str, str]] = field(default_factory=list)

    def _next(self) -> int:
        # Edges and labels are emitted in the order they were added: a label drawn after its
        # layer's edges (over them, on its fill) and before the next layer's.
        return len(self.edges) + len(self.labels)

    def node(self, name: str, x: float, y: float, latex: str, shape: str = "circle",
             w: float | None = None, h: float | None = None, style: str = "",
             tikz: str = "") -> Node:
        """Add a node; its size is its label's (at \\small) unless ``w``/``h`` are given."""
        lw, lh = label_size(latex, script=False)
        if shape == "circle":
            w = h = w or max(0.8, lw + 0.16)
        else:
            w, h = w or lw + 0.2, h or max(0.62, lh + 0.12)
        node = Node(name, Box(round(x, 3), round(y, 3), w, h), latex, shape, style, tikz)
        self.nodes[name] = node
        return node

    def connect(self, a: str, b: str, style: str = "->", via: tuple[Point, ...] = (),
                start: Point | None = None, end: Point | None = None) -> Edge:
        """An edge from node ``a`` to node ``b`` through ``via`` (or from/to given points)."""
        first = via[0] if via else self.nodes[b].centre
        last = via[-1] if via else self.nodes[a].centre
        p0 = start or self.nodes[a].boundary(first)
        p1 = end or self.nodes[b].boundary(last)
        edge = Edge((p0, *via, p1), style, (a, b), not via and start is None and end is None,
                    order=self._next())
        self.edges.append(edge)
        return edge

    def bend(self, a: str, b: str, angle: float, style: str = "->") -> Edge:
        """An edge from ``a`` to ``b`` arcing left of the straight line by ``angle`` degrees,
        as TikZ's ``bend left`` draws it (a skip edge over the nodes between)."""
        p0, c0, c1, p1 = bend_controls(self.nodes[a], self.nodes[b], angle)
        samples = tuple(_cubic(p0, c0, c1, p1, k / 16) for k in range(17))
        edge = Edge(samples, style, (a, b), False, angle, order=self._next())
        self.edges.append(edge)
        return edge

    def path(self, points: tuple[Point, ...], style: str = "->") -> Edge:
        """A free polyline (a loop, the unfold arrow)."""
        edge = Edge(tuple(points), style, None, False, order=self._next())
        self.edges.append(edge)
        return edge

    def label(self, latex: str, x: float, y: float, font: str = r"\small",
              on: Edge | None = None, tikz: str = "") -> Label:
        """Math centred at (x, y); ``on``: the edge it names, drawn over it (see Label)."""
        w, h = label_size(latex, script=font == r"\scriptsize")
        out = Label(Box(round(x, 3), round(y, 3), w, h), latex, font, on, tikz, self._next())
        self.labels.append(out)
        return out

    def label_beside(self, edge: Edge, latex: str, side: int = 1,
                     at: float | tuple[float, ...] = 0.5, segment: int | None = None,
                     font: str = r"\small") -> Label:
        """A label beside ``edge`` (``side`` +1: left of its direction, −1: right), at ``at``
        along its longest segment (or ``segment``), just far enough off that it meets no line.
        Given several places, the first where it meets nothing drawn so far (else the first)."""
        places = (at,) if isinstance(at, float | int) else at
        for place in places:
            label = self._beside(edge, latex, side, place, segment, font)
            if len(places) == 1 or not self._blocked(label):
                break
            self.labels.pop()
        else:
            label = self._beside(edge, latex, side, places[0], segment, font)
        return label

    def label_near(self, node: Node, latex: str, font: str = r"\scriptsize",
                   sides: tuple[str, ...] = ("above", "left", "below", "right"),
                   tikz: str = "") -> Label:
        """A label just clear of ``node`` on the first of ``sides`` where it meets nothing
        drawn so far; else where it meets the fewest labels and nodes, then edges (a line
        through a label still reads; a name over a name does not). Add the edges first.

        >>> s = Scene(); a = s.node("a", 0, 0, "x"); _ = s.node("b", 0, 1.2, "y")
        >>> _ = s.connect("a", "b"); s.label_near(a, "w").box.x < 0
        True
        """
        w, h = label_size(latex, script=font == r"\scriptsize")
        b = node.box
        gap = MARGIN + 0.01  # just clear of the node, as TikZ's label sits on its rim
        away = {"above": (0, (b.h + h) / 2 + gap), "below": (0, -(b.h + h) / 2 - gap),
                "left": (-(b.w + w) / 2 - gap, 0), "right": ((b.w + w) / 2 + gap, 0)}
        scores = []
        for side in sides:
            label = self.label(latex, b.x + away[side][0], b.y + away[side][1], font, tikz=tikz)
            self.labels.pop()
            score = self._meets(label)
            if score == (0, 0):
                break
            scores.append((score, len(scores), side))
        else:
            side = min(scores)[2]
        return self.label(latex, b.x + away[side][0], b.y + away[side][1], font, tikz=tikz)

    def _meets(self, label: Label) -> tuple[int, int]:
        """How many labels and nodes, and how many edges, ``label`` (not yet added) meets."""
        boxes = [o.box for o in self.labels] + [n.box for n in self.nodes.values()]
        return (sum(label.box.meets(o) for o in boxes),
                sum(any(label.box.crosses(p, q) for p, q in e.segments) for e in self.edges))

    def _blocked(self, label: Label) -> bool:
        return (any(label.box.meets(o.box) for o in self.labels if o is not label)
                or any(label.box.meets(n.box) for n in self.nodes.values())
                or any(label.box.crosses(p, q) for e in self.edges for p, q in e.segments))

    def _beside(self, edge: Edge, latex: str, side: int, at: float, segment: int | None,
                font: str) -> Label:
        segs = edge.segments
        k = segment if segment is not None else max(
            range(len(segs)), key=lambda n: math.dist(*segs[n]))
        (x0, y0), (x1, y1) = segs[k]
        length = math.hypot(x1 - x0, y1 - y0)
        nx, ny = -(y1 - y0) / length * side, (x1 - x0) / length * side
        w, h = label_size(latex, script=font == r"\scriptsize")
        away = w / 2 * abs(nx) + h / 2 * abs(ny) + 2.5 * MARGIN
        return self.label(latex, x0 + at * (x1 - x0) + nx * away,
                          y0 + at * (y1 - y0) + ny * away, font)

    def frame(self, box: Box, style: str) -> Frame:
        out = Frame(box, style)
        self.frames.append(out)
        return out

    # -- checks -----------------------------------------------------------------------------------
    def problems(self) -> list[str]:
        """What would print one thing over another: labels meeting labels or nodes, labels on
        edges, nodes overlapping. Empty for a good drawing."""
        out = []
        nodes = list(self.nodes.values())
        for k, a in enumerate(self.labels):
            out += [f"labels {a.latex!r} and {b.latex!r} meet" for b in self.labels[k + 1:]
                    if a.box.meets(b.box)]
            out += [f"label {a.latex!r} meets node {n.name}" for n in nodes if a.box.meets(n.box)]
            # A label on its own edge hides, on its fill, what crosses its rim: only its
            # core must be clear of every other edge.
            core = a.core if a.on is not None else a.box
            out += [f"label {a.latex!r} sits on an edge {e.points[0]}→{e.points[-1]}"
                    for e in self.edges if e is not a.on
                    and any(core.crosses(p, q) for p, q in e.segments)]
        for k, a in enumerate(nodes):
            out += [f"nodes {a.name} and {b.name} overlap" for b in nodes[k + 1:]
                    if _overlap(a.box, b.box)]
        return out

    # -- TikZ -------------------------------------------------------------------------------------
    def tikz(self) -> Tex:
        """The drawing as one tikzpicture; nodes are named so slides can draw over them."""
        styles = "".join(f", {k}/.style={{{v}}}" for k, v in sorted(self.styles.items()))
        lines = [r"\begin{tikzpicture}[" + (self.options or (
            r">=stealth, line join=round, "
            r"every node/.style={inner sep=1pt, outer sep=0pt, font=\small}" + styles)) + "]"]
        for f in self.frames:
            b = f.box
            lines.append(rf"\draw[{f.style}] ({b.x - b.w / 2:.2f},{b.y - b.h / 2:.2f}) "
                         rf"rectangle ({b.x + b.w / 2:.2f},{b.y + b.h / 2:.2f});")
        for n in self.nodes.values():
            shape = {"circle": "circle, draw", "rectangle": "rectangle, draw",
                     "plain": "rectangle"}[n.shape]
            size = (f"minimum size={n.box.w:.2f}cm" if n.shape == "circle" else
                    f"minimum width={n.box.w:.2f}cm, minimum height={n.box.h:.2f}cm")
            style = n.tikz or f"{shape}, {size}" + (f", {n.style}" if n.style else "")
            lines.append(rf"\node[{style}] ({n.name}) at ({n.box.x:.2f},{n.box.y:.2f}) "
                         rf"{{${n.latex}$}};")
        for item in self.drawn():
            if isinstance(item, Label):
                style = item.tikz or f"font={item.font}"
                lines.append(rf"\node[{style}] at ({item.box.x:.2f},{item.box.y:.2f}) "
                             rf"{{${item.latex}$}};")
            elif item.ends and (item.straight or item.bend):
                how = "--" if item.straight else f"to[bend left={item.bend:g}]"
                lines.append(rf"\draw[{item.style}] ({item.ends[0]}) {how} ({item.ends[1]});")
            else:
                path = " -- ".join(f"({x:.2f},{y:.2f})" for x, y in item.points)
                lines.append(rf"\draw[{item.style}] {path};")
        lines.append(r"\end{tikzpicture}")
        return Tex("\n".join(lines))

    def drawn(self) -> list[Edge | Label]:
        """Edges and labels in the order they were added (which is drawn over which)."""
        return sorted([*self.edges, *self.labels], key=lambda item: item.order)

    def walked(self) -> Tex | None:
        """The drawing with the backward pass as beamer overlays (overlay 1: the drawing alone;
        then one step each, in red, its place written in the top left), or None."""
        if not self.walk:
            return None
        boxes = [n.box for n in self.nodes.values()] + [lab.box for lab in self.labels]
        top = max([b.y + b.h / 2 for b in boxes] + [y for e in self.edges for _, y in e.points])
        corner = (min(b.x - b.w / 2 for b in boxes), top + 0.6)
        widest = max((w for w, _, _ in self.walk), key=len)
        # The same room on every overlay, so the drawing does not jump as they change.
        drawn = [rf"\path ({corner[0]:.2f},{corner[1]:.2f}) node[anchor=north west, font=\Large] "
                 rf"{{\phantom{{${widest}$}}}};"]
        for k, (where, edges, frames) in enumerate(self.walk, start=2):
            parts = [rf"\draw[->, red!80!black, line width=1.6pt] ({a}) -- ({b});"
                     for a, b in edges]
            parts += [rf"\draw[red!80!black, very thick, rounded corners=3pt] "
                      rf"({f.x - f.w / 2:.2f},{f.y - f.h / 2:.2f}) rectangle "
                      rf"({f.x + f.w / 2:.2f},{f.y + f.h / 2:.2f});" for f in frames]
            parts.append(rf"\node[anchor=north west, text=red!80!black, font=\Large] at "
                         rf"({corner[0]:.2f},{corner[1]:.2f}) {{${where}$}};")
            drawn.append(rf"\only<{k}>{{" + " ".join(parts) + "}")
        return Tex(self.tikz().replace(r"\end{tikzpicture}",
                                       "\n".join(drawn) + "\n" + r"\end{tikzpicture}"))

    @property
    def width(self) -> float:
        """The drawing's width in cm (nodes and labels)."""
        boxes = [n.box for n in self.nodes.values()] + [lab.box for lab in self.labels]
        return max(b.x + b.w / 2 for b in boxes) - min(b.x - b.w / 2 for b in boxes)

    @property
    def height(self) -> float:
        boxes = [n.box for n in self.nodes.values()] + [lab.box for lab in self.labels]
        return max(b.y + b.h / 2 for b in boxes) - min(b.y - b.h / 2 for b in boxes)


def bend_controls(a: Node, b: Node, angle: float) -> tuple[Point, Point, Point, Point]:
    """The cubic Bézier TikZ draws for ``(a) to[bend left=angle] (b)``: it leaves ``a`` at
    ``angle`` degrees left of the line to ``b`` and enters ``b`` as far to the other side,
    its control points 0.3915 of the ends' distance out (TikZ's default looseness).

    >>> s = Scene(); a, b = s.node("a", 0, 0, "a"), s.node("b", 4, 0, "b")
    >>> [tuple(round(v, 2) for v in p) for p in bend_controls(a, b, 90)]
    [(0.0, 0.4), (0.0, 1.97), (4.0, 1.97), (4.0, 0.4)]
    """
    (ax, ay), (bx, by) = a.centre, b.centre
    line = math.atan2(by - ay, bx - ax)
    out, back = line + math.radians(angle), line + math.pi - math.radians(angle)
    p0 = a.boundary((ax + math.cos(out), ay + math.sin(out)))
    p1 = b.boundary((bx + math.cos(back), by + math.sin(back)))
    reach = 0.3915 * math.dist(p0, p1)
    return (p0, (p0[0] + reach * math.cos(out), p0[1] + reach * math.sin(out)),
            (p1[0] + reach * math.cos(back), p1[1] + reach * math.sin(back)), p1)


def _cubic(p0: Point, c0: Point, c1: Point, p1: Point, u: float) -> Point:
    v = 1 - u
    return tuple(v ** 3 * a + 3 * v * v * u * b + 3 * v * u * u * c + u ** 3 * d
                 for a, b, c, d in zip(p0, c0, c1, p1, strict=True))  # type: ignore[return-value]


def _overlap(a: Box, b: Box) -> bool:
    return abs(a.x - b.x) * 2 < a.w + b.w - 1e-6 and abs(a.y - b.y) * 2 < a.h + b.h - 1e-6

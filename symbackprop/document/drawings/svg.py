"""A :class:`~.scene.Scene` as one inline SVG element: the same geometry the TikZ is emitted
from, for the HTML page.

The SVG carries what the page's highlighting needs: every edge a ``<path class="edge">`` with
``data-from``/``data-to`` (the TikZ node names of ``Figure.nodes`` and ``Equation.paths``),
every node a ``<g class="node" data-node>``, every label a ``<g class="label">`` whose
``<foreignObject>`` is the label's own box. Edges a chain's path names but the drawing leaves
out (a kernel's window into its output entry, drawn on the slides only when lit) are there too,
hidden until lit. Colours are CSS classes over ``currentColor``, so the drawing follows the
reader's dark mode; numbers are printed with fixed decimals, so the same scene gives the same
bytes.

>>> from symbackprop.document.drawings.scene import Scene
>>> s = Scene()
>>> _ = s.node("a", 0, 0, "x"), s.node("b", 3, 0, "h"), s.connect("a", "b")
>>> svg = scene_svg(s, ident="net", title="A network", description="x feeds h")
>>> 'data-from="a" data-to="b"' in svg, svg.startswith("<svg")
(True, True)
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from ..drawing import Box
from .scene import Edge, Label, Node, Scene, bend_controls

__all__ = ["scene_svg", "plain_label", "PX_PER_CM", "SCREEN_SCALE", "SVG_NS"]

#: The drawing's natural size: a centimetre of the layout at the CSS pixel's 96 per inch.
PX_PER_CM = 96 / 2.54
#: How much larger than on paper a drawing may grow on a screen: a screen is read from further
#: away than a page, and TeX's scriptsize labels are 9 px at the page's own size.
SCREEN_SCALE = 1.5
#: Points (TeX's) per centimetre: a label's font size in the layout's units.
_PT_PER_CM = 72.27 / 2.54
SVG_NS = "http://www.w3.org/2000/svg"
_XHTML_NS = "http://www.w3.org/1999/xhtml"
#: Room around the drawing (cm), so arrowheads and outlines are not cut at the edge.
_PAD = 0.15
#: Font sizes (pt) of the article's 11 pt sizes the layout estimated its labels at.
_FONT_PT = {r"\small": 10.0, r"\scriptsize": 8.0, r"\footnotesize": 9.0}
#: TikZ's colour names the drawings use, by the CSS class that paints them.
_SMALL = r"\small"
_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_COLOURS = ("blue", "orange", "green", "purple", "teal", "brown", "red")

# The base rules weigh nothing (:where), so that a class (a tap's colour, thick) overrides
# them, and a lit edge (two classes) overrides those; the page recolours "lit" by --lit.
_CSS = """\
:where(#{id}) {{ color-scheme: light dark; }}
:where(#{id} .edge) {{ fill: none; stroke: currentColor; stroke-width: 1.2;
  stroke-linejoin: round; }}
:where(#{id} .node > circle, #{id} .node > rect, #{id} .frame) {{
  fill: none; stroke: currentColor; stroke-width: 1; }}
:where(#{id} .node.plain > rect) {{ stroke: none; }}
:where(#{id}) .thick {{ stroke-width: 2; }}
:where(#{id}) .very-thick {{ stroke-width: 2.6; }}
:where(#{id}) .dashed {{ stroke-dasharray: 5 4; }}
:where(#{id}) .muted {{ stroke-opacity: 0.5; }}
:where(#{id}) .ghost {{ visibility: hidden; }}
:where(#{id}) .shaded {{ fill: currentColor; fill-opacity: 0.08; }}
/* The layout's boxes are its estimate of TeX's: a browser's math font may run a pixel past
   one, into the margin the layout keeps clear, not clipped. */
:where(#{id}) foreignObject {{ overflow: visible; }}
:where(#{id}) .tex {{ display: flex; align-items: center; justify-content: center;
  width: 100%; height: 100%; line-height: 1; white-space: nowrap; }}
:where(#{id}) .on-edge .tex {{ background: var(--drawing-background, Canvas); }}
:where(#{id}) .arrowhead {{ fill: context-stroke; }}
:where(#{id}) .edge.lit {{ stroke: var(--lit, #c62828); stroke-opacity: 1; stroke-width: 2.6;
  visibility: visible; }}
:where(#{id}) .node.lit > circle, :where(#{id}) .node.lit > rect {{
  stroke: var(--lit, #c62828); stroke-width: 2.4; }}
{colours}@media (prefers-color-scheme: dark) {{
  :where(#{id}) .edge.lit, :where(#{id}) .node.lit > circle,
  :where(#{id}) .node.lit > rect {{ stroke: var(--lit, #ff8a80); }}
{dark}}}
"""
# Each colour light and dark: the kernel taps' colours keep their contrast on either page.
_LIGHT = {"blue": "#1f4e9c", "orange": "#b35300", "green": "#2e7d32", "purple": "#7b1fa2",
          "teal": "#00695c", "brown": "#6d4c41", "red": "#c62828"}
_DARK = {"blue": "#8ab4ff", "orange": "#ffb36b", "green": "#81d68a", "purple": "#dba2f5",
         "teal": "#6fd6c6", "brown": "#d7b19d", "red": "#ff8a80"}


def plain_label(latex: str) -> str:
    """A label's text as it stands, escaped: the default where no MathML is given.

    >>> plain_label("a<b & c")
    'a&lt;b &amp; c'
    """
    return html.escape(latex, quote=True)


def scene_svg(scene: Scene, *, ident: str, title: str, description: str,
              label: Callable[[str], str] = plain_label) -> str:
    """``scene`` as one ``<svg role="img">`` element, ids prefixed by ``ident``; ``title`` and
    ``description`` are its accessible name and description (plain text, escaped here);
    ``label(latex)`` gives each label's and node's content (well-formed XHTML or MathML).

    >>> from symbackprop.document.drawings.scene import Scene
    >>> s = Scene(); _ = s.node("a", 0, 0, "x")
    >>> 'aria-labelledby="d-title d-desc"' in scene_svg(s, ident="d", title="t", description="d")
    True
    """
    if not _IDENT.fullmatch(ident):  # it names ids and CSS selectors: the caller's, not a user's
        raise ValueError(f"scene_svg: ident {ident!r} is not a letter then letters, digits, - or _")
    left, bottom, right, top = _bounds(scene)
    at = _Frame(left - _PAD, top + _PAD)
    width, height = (right - left + 2 * _PAD) * PX_PER_CM, (top - bottom + 2 * _PAD) * PX_PER_CM
    # The svg's own id is ident-svg: the page may give ident to the figure around it.
    out = [f'<svg xmlns="{SVG_NS}" id="{ident}-svg" class="network" role="img" '
           f'aria-labelledby="{ident}-title {ident}-desc" viewBox="0 0 {width:.2f} {height:.2f}" '
           f'width="{width:.2f}" height="{height:.2f}" '
           f'style="width: 100%; max-width: {width * SCREEN_SCALE:.2f}px; height: auto; '
           f'--natural-width: {width:.2f}px">',
           f'<title id="{ident}-title">{html.escape(title)}</title>',
           f'<desc id="{ident}-desc">{html.escape(description)}</desc>',
           f"<defs><style>{_style(ident + '-svg')}</style>"
           f'<marker id="{ident}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
           'markerHeight="7" markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
           '<path class="arrowhead" d="M0,0 L10,5 L0,10 L3,5 z"/></marker></defs>']
    for f in scene.frames:
        classes, radius = _classes(f.style, scene.styles)
        b = at.box(f.box)
        out.append(f'<rect class="{" ".join(["frame", *classes])}" x="{b[0]:.2f}" '
                   f'y="{b[1]:.2f}" width="{b[2]:.2f}" height="{b[3]:.2f}" '
                   f'rx="{radius:.2f}"/>')
    for n in scene.nodes.values():
        out.append(_node(n, at, scene.styles, label))
    for item in scene.drawn():
        if isinstance(item, Label):
            out.append(_label(item, at, label))
        else:
            out.append(_edge(item, at, scene, ident))
    out += [_ghost(scene, a, b, at, ident) for a, b in _undrawn(scene)]
    out.append("</svg>")
    return "\n".join(out)


class _Frame:
    """The layout's cm (y up) to the SVG's px (y down), from the drawing's top-left corner."""

    def __init__(self, left: float, top: float) -> None:
        self.left, self.top = left, top

    def point(self, p: tuple[float, float]) -> tuple[float, float]:
        return (p[0] - self.left) * PX_PER_CM, (self.top - p[1]) * PX_PER_CM

    def box(self, b: Box) -> tuple[float, float, float, float]:
        """x, y of its top-left corner, width, height (px)."""
        x, y = self.point((b.x - b.w / 2, b.y + b.h / 2))
        return x, y, b.w * PX_PER_CM, b.h * PX_PER_CM


def _bounds(scene: Scene) -> tuple[float, float, float, float]:
    """left, bottom, right, top (cm) of everything drawn."""
    boxes = ([n.box for n in scene.nodes.values()] + [lab.box for lab in scene.labels]
             + [f.box for f in scene.frames])
    xs = [b.x - b.w / 2 for b in boxes] + [b.x + b.w / 2 for b in boxes]
    ys = [b.y - b.h / 2 for b in boxes] + [b.y + b.h / 2 for b in boxes]
    for e in scene.edges:
        xs += [x for x, _ in e.points]
        ys += [y for _, y in e.points]
    return min(xs, default=0.0), min(ys, default=0.0), max(xs, default=0.0), max(ys, default=0.0)


def _style(ident: str) -> str:
    light = "".join(f":where(#{ident}) .stroke-{c} {{ stroke: {_LIGHT[c]}; }}\n"
                    f":where(#{ident}) .fill-{c} {{ fill: {_LIGHT[c]}; fill-opacity: 0.1; }}\n"
                    for c in _COLOURS)
    dark = "".join(f"  :where(#{ident}) .stroke-{c} {{ stroke: {_DARK[c]}; }}\n"
                   f"  :where(#{ident}) .fill-{c} {{ fill: {_DARK[c]}; }}\n"
                   for c in _COLOURS)
    return _CSS.format(id=ident, colours=light, dark=dark)


def _classes(style: str, styles: dict[str, str]) -> tuple[list[str], float]:
    """A TikZ option list as CSS classes, and its corners' radius (px).

    >>> _classes("->, dashed, rounded corners=3pt, fill=gray!8", {})
    (['dashed', 'shaded'], 4.0)
    >>> _classes("->, tap2", {"tap2": "draw=orange!85!black"})
    (['tap2', 'stroke-orange'], 0.0)
    """
    classes: list[str] = []
    radius = 0.0
    for option in (o.strip() for o in style.split(",")):
        key, _, value = option.partition("=")
        colour = value.split("!")[0].strip()
        if option in styles:
            inner, r = _classes(styles[option], styles)
            classes += [option, *inner]
            radius = max(radius, r)
        elif option in ("dashed", "thick", "very thick"):
            classes.append(option.replace(" ", "-"))
        elif option.split("!")[0] == "gray" or (key == "draw" and colour == "gray"):
            classes.append("muted")
        elif option.split("!")[0] in _COLOURS:
            classes.append("stroke-" + option.split("!")[0])
        elif key == "draw" and colour in _COLOURS:
            classes.append("stroke-" + colour)
        elif key == "fill":
            if colour != "white":  # white: the page's background, as unfilled
                classes.append("shaded" if colour == "gray" else "fill-" + colour)
        elif key == "rounded corners":
            radius = float(value.strip().removesuffix("pt")) * PX_PER_CM / _PT_PER_CM
    return list(dict.fromkeys(classes)), round(radius, 1)


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def _points(points, at: _Frame) -> str:
    return " ".join(f"{'M' if k == 0 else 'L'}{x:.2f},{y:.2f}"
                    for k, (x, y) in enumerate(at.point(p) for p in points))


def _edge(e: Edge, at: _Frame, scene: Scene, ident: str) -> str:
    classes, _ = _classes(e.style, scene.styles)
    if e.bend and e.ends:
        p0, c0, c1, p1 = (at.point(p) for p in bend_controls(
            scene.nodes[e.ends[0]], scene.nodes[e.ends[1]], e.bend))
        d = (f"M{p0[0]:.2f},{p0[1]:.2f} C{c0[0]:.2f},{c0[1]:.2f} {c1[0]:.2f},{c1[1]:.2f} "
             f"{p1[0]:.2f},{p1[1]:.2f}")
    else:
        d = _points(e.points, at)
    ends = (f' data-from="{_attr(e.ends[0])}" data-to="{_attr(e.ends[1])}"' if e.ends else "")
    return (f'<path class="{" ".join(["edge", *classes])}"{ends} d="{d}"'
            f'{_arrow(e.style, ident)}/>')


def _arrow(style: str, ident: str) -> str:
    options = [o.strip() for o in style.split(",")]
    if "<->" in options:
        return f' marker-start="url(#{ident}-arrow)" marker-end="url(#{ident}-arrow)"'
    if "->" in options:
        return f' marker-end="url(#{ident}-arrow)"'
    if "<-" in options:
        return f' marker-start="url(#{ident}-arrow)"'
    return ""


def _undrawn(scene: Scene) -> list[tuple[str, str]]:
    """Edges between drawn nodes that a chain may light (the scene's links, a weight's use,
    the walk) but no edge draws."""
    drawn = {e.ends for e in scene.edges if e.ends}
    named: list[tuple[str, str]] = list(scene.links)
    for where in scene.symbols.values():
        if isinstance(where, tuple):
            named.append(where)
        elif isinstance(where, dict):
            named += [pair for pairs in where.values() for pair in pairs]
    named += [pair for _, edges, _ in scene.walk for pair in edges]
    return [(a, b) for a, b in dict.fromkeys(named)
            if (a, b) not in drawn and a in scene.nodes and b in scene.nodes]


def _ghost(scene: Scene, a: str, b: str, at: _Frame, ident: str) -> str:
    """A straight edge drawn only when lit, as the slides draw a path's edge in red."""
    na, nb = scene.nodes[a], scene.nodes[b]
    d = _points((na.boundary(nb.centre), nb.boundary(na.centre)), at)
    return (f'<path class="edge ghost" data-from="{_attr(a)}" data-to="{_attr(b)}" d="{d}" '
            f'marker-end="url(#{ident}-arrow)"/>')


def _node(n: Node, at: _Frame, styles: dict[str, str], label: Callable[[str], str]) -> str:
    classes, radius = _classes(n.style, styles)
    cls = " ".join(classes)
    shape = f' class="{cls}"' if cls else ""
    if n.shape == "circle":
        cx, cy = at.point(n.centre)
        outline = f'<circle{shape} cx="{cx:.2f}" cy="{cy:.2f}" r="{n.box.w / 2 * PX_PER_CM:.2f}"/>'
    else:
        x, y, w, h = at.box(n.box)
        outline = (f'<rect{shape} x="{x:.2f}" y="{y:.2f}" width="{w:.2f}" height="{h:.2f}" '
                   f'rx="{radius:.2f}"/>')
    kind = "node plain" if n.shape == "plain" else "node"
    return (f'<g class="{kind}" data-node="{_attr(n.name)}">{outline}'
            f"{_content(n.latex, n.box, _SMALL, at, label)}</g>")


def _label(lab: Label, at: _Frame, label: Callable[[str], str]) -> str:
    kind = "label on-edge" if lab.on is not None else "label"
    return f'<g class="{kind}">{_content(lab.latex, lab.box, lab.font, at, label)}</g>'


def _content(latex: str, box: Box, font: str, at: _Frame, label: Callable[[str], str]) -> str:
    """The box's math in a foreignObject the size of the box, at the font the layout sized
    it for (in the drawing's own units, so it shrinks with the drawing)."""
    x, y, w, h = at.box(box)
    size = _FONT_PT.get(font, 10.0) / _PT_PER_CM * PX_PER_CM
    return (f'<foreignObject x="{x:.2f}" y="{y:.2f}" width="{w:.2f}" height="{h:.2f}">'
            f'<div xmlns="{_XHTML_NS}" class="tex" style="font-size: {size:.2f}px">'
            f"{label(latex)}</div></foreignObject>")

"""The network drawing as inline SVG (symbackprop/document/drawings/svg.py), read back with
xml.etree: for every gallery spec's notes, built the way ``symbackprop notes`` builds them, each
figure carries its Scene, the Scene has nothing drawn over anything, the SVG is well-formed with
its accessible name and description, its label boxes meet no other label or node, and every edge
an equation's chain runs along is an SVG edge the page can light. Same scene, same bytes; user
text is escaped."""

from __future__ import annotations

import functools
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import symbackprop as sb
from symbackprop.cli.main import main
from symbackprop.document.drawings.scene import Scene
from symbackprop.document.drawings.svg import SVG_NS, plain_label, scene_svg
from symbackprop.document.model import Figure
from symbackprop.document.tikz import graph_scene, network_scene
from symbackprop.output import render as render_module
from symbackprop.printing.latex import TexPrinter

REPO = Path(__file__).resolve().parents[2]
SPECS = sorted(p.stem for p in (REPO / "docs" / "examples").glob("*.toml")
               if not p.stem.endswith("-claims"))
NS = {"s": SVG_NS}


WORK = Path(tempfile.mkdtemp(prefix="symbackprop-svg-"))


@functools.cache
def _document(name: str) -> sb.Document:
    """The Document ``symbackprop notes SPEC`` renders (caught on its way to the template)."""
    built = []
    real = render_module.build_document
    render_module.build_document = lambda *a, **k: built.append(real(*a, **k)) or built[-1]
    try:
        out = WORK / f"{name}.md"
        assert main(["notes", str(REPO / "docs" / "examples" / f"{name}.toml"), "--markdown",
                     "-q", "-o", str(out)]) == 0
    finally:
        render_module.build_document = real
    return built[0]


def _figures(doc: sb.Document) -> list[Figure]:
    return [b for s in doc.sections for sub in s.walk() for b in sub.blocks
            if isinstance(b, Figure)]


def _svg(figure: Figure, ident: str = "drawing") -> ET.Element:
    return ET.fromstring(scene_svg(figure.scene, ident=ident, title="t", description="d"))


def _boxes(root: ET.Element, kind: str) -> list[tuple[float, float, float, float]]:
    """x, y, width, height of each ``<g class=kind>``'s foreignObject."""
    out = []
    for g in root.iter(f"{{{SVG_NS}}}g"):
        if g.get("class", "").split()[0] == kind:
            f = g.find("s:foreignObject", NS)
            out.append(tuple(float(f.get(k)) for k in ("x", "y", "width", "height")))
    return out


def _intersect(a, b) -> bool:
    return (a[0] < b[0] + b[2] and b[0] < a[0] + a[2]
            and a[1] < b[1] + b[3] and b[1] < a[1] + a[3])


@pytest.mark.parametrize("name", SPECS)
def test_every_gallery_figure_has_a_scene_with_nothing_drawn_over_anything(name):
    figures = _figures(_document(name))
    assert figures
    for figure in figures:
        assert figure.scene is not None
        assert figure.scene.problems() == []
        assert figure.scene.tikz() == figure.tikz  # one layout: the TikZ is the scene's


@pytest.mark.parametrize("name", SPECS)
def test_gallery_svg_label_boxes_meet_no_other_label_or_node(name):
    for figure in _figures(_document(name)):
        root = _svg(figure)
        labels, nodes = _boxes(root, "label"), _boxes(root, "node")
        assert len(labels) == len(figure.scene.labels)
        for k, a in enumerate(labels):
            assert not any(_intersect(a, b) for b in labels[k + 1:])
            assert not any(_intersect(a, b) for b in nodes)


@pytest.mark.parametrize("name", SPECS)
def test_every_edge_an_equation_multiplies_along_is_an_svg_edge(name):
    doc = _document(name)
    figure = _figures(doc)[0]
    root = _svg(figure)
    edges = {(p.get("data-from"), p.get("data-to")) for p in root.iter(f"{{{SVG_NS}}}path")
             if "edge" in p.get("class", "").split() and p.get("data-from")}
    nodes = {g.get("data-node") for g in root.iter(f"{{{SVG_NS}}}g")
             if g.get("class", "").split()[0] == "node"}
    wanted = {edge for eq in doc.equations for path in eq.paths for edge in path}
    assert wanted  # every gallery spec writes out some chain
    assert wanted <= edges, sorted(wanted - edges)
    assert {n for edge in edges for n in edge} <= nodes


@pytest.mark.parametrize("name", ["seed000", "model-rnn", "model-conv1d-channels",
                                  "model-attention"])
def test_the_svg_is_well_formed_and_named_for_screen_readers(name):
    figure = _figures(_document(name))[0]
    text = scene_svg(figure.scene, ident="net", title="The network <1>",
                     description="x feeds h & y")
    root = ET.fromstring(text)
    assert root.tag == f"{{{SVG_NS}}}svg" and root.get("role") == "img"
    assert root.get("aria-labelledby") == "net-title net-desc" and root.get("id") == "net-svg"
    assert ":where(#net-svg) .edge.lit" in text  # its styles reach no other drawing
    assert root.find("s:title", NS).get("id") == "net-title"
    assert root.find("s:title", NS).text == "The network <1>"
    assert root.find("s:desc", NS).text == "x feeds h & y"
    assert len(root.findall(".//s:marker", NS)) == 1
    assert root.find(".//s:marker", NS).get("id") == "net-arrow"
    # every drawn edge between two nodes is there with its ends, and every node
    drawn = [(e.ends, e.style) for e in figure.scene.edges if e.ends]
    paths = [(p.get("data-from"), p.get("data-to")) for p in root.iter(f"{{{SVG_NS}}}path")
             if "ghost" not in p.get("class", "") and p.get("data-from")]
    assert paths == [ends for ends, _ in drawn]
    assert [g.get("data-node") for g in root.iter(f"{{{SVG_NS}}}g")
            if g.get("class", "").startswith("node")] == list(figure.scene.nodes)
    _, _, width, height = map(float, root.get("viewBox").split())
    assert f"max-width: {width:.2f}px" in root.get("style") and width > 0 and height > 0


def test_the_same_network_gives_the_same_svg_bytes():
    d = sb.derive(sb.mlp([2, 3, 1]))
    first = scene_svg(network_scene(d, TexPrinter(d)), ident="n", title="t", description="d")
    d = sb.derive(sb.mlp([2, 3, 1]))
    again = scene_svg(network_scene(d, TexPrinter(d)), ident="n", title="t", description="d")
    assert first == again and 'class="label on-edge"' in first


def test_user_text_in_labels_and_title_is_escaped_and_a_bad_ident_refused():
    s = Scene()
    s.node("a", 0, 0, "a<b")
    s.node("b", 3, 0, "c & d")
    s.label_beside(s.connect("a", "b"), r"x_{<}\&", side=1)
    with pytest.raises(ValueError, match="ident"):
        scene_svg(s, ident='n"1', title="t", description="d")
    text = scene_svg(s, ident="n-1", title="</title><script>", description="&amp;")
    root = ET.fromstring(text)  # well-formed whatever the text
    assert "<script>" not in text
    shown = ["".join(f.itertext()) for f in root.iter(f"{{{SVG_NS}}}foreignObject")]
    assert shown == ["a<b", "c & d", r"x_{<}\&"]
    assert root.find("s:title", NS).text == "</title><script>"
    assert root.find("s:desc", NS).text == "&amp;"
    assert plain_label("<&>") == "&lt;&amp;&gt;"


def test_the_label_callable_fills_each_label_and_node():
    s = Scene()
    s.node("a", 0, 0, "x")
    s.label("W", 0, 1.5)
    text = scene_svg(s, ident="n", title="t", description="d",
                     label=lambda tex: f'<math xmlns="http://www.w3.org/1998/Math/MathML">'
                                       f"<mi>{tex}</mi></math>")
    root = ET.fromstring(text)
    mis = [mi.text for mi in root.iter("{http://www.w3.org/1998/Math/MathML}mi")]
    assert mis == ["x", "W"]


def test_a_shared_weights_undrawn_edges_are_there_hidden_until_lit():
    """A channelled convolution draws no edge from an input cell to the output entry it feeds;
    the chain's path names those edges, as the slides draw them in red: the SVG has them,
    hidden (class ghost) until the page lights them."""
    figure = _figures(_document("model-conv1d-channels"))[0]
    root = _svg(figure)
    ghosts = [p for p in root.iter(f"{{{SVG_NS}}}path") if "ghost" in p.get("class", "")]
    assert ghosts and all(p.get("data-from").startswith("x-") for p in ghosts)
    drawn = {e.ends for e in figure.scene.edges if e.ends}
    assert not any((p.get("data-from"), p.get("data-to")) in drawn for p in ghosts)


def test_bent_edges_are_cubic_curves_as_tikz_bends_them():
    d = sb.derive(sb.rnn(1, 1, 1, steps=2))
    scene = graph_scene(d, TexPrinter(d))
    bent = [e for e in scene.edges if e.bend]
    assert bent and all(r"to[bend left=" in scene.tikz() for _ in bent)
    root = ET.fromstring(scene_svg(scene, ident="g", title="t", description="d"))
    curves = [p for p in root.iter(f"{{{SVG_NS}}}path") if " C" in p.get("d", "")]
    assert len(curves) == len(bent)


"""HTML pages: the environment that prints a Document as one self-contained HTML page.

The notes' and the deck's templates (``notes.html.j2``, ``slides.html.j2``, macros in
``_html.j2``) say the same sentences as the LaTeX, from the same ``_prose.j2`` and catalogs;
this module gives them what HTML needs: escaping (markupsafe's), every formula as MathML
(:mod:`symbackprop.printing.mathml`, the LaTeX kept as its ``alttext``), each displayed
equation with the drawing's edges its chain multiplies, the drawing as inline SVG, and the
page's CSS and JavaScript (``static/``) inlined, so that the page loads nothing at view time.

>>> env = html_environment("en")
>>> env.from_string("<< t >> << x >>").render(t="<b>", x=Tex("x_{1}"))[:15]
'&lt;b&gt; <math'
"""

from __future__ import annotations

import functools
import json
import re
from html import unescape
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from ..document import Document, Equation, Equations, Figure, Step, layout
from ..document.drawings.svg import scene_svg
from ..printing.latex import Tex
from ..printing.mathml import equation_mathml, tex_to_mathml
from .environment import LATEX_SAFE_DELIMITERS, template_environment
from .heights import SIZES

__all__ = ["html_environment", "inline_math", "equation_math", "edges_attribute",
           "plain_text", "drawing_svg", "drawing_facts", "draws_network", "html_frames", "packed",
           "static_text", "STATIC_FILES", "SIZE_CLASSES"]

#: The page's own resources, inlined into every page (output/static/).
STATIC_FILES = ("page.css", "notes.js", "deck.js")
#: A frame's type size (output/heights.py) as the deck's CSS class.
SIZE_CLASSES = dict(zip((s.command for s in SIZES), ("normal", "small", "smaller"), strict=True))

_TAG = re.compile(r"<[^>]*>")


def _escape_html(text: str) -> str:
    return str(escape(text))


@functools.lru_cache(maxsize=8192)
def inline_math(tex: str) -> str:
    """Inline MathML for ``tex`` (a page repeats its symbols, so each is converted once).

    >>> inline_math("x")[-20:]
    'x"><mi>x</mi></math>'
    """
    return tex_to_mathml(str(tex))


def equation_math(eq: Equation) -> Markup:
    """An equation as one display ``<math>`` (an aligned table; alttext its aligned LaTeX, as
    the Markdown notes print it), its steps' notes after their lines.

    >>> from symbackprop.document import Step
    >>> equation_math(Equation("y", Tex("y"), [Step([Tex("a")])])).count("<mtr>")
    1
    """
    return Markup(equation_mathml(eq.lhs, [(s.relation, list(s.lines), s.note)
                                          for s in eq.steps]))


def edges_attribute(eq: Equation) -> Markup:
    """The ``data-edges`` value: the union of the drawing's edges the equation's paths
    multiply, as JSON, escaped for a single-quoted attribute (its double quotes kept).

    >>> print(edges_attribute(Equation("g", Tex("g"), [], paths=[[("a", "b")], [("a", "b")]])))
    [["a","b"]]
    """
    edges = list(dict.fromkeys(tuple(edge) for path in eq.paths for edge in path))
    text = json.dumps([list(e) for e in edges], ensure_ascii=False, separators=(",", ":"))
    return Markup(text.replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;")
                  .replace(">", "&gt;"))


def packed(block: Equations, limit: float) -> list[Equation]:
    """The block's equations each on as few rows as fit ``limit`` em, as the beamer deck sets
    a slide's (``lhs = formula = numbers = value`` on one row where it fits): each row one
    step, a broken sum's continuation a line of the step above, paths and node kept.

    >>> eq = Equation("y", Tex("y"), [Step([Tex("a")]), Step([Tex("2")])])
    >>> [s.lines for s in packed(Equations([eq]), 36.0)[0].steps]
    [['a = 2']]
    """
    lhs_width = max(layout.width(eq.lhs) for eq in block.equations)
    out = []
    for eq in block.equations:
        steps: list[Step] = []
        for row in layout.rows(eq, limit=limit, lhs_width=lhs_width):
            (relation, first), rest = row[0], row[1:]
            text = Tex(" ".join([first, *((r"\qquad " if r is None else f"{r} ") + line
                                          for r, line in rest)]))
            if relation is None and steps:
                steps[-1].lines.append(text)
            else:
                steps.append(Step([text], relation or "="))
        out.append(Equation(eq.label, eq.lhs, steps, eq.check, eq.paths, eq.node))
    return out


def plain_text(markup: str) -> str:
    """Printed HTML as plain text (an SVG ``<title>``, the page's ``<title>``): tags dropped,
    MathML read as its characters, entities decoded, white space collapsed.

    >>> plain_text('A <math alttext="x_{1}"><msub><mi>x</mi><mn>1</mn></msub></math> &amp; b')
    'A x1 & b'
    """
    return " ".join(unescape(_TAG.sub("", str(markup))).split())


def drawing_svg(figure: Figure, ident: str, title: str, description: str) -> Markup:
    """The figure's drawing as inline SVG (labels in MathML), or nothing when the figure has
    no scene (a drawing too large to lay out).

    >>> import symbackprop as sb
    >>> fig = sb.build_document(sb.derive(sb.mlp([1, 1]))).sections[0].blocks[1]
    >>> str(drawing_svg(fig, "net", "The network", "One input, one output."))[:4]
    '<svg'
    """
    scene = figure.scene
    if scene is None:
        return Markup("")
    return Markup(scene_svg(scene, ident=ident, title=plain_text(title),
                            description=plain_text(description), label=inline_math))


def drawing_facts(doc: Document, figure: Figure) -> dict:
    """What the drawing's text description says: the network (an MLP's widths, a model's
    outline, a graph's counts) and how many nodes and edges the drawing shows.

    >>> import symbackprop as sb
    >>> doc = sb.build_document(sb.derive(sb.mlp([2, 2, 1])))
    >>> drawing_facts(doc, doc.sections[0].blocks[1])["widths"]
    [2, 2, 1]
    """
    network = next((b for s in doc.sections[:1] for b in s.blocks if b.kind == "paragraph"
                    and b.key.startswith("network_")), None)
    facts: dict = {"kind": "other", "nodes": 0, "edges": 0}  # a Document made by hand
    if network is not None and network.key == "network_mlp":
        facts.update(kind="mlp", widths=[int(w) for w in re.findall(r"\d+", network.args["widths"])])
    elif network is not None and network.key == "network_model":
        facts.update(kind="model", model=network.args["model"])
    elif network is not None:
        facts.update(kind="graph", network=network.args)
    scene = figure.scene
    if scene is not None:
        facts.update(nodes=len(scene.nodes), edges=sum(e.ends is not None for e in scene.edges))
    return facts


def draws_network(doc: Document) -> bool:
    """Whether the page draws the network (its first section's figure has a scene), which
    its equations' highlighting lights.

    >>> import symbackprop as sb
    >>> draws_network(sb.build_document(sb.derive(sb.mlp([1, 1]))))
    True
    >>> draws_network(Document("t", "", "", [], 0, {}))
    False
    """
    return any(b.kind == "figure" and b.scene is not None
               for s in doc.sections[:1] for b in s.blocks)


def _originals(doc: Document) -> dict[tuple[str, str], Equation]:
    return {(eq.label, str(eq.lhs)): eq for eq in doc.equations if eq.paths}


def html_frames(doc: Document, frames: list[dict]) -> list[dict]:
    """The deck's planned frames (:func:`.deck.plan`, the beamer deck's) for HTML: a chain
    beside the drawing is the Document's own equation, with its paths (beamer's copy marks
    its lines for overlays and drops them), so that focusing it lights its edges, on the
    drawing (``drawing``: the deck's first figure, as beamer's) beside it.

    >>> html_frames(Document("t", "", "", [], 0, {}), [{"figure": None, "body": []}])
    [{'figure': None, 'body': []}]
    """
    originals = _originals(doc)
    figure = next((b for s in doc.sections for b in s.blocks if b.kind == "figure"), None)
    out = []
    for frame in frames:
        if frame.get("walk"):
            eqs = [originals.get((eq.label, str(eq.lhs)), eq) for eq in frame["block"].equations]
            frame = {**frame, "block": Equations(eqs), "drawing": figure}
        out.append(frame)
    return out


@functools.cache
def static_text(name: str) -> Markup:
    """One of STATIC_FILES, to inline into the page (ours: no user text reaches it).

    >>> "prefers-color-scheme: dark" in static_text("page.css")
    True
    """
    if name not in STATIC_FILES:
        raise KeyError(name)
    return Markup((Path(__file__).resolve().parent / "static" / name).read_text(encoding="utf-8"))


def html_environment(language: str = "en",
                     templates: str | Path | None = None) -> jinja2.Environment:
    """The documents' environment for HTML: values escaped for HTML, math (the ``m``,
    ``mlist``, ``mathtext`` filters and any Tex printed as it stands) as inline MathML, and
    the filters and globals the HTML templates use.

    >>> html_environment("ko").from_string("<< _('Next slide') >>").render()
    '다음 슬라이드'
    """
    env = template_environment(language, delimiters=LATEX_SAFE_DELIMITERS, escape=_escape_html,
                               templates=templates, math=inline_math)
    env.filters["equation_math"] = equation_math
    env.filters["edges"] = edges_attribute
    env.filters["plain"] = plain_text
    env.filters["packed"] = packed
    env.filters["size_class"] = lambda size: SIZE_CLASSES.get(size.command, "normal")
    env.globals["drawing_svg"] = drawing_svg
    env.globals["drawing_facts"] = drawing_facts
    env.globals["draws_network"] = draws_network
    env.globals["static"] = static_text
    return env

"""The HTML notes and deck (output/html.py, notes.html.j2, slides.html.j2), read back without a
browser: one self-contained page, the same equations and sections as the Markdown and LaTeX
notes from the same Document, the drawing linked to the equations, user text escaped, the
same bytes for the same input, Korean particles attached after MathML.
"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from htmlpage import markdown_equations, markdown_headings, read_page
from texutil import REPO, seed000_doc, seed000_example

import symbackprop as sb
from symbackprop.document import MAX_NOTES_PARAMETERS, Document, Equation, Equations, Section, Step
from symbackprop.io.spec import load_spec
from symbackprop.output.html import edges_attribute, html_environment, packed, plain_text
from symbackprop.output.i18n import PARTICLES, final_sound
from symbackprop.output.render import section_title
from symbackprop.printing.latex import Tex

#: The namespaces a page declares are names, not addresses: nothing is fetched from them.
_NAMESPACE = re.compile(r'xmlns(?::\w+)?="[^"]*"')


@pytest.fixture(scope="module")
def rnn_doc():
    spec = load_spec(REPO / "docs" / "examples" / "model-rnn.toml")
    d = sb.derive(spec.graph)
    return sb.build_document(d, sb.worked_example(d, spec.values), title=spec.title)


@pytest.fixture(scope="module")
def korean_doc():
    return sb.build_document(seed000_example().derivation, seed000_example(), language="ko")


def _pages(doc):
    return {kind: sb.render(doc, kind) for kind in ("html", "html-slides")}


@pytest.mark.parametrize("kind", ["html", "html-slides"])
def test_a_page_loads_nothing_from_anywhere(kind):
    html = sb.render(seed000_doc(), kind)
    page = read_page(html)
    without_names = _NAMESPACE.sub("", html)
    assert "http://" not in without_names and "https://" not in without_names
    assert "//" not in "".join(v for _, _, v in page.urls)
    for tag, attribute, value in page.urls:
        assert attribute == "href" and value.startswith("#"), (tag, attribute, value)
    assert "<link" not in html and "@import" not in html
    assert not re.search(r"url\((?!#)", html), "a style sheet's url() would load something"
    assert page.scripts == (1 if kind == "html" else 2)


def test_the_notes_display_the_same_equations_as_the_markdown_notes():
    doc = seed000_doc()
    page = read_page(sb.render(doc, "html"))
    markdown = markdown_equations(sb.render(doc, "markdown"))
    alternatives = [" ".join(e["alttext"].split()) for e in page.equations]
    assert None not in alternatives
    assert alternatives == markdown  # the same equations, in the same order
    assert len(alternatives) == len(doc.equations)


def test_a_models_notes_display_the_same_equations_as_its_markdown_notes(rnn_doc):
    page = read_page(sb.render(rnn_doc, "html"))
    alternatives = [" ".join(e["alttext"].split()) for e in page.equations]
    assert alternatives == markdown_equations(sb.render(rnn_doc, "markdown"))


@pytest.mark.parametrize("language", ["en", "ko"])
def test_every_section_title_is_a_heading_in_order_as_in_the_markdown(language, korean_doc):
    doc = seed000_doc() if language == "en" else korean_doc
    page = read_page(sb.render(doc, "html"))
    assert page.lang == language
    assert page.headings == markdown_headings(sb.render(doc, "markdown"))
    titles = [h for level, h in page.headings if level == 2]
    assert titles == [section_title(s, language) for s in doc.sections]


@pytest.mark.parametrize("kind", ["html", "html-slides"])
def test_headings_start_at_one_h1_and_never_skip_a_level(kind, rnn_doc):
    for doc in (seed000_doc(), rnn_doc):
        levels = [level for level, _ in read_page(sb.render(doc, kind)).headings]
        assert levels[0] == 1 and levels.count(1) == 1
        assert all(b <= a + 1 for a, b in zip(levels, levels[1:], strict=False)), levels


def test_the_page_says_the_same_sentences_as_the_latex_notes():
    doc = seed000_doc()
    text = read_page(sb.render(doc, "html")).text
    for sentence in ("These notes derive backpropagation", "Backpropagation gives each node",
                     f"All {doc.checked} equations were checked before they were printed.",
                     "A worked example carries numbers through one step of gradient descent."):
        assert sentence in text


def test_a_korean_page_attaches_every_particle_after_math(korean_doc):
    for kind in ("html", "html-slides"):
        html = sb.render(korean_doc, kind)
        assert not [k for k in PARTICLES if k in html], "a particle left in its dictionary form"
        assert read_page(html).lang == "ko"


def test_a_particle_after_mathml_is_read_from_its_alttext():
    assert final_sound('<math alttext="h_{1}"><msub><mi>h</mi><mn>1</mn></msub></math>') == "l"
    assert final_sound('<math alttext="y_{2}"><mi>y</mi></math>') == "v"
    assert final_sound('<math alttext="\\hat{y}"><mi>y</mi></math>') == "c"


def test_gradient_equations_carry_the_union_of_their_paths_edges(rnn_doc):
    page = read_page(sb.render(rnn_doc, "html"))
    chains = [eq for eq in rnn_doc.equations if eq.paths]
    assert chains
    linked = [e for e in page.equations if e["edges"]]
    assert len(linked) == len(chains)
    for shown, eq in zip(linked, chains, strict=True):
        union = list(dict.fromkeys(tuple(edge) for path in eq.paths for edge in path))
        assert [tuple(edge) for edge in shown["edges"]] == union
    assert all(e["tabindex"] == "0" for e in page.equations)


def test_a_deltas_equation_names_the_node_it_lights(rnn_doc):
    deltas = rnn_doc.section("deltas")
    nodes = [eq.node for b in deltas.blocks if b.kind == "equations" for eq in b.equations]
    assert nodes and all(nodes)
    figure = next(b for b in rnn_doc.sections[0].blocks if b.kind == "figure")
    assert set(nodes) <= set(v for v in figure.nodes.values() if isinstance(v, str))
    page = read_page(sb.render(rnn_doc, "html"))
    assert set(nodes) <= {e["node"] for e in page.equations if e["node"]}


def test_edges_attribute_is_json_safe_inside_a_single_quoted_attribute():
    eq = Equation("g", Tex("g"), [], paths=[[("a'<", "b&")], [("a'<", "b&")]])
    text = str(edges_attribute(eq))
    assert "'" not in text and "<" not in text and "&&" not in text
    assert json.loads(plain_text(text)) == [["a'<", "b&"]]


def test_user_text_is_escaped_in_the_page():
    title, author = 'Nets <script>alert("x")</script> & "quotes"', "O'Neil & <b>Co</b>"
    for kind in ("html", "html-slides"):
        html = sb.render(seed000_example(), kind, title=title, author=author)
        assert "<script>alert" not in html and "<b>Co</b>" not in html
        assert "Nets &lt;script&gt;" in html and "O&#39;Neil &amp; &lt;b&gt;Co&lt;/b&gt;" in html
        page = read_page(html)
        assert page.headings[0] == (1, title)
        assert page.scripts == (1 if kind == "html" else 2)


@pytest.mark.parametrize("kind", ["html", "html-slides"])
def test_the_same_document_gives_the_same_bytes(kind, rnn_doc):
    assert sb.render(rnn_doc, kind) == sb.render(rnn_doc, kind)


def test_every_object_render_takes_makes_a_page():
    net = sb.mlp([1, 1])
    d = sb.derive(net)
    for obj in (net, d, seed000_example(), seed000_doc()):
        for kind in ("html", "html-slides"):
            page = read_page(sb.render(obj, kind))
            assert page.headings[0][0] == 1 and page.equations


def test_the_deck_has_one_slide_per_beamer_frame_the_first_current():
    doc = seed000_doc()
    beamer = sb.render(doc, "slides")
    page = read_page(sb.render(doc, "html-slides"))
    assert len(page.slides) == beamer.count(r"\begin{frame}")
    assert [s["id"] for s in page.slides] == [f"slide-{k}" for k in range(1, len(page.slides) + 1)]
    assert all(s["role"] == "slide" for s in page.slides)
    assert [("current" in s["classes"]) for s in page.slides] == [True] + [False] * (len(page.slides) - 1)


def test_the_decks_chains_beside_the_drawing_keep_their_paths():
    html = sb.render(seed000_doc(), "html-slides")
    walk = [s for s in read_page(html).slides if "walk" in s["classes"]]
    assert walk, "seed 000's chains are stepped through beside the drawing"
    for slide in walk:
        chunk = html.split(f'id="{slide["id"]}"')[1].split('class="slide')[0]
        equations = read_page(chunk).equations
        assert equations and all(e["edges"] for e in equations)
        assert not any("alert" in e["alttext"] for e in equations)
    others = html.split("</main>")[0].split('class="slide')
    for chunk in others[1:]:
        if not chunk.startswith(" walk"):  # no drawing beside them: nothing to light
            assert not any(e["edges"] or e["node"] for e in read_page(chunk).equations)


def test_a_slides_equation_is_packed_on_as_few_rows_as_beamers():
    eq = Equation("y", Tex("y"), [Step([Tex("a")]), Step([Tex("2")], "=")],
                     paths=[[("p", "q")]], node="q")
    one = packed(Equations([eq]), 36.0)[0]
    assert [s.lines for s in one.steps] == [["a = 2"]] and one.paths == eq.paths and one.node == "q"
    wide = packed(Equations([eq]), 1.0)[0]
    assert [s.lines for s in wide.steps] == [["a"], ["2"]]


@pytest.mark.parametrize("which", ["mlp", "rnn"])
def test_the_drawing_is_svg_described_in_words_and_holds_every_lit_edge(which, rnn_doc):
    doc = seed000_doc() if which == "mlp" else rnn_doc
    page = read_page(sb.render(doc, "html"))
    assert len(page.descriptions) >= 1
    said = page.descriptions[0]
    if which == "mlp":
        assert said.startswith("The network has 2 inputs, a hidden layer of 2 units and 1 output.")
    else:
        assert said.startswith("The drawing shows an Elman RNN unrolled over 4 steps")
    assert re.search(r"It has \d+ nodes and \d+ edges\.$", said)
    drawn = set(page.svg_edges)
    for e in page.equations:
        assert {tuple(edge) for edge in e["edges"]} <= drawn
        assert e["node"] is None or e["node"] in page.svg_nodes


def test_a_figure_without_a_scene_prints_no_drawing():
    doc = seed000_doc()
    figure = next(b for b in doc.sections[0].blocks if b.kind == "figure")
    bare = dataclasses.replace(figure, scene=None)
    sections = [dataclasses.replace(doc.sections[0], blocks=[bare if b is figure else b
                                                            for b in doc.sections[0].blocks]),
                *doc.sections[1:]]
    page = read_page(sb.render(dataclasses.replace(doc, sections=sections), "html"))
    assert not page.descriptions and not page.svg_edges
    assert page.equations  # the rest of the notes are there
    assert not any(e["edges"] or e["node"] for e in page.equations)  # nothing to light


def test_the_korean_drawing_is_described_in_korean(korean_doc):
    said = read_page(sb.render(korean_doc, "html")).descriptions[0]
    assert said.startswith("신경망에는 입력 2개, 유닛이 2개인 은닉층 하나, 출력 1개가 있다.")


#: The largest page the notes make: a network at MAX_NOTES_PARAMETERS with a worked example
#: stays under these (docs/html.md states them; 1-332-1, 997 parameters, measured 4.1 MB and
#: 2.1 MB, the largest of the shapes tried at that count).
MAX_NOTES_BYTES = 8_000_000
MAX_DECK_BYTES = 4_000_000


@pytest.mark.slow
def test_the_largest_network_the_notes_accept_makes_a_page_under_the_stated_size():
    net = sb.mlp([1, 332, 1], activation="sigmoid", loss="mse", bias=True)
    assert len(net.parameters) <= MAX_NOTES_PARAMETERS < len(net.parameters) + 10
    values = {s.name: round(0.5 - (k % 7) / 7, 2) for k, s in enumerate(net.leaves)}
    example = sb.worked_example(sb.derive(net), values)
    notes, deck = sb.render(example, "html"), sb.render(example, "html-slides")
    assert len(notes.encode()) < MAX_NOTES_BYTES and len(deck.encode()) < MAX_DECK_BYTES
    assert len(read_page(notes).equations) > 1000


def test_math_and_text_from_user_names_reach_the_page_escaped():
    env = html_environment("en")
    page = env.from_string("<< name >> << math|m >> << [math]|mlist >> << tex >>").render(
        name="<script>&", math=Tex(r"a_{<script>}"), tex=Tex("b<i>"))
    assert "<script>" not in page and "<i>" not in page
    assert "&lt;script&gt;&amp;" in page and 'alttext="a_{&lt;script&gt;}"' in page


#: Every gallery spec's Korean page and deck, scanned for a particle left in its dictionary form
#: (the particle after MathML is read from its alttext); seed 000 and the RNN run by default.
_GALLERY = sorted(p.stem for p in (REPO / "docs" / "examples").glob("*.toml")
                  if p.stem.startswith(("seed", "model-")) and not p.stem.endswith("claims"))


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=[] if n in ("seed000", "model-rnn") else [pytest.mark.slow])
    for n in _GALLERY])
def test_every_gallery_specs_korean_page_attaches_its_particles(name):
    spec = load_spec(REPO / "docs" / "examples" / f"{name}.toml")
    d = sb.derive(spec.graph)
    example = sb.worked_example(d, spec.values) if spec.values else None
    for kind in ("html", "html-slides"):
        html = sb.render(example or d, kind, title=spec.title, language="ko")
        assert not [k for k in PARTICLES if k in html], kind


def test_a_document_made_by_hand_makes_a_page_too():
    figure = next(b for b in seed000_doc().sections[0].blocks if b.kind == "figure")
    for doc in (Document("Empty", "", "", [], 0, {}),
                Document("Only <a> drawing", "", "", [Section("network", blocks=[figure])], 0, {})):
        for kind in ("html", "html-slides"):
            page = read_page(sb.render(doc, kind))
            assert page.headings[0] == (1, doc.title)
    said = read_page(sb.render(doc, "html")).descriptions[0]
    assert re.fullmatch(r"It has \d+ nodes and \d+ edges\.", said)


@pytest.mark.parametrize("kind", ["html", "html-slides"])
def test_every_id_on_the_page_is_unique(kind, rnn_doc):
    for doc in (seed000_doc(), rnn_doc):
        ids = re.findall(r' id="([^"]+)"', sb.render(doc, kind))
        assert ids and len(ids) == len(set(ids)), [i for i in set(ids) if ids.count(i) > 1]

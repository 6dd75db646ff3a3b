"""output/deck.py: the frames a deck is cut into, read from the plan (no TeX needed).

Every gallery spec and the 3-4-2 tanh/softmax net: at most 20 frames; no frame starts with a
line that has lost its left-hand side; no frame holds a lone line; the one-symbol local
derivatives share one frame. Whether the planned frames really fit is for TeX to say:
tests/output/test_documents_pdf.py compiles the decks and reads the log for overfull boxes.
"""

from __future__ import annotations

import functools

import pytest
from networks import net342
from texutil import REPO

import symbackprop as sb
from symbackprop.document import Document, Equation, Equations, Paragraph, Section, Step, layout
from symbackprop.document.locals import is_trivial
from symbackprop.io.spec import load_spec
from symbackprop.output import deck
from symbackprop.output.render import environment
from symbackprop.printing.latex import Tex

MODELS = ["model-rnn", "model-rnn-softmax", "model-conv1d", "model-conv1d-channels",
          "model-conv2d", "model-attention", "model-blocks", "model-batchnorm"]
SPECS = ["net342", "seed000", "seed001", "seed002", "seed003", "seed004", *MODELS]
FAST = {"net342", "seed000"}


@functools.cache
def _document(name: str, language: str = "en") -> Document:
    if name == "net342":
        graph, values, title = net342()
    else:
        spec = load_spec(REPO / "docs" / "examples" / f"{name}.toml")
        graph, values, title = spec.graph, spec.values, spec.title
    d = sb.derive(graph)
    example = sb.worked_example(d, values, learning_rate=0.1) if values else None
    return sb.build_document(d, example, title=title, language=language)


def _say(language: str):
    sentence = environment(language=language).from_string(
        '<% import "_prose.j2" as P %><< P[p.key](p.args) >>')
    return lambda p: " ".join(sentence.render(p=p).split())


@functools.cache
def _plan(name: str, language: str = "en") -> list[dict]:
    return deck.plan(_document(name, language), _say(language))


def _marked(names):
    return [pytest.param(n, marks=[] if n in FAST else [pytest.mark.slow]) for n in names]


def _blocks(frame: dict) -> list[Equations]:
    return [i["block"] for i in frame["body"]
            if i["block"] is not None and i["block"].kind == "equations"]


def _lines(frame: dict) -> int:
    """The lines a planned frame shows: rows of mathematics, as the template packs them, and
    paragraphs."""
    count = 0
    for item in frame["body"]:
        b = item["block"]
        if b is None:
            continue
        if b.kind == "paragraph":
            count += 1
        elif b.columns > 1 or item["dense"]:
            count += len(b.rows)
        else:
            lhs = max(layout.width(eq.lhs) for eq in b.equations)
            count += sum(len(layout.rows(eq, limit=frame["size"].row_limit, lhs_width=lhs))
                         for eq in b.equations)
    return count


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("name", _marked(SPECS))
def test_a_gallery_deck_has_at_most_20_frames(name, language):
    assert len(_plan(name, language)) + 1 <= deck.MAX_FRAMES  # the title frame too


def _shown_values(frames: list[dict]) -> list[str]:
    return [eq.steps[-1].lines[-1] for frame in frames for block in _blocks(frame)
            for eq in block.equations if eq.check == "numbers"]


@pytest.mark.parametrize("name", _marked(["net342", "model-batchnorm"]))
def test_a_long_deck_shortens_its_worked_example_without_losing_a_value(name):
    doc = _document(name)
    worked = [eq for b in doc.section("worked").walk() for eq in _equations(b)]
    assert _shown_values(_plan(name)) == [eq.steps[-1].lines[-1] for eq in worked]


def _equations(section: Section) -> list[Equation]:
    return [eq for b in section.blocks if b.kind == "equations" for eq in b.equations]


def test_an_mlp_deck_keeps_its_chains_and_a_model_deck_its_general_form():
    mlp = {f["section"].key for f in _plan("net342") if "section" in f}
    assert {"gradients", "deltas", "worked"} <= mlp and "locals" not in mlp
    assert "model_form" in {f["section"].key for f in _plan("model-rnn") if "section" in f}


@pytest.mark.parametrize("name", _marked(SPECS))
def test_no_frame_starts_with_a_line_that_lost_its_left_hand_side(name):
    for frame in _plan(name):
        for block in _blocks(frame):
            for eq in block.equations:
                assert eq.lhs.strip(), frame["section"].key
                assert not eq.steps[0].lines[0].lstrip().startswith("+"), eq.label


@pytest.mark.parametrize("name", _marked(SPECS))
def test_no_frame_holds_a_lone_line(name):
    for frame in _plan(name):
        if "walk" not in frame and frame.get("figure") is None:
            assert _lines(frame) >= 2, (frame["section"].key, frame["part"])


@pytest.mark.parametrize("name", ["seed000", "seed002"])  # decks that keep their locals
def test_the_one_symbol_local_derivatives_share_one_frame(name):
    trivial = _document(name).section("locals").blocks[1].equations
    assert trivial and all(map(is_trivial, trivial))
    labels = {eq.label for eq in trivial}
    holding = [f for f in _plan(name) if f["section"].key == "locals" and any(
        eq.label in labels for b in _blocks(f) for eq in b.equations)]
    assert len(holding) == 1
    shown = [eq for b in _blocks(holding[0]) for eq in b.equations if eq.label in labels]
    assert len(shown) == len(trivial)
    # one line each: ∂z/∂w, not a fraction twice a row's height
    assert all(r"\frac" not in eq.lhs for eq in shown)


def test_a_korean_deck_is_planned_from_its_own_sentences():
    # Hangul is a full em wide: the same sentence takes more lines than in English
    english, korean = _plan("seed000", "en"), _plan("seed000", "ko")
    assert len(korean) >= len(english)
    assert len(korean) + 1 <= deck.MAX_FRAMES


def _tall_document(lines: int) -> Document:
    """A document of one section: a sentence and one equation broken over ``lines`` lines."""
    terms = [Tex(rf"\frac{{a_{{{k}}}}}{{b_{{{k}}}}}") for k in range(lines)]
    eq = Equation("tall", Tex("y"), [Step([terms[0], *(Tex("+ " + t) for t in terms[1:])]),
                                     Step([Tex("42")])])
    return Document("t", "", "sequential", [Section("forward", blocks=[
        Paragraph("forward_intro"), Equations([eq])])], 1, {})


def test_an_equation_taller_than_a_frame_goes_on_under_its_left_hand_side():
    frames = deck.plan(_tall_document(9), lambda p: "A sentence.")
    assert len(frames) == 2 and [f["part"] for f in frames] == ["", "II"]
    first, second = (_blocks(f)[0].equations[0] for f in frames)
    assert first.lhs == second.lhs == "y"
    # the cut sum goes on from "⋯", and every line is shown once
    assert second.steps[0].lines[0].startswith(r"\cdots + ")
    shown = [line for eq in (first, second) for s in eq.steps for line in s.lines]
    assert len(shown) == 10 and shown[-1] == "42"


def test_a_short_section_stays_on_one_frame():
    frames = deck.plan(_tall_document(3), lambda p: "A sentence.")
    assert len(frames) == 1 and frames[0]["part"] == ""


def test_a_frames_rows_of_one_equation_stay_one_equation():
    frames = deck.plan(_tall_document(5), lambda p: "A sentence.")
    assert [len(b.equations) for b in _blocks(frames[0])] == [1]

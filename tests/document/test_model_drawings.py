"""The drawings of the model kinds (symbackprop/document/drawings/): their geometry, read on the
layout's own coordinates (no two labels meet, no label touches a node or sits on an edge, no
nodes overlap) for every gallery model and a range of sizes; the symbols each node stands for
(what the slides highlight); and the compiled notes of every gallery model, in both languages,
with no overfull box from the drawing and no words printed over each other."""

from __future__ import annotations

import functools
import re
import tempfile
from pathlib import Path

import pdfcheck
import pytest
from texutil import REPO, TEX_MISSING

import symbackprop as sb
from symbackprop.core import ops
from symbackprop.core.languages import LANGUAGES
from symbackprop.document.drawings import Scene, model_caption, model_scene
from symbackprop.io.spec import load_spec
from symbackprop.output.render import compile_pdf, have_tex

MODELS = ["model-rnn", "model-rnn-softmax", "model-conv1d", "model-conv1d-channels",
          "model-conv2d", "model-attention", "model-blocks", "model-batchnorm"]
WORK = Path(tempfile.mkdtemp(prefix="symbackprop-drawings-"))


def _graph(name: str) -> sb.Graph:
    return load_spec(REPO / "docs" / "examples" / f"{name}.toml").graph


def _clean(scene: Scene) -> None:
    assert scene is not None
    assert scene.problems() == []


@pytest.mark.parametrize("name", MODELS)
def test_every_gallery_model_is_drawn_with_no_label_over_anything(name):
    _clean(model_scene(_graph(name)))


@pytest.mark.parametrize("steps", range(1, 9))
@pytest.mark.parametrize("every_step", [True, False])
@pytest.mark.parametrize("notation", ["goodfellow", "karpathy"])
def test_rnn_drawings_of_every_length_are_clean(steps, every_step, notation):
    _clean(model_scene(sb.rnn(1, 2, 1, steps=steps, every_step=every_step, notation=notation)))


@pytest.mark.parametrize("length, kernel", [(3, 1), (3, 3), (5, 2), (7, 3), (10, 4), (16, 5)])
def test_conv1d_drawings_of_several_widths_are_clean(length, kernel):
    _clean(model_scene(sb.conv1d(length, kernel)))
    _clean(model_scene(sb.conv1d(length, kernel, outputs=2)))
    _clean(model_scene(sb.conv1d(length, kernel, in_channels=2, out_channels=3)))


@pytest.mark.parametrize("shape, kernel", [((3, 3), (2, 2)), ((4, 5), (2, 3)), ((2, 2), (1, 1))])
def test_conv2d_drawings_are_clean(shape, kernel):
    _clean(model_scene(sb.conv2d(shape, kernel)))


@pytest.mark.parametrize("keys", range(1, 7))
def test_attention_drawings_are_clean(keys):
    _clean(model_scene(sb.attention(keys=keys, d=2, d_v=2)))


@pytest.mark.parametrize("blocks", [
    [sb.dense(2, "tanh"), sb.layer_norm(), sb.dense(1)],
    [sb.dense(3, "relu"), sb.residual(sb.dense(3, "tanh"), sb.layer_norm()), sb.dense(1)],
    [sb.layer_norm(affine=False), sb.residual(sb.dense(2)), sb.residual(sb.dense(2, "tanh"))],
    [sb.dense(2, "sigmoid"), sb.batch_norm(), sb.dense(2, "tanh"), sb.batch_norm(), sb.dense(1)],
    # every activation the registry has, "linear" (no LaTeX of its own: fuzz seed 21) included
    [sb.dense(2, name) for name in ops.ACTIVATIONS if name != "softmax"] + [sb.dense(1)],
])
def test_block_network_drawings_are_clean(blocks):
    _clean(model_scene(sb.network(2, blocks, batch=2)))


def test_the_check_sees_a_label_on_an_edge_and_labels_over_each_other():
    s = Scene()
    s.node("a", 0, 0, "x")
    s.node("b", 3, 0, "h")
    s.connect("a", "b")
    s.label("U", 1.5, 0.0)  # on the edge
    s.label("W", 1.6, 0.05)  # over U
    found = s.problems()
    assert any("sits on an edge" in p for p in found)
    assert any("labels 'U' and 'W' meet" in p for p in found)


def test_labels_and_nodes_use_the_models_notation_never_ascii():
    ascii_names = re.compile(r"(?<!\\)\b(yhat|alpha|gamma|beta|xhat|xt|mu|var|sigma|delta)")
    for name in MODELS:
        scene = model_scene(_graph(name))
        printed = [n.latex for n in scene.nodes.values()] + [lab.latex for lab in scene.labels]
        assert not [p for p in printed if ascii_names.search(p)], name
    rnn = model_scene(sb.rnn(1, 2, 1, steps=3, notation="karpathy"))
    assert {lab.latex for lab in rnn.labels} == {"W_{xh}", "W_{hh}", "W_{hy}"}
    assert {lab.latex for lab in model_scene(sb.rnn(1, 2, 1, steps=3)).labels} == {"U", "W", "V"}


def test_every_symbol_maps_to_a_drawn_node_and_shared_weights_to_their_uses():
    for name in MODELS:
        scene = model_scene(_graph(name))
        for where in scene.symbols.values():
            edges = [e for uses in where.values() for e in uses] if isinstance(where, dict) \
                else [(where,)]
            assert all(n in scene.nodes for e in edges for n in e), (name, where)
        for _, edges, _ in scene.walk:
            assert all(a in scene.nodes and b in scene.nodes for a, b in edges), name
    rnn = sb.rnn(1, 2, 1, steps=4)
    scene = model_scene(rnn)
    # W_12 at step 3 is the edge from h_2 to h_3: that is where BPTT's step 3 runs.
    assert scene.symbols[rnn.recurrent(1, 2).name][rnn.pre(3, 1).name] == [("h-2", "h-3")]
    assert scene.symbols[rnn.hidden(3, 2).name] == "h-3"
    conv = sb.conv1d(5, 2)
    scene = model_scene(conv)
    # w_2 at output position 3: the window over x_3, x_4 into z_3.
    assert scene.symbols[conv.w(2).name][conv.pre(3).name] == [("x-1-3", "z-1-3"),
                                                                ("x-1-4", "z-1-3")]


def test_slides_step_backwards_through_time_along_the_window_and_through_the_blocks():
    rnn = model_scene(sb.rnn(1, 2, 1, steps=3))
    assert [where for where, _, _ in rnn.walk] == ["t = 3", "t = 2", "t = 1"]
    assert ("h-2", "h-3") in rnn.walk[1][1]  # δ_2 gathers from h_3
    walked = rnn.walked()
    assert walked.count(r"\only<") == 3 and walked.endswith(r"\end{tikzpicture}")
    conv = model_scene(sb.conv1d(5, 3))
    assert [where for where, _, _ in conv.walk] == ["i = 1", "i = 2", "i = 3"]
    assert conv.walk[1][1] == [("x-1-2", "z-1-2"), ("x-1-3", "z-1-2"), ("x-1-4", "z-1-2")]
    blocks = model_scene(_graph("model-blocks"))  # five blocks, from the loss back
    assert [edges[0] for _, edges, _ in blocks.walk] == [
        ("b-5", "loss"), ("plus-4", "b-5"), ("b-3", "plus-4"), ("b-2", "b-3"), ("b-1", "st-2")]
    attention = model_scene(_graph("model-attention"))
    assert attention.walk[0][1] == [("o", "loss")] and ("k-3", "s-3") in attention.walk[-1][1]


def test_a_long_rnn_draws_its_ends_and_an_ellipsis():
    scene = model_scene(sb.rnn(1, 1, 1, steps=12))
    steps = sorted(int(n[2:]) for n in scene.nodes if re.fullmatch(r"h-\d+", n))
    assert steps == [1, 2, 11, 12] and "h-dots" in scene.nodes
    _clean(scene)


def test_the_same_model_is_drawn_byte_for_byte_the_same():
    assert model_scene(_graph("model-blocks")).tikz() == model_scene(_graph("model-blocks")).tikz()


def test_captions_name_the_models_own_letters():
    caption = model_caption(sb.rnn(1, 1, 1, steps=2, notation="karpathy"))
    assert (caption["kind"], caption["U"], caption["W"]) == ("rnn", "W_{xh}", "W_{hh}")
    assert model_caption(_graph("model-conv1d"))["weights"] == "w_{1}, w_{2}, w_{3}"
    assert model_caption(_graph("model-batchnorm")) == {"kind": "blocks", "norm": True,
                                                        "residual": False}


def test_the_appendix_keeps_a_small_models_scalar_graph_and_drops_a_big_ones():
    small = sb.build_document(sb.derive(_graph("model-attention")))
    assert any(b.kind == "figure" for b in small.section("scalar_graph").blocks)
    big = sb.build_document(sb.derive(_graph("model-rnn")))
    with pytest.raises(KeyError):
        big.section("scalar_graph")


# -- compiled: every gallery model's drawings, in notes and slides, in both languages ----------

@functools.cache
def _compiled(name: str, kind: str, language: str) -> tuple[Path, str]:
    """(pdf, log) of a document holding only the model's figures and their captions (the
    network's drawing and the appendix's scalar graph), as the notes typeset them."""
    spec = load_spec(REPO / "docs" / "examples" / f"{name}.toml")
    doc = sb.build_document(sb.derive(spec.graph), title=spec.title, abstract=False,
                            language=language)
    for section in doc.sections:
        for sub in section.walk():
            sub.blocks = [b for b in sub.blocks if b.kind == "figure"]
    doc.sections = [s for s in doc.sections if any(sub.blocks for sub in s.walk())]
    pdf = WORK / f"{name}-{kind}-{language}.pdf"
    log = pdf.with_suffix(".log")
    compile_pdf(sb.render(doc, kind), pdf, language=language, log=log)
    return pdf, log.read_text(errors="replace")


def _cases():
    for name in MODELS:
        for kind in ("article", "slides"):
            for language in LANGUAGES:
                fast = (name, kind, language) == ("model-rnn", "slides", "en")
                yield pytest.param(name, kind, language, marks=[] if fast else [pytest.mark.slow],
                                   id=f"{name}-{kind}-{language}")


@pytest.mark.skipif(not have_tex(), reason=TEX_MISSING)
@pytest.mark.parametrize("name, kind, language", list(_cases()))
@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_compiled_drawings_fit_and_print_no_word_over_another(name, kind, language):
    pdf, log = _compiled(name, kind, language)
    assert pdfcheck.overfull(log) == []
    hits = pdfcheck.collisions(pdf)
    assert hits == [], [(a.text, b.text, a.page) for a, b in hits[:5]]

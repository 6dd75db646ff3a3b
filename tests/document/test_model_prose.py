"""The notes describe the model, not the tool's graph: the abstract and the network section of
every gallery model name the model's kind and its own sizes (steps, hidden units, kernel, keys,
blocks), in English and Korean, and every page that counts nodes or parameters gives one count.
"""

from __future__ import annotations

import functools
import re

import pytest
from texutil import REPO

import symbackprop as sb
from symbackprop.builders.attention import Attention
from symbackprop.builders.conv import Conv
from symbackprop.builders.norm import Network
from symbackprop.builders.rnn import RNN
from symbackprop.document.describe import intermediate_nodes, model_outline
from symbackprop.io.spec import load_spec

MODELS = sorted(p.stem for p in (REPO / "docs" / "examples").glob("model-*.toml"))
#: run by default; the rest of the gallery's models are ``slow`` (make test-slow and CI run them)
FAST = {"model-rnn", "model-attention"}
CASES = [pytest.param(name, marks=[] if name in FAST else [pytest.mark.slow]) for name in MODELS]


@functools.cache
def _notes(name: str, language: str) -> tuple[sb.Graph, str]:
    spec = load_spec(REPO / "docs" / "examples" / f"{name}.toml")
    d = sb.derive(spec.graph)
    example = sb.worked_example(d, spec.values, learning_rate=0.1)
    return spec.graph, sb.render(example, "markdown", title=spec.title, language=language)


def _expected(g, language: str) -> list[str]:
    """What any description of ``g`` must say, in ``language``."""
    en = language == "en"
    if isinstance(g, RNN):
        return ([f"Elman RNN unrolled over {g.steps} steps", f"{g.n_h} hidden units"] if en
                else [f"{g.steps}단계로 펼친 엘만 RNN", f"은닉 유닛 {g.n_h}개"])
    if isinstance(g, Conv):
        kernel = str(g.kernel[0]) if len(g.kernel) == 1 else r"$2\times 2$"
        words = ([f"a {len(g.shape)}-D convolution", f"of size {kernel}"] if en
                 else [f"{len(g.shape)}차원 합성곱", kernel])
        if g.channels:
            words.append(f"{g.c_in} input channels" if en else f"입력 채널 {g.c_in}개")
        return words
    if isinstance(g, Attention):
        return ([f"attention head over {g.n} keys", f"$d = {g.d}$", f"$d_v = {g.d_v}$"] if en
                else ["어텐션 헤드", f"키 {g.n}개", f"$d = {g.d}$"])
    assert isinstance(g, Network)
    norm = {"en": ("layer norm", "batch norm"), "ko": ("층 정규화", "배치 정규화")}[language]
    words = [f"{g.n_in} inputs" if en else f"입력 {g.n_in}개"]
    words += [w for w, kind in zip(norm, ("layer_norm", "batch_norm"), strict=True)
              if any(b["kind"] == kind for b in model_outline(g)[1]["blocks"])]
    return words


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("name", CASES)
def test_abstract_and_network_paragraph_name_the_model_and_its_sizes(name, language):
    g, text = _notes(name, language)
    paragraphs = [p for p in text.split("\n\n") if p and not p.startswith(("#", "*", "$"))]
    abstract = paragraphs[0]
    network = next(p for p in paragraphs if p.startswith(("The model is", "모델은")))
    for said in (abstract, network):
        for words in _expected(g, language):
            assert words in said, (words, said)
        assert "computational graph" not in said and "계산 그래프" not in said
    count = str(len(g.parameters))
    assert (f"{count} parameters" if language == "en" else f"매개변수는 {count}개") in network


@pytest.mark.parametrize("name", CASES)
def test_every_page_gives_one_count_of_nodes_and_of_parameters(name):
    g, text = _notes(name, "en")
    nodes = set(re.findall(r"(\d+) (?:intermediate )?nodes", text))
    # "the other 12 parameters are updated in the same way" counts the rest, not the model
    parameters = set(re.findall(r"(?<!other )\b(\d+) parameters", text))
    assert nodes <= {str(intermediate_nodes(g))}, nodes
    assert parameters == {str(len(g.parameters))}, parameters


def test_a_plain_graph_counts_the_nodes_its_forward_section_lists():
    spec = load_spec(REPO / "docs" / "examples" / "seed003.toml")
    text = sb.render(sb.derive(spec.graph), "markdown", title=spec.title)
    listed = text.split("### Nodes", 1)[1].split("###", 1)[0].count(" &= ")
    assert f"and {listed} intermediate nodes" in text
    assert listed == intermediate_nodes(spec.graph) == len(spec.graph.nodes) - 1

"""A deep network's notes stay linear in its depth (issue 23, item 3): a gradient whose chain
has more than MAX_SHOWN_FACTORS factors is written in its δ form, a δ that far from the loss is
not multiplied out in node symbols, and a deck walks at most MAX_WALKED chains beside the
drawing. The seeds' documents are unchanged (tests/test_gallery.py)."""

from __future__ import annotations

import re

import pytest

import symbackprop as sb
from symbackprop.cli import main as cli
from symbackprop.document.context import MAX_SHOWN_FACTORS, DocumentContext
from symbackprop.document.options import DocumentOptions
from symbackprop.output import deck

_FACTOR = re.compile(r"\\frac\{\\partial")


def _values(g):
    return {s.name: round(0.37 * ((7 * k) % 11) / 11 - 0.15, 3) for k, s in enumerate(g.leaves)}


def _chain_doc(n: int):
    g = sb.mlp([1] * n)
    d = sb.derive(g)
    return g, d, sb.build_document(d, sb.worked_example(d, _values(g)))


def _factors(eq) -> int:
    """The most ∂ factors any line of an equation's right-hand side multiplies."""
    return max(len(_FACTOR.findall(line)) for step in eq.steps for line in step.lines)


def test_chain_factors_counts_the_longest_path_to_the_loss():
    g = sb.mlp([1] * 6)  # 5 layers: ∂L/∂ŷ ∂ŷ/∂z₅, then ∂z/∂h ∂h/∂z per layer below, ∂z₁/∂w₁
    ctx = DocumentContext(sb.derive(g), None, DocumentOptions())
    assert [ctx.chain_factors(p) for p in g.parameters] == [11, 9, 7, 5, 3]
    assert ctx.chain_factors(g.inputs[0]) == 11  # the input feeds w₁'s path too


def test_a_deep_chain_writes_no_gradient_with_more_factors_than_the_bound():
    g, d, doc = _chain_doc(31)  # 30 layers: w₁'s chain has 61 factors
    labels = {f"dL/d{p}" for p in g.parameters}
    gradients = [eq for eq in doc.equations if eq.label in labels]
    assert len(gradients) == len(g.parameters)
    assert all(_factors(eq) <= MAX_SHOWN_FACTORS for eq in gradients)
    # the layers near the output are still written out whole, factor by factor
    written = [eq for eq in gradients if _factors(eq) > 1]
    assert written and max(map(_factors, written)) > MAX_SHOWN_FACTORS - 3
    assert len(written) < len(gradients)
    assert "gradients_long" in {p.key for s in doc.sections for sub in s.walk()
                                for p in sub.blocks if p.kind == "paragraph"}


def test_a_deep_gradient_in_delta_form_lights_its_own_edge_not_the_whole_chain():
    g, d, doc = _chain_doc(31)
    first = next(eq for eq in doc.equations if eq.label == f"dL/d{g.parameters[0]}")
    edges = [edge for path in first.paths for edge in path]
    assert 1 <= len(edges) <= 2  # the weight's own edge, not 60 of them


def test_a_deep_chains_deltas_stay_in_their_recursion():
    g, d, doc = _chain_doc(31)
    deltas = [eq for eq in doc.equations if eq.label.startswith("delta ")]
    assert len(deltas) == 30
    # a δ far from the loss is its recursion (δ of the next layer times two factors), never
    # a product of every factor down to it
    assert max(len(" ".join(line for step in eq.steps for line in step.lines))
               for eq in deltas) < 300


def test_a_deep_chains_deck_walks_a_bounded_number_of_chains():
    g, d, doc = _chain_doc(41)
    frames = deck.plan(doc, lambda p: "words " * 20)
    walks = [f for f in frames if f.get("walk")]
    assert walks and sum(len(f["equations"]) for f in walks) <= deck.MAX_WALKED
    # every gradient is still in the deck: the rest in the gradients section's frames
    shown = [eq.label for f in frames for item in f.get("body", []) if item.get("block")
             is not None and item["block"].kind == "equations" for eq in item["block"].equations]
    walked = [eq.label for f in walks for eq in f["equations"]]
    assert {f"dL/d{p}" for p in g.parameters} <= set(shown) | set(walked)


def _graph_chain(n: int) -> str:
    """A [graph] spec of a sigmoid chain of n weights with [values] (a [network]'s sizes stop
    at 101 layers; a graph may have 10,000 nodes)."""
    nodes = [f'{{ name = "h{k}", expr = "sigmoid(w{k}*{"x" if k == 1 else f"h{k - 1}"})" }}'
             for k in range(1, n)]
    nodes.append(f'{{ name = "yhat", expr = "w{n}*h{n - 1}" }}')
    params = ", ".join(f'"w{k}"' for k in range(1, n + 1))
    values = "\n".join(f"w{k} = {0.5 + 0.4 * ((7 * k) % 11) / 11:.3f}" for k in range(1, n + 1))
    return (f'[graph]\ninputs = ["x"]\ntargets = ["y"]\nparameters = [{params}]\nnodes = [\n  '
            + ",\n  ".join(nodes) + '\n]\nloss = { name = "L", expr = "(y - yhat)^2" }\n\n'
            f"[values]\nx = 0.5\ny = 0.3\n{values}\n")


def _graph_chain_notes(tmp_path, n: int) -> str:
    """The notes of an n-parameter chain written as a graph spec, through the CLI."""
    spec = tmp_path / "chain.toml"
    spec.write_text(_graph_chain(n), encoding="utf-8")
    out = tmp_path / "notes.tex"
    assert cli(["notes", str(spec), "-o", str(out), "-q"]) == 0
    return out.read_text(encoding="utf-8")


def test_notes_of_a_graph_chain_write_its_long_gradients_in_delta_form(tmp_path):
    assert "too long to read as one product" in _graph_chain_notes(tmp_path, 20)


@pytest.mark.slow  # a 1000-weight chain's notes, every equation verified: several seconds
def test_notes_answer_for_a_chain_of_a_thousand_parameters(tmp_path):
    text = _graph_chain_notes(tmp_path, 1000)
    assert r"\end{document}" in text and "too long to read as one product" in text


def test_a_deep_networks_drawing_keeps_its_first_and_last_columns_and_fits_in_tex():
    # 201 columns would be 8 m of picture, past TeX's largest dimension (16,384 pt = 575 cm):
    # its PDF did not compile. Now the first 4 and last 3 columns stand with ⋯ between.
    from symbackprop.document.tikz import KEPT_COLUMNS, MAX_DRAWN_COLUMNS, mlp_scene
    from symbackprop.printing.latex import TexPrinter

    g = sb.mlp([1] * 201)
    scene = mlp_scene(g, TexPrinter(sb.derive(g)))
    assert scene.problems() == []
    xs = [float(x) for x in re.findall(r"at \((-?[\d.]+),", scene.tikz())]
    assert max(xs) - min(xs) < 60  # cm, and TeX holds 575
    assert r"\cdots" in scene.tikz()
    # a layer of one edge too wide to label edge by edge carries its own weight, not w_j
    assert "{$w_{1}$}" in scene.tikz() and "{$w_{200}$}" in scene.tikz()
    assert "w_{j}" not in scene.tikz()
    kept = {*range(KEPT_COLUMNS[0]), *range(201 - KEPT_COLUMNS[1], 201)}
    assert {name for name in scene.symbols if name.startswith("w")} == \
        {f"w{col}" for col in kept if col - 1 in kept}  # each edge between kept columns
    shallow = sb.mlp([1] * MAX_DRAWN_COLUMNS)  # at the limit every column is drawn
    assert len(mlp_scene(shallow, TexPrinter(sb.derive(shallow))).symbols) > 3 * (
        MAX_DRAWN_COLUMNS - 1)


def test_a_deep_networks_widths_are_one_braced_run_in_every_language():
    # "A 1-1-1-…(201 times) multilayer perceptron" ran off the page as a title
    g = sb.mlp([2] + [1] * 200)
    for language in ("en", "ko"):
        tex = sb.render(g, "article", language=language)
        assert r"\underbrace{1\text{-}\cdots\text{-}1}_{200}" in tex
        assert r"\underbrace{1, \ldots, 1}_{200}" in tex
        assert "1, 1, 1, 1, 1" not in tex and r"1\text{-}1\text{-}1\text{-}1\text{-}1" not in tex
    tex = sb.render(sb.mlp([3, 3, 3, 3, 1]), "article")  # four equal widths are written out
    assert r"A $3\text{-}3\text{-}3\text{-}3\text{-}1$ multilayer perceptron" in tex
    assert "underbrace" not in tex.split(r"\section")[0]

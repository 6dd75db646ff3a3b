"""Notes linear in the network's size (issue 23, item 3): no chain-rule path is listed on the
way to a document but those of the few gradients it writes out in full (at most
MAX_SHOWN_PATHS each); the rest comes from the δ recursion."""

from __future__ import annotations

import pytest

import symbackprop as sb
from symbackprop.document.context import DocumentContext
from symbackprop.document.gradients import FOCUS_SHOWN_PATHS, MAX_SHOWN_PATHS
from symbackprop.document.options import DocumentOptions


@pytest.fixture
def listed(monkeypatch):
    """The parameters whose chain paths get listed (Derivation.chain), in call order."""
    calls = []
    real = sb.Derivation.chain

    def recording(self, parameter):
        calls.append(self.graph.symbol(parameter))
        return real(self, parameter)

    monkeypatch.setattr(sb.Derivation, "chain", recording)
    return calls


def _values(g):
    return {s.name: round(0.37 * ((7 * k) % 11) / 11 - 0.15, 2) for k, s in enumerate(g.leaves)}


def test_a_worked_example_lists_no_chain_path(listed):
    g = sb.mlp([4] * 6 + [1])
    sb.worked_example(sb.derive(g), _values(g))
    assert listed == []


def test_notes_list_paths_only_for_the_shown_gradients_with_few_paths(listed):
    g = sb.mlp([4] * 6 + [1])  # 4^4 = 256 paths from a first-layer weight: listed before
    d = sb.derive(g)
    doc = sb.build_document(d, sb.worked_example(d, _values(g)))
    labels = {eq.label for eq in doc.equations}
    assert listed and all(f"dL/d{p}" in labels and d.path_count(p) <= MAX_SHOWN_PATHS
                          for p in listed)
    assert not [p for p in g.parameters[:16] if p in listed]  # 256 paths each: never listed


def test_a_models_notes_list_paths_only_for_its_short_chains(listed):
    g = sb.rnn(1, 2, 1, steps=4)
    d = sb.derive(g)
    sb.build_document(d, sb.worked_example(d, _values(g)))
    assert all(d.path_count(p) <= FOCUS_SHOWN_PATHS for p in listed)


def test_a_gradient_with_too_many_paths_highlights_the_union_of_their_edges(listed):
    g = sb.mlp([2, 3, 3, 3, 1])  # 9 paths from w1: too many to list
    d = sb.derive(g)
    w1 = g.parameters[0]
    assert d.path_count(w1) == 9 > MAX_SHOWN_PATHS
    doc = sb.build_document(d, full=True)
    assert w1 not in listed
    (union,) = next(e for e in doc.equations if e.label == f"dL/d{w1}").paths
    # the same edges the nine paths run along on the drawing, each once
    ctx = DocumentContext(d, None, DocumentOptions(full=True))
    along = {edge for path in d.chain(w1).paths for edge in ctx.drawn_path(path)}
    assert len(union) == len(set(union)) and set(union) == along


def test_a_gradient_with_few_paths_keeps_one_overlay_per_path():
    g = sb.mlp([2, 3, 3, 1])
    d = sb.derive(g)
    w1 = g.parameters[0]
    doc = sb.build_document(d, full=True)
    eq = next(e for e in doc.equations if e.label == f"dL/d{w1}")
    assert d.path_count(w1) == len(eq.paths) == 3


def test_a_deep_mlps_notes_list_no_path_of_a_deep_weight(listed):
    g = sb.mlp([4] * 16 + [1])  # 4^15 paths from a first-layer weight
    d = sb.derive(g)
    sb.build_document(d, sb.worked_example(d, _values(g)))
    assert all(d.path_count(p) <= MAX_SHOWN_PATHS for p in listed)
    # the shown weights of the top three layers (1, 1 and 4 paths); of 16 layers, no other
    assert len(listed) <= 3


def test_a_drawing_too_wide_to_read_places_no_label(monkeypatch):
    from symbackprop.document import tikz
    from symbackprop.printing.latex import TexPrinter

    placed = []
    real = tikz.place_labels
    monkeypatch.setattr(tikz, "place_labels", lambda *a: placed.append(1) or real(*a))
    d = sb.derive(sb.mlp([4] * 15 + [1]))  # 16 columns: the deepest drawn whole
    drawing, _ = tikz.tikz_network(d, TexPrinter(d), with_nodes=True)
    assert placed == []  # every layer carries its weight matrix's name instead
    assert drawing.count(r"\node[font=\small]") == 15 and r"\node[w]" not in drawing
    d = sb.derive(sb.mlp([2, 2, 1]))
    assert r"\node[w]" in tikz.tikz_network(d, TexPrinter(d)) and placed


def _rnn_values(steps):
    return _values(sb.rnn(1, 2, 1, steps=steps))


def test_the_verifiers_local_derivatives_grow_linearly_with_the_steps(monkeypatch):
    """∂L/∂v for every node in one sweep per point: the forward tangents it replaced evaluated
    every later node's local derivatives once per node (quadratic in the steps)."""
    from symbackprop.check.verify import Meaning

    counts = {}
    for steps in (8, 16):
        calls = []
        real = Meaning.local
        monkeypatch.setattr(Meaning, "local", lambda self, a, b, k, real=real, calls=calls:
                            calls.append(1) or real(self, a, b, k))
        g = sb.rnn(1, 2, 1, steps=steps)
        m = Meaning(sb.derive(g))
        for v in g.nodes:
            m.adjoint(v, 0)
        counts[steps] = len(calls)
        monkeypatch.undo()
    assert counts[16] <= 2.2 * counts[8]


def test_a_worked_example_compiles_each_shape_of_line_once():
    from symbackprop.codegen import scalar

    g = sb.rnn(1, 2, 1, steps=8)
    d = sb.derive(g)
    scalar._compiled.cache_clear()
    doc = sb.build_document(d, sb.worked_example(d, _rnn_values(8)))
    lines = [e for e in doc.equations if e.check == "numbers"]
    # dozens of lines in numbers, a few shapes: a_t, h_t, o_t, δ_t, the loss, the gradients
    assert scalar._compiled.cache_info().misses < len(lines) / 3


def test_a_number_by_shape_is_codegens_number_to_the_bit():
    from symbackprop.codegen.scalar import number as compiled_number
    from symbackprop.document.context import number

    g = sb.rnn(1, 2, 1, steps=4)
    d = sb.derive(g)
    ex = sb.worked_example(d, _rnn_values(4))
    known = {**{s: ex.values[s.name] for s in g.leaves}, **{s: ex.nodes[s.name] for s in g.nodes}}
    known.update({s: ex.deltas[v.name] for v, s in d.delta_symbols.items() if v.name in ex.deltas})
    for v in g.delta_nodes:
        for expr in (d.recursion(v), g.expr(v)):
            values = {s: known[s] for s in expr.free_symbols}
            assert number(expr, values) == compiled_number(expr, values)


def test_a_tall_block_is_split_as_before():
    from symbackprop.document.model import MAX_ALIGN_ROWS, Equation, Equations, Step
    from symbackprop.printing.latex import Tex

    def block(rows):
        return Equations([Equation(str(k), Tex("a"), [Step([Tex("b")])]) for k in range(rows)])

    assert not block(MAX_ALIGN_ROWS).split and block(MAX_ALIGN_ROWS + 1).split
    assert block(MAX_ALIGN_ROWS + 1).line_count == MAX_ALIGN_ROWS + 1

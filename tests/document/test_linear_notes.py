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

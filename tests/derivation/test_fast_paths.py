"""The reverse walk's fast paths (derivation/walk.py) give exactly what SymPy gives: the power and
product rules for loss terms, factoring once per shape, and paths counted on the graph."""

from __future__ import annotations

import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.derivation.reverse import derive
from symbackprop.derivation.walk import paths_to_loss, polynomial_diff

GRAPHS = {
    "rnn-mse": lambda: sb.rnn(2, 3, 2, 3),
    "rnn-softmax": lambda: sb.rnn(1, 2, 3, 2, "softmax", "cross_entropy"),
    "mlp-bce": lambda: sb.mlp([2, 2, 1], "sigmoid", "bce"),
    "mlp-sse": lambda: sb.mlp([3, 2, 2], ["tanh", "sigmoid"], "sse"),
    "attention": lambda: sb.attention(2, 2, projections=True, d_in=2),
    "conv1d": lambda: sb.conv1d(4, 2),
    "blocks": lambda: sb.network(2, [sb.dense(3, "tanh"), sb.batch_norm(),
                                     sb.residual(sb.dense(3, "sigmoid")), sb.layer_norm(),
                                     sb.dense(2, "softmax")], loss="cross_entropy", batch=3),
}


@pytest.mark.parametrize("name", list(GRAPHS))
def test_polynomial_diff_equals_sympy_on_every_term_of_every_node(name):
    graph = GRAPHS[name]()
    checked = 0
    for node in graph.nodes:
        expr = graph.expr(node)
        for term in sp.Add.make_args(expr):
            for symbol in term.free_symbols:
                assert polynomial_diff(term, symbol) == sp.diff(term, symbol), (term, symbol)
                checked += 1
    assert checked > 10


@pytest.mark.parametrize("name", list(GRAPHS))
def test_paths_counted_on_the_graph_equal_the_derivations_count(name):
    graph = GRAPHS[name]()
    counts, d = paths_to_loss(graph), derive(graph)
    assert all(counts[p] == d.path_count(p) for p in graph.parameters)


def test_paths_of_an_unrolled_rnn_grow_as_hidden_units_to_the_steps():
    counts = paths_to_loss(sb.rnn(1, 3, 1, 6))
    assert counts[sp.Symbol("U_11", real=True)] > 3 ** 5

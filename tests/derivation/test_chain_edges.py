"""Derivation.chain_edges and Derivation.recursion: what a document needs of the chain rule,
without listing a path."""

from __future__ import annotations

import pytest

import symbackprop as sb

NETS = [
    lambda: sb.mlp([2, 2, 1]),
    lambda: sb.mlp([3, 3, 2, 2], activation="tanh"),
    lambda: sb.mlp([2, 3, 2, 3, 2], activation=["relu", "tanh", "sigmoid", "softmax"],
                   loss="cross_entropy"),
    lambda: sb.rnn(1, 2, 1, steps=3),
    lambda: sb.conv1d(5, 3),
]


@pytest.mark.parametrize("make", NETS)
def test_chain_edges_are_the_listed_paths_factors_each_once_in_the_same_order(make):
    d = sb.derive(make())
    for p in d.graph.parameters:
        listed = list(dict.fromkeys((f.of, f.wrt, f.result) for path in d.chain(p).paths
                                    for f in path))
        assert [(f.of, f.wrt, f.result) for f in d.chain_edges(p)] == listed, p


def test_chain_edges_of_a_deep_net_come_without_listing_its_paths(monkeypatch):
    g = sb.mlp([4] * 12 + [1])
    d = sb.derive(g)
    w = g.parameters[0]
    assert d.path_count(w) == 4 ** 10  # a million paths: far past what chain() lists
    monkeypatch.setattr(sb.Derivation, "chain", lambda *a: pytest.fail("a path was listed"))
    edges = [(f.of, f.wrt) for f in d.chain_edges(w)]
    # every edge from w or a node it reaches, to a node, once: found here by the parents
    reached = {w}
    for v in g.nodes:
        if any(u in reached for u in g.parents(v)):
            reached.add(v)
    expected = {(v, u) for v in g.nodes for u in g.parents(v) if u in reached}
    assert len(edges) == len(set(edges)) and set(edges) == expected
    assert edges[0] == (g.loss_symbol, g.symbol("yhat"))


def test_an_unused_parameter_has_no_chain_edges():
    g = sb.Graph("g")
    x, w, u = g.input("x"), g.parameter("w"), g.parameter("u")
    g.node("dead", u * x)
    g.loss("L", (w * x) ** 2)
    d = sb.derive(g)
    assert d.chain_edges(u) == [] and d.path_count(u) == 0


def test_recursion_reaches_the_named_deltas_and_equals_the_delta_form():
    net = sb.rnn(1, 2, 1, steps=3)
    d = sb.derive(net)
    named = {d.delta_symbols[v] for v in net.delta_nodes}
    deltas = set(d.delta_symbols.values())
    for p in net.parameters:
        form = d.recursion(p)
        assert form.free_symbols & deltas <= named, p  # no δ of a_t
        assert form == d.gradient(p, form="named")
    # equal in value to the raw δ form: each named δ at the engine's number
    values = {s.name: 0.1 * (k % 7) - 0.3 for k, s in enumerate(net.leaves)}
    result = d.evaluate(values)
    at = {s: values[s.name] for s in net.leaves} | {v: result.nodes[v.name] for v in net.nodes}
    at |= {d.delta_symbols[v]: result.deltas[v.name] for v in net.delta_nodes}
    for p in net.parameters:
        assert float(d.recursion(p).subs(at)) == pytest.approx(result.gradients[p.name])

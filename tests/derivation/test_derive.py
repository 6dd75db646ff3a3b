"""Reverse-mode derivation: chains, δ recursions, gradients in their three forms."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.codegen.scalar import NUMPY_FUNCTIONS
from symbackprop.core.functions import sigmoid


def S(net, name: str) -> sp.Symbol:  # noqa: N802 - a short symbol lookup
    return net.symbol(name)


def lambdified(graph: sb.Graph, expr: sp.Expr):
    return sp.lambdify(graph.leaves, expr, modules=[NUMPY_FUNCTIONS, "numpy"])


def at(graph: sb.Graph, values: dict[str, float]) -> list[float]:
    return [values[s.name] for s in graph.leaves]


def random_values(graph: sb.Graph, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    return {s.name: float(rng.uniform(-1.5, 1.5)) for s in graph.leaves}


# -- chains ------------------------------------------------------------------------------------------
def test_chain_w5_factors_seed000(seed000_net, seed000_derivation):
    net, d = seed000_net, seed000_derivation
    y, yhat, h1, z3, w5, L = (S(net, n) for n in ("y", "yhat", "h1", "z3", "w5", "L"))
    chain = d.chain(net.weight(2, 1, 1))
    assert chain.parameter == w5 and chain.loss == L
    assert len(chain) == 1
    (path,) = chain.paths
    # -2*(y - yhat) as printed (kept factored), and as an expression
    assert [str(f.result) for f in path] == ["-2*(y - yhat)", "yhat*(1 - yhat)", "h1"]
    expected = [-2 * (y - yhat), yhat * (1 - yhat), h1]
    assert all(sp.expand(f.result - e) == 0 for f, e in zip(path, expected, strict=True))
    assert [(f.of, f.wrt) for f in path] == [(L, yhat), (yhat, z3), (z3, w5)]
    assert [str(f) for f in path] == ["dL/dyhat", "dyhat/dz3", "dz3/dw5"]
    assert chain.symbolic() == sp.Mul(
        *[sp.Derivative(a, b, evaluate=False) for a, b in [(L, yhat), (yhat, z3), (z3, w5)]],
        evaluate=False,
    )
    assert repr(chain) == "Chain(dL/dw5 = dL/dyhat * dyhat/dz3 * dz3/dw5)"


def test_chain_w1_has_five_factors(seed000_net, seed000_derivation):
    net, d = seed000_net, seed000_derivation
    chain = d.chain("w1")
    assert len(chain) == 1
    (path,) = chain.paths
    assert len(path) == 5
    s = {n: S(net, n) for n in ("y", "yhat", "h1", "z1", "z3", "w5", "x1", "w1", "L")}
    assert [(f.of, f.wrt) for f in path] == [
        (s["L"], s["yhat"]), (s["yhat"], s["z3"]), (s["z3"], s["h1"]), (s["h1"], s["z1"]),
        (s["z1"], s["w1"]),
    ]
    expected = [
        -2 * (s["y"] - s["yhat"]), s["yhat"] * (1 - s["yhat"]), s["w5"],
        s["h1"] * (1 - s["h1"]), s["x1"],
    ]
    assert all(sp.expand(f.result - e) == 0 for f, e in zip(path, expected, strict=True))
    assert str(path[0].result) == "-2*(y - yhat)"


def test_chain_expr_equals_gradient_symbolically(seed000_net, seed000_derivation):
    net, d = seed000_net, seed000_derivation
    for p in net.parameters:
        assert sp.expand(net.expand(d.chain(p).expr()) - d.gradient(p)) == 0


def test_chain_expr_equals_gradient_numerically(seed000_net, seed000_derivation, seed000_values):
    net, d = seed000_net, seed000_derivation
    points = [seed000_values] + [random_values(net, seed) for seed in range(3)]
    for p in net.parameters:
        chain_f = lambdified(net, net.expand(d.chain(p).expr()))
        grad_f = lambdified(net, d.gradient(p))
        for values in points:
            assert chain_f(*at(net, values)) == pytest.approx(grad_f(*at(net, values)), rel=1e-12)


def test_local_derivatives_in_node_symbols(seed000_net, seed000_derivation):
    net, d = seed000_net, seed000_derivation
    yhat, z3 = S(net, "yhat"), S(net, "z3")
    assert d.local(yhat, z3) == yhat * (1 - yhat)
    tanh_net = sb.mlp([1, 1, 1], activation="tanh")
    td = sb.derive(tanh_net)
    assert td.local(tanh_net.act(1, 1), tanh_net.pre(1, 1)) == 1 - tanh_net.act(1, 1) ** 2


def test_chain_enumerates_every_path_in_a_deeper_net():
    net = sb.mlp([2, 3, 3, 1], activation="tanh")
    d = sb.derive(net)
    chain = d.chain(net.weight(1, 1, 1))
    assert len(chain) == 3  # through each of the three units of layer 2
    for path in chain.paths:
        assert len(path) == 7
        assert path[-1].of == net.pre(1, 1) and path[-1].wrt == net.weight(1, 1, 1)
    values = random_values(net, 1)
    expected = lambdified(net, d.gradient(net.weight(1, 1, 1)))(*at(net, values))
    got = lambdified(net, net.expand(chain.expr()))(*at(net, values))
    assert got == pytest.approx(expected, rel=1e-12)


def test_chain_refuses_too_many_paths(monkeypatch):
    net = sb.mlp([2, 3, 3, 1], activation="tanh")
    d = sb.derive(net)
    monkeypatch.setattr(importlib.import_module("symbackprop.derivation.reverse"), "MAX_CHAIN_PATHS", 2)
    with pytest.raises(ValueError, match="form='delta'"):
        d.chain(net.weight(1, 1, 1))
    assert len(d.chain(net.weight(3, 1, 1))) == 1


# -- gradients -----------------------------------------------------------------------------------
def test_expanded_gradient_has_only_leaves_and_no_exp(seed000_net, seed000_derivation):
    net, d = seed000_net, seed000_derivation
    leaves = set(net.leaves)
    for p in net.parameters:
        g = d.gradient(p)
        assert not g.has(sp.Derivative)
        assert not g.has(sp.exp)
        assert g.has(sigmoid)
        assert g.free_symbols <= leaves
    assert set(d.gradients) == set(net.parameters)
    assert len(d.gradients) == 6
    assert d.gradients[S(net, "w3")] == d.gradient("w3")


def test_gradient_forms(seed000_net, seed000_derivation):
    net, d = seed000_net, seed000_derivation
    y, yhat, h1 = S(net, "y"), S(net, "yhat"), S(net, "h1")
    delta_z3 = d.delta_symbols[net.pre(2, 1)]
    assert d.gradient("w5", form="delta") == delta_z3 * h1
    assert sp.expand(d.gradient("w5", form="intermediate") - (-2 * (y - yhat) * yhat * (1 - yhat)
                                                              * h1)) == 0
    with pytest.raises(ValueError, match="unknown form"):
        d.gradient("w5", form="matrix")
    with pytest.raises(ValueError, match="not a parameter"):
        d.gradient("x1")


def test_gradient_of_unused_parameter_is_zero():
    g = sb.Graph()
    x, w, u, y = g.input("x"), g.parameter("w"), g.parameter("u"), g.target("y")
    a = g.node("a", sb.sigmoid(w * x))
    g.loss("L", (y - a) ** 2)
    d = sb.derive(g)
    assert d.gradient(u) == 0
    assert d.gradient(u, form="delta") == 0
    assert d.gradient(u, form="intermediate") == 0
    assert len(d.chain(u)) == 0
    assert d.chain(u).expr() == 0
    assert d.gradient(w) != 0


# -- δ -------------------------------------------------------------------------------------------------
def test_delta_recursion_of_mlp(seed000_net, seed000_derivation):
    net, d = seed000_net, seed000_derivation
    z1, z3, h1, w5 = net.pre(1, 1), net.pre(2, 1), S(net, "h1"), net.weight(2, 1, 1)
    delta = d.delta(z1)
    assert delta.node == z1
    assert delta.symbol == d.delta_symbols[z1]
    assert delta.symbol.name == "delta_z1"
    assert d.delta_symbols[z3] in delta.recursion.free_symbols
    assert w5 in delta.recursion.free_symbols
    assert sp.expand(delta.recursion - d.delta_symbols[z3] * w5 * h1 * (1 - h1)) == 0
    # the value is in node symbols only
    assert not any(s in delta.value.free_symbols for s in d.delta_symbols.values())
    assert delta.assumes == ()


def test_delta_recursion_reaches_only_the_next_layer():
    net = sb.mlp([2, 3, 3, 1], activation="sigmoid", bias=True)
    d = sb.derive(net)
    rec = d.delta(net.pre(1, 2)).recursion
    next_layer = {d.delta_symbols[net.pre(2, k)] for k in (1, 2, 3)}
    later = {d.delta_symbols[net.pre(3, 1)]}
    assert next_layer <= rec.free_symbols
    assert not later & rec.free_symbols
    assert {net.weight(2, 2, k) for k in (1, 2, 3)} <= rec.free_symbols
    # δ^(1)_2 = σ'(z) Σ_k w_2k δ^(2)_k, numerically, with the δ values of the evaluator
    values = random_values(net, 5)
    ev = d.evaluate(values)
    subs = {s: values.get(s.name, ev.nodes.get(s.name)) for s in rec.free_symbols
            if s.name in values or s.name in ev.nodes}
    subs.update({d.delta_symbols[net.pre(2, k)]: ev.deltas[net.pre(2, k).name] for k in (1, 2, 3)})
    assert float(rec.xreplace(subs)) == pytest.approx(ev.deltas[net.pre(1, 2).name], rel=1e-12)


def test_delta_of_the_output_and_of_leaves(seed000_net, seed000_derivation):
    net, d = seed000_net, seed000_derivation
    y, yhat = S(net, "y"), S(net, "yhat")
    out = d.delta(net.pre(2, 1))
    assert sp.expand(out.recursion - (-2 * (y - yhat) * yhat * (1 - yhat))) == 0
    assert out.value == out.recursion
    assert d.delta("L").recursion == 1
    with pytest.raises(ValueError, match="defined for nodes"):
        d.delta("w1")


def test_threshold_bias_gradient_is_minus_delta():
    net = sb.mlp([2, 2, 1], activation="sigmoid", loss="mse", bias="threshold", notation="layered")
    d = sb.derive(net)
    for (l, j) in [(1, 1), (1, 2), (2, 1)]:  # noqa: E741
        b = net.bias(l, j)
        assert d.gradient(b, form="delta") == -d.delta_symbols[net.pre(l, j)]
    # the sign, against finite differences of the loss
    values = random_values(net, 11)
    values["y"] = 0.9
    ev = d.evaluate(values)
    for (l, j) in [(1, 1), (2, 1)]:  # noqa: E741
        b = net.bias(l, j).name
        h = 1e-6
        up, down = dict(values), dict(values)
        up[b] += h
        down[b] -= h
        fd = (d.evaluator.loss(up) - d.evaluator.loss(down)) / (2 * h)
        assert ev.gradients[b] == pytest.approx(fd, rel=1e-6, abs=1e-10)
        assert ev.gradients[b] == pytest.approx(-ev.deltas[net.pre(l, j).name], rel=1e-14)
        assert math.copysign(1, ev.gradients[b]) == math.copysign(1, fd)


def test_shared_bias_gradient_sums_over_units():
    net = sb.mlp([2, 3, 1], activation="tanh", bias="shared")
    d = sb.derive(net)
    b1 = net.bias(1, 1)
    assert sp.expand(
        d.gradient(b1, form="delta") - sum(d.delta_symbols[net.pre(1, j)] for j in (1, 2, 3))
    ) == 0
    assert len(d.chain(b1)) == 3


def test_softmax_cross_entropy_delta_is_p_minus_y():
    net = sb.mlp([2, 3], activation="softmax", loss="cross_entropy")
    d = sb.derive(net)
    for k in (1, 2, 3):
        delta = d.delta(net.pre(1, k))
        p, y = net.outputs[k - 1], net.targets[k - 1]
        assert sp.expand(delta.value - (p - y)) == 0
        assert delta.assumes == ("y1 + y2 + y3 = 1",)
        # without the assumption the exact δ is p_k Σ y − y_k
        exact = d.exact_value(net.pre(1, k))
        assert sp.expand(exact - (p * sum(net.targets) - y)) == 0


def test_softmax_cross_entropy_hidden_delta_grouped_per_weight():
    # A textbook writes a hidden δ as σ'·Σ_k w_k (p_k − y_k): one bracket per weight.
    net = sb.mlp([2, 3, 2], activation=["sigmoid", "softmax"], loss="cross_entropy")
    d = sb.derive(net)
    v = net.pre(1, 1)
    a = net.act(1, 1)
    w = [net.weight(2, 1, k) for k in (1, 2)]
    p, y = net.outputs, net.targets
    expected = a * (1 - a) * (w[0] * (p[0] - y[0]) + w[1] * (p[1] - y[1]))
    assert d.delta(v).value == expected  # structurally, not only equal
    assert sp.expand(d.exact_value(v).subs(y[1], 1 - y[0]) - expected.subs(y[1], 1 - y[0])) == 0


def test_softmax_cross_entropy_delta_numerically():
    net = sb.mlp([3, 4, 3], activation=["tanh", "softmax"], loss="cross_entropy", bias=True)
    d = sb.derive(net)
    values = random_values(net, 3)
    values.update(y1=0.0, y2=1.0, y3=0.0)
    ev = d.evaluate(values)
    for k in (1, 2, 3):
        expected = ev.nodes[f"yhat{k}"] - values[f"y{k}"]
        assert ev.deltas[net.pre(2, k).name] == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_sigmoid_bce_delta_is_yhat_minus_y_over_n(n):
    net = sb.mlp([2, n], activation="sigmoid", loss="bce")
    d = sb.derive(net)
    for k in range(1, n + 1):
        delta = d.delta(net.pre(1, k))
        p, y = net.outputs[k - 1], net.targets[k - 1]
        assert sp.simplify(delta.value - (p - y) / n) == 0
        assert delta.assumes == ()


def test_shared_parameter_sums_over_both_uses():
    g = sb.Graph()
    x1, x2, w, y = g.input("x1"), g.input("x2"), g.parameter("w"), g.target("y")
    a1 = g.node("a1", w * x1)
    a2 = g.node("a2", sb.sigmoid(w * x2))
    L = g.loss("L", (y - a1 * a2) ** 2)
    d = sb.derive(g)
    chain = d.chain(w)
    assert len(chain) == 2
    assert {path[-1].of for path in chain.paths} == {a1, a2}
    assert d.gradient(w, form="delta") == d.delta_symbols[a1] * x1 + d.delta_symbols[a2] * sp.diff(
        sb.sigmoid(w * x2), w
    ).xreplace({sb.sigmoid(w * x2): a2})
    reference = sp.diff(g.expand(L), w)
    assert sp.simplify(d.gradient(w) - reference) == 0


def test_node_with_two_children_sums_over_both_paths():
    g = sb.Graph()
    x, w, y = g.input("x"), g.parameter("w"), g.target("y")
    a = g.node("a", w * x)
    b = g.node("b", sb.sigmoid(a))
    c = g.node("c", sb.tanh(a))
    L = g.loss("L", (y - b - c) ** 2)
    d = sb.derive(g)
    chain = d.chain(w)
    assert len(chain) == 2
    assert sorted(path[1].of.name for path in chain.paths) == ["b", "c"]
    rec = d.delta(a).recursion
    assert {d.delta_symbols[b], d.delta_symbols[c]} <= rec.free_symbols
    assert sp.simplify(d.gradient(w) - sp.diff(g.expand(L), w)) == 0
    f_grad = lambdified(g, d.gradient(w))
    f_chain = lambdified(g, g.expand(chain.expr()))
    vals = dict(x=0.7, w=-0.4, y=0.2)
    assert f_grad(*at(g, vals)) == pytest.approx(f_chain(*at(g, vals)), rel=1e-12)


def test_residual_and_product_nodes():
    g = sb.Graph()
    x, w1, w2, y = g.input("x"), g.parameter("w1"), g.parameter("w2"), g.target("y")
    h1 = g.node("h1", sb.tanh(w1 * x))
    h2 = g.node("h2", h1 + sb.sigmoid(w2 * h1))  # residual
    p = g.node("p", h1 * h2)  # product of nodes
    L = g.loss("L", sp.Rational(1, 2) * (y - p) ** 2)
    d = sb.derive(g)
    chain = d.chain(w1)
    assert len(chain) == 2  # p <- h1 and p <- h2 <- h1: σ(w2·h1) is not a node, so no path of its own
    (residual,) = [f for path in chain.paths for f in path if (f.of, f.wrt) == (h2, h1)]
    sig = sb.sigmoid(w2 * h1)
    assert sp.expand(residual.result - (1 + w2 * sig * (1 - sig))) == 0
    for param in (w1, w2):
        assert sp.simplify(d.gradient(param) - sp.diff(g.expand(L), param)) == 0


def test_derivation_repr(seed000_derivation):
    assert repr(seed000_derivation) == (
        "<Derivation of MLP 2-2-1: 6 parameters, 7 nodes, loss L>"
    )


def test_derive_reports_progress_on_long_sweeps():
    net = sb.mlp([50, 50, 1])
    calls: list[tuple[int, int]] = []
    sb.derive(net, progress=lambda done, total: calls.append((done, total)))
    total = len(net.symbols)
    assert total > 2000
    assert calls == [(k, total) for k in range(0, total, 2000)]


def test_path_count_by_dynamic_programming_matches_the_listed_chains():
    net = sb.mlp([2, 3, 2, 1])
    d = sb.derive(net)
    for p in net.parameters:
        assert d.path_count(p) == len(d.chain(p).paths)


def test_a_chain_with_too_many_paths_is_refused():
    d = sb.derive(sb.mlp([1, 9, 9, 9, 9, 9, 1]))  # 9⁴ = 6561 paths from a first-layer weight
    p = d.graph.parameters[0]
    assert d.path_count(p) == 9 ** 4
    with pytest.raises(ValueError, match="chain-rule paths"):
        d.chain(p)


@pytest.mark.parametrize("graph", [
    lambda: sb.mlp([3, 4, 4, 2], activation="tanh", bias=True),
    lambda: sb.mlp([3, 4, 3], activation=["sigmoid", "softmax"], loss="cross_entropy"),
    lambda: sb.rnn(1, 2, 1, 3),
], ids=["mlp", "softmax", "rnn"])
def test_delta_values_are_exactly_the_substituted_recursion(graph):
    # The fast substitution (product() for δ_c·w terms) must give the very expression xreplace
    # gives: values are compared, cached and printed, so the same args in the same order.
    d = sb.derive(graph())
    want = {d.loss: sp.S.One}
    for v in reversed(d.graph.symbols):
        if v in d.deltas and v != d.loss:
            rule = {d.delta_symbols[c]: want[c] for c in d._children[v]
                    if c in d.deltas and c != d.loss}
            want[v] = d._tidy(d.deltas[v].xreplace(rule), one_hot=False)
            assert sp.srepr(d.exact_value(v)) == sp.srepr(want[v]), v

"""The MLP builder: seed 000's numbering, notations, bias modes and architecture errors."""

from __future__ import annotations

import pytest
import sympy as sp

import symbackprop as sb
from symbackprop import GraphError
from symbackprop.core.functions import sigmoid, softmax


def names(symbols) -> list[str]:
    return [s.name for s in symbols]


# -- seed 000 ------------------------------------------------------------------------------------
def test_seed000_weight_numbering(seed000_net):
    net = seed000_net
    # Seed 000 numbers its weights source-major: w1 = x1->h1, w2 = x1->h2, w3 = x2->h1, ...
    expected = {
        (1, 1, 1): "w1",
        (1, 1, 2): "w2",
        (1, 2, 1): "w3",
        (1, 2, 2): "w4",
        (2, 1, 1): "w5",
        (2, 2, 1): "w6",
    }
    for (l, i, j), name in expected.items():  # noqa: E741
        assert net.weight(l, i, j).name == name
    assert names(net.parameters) == ["w1", "w2", "w3", "w4", "w5", "w6"]
    assert names(net.weights(1)) == ["w1", "w2", "w3", "w4"]
    assert names(net.weights(2)) == ["w5", "w6"]


def test_seed000_forward_equations(seed000_net):
    net = seed000_net
    s = {name: net.symbol(name) for name in
         ("x1", "x2", "y", "w1", "w2", "w3", "w4", "w5", "w6", "z1", "z2", "h1", "h2", "z3", "yhat")}
    assert net.expr(s["z1"]) == s["w1"] * s["x1"] + s["w3"] * s["x2"]
    assert net.expr(s["z2"]) == s["w2"] * s["x1"] + s["w4"] * s["x2"]
    assert net.expr(s["h1"]) == sigmoid(s["z1"])
    assert net.expr(s["h2"]) == sigmoid(s["z2"])
    assert net.expr(s["z3"]) == s["w5"] * s["h1"] + s["w6"] * s["h2"]
    assert net.expr(s["yhat"]) == sigmoid(s["z3"])
    # mse over a single output: (1/1) * (y - yhat)^2
    assert net.expr(net.loss_symbol) == (s["y"] - s["yhat"]) ** 2


def test_seed000_names_and_structure(seed000_net):
    net = seed000_net
    assert names(net.inputs) == ["x1", "x2"]
    assert names(net.targets) == ["y"]
    assert names(net.nodes) == ["z1", "z2", "h1", "h2", "z3", "yhat", "L"]
    assert net.loss_symbol.name == "L"
    assert names(net.outputs) == ["yhat"]
    assert net.depth == 2
    assert net.pre(1, 2).name == "z2" and net.pre(2, 1).name == "z3"
    assert net.act(0, 2).name == "x2" and net.act(1, 1).name == "h1"
    assert net.act(2, 1).name == "yhat"
    assert names(net.delta_nodes) == ["z1", "z2", "z3"]
    assert net.latex_name(net.symbol("yhat")) == r"\hat{y}"
    assert net.latex_name(net.symbol("w5")) == "w_{5}"
    assert net.title == "MLP 2-2-1"


def test_structural_accessor_errors(seed000_net):
    net = seed000_net
    with pytest.raises(GraphError, match=r"no weight \(3, 1, 1\)"):
        net.weight(3, 1, 1)
    with pytest.raises(GraphError, match="bias=False"):
        net.bias(1, 1)
    with pytest.raises(GraphError, match="no pre-activation"):
        net.pre(0, 1)
    with pytest.raises(GraphError, match="no activation"):
        net.act(1, 3)


# -- notations -----------------------------------------------------------------------------------
def test_layered_notation_keys():
    net = sb.mlp([2, 2, 1], bias=True, notation="layered")
    assert net.weight(1, 1, 2).name == "w_12^(1)"
    assert net.weight(2, 2, 1).name == "w_21^(2)"
    assert net.bias(1, 2).name == "b_2^(1)"
    assert net.pre(1, 1).name == "S_1^(1)"
    assert net.act(1, 2).name == "x_2^(1)"
    assert net.act(0, 1).name == "x_1^(0)"
    assert names(net.outputs) == ["yhat"]
    assert net.latex_name(net.weight(1, 1, 2)) == "w_{12}^{(1)}"
    d = sb.derive(net)
    assert d.delta_symbols[net.pre(2, 1)].name == "delta_1^(2)"
    assert d.delta_latex(net.pre(1, 2)) == r"\delta_{2}^{(1)}"


def test_indexed_notation_keys():
    net = sb.mlp([2, 3, 2], bias=True, notation="indexed")
    assert net.act(0, 1).name == "h_1^(1)"
    assert net.weight(1, 1, 3).name == "w_31^(1)"  # w_ji: from unit i to unit j
    assert net.pre(1, 3).name == "z_3^(1)"
    assert net.act(1, 3).name == "h_3^(2)"
    assert names(net.outputs) == ["h_1^(3)", "h_2^(3)"]
    assert net.loss_symbol.name == "J"
    assert net.bias(2, 2).name == "b_2^(2)"


def test_matrix_notation_keys():
    net = sb.mlp([3, 2, 1], bias=True, notation="matrix")
    assert net.weight(1, 3, 2).name == "W^[1]_23"
    assert net.pre(2, 1).name == "Z^[2]_1"
    assert net.act(1, 2).name == "A^[1]_2"
    assert net.outputs[0].name == "Yhat"
    assert names(net.targets) == ["Y"]
    assert net.latex_name(net.act(0, 1)) == "A^{[0]}_{1}"
    d = sb.derive(net)
    assert d.delta_symbols[net.pre(1, 2)].name == "delta^[1]_2"


def test_sequential_multiple_outputs():
    net = sb.mlp([2, 3, 2])
    assert names(net.outputs) == ["yhat1", "yhat2"]
    assert names(net.targets) == ["y1", "y2"]
    assert names(net.nodes) == ["z1", "z2", "z3", "h1", "h2", "h3", "z4", "z5", "yhat1",
                                "yhat2", "L"]
    assert net.weight(2, 3, 2).name == "w12"


def test_user_notation():
    mine = sb.Notation.from_mapping("mine", {"keys": {"weight": "theta{n}"}})
    net = sb.mlp([1, 1], notation=mine)
    assert names(net.parameters) == ["theta1"]


@pytest.mark.parametrize("which", ["sequential", "layered", "indexed", "matrix"])
def test_every_symbol_is_spelled_by_its_notation_when_asked(which):
    net = sb.mlp([3, 11, 2], bias=True, notation=which, activation="softmax",
                 loss="cross_entropy")
    n = net.notation
    for symbol in net.symbols:
        role, index = net.roles[symbol]
        assert symbol.name == n.key(role, **index)
        assert net.latex_name(symbol) == n.latex(role, **index)
    assert net.latex_name(net.weight(2, 10, 2)) == n.latex("weight", i=10, j=2, l=2, n=53)
    net.set_latex(net.weight(1, 1, 1), r"\omega")  # a spelling set later wins
    assert net.latex_name(net.weight(1, 1, 1)) == r"\omega"


def test_unknown_notation():
    with pytest.raises(ValueError, match="unknown notation"):
        sb.mlp([2, 1], notation="greek")


# -- bias modes ----------------------------------------------------------------------------------
def test_no_bias():
    net = sb.mlp([2, 2, 1], bias=False)
    assert all(not p.name.startswith("b") for p in net.parameters)
    assert net.layer_biases(1) == []


def test_bias_true_adds_one_bias_per_unit():
    net = sb.mlp([2, 2, 1], bias=True)
    assert names(net.parameters) == ["w1", "w2", "w3", "w4", "b1", "b2", "w5", "w6", "b3"]
    w1, w3, b1 = net.weight(1, 1, 1), net.weight(1, 2, 1), net.bias(1, 1)
    x1, x2 = net.inputs
    assert net.expr(net.pre(1, 1)) == w1 * x1 + w3 * x2 + b1
    assert names(net.layer_biases(1)) == ["b1", "b2"]
    assert net.bias(2, 1).name == "b3"


def test_threshold_bias_is_subtracted():
    net = sb.mlp([2, 1], bias="threshold", notation="layered")
    w11, w21, b = net.weight(1, 1, 1), net.weight(1, 2, 1), net.bias(1, 1)
    x1, x2 = net.inputs
    assert net.expr(net.pre(1, 1)) == w11 * x1 + w21 * x2 - b


def test_shared_bias_is_one_symbol_per_layer():
    net = sb.mlp([2, 3, 2], bias="shared")
    assert net.bias(1, 1) is net.bias(1, 2) is net.bias(1, 3)
    assert net.bias(1, 1) != net.bias(2, 1)
    assert names(net.layer_biases(1)) == ["b1"]
    assert names(net.layer_biases(2)) == ["b2"]
    b1 = net.bias(1, 1)
    for j in (1, 2, 3):
        assert b1 in net.expr(net.pre(1, j)).free_symbols
    assert len(net.parameters) == 6 + 6 + 2


# -- activations and losses ----------------------------------------------------------------------
def test_activation_per_layer():
    net = sb.mlp([2, 2, 1], activation=["tanh", "identity"])
    assert net.expr(net.act(1, 1)) == sp.tanh(net.pre(1, 1))
    assert net.expr(net.act(2, 1)) == net.pre(2, 1)


def test_softmax_output_and_one_hot_targets():
    net = sb.mlp([2, 3], activation="softmax", loss="cross_entropy")
    z = [net.pre(1, j) for j in (1, 2, 3)]
    assert net.expr(net.outputs[1]) == softmax(2, *z)
    assert net.one_hot_groups == [tuple(net.targets)]
    y, p = net.targets, net.outputs
    assert sp.expand(net.expr(net.loss_symbol) + sum(yk * sp.log(pk) for yk, pk in zip(y, p,
                                                                                   strict=True))) == 0


def test_softmax_with_other_losses_has_no_one_hot_assumption():
    net = sb.mlp([2, 3], activation="softmax", loss="mse")
    assert net.one_hot_groups == []


# -- bad architectures -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(sizes=[2, 0, 1]), "positive integer, got 0"),
        (dict(sizes=[2, -1]), "positive integer, got -1"),
        (dict(sizes=[2, 1.0]), "positive integer, got 1.0"),
        (dict(sizes=[2, True]), "positive integer, got True"),
        (dict(sizes=[2]), "at least an input and an output layer"),
        (dict(sizes=[]), "at least an input and an output layer"),
        (dict(sizes="221"), "list of layer widths"),
        (dict(sizes=3), "list of layer widths"),
        (dict(sizes=[2, 2, 1], activation=["sigmoid"]), "1 activations given for 2 layers"),
        (dict(sizes=[2, 1], activation=["sigmoid", "tanh"]), "2 activations given for 1 layers"),
        (dict(sizes=[2, 1], activation=3), "activation must be a name"),
        (dict(sizes=[2, 2, 1], activation="swish"), "unknown activation 'swish'"),
        (dict(sizes=[2, 2, 1], activation=["tanh", "mish"]), "unknown activation 'mish'"),
        (dict(sizes=[2, 1], loss="hinge"), "unknown loss 'hinge'"),
        (dict(sizes=[2, 2], activation="sigmoid", loss="cross_entropy"), "needs a softmax"),
        (dict(sizes=[2, 2], activation="relu", loss="bce"), "bce"),
        (dict(sizes=[2, 1], bias="yes"), "bias must be one of"),
        (dict(sizes=[2, 1], bias=1), "bias must be one of"),
        (dict(sizes=[2, 1], bias=0), "bias must be one of"),
        (dict(sizes=[2, 1], bias=None), "bias must be one of"),
    ],
)
def test_bad_architectures(kwargs, message):
    with pytest.raises(GraphError, match=message):
        sb.mlp(**kwargs)


def test_graph_error_is_a_value_error():
    with pytest.raises(ValueError):
        sb.mlp([2, 0])

"""Every model kind's size counted from the spec's numbers (io/spec/sizes.py), and the refusals
made from those numbers before any graph is built (issue 21: blocks had no weight limit)."""

from __future__ import annotations

import pytest

from symbackprop.builders.attention import attention
from symbackprop.builders.conv import conv1d, conv2d
from symbackprop.builders.mlp import mlp
from symbackprop.builders.norm import batch_norm, dense, layer_norm, network, residual
from symbackprop.builders.rnn import rnn
from symbackprop.core.graph import Graph
from symbackprop.io.spec import SpecError, parse_spec
from symbackprop.io.spec import models as spec_models
from symbackprop.io.spec import sizes as sizes_module
from symbackprop.io.spec.errors import MAX_WEIGHTS
from symbackprop.io.spec.sizes import MAX_PRODUCTS, model_size

BLOCKS = [dense(3, "tanh"), layer_norm(), residual(dense(3, "tanh"), batch_norm(False)),
          dense(2, "identity", bias=False)]

# (kind, the reader's args, the builder called with the same sizes)
CASES = [
    *[("mlp", dict(sizes=[2, 3, 2], bias=bias), lambda bias=bias: mlp([2, 3, 2], bias=bias))
      for bias in (False, True, "threshold", "shared")],
    ("rnn", dict(inputs=2, hidden=3, outputs=2, steps=4, bias=True),
     lambda: rnn(2, 3, 2, 4)),
    ("rnn", dict(inputs=1, hidden=2, outputs=1, steps=3, bias=False),
     lambda: rnn(1, 2, 1, 3, bias=False)),
    ("conv1d", dict(length=6, kernel=3, in_channels=2, out_channels=2, outputs=2, bias=True),
     lambda: conv1d(6, 3, "relu", 2, "identity", "mse", True, None, 2, 2)),
    ("conv2d", dict(shape=[4, 5], kernel=[2, 3], outputs=1, bias=False),
     lambda: conv2d((4, 5), (2, 3), "relu", 1, "identity", "mse", False, None)),
    ("attention", dict(keys=3, d=2, d_v=4, projections=False),
     lambda: attention(3, 2, 4)),
    ("attention", dict(keys=3, d=2, d_v=None, projections=True, d_in=3),
     lambda: attention(3, 2, None, projections=True, d_in=3)),
    ("blocks", dict(inputs=2, batch=3, blocks=BLOCKS),
     lambda: network(2, BLOCKS, batch=3)),
]


@pytest.mark.parametrize(("kind", "args", "build"), CASES,
                         ids=[f"{c[0]}-{k}" for k, c in enumerate(CASES)])
def test_parameters_counted_from_numbers_match_the_built_graph(kind, args, build):
    assert model_size(kind, args).parameters == len(build().parameters)


def _products(graph) -> int:
    """Products of a parameter and another symbol in the graph's node expressions."""
    import sympy as sp
    params = set(graph.parameters)
    count = 0
    for node in graph.nodes:
        for term in sp.Add.make_args(graph.expr(node)):
            factors = sp.Mul.make_args(term)
            if len(factors) == 2 and any(f in params for f in factors) and \
                    all(f.is_Symbol for f in factors):
                count += 1
    return count


@pytest.mark.parametrize(("kind", "args", "build"),
                         [c for c in CASES if c[0] in ("rnn", "blocks")],
                         ids=["rnn-bias", "rnn-no-bias", "blocks"])
def test_products_counted_from_numbers_match_the_built_graph(kind, args, build):
    assert model_size(kind, args).products == _products(build())


def _blocks_spec(count: int, units: int, batch: int) -> str:
    blocks = ", ".join([f'{{ type = "dense", units = {units}, activation = "tanh" }}'] * count)
    return f'[network]\nkind = "blocks"\ninputs = 64\nbatch = {batch}\nblocks = [{blocks}]\n'


def _refuse_to_build(monkeypatch):
    """Make every builder fail loudly: a refusal must come before any of them runs."""
    def built(*args, **kwargs):
        raise AssertionError("a builder ran before the size was checked")
    for name in ("rnn", "conv1d", "conv2d", "attention", "network"):
        monkeypatch.setattr(spec_models, name, built)


def test_blocks_over_the_weight_limit_are_refused_before_building(monkeypatch):
    _refuse_to_build(monkeypatch)
    with pytest.raises(SpecError) as err:  # 3 dense blocks of 256: 148 224 weights
        parse_spec(_blocks_spec(3, 256, 1), "b3.toml")
    assert f"148224 parameters; the limit is {MAX_WEIGHTS}" in str(err.value)
    assert "\n" not in str(err.value)


def test_blocks_over_the_product_limit_are_refused_before_building(monkeypatch):
    _refuse_to_build(monkeypatch)
    with pytest.raises(SpecError) as err:  # 32 blocks of 256 at batch 16: the reproducer's spec
        parse_spec(_blocks_spec(32, 256, 16), "b32.toml")
    assert "parameters; the limit is" in str(err.value)
    with pytest.raises(SpecError) as err:  # few weights, but every one once per sample
        parse_spec(_blocks_spec(2, 64, 16), "b.toml")
    assert "products w·x" in str(err.value) and f"the limit is {MAX_PRODUCTS}" in str(err.value)


def test_blocks_at_the_product_limit_are_read_and_one_more_is_refused(monkeypatch):
    # 2 inputs, dense 3 then 4, batch 2: (2·3 + 3·4)·2 = 36 products
    monkeypatch.setattr(sizes_module, "MAX_PRODUCTS", 36)
    spec = ('[network]\nkind = "blocks"\ninputs = 2\nbatch = 2\nblocks = [{ type = "dense", '
            'units = 3 }, { type = "dense", units = %d }]\n')
    assert len(parse_spec(spec % 4).graph.parameters) == 2 * 3 + 3 + 3 * 4 + 4
    with pytest.raises(SpecError, match="42 products w·x .*the limit is 36"):
        parse_spec(spec % 5)


# A spec of every kind (and a [graph]), small enough to build.
SPECS = {
    "mlp": '[network]\nsizes = [2, 3, 1]\nbias = "shared"',
    "rnn": '[network]\nkind = "rnn"\ninputs = 2\nhidden = 2\noutputs = 1\nsteps = 2',
    "conv1d": '[network]\nkind = "conv1d"\nlength = 4\nkernel = 2\nout_channels = 2',
    "conv2d": '[network]\nkind = "conv2d"\nshape = [3, 3]\nkernel = [2, 2]\nbias = false',
    "attention": '[network]\nkind = "attention"\nkeys = 2\nd = 2\nprojections = true',
    "blocks": _blocks_spec(2, 3, 2).replace("inputs = 64", "inputs = 2"),
    "graph": '[graph]\ninputs = ["x"]\ntargets = ["y"]\nparameters = ["w", "b"]\n'
             'loss = { name = "L", expr = "(y - w*x - b)^2" }',
}


class _Refused(Exception):
    """What the test's limit raises, as a command's limit raises its UserError."""


@pytest.mark.parametrize("kind", SPECS)
def test_a_commands_limit_sees_the_built_graphs_parameter_count_before_it_is_built(
        kind, monkeypatch):
    built = len(parse_spec(SPECS[kind]).graph.parameters)
    seen: list[int] = []

    def limit(n: int) -> None:
        seen.append(n)
        raise _Refused

    def declared(*args, **kwargs):
        raise AssertionError("a graph was built before the limit saw its size")
    monkeypatch.setattr(Graph, "_declare", declared)
    with pytest.raises(_Refused):
        parse_spec(SPECS[kind], refuse_parameters=limit)
    assert seen == [built]

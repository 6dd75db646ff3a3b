"""The scalar evaluator's stacked groups: the same numbers as its lines one by one, per sample
and as batch means, and gradients checked against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import symbackprop as sb
from symbackprop.codegen import stacked

NETS = [
    dict(sizes=[3, 9, 9, 1], activation="sigmoid", loss="mse", bias=True),
    dict(sizes=[5, 10, 3], activation=["tanh", "softmax"], loss="cross_entropy", bias=True),
    dict(sizes=[4, 12, 2], activation=["relu", "sigmoid"], loss="bce", bias="threshold"),
    dict(sizes=[4, 12, 12, 1], activation="leaky_relu", loss="mse", bias="shared"),
    dict(sizes=[20, 8, 1], activation="gelu", loss="mse", bias=False),
    dict(sizes=[3, 10, 10, 2], activation="silu", loss="mse", bias=True, notation="layered"),
]


def _values(net, batch, rng):
    values = {}
    for s in net.leaves:
        kind = net.kind(s).value
        if kind == "parameter":
            values[s.name] = float(rng.normal(0, 0.7))
        elif kind == "target":
            values[s.name] = rng.uniform(size=batch) if batch else float(rng.uniform())
        else:
            values[s.name] = rng.normal(size=batch) if batch else float(rng.normal())
    if net.loss_name == "cross_entropy":
        names = [t.name for t in net.targets]
        hot = rng.integers(0, len(names), size=batch or None)
        for k, name in enumerate(names):
            values[name] = (hot == k).astype(float) if batch else float(hot == k)
    return values


@pytest.mark.parametrize("spec", NETS, ids=lambda s: "-".join(map(str, s["sizes"])))
@pytest.mark.parametrize("batch", [(), (7,), (3, 5)], ids=str)
def test_groups_give_each_lines_own_numbers(spec, batch, monkeypatch):
    rng = np.random.default_rng(len(spec["sizes"]) + len(batch))
    net = sb.mlp(**spec)
    grouped = sb.derive(net).evaluator
    monkeypatch.setattr(stacked, "MIN_ROWS", 10**9)  # every line alone, as before groups
    alone = sb.derive(net).evaluator
    assert grouped.groups > 0 and alone.groups == 0
    values = _values(net, batch, rng)
    a, b = grouped.evaluate(values), alone.evaluate(values)
    for part in ("nodes", "deltas", "gradients"):
        got, want = getattr(a, part), getattr(b, part)
        assert list(got) == list(want)
        for name, v in want.items():
            assert np.shape(got[name]) == np.shape(v), (part, name)
            assert np.allclose(got[name], v, rtol=1e-12, atol=1e-14), (part, name)
    mean = grouped.evaluate(values, batch_mean=True)
    assert mean.loss == pytest.approx(float(np.mean(b.loss)), rel=1e-12, abs=1e-14)
    for name, v in b.gradients.items():
        assert isinstance(mean.gradients[name], float)
        assert mean.gradients[name] == pytest.approx(float(np.mean(v)), rel=1e-12, abs=1e-14)


def test_a_wide_layer_is_one_matrix_product_and_its_gradients_check():
    net = sb.mlp([10, 16, 1], activation="sigmoid", loss="mse", bias=True)
    d = sb.derive(net)
    source = d.evaluator.source
    assert "_linear(" in source and "_products(" in source
    values = _values(net, (), np.random.default_rng(3))
    assert sb.check_gradients(d, values).ok


def test_small_nets_read_line_by_line():
    source = sb.derive(sb.mlp([2, 2, 1])).evaluator.source
    assert "_g0" not in source and "z1 = w1*x1 + w3*x2" in source


def test_batch_means_need_no_per_sample_gradients():
    net = sb.mlp([8, 8, 1], activation="tanh", loss="mse", bias=True)
    ev = sb.derive(net).evaluator
    values = _values(net, (50,), np.random.default_rng(4))
    ev.evaluate(values, batch_mean=True)
    mean_source = __import__("inspect").getsource(ev._mean_program.function)
    assert "_mean_products(" in mean_source

"""Worked examples at extreme values: bounded precise numbers, and nodes no float64 holds."""

from __future__ import annotations

import math

import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.check.worked import non_finite_node, precise_at, require_finite
from symbackprop.core.errors import ValuesError


def _graph(node, loss):
    """x, w -> a = node(x, w) -> L = loss(a)."""
    g = sb.Graph("g")
    x, w = g.input("x"), g.parameter("w")
    a = g.node("a", node(x, w))
    g.loss("L", loss(a))
    return g


def test_a_gelu_of_an_overflowing_product_neither_crashes_nor_shows_a_number():
    # erf4: w·x = -1e312 overflows; the precise fallback for its local derivatives asked mpmath
    # for exp(-1e624) and raised OverflowError: too many digits in integer
    g = _graph(lambda x, w: sb.gelu_erf(w * x), lambda a: a)
    ex = sb.worked_example(g, {"x": -1e300, "w": 1e12})
    assert non_finite_node(ex) == ("a", "undefined")
    with pytest.raises(ValuesError, match="node a is not defined in float64"):
        require_finite(ex)


def test_a_node_past_float64_is_named_as_an_overflow():
    g = sb.Graph("g")
    x, w = g.input("x"), g.parameter("w")
    z = g.node("z", w * x)
    g.loss("L", sb.gelu_erf(z))
    ex = sb.worked_example(g, {"x": -1e300, "w": 1e12})
    assert non_finite_node(ex) == ("z", "overflow")
    with pytest.raises(ValuesError, match="node z overflows float64"):
        require_finite(ex)


def test_a_log_of_a_negative_number_that_floats_round_to_zero_is_not_real():
    # a = 1 - 1e-20 is 1.0 in floats, so log(a - 1) = -inf passes as an overflow; in 50 digits
    # it is the log of a negative number
    g = _graph(lambda x, w: x + w, lambda a: sp.log(a - 1) ** 2)
    ex = sb.worked_example(g, {"x": 1.0, "w": -1e-20})
    assert non_finite_node(ex) == ("L", "not_real")
    with pytest.raises(ValuesError, match="node L is not a real number"):
        require_finite(ex)


def test_a_finite_example_passes():
    ex = sb.worked_example(_graph(lambda x, w: w * x, lambda a: (a - 1) ** 2),
                           {"x": 2.0, "w": 0.25})
    assert non_finite_node(ex) is None
    require_finite(ex)


def test_more_digits_are_taken_where_fifty_round_the_answer_away():
    # 1 − σ(200) is 0 in 50 digits, so ∂L/∂ŷ = (y − ŷ)/(ŷ(ŷ − 1)) divides by zero there
    net = sb.mlp([1, 1], activation="sigmoid", loss="bce")
    y, yhat = net.symbol("y"), net.symbol("yhat")
    known = {net.symbol(n): v for n, v in {"x1": 1.0, "y": 0.5, "w1": 200.0}.items()}
    z = precise_at(net, known, (y - yhat) / (yhat * (yhat - 1)))
    assert z is not None and math.isclose(z.real, 0.5 * math.exp(200), rel_tol=1e-12)


def test_a_saturated_example_keeps_its_finite_gradient_and_loss():
    net = sb.mlp([1, 1], activation="sigmoid", loss="bce")
    ex = sb.worked_example(net, {"x1": 1.0, "y": 0.5, "w1": 1000.0})
    assert ex.loss == pytest.approx(500.0)
    assert ex.gradients["w1"] == pytest.approx(0.5)
    require_finite(ex)


def test_a_gradient_float64_loses_with_every_node_finite_is_refused_naming_it():
    # c/softplus(r²) at r = 1.8e308: the node is 0, its gradient inf/inf = nan in float64; the
    # notes then said "gradient r disagrees with the evaluator" (exit 1) for a right derivation
    g = sb.Graph("g")
    r = g.parameter("r")
    n = g.node("n", 3 / sb.softplus(r * r))
    g.loss("L", (n - 1) ** 2)
    ex = sb.worked_example(g, {"r": 1.7976931348623157e308})
    assert non_finite_node(ex) is None and not math.isfinite(ex.gradients["r"])
    with pytest.raises(ValuesError, match="float64 loses the gradient for r"):
        require_finite(ex)


def test_chain_factors_are_listed_when_looked_up_and_multiply_to_the_gradient(monkeypatch):
    # a worked example lists no path on the way (documents use the δs); `symbackprop example`
    # still reads each parameter's paths, listed on first lookup from the same local numbers
    d = sb.derive(sb.mlp([2, 2, 1]))
    values = dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)
    calls = []
    real = sb.Derivation.chain
    monkeypatch.setattr(sb.Derivation, "chain",
                        lambda self, p: calls.append(p) or real(self, p))
    ex = sb.worked_example(d, values)
    assert calls == []
    rows = ex.factors["w1"]
    assert [str(p) for p in calls] == ["w1"] and [f"d{f.of}/d{f.wrt}" for f in rows[0]] == [
        "dL/dyhat", "dyhat/dz3", "dz3/dh1", "dh1/dz1", "dz1/dw1"]
    assert sum(math.prod(f.value for f in row) for row in rows) == pytest.approx(
        ex.gradients["w1"], rel=1e-12)
    assert sorted(ex.factors) == sorted(p.name for p in d.graph.parameters)

"""Activations and losses: textbook derivatives, agreement with their closed forms, printing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from symbackprop.core import functions as F
from symbackprop.core.functions import leaky_relu, relu, sigmoid, softmax, softplus, tanh

z = sp.Symbol("z", real=True)
z1, z2, z3 = sp.symbols("z1 z2 z3", real=True)

# Random evaluation points, away from 0 so that the kinks of relu / leaky_relu are not hit.
_rng = np.random.default_rng(20240505)
POINTS = [float(v) for v in _rng.uniform(-4, 4, size=12) if abs(v) > 1e-3]


def _num(expr: sp.Expr, **at: float) -> float:
    subs = {sp.Symbol(k, real=True): v for k, v in at.items()}
    return float(sp.N(expr.subs(subs), 30))


# -- derivatives in their own terms -----------------------------------------------------------
def test_sigmoid_derivative_is_textbook_form_without_exp():
    d = sp.diff(sigmoid(z), z)
    assert d == sigmoid(z) * (1 - sigmoid(z))
    assert not d.has(sp.exp)


def test_sigmoid_values():
    assert sigmoid(0) == sp.Rational(1, 2)
    for x in POINTS:
        assert float(sigmoid(sp.Float(x)).evalf()) == pytest.approx(1 / (1 + math.exp(-x)), rel=1e-14)


def test_tanh_derivative():
    assert sp.diff(tanh(z), z) == 1 - tanh(z) ** 2


def test_relu_derivative_is_heaviside_with_zero_at_zero():
    d = sp.diff(relu(z), z)
    assert d == sp.Heaviside(z, 0)
    assert d.subs(z, 0) == 0
    assert d.subs(z, sp.Rational(1, 3)) == 1
    assert d.subs(z, -sp.Rational(1, 3)) == 0
    assert F.RELU_AT_ZERO == 0


def test_relu_values():
    assert relu(sp.Integer(0)) == 0
    assert relu(sp.Float(-1.5)) == 0
    assert relu(sp.Integer(2)) == 2
    assert relu(z).func is relu  # symbolic arguments stay unevaluated


def test_leaky_relu_default_slope_and_derivative():
    f = leaky_relu(z)
    assert f.args == (z, sp.Rational(1, 100))
    d = sp.diff(f, z)
    assert not d.has(sp.Derivative)
    assert d.subs(z, 2) == 1
    assert d.subs(z, -2) == sp.Rational(1, 100)
    assert d.subs(z, 0) == sp.Rational(1, 100)  # the subgradient at 0 is the slope, like relu's 0
    assert leaky_relu(sp.Float(-2.0)) == pytest.approx(-0.02)
    assert leaky_relu(sp.Integer(3)) == 3


def test_leaky_relu_derivative_in_its_slope():
    a = sp.Symbol("a", positive=True)
    d = sp.diff(leaky_relu(z, a), a)
    assert d.subs(z, -3) == -3
    assert d.subs(z, 3) == 0


def test_softplus_derivative_is_sigmoid():
    assert sp.diff(softplus(z), z) == sigmoid(z)


def test_softmax_derivative_textbook_form():
    zs = (z1, z2, z3)
    for i in (1, 2, 3):
        for j, zj in enumerate(zs, start=1):
            got = sp.diff(softmax(i, *zs), zj)
            expected = softmax(i, *zs) * (sp.KroneckerDelta(i, j) - softmax(j, *zs))
            assert sp.expand(got - expected) == 0
            assert not got.has(sp.exp)


def test_softmax_derivative_matches_exp_form_numerically():
    zs = (z1, z2, z3)
    rng = np.random.default_rng(7)
    for _ in range(3):
        at = dict(zip(("z1", "z2", "z3"), (float(v) for v in rng.uniform(-3, 3, 3)), strict=True))
        for i in (1, 2, 3):
            exp_form = softmax(i, *zs).rewrite(sp.exp)
            assert exp_form.has(sp.exp)
            for zj in zs:
                textbook = _num(sp.diff(softmax(i, *zs), zj), **at)
                reference = _num(sp.diff(exp_form, zj), **at)
                assert textbook == pytest.approx(reference, rel=1e-12, abs=1e-15)


def test_softmax_components_sum_to_one():
    at = {z1: 0.3, z2: -1.2, z3: 2.0}
    total = sum(float(softmax(k, z1, z2, z3).subs(at).evalf()) for k in (1, 2, 3))
    assert total == pytest.approx(1.0, rel=1e-14)


def test_softmax_index_out_of_range():
    with pytest.raises(ValueError, match="softmax index"):
        softmax(3, z1, z2)
    with pytest.raises(ValueError, match="softmax index"):
        softmax(0, z1, z2)


# -- every activation agrees with the derivative of its closed form --------------------------
REWRITES = [
    ("sigmoid", sigmoid(z), sp.exp),
    ("tanh", tanh(z), sp.exp),
    ("relu", relu(z), sp.Max),
    ("leaky_relu", leaky_relu(z), sp.Piecewise),
    ("softplus", softplus(z), sp.log),
]


@pytest.mark.parametrize(("name", "f", "form"), REWRITES, ids=[r[0] for r in REWRITES])
def test_fdiff_agrees_with_derivative_of_rewrite(name, f, form):
    closed = f.rewrite(form)
    assert closed != f, f"{name} has no rewrite to {form}"
    textbook = sp.diff(f, z)
    reference = sp.diff(closed, z)
    for x in POINTS:
        assert _num(f, z=x) == pytest.approx(_num(closed, z=x), rel=1e-12, abs=1e-15)
        assert _num(textbook, z=x) == pytest.approx(_num(reference, z=x), rel=1e-12, abs=1e-15)


def test_second_derivative_of_sigmoid_stays_in_sigmoid_terms():
    d2 = sp.diff(sigmoid(z), z, 2)
    assert not d2.has(sp.exp)
    s = sp.Symbol("s")
    assert sp.expand(d2.subs(sigmoid(z), s) - s * (1 - s) * (1 - 2 * s)) == 0


def test_identity_and_layer_activation():
    assert F.identity(z) is z
    assert F.activation("identity", [z1, z2]) == [z1, z2]
    assert F.activation("linear", [z1]) == [z1]
    assert F.activation("sigmoid", [z1, z2]) == [sigmoid(z1), sigmoid(z2)]
    assert F.activation("softmax", [z1, z2]) == [softmax(1, z1, z2), softmax(2, z1, z2)]
    assert F.activation("leaky_relu", [z1]) == [leaky_relu(z1, sp.Rational(1, 100))]


# -- printing -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expr", "latex"),
    [
        (sigmoid(z), r"\sigma\left(z\right)"),
        (sigmoid(z) ** 2, r"\sigma\left(z\right)^{2}"),
        (relu(z), r"\operatorname{ReLU}\left(z\right)"),
        (leaky_relu(z), r"\operatorname{LReLU}\left(z\right)"),
        (softplus(z), r"\operatorname{softplus}\left(z\right)"),
        (softmax(2, z1, z2), r"\operatorname{softmax}_{2}\left(z_{1}, z_{2}\right)"),
    ],
)
def test_activations_print_as_textbook_latex(expr, latex):
    assert sp.latex(expr) == latex


def test_latex_of_textbook_derivative():
    out = sp.latex(sp.diff(sigmoid(z), z))
    assert r"\sigma\left(z\right)" in out
    assert "e^" not in out


# -- losses ---------------------------------------------------------------------------------------
Y = sp.symbols("y1 y2 y3", real=True)
P = sp.symbols("p1 p2 p3", real=True)


def _loss_value(name: str, targets, outputs) -> float:
    n = len(targets)
    expr = F.loss(name, list(Y[:n]), list(P[:n]))
    at = {**dict(zip(Y, targets, strict=False)), **dict(zip(P, outputs, strict=False))}
    return float(expr.subs(at))


def test_mse_is_mean_over_outputs():
    assert _loss_value("mse", [1.0, 0.0], [0.8, 0.3]) == pytest.approx((0.2**2 + 0.3**2) / 2)
    # One output: (y - yhat)^2, seed 000's 1/1 * sum.
    assert _loss_value("mse", [1.0], [0.645]) == pytest.approx(0.355**2)


def test_sse_and_half_sse():
    assert _loss_value("sse", [1.0, 0.0], [0.8, 0.3]) == pytest.approx(0.04 + 0.09)
    assert _loss_value("half_sse", [1.0, 0.0], [0.8, 0.3]) == pytest.approx(0.065)
    y, p = sp.symbols("y p")
    assert sp.diff(F.loss("half_sse", [y], [p]), p) == p - y


def test_bce_is_mean_over_outputs():
    expected = -(math.log(0.8) + math.log(1 - 0.3)) / 2
    assert _loss_value("bce", [1.0, 0.0], [0.8, 0.3]) == pytest.approx(expected, rel=1e-12)
    expected = -(0.25 * math.log(0.6) + 0.75 * math.log(0.4))
    assert _loss_value("bce", [0.25], [0.6]) == pytest.approx(expected, rel=1e-12)


def test_cross_entropy_is_summed_over_classes():
    value = _loss_value("cross_entropy", [0.0, 1.0, 0.0], [0.2, 0.7, 0.1])
    assert value == pytest.approx(-math.log(0.7), rel=1e-12)
    # Not a mean: summed over classes.
    value = _loss_value("cross_entropy", [0.5, 0.5], [0.2, 0.8])
    assert value == pytest.approx(-0.5 * math.log(0.2) - 0.5 * math.log(0.8), rel=1e-12)


def test_loss_lengths_must_match():
    with pytest.raises(ValueError):
        F.loss("mse", [Y[0], Y[1]], [P[0]])


def test_unknown_activation_and_loss_names_are_refused_naming_them():
    with pytest.raises(ValueError, match="swish"):
        F.activation("swish", [z])
    with pytest.raises(ValueError, match="hinge"):
        F.loss("hinge", [Y[0]], [P[0]])

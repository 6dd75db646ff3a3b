"""precise_value: 50 digits where floats round the answer away, bounded before the work."""

from __future__ import annotations

import math

import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from symbackprop.check.digits import precise_value

x = sp.Symbol("x")


def test_a_saturated_sigmoid_keeps_the_digits_floats_round_away():
    one_minus = 1 - 1 / (1 + sp.exp(-x))
    assert 1 - 1 / (1 + math.exp(-40.0)) == 0.0
    assert math.isclose(precise_value(one_minus, {x: 40.0}).real, math.exp(-40), rel_tol=1e-12)


def test_an_argument_past_the_bound_gives_up_instead_of_working():
    # exp(exp(1e300)) asks mpmath for 1e300 bits (OverflowError: too many digits in integer)
    assert precise_value(sp.exp(sp.exp(x)), {x: 1e300}) is None
    assert precise_value(sp.sin(sp.exp(x)), {x: 1e300}) is None
    assert precise_value(sp.exp(x ** 16), {x: 1e300}) is None


def test_huge_and_tiny_magnitudes_inside_the_bound_are_exact():
    # e^(−1e17) is cheap: only its exponent is big. σ(1e17)'s complement survives in it.
    w = 1.0643053750103168e17
    silu = x / (1 + sp.exp(-x))
    prime = silu + (1 - silu) / (1 + sp.exp(-x))  # SiLU′ as the textbook writes it
    assert precise_value(prime, {x: w}) == 1.0
    assert precise_value(sp.exp(x), {x: 1e300}).real == math.inf  # past float64 only
    assert precise_value(sp.tanh(x), {x: -1e300}) == -1.0


def test_a_log_of_a_negative_number_is_complex_not_cast():
    z = precise_value(sp.log(x - 1), {x: 1.0 - 2 ** -52})
    assert z is not None and z.imag != 0


def test_undefined_values_and_unknown_nodes_give_none():
    assert precise_value(sp.log(x), {x: 0.0}) is None
    assert precise_value(1 / x, {x: 0.0}) is None
    assert precise_value(sp.Function("f")(x), {x: 1.0}) is None
    assert precise_value(x + sp.Symbol("y"), {x: 1.0}) is None


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_exp_is_exact_for_every_float(v):
    z = precise_value(sp.exp(x), {x: v})
    assert z is not None and z.imag == 0
    if abs(v) < 700:
        assert math.isclose(z.real, math.exp(v), rel_tol=1e-14)
    else:
        assert z.real == (math.inf if v > 0 else 0.0)


def test_a_leaky_relu_is_read_branch_by_branch():
    # elementary(leaky_relu) is a Piecewise: read as None, it made every node after a leaky
    # relu unknown, and the notes then judged a softmax + bce δ by floats that had lost 8 digits
    from symbackprop.check.verify import elementary
    from symbackprop.core.functions import leaky_relu

    piece = elementary(leaky_relu(x, sp.Rational(1, 100)))
    assert isinstance(piece, sp.Piecewise)
    assert precise_value(piece, {x: -2.0}).real == -0.02
    assert precise_value(piece, {x: 3.0}).real == 3.0
    assert precise_value(sp.Piecewise((x, x > 0), (-x, True)), {x: -5.0}).real == 5.0
    # a branch test that is not a comparison of numbers is not guessed
    assert precise_value(sp.Piecewise((x, sp.Symbol("q") > 0), (-x, True)), {x: 1.0}) is None

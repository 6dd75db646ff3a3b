"""core/polys.py: what cancel and factor are given."""

from __future__ import annotations

import sympy as sp

import symbackprop as sb
from symbackprop.core.polys import MAX_DEGREE, polys_can_take

x = sp.Symbol("x")


def test_a_large_constant_in_an_exp_or_a_large_power_is_kept_from_the_polys():
    assert polys_can_take(sp.exp(x - MAX_DEGREE) / (1 + x))
    assert not polys_can_take(sp.exp(x - 10**12) / (1 + x))
    assert not polys_can_take(1 / (1 + x ** 1000))
    assert polys_can_take(1 / (1 + x ** 16))


def test_cancel_and_factor_never_see_a_spec_constant_inside_an_exp(monkeypatch):
    # the campaign's seed 2112 spec 1352: n2 = n1/exp(w − 1e12) kept check in cancel for
    # more than a minute of CPU (E^(10¹²) as a polynomial generator) before it said anything
    def guarded(function):
        def call(expr, *args, **kwargs):
            assert polys_can_take(sp.sympify(expr)), expr
            return function(expr, *args, **kwargs)
        return call

    monkeypatch.setattr(sp, "cancel", guarded(sp.cancel))
    monkeypatch.setattr(sp, "factor", guarded(sp.factor))
    g = sb.Graph("g")
    x_, w = g.input("x"), g.parameter("w")
    n1 = g.node("n1", sb.sigmoid(w) - 2 / w)
    n2 = g.node("n2", n1 / sp.exp(w - sp.Integer(10) ** 12))
    g.loss("L", x_ * n2 - (n2 + x_) * (n2 / x_))
    d = sb.derive(g)
    d.evaluate({"x": 0.346, "w": 1.25})
    assert d.gradient(w, form="delta") != 0

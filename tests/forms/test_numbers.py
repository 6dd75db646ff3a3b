"""scalar_numbers: the numbers a general form is checked against, real or refused by name."""

from __future__ import annotations

import math

import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.core.errors import ValuesError
from symbackprop.forms import models as forms
from symbackprop.forms.numbers import scalar_numbers


def test_every_node_and_delta_of_a_small_graph():
    g = sb.Graph("g")
    x, w = g.input("x"), g.parameter("w")
    a = g.node("a", w * x)
    g.loss("L", (a - 1) ** 2)
    known, deltas = scalar_numbers(sb.derive(g), {"x": 2.0, "w": 0.25})
    assert known["a"] == 0.5 and known["L"] == 0.25
    assert deltas["w"] == pytest.approx(2 * (0.5 - 1) * 2.0)


def test_a_log_of_a_negative_number_is_refused_naming_the_quantity():
    g = sb.Graph("g")
    x, w = g.input("x"), g.parameter("w")
    a = g.node("a", w * x)
    g.loss("L", sp.log(a) ** 2)
    with pytest.raises(ValuesError, match=r"^L is not a real number"):
        scalar_numbers(sb.derive(g), {"x": 1.0, "w": -2.0})


def test_a_real_check_gives_finite_numbers():
    form = forms.conv1d_form("tanh")
    assert math.isfinite(form.verify())

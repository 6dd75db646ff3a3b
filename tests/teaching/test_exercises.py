"""Exercise sheets: random or given values, labels for a roster, the same seed the same sheets."""

from __future__ import annotations

import pytest

import symbackprop as sb
from symbackprop.teaching.exercises import draw_values, exercise_sheets


@pytest.fixture(scope="module")
def net():
    return sb.mlp([2, 2, 1], bias=False)


def test_draw_values_is_reproducible_and_has_few_digits(net):
    a, b = draw_values(net, 3, seed=5), draw_values(net, 3, seed=5)
    assert a == b and a != draw_values(net, 3, seed=6)
    assert all(round(v, 2) == v for values in a for v in values.values())
    with pytest.raises(ValueError, match="count must be an integer from 1 to 200"):
        draw_values(net, 0, seed=1)


def test_sheets_take_a_rosters_values_and_labels(net):
    values = [dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)]
    problems, answers = exercise_sheets(net, 1, 0, value_sets=values, labels=["s1 Ada & Bob"])
    assert r"\section*{Exercise 1 (s1 Ada \& Bob)}" in problems
    assert "w_{5} = 0.55" in problems and "0.560" in answers  # seed 000's updated w5
    plain, _ = exercise_sheets(net, 2, 0)
    assert r"\section*{Exercise 2}" in plain and "(s1" not in plain


def test_a_models_sheet_gives_its_general_form_first():
    problems, answers = exercise_sheets(sb.conv1d(4, 2), 1, seed=0)
    for sheet in (problems, answers):
        assert sheet.index(r"\section*{The general form}") < sheet.index(r"\section*{Exercise 1")
        assert r"\sum_{i=1}^{n - K + 1} \delta_{i} x_{i + k - 1}" in sheet

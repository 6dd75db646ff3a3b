"""The side reader's bounds: every construct whose cost grows faster than its length is refused
before the work, as a reason (not checked), never a traceback."""

from __future__ import annotations

import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.core.functions import sigmoid
from symbackprop.teaching.latexparse import (
    MAX_DIFF_SIZE,
    MAX_NUMBERS,
    MAX_ORDER,
    MAX_SUM_TERMS,
    MAX_TREE,
    parse_side,
    tree_size,
)
from symbackprop.teaching.lint import SymbolTable


@pytest.fixture(scope="module")
def table():
    return SymbolTable(sb.derive(sb.mlp([2, 2, 1])))


def read(text, table):
    return parse_side(text, table)


def test_nested_sums_are_refused_by_their_terms_multiplied_before_a_term_is_read(table):
    three = read(r"\sum_{a=1}^{64}\sum_{b=1}^{64}\sum_{c=1}^{64} x_1", table)
    assert three.expr is None and three.problem == ("sum_terms", str(MAX_SUM_TERMS))
    # the outer sum's 64 terms are not read once each: the inner sum is refused at once
    assert three.steps < 100
    five = read(r"\sum_{a=1}^{64}" * 5 + " x_1", table)
    assert five.problem == ("sum_terms", str(MAX_SUM_TERMS)) and five.steps < 100


def test_nested_sums_within_the_bound_are_read_and_counted_once_per_term(table):
    side = read(r"\sum_{i=1}^{2}\sum_{j=1}^{2} x_{i} w_{j}", table)
    x1, x2, w1, w2 = (table(name) for name in ("x_1", "x_2", "w_1", "w_2"))
    assert sp.expand(side.expr - (x1 + x2) * (w1 + w2)) == 0
    eight = read(r"\sum_{i=1}^{8}\sum_{j=1}^{8} x_1", table)
    assert eight.expr == 64 * x1
    assert read(r"\sum_{i=1}^{8}\sum_{j=1}^{9} x_1", table).problem[0] == "sum_terms"


@pytest.mark.parametrize("bounds", ["5}^{1", "1}^{0"])
def test_an_empty_sum_is_a_reason_not_a_traceback(table, bounds):
    side = read(rf"\sum_{{i={bounds}}} x_i", table)
    assert side.expr is None and side.problem[0] == "sum_empty"


def test_a_tower_of_small_exponents_is_refused_before_the_number_is_computed(table):
    side = read("9^{64}^{64}^{64}^{64}", table)
    assert side.expr is None and side.problem == ("number_too_long", "^")
    assert read("(9^{64})^{64}", table).problem == ("number_too_long", "^")
    assert read("9^{64}", table).expr == sp.Integer(9) ** 64  # one power is still read
    assert read("2^{10}^{2}", table).expr == sp.Integer(2) ** 20


def test_primes_are_refused_past_the_order_bound_before_any_derivative_is_taken(table):
    side = read(r"\sigma" + "'" * 16 + "(x)", table)
    assert side.expr is None and side.problem == ("derivatives", str(MAX_ORDER))
    x = sp.Symbol("free_x", real=True)
    third = read(r"\sigma'''(x)", table)
    assert sp.simplify(third.expr - sp.diff(sigmoid(x), x, 3)) == 0


def test_a_second_derivative_at_an_expression_is_the_second_derivative(table):
    # σ''(2x) was σ'(2x) before: each prime took the first derivative again
    x = sp.Symbol("free_x", real=True)
    side = read(r"\sigma''(2 x)", table)
    assert sp.simplify(side.expr - sp.diff(sigmoid(x), x, 2).subs(x, 2 * x)) == 0


def test_derivatives_of_derivatives_are_bounded_by_order(table):
    d = r"\frac{d}{dx}"
    assert read(d * 3 + r"\sigma(x)", table).expr is not None
    assert read(d * 4 + r"\sigma(x)", table).problem == ("derivatives", str(MAX_ORDER))
    assert read(d + d + r"\sigma''(x)", table).problem == ("derivatives", str(MAX_ORDER))


def test_an_expression_too_large_to_differentiate_is_refused_before_it_is(table):
    big = " + ".join(rf"\sigma({k} x)" for k in range(1, MAX_DIFF_SIZE // 3))
    side = read(rf"\frac{{d}}{{dx}}\left({big}\right)", table)
    assert side.expr is None and side.problem == ("too_large", str(MAX_DIFF_SIZE))


def test_more_written_numbers_than_the_bound_are_refused(table):
    side = read(" + ".join(["0.5"] * (MAX_NUMBERS + 1)), table)
    assert side.expr is None and side.problem == ("numbers", str(MAX_NUMBERS))
    assert read(" + ".join(["0.5"] * MAX_NUMBERS), table).expr is not None


def test_an_unclosed_group_is_a_reason(table):
    side = read(r"\frac{1}{2", table)
    assert side.expr is None and side.problem == ("expected", "}")


def test_nested_fractions_are_read_in_steps_linear_in_their_tokens(table):
    # Each group is read by its range: a fraction nested d deep is not scanned d times.
    for depth in (5, 15, 25):
        text = r"\frac{" * depth + "x_1" + "}{2}" * depth
        side = read(text, table)
        assert side.expr == table("x_1") / 2 ** depth
        assert side.steps <= 4 * len(text)


def test_nested_primes_are_refused_by_the_size_of_their_tree_before_it_is_evaluated(table):
    # σ'(u) = σ(u)(1 − σ(u)) uses u twice: 30 nested σ' share their argument but written out
    # (as printing and evaluating do) they are 2^30 nodes.
    side = read(r"\sigma'(" * 30 + "x_1" + ")" * 30, table)
    assert side.expr is None and side.problem == ("too_large", str(MAX_TREE))
    assert read(r"\sigma'(\sigma'(x_1))", table).expr is not None


def test_the_tree_size_counts_shared_arguments_once_per_use_and_stops_at_the_limit():
    x = sp.Symbol("x")
    u = x + 1
    assert tree_size(u * sp.sin(u), 1000) == 1 + 3 + 4
    deep = x
    for _ in range(40):
        deep = sp.sin(deep) + sp.cos(deep)
    assert tree_size(deep, 10_000) == 10_001  # 2^40 nodes written out, counted to the limit

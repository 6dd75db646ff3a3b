"""lint's work is linear in its input: random LaTeX of n bytes is judged in at most c·n steps
of the reader (characters scanned, tokens read; a sum's body once per term), never timed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.teaching.latexdocument import LatexError
from symbackprop.teaching.latexparse import MAX_SUM_TERMS
from symbackprop.teaching.lint import lint

#: Steps per byte: a token is read at most MAX_SUM_TERMS times (once per term of the sums
#: around it), each read a take and a group boundary or two.
STEPS_PER_BYTE = 4 * MAX_SUM_TERMS

PIECES = [
    r"\sum_{i=1}^{64}", r"\sum_{j=1}^{8}", r"\sum_{i=5}^{1}", "^{64}", "^", "9", r"\sigma", "'",
    "(x)", "(", ")", r"\frac{", "}{", "}", "{", r"\frac{d}{dx}", r"\frac{\partial L}{\partial w_5}",
    r"\(", r"\)", r"\[", r"\]", "$", "$$", r"\begin{equation}", r"\end{equation}",
    r"\begin{align*}", r"\end{align*}", r"\\", "&", "=", "+", "-", r"\cdot", "x_1", "w_5", "z_1",
    r"\hat{y}", "0.5", "0.47", r"\eta", r"\sqrt", r"\quad", r"\left(", r"\right)", " ", "\n",
    "x_i", "e^{", r"\tanh", "%", r"\text{so}", "\x1b",
]


@pytest.fixture(scope="module")
def net():
    return sb.derive(sb.mlp([2, 2, 1]))


@settings(max_examples=60)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=60).map("".join))
def test_random_latex_is_judged_in_steps_linear_in_its_length(net, text):
    values = dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)
    try:
        result = lint(text, net, values)
    except LatexError:
        return  # refused as a whole, before any side is read
    assert result.steps <= STEPS_PER_BYTE * len(text.encode()) + 100


def test_the_step_count_sees_a_sum_read_once_per_term(net):
    # The count is what the bound is about: 64 terms of a body are 64 readings of it.
    one = lint(r"$z_1 = \sum_{i=1}^{1} x_1 w_1$", net).steps
    many = lint(r"$z_1 = \sum_{i=1}^{64} x_1 w_1$", net).steps
    assert many - one >= 63 * 4


def _expressions():
    """Readable sides: what the reader goes deepest into (sums, powers, primes, derivatives)."""
    leaf = st.sampled_from(["x_1", "x_2", "w_5", "z_1", r"\hat{y}", "0.5", "2", "9", "x", "x_i"])

    def grow(inner):
        return st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", r"\cdot", " "]), inner).map("".join),
            inner.map(lambda e: rf"\sum_{{i=1}}^{{64}} {e}"),
            inner.map(lambda e: rf"\sum_{{j=1}}^{{8}} \left({e}\right)"),
            inner.map(lambda e: f"{{{e}}}^{{64}}"),
            st.tuples(inner, inner).map(lambda p: rf"\frac{{{p[0]}}}{{{p[1]}}}"),
            inner.map(lambda e: rf"\sigma'''({e})"),
            inner.map(lambda e: rf"\frac{{d}}{{dx}}\left({e}\right)"),
            inner.map(lambda e: rf"\sqrt{{{e}}}"),
        )
    return st.recursive(leaf, grow, max_leaves=12)


@pytest.mark.slow  # a long run: make test-slow (CI runs it too)
@settings(max_examples=60)
@given(st.lists(_expressions(), min_size=1, max_size=4))
def test_readable_sides_are_judged_in_steps_linear_in_their_length(net, sides):
    text = "\n".join(f"$z_1 = {side}$" for side in sides)
    result = lint(text, net, dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6,
                                  w5=0.55, w6=0.45))
    assert result.steps <= STEPS_PER_BYTE * len(text.encode()) + 100

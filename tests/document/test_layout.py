"""How the notes lay a formula out: sums broken into balanced lines, grids as wide as fit,
a long list of symbols that ends on its last name (document/formulas.py, layout.py, network.py)."""

from __future__ import annotations

import re

import pytest
from texutil import tanh_softmax_doc

import symbackprop as sb
from symbackprop.document import Equation, Step, layout
from symbackprop.document.formulas import balanced, broken, broken_sum
from symbackprop.printing.latex import Tex, TexPrinter

TEX = TexPrinter.__new__(TexPrinter)


def _terms_on(line: str) -> int:
    """How many terms a printed line of a sum holds (its leading sign aside)."""
    return 1 + len(re.findall(r" [+-] ", line.lstrip("+- ")))


@pytest.mark.parametrize("count", range(2, 14))
def test_a_sum_broken_four_to_a_line_never_ends_on_a_lone_term(count):
    lines = balanced([f"a_{{{k}}}" for k in range(count)], TEX, lambda chunk: len(chunk) <= 4)
    sizes = [_terms_on(line) for line in lines]
    assert max(sizes) <= 4 and max(sizes) - min(sizes) <= 1
    assert len(lines) == -(-count // 4)  # no more lines than four to a line needs


def test_a_sum_keeps_each_terms_sign_on_its_lines():
    lines = balanced(["a", "-b", "c", "-d", "e"], TEX, lambda chunk: len(chunk) <= 3)
    assert lines == ["a - b + c", "-d + e"]
    assert balanced(list("abcde"), TEX, lambda chunk: len(chunk) <= 2) == \
        ["a + b", "+ c + d", "+ e"]  # five terms two to a line: one must be alone


def test_a_sum_that_fits_its_width_stays_on_one_line():
    terms = [f"w_{{{k}}} x_{{{k}}}" for k in range(5)] + ["b"]
    assert len(broken_sum(terms, TEX)) == 1
    narrow = broken_sum(terms, TEX, limit=10.0)
    assert len(narrow) > 1 and all(layout.width(line.lstrip("+ ")) <= 10.0 for line in narrow)
    assert _terms_on(narrow[-1]) >= 2  # "+ b" never alone


def test_a_long_formula_is_broken_by_its_latex_length_into_balanced_lines():
    terms = [rf"\frac{{\partial L}}{{\partial z_{{{k}}}}} w_{{{k}}}" for k in range(9)]
    lines = broken(terms, TEX)
    assert len(lines) == 3 and {_terms_on(line) for line in lines} == {3}


def test_the_forward_pass_breaks_no_sum_that_fits_a_slide_row():
    doc = tanh_softmax_doc()
    for eq in doc.section("forward").walk():
        for b in eq.blocks:
            for e in getattr(b, "equations", []):
                for step in e.steps:
                    if len(step.lines) > 1:
                        assert layout.width(" ".join(step.lines)) > 30.0, e.label
                        assert _terms_on(step.lines[-1]) >= 2, e.label


def test_a_grid_is_as_wide_as_the_page_allows_and_no_wider():
    short = [Equation(str(k), Tex(rf"\frac{{\partial z_{{{k}}}}}{{\partial w_{{{k}}}}}"),
                      [Step([Tex("x")])]) for k in range(9)]
    assert layout.grid_columns(short) == 3
    wide = [Equation(str(k), Tex(r"\frac{\partial z}{\partial w}"),
                     [Step([Tex(" + ".join(["x_{1} y_{1}"] * 6))])]) for k in range(9)]
    assert layout.grid_columns(wide) == 1


def test_a_long_list_of_parameters_ends_on_its_last_name_not_on_an_ellipsis():
    net = sb.mlp([3, 4, 2], ["tanh", "softmax"], "cross_entropy", notation="layered")
    doc = sb.build_document(sb.derive(net), appendix=False)
    shown = next(b for b in doc.section("network").blocks
                 if getattr(b, "key", "") == "symbols").args["parameters"]
    assert len(net.parameters) > 12 and len(shown) == 12
    assert shown.count(r"\ldots") == 1 and shown[-2] == r"\ldots"
    assert shown[-1] == TexPrinter(sb.derive(net))(net.parameters[-1])

"""MathML converted once per shape of a formula's numbers (printing/numbered.py) is the MathML
of the formula converted as it stands, byte for byte, whatever formula of its shape came first."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symbackprop.printing.mathml import equation_mathml, forget_mathml, tex_to_mathml
from symbackprop.printing.numbered import NumberShapes

#: What the notes print (a deep chain's lines, the worked example's numbers) and what a shape
#: must not swallow: a script's bare digit, a bare fraction, a dimension, a name in a font.
FORMULAS = [
    "w_{17}", r"\sigma\left(z_{3}\right)", r"z_{12}\,|\,h_{12}", r"{w_{40}}'",
    r"\frac{\partial z_{9}}{\partial w_{9}}", r"h_{9} \left(1 - h_{9}\right)",
    r"\delta_{z_{10}} w_{11} h_{10} \left(1 - h_{10}\right)", "w_{3} = -0.125",
    r"0.123 \cdot \left(-0.5\right)", r"w_{7} - \eta \frac{\partial L}{\partial w_{7}}",
    r"\sum_{k=1}^{10} w_{k} x_{k} + 2.5", r"\qquad 3.25 + 17", "x^2 + x_12 + 10^{3}",
    r"\frac12 + \frac{1}{2}", r"a \hspace{2pt} 3", "2 em", r"\sqrt[3]{8} + 4",
    r"\mathrm{w1} + 12", r"\text{layer 2} + 3", r"\hat{y}_{2} - y_{2}", "1.5.2 + 3",
    r"\tanh\left(0.25\right) \approx 0.245", r"\mathit{w\_11} = 0.5",
]


@pytest.mark.parametrize("display", [False, True])
@pytest.mark.parametrize("tex", FORMULAS)
def test_a_formula_after_another_of_its_shape_is_converted_as_it_stands(tex, display):
    forget_mathml()
    other = "".join(ch if not ch.isdigit() else str((int(ch) + 3) % 10) for ch in tex)
    tex_to_mathml(other, display=display)  # its shape converted first, with other numbers
    assert tex_to_mathml(tex, display=display) == tex_to_mathml(tex, display=display,
                                                                 by_shape=False)


_PIECES = [r"w_{%s}", r"\sigma\left(z_{%s}\right)", r"\frac{\partial L}{\partial h_{%s}}",
           "%s", r"\left(-%s\right)", r"x^%s", r"\cdot %s", r"h_{%s} \left(1 - h_{%s}\right)",
           r"\hat{y}_{%s}", r"\sum_{k=%s}^{n} a_{k}", r"\mathrm{b%s}", r"\frac%s"]
_NUMBERS = st.one_of(st.integers(0, 10_000).map(str),
                     st.decimals(-50, 50, places=3).map(lambda d: str(abs(d))))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_PIECES), _NUMBERS, _NUMBERS), min_size=1,
                max_size=5), st.sampled_from([" + ", " = ", r" \approx ", " "]), st.booleans())
def test_any_formula_of_numbers_is_converted_as_it_stands(pieces, joint, display):
    tex = joint.join(p % ((a, b) if p.count("%s") == 2 else (a,)) for p, a, b in pieces)
    assert tex_to_mathml(tex, display=display) == tex_to_mathml(tex, display=display,
                                                                 by_shape=False)


def test_an_equation_s_cells_are_the_formulas_converted_as_they_stand():
    forget_mathml()
    steps = [("=", [r"\delta_{z_{3}} w_{4} h_{3} \left(1 - h_{3}\right)"]),
             ("=", [r"0.125 \cdot 0.5 \cdot \left(1 - 0.25\right)"]), ("=", ["0.047"])]
    first = equation_mathml(r"\delta_{z_{2}}", steps)
    forget_mathml()
    equation_mathml(r"\delta_{z_{7}}", [(r, [line.replace("3", "8")]) for r, [line] in steps])
    assert equation_mathml(r"\delta_{z_{2}}", steps) == first


def test_a_code_that_does_not_come_back_once_falls_back_to_the_formula_itself():
    calls = []

    def convert(tex: str, display: bool) -> str:
        calls.append(tex)
        return tex.replace("71700001", "")  # a converter that loses the second number

    shapes = NumberShapes(convert, frozenset())
    assert shapes("1 + 2", False) == "1 + 2"
    assert calls == ["71700000 + 71700001", "1 + 2"]

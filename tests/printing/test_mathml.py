"""The documents' LaTeX as MathML: well-formed, faithful, with the LaTeX as its alternative."""

from __future__ import annotations

import collections
import unicodedata
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from symbackprop.document.model import Step
from symbackprop.printing.latex import Tex, symbol_latex
from symbackprop.printing.mathml import MATHML_NS, aligned_latex, equation_mathml, tex_to_mathml

M = "{" + MATHML_NS + "}"


def parse(mathml: str) -> ET.Element:
    root = ET.fromstring(mathml)
    assert root.tag == M + "math"
    return root


def tags(root: ET.Element) -> list[str]:
    return [e.tag.removeprefix(M) for e in root.iter()]


def test_tex_to_mathml_is_one_math_element_with_the_latex_as_alttext():
    root = parse(tex_to_mathml(r"\frac{\partial L}{\partial w_{1}}"))
    assert root.get("alttext") == r"\frac{\partial L}{\partial w_{1}}"
    assert root.get("display") == "inline"
    assert "mfrac" in tags(root)


def test_display_math_is_a_block():
    assert parse(tex_to_mathml("x", display=True)).get("display") == "block"


def test_user_text_with_markup_characters_stays_text():
    # latex2mathml unescapes its whole output; ours must not let a < or & become markup
    tex = r"\text{a<b & c>d}"
    root = parse(tex_to_mathml(tex))
    assert root.get("alttext") == tex
    assert "".join(root.itertext()).replace("\xa0", " ") == "a<b & c>d"


def test_same_latex_gives_byte_identical_mathml():
    tex = r"\delta_{z_{1}} = \sigma'\left(z_{1}\right) \sum_{k=1}^{n} w_{k} \delta_{k}"
    assert tex_to_mathml(tex) == tex_to_mathml(tex)


def test_equation_rows_are_lhs_relation_and_continued_lines():
    steps = [("=", [r"\frac{\partial L}{\partial z_{3}}"]), ("=", ["a + b", "c"])]
    root = parse(equation_mathml(r"\delta_{z_{3}}", steps))
    assert root.get("display") == "block"
    rows = root.findall(f"{M}mtable/{M}mtr")
    assert len(rows) == 3
    assert all(len(r.findall(f"{M}mtd")) == 3 for r in rows)
    lhs, rel, rhs = rows[0]
    assert "".join(lhs.itertext()) == "δz3" and "".join(rel.itertext()) == "="
    assert "".join(rows[1][1].itertext()) == "="  # a new step states its relation
    assert list(rows[2][0]) == [] and list(rows[2][1]) == []  # a continued line: rhs only
    assert rows[2][2][0].tag == M + "mspace"


def test_equation_alttext_is_the_markdown_notes_aligned_latex():
    steps = [("=", ["a"]), (r"\approx", ["b", "c"], r"\text{rounded}")]
    root = parse(equation_mathml("y", steps))
    assert root.get("alttext") == aligned_latex("y", steps) == (
        "\\begin{aligned}\ny &= a \\\\\n &\\approx b \\\\\n &\\qquad c \\qquad \\text{rounded}\n"
        "\\end{aligned}")


@pytest.mark.parametrize("tex", [r"a \\ b", r"a & b"])
def test_alignment_marks_never_become_identifiers(tex):
    assert "<mi>&amp;</mi>" not in tex_to_mathml(tex)


FA = "\u2061"  # function application
#: Each construct the documents (or a spec's LaTeX spelling) use, and what its MathML must hold.
CONSTRUCTS = [
    (r"\operatorname{softmax}_{1}\left(z\right)", f"<msub><mi>softmax</mi><mn>1</mn></msub><mo>{FA}</mo>"),
    (r"\operatorname{GELU_{erf}}'(z)",
     f"<mrow><msub><mi>GELU</mi><mi>erf</mi></msub><mo>′</mo></mrow><mo>{FA}</mo>"),
    (r"\tanh{\left(a_{1} \right)}", f"<mi>tanh</mi><mo>{FA}</mo><mrow>"),
    (r"\mathrm{d}x", '<mi mathvariant="normal">d</mi><mi>x</mi>'),
    (r"C_{\mathrm{in}}", "<msub><mi>C</mi><mi>in</mi></msub>"),
    (r"\mathit{w\_11\textasciicircum{}(2)}", "<mi>𝑤_11^(2)</mi>"),
    (r"a \coloneqq b", "<mo>≔</mo>"),
    (r"A \odot B", "<mo>⊙</mo>"),
    (r"W^{\top}", "<msup><mi>W</mi><mo>⊤</mo></msup>"),
    (r"\underbrace{a + b}_{c}", "<mo>⏟</mo></munder><mi>c</mi></munder>"),
    (r"\bigl(a\bigr)", 'minsize="1.2em" maxsize="1.2em">(</mo><mi>a</mi>'),
    (r"\left(a\right)", '<mrow><mo stretchy="false">(</mo><mi>a</mi><mo stretchy="false">)</mo></mrow>'),
    (r"\left(\frac{a}{b}\right)", '<mrow><mo stretchy="true">(</mo><mfrac>'),
    (r"\left. a \right|", '<mrow><mi>a</mi><mo stretchy="true" fence="true" form="postfix">|</mo>'),
    (r"\text{for } t", "<mtext>for\xa0</mtext><mi>t</mi>"),
    (r"\text{입력 } x", "<mtext>입력\xa0</mtext><mi>x</mi>"),
    (r"\mathbf{W} \mathbf{1}", "<mi>𝐖</mi><mn>𝟏</mn>"),
    (r"\boldsymbol{\delta}", "<mi>𝜹</mi>"),
    (r"\mathbb{1}\left[z > 0\right]", "<mn>𝟙</mn>"),
    (r"\mathsf{T}", "<mi>𝖳</mi>"),
    (r"\hat{y}", '<mover accent="true"><mi>y</mi><mo>^</mo></mover>'),
    (r"\tilde{x}", '<mover accent="true"><mi>x</mi>'),
    (r"\overline{x}", "<mover><mi>x</mi>"),
    (r"\tfrac{1}{2}", '<mstyle displaystyle="false" scriptlevel="0"><mfrac><mn>1</mn><mn>2</mn></mfrac>'),
    (r"\dfrac{a}{b}", '<mstyle displaystyle="true" scriptlevel="0"><mfrac>'),
    (r"x_{1}, \ldots, x_{n} \cdots", "<mi>…</mi>"),
    (r"x_{1} \cdots x_{n}", "<mo>⋯</mo>"),
    (r"a \quad b \qquad c \, d", '<mspace width="1em" /><mi>b</mi><mspace width="2em" /><mi>c</mi>'
                                 '<mspace width="0.167em" />'),
    (r"\textcolor{red}{x}", '<mstyle mathcolor="red"><mi>x</mi></mstyle>'),
    (r"\sum_{\substack{i \\ j}} a", '<munder><mo lspace="0">∑</mo><mstyle scriptlevel="1"><mtable><mtr>'),
    (r"\sum_{i=1}^{n} x_{i}",
     '<munderover><mo lspace="0">∑</mo><mrow><mi>i</mi><mo>=</mo><mn>1</mn></mrow><mi>n</mi>'),
    (r"b + \sum_{i} x_{i}", "<mo>+</mo><munder><mo>∑</mo>"),  # spaced as a binary's operand
    (r"\prod_{i} x_{i}", '<munder><mo lspace="0">∏</mo><mi>i</mi></munder>'),
    (r"\frac{\partial L}{\partial w}", "<mfrac><mrow><mo>∂</mo><mi>L</mi></mrow><mrow><mo>∂</mo><mi>w</mi>"),
    (r"\sigma'\left(z\right)", "<mrow><mi>σ</mi><mo>′</mo></mrow>"),
    (r"h_{t}^{\prime}", "<mrow><msub><mi>h</mi><mi>t</mi></msub><mo>′</mo></mrow>"),
    (r"\phantom{x} y", "<mphantom><mi>x</mi></mphantom><mi>y</mi>"),
    (r"a &= b \\ &= c", '<mtable displaystyle="true"'),
    (r"\begin{aligned}a &= b\end{aligned}", '<mtd columnalign="right" style="text-align:right"><mi>a</mi>'),
]


@pytest.mark.parametrize("tex, holds", CONSTRUCTS, ids=[c[0] for c in CONSTRUCTS])
def test_each_construct_converts_as_tex_sets_it(tex, holds):
    mathml = tex_to_mathml(tex, display=True)
    parse(mathml)
    assert holds in mathml
    assert "merror" not in mathml and "\\" not in mathml.split(">", 1)[1]  # no command left as text


def test_a_sum_in_a_line_of_text_has_its_limits_beside_it():
    assert '<msubsup><mo lspace="0">∑</mo>' in tex_to_mathml(r"\sum_{i=1}^{n} x_{i}")


def test_a_function_name_gets_no_application_without_an_argument():
    assert FA not in tex_to_mathml(r"\tanh") and FA not in tex_to_mathml(r"\log = 1")


@pytest.mark.parametrize("tex, prefix", [
    (r"\left(-0.4\right)", True), (r"a = -b", True), (r"2 \cdot -1", True), (r"a - b", False),
    (r"\left(a\right) - b", False)])
def test_a_sign_after_an_opening_or_an_operator_is_prefix(tex, prefix):
    assert ('<mo form="prefix">−</mo>' in tex_to_mathml(tex)) is prefix


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn")), min_size=1, max_size=12))
def test_any_user_name_converts_to_wellformed_mathml_showing_its_letters(name):
    # a graph spec may name a node anything: printing.latex.symbol_latex escapes it into LaTeX
    tex = symbol_latex(name)
    root = parse(tex_to_mathml(tex))
    assert root.get("alttext") == tex and "merror" not in tags(root)
    if not (name.isascii() and name.isalnum()):  # not spelt as a textbook name (yhat -> ŷ)
        def letters(text):
            text = unicodedata.normalize("NFKD", text)  # ŷ is y and a hat
            return collections.Counter(c for c in text if c.isascii() and c.isalnum())

        assert letters("".join(root.itertext())) == letters(name), (name, tex)


def test_an_equation_without_a_left_hand_side_has_an_empty_first_cell():
    # a long equation continued on a slide goes on under its own left-hand side, left blank
    root = parse(equation_mathml("", [("=", ["a"])]))
    lhs, relation, rhs = root.find(f"{M}mtable/{M}mtr")
    assert list(lhs) == [] and "".join(rhs.itertext()) == "a"
    assert root.get("alttext") == "\\begin{aligned}\n &= a\n\\end{aligned}"


def test_a_documents_steps_serve_as_they_are():
    steps = [Step([Tex("a"), Tex("b")]), Step([Tex("c")], relation=r"\approx", note=Tex(r"\text{ok}"))]
    tuples = [("=", ["a", "b"]), (r"\approx", ["c"], r"\text{ok}")]
    assert equation_mathml("y", steps) == equation_mathml("y", tuples)
    assert aligned_latex("y", steps) == aligned_latex("y", tuples)

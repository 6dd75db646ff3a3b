"""The documents' LaTeX as MathML: well-formed, faithful, with the LaTeX as its alternative."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

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

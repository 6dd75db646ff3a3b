"""Finding the math in a document: one pass, whatever is left unclosed; rows count as equations."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from symbackprop.teaching.latexdocument import (
    DISPLAY_ENVS,
    MAX_EQUATIONS,
    LatexError,
    MathSpan,
    find_math,
)

# The regular expression find_math used to be: what it finds is what the scanner must find.
_OLD = re.compile(
    r"\\begin\{(?P<env>" + "|".join(re.escape(e) for e in DISPLAY_ENVS) + r")\}(?P<envbody>.*?)"
    r"\\end\{(?P=env)\}|\$\$(?P<dd>.*?)\$\$|\\\[(?P<br>.*?)\\\]|\\\((?P<pa>.*?)\\\)"
    r"|(?<!\\)\$(?P<d>[^$]*?)(?<!\\)\$", re.S)


def old_spans(text: str) -> list[tuple[str, int, bool]]:
    """What the old expression gave, for text without row breaks, tags or ``&``."""
    out = []
    for m in _OLD.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        body = next(g for g in (m.group("envbody"), m.group("dd"), m.group("br"),
                                m.group("pa"), m.group("d")) if g is not None)
        line += body[:len(body) - len(body.lstrip())].count("\n")
        if m.group("env") and not body.strip():
            continue
        out.append((body, line, m.group("d") is None and m.group("pa") is None))
    return out


PIECES = ["$", "$$", "\\", "\\[", "\\]", "\\(", "\\)", "\\begin{equation}", "\\end{equation}",
          "\\begin{align*}", "\\end{align*}", "\\end{align}", "x", "=", "\n", " ", "\\$", "{"]


@given(st.lists(st.sampled_from(PIECES), max_size=20).map("".join))
def test_the_scanner_finds_what_the_regular_expression_found(text):
    text = text.replace("\\\\", "\\ ")  # no row breaks: one span per piece
    assert [(m.text, m.line, m.display) for m in find_math(text)] == old_spans(text)


def test_a_few_documents_exactly():
    tex = "a $x=1$ \\( y \\) \\$ 5 $$z$$\n\\[ c = 4 \\]\n\\begin{align*}\nd &= 5 \\\\\n&= 6\n\\end{align*}"
    assert [(m.text.strip(), m.line, m.display) for m in find_math(tex)] == [
        ("x=1", 1, False), ("y", 1, False), ("z", 1, True), ("c = 4", 2, True),
        ("d  = 5", 4, True), ("= 6", 5, True)]


@pytest.mark.parametrize("opening", ["\\( ", "\\[ ", "\\begin{equation} ", "$$ "])
def test_unclosed_openings_cost_one_pass_over_the_text(opening):
    for count in (100, 1000):
        text = opening * count + "a" * (20 * count)
        work = [0]
        try:
            spans = find_math(text, work)
        except LatexError:
            continue  # refused by counting: no scan at all
        assert spans == [] or all(isinstance(s, MathSpan) for s in spans)
        assert work[0] <= 3 * len(text)


def test_rows_of_an_align_count_as_equations():
    rows = "z_1 = 1 \\\\\n" * (MAX_EQUATIONS + 1)
    with pytest.raises(LatexError, match=f"more than {MAX_EQUATIONS} pieces of mathematics"):
        find_math("\\begin{align*}\n" + rows + "\\end{align*}")
    assert len(find_math("\\begin{align*}\n" + "z_1 = 1 \\\\\n" * 10 + "\\end{align*}")) == 10


def test_row_spacing_is_short_and_an_unclosed_one_is_text():
    # \\[2pt] is a row break with its spacing; a '[' that no ']' closes within 40 characters
    # is not looked for to the end of the body at every row.
    spans = find_math("\\begin{align*}a = 1 \\\\[2pt] b = 2 \\\\[ c = 3\\end{align*}")
    assert [m.text for m in spans] == ["a = 1 ", " b = 2 ", "[ c = 3"]

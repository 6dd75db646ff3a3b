"""A worked example defines before it uses: every symbol a line writes is given or computed by
an earlier line, and every number it substitutes was shown earlier (issue 22, item 1).

The walk reads the built Document's text only (the LaTeX of each line), not the engine's
bookkeeping, so it judges what a reader sees: it would fail on the notes of the 4-step RNN
before the worked example was built on the δ recursion (δ_{a_{1,1}} and its −0.005 from
nowhere).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sympy as sp
from networks import square_of_a_product

import symbackprop as sb
from symbackprop.check.verify import VerificationError
from symbackprop.document import Equations, Paragraph, Section, build_document
from symbackprop.document.context import DocumentContext
from symbackprop.document.options import DocumentOptions
from symbackprop.io.spec import load_spec
from symbackprop.printing.latex import Tex, TexPrinter

GALLERY = Path(__file__).resolve().parents[2] / "docs" / "examples"
SPECS = sorted(p.name for p in GALLERY.glob("*.toml") if not p.name.endswith("-claims.toml"))
# A shown number: signed decimals as the example prints them (0.090, -0.577).
NUMBER = re.compile(r"(?<![\d.])-?\d+\.\d+")


def _lines(section: Section):
    """The worked section's paragraphs and equations in reading order."""
    for block in section.blocks:
        if isinstance(block, Paragraph):
            yield block
        elif isinstance(block, Equations):
            yield from block.equations
    for sub in section.subsections:
        yield from _lines(sub)


def _spellings(d) -> dict[str, sp.Symbol]:
    """Each leaf, node and δ symbol by its printed LaTeX."""
    t, g = TexPrinter(d), d.graph
    symbols = [*g.leaves, *g.nodes, *d.delta_symbols.values()]
    return {str(t(s)): s for s in symbols}


def _symbols_in(text: str, spellings: dict[str, sp.Symbol]) -> set[sp.Symbol]:
    """The symbols a line writes: longest spelling first, each a whole token (the c of a bias
    is not the c of \\cdot, nor h_{1} the start of h_{1,1})."""
    found = set()
    for spelling in sorted(spellings, key=len, reverse=True):
        pattern = (r"(?<![A-Za-z\\])" + re.escape(spelling)
                   + (r"(?![A-Za-z])" if spelling[-1].isalpha() else ""))
        if re.search(pattern, text):
            found.add(spellings[spelling])
            text = re.sub(pattern, " ", text)
    return found


def used_before_defined(doc, d) -> list[str]:
    """What the worked example of ``doc`` uses before any line defines it: symbols, and
    numbers neither given nor the result of an earlier line."""
    worked = next(s for s in doc.sections if s.key == "worked")
    spellings = _spellings(d)
    defined = set(d.graph.leaves)
    shown: set[str] = set()
    problems = []
    for line in _lines(worked):
        if isinstance(line, Paragraph):
            if line.key == "worked_given":
                given = [*line.args["given"], line.args["eta"]]
                shown.update(NUMBER.findall(" ".join(str(x) for x in given)))
            continue
        symbolic, *middle, result = line.steps
        formula = " ".join(str(x) for x in symbolic.lines)
        for s in _symbols_in(formula, spellings) - defined:
            problems.append(f"{line.label}: uses {s} before it is defined")
        constants = set(NUMBER.findall(formula))  # a slope 0.01 written in the formula
        for step in middle:
            for x in NUMBER.findall(" ".join(str(t) for t in step.lines)):
                if x not in shown and x not in constants:
                    problems.append(f"{line.label}: uses the number {x}, computed nowhere above")
        lhs = spellings.get(str(line.lhs))
        if lhs is not None:
            defined.add(lhs)
        shown.update(NUMBER.findall(" ".join(str(x) for x in result.lines)))
    return problems


def gallery_notes(name: str):
    spec = load_spec(GALLERY / name)
    d = sb.derive(spec.graph)
    ex = sb.worked_example(d, spec.values, learning_rate=spec.learning_rate or 0.1,
                           digits=3 if spec.digits is None else spec.digits,
                           rounding=spec.rounding or "display")
    return build_document(d, ex, only=spec.only), d


@pytest.mark.parametrize("name", SPECS)
@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_every_gallery_worked_example_defines_each_symbol_and_number_before_use(name):
    doc, d = gallery_notes(name)
    assert used_before_defined(doc, d) == []


def test_the_walk_finds_a_delta_and_a_number_that_no_line_computes():
    # The walker itself must be able to fail: drop the lines that compute δ_{1,1} from an RNN's
    # example, and the gradients that reuse it use a symbol and a number from nowhere.
    doc, d = gallery_notes("model-rnn.toml")
    worked = next(s for s in doc.sections if s.key == "worked")
    backward = next(s for s in worked.subsections if s.key == "worked_backward")
    for block in backward.blocks:
        if isinstance(block, Equations):
            block.equations = [e for e in block.equations if e.label != "value of delta_1,1"]
    problems = used_before_defined(doc, d)
    assert any("uses delta_1,1 before it is defined" in p for p in problems)
    assert any("computed nowhere above" in p for p in problems)


def test_the_model_worked_example_speaks_the_general_forms_names():
    # δ_t on h_t, as the general form names it: no δ of a_t, L_t or ŷ_t appears
    doc, d = gallery_notes("model-rnn.toml")
    worked = next(s for s in doc.sections if s.key == "worked")
    text = " ".join(str(x) for e in _lines(worked) if not isinstance(e, Paragraph)
                    for step in e.steps for x in step.lines)
    assert r"\delta_{1,1}" in text and r"\delta^{o}_{4}" in text
    assert not re.search(r"\\delta_\{(a|L|\\hat)", text)


def test_a_worked_line_using_a_symbol_no_earlier_line_defines_is_refused_by_name():
    g, example = square_of_a_product()
    x, w, a = g.symbol("x"), g.symbol("w"), g.symbol("a")
    ctx = DocumentContext(sb.derive(g), example, DocumentOptions())
    with pytest.raises(VerificationError, match="uses a, which no earlier line"):
        ctx.numbers("value of L", Tex("L"), a ** 2, 4.0)
    ctx.numbers("value of a", Tex("a"), w * x, 2.0, defines=a)
    ctx.numbers("value of L", Tex("L"), a ** 2, 4.0)  # a is defined now

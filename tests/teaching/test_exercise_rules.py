"""Exercise sets agree with themselves: one rounding rule, stated in the same words by the
sheet, the key, the quiz key, every Moodle question and ``exercises --help``, and applied as
stated; every question gives every number its answer needs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from decimal import ROUND_HALF_UP, Decimal

import pytest
import sympy as sp
from texutil import REPO

import symbackprop as sb
from symbackprop.io.spec import load_spec
from symbackprop.printing.latex import TexPrinter
from symbackprop.teaching import exercises
from symbackprop.teaching.exercises import DEFAULT_ROUNDING, ROUNDINGS, exercise_sheets, rounding_rule
from symbackprop.teaching.grade import grade
from symbackprop.teaching.latexdocument import find_math, split_chain, statements
from symbackprop.teaching.latexparse import parse_side
from symbackprop.teaching.quiz import Student, make_quiz, moodle_xml, network_equations, quiz_key

EXAMPLES = REPO / "docs" / "examples"
STUDENTS = [Student("s1", "Ada"), Student("s2", "Alan")]


def _net():
    return sb.mlp([2, 2, 1], activation="sigmoid", loss="mse", bias=False)


def _moodle(graph, variants, language="en"):
    """The quiz as exercises --format moodle writes it."""
    return moodle_xml(variants, "net", network_equations(sb.derive(graph)), language=language)


def _questions(xml: str) -> list[tuple[str, str]]:
    """(question type, question text) of each question that is not a category."""
    root = ET.fromstring(xml)
    return [(q.get("type"), q.find("questiontext/text").text) for q in root.iter("question")
            if q.get("type") != "category"]


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_the_sheet_the_key_the_quiz_key_and_every_question_state_the_same_rule(rounding, language):
    net = _net()
    variants = make_quiz(net, STUDENTS, seed=3, digits=3, rounding=rounding, language=language)
    sheet, key = exercise_sheets(net, 2, 3, rounding=rounding, language=language,
                                 value_sets=[v.values for v in variants])
    rule = rounding_rule(rounding, 3, language)
    (other,) = (rounding_rule(r, 3, language) for r in ROUNDINGS if r != rounding)
    questions = _questions(_moodle(net, variants, language))
    texts = {"sheet": sheet, "key": key, "quiz key": quiz_key(variants, "net", language)}
    texts.update((f"question {k}", text) for k, (_kind, text) in enumerate(questions, 1))
    assert len(questions) >= 10
    for where, text in texts.items():
        assert text.count(rule) == 1, where
        assert other not in text, where


def test_the_two_rules_differ_and_each_names_the_digits():
    for language in ("en", "ko"):
        by_hand, display = (rounding_rule(r, 4, language) for r in ("by_hand", "display"))
        assert by_hand != display and "4" in by_hand and "4" in display
    with pytest.raises(ValueError, match="rounding must be one of"):
        rounding_rule("nearest", 3)


def _help(command: str) -> str:
    out = subprocess.run([sys.executable, "-m", "symbackprop", command, "--help"],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "COLUMNS": "100"}).stdout
    return " ".join(out.split())  # argparse wraps lines anywhere


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_exercises_help_states_each_rule_and_the_default_the_command_applies(tmp_path):
    text = _help("exercises")
    for rounding in ROUNDINGS:
        assert f"{rounding}: {rounding_rule(rounding, 'N')}" in text
    (default,) = re.findall(r"Default: the spec's \[training\] rounding, else (\w+)\.", text)
    assert default == DEFAULT_ROUNDING
    # ...and it is what the command does with a spec that does not choose.
    spec = tmp_path / "net.toml"
    spec.write_text('[network]\nsizes = [2, 2, 1]\nactivation = "sigmoid"\nloss = "mse"\n'
                    'bias = false\n', encoding="utf-8")
    subprocess.run([sys.executable, "-m", "symbackprop", "exercises", str(spec), "-o",
                    str(tmp_path / "out"), "-q", "--count", "1"], check=True, cwd=tmp_path,
                   capture_output=True)
    sheet = (tmp_path / "out" / "exercises.tex").read_text(encoding="utf-8")
    assert rounding_rule(default, 3) in sheet


def test_the_notes_help_states_their_own_default():
    # notes and example show numbers at full precision unless told: their help says so
    assert "(default: the spec's, else display)" in _help("notes")


# -- the key: every product is the product of the factors it shows ----------------------------
def _numbers(text: str):
    """A side written in numbers only, exactly (its decimals as written), else None."""
    side = parse_side(text, lambda _name: None)
    if side.expr is None or side.expr.free_symbols - set(side.literals):
        return None
    return side.expr.xreplace({s: sp.Rational(str(v)) for s, v in side.literals.items()})


_CONTINUED = re.compile(r"\*?\s*(=|\\approx|\\qquad)")


def _logical_rows(tex: str) -> list[tuple[int, str]]:
    """Each displayed row, with the rows that continue it (a long sum broken across rows:
    `&= 0.639 · (−2.238) + … \\* &\\qquad + … \\* &= −4.578`) joined to it."""
    rows: list[tuple[int, str]] = []
    for span in find_math(tex):
        text = span.text.replace("&", "")
        if rows and _CONTINUED.match(text):
            text = text.lstrip("*").strip().removeprefix("\\qquad")
            rows[-1] = (rows[-1][0], f"{rows[-1][1]} {text}")
        else:
            rows.append((span.line, text))
    return rows


def key_lines(tex: str) -> list[tuple[int, str, str, str]]:
    """(line, numbers, relation, result) of each key equation that ends `= numbers = result`."""
    out = []
    for line, row in _logical_rows(tex):
        for statement in statements(row):
            sides = split_chain(statement.replace("&", ""))
            if len(sides) >= 3 and _numbers(sides[-2].text) is not None and \
                    re.fullmatch(r"-?\d+(\.\d+)?", sides[-1].text.strip()):
                out.append((line, sides[-2].text, sides[-1].relation, sides[-1].text.strip()))
    return out


def wrong_products(tex: str) -> list[str]:
    """Each line whose result is not its numbers worked out and rounded half up (or says ≈)."""
    wrong = []
    for line, numbers, relation, result in key_lines(tex):
        exact = Decimal(str(sp.N(_numbers(numbers), 40)))
        places = Decimal(result).as_tuple().exponent
        expected = exact.quantize(Decimal(1).scaleb(places), rounding=ROUND_HALF_UP)
        if relation != "=" or expected != Decimal(result):
            wrong.append(f"line {line}: {numbers} {relation} {result}, by hand {expected}")
    return wrong


def test_the_product_checker_finds_a_product_that_does_not_multiply_out():
    key = r"\begin{align*} a &= x_{1} \delta_{z_{1}} = 0.900 \cdot 0.044 \approx 0.039 \\" \
          r" b &= h_{1} = 0.714 \cdot 0.294 = 0.210 \\ c &= h_{1} w_{1} + h_{2} w_{2} \\*" \
          r" &= 0.5 \cdot 0.5 \\* &\qquad + 0.25 \cdot 0.5 \\* &= 0.376 \end{align*}"
    assert len(key_lines(key)) == 3
    first, last = wrong_products(key)
    assert "0.900 \\cdot 0.044" in first and "by hand 0.040" in first
    assert "0.25 \\cdot 0.5" in last and "by hand 0.375" in last


def _by_hand_key(spec_name: str, count: int = 2) -> str:
    spec = load_spec(EXAMPLES / f"{spec_name}.toml")
    _sheet, key = exercise_sheets(spec.graph, count, 0, rounding="by_hand",
                                  learning_rate=spec.learning_rate or 0.1,
                                  digits=spec.digits or 3)
    return key


@pytest.mark.parametrize("spec_name", ["seed000", "seed002", "seed004"])
def test_every_product_in_a_by_hand_key_is_the_product_of_its_shown_factors(spec_name):
    key = _by_hand_key(spec_name)
    assert len(key_lines(key)) >= 40  # the forward pass, the δs, the gradients, the updates
    assert wrong_products(key) == []


@pytest.mark.slow
@pytest.mark.parametrize("spec_name", ["model-rnn-softmax", "model-conv1d-channels",
                                       "model-attention", "seed001", "seed003"])
def test_every_product_in_a_models_by_hand_key_is_the_product_of_its_shown_factors(spec_name):
    key = _by_hand_key(spec_name)
    assert len(key_lines(key)) >= 40
    assert wrong_products(key) == []


def test_a_by_hand_key_whose_line_does_not_follow_from_its_numbers_is_refused(monkeypatch):
    monkeypatch.setattr(exercises, "approximate_lines", lambda section: ["gradient w1"])
    with pytest.raises(ValueError, match="exercise 1: by hand at 3 decimals, the key's line "
                                         "'gradient w1' does not follow"):
        exercise_sheets(_net(), 1, 0, rounding="by_hand")
    exercise_sheets(_net(), 1, 0, rounding="display")  # rounded for display, ≈ is what it says


@pytest.mark.parametrize("spec_name", [None, "model-rnn"])
def test_by_hand_quiz_answers_are_the_numbers_the_key_prints(spec_name):
    net = load_spec(EXAMPLES / f"{spec_name}.toml").graph if spec_name else _net()
    d = sb.derive(net)
    (variant,) = make_quiz(net, STUDENTS[:1], seed=5, digits=3, rounding="by_hand", derivation=d)
    ex = sb.worked_example(d, variant.values, learning_rate=0.1, digits=3, rounding="by_hand")
    _sheet, key = exercise_sheets(net, 1, 0, rounding="by_hand", value_sets=[variant.values])
    printed = {result for _l, _n, _r, result in key_lines(key)}
    loss = d.graph.loss_symbol.name
    hand = {**ex.nodes, **{f"d{loss}/d{p}": g for p, g in ex.gradients.items()},
            **{f"{p}'": u for p, u in ex.updated.items()}}
    for q in variant.questions:
        assert q.shown == ex.show(hand[q.key]), q.key
        assert q.shown in printed, q.key


# -- every question gives what its answer needs -------------------------------------------------
def _ancestors(graph, node) -> set:
    seen, todo = set(), [node]
    while todo:
        for parent in graph.parents(todo.pop()):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def _given(text: str) -> dict[str, str]:
    """`\\(name = value\\)` pieces of a question: the values and the equations it states."""
    pieces = re.findall(r"\\\((.*?)\\\)", text)
    return dict(p.split(" = ", 1) for p in pieces if " = " in p)


@pytest.mark.parametrize("spec_name", ["seed000", "seed004", "model-rnn", "model-conv1d"])
def test_every_question_gives_every_number_and_equation_its_answer_needs(spec_name, tmp_path):
    spec = load_spec(EXAMPLES / f"{spec_name}.toml")
    g = spec.graph
    d = sb.derive(g)
    tex = TexPrinter(d)
    variants = make_quiz(g, STUDENTS[:1], seed=1, nice=True, derivation=d,
                         rounding=spec.rounding or DEFAULT_ROUNDING)
    questions = _questions(_moodle(g, variants))
    asked = variants[0].questions
    assert len(questions) == len(asked) >= 5
    for q, (_kind, text) in zip(asked, questions, strict=True):
        given = {k.strip(): v for k, v in _given(text).items()}
        name = q.key.split("/d")[-1].rstrip("'")
        target = g.symbol(name) if q.key == name else g.loss_symbol
        needs = _ancestors(g, target) | {target}
        for s in sorted(needs, key=lambda s: s.name):
            assert tex(s) in given, f"{q.key}: no {s.name} in the question"
            if g.kind(s) not in (sb.Kind.NODE, sb.Kind.LOSS):  # a leaf: its number
                assert float(given[tex(s)]) == variants[0].values[s.name]
        if q.key.endswith("'"):  # an update needs the learning rate
            assert float(given[r"\eta"]) == variants[0].learning_rate


def test_grade_takes_an_answer_that_follows_the_by_hand_rule_as_right():
    spec = load_spec(EXAMPLES / "model-rnn.toml")
    d = sb.derive(spec.graph)
    (v,) = make_quiz(spec.graph, [Student("s2")], seed=4, nice=True, derivation=d)
    (q,) = (q for q in v.questions if q.kind == "numerical" and q.key == "dL/dU_11")
    claim = {q.key: Decimal(q.shown)}
    # by hand the RNN's four steps move the third decimal past one unit of the true value
    (exact,) = grade(d, v.values, claim, learning_rate=0.1)
    (by_rule,) = grade(d, v.values, claim, learning_rate=0.1, rounding="by_hand")
    assert not exact.ok and exact.slip.name == "rounded_all"
    assert by_rule.ok
    (wrong,) = grade(d, v.values, {q.key: Decimal(q.shown) + Decimal("0.01")}, learning_rate=0.1,
                     rounding="by_hand")
    assert not wrong.ok

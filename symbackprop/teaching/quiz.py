"""Quizzes for a course: a variant per student, tidy numbers, slip distractors, Moodle XML.

Each student's values come from a seed derived from the course seed and the student's id
(SHA-256, so the same id gives the same variant on any machine, whatever PYTHONHASHSEED is).
``nice`` values keep a hand calculation tidy: inputs with one decimal, weights in steps of 0.05,
no saturated σ (|z| ≤ 2.5) and no answer that rounds to zero. Each variant asks for numbers
(Moodle ``numerical`` questions with a tolerance of one unit of the last asked digit) and offers
multiple choices whose wrong options are what a named slip gives (``multichoice``; the key
labels each wrong option with its slip).

>>> import symbackprop as sb
>>> students = [Student("s001", "Ada"), Student("s002", "Alan")]
>>> variants = make_quiz(sb.mlp([2, 2, 1]), students, seed=1, nice=True)
>>> [v.student.id for v in variants], make_quiz(sb.mlp([2, 2, 1]), students[:1], seed=1,
...     nice=True)[0].values == variants[0].values
(['s001', 's002'], True)
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sympy as sp

from ..core.errors import SymbackpropError
from ..core.files import read_input
from ..core.graph import Graph, Kind
from ..derivation.reverse import Derivation, derive
from ..output.reports import latex_environment, render_text
from ..output.reports import text as template_macro
from ..printing.latex import TexPrinter, untypesettable
from .exercises import DEFAULT_ROUNDING, draw_values, rounding_rule
from .grade import Grader
from .slips import HandCalculator, Slip

__all__ = ["Student", "RosterError", "read_roster", "student_seed", "nice_values", "make_quiz",
           "Variant", "Question", "Choice", "network_equations", "moodle_xml", "quiz_key"]

MAX_ROSTER_BYTES = 1_000_000
MAX_STUDENTS = 2000
_ID_COLUMNS = ("id", "student_id", "student id", "studentid", "username", "user", "email",
               "number", "student number", "matriculation", "학번")
_NAME_COLUMNS = ("name", "full name", "fullname", "student", "이름")
_SATURATED = 2.5  # |z| above this: σ′(z) < 0.071, a flat and untidy step
_PATIENCE = 60  # draws tried for gradients that do not round to zero, once one is unsaturated


class RosterError(SymbackpropError, ValueError):
    """A roster file is malformed."""


@dataclass(frozen=True)
class Student:
    """One line of the roster."""

    id: str
    name: str = ""


@dataclass(frozen=True)
class Choice:
    """One option of a multiple-choice question; a wrong one carries the slip that gives it."""

    shown: str
    correct: bool
    slip: Slip | None = None
    slip_text: str = ""


@dataclass(frozen=True)
class Question:
    """One question of a variant: what to compute, the answer, and its options."""

    kind: str  # "numerical" or "multichoice"
    key: str  # grade's name of the quantity (dL/dw1, yhat, w5')
    quantity: str  # LaTeX of the quantity
    answer: float
    shown: str
    tolerance: float
    choices: tuple[Choice, ...] = ()


@dataclass
class Variant:
    """A student's values and questions, and the rule its answers were rounded by."""

    student: Student
    seed: int
    values: dict[str, float]
    given: list[tuple[str, str]] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    learning_rate: float = 0.1
    rounding: str = DEFAULT_ROUNDING
    digits: int = 3


def read_roster(path: str | Path, language: str | None = None) -> list[Student]:
    """Students from a CSV file with a header naming an id column (and optionally a name).

    Recognised id columns: id, student_id, username, email, number (any case); without one of
    them, the first column is the id. With ``language``, an id or name the sheets in that
    language cannot typeset is refused here, before any sheet is made.
    """
    path = Path(path)
    data = read_input(path, MAX_ROSTER_BYTES, RosterError)
    if len(data) > MAX_ROSTER_BYTES:
        raise RosterError(f"{path}: larger than {MAX_ROSTER_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise RosterError(f"{path}: not UTF-8 (byte {err.start})") from None
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as err:  # a field over csv's limit, a NUL
        raise RosterError(f"{path}: not a CSV file this reader takes: {err}") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise RosterError(f"{path}: expected a header line and at least one student")
    header = [c.strip().lower() for c in rows[0]]
    id_col = next((header.index(c) for c in _ID_COLUMNS if c in header), 0)
    name_col = next((header.index(c) for c in _NAME_COLUMNS if c in header and
                     header.index(c) != id_col), None)
    students, seen = [], set()
    for line, row in enumerate(rows[1:], start=2):
        sid = row[id_col].strip() if id_col < len(row) else ""
        if not sid or len(sid) > 64 or not sid.isprintable():
            raise RosterError(f"{path}:{line}: expected a student id of 1 to 64 printable "
                              "characters")
        if sid in seen:
            raise RosterError(f"{path}:{line}: the id {sid!r} appears twice")
        seen.add(sid)
        name = row[name_col].strip()[:100] if name_col is not None and name_col < len(row) else ""
        student = Student(sid, name if name.isprintable() else "")
        _refuse_untypesettable(student, language, f"{path}:{line}")
        students.append(student)
        if len(students) > MAX_STUDENTS:
            raise RosterError(f"{path}: more than {MAX_STUDENTS} students")
    return students


def _refuse_untypesettable(student: Student, language: str | None, where: str) -> None:
    """The sheets print each id and name: one TeX cannot typeset fails --pdf after all the work
    (titles are checked up front the same way)."""
    if language is None:
        return
    for what, text in (("id", student.id), ("name", student.name)):
        bad = untypesettable(text, language)
        if bad:
            raise RosterError(f"{where}: the {what}'s character {bad} cannot be typeset in "
                              f"{language} sheets")


def student_seed(course_seed: int, student_id: str) -> int:
    """The seed of one student's variant: the same id and course seed, the same numbers.

    >>> student_seed(0, "s001") == student_seed(0, "s001") != student_seed(1, "s001")
    True
    """
    digest = hashlib.sha256(f"{int(course_seed)}/{student_id}".encode()).hexdigest()
    return int(digest[:16], 16)


def nice_values(graph: Graph, seed: int, tries: int = 500,
                derivation: Derivation | None = None) -> dict[str, float]:
    """Values a hand calculation stays tidy with (one or two decimals, no saturated σ).

    They depend on the seed only (not on the digits asked), so a variant is the same whatever
    the sheet's precision.
    """
    rng = np.random.default_rng(seed)
    d = derivation or derive(graph)
    like = HandCalculator(d, {s.name: 0.5 for s in graph.leaves})
    one_hot = {s for group in graph.one_hot_groups for s in group}
    tenths = [k / 10 for k in range(-10, 11) if k]
    twentieths = [k / 20 for k in range(-20, 21) if k]
    loss = getattr(graph, "loss_name", "")
    best = unsaturated = None
    for attempt in range(tries):
        values: dict[str, float] = {}
        for s in graph.leaves:
            kind = graph.kind(s)
            if kind is Kind.INPUT:
                values[s.name] = float(rng.choice(tenths))
            elif kind is Kind.PARAMETER:
                values[s.name] = float(rng.choice(twentieths))
            elif s not in one_hot:
                values[s.name] = float(rng.integers(0, 2)) if loss == "bce" else \
                    float(rng.integers(1, 10)) / 10
        for group in graph.one_hot_groups:
            hot = int(rng.integers(0, len(group)))
            values.update({s.name: float(k == hot) for k, s in enumerate(group)})
        saturated, small = _untidy(HandCalculator(d, values, like=like))
        if not saturated and not small:
            return values
        if not saturated and unsaturated is None:
            unsaturated = values
        best = best or values
        if unsaturated is not None and attempt >= _PATIENCE:
            # Some gradient is tiny at every draw so far (a norm over two values makes the
            # first layer's nearly zero whatever the numbers): keep the first unsaturated draw
            # rather than try hundreds more.
            return unsaturated
    return unsaturated or best  # the tidiest rule cannot hold for this network


def _untidy(calc: HandCalculator) -> tuple[bool, bool]:
    """(a σ or tanh saturated, a gradient that rounds to zero) at the calculator's values."""
    at = calc.forward()
    g = calc.graph
    saturated = any(g.kind(p) is Kind.NODE and g.kind(c) is Kind.NODE and len(g.parents(c)) == 1
                    and abs(at[p]) > _SATURATED for c, p in calc._edges)
    loss = g.loss_symbol.name
    smallest = 0.005  # no gradient that rounds to 0.00 (at two decimals or more it shows)
    small = any(abs(calc.truth[f"d{loss}/d{p.name}"]) < smallest for p in g.parameters)
    return saturated, small


def _draw(graph: Graph, seed: int, nice: bool, d: Derivation) -> dict[str, float]:
    if nice:
        return nice_values(graph, seed, derivation=d)
    return draw_values(graph, 1, seed % (2**32))[0]


def make_quiz(graph: Graph, students: Sequence[Student], seed: int = 0, *, nice: bool = False,
              learning_rate: float = 0.1, digits: int = 3, rounding: str = DEFAULT_ROUNDING,
              language: str = "en", derivation: Derivation | None = None) -> list[Variant]:
    """One variant per student: values, numeric questions and slip multiple choices.

    Each answer is rounded by ``rounding`` (see :func:`.exercises.rounding_rule`): by hand, it is
    the number the answer key of the same values prints.
    """
    rounding_rule(rounding, digits)  # refused here, before any variant is drawn
    d = derivation or derive(graph)
    tex = TexPrinter(d)
    like = HandCalculator(d, {s.name: 0.5 for s in graph.leaves}, learning_rate)
    variants = []
    for student in students:
        s = student_seed(seed, student.id)
        values = _draw(graph, s, nice, d)
        v = Variant(student, s, values, [(tex(x), f"{values[x.name]:g}") for x in graph.leaves],
                    learning_rate=learning_rate, rounding=rounding, digits=digits)
        v.questions = _questions(d, values, learning_rate, digits, rounding, tex, language, like)
        variants.append(v)
    return variants


def _asked(d: Derivation) -> list[tuple[str, str, sp.Expr]]:
    """(kind, key, quantity) of the questions: output, loss, two gradients, an update."""
    g = d.graph
    loss = g.loss_symbol
    outputs = getattr(g, "outputs", None) or _predictions(g) or [g.parents(loss)[-1]]
    last = [p for p in g.parameters if any(c in g.parents(loss) or c in outputs or
                                           any(o in g.children(c) for o in outputs)
                                           for c in g.children(p))]
    first = [p for p in g.parameters if p not in last]
    out_w = last[0] if last else g.parameters[-1]
    hidden_w = first[0] if first else g.parameters[0]
    asked = [("numerical", outputs[0].name, outputs[0]),
             ("numerical", loss.name, loss),
             ("numerical", f"d{loss.name}/d{out_w.name}", sp.Derivative(loss, out_w))]
    if hidden_w != out_w:
        asked.append(("numerical", f"d{loss.name}/d{hidden_w.name}",
                      sp.Derivative(loss, hidden_w)))
    asked.append(("numerical", f"{out_w.name}'", out_w))
    asked.append(("multichoice", f"d{loss.name}/d{hidden_w.name}", sp.Derivative(loss, hidden_w)))
    if hidden_w != out_w:
        asked.append(("multichoice", f"d{loss.name}/d{out_w.name}", sp.Derivative(loss, out_w)))
    return asked


def _predictions(g: Graph) -> list[sp.Symbol]:
    """The nodes a loss compares with a target (ŷ, an RNN's last ŷ_t, attention's o), the last
    one first: what a student is asked to compute before the loss."""
    compared = [n for n in g.nodes if g.kind(n) is Kind.NODE and any(
        any(g.kind(q) is Kind.TARGET for q in g.parents(c)) for c in g.children(n))]
    return compared[::-1]


def _questions(d, values, learning_rate, digits, rounding, tex, language, like) -> list[Question]:
    grader = Grader(d, values, learning_rate,
                    calculator=HandCalculator(d, values, learning_rate, like=like))
    unit = 10.0 ** -digits
    answers = grader.by_hand(digits) if rounding == "by_hand" else grader.truth
    out = []
    for kind, key, quantity in _asked(d):
        answer = answers[key]
        shown = _fmt(answer, digits)
        latex = tex(quantity) + ("'" if key.endswith("'") else "")
        choices: tuple[Choice, ...] = ()
        if kind == "multichoice":
            choices = _choices(grader, key, answer, digits, language)
            if len(choices) < 3:
                continue
        out.append(Question(kind, key, latex, answer, shown, unit, choices))
    return out


def _choices(grader, key: str, answer: float, digits: int, language: str) -> tuple:
    """The right value and up to four wrong ones, each from a slip, distinct as printed."""
    shown = {_fmt(answer, digits)}
    correct = Choice(_fmt(answer, digits), True)
    wrong = []
    candidates = list(grader.calc.candidates(key)) + [
        (Slip("sign"), -answer), (Slip("factor_10"), answer * 10), (Slip("two_missing"),
                                                                     answer / 2)]
    for slip, value in candidates:
        label = _fmt(value, digits)
        # Distinct as printed, and far enough from the answer that rounding by hand never
        # lands on a wrong option.
        if label in shown or not math.isfinite(value) or len(wrong) >= 4 or \
                abs(value - answer) <= 3 * 10.0 ** -digits:
            continue
        shown.add(label)
        phrase = template_macro("_slips.txt.j2", language, macro="slip_text",
                      args=(slip.name, dict(slip.shown or slip.detail)))
        wrong.append(Choice(label, False, slip, phrase))
    return (correct, *wrong)


def _fmt(value: float, digits: int) -> str:
    text = f"{value:.{digits}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text


def network_equations(derivation: Derivation) -> list[str]:
    """Every forward equation as LaTeX, for the questions to state: a question whose answer
    needs an equation it does not give cannot be answered from it (a 4-step RNN has 29).

    >>> import symbackprop as sb
    >>> network_equations(sb.derive(sb.mlp([2, 2, 1])))[0]
    'z_{1} = w_{1} x_{1} + w_{3} x_{2}'
    """
    tex = TexPrinter(derivation)
    return [f"{tex(lhs)} = {tex(rhs)}" for lhs, rhs in derivation.graph.forward_equations()]


def moodle_xml(variants: Sequence[Variant], title: str, network: list[str],
               category: str = "symbackprop", language: str = "en") -> str:
    """The quiz in Moodle XML: a category per student, numerical and multichoice questions.

    Every question gives the network's equations, the student's values, η and the rounding rule.
    """
    return render_text("moodle.xml.j2", language, variants=variants, title=title,
                       network=network, category=category, rules=_rules(variants, language))


def quiz_key(variants: Sequence[Variant], title: str, language: str = "en") -> str:
    """The answer key as LaTeX: every answer, and every wrong option with its slip."""
    env = latex_environment(language)
    return env.get_template("quiz-key.tex.j2").render(variants=variants, title=title,
                                                      language=language,
                                                      rules=_rules(variants, language))


def _rules(variants: Sequence[Variant], language: str) -> dict[tuple[str, int], str]:
    """Each variant's rounding rule sentence, by (rounding, digits)."""
    return {(v.rounding, v.digits): rounding_rule(v.rounding, v.digits, language)
            for v in variants}

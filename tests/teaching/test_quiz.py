"""Quizzes: per-student variants from a roster, tidy values, slip distractors, Moodle XML."""

from __future__ import annotations

import concurrent.futures
import csv
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from texutil import REPO

import symbackprop as sb
from symbackprop.teaching.grade import grade
from symbackprop.teaching.quiz import (
    RosterError,
    Student,
    make_quiz,
    moodle_xml,
    quiz_key,
    read_roster,
    student_seed,
)

STUDENTS = [Student("2024001", "Ada Lovelace"), Student("2024002", "Alan <b>Turing</b> & co"),
            Student("2024003")]


@pytest.fixture(scope="module")
def net():
    return sb.mlp([2, 2, 1], activation="sigmoid", loss="mse", bias=False)


@pytest.fixture(scope="module")
def d(net):
    return sb.derive(net)


@pytest.fixture(scope="module")
def variants(net, d):
    return make_quiz(net, STUDENTS, seed=11, nice=True, derivation=d)


def test_rosters_are_read_with_their_own_headers(tmp_path):
    f = tmp_path / "r.csv"
    f.write_text("\ufeffName,Student ID,Email\nAda,s1,a@x\n\nAlan,s2,b@x\n", encoding="utf-8")
    assert read_roster(f) == [Student("s1", "Ada"), Student("s2", "Alan")]
    f.write_text("s1\ns2\n", encoding="utf-8")  # no known header: the first column is the id
    assert [s.id for s in read_roster(f)] == ["s2"]
    f.write_text("id\ns1\ns1\n", encoding="utf-8")
    with pytest.raises(RosterError, match=r"r.csv:3: the id 's1' appears twice"):
        read_roster(f)
    f.write_text("id,name\n,Ada\n", encoding="utf-8")
    with pytest.raises(RosterError, match=r"r.csv:2: expected a student id"):
        read_roster(f)
    with pytest.raises(RosterError, match="no such file"):
        read_roster(tmp_path / "missing.csv")


def test_a_roster_that_is_a_fifo_is_refused_before_it_is_opened(tmp_path):
    fifo = tmp_path / "r.csv"
    os.mkfifo(fifo)
    # Opened for reading, a FIFO with no writer blocks forever: call it where a hang shows.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        call = pool.submit(read_roster, fifo)
        try:
            error = call.exception(timeout=60)
        except TimeoutError:
            with open(fifo, "wb"):  # a writer lets the blocked open() return, and the pool end
                pass
            raise AssertionError("read_roster blocked on a FIFO") from None
    assert isinstance(error, RosterError) and "r.csv: the file is a named pipe" in str(error)


def test_a_roster_field_over_the_csv_limit_is_a_roster_error(tmp_path):
    f = tmp_path / "r.csv"
    f.write_text("id,name\n1," + "x" * (csv.field_size_limit() + 1) + "\n", encoding="utf-8")
    with pytest.raises(RosterError, match=r"r.csv: not a CSV file this reader takes: field"):
        read_roster(f)


def test_roster_names_are_checked_against_the_sheets_language(tmp_path):
    f = tmp_path / "r.csv"
    f.write_text("id,name\ns1,Ada\ns2,김민준\n", encoding="utf-8")
    assert read_roster(f)[1].name == "김민준"  # no language: not checked
    assert read_roster(f, "ko")[1].name == "김민준"
    with pytest.raises(RosterError, match=r"r.csv:3: the name's character '김' \(U\+AE40\) "
                       r"cannot be typeset in en sheets"):
        read_roster(f, "en")
    f.write_text("id,name\n학생1,Ada\n", encoding="utf-8")
    with pytest.raises(RosterError, match=r"r.csv:2: the id's character"):
        read_roster(f, "en")


def test_a_variant_depends_on_the_student_id_only(net, d, variants):
    alone = make_quiz(net, [STUDENTS[2]], seed=11, nice=True, derivation=d)[0]
    assert alone.values == variants[2].values and alone.seed == student_seed(11, "2024003")
    assert variants[0].values != variants[1].values
    other_course = make_quiz(net, [STUDENTS[0]], seed=12, nice=True, derivation=d)[0]
    assert other_course.values != variants[0].values


def test_nice_values_keep_the_hand_calculation_tidy(d, variants):
    for v in variants:
        for name, value in v.values.items():
            assert round(value, 2) == value, (name, value)
        ev = d.evaluate(v.values)
        for z in ("z1", "z2", "z3"):
            assert abs(ev.nodes[z]) <= 2.5  # σ′(z) ≥ 0.07: not saturated
        assert all(abs(g) >= 0.005 for g in ev.gradients.values())


def test_every_question_carries_the_engines_answer(d, variants):
    for v in variants:
        ev = d.evaluate(v.values)
        truth = dict(ev.nodes, L=ev.loss, **{f"dL/d{p}": g for p, g in ev.gradients.items()})
        truth.update({f"{p}'": v.values[p] - 0.1 * g for p, g in ev.gradients.items()})
        kinds = [q.kind for q in v.questions]
        assert kinds.count("numerical") == 5 and kinds.count("multichoice") == 2
        for q in v.questions:
            assert abs(float(q.shown) - truth[q.key]) <= 0.5e-3 + 1e-12, q
            assert q.tolerance == 1e-3


def test_each_distractor_is_the_slip_it_is_labelled_with(d, variants):
    checked = 0
    for v in variants:
        for q in (q for q in v.questions if q.kind == "multichoice"):
            right = [c for c in q.choices if c.correct]
            assert len(right) == 1 and right[0].shown == q.shown
            wrong = [c for c in q.choices if not c.correct]
            assert len(wrong) >= 2 and len({c.shown for c in q.choices}) == len(q.choices)
            for c in wrong:
                assert c.slip is not None and c.slip_text
                # grade, given the distractor as a claim, names the same slip
                (row,) = grade(d, v.values, {q.key: Decimal(c.shown)}, learning_rate=0.1)
                assert not row.ok
                if row.slip is not None and row.slip.name == c.slip.name:
                    checked += 1
    assert checked >= len(variants) * 2


def test_moodle_xml_has_moodles_question_structure(variants):
    text = moodle_xml(variants, "Seed <000> & more", [r"z_{1} = w_{1} x_{1}"])
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<quiz>')
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == "quiz"
    questions = root.findall("question")
    categories = [q for q in questions if q.get("type") == "category"]
    assert [c.findtext("category/text") for c in categories] == [
        f"$course$/top/symbackprop/{s.id}" for s in STUDENTS]
    for q in questions:
        if q.get("type") == "category":
            continue
        assert q.get("type") in ("numerical", "multichoice")
        assert q.findtext("name/text").strip()
        qt = q.find("questiontext")
        assert qt.get("format") == "html" and "\\(" in qt.findtext("text")
        answers = q.findall("answer")
        assert sum(a.get("fraction") == "100" for a in answers) == 1
        assert all(a.get("fraction") in ("0", "100") for a in answers)
        assert all(a.find("feedback").get("format") == "html" for a in answers)
        if q.get("type") == "numerical":
            (a,) = answers
            assert float(a.findtext("tolerance")) == 1e-3 and float(a.findtext("text"))
        else:
            assert q.findtext("single") == "true" and q.findtext("shuffleanswers") == "true"
            assert q.findtext("answernumbering") == "abc" and len(answers) >= 3
            wrong = [a for a in answers if a.get("fraction") == "0"]
            assert all("this is what you get with" in a.findtext("feedback/text") for a in wrong)
    # a student's name and the title are HTML text, never markup
    html = "".join(q.findtext("questiontext/text") for q in questions if q.find("questiontext")
                   is not None)
    assert "Alan &lt;b&gt;Turing&lt;/b&gt; &amp; co" in html and "<b>" not in html
    assert "Seed &lt;000&gt; &amp; more" in html


def test_the_same_roster_gives_byte_identical_files(net, d, variants):
    again = make_quiz(net, STUDENTS, seed=11, nice=True, derivation=d)
    assert moodle_xml(again, "T", []) == moodle_xml(variants, "T", [])
    assert quiz_key(again, "T") == quiz_key(variants, "T")


def test_the_key_labels_each_wrong_option_and_compiles(variants, tmp_path):
    from symbackprop.output.render import compile_pdf, have_tex

    key = quiz_key(variants, "Quiz & key")
    assert r"Quiz \& key" in key and "wrong:" in key and "2024002 (Alan" in key
    if have_tex():
        compile_pdf(key, tmp_path / "key.pdf")
        assert (tmp_path / "key.pdf").stat().st_size > 1000


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_cli_exercises_with_a_roster_writes_sheets_key_and_moodle_xml(tmp_path):
    roster = tmp_path / "students.csv"
    roster.write_text("student_id,name\ns1,Ada\ns2,Alan\n", encoding="utf-8")
    out = tmp_path / "quiz"
    cmd = [sys.executable, "-m", "symbackprop", "exercises",
           str(REPO / "docs" / "examples" / "seed000.toml"), "--roster", str(roster), "--nice",
           "--format", "moodle", "-o", str(out), "-q"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["answers.tex", "exercises.tex",
                                                      "quiz-key.tex", "quiz.xml"]
    sheet = (out / "exercises.tex").read_text(encoding="utf-8")
    assert r"\section*{Exercise 1 (s1 Ada)}" in sheet
    ET.parse(out / "quiz.xml")
    first = (out / "quiz.xml").read_bytes()
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert (out / "quiz.xml").read_bytes() == first
    bad = tmp_path / "bad.csv"
    bad.write_text("id\ns1\ns1\n", encoding="utf-8")
    r = subprocess.run(cmd[:6] + [str(bad), "-o", str(tmp_path / "none")], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "appears twice" in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path / "none").exists()


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_a_students_answer_is_graded_against_their_own_variant(tmp_path, net):
    spec = REPO / "docs" / "examples" / "seed000.toml"
    from symbackprop.io.spec import load_spec

    (v,) = make_quiz(load_spec(spec).graph, [Student("s7")], seed=5, nice=True)
    q = next(q for q in v.questions if q.key == "dL/dw1")
    answer = tmp_path / "s7.tex"
    answer.write_text(rf"$\frac{{\partial L}}{{\partial w_1}} = {q.shown}$", encoding="utf-8")
    base = [sys.executable, "-m", "symbackprop", "grade", str(spec), str(answer)]
    r = subprocess.run(base + ["--student", "s7", "--seed", "5", "--nice"], capture_output=True,
                       text=True)
    assert r.returncode == 0 and "1 equations: 0 wrong, 0 with sides" in r.stdout, r.stdout
    r = subprocess.run(base + ["--student", "s8", "--seed", "5", "--nice"], capture_output=True,
                       text=True)
    assert r.returncode == 1 and "WRONG" in r.stdout

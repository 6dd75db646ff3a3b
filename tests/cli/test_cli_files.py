"""The command's files, run as a user runs it: inputs that are not plain files are refused in one
line before they are opened, an output never replaces an input, a pipe or a device, every file of
one command is written all or nothing, and a bad option value is one line like every other error.

Special files are FIFOs made in a temporary folder (tests run as root: never a real device).
Every run has a timeout: a FIFO opened for reading or writing would block it forever.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from texutil import REPO

SPEC = """\
[network]
sizes = [2, 2, 1]
activation = "sigmoid"
loss = "mse"
bias = false
notation = "sequential"
[values]
x1 = 0.5
x2 = 0.3
y = 1.0
w1 = 0.7
w2 = 0.3
w3 = 0.4
w4 = 0.6
w5 = 0.55
w6 = 0.45
"""
TEX = "$z_1 = 0.47$\n"
CLAIMS = "[claims]\nz1 = 0.47\n"
ROSTER = "id,name\n1,Ada\n2,Alan\n"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m symbackprop ARGS`` in ``cwd``, with a hang guard."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    return subprocess.run([sys.executable, "-m", "symbackprop", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
                          check=False)


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("symbackprop: error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def folder(tmp_path) -> Path:
    """s.toml, f.tex, c.toml and r.csv, all regular files."""
    (tmp_path / "s.toml").write_text(SPEC, encoding="utf-8")
    (tmp_path / "f.tex").write_text(TEX, encoding="utf-8")
    (tmp_path / "c.toml").write_text(CLAIMS, encoding="utf-8")
    (tmp_path / "r.csv").write_text(ROSTER, encoding="utf-8")
    return tmp_path


def listing(folder: Path) -> dict[str, str]:
    """Each entry's name and what it is (f: file with its text, p: pipe, d: folder)."""
    out = {}
    for p in folder.iterdir():
        mode = os.lstat(p).st_mode
        out[p.name] = ("p" if stat.S_ISFIFO(mode) else "d" if stat.S_ISDIR(mode) else
                       "l" if stat.S_ISLNK(mode) else "f:" + p.read_text(encoding="utf-8"))
    return out


# -- inputs that are not regular files ------------------------------------------------------------
@pytest.mark.parametrize(("fifo", "args"), [
    ("f.tex", ["lint", "f.tex", "--spec", "s.toml"]),
    ("s.toml", ["lint", "f.tex", "--spec", "s.toml"]),
    ("s.toml", ["grad", "s.toml"]),
    ("s.toml", ["notes", "s.toml", "-o", "n.tex"]),
    ("c.toml", ["grade", "s.toml", "c.toml"]),
    ("f.tex", ["grade", "s.toml", "f.tex"]),
    ("r.csv", ["exercises", "s.toml", "--roster", "r.csv", "-o", "ex"]),
])
@pytest.mark.slow  # a long run: make test-slow (CI runs it too)
def test_a_fifo_given_as_an_input_is_refused_in_one_line_without_blocking(folder, fifo, args):
    (folder / fifo).unlink()
    os.mkfifo(folder / fifo)
    before = listing(folder)
    line = assert_one_line_error(run(*args, cwd=folder), fifo, "named pipe", "not a regular file")
    assert "Traceback" not in line
    assert listing(folder) == before


def test_a_fifo_among_the_templates_is_refused_before_jinja_opens_it(folder):
    templates = folder / "t"
    templates.mkdir()
    os.mkfifo(templates / "article.tex.j2")
    assert_one_line_error(run("notes", "s.toml", "--templates", "t", cwd=folder),
                          "article.tex.j2", "not a regular file")


def test_a_folder_given_as_the_latex_file_is_refused_in_one_line(folder):
    (folder / "d.tex").mkdir()
    assert_one_line_error(run("lint", "d.tex", "--spec", "s.toml", cwd=folder), "d.tex: ",
                          "folder")


# -- outputs that are inputs, pipes or links ------------------------------------------------------
@pytest.mark.parametrize(("args", "what"), [
    (["lint", "f.tex", "--spec", "s.toml", "-o", "f.tex"], "LaTeX file"),
    (["lint", "f.tex", "--spec", "s.toml", "-o", "s.toml"], "spec file"),
    (["grade", "s.toml", "f.tex", "-o", "f.tex"], "claims file"),
    (["grade", "s.toml", "c.toml", "-o", "c.toml"], "claims file"),
    (["check", "s.toml", "-o", "s.toml"], "spec file"),
])
def test_an_output_that_is_an_input_is_refused_and_the_input_kept(folder, args, what):
    before = listing(folder)
    assert_one_line_error(run(*args, cwd=folder), f"is the {what} itself")
    assert listing(folder) == before


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_an_output_linked_to_the_latex_file_is_refused_through_either_link(folder):
    os.link(folder / "f.tex", folder / "hard.txt")
    (folder / "soft.txt").symlink_to(folder / "f.tex")
    for name in ("hard.txt", "soft.txt"):
        assert_one_line_error(run("lint", "f.tex", "--spec", "s.toml", "-o", name, cwd=folder),
                              "LaTeX file itself")
    assert (folder / "f.tex").read_text(encoding="utf-8") == TEX
    assert (folder / "soft.txt").is_symlink()


def test_an_exercises_folder_whose_key_would_be_the_roster_is_refused(folder):
    (folder / "ex").mkdir()
    os.link(folder / "r.csv", folder / "ex" / "quiz-key.tex")
    assert_one_line_error(run("exercises", "s.toml", "--roster", "r.csv", "-o", "ex", "-q",
                              cwd=folder), "roster itself")
    assert sorted(p.name for p in (folder / "ex").iterdir()) == ["quiz-key.tex"]
    assert (folder / "r.csv").read_text(encoding="utf-8") == ROSTER


@pytest.mark.parametrize("args", [
    ["grad", "s.toml"], ["check", "s.toml"], ["example", "s.toml"], ["notes", "s.toml"],
    ["notes", "s.toml", "--pdf"], ["lint", "f.tex", "--spec", "s.toml"],
    ["grade", "s.toml", "c.toml"]])
def test_an_output_onto_a_fifo_is_refused_and_the_fifo_stays_a_fifo(folder, args):
    os.mkfifo(folder / "pipe")
    assert_one_line_error(run(*args, "-o", "pipe", cwd=folder), "-o pipe is a named pipe")
    assert stat.S_ISFIFO(os.lstat(folder / "pipe").st_mode)
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary left


def test_an_output_through_a_link_to_a_fifo_is_refused_and_the_link_kept(folder):
    # What -o /dev/stdout is when stdout is a pipe.
    os.mkfifo(folder / "pipe")
    (folder / "stdout").symlink_to(folder / "pipe")
    assert_one_line_error(run("grad", "s.toml", "-o", "stdout", cwd=folder), "named pipe")
    assert (folder / "stdout").is_symlink()


def test_an_output_through_a_link_to_a_file_writes_that_file_and_keeps_the_link(folder):
    # What -o /dev/stdout is when stdout is redirected to a file: the link must not be replaced.
    (folder / "out.txt").write_text("", encoding="utf-8")
    (folder / "stdout").symlink_to(folder / "out.txt")
    result = run("grad", "s.toml", "-o", "stdout", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert (folder / "stdout").is_symlink()
    assert (folder / "out.txt").read_text(encoding="utf-8").startswith("dL/dw1 = ")


@pytest.mark.parametrize("command", [["exercises", "s.toml", "--count", "1"], ["demo", "--no-pdf"]])
@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_a_fifo_where_a_folder_command_writes_is_refused_before_any_work(folder, command):
    os.mkfifo(folder / "out")
    assert_one_line_error(run(*command, "-o", "out", "-q", cwd=folder), "-o out is not a folder")
    (folder / "out").unlink()
    (folder / "out").mkdir()
    os.mkfifo(folder / "out" / ("answers.tex" if command[0] == "exercises" else "seed000.md"))
    assert_one_line_error(run(*command, "-o", "out", "-q", cwd=folder), "named pipe")
    assert [p.name for p in (folder / "out").iterdir()] == [
        "answers.tex" if command[0] == "exercises" else "seed000.md"]


@pytest.mark.parametrize("args", [
    ["notes", "s.toml", "--pdf"], ["notes", "s.toml"], ["grad", "s.toml"],
    ["lint", "f.tex", "--spec", "s.toml"],
])
def test_a_folder_given_as_a_one_file_output_is_refused_before_any_work(folder, args):
    # notes --pdf used to compile first and then say so with exit 1, as if TeX had failed.
    (folder / "out").mkdir()
    assert_one_line_error(run(*args, "-o", "out", cwd=folder), "-o out is a directory")
    assert list((folder / "out").iterdir()) == []


# -- all or nothing -------------------------------------------------------------------------------
@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_exercises_for_moodle_write_every_file_or_none_and_say_nothing_written(folder):
    (folder / "ex" / "quiz.xml").mkdir(parents=True)
    result = run("exercises", "s.toml", "--roster", "r.csv", "--format", "moodle", "-o", "ex",
                 cwd=folder)
    assert_one_line_error(result, "ex/quiz.xml is a directory")
    assert "wrote" not in result.stdout + result.stderr
    assert [p.name for p in (folder / "ex").iterdir()] == ["quiz.xml"]
    (folder / "ex" / "quiz.xml").rmdir()
    result = run("exercises", "s.toml", "--roster", "r.csv", "--format", "moodle", "-o", "ex",
                 "-q", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (folder / "ex").iterdir()) == [
        "answers.tex", "exercises.tex", "quiz-key.tex", "quiz.xml"]


# -- option values --------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["exercises", "s.toml", "--count", "0"],
    ["grad", "s.toml", "--code", "--target", "xx"],
    ["example", "s.toml", "--digits", "99"],
    ["check", "s.toml", "--eps", "0"],
    ["check", "s.toml", "--rtol", "nan"],
    ["lint", "f.tex", "--spec", "s.toml", "--learning-rate", "nan"],
    ["exercises", "s.toml", "--seed", "x"],
    ["grad", "s.toml", "--form", "\x1b[31mred"],
    ["grad", "s.toml", "--no-such-option"],
    ["grad"],
    ["no-such-command"],
    ["grad", "s.toml", "-o", ""],
    ["lint", "f.tex", "--spec", "s.toml", "--student", ""],
    ["notes", "s.toml", "--only", " "],
    ["exercises", "s.toml", "--count", "1", "-o", ""],
])
@pytest.mark.slow  # a long run: make test-slow (CI runs it too)
def test_a_bad_option_value_is_one_line_not_the_usage_block(folder, args):
    result = run(*args, cwd=folder)
    line = assert_one_line_error(result)
    assert "usage:" not in result.stderr and "\x1b" not in line
    assert sorted(p.name for p in folder.iterdir()) == ["c.toml", "f.tex", "r.csv", "s.toml"]


@pytest.mark.slow  # a long run: make test-slow (CI runs it too)
@pytest.mark.parametrize("args", [
    ["notes", "s.toml"], ["lint", "f.tex", "--spec", "s.toml"], ["grade", "s.toml", "c.toml"],
    ["exercises", "s.toml", "-o", "ex"]])
@pytest.mark.parametrize("language", ["", "xx", "../en"])
def test_an_empty_or_unknown_language_is_refused_in_one_line_everywhere(folder, args, language):
    assert_one_line_error(run(*args, "--lang", language, cwd=folder),
                          f"unknown language {language!r}")
    assert not (folder / "ex").exists()


# -- the roster -----------------------------------------------------------------------------------
def test_a_roster_field_over_the_csv_limit_is_refused_in_one_line(folder):
    (folder / "r.csv").write_text("id,name\n1," + "A" * 200_000 + "\n", encoding="utf-8")
    assert_one_line_error(run("exercises", "s.toml", "--roster", "r.csv", "-o", "ex", cwd=folder),
                          "r.csv: not a CSV file")
    assert not (folder / "ex").exists()


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_a_roster_name_the_english_sheet_cannot_typeset_is_refused_up_front(folder):
    (folder / "r.csv").write_text("id,name\n1,Ada\n2,김민준\n", encoding="utf-8")
    assert_one_line_error(run("exercises", "s.toml", "--roster", "r.csv", "-o", "ex", cwd=folder),
                          "r.csv:3: the name's character '김'", "cannot be typeset in en")
    assert not (folder / "ex").exists()
    ok = run("exercises", "s.toml", "--roster", "r.csv", "--lang", "ko", "-o", "ex", "-q",
             cwd=folder)
    assert ok.returncode == 0, ok.stderr
    assert "김민준" in (folder / "ex" / "quiz-key.tex").read_text(encoding="utf-8")

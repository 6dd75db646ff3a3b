"""Every fenced code block of README.md and docs/ runs, and prints what the docs say it prints.

By the block's language:

- ``python``: each file's blocks run in order in one namespace, as a reader pastes them; a block
  of ``>>>`` lines runs as a doctest, its output compared with what the block shows. A file
  whose blocks compile PDFs (the tutorial) runs in the slow set.
- ``sh``: each ``symbackprop …`` line runs (in-process, in a folder where the docs' paths and the
  files they name exist); a line with ``--pdf`` runs in the slow set, where TeX compiles. A
  block of ``$ symbackprop …`` lines followed by output (``console``) is compared with that
  output, a line ``...`` standing for any lines. Other commands (installing Python packages or
  TeX, ``make``) change the machine rather than show the library: they are listed in
  ``NOT_RUN`` with the reason, and a line that is neither fails.
- ``toml``: parsed; a whole spec (with ``[network]`` or ``[graph]``) is loaded as a spec.
- ``latex``, ``text``: read, not run (a document excerpt, a diagram or a message).

torch and jax blocks run where those are installed (CI installs both).
"""

from __future__ import annotations

import contextlib
import doctest
import importlib.util
import io
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from texutil import REPO

from symbackprop.cli.main import main
from symbackprop.io.spec import load_spec

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "docs" / "examples" /
        "README.md"]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
RUN = {"python", "sh", "console", "toml"}
READ = {"latex", "text"}

#: Commands of the docs' shell blocks that are not run here, by how the line starts, with why.
NOT_RUN = {
    "python3 -m venv": "makes a virtual environment: the tests run inside one",
    "pip install": "installs from the network (tests/test_packaging.py builds and installs the "
                   "wheel in the slow set)",
    "sudo apt-get": "installs TeX system-wide, as root (.ci/install-tex.sh does it for CI)",
    "make": "runs the project's own targets (make test would run this test again)",
    ".venv/bin/pybabel init": "adds a language to the package's own catalogs",
}


def blocks(path: Path) -> list[tuple[int, str, str]]:
    """(line, language, code) of each fenced block of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2))
            for m in FENCE.finditer(text)]


def _name(path: Path) -> str:
    return str(path.relative_to(REPO))


ALL = [(path, line, lang, code) for path in DOCS for line, lang, code in blocks(path)]


def test_the_docs_have_blocks_of_every_kind_this_runs():
    kinds = {lang for _p, _l, lang, _c in ALL}
    assert {"python", "sh", "toml"} <= kinds and len(ALL) >= 40


def test_every_block_says_its_language_and_is_run_or_read_by_rule():
    unknown = [f"{_name(p)}:{line} ({lang or 'no language'})" for p, line, lang, _c in ALL
               if lang not in RUN | READ]
    assert unknown == []


# -- python ----------------------------------------------------------------------------------
#: What makes a block need an optional library: importing it, or asking for its backend.
_OPTIONAL = {name: re.compile(rf"^(>>> )?\s*(import|from) {name}\b|backend=\"{name}\"", re.M)
             for name in ("torch", "jax")}


def _python_files() -> list:
    """Each file with python blocks; one that compiles PDFs (seconds each) in the slow set."""
    files = [p for p in DOCS if any(lang == "python" for _l, lang, _c in blocks(p))]
    return [pytest.param(p, id=_name(p), marks=[pytest.mark.slow] if any(
        "compile_pdf" in code for _l, lang, code in blocks(p) if lang == "python") else [])
            for p in files]


def _run_doctest(code: str, namespace: dict, where: str) -> None:
    parser = doctest.DocTestParser()
    test = parser.get_doctest(code, namespace, where, where, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out = io.StringIO()
    runner.run(test, out=out.write, clear_globs=False)
    if runner.failures:
        pytest.fail(f"{where} does not print what it says:\n{out.getvalue()}")


@pytest.mark.parametrize("path", _python_files())
def test_the_python_blocks_run_in_order_and_print_what_they_say(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # blocks write notes.pdf, grad.py … here
    _files_the_docs_name(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for line, lang, code in blocks(path):
        if lang != "python":
            continue
        for library, pattern in _OPTIONAL.items():
            if pattern.search(code) and importlib.util.find_spec(library) is None:
                pytest.skip(f"{library} is not installed ({_name(path)}:{line} needs it)")
        where = f"{_name(path)}:{line}"
        if ">>>" in code:
            _run_doctest(code, namespace, where)
            continue
        try:
            exec(compile(code, where, "exec"), namespace)  # our own docs, as a reader runs them
        except Exception as err:
            pytest.fail(f"the python block at {where} fails: {err!r}\n{code}")


# -- toml ------------------------------------------------------------------------------------
TOML = [(p, line, code) for p, line, lang, code in ALL if lang == "toml"]


@pytest.mark.parametrize(("path", "line", "code"), TOML,
                         ids=[f"{_name(p)}:{line}" for p, line, _c in TOML])
def test_every_toml_block_parses_and_every_whole_spec_loads(path, line, code, tmp_path):
    data = tomllib.loads(code)
    if "network" in data or "graph" in data:
        spec = tmp_path / "spec.toml"
        spec.write_text(code, encoding="utf-8")
        assert load_spec(spec).graph.parameters


# -- shell -----------------------------------------------------------------------------------
def _files_the_docs_name(folder: Path) -> None:
    """The docs' own paths (docs/, tests/) and the files their commands name as a reader's own:
    a spec, a roster, a student's answer, a folder of templates."""
    for name in ("docs", "tests"):
        if not (folder / name).exists():
            (folder / name).symlink_to(REPO / name)
    shutil.copy(REPO / "docs" / "examples" / "seed000.toml", folder / "spec.toml")
    shutil.copy(REPO / "docs" / "examples" / "seed000.toml", folder / "seed000.toml")
    (folder / "students.csv").write_text("id,name\n2024017,Ada Lovelace\n2024018,Alan Turing\n",
                                         encoding="utf-8")
    answer = (REPO / "tests" / "reference" / "seed000.tex").read_text(encoding="utf-8")
    (folder / "answer.tex").write_text(answer, encoding="utf-8")
    (folder / "answers").mkdir(exist_ok=True)
    (folder / "answers" / "2024017.tex").write_text(answer, encoding="utf-8")
    (folder / "my-templates").mkdir(exist_ok=True)


def _commands(code: str) -> list[tuple[str, list[str]]]:
    """(command line, the output lines shown after it) of a shell block, continuations joined."""
    lines = code.replace("\\\n", " ").splitlines()
    out: list[tuple[str, list[str]]] = []
    prompted = any(x.startswith("$ ") for x in lines)
    for x in lines:
        if prompted and not x.startswith("$ "):
            if out:
                out[-1][1].append(x)
            continue
        command = x.removeprefix("$ ").split("  #")[0].strip()
        if command:
            out.append((command, []))
    return out


def _not_run(command: str) -> str | None:
    return next((why for start, why in NOT_RUN.items() if command.startswith(start)), None)


SHELL = [(p, line, code) for p, line, lang, code in ALL if lang in ("sh", "console")]


def _shell_case(path, line, code, pdf: bool):
    marks = [pytest.mark.slow] if pdf else []
    return pytest.param(path, line, code, pdf, marks=marks, id=f"{_name(path)}:{line}"
                        + (":pdf" if pdf else ""))


SHELL_CASES = [_shell_case(p, line, code, False) for p, line, code in SHELL] + [
    _shell_case(p, line, code, True) for p, line, code in SHELL if "--pdf" in code]


def _matches(shown: list[str], printed: list[str]) -> bool:
    """Whether printed lines are the shown ones, a shown ``...`` standing for any lines."""
    pattern = "\n".join(".*?" if x.strip() == "..." else re.escape(x.rstrip()) for x in shown)
    return re.fullmatch(pattern, "\n".join(x.rstrip() for x in printed), re.S) is not None


@pytest.mark.parametrize(("path", "line", "code", "pdf"), SHELL_CASES)
def test_every_symbackprop_command_runs_and_prints_what_the_docs_show(path, line, code, pdf,
                                                                        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _files_the_docs_name(tmp_path)
    ran = 0
    for command, shown in _commands(code):
        words = shlex.split(command)
        if words[0] != "symbackprop":
            assert _not_run(command), f"{_name(path)}:{line}: {command!r} is neither run nor listed"
            continue
        if "--pdf" in words and not pdf:
            continue  # compiled in the slow set
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code_ = main(words[1:])
        # 1 is a finding (lint and grade report wrong lines), never an error
        assert code_ in (0, 1), f"{command}: exit {code_}\n{stderr.getvalue()}"
        if shown:
            assert _matches(shown, stdout.getvalue().splitlines()), (
                f"{_name(path)}:{line}: {command} printed\n{stdout.getvalue()}")
        ran += 1
    if not any(c.startswith("symbackprop") for c, _ in _commands(code)):
        return  # a block of installs only: every line is listed in NOT_RUN
    assert ran, f"{_name(path)}:{line}: no command ran"


def test_the_output_matcher_tells_a_difference():
    assert _matches(["a", "...", "z"], ["a", "b", "c", "z"])
    assert not _matches(["a", "...", "z"], ["a", "b", "y"])


@pytest.mark.slow
def test_the_readme_gives_the_rnn_notes_page_count_a_pdf_has(tmp_path, monkeypatch):
    if shutil.which("pdfinfo") is None:
        pytest.skip("pdfinfo (poppler, beside pdftoppm) is not installed")
    (said,) = re.findall(r"a 4-step RNN's\s+notes are (\d+) pages", (REPO / "README.md").read_text(
        encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    assert main(["notes", str(REPO / "docs" / "examples" / "model-rnn.toml"), "--pdf", "-o",
                 "rnn.pdf"]) == 0
    info = subprocess.run(["pdfinfo", "rnn.pdf"], capture_output=True, text=True, check=True)
    (pages,) = re.findall(r"^Pages:\s+(\d+)", info.stdout, re.M)
    assert pages == said

"""Hostile input through every entry point: spec expressions, names, LaTeX spellings, value keys,
notation patterns, claims, titles and command-line arguments.

Each string is either refused with one clear line that says where it was found, or (a title or an
author, which are prose) printed as itself. Nothing is written and nothing runs: no text of a
user reaches eval, exec, sympify, parse_expr or pickle (the last test reads the package's source
to keep it that way).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from texutil import REPO

from symbackprop.cli import main as cli
from symbackprop.render import render
from symbackprop.spec import SpecError, parse_spec

#: Code, dunders, lambdas, huge powers, deep nesting, NUL and control bytes, long names, TeX.
CORPUS = [
    "__import__('os').system('touch pwned')",
    "__import__",
    "x.__class__.__bases__[0].__subclasses__()",
    "().__class__",
    "__builtins__",
    "lambda: 0",
    "lambda x: x",
    "exec('1')",
    "eval('1+1')",
    "open('/etc/passwd').read()",
    "getattr(x, 'y')",
    "globals()",
    "sympify('x')",
    "pickle.loads(b'')",
    "9**9**9**9",
    "2^100000",
    "(((x^16)^16)^16)^16",
    "1e999999999",
    "9" * 5000,
    "(" * 5000 + "x" + ")" * 5000,
    "sigmoid(" * 200 + "x" + ")" * 200,
    "-" * 3000 + "x",
    "x\0y",
    "\0",
    "x\x1b[31m",
    "x\ny",
    "a" * 100_000,
    "w" + "1" * 80,
    "x; import os",
    "x = 1",
    "[x for x in ()]",
    "{'a': 1}",
    "'str'",
    r"\input{/etc/passwd}",
    r"\write18{touch pwned}",
    r"\immediate\write18{ls}",
    r"\catcode`\^^M=13",
    r"\def\x{y}",
    "}{",
    "x}",
    r"\begin{document}",
    r"\csname input\endcsname",
    "$x$",
    "%",
    "#1",
    "x_1_2",
]
IDS = [repr(s[:24]) for s in CORPUS]


def quoted(text: str) -> str:
    """A TOML basic string holding ``text`` exactly (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=True)


def graph_spec(expr="w*x", name="x", spelling="\\omega", key="x") -> str:
    return (
        "[graph]\n"
        f"inputs = [{quoted(name)}]\n"
        'targets = ["y"]\n'
        'parameters = ["w"]\n'
        f"nodes = [{{ name = \"a\", expr = {quoted(expr)} }}]\n"
        'loss = { name = "L", expr = "(y - a)^2" }\n'
        f"[graph.latex]\nw = {quoted(spelling)}\n"
        f"[values]\n{quoted(key)} = 0.5\n"
    )


def network_spec(spelling="\\omega", pattern="w_{{{ij}}}") -> str:
    return (
        '[network]\nsizes = [2, 1]\nnotation = "custom"\n'
        f"latex = {{ w1 = {quoted(spelling)} }}\n"
        f"[notation]\nbase = \"sequential\"\nlatex = {{ weight = {quoted(pattern)} }}\n"
    )


ENTRY_POINTS = {
    # where the string goes -> (spec text, the key the error must name)
    "graph.nodes[0].expr": (lambda s: graph_spec(expr=s), "graph.nodes[0].expr"),
    "graph.inputs[0]": (lambda s: graph_spec(name=s), "graph.inputs[0]"),
    "values key": (lambda s: graph_spec(key=s), "values."),
}
#: LaTeX spellings go into the document as they stand. Text that is inert there (exec('1') in
#: math italic) may pass; anything TeX would act on must be refused.
LATEX_ENTRY_POINTS = {
    "graph.latex": (lambda s: graph_spec(spelling=s), "graph.latex.w"),
    "network.latex": (lambda s: network_spec(spelling=s), "network.latex.w1"),
    "notation.latex": (lambda s: network_spec(pattern=s), "notation"),
}
ACTIVE = re.compile(r"\\(?!(?:alpha|omega|hat|mathbf)\b)|[$%#&~\x00-\x1f]|\^\^|[_^][_^]")


def test_the_corpus_is_large_and_the_baselines_are_fine():
    assert len(CORPUS) >= 30
    parse_spec(graph_spec(), "ok.toml")  # the templates the corpus is put into are valid
    parse_spec(network_spec(), "ok.toml")


@pytest.mark.parametrize("where", ENTRY_POINTS)
@pytest.mark.parametrize("text", CORPUS, ids=IDS)
def test_spec_entry_points_refuse_hostile_text_in_one_line(where, text):
    make, key = ENTRY_POINTS[where]
    with pytest.raises(SpecError) as info:
        parse_spec(make(text), "hostile.toml")
    message = str(info.value)
    if where == "graph.inputs[0]" and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", text):
        key = "graph.nodes[0].expr"  # a fine name (x_1_2): the expression's x is now unknown
    assert message.startswith("hostile.toml: ") and key in message
    assert "\n" not in message and "\0" not in message and len(message) < 600


@pytest.mark.parametrize("where", LATEX_ENTRY_POINTS)
@pytest.mark.parametrize("text", CORPUS, ids=IDS)
def test_latex_spellings_refuse_what_tex_would_act_on(where, text):
    make, key = LATEX_ENTRY_POINTS[where]
    try:
        parse_spec(make(text), "hostile.toml")
    except SpecError as err:
        message = str(err)
        assert message.startswith("hostile.toml: ") and key in message
        assert "\n" not in message and "\0" not in message and len(message) < 600
    else:
        assert not ACTIVE.search(text) and text.count("{") == text.count("}"), text


def test_most_of_the_corpus_is_refused_as_latex_too():
    refused = 0
    for text in CORPUS:
        try:
            parse_spec(graph_spec(spelling=text), "hostile.toml")
        except SpecError:
            refused += 1
    assert refused >= 30


@pytest.mark.parametrize("text", CORPUS, ids=IDS)
def test_titles_and_authors_are_printed_as_themselves_or_refused(text):
    spec = f"title = {quoted(text)}\nauthor = {quoted(text)}\n[network]\nsizes = [1, 1]\n"
    try:
        parsed = parse_spec(spec, "t.toml")
    except SpecError as err:  # control characters and over-long text are refused
        assert "\n" not in str(err) and str(err).startswith("t.toml: title")
        return
    tex = render(parsed.graph, "fragment", title=parsed.title, author=parsed.author)
    for command in ("\\input", "\\write18", "\\catcode", "\\def", "\\csname", "\\begin{document}"):
        assert command not in tex


def claims_file(tmp_path, key: str, value: str = "0.5"):
    path = tmp_path / "claims.toml"
    path.write_text(f"[claims]\n{quoted(key)} = {value}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("text", CORPUS, ids=IDS)
def test_grade_refuses_hostile_claims_in_one_line(tmp_path, capsys, text):
    spec = tmp_path / "s.toml"
    spec.write_text("[network]\nsizes = [1, 1]\n[values]\nx1 = 0.5\ny = 1.0\nw1 = 0.3\n",
                    encoding="utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    code = cli(["grade", str(spec), str(claims_file(tmp_path, text)), "-o",
                str(tmp_path / "out.txt")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("symbackprop: error: ") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "claims.toml"])


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999999", "0." + "0" * 40 + "1",
                                   '"0.5"', "true", "[1]"])
def test_grade_refuses_claims_that_are_not_plain_numbers(tmp_path, capsys, value):
    spec = tmp_path / "s.toml"
    spec.write_text("[network]\nsizes = [1, 1]\n[values]\nx1 = 0.5\ny = 1.0\nw1 = 0.3\n",
                    encoding="utf-8")
    code = cli(["grade", str(spec), str(claims_file(tmp_path, "w1", value))])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "claims.w1" in err


@pytest.mark.parametrize("text", CORPUS[:12] + CORPUS[22:28] + CORPUS[33:40], ids=IDS[:12] +
                         IDS[22:28] + IDS[33:40])
def test_command_line_arguments_refuse_hostile_text(tmp_path, capsys, text):
    spec = tmp_path / "s.toml"
    spec.write_text("[network]\nsizes = [2, 1]\n", encoding="utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    for argv in (["grad", str(spec), "--param", text],
                 ["notes", str(spec), "--templates", str(tmp_path / "no-such-folder" / text[:50]),
                  "-o", str(tmp_path / "notes.tex")]):
        code = cli(argv)
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and err.startswith("symbackprop: error: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_hostile_spec_through_the_installed_command(tmp_path):
    # The same, as a user runs it: a subprocess, nothing written, one line on stderr.
    spec = tmp_path / "s.toml"
    spec.write_text(graph_spec(expr="__import__('os').system('touch pwned')"), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "symbackprop", "notes", str(spec), "-o",
                          str(tmp_path / "n.tex")], capture_output=True, text=True, cwd=tmp_path,
                         timeout=120, check=False, env={"PYTHONPATH": str(REPO), "PATH": ""})
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


def test_no_user_text_can_reach_eval_exec_sympify_or_pickle():
    # The package calls none of them, except exec of the matrix evaluator's generated code,
    # whose every name is checked against the generator's own (codegen._assert_engine_made).
    calls = re.compile(r"(?<!def )\b(eval|exec|sympify|parse_expr|S)\(|\bpickle\b|\bmarshal\b")
    found = []
    for path in sorted((REPO / "symbackprop").glob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#", 1)[0]
            if calls.search(code) and not code.strip().startswith((">>>", '"', "'")):
                found.append(f"{path.name}:{n}: {line.strip()}")
    assert len(found) == 1 and found[0].startswith("codegen.py:"), found
    assert "exec(compile(self.source, " in found[0]

"""The symbackprop command, run as a user runs it: a subprocess in a folder outside the repo."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp
from networks import ATTENTION_1E215
from texutil import REPO, SEED000_VALUES, TEX_MISSING, have_tex

SEED000_SPEC = """\
title = "Seed 000"
author = "A. Lecturer"

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

[training]
learning_rate = 0.1
digits = 3
"""

NO_VALUES_SPEC = """\
title = "No numbers"
[network]
sizes = [2, 2, 1]
"""

BAD_SPECS = {
    "malformed TOML": 'title = "unterminated\n[network\nsizes = [2, 2, 1]\n',
    "unknown activation": '[network]\nsizes = [2, 2, 1]\nactivation = "swish"\n',
}


def command() -> list[str]:
    """The installed console script if there is one, else ``python -m symbackprop``."""
    script = shutil.which("symbackprop")
    return [script] if script else [sys.executable, "-m", "symbackprop"]


def run(*args: str, cwd: Path, check: bool = False,
        path: str | None = None) -> subprocess.CompletedProcess:
    """Run the command in ``cwd``; ``path`` replaces PATH (an empty folder: no TeX)."""
    assert not Path(cwd).resolve().is_relative_to(REPO), "run the CLI outside the repository"
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = path
    # So that the package imports from this checkout even where it is not installed.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.pop("PYTHONHASHSEED", None)
    result = subprocess.run([*command(), *args], cwd=cwd, env=env, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=600, check=False)
    if check:
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    return result


@pytest.fixture
def spec(tmp_path) -> Path:
    path = tmp_path / "seed000.toml"
    path.write_text(SEED000_SPEC, encoding="utf-8")
    return path


def seed000_numbers(digits: int = 3) -> dict[str, str]:
    """dL/dw5 and the updated w5, computed here with math.exp from the seed's inputs."""
    v = SEED000_VALUES

    def sig(t: float) -> float:
        return 1 / (1 + math.exp(-t))

    z1 = v["x1"] * v["w1"] + v["x2"] * v["w3"]
    h1 = sig(z1)
    h2 = sig(v["x1"] * v["w2"] + v["x2"] * v["w4"])
    yhat = sig(h1 * v["w5"] + h2 * v["w6"])
    grad = -2 * (v["y"] - yhat) * yhat * (1 - yhat) * h1
    new = v["w5"] - 0.1 * grad
    return {"z1": f"{z1:.{digits}f}", "grad": f"{grad:.{digits}f}", "new": f"{new:.{digits}f}",
            "dL/dyhat": f"{-2 * (v['y'] - yhat):.{digits}f}"}


def assert_one_line_error(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("symbackprop: error: ")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def section(tex: str, title: str) -> str:
    """The text of one \\section, up to the next."""
    start = tex.index(f"\\section{{{title}}}")
    end = tex.find("\\section{", start + 1)
    return tex[start:end if end >= 0 else None]


# -- help -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("sub", [None, "notes", "grad", "check", "example", "demo"])
def test_help_prints_the_usage_of_each_command(tmp_path, sub):
    result = run(*([sub] if sub else []), "--help", cwd=tmp_path, check=True)
    assert result.stdout.startswith("usage: symbackprop" + (f" {sub}" if sub else ""))
    assert result.stderr == ""
    if sub is None:
        for name in ("notes", "grad", "check", "example", "demo"):
            assert name in result.stdout


def test_version_prints_the_package_version(tmp_path):
    result = run("--version", cwd=tmp_path, check=True)
    assert re.fullmatch(r"symbackprop \d+\.\d+\.\d+\S*\n", result.stdout)


def test_no_command_is_a_usage_error(tmp_path):
    result = run(cwd=tmp_path)
    assert result.returncode == 2
    assert "usage: symbackprop" in result.stderr
    assert "Traceback" not in result.stderr


# -- demo -----------------------------------------------------------------------------------------
@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_demo_without_pdf(tmp_path):
    result = run("demo", "-o", "out", "--no-pdf", cwd=tmp_path, check=True)
    out = tmp_path / "out"
    names = sorted(p.name for p in out.iterdir())
    assert names == ["seed000-slides.tex", "seed000.md", "seed000.tex"]
    n = seed000_numbers()
    assert f"dL/dw5 = {n['grad']}" in result.stdout
    assert f"updated w5 = {n['new']}" in result.stdout
    assert (n["grad"], n["new"]) == ("-0.100", "0.560")
    assert "finite-difference check: ok" in result.stdout
    article = (out / "seed000.tex").read_text(encoding="utf-8")
    assert article.startswith(r"\documentclass[11pt]{article}")
    assert "-0.100" in article and "0.560" in article
    assert (out / "seed000-slides.tex").read_text(encoding="utf-8").startswith(
        r"\documentclass[aspectratio=169,11pt]{beamer}")
    assert (out / "seed000.md").read_text(encoding="utf-8").startswith("# ")
    for name in names:
        assert f"wrote {Path('out') / name}" in result.stdout


def test_demo_without_tex_writes_the_latex_and_says_so(tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = run("demo", "-o", "out", cwd=tmp_path, check=True, path=str(empty))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "seed000-slides.tex", "seed000.md", "seed000.tex"]
    assert "no pdflatex/latexmk found" in result.stdout


def test_notes_pdf_without_tex_fails_cleanly(tmp_path, spec):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = run("notes", str(spec), "--pdf", "-o", "x.pdf", cwd=tmp_path, path=str(empty))
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert "TeX" in result.stderr
    assert not (tmp_path / "x.pdf").exists()


@pytest.mark.slow
@pytest.mark.skipif(not have_tex(), reason=TEX_MISSING)
def test_demo_with_pdfs(tmp_path):
    result = run("demo", "-o", "demo", cwd=tmp_path, check=True)
    out = tmp_path / "demo"
    for name in ("seed000.pdf", "seed000-slides.pdf"):
        data = (out / name).read_bytes()
        assert data.startswith(b"%PDF-") and len(data) > 20_000
        assert f"wrote {Path('demo') / name}" in result.stdout
    assert not list(out.glob("*.part"))
    assert "-0.100" in result.stdout and "0.560" in result.stdout


# -- notes ----------------------------------------------------------------------------------------
def test_notes_to_stdout(tmp_path, spec):
    result = run("notes", str(spec), cwd=tmp_path, check=True)
    tex = result.stdout
    assert tex.startswith(r"\documentclass[11pt]{article}")
    assert r"\title{Seed 000}" in tex and r"\author{A. Lecturer}" in tex
    assert tex.rstrip().endswith(r"\end{document}")
    n = seed000_numbers()
    worked = section(tex, "A worked example")
    assert n["grad"] in worked and n["new"] in worked
    assert result.stderr == ""  # progress messages only on a terminal


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_notes_to_file(tmp_path, spec):
    result = run("notes", "seed000.toml", "-o", "notes/seed000.tex", cwd=tmp_path, check=True)
    assert result.stdout == ""
    written = (tmp_path / "notes" / "seed000.tex").read_text(encoding="utf-8")
    assert written.startswith(r"\documentclass")
    # the same bytes as on stdout, and no temporary file left next to it
    assert written == run("notes", "seed000.toml", cwd=tmp_path, check=True).stdout
    assert [p.name for p in (tmp_path / "notes").iterdir()] == ["seed000.tex"]


def test_notes_slides(tmp_path, spec):
    tex = run("notes", str(spec), "--slides", cwd=tmp_path, check=True).stdout
    assert tex.startswith(r"\documentclass[aspectratio=169,11pt]{beamer}")
    assert tex.count(r"\begin{frame}") > 10


def test_notes_markdown(tmp_path, spec):
    md = run("notes", str(spec), "--markdown", cwd=tmp_path, check=True).stdout
    assert md.startswith("# Seed 000\n")
    assert "$$" in md and r"\documentclass" not in md
    assert "-0.100" in md and "0.560" in md


def test_notes_fragment(tmp_path, spec):
    tex = run("notes", str(spec), "--fragment", cwd=tmp_path, check=True).stdout
    assert tex.lstrip().startswith("% Generated by symbackprop")
    assert r"\begin{align*}" in tex and r"\documentclass" not in tex


def test_notes_kinds_are_exclusive(tmp_path, spec):
    result = run("notes", str(spec), "--slides", "--markdown", cwd=tmp_path)
    assert result.returncode == 2
    assert "not allowed with" in result.stderr


@pytest.mark.slow
@pytest.mark.skipif(not have_tex(), reason=TEX_MISSING)
def test_notes_pdf(tmp_path, spec):
    result = run("notes", str(spec), "--pdf", "-o", "x.pdf", "-q", cwd=tmp_path, check=True)
    assert result.stdout == ""
    data = (tmp_path / "x.pdf").read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 20_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed000.toml", "x.pdf"]


@pytest.mark.parametrize("extra", [["--markdown"], ["--fragment"], []])
def test_notes_pdf_needs_an_article_or_slides_and_a_file(tmp_path, spec, extra):
    args = ["notes", str(spec), "--pdf", *extra]
    if extra:
        args += ["-o", "x.pdf"]
    assert_one_line_error(run(*args, cwd=tmp_path))
    assert not (tmp_path / "x.pdf").exists()


def test_notes_layered_notation(tmp_path, spec):
    tex = run("notes", str(spec), "--notation", "layered", cwd=tmp_path, check=True).stdout
    assert r"w_{11}^{(2)}" in tex
    assert r"\delta_{1}^{(2)}" in tex
    assert "The general form" in tex
    # the spec's values follow the renaming: the same numbers
    worked = section(tex, "A worked example")
    assert "-0.100" in worked and "0.560" in worked
    assert "w_{5}" not in tex


def test_notes_digits(tmp_path, spec):
    tex = run("notes", str(spec), "--digits", "4", cwd=tmp_path, check=True).stdout
    n = seed000_numbers(4)
    worked = section(tex, "A worked example")
    assert (n["grad"], n["new"]) == ("-0.0998", "0.5600")
    assert n["grad"] in worked and n["new"] in worked
    assert "4 decimals" in worked


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_notes_by_hand_rounding(tmp_path, spec):
    display = section(run("notes", str(spec), cwd=tmp_path, check=True).stdout, "A worked example")
    by_hand = section(run("notes", str(spec), "--rounding", "by_hand", cwd=tmp_path,
                          check=True).stdout, "A worked example")
    assert "by hand" in by_hand and "by hand" not in display
    assert r"\approx" not in by_hand
    assert r"\approx" in display  # w4' = 0.600 + 0.0005 is shown as 0.601
    assert "-0.100" in by_hand and "0.560" in by_hand


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_notes_user_templates(tmp_path, spec):
    folder = tmp_path / "my-templates"
    folder.mkdir()
    (folder / "article.tex.j2").write_text(
        "% CUSTOM << doc.title >>: << doc.checked >> equations\n"
        "<% for s in doc.sections %>[<< s.key >>]<% endfor %>\n", encoding="utf-8")
    tex = run("notes", str(spec), "--templates", str(folder), cwd=tmp_path, check=True).stdout
    assert tex.startswith("% CUSTOM Seed 000: ")
    assert "[worked]" in tex
    # kinds that are not overridden still use ours
    slides = run("notes", str(spec), "--slides", "--templates", str(folder), cwd=tmp_path,
                 check=True).stdout
    assert slides.startswith(r"\documentclass[aspectratio=169,11pt]{beamer}")


def test_notes_missing_template_folder(tmp_path, spec):
    result = run("notes", str(spec), "--templates", "nope", "-o", "out.tex", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "out.tex").exists()


def test_notes_title_option_is_escaped(tmp_path, spec):
    tex = run("notes", str(spec), "--title", r"50% of \input{x}", "--no-appendix",
              cwd=tmp_path, check=True).stdout
    assert r"\title{50\% of \textbackslash{}input\{x\}}" in tex
    assert r"\input{x}" not in tex
    assert "Appendix" not in tex


# -- grad -----------------------------------------------------------------------------------------
def test_grad_one_parameter(tmp_path, spec):
    out = run("grad", str(spec), "--param", "w5", cwd=tmp_path, check=True).stdout
    lines = out.splitlines()
    assert len(lines) == 1
    lhs, rhs = lines[0].split(" = ", 1)
    assert lhs == "dL/dw5"
    names = {s: sp.Symbol(s) for s in ("h1", "yhat", "y")}
    got = sp.sympify(rhs, locals=names)
    h1, yhat, y = names["h1"], names["yhat"], names["y"]
    assert sp.simplify(got - (-2 * (y - yhat) * yhat * (1 - yhat) * h1)) == 0


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_grad_all_parameters_and_forms(tmp_path, spec):
    out = run("grad", str(spec), cwd=tmp_path, check=True).stdout
    assert [ln.split(" = ")[0] for ln in out.splitlines()] == [f"dL/dw{k}" for k in range(1, 7)]
    delta = run("grad", str(spec), "--param", "w5", "--form", "delta", cwd=tmp_path,
                check=True).stdout
    assert "delta_z3" in delta and "h1" in delta
    latex = run("grad", str(spec), "--param", "w5", "--latex", cwd=tmp_path, check=True).stdout
    assert latex.startswith(r"\frac{\partial L}{\partial w_{5}} = ")
    assert r"\hat{y}" in latex


def test_grad_unknown_parameter(tmp_path, spec):
    assert_one_line_error(run("grad", str(spec), "--param", "w9", "-o", "g.txt", cwd=tmp_path))
    assert not (tmp_path / "g.txt").exists()


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_grad_matrix_form_and_code(tmp_path, spec):
    text = run("grad", str(spec), "--matrix", cwd=tmp_path, check=True).stdout
    assert "delta2 = 2/n_2*((A2 - Y)*A2*(1 - A2))\ndelta1 = (W2.T @ delta2)*A1*(1 - A1)\n" in text
    assert text.splitlines()[0] == "Z1 = W1 @ X"
    tex = run("grad", str(spec), "--matrix", "--latex", cwd=tmp_path, check=True).stdout
    assert r"\delta^{[1]} = \left({W^{[2]}}^{\top} \delta^{[2]}\right) \odot" in tex
    code = run("grad", str(spec), "--code", "-o", "grad.py", cwd=tmp_path, check=True)
    assert code.stdout == ""
    assert "def gradients(X, Y, W1, W2, work=fresh):" in (tmp_path / "grad.py").read_text(encoding="utf-8")
    for target, head in (("torch", "class Loss(torch.autograd.Function):"), ("jax", "@jax.custom_vjp")):
        module = run("grad", str(spec), "--code", "--target", target, cwd=tmp_path, check=True).stdout
        assert head in module and "def _backward_pass(X, Y, W1, W2, saved):" in module
    graph = tmp_path / "graph.toml"
    graph.write_text('[graph]\ninputs = ["x"]\ntargets = ["y"]\nparameters = ["w"]\n'
                     'loss = { name = "L", expr = "(y - w*x)^2" }\n', encoding="utf-8")
    scalar = run("grad", str(graph), "--code", cwd=tmp_path, check=True).stdout
    assert "dL_dw = " in scalar and "def loss_and_gradients(x, y, w):" in scalar
    torch = run("grad", str(graph), "--code", "--target", "torch", cwd=tmp_path, check=True)
    assert "class Loss(torch.autograd.Function):" in torch.stdout
    result = run("grad", str(graph), "--matrix", cwd=tmp_path)
    assert result.returncode == 2 and "--matrix needs a [network] spec" in result.stderr


# -- check ----------------------------------------------------------------------------------------
def test_check_prints_every_parameter_agreeing_with_finite_differences(tmp_path, spec):
    result = run("check", str(spec), cwd=tmp_path, check=True)
    lines = result.stdout.splitlines()
    assert lines[0].split()[0] == "parameter"
    rows = {ln.split()[0]: ln.split() for ln in lines[1:7]}
    assert sorted(rows) == [f"w{k}" for k in range(1, 7)]
    for row in rows.values():
        assert row[-1] == "ok"
    assert float(rows["w5"][1]) == pytest.approx(-0.0997525, abs=1e-6)
    assert "all gradients agree" in lines[-1]


def test_check_needs_values(tmp_path):
    (tmp_path / "novalues.toml").write_text(NO_VALUES_SPEC, encoding="utf-8")
    result = run("check", "novalues.toml", cwd=tmp_path)
    assert_one_line_error(result)
    assert "values" in result.stderr


def test_check_judges_a_softmax_saturated_by_1e215_in_high_precision_and_exits_0(tmp_path):
    # issue 21, s103: float64's difference said 1.61e+244 for a gradient of 0 (WRONG, exit 1),
    # and its column ran into the engine's ("0-1.61417171e+244")
    (tmp_path / "s103.toml").write_text(ATTENTION_1E215, encoding="utf-8")
    result = run("check", "s103.toml", cwd=tmp_path, check=True)
    lines = result.stdout.splitlines()
    assert "WRONG" not in result.stdout and lines[-1].endswith("all gradients agree")
    rows = {ln.split()[0]: ln.split() for ln in lines[1:-1]}
    assert rows["q_2"][1:4] == ["-0", "0", "0.00e+00"] and rows["q_2"][4] == "ok"
    assert all(len(row) >= 5 for row in rows.values())  # no two columns run together


# -- example --------------------------------------------------------------------------------------
def test_example_prints_seed000s_rounded_numbers_and_the_w5_update(tmp_path, spec):
    out = run("example", str(spec), cwd=tmp_path, check=True).stdout
    n = seed000_numbers()
    assert f"z1 = {n['z1']}" in out
    w5 = [ln for ln in out.splitlines() if "dL/dw5" in ln]
    assert len(w5) == 1
    assert w5[0].strip().startswith(f"dL/dw5 = {n['dL/dyhat']} * ")
    assert f"= {n['grad']};" in w5[0]
    assert w5[0].rstrip().endswith(f"w5' = {n['new']}")
    assert "-0.010" not in w5[0] and "0.551" not in w5[0]


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_example_latex_and_markdown(tmp_path, spec):
    tex = run("example", str(spec), "--latex", cwd=tmp_path, check=True).stdout
    assert r"\begin{align*}" in tex and "-0.100" in tex and "0.560" in tex
    md = run("example", str(spec), "--markdown", "--digits", "4", cwd=tmp_path, check=True).stdout
    assert "$$" in md and "-0.0998" in md and "0.5600" in md


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_example_takes_rounding_and_digits_from_the_spec_and_flags_override(tmp_path):
    spec = tmp_path / "by_hand.toml"
    spec.write_text(SEED000_SPEC.replace("digits = 3", 'digits = 0\nrounding = "by_hand"'),
                    encoding="utf-8")
    out = run("example", str(spec), cwd=tmp_path, check=True).stdout
    assert out.startswith("Worked example (by_hand rounding, 0 decimals")
    assert "-0" not in out.replace("-0.", "")  # a rounded -0.1 shows as 0, never as -0
    out = run("example", str(spec), "--rounding", "display", "--digits", "2", cwd=tmp_path,
              check=True).stdout
    assert out.startswith("Worked example (display rounding, 2 decimals")


@pytest.mark.parametrize("rate", ["0", "-0.1", "nan"])
def test_example_refuses_a_learning_rate_that_is_not_positive(tmp_path, spec, rate):
    result = run("example", str(spec), f"--learning-rate={rate}", cwd=tmp_path)
    assert result.returncode == 2 and ("positive finite number" in result.stderr
                                       or "learning rate must be a positive number" in result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("sub", ["notes", "grad", "check", "example"])
def test_missing_spec_file(tmp_path, sub):
    result = run(sub, "missing.toml", "-o", "out.txt", cwd=tmp_path)
    assert_one_line_error(result)
    assert "missing.toml" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("problem", list(BAD_SPECS))
@pytest.mark.parametrize("sub", ["notes", "check"])
def test_bad_spec(tmp_path, problem, sub):
    (tmp_path / "bad.toml").write_text(BAD_SPECS[problem], encoding="utf-8")
    result = run(sub, "bad.toml", "-o", "out.tex", cwd=tmp_path)
    assert_one_line_error(result)
    assert "bad.toml" in result.stderr
    if problem == "unknown activation":
        assert "swish" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_output_is_a_directory(tmp_path, spec):
    (tmp_path / "adir").mkdir()
    assert_one_line_error(run("grad", str(spec), "-o", "adir", cwd=tmp_path))


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_notation_for_a_graph_spec_is_refused(tmp_path):
    (tmp_path / "graph.toml").write_text(
        '[graph]\ninputs = ["x"]\ntargets = ["y"]\nparameters = ["w"]\n'
        'nodes = [{ name = "a", expr = "sigmoid(w*x)" }]\n'
        'loss = { name = "L", expr = "(y - a)^2 / 2" }\n', encoding="utf-8")
    ok = run("grad", "graph.toml", cwd=tmp_path, check=True)
    assert ok.stdout.startswith("dL/dw = ")
    assert_one_line_error(run("grad", "graph.toml", "--notation", "layered", cwd=tmp_path))


@pytest.mark.parametrize("sub", ["notes", "exercises"])
@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_notes_of_a_network_too_large_point_to_the_matrix_form(tmp_path, sub):
    spec = tmp_path / "big.toml"
    spec.write_text("[network]\nsizes = [64, 64, 1]\n", encoding="utf-8")
    result = run(sub, str(spec), "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "4160 parameters" in result.stderr and "--matrix" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.toml"]
    matrix = run("grad", str(spec), "--matrix", cwd=tmp_path, check=True).stdout
    assert matrix.startswith("Z1 = W1 @ X\n")


def test_an_untitled_model_spec_gets_its_default_title_in_the_documents_language(tmp_path):
    spec = tmp_path / "rnn.toml"
    spec.write_text('[network]\nkind = "rnn"\ninputs = 1\nhidden = 2\noutputs = 1\nsteps = 3\n',
                    encoding="utf-8")
    r = run("notes", str(spec), "--lang", "ko", cwd=tmp_path, check=True)
    assert r"\title{3단계로 펼친 엘만 RNN: 입력 1개, 은닉 유닛 2개, 출력 1개}" in r.stdout


@pytest.mark.parametrize(("lang", "title"), [
    (None, r"\title{Exercises: An Elman RNN over 2 steps"),
    ("ko", r"\title{연습 문제: 2단계로 펼친 엘만 RNN")])
@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_exercise_sheets_are_in_the_asked_language(tmp_path, lang, title):
    spec = tmp_path / "rnn.toml"
    spec.write_text('[network]\nkind = "rnn"\ninputs = 1\nhidden = 1\noutputs = 1\nsteps = 2\n',
                    encoding="utf-8")
    run("exercises", str(spec), "--count", "1", *(["--lang", lang] if lang else []),
        cwd=tmp_path, check=True)
    for name in ("exercises", "answers"):
        assert title in (tmp_path / "exercises" / f"{name}.tex").read_text(encoding="utf-8")


# -- extreme but legal values: right numbers, or one line and exit 2 (issue 21) -------------------
SATURATED_SIGMOID_BCE = ('[network]\nsizes = [1, 1]\nactivation = "sigmoid"\nloss = "bce"\n'
                         "[values]\nx1 = 1.0\ny = 0.5\nw1 = 1000.0\n")
GELU_FAR_OUT = ('[graph]\ninputs = []\ntargets = []\nparameters = ["w"]\n'
                'nodes = [{ name = "a", expr = "gelu_erf(w)" }]\nloss = { name = "L", expr = "a" }\n'
                "[values]\nw = -1e300\n")
# a = 1 - 1e-20 is 1.0 in floats, so log(a - 1) looks like log 0; it is a log of a negative
LOG_OF_A_NEGATIVE = ('[graph]\ninputs = ["x"]\ntargets = []\nparameters = ["w"]\n'
                     'nodes = [{ name = "a", expr = "x + w" }]\n'
                     'loss = { name = "L", expr = "log(a - 1)^2" }\n[values]\nx = 1.0\nw = -1e-20\n')
OVERFLOWING_NODE = ('[graph]\ninputs = ["x"]\ntargets = []\nparameters = ["w"]\n'
                    'nodes = [{ name = "z", expr = "w*x" }]\nloss = { name = "L", expr = "gelu_erf(z)" }\n'
                    "[values]\nx = -1e300\nw = 1e12\n")
OVERFLOWING_LOSS = ('[graph]\ninputs = []\ntargets = ["t"]\nparameters = ["b"]\n'
                    'nodes = [{ name = "n", expr = "-sqrt(b)" }]\nloss = { name = "L", expr = "(t - n)^2" }\n'
                    "[values]\nt = 3.1e257\nb = 6e-130\n")


@pytest.mark.slow  # a long run: make test-slow (CI runs it too)
@pytest.mark.parametrize("text", [SATURATED_SIGMOID_BCE, GELU_FAR_OUT],
                         ids=["saturated-sigmoid-bce", "gelu-far-out"])
def test_notes_and_examples_at_extreme_values_hold(tmp_path, text):
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    for args in (["notes"], ["example"], ["example", "--latex"]):
        result = run(*args, str(path), cwd=tmp_path)
        assert result.returncode == 0 and result.stderr == "", (args, result.stderr)
        assert "nan" not in result.stdout


@pytest.mark.parametrize(("text", "says"), [
    (LOG_OF_A_NEGATIVE, "node L is not a real number"),
    (OVERFLOWING_NODE, "node z overflows float64"),
    (OVERFLOWING_LOSS, "node L overflows float64"),
], ids=["log-of-a-negative", "overflowing-node", "overflowing-loss"])
@pytest.mark.slow  # a long run: make test-slow (CI runs it too)
def test_values_no_float64_holds_are_refused_in_one_line(tmp_path, text, says):
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    for args in (["notes"], ["example"], ["example", "--latex"]):
        result = run(*args, str(path), cwd=tmp_path)
        assert_one_line_error(result)
        assert says in result.stderr

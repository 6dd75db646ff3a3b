"""A lecturer's macros (\\newcommand, \\renewcommand, \\DeclareMathOperator) expanded with limits;
hostile definitions refused in one line, in milliseconds, with nothing written."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from texutil import REPO

import symbackprop as sb
from symbackprop.io.spec import load_spec
from symbackprop.teaching.latexmacros import MAX_LEVELS, MacroError, expand_macros
from symbackprop.teaching.latexparse import LatexError, check_document, find_math
from symbackprop.teaching.lint import lint, read_lint_symbols, read_tex

REF = REPO / "tests" / "reference"
PREAMBLE = (r"\newcommand{\R}{\mathbb{R}}"
            r"\newcommand{\dd}[2]{\frac{\partial #1}{\partial #2}}"
            r"\newcommand\yh{\hat{y}}"
            r"\newcommand{\w}[1][5]{w_{#1}}"
            r"\DeclareMathOperator{\sech}{sech}"
            r"\renewcommand{\vec}[1]{\mathbf{#1}}")


def spans(tex: str) -> list[tuple[str, int]]:
    return [(m.text.strip(), m.line) for m in find_math(tex)]


def test_a_preamble_of_common_macros_is_expanded_as_tex_would_print_it():
    tex = PREAMBLE + "\n$\\dd{L}{\\w} = \\dd{L}{\\yh} \\dd{\\yh}{z_3}$\n$\\w[6] = \\sech(z)$"
    assert spans(tex) == [
        (r"\frac{\partial L}{\partial w_{5}} = \frac{\partial L}{\partial \hat{y}} "
         r"\frac{\partial \hat{y}}{\partial z_3}", 2),
        (r"w_{6} = \operatorname{sech}(z)", 3)]


def test_macros_may_use_macros_and_arguments_may_hold_macros():
    tex = (r"\newcommand{\e}[1]{\delta_{#1}}\newcommand{\g}[2]{\e{#1} #2}" "\n"
           r"$\g{z_3}{\e{z_1}}$")
    assert spans(tex) == [(r"\delta_{z_3} \delta_{z_1}", 2)]


def test_line_numbers_survive_definitions_and_uses_over_several_lines():
    tex = ("\\newcommand{\\pair}[2]{#1 = #2}\n\\newcommand{\\long}{x\n+ y}\n"
           "$\\pair{a}\n{b}$\n$c = 1$\n$\\long = 2$")
    assert spans(tex) == [("a = b", 4), ("c = 1", 6), ("x + y = 2", 7)]


def test_a_line_break_before_a_letter_is_not_a_macro():
    assert spans(r"\newcommand{\R}{X}\[ a = 1 \\R = 2 \]") == [(r"a = 1 \\R = 2", 1)]


def test_lint_reads_seed000_written_with_macros_and_flags_the_same_lines():
    # The seed's transcription with every ∂L/∂w written \dd{L}{w} and ŷ written \yh: the
    # same three wrong lines (shifted by the one line of definitions), and as many checks.
    plain = (REF / "seed000.tex").read_text(encoding="utf-8")
    body = plain.replace(r"\frac{\partial L}{\partial w_5}", r"\dd{L}{w_5}").replace(
        r"\hat{y}", r"\yh")
    assert body.count(r"\dd{L}") >= 3 and body.count(r"\yh") >= 10
    macros = PREAMBLE + "\n" + body
    spec = load_spec(REF / "seed000.toml")
    d, symbols = sb.derive(spec.graph), read_lint_symbols(REF / "seed000.toml")
    results = [lint(read_tex_text(t), d, spec.values, learning_rate=0.1, symbols=symbols)
               for t in (plain, macros)]
    wrong = [[(line.line, [s.text for s in line.sides if s.verdict == "wrong"])
              for line in r.wrong] for r in results]
    assert [n for n, _ in wrong[0]] == [41, 69, 73]
    assert [n - 1 for n, _ in wrong[1]] == [41, 69, 73]
    right = [sum(s.verdict == "right" for line in r.lines for s in line.sides) for r in results]
    assert right[0] == right[1] >= 30


def read_tex_text(text: str) -> str:
    check_document(text)
    return text


def test_the_cli_lints_a_file_with_macros(tmp_path):
    notes = tmp_path / "notes.tex"
    notes.write_text(PREAMBLE + "\n\\[ \\dd{L}{w_5} \\approx -0.01 \\]\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "symbackprop", "lint", str(notes), "--spec",
                        str(REF / "seed000.toml")], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert "notes.tex:2: WRONG" in r.stdout and "a factor of 10" in r.stdout


# -- limits and hostile definitions -----------------------------------------------------------
HOSTILE_MACROS = {
    "itself": (r"\newcommand{\x}{\x}$\x = 1$", "levels deep"),
    "through another": (r"\newcommand{\a}{\b}\newcommand{\b}{\a}$\a = 1$", "levels deep"),
    "doubling": (r"\newcommand{\a}{\a\a}$\a$", "levels deep"),
    "exponential": ("".join(rf"\newcommand{{\m{c}}}{{\m{p}\m{p}\m{p}\m{p}\m{p}\m{p}\m{p}}}"
                            for p, c in zip("abcdefghijklm", "bcdefghijklmn", strict=True))
                    + r"\newcommand{\ma}{xxxxxxxxxxxxxxxx}$\mn$", "would pass"),
    "argument repeated": (r"\newcommand{\r}[1]{#1#1#1#1#1#1#1#1#1#1}"
                          r"\newcommand{\s}[1]{\r{\r{\r{\r{\r{\r{#1}}}}}}}"
                          r"$\s{" + "x" * 1000 + "}$", "would pass"),
    "many uses": (r"\newcommand{\a}{x}" + r"\a" * 30_000, "macro uses"),
    "redefines input": (r"\newcommand{\input}{x}", r"\input is refused"),
    "redefines begin": (r"\renewcommand{\begin}{x}", "cannot be redefined"),
    "defines a definition": (r"\newcommand{\a}{\newcommand{\b}{x}}", "inside a definition"),
    "holds a def": (r"\newcommand{\a}{\def\b{x}}", r"\def is refused"),
    "hash": (r"\newcommand{\a}[1]{#2}", "names no argument"),
    "ten arguments": (r"\newcommand{\a}[10]{#1}", "0 to 9"),
    "unclosed": (r"\newcommand{\a}{x", "not closed"),
    "no name": (r"\newcommand{a}{x}", "command name"),
    "twice": (r"\newcommand{\a}{x}" "\n" r"\newcommand{\a}{y}", "already defined on line 1"),
    "hidden": (r"\newcommand{\a}{^^5cinput}", "'^^'"),
    "deep braces": (r"\newcommand{\a}[1]{{{{{{{{{{#1}}}}}}}}}}"
                    r"$\a{\a{\a{\a{\a{\a{\a{x}}}}}}}$", "nested deeper"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_MACROS))
def test_hostile_definitions_are_refused_in_one_line_in_milliseconds(name):
    tex, message = HOSTILE_MACROS[name]
    start = time.perf_counter()
    with pytest.raises(LatexError) as err:
        find_math(tex)
    assert time.perf_counter() - start < 0.5  # milliseconds in fact; generous for a loaded box
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_depth_limit_is_a_limit_not_a_guess():
    chain = "".join(rf"\newcommand{{\m{k}}}{{\m{k + 1}}}".replace(str(k + 1), _word(k + 1))
                    .replace(str(k), _word(k)) for k in range(MAX_LEVELS))
    ok = chain.replace(rf"\m{_word(MAX_LEVELS)}}}", "x}") + rf"$\m{_word(0)}$"
    assert expand_macros(ok).strip() == "$x$"
    too_deep = chain + rf"\newcommand{{\m{_word(MAX_LEVELS)}}}{{x}}$\m{_word(0)}$"
    with pytest.raises(MacroError, match="levels deep"):
        expand_macros(too_deep)


def _word(k: int) -> str:
    return "".join(chr(ord("a") + int(c)) for c in str(k))


def test_a_commented_definition_is_not_read():
    assert spans("% \\newcommand{\\a}{x}\n$\\a = 1$") == [(r"\a = 1", 2)]


def test_the_cli_refuses_a_looping_macro_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.tex"
    bad.write_text("\\newcommand{\\a}{\\a a}\n$\\a = 1$\n", encoding="utf-8")
    out = tmp_path / "report.txt"
    r = subprocess.run([sys.executable, "-m", "symbackprop", "lint", str(bad), "--spec",
                        str(REF / "seed000.toml"), "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1
    assert "levels deep" in r.stderr and not out.exists()


def test_read_tex_refuses_before_anything_is_derived(tmp_path):
    bad = tmp_path / "bad.tex"
    bad.write_text("\\newcommand{\\a}{\\a}\\a", encoding="utf-8")
    with pytest.raises(LatexError, match="bad.tex: .*levels deep"):
        read_tex(bad)

"""The printing layer: escaping user text, the notation-aware TexPrinter, symbol spellings."""

from __future__ import annotations

import re

import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from texutil import compile_snippet, needs_pdftotext, needs_tex, pdf_text

import symbackprop as sb
from symbackprop.printing.latex import (
    _LATEX_SPECIALS,
    Tex,
    TexPrinter,
    escape_latex,
    escape_markdown,
    symbol_latex,
)

# The ASCII escapes, each with what follows it (so "\textbackslash" cannot run into the user's
# letters and make a new command).
ASCII_ESCAPES = [
    r"\textbackslash{}", r"\textasciicircum{}", r"\textasciitilde{}", r"\textless{}",
    r"\textgreater{}", r"\textbar{}", r"\{", r"\}", r"\$", r"\&", r"\#", r"\_", r"\%",
]
# Every backslash escape_latex may emit comes from its fixed table (the ASCII escapes above and
# engine-chosen spellings of Unicode math such as σ -> \ensuremath{\sigma}), never from user text.
LATEX_ESCAPES = sorted({*ASCII_ESCAPES, *(v for v in _LATEX_SPECIALS.values() if "\\" in v)})
LATEX_SPECIALS = set("\\{}$&#^_~%")
GREEK = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
         "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi",
         "omega"]


def strip_escapes(text: str, tokens: list[str]) -> str:
    """text with every allowed escape token removed (longest first)."""
    for tok in sorted(tokens, key=len, reverse=True):
        text = text.replace(tok, "")
    return text


# -- escape_latex ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        (r"\input{/etc/passwd}", r"\textbackslash{}input\{/etc/passwd\}"),
        ("#", r"\#"),
        ("%", r"\%"),
        ("_", r"\_"),
        ("{", r"\{"),
        ("}", r"\}"),
        ("$", r"\$"),
        ("&", r"\&"),
        ("~", r"\textasciitilde{}"),
        ("^", r"\textasciicircum{}"),
        ("a<b>c|d", r"a\textless{}b\textgreater{}c\textbar{}d"),
        ("plain text, 1.5", "plain text, 1.5"),
        (r"\\", r"\textbackslash{}\textbackslash{}"),
    ],
)
def test_escape_latex_specials(raw, escaped):
    assert escape_latex(raw) == escaped


def test_escape_latex_leaves_no_command_of_the_user():
    out = escape_latex(r"\input{/etc/passwd}\write18{rm -rf /}\def\x{1}")
    assert r"\input" not in out
    assert r"\write" not in out
    assert r"\def" not in out
    assert strip_escapes(out, LATEX_ESCAPES).count("\\") == 0


def test_escape_latex_drops_control_characters_but_keeps_newlines():
    assert escape_latex("a\x00b\x1bc\x7f") == "abc"
    assert escape_latex("line 1\nline 2\tx") == "line 1\nline 2\tx"


def test_escape_latex_spells_unicode_math_with_fixed_commands():
    # pdflatex's utf8 input does not know these characters: they become math commands.
    out = escape_latex("σ′ = σ(1−σ)")
    assert out.count(r"\ensuremath{\sigma}") == 3
    assert not set(out) & set("σ′−")
    assert escape_latex("∂L/∂w") == r"\ensuremath{\partial}L/\ensuremath{\partial}w"


def test_escape_latex_never_makes_a_blank_line():
    # A blank line is \par: inside \title{...} it stops the build.
    out = escape_latex("Line 1\n\nLine 2\n \t\n\nLine 3")
    assert not re.search(r"\n\s*\n", out)
    assert out.split() == ["Line", "1", "Line", "2", "Line", "3"]


def test_escape_markdown_keeps_text_on_one_line():
    assert escape_markdown("Title\n\n## injected") == r"Title \#\# injected"


def test_escape_latex_accepts_non_strings():
    assert escape_latex(12.5) == "12.5"


@given(st.text(max_size=60))
def test_escape_latex_every_special_is_escaped(text):
    out = escape_latex(text)
    rest = strip_escapes(out, LATEX_ESCAPES)
    assert not (set(rest) & LATEX_SPECIALS), (text, out)


@given(st.text(alphabet=st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=40))
def test_escape_latex_is_reversible_for_printable_ascii(text):
    # Each escape stands for one character: undoing them gives the text back.
    inverse = {
        r"\textbackslash{}": "\\", r"\textasciicircum{}": "^", r"\textasciitilde{}": "~",
        r"\textless{}": "<", r"\textgreater{}": ">", r"\textbar{}": "|",
        r"\{": "{", r"\}": "}", r"\$": "$", r"\&": "&", r"\#": "#", r"\_": "_", r"\%": "%",
    }
    pattern = re.compile("|".join(re.escape(k) for k in sorted(inverse, key=len, reverse=True)))
    assert pattern.sub(lambda m: inverse[m.group()], escape_latex(text)) == text


@pytest.mark.slow
@needs_pdftotext
@needs_tex
def test_escaped_text_compiles_and_prints_as_itself(tmp_path):
    raw = r"\input{/etc/passwd} #1 50% a_b {c} $5 & x~y x^2 <x> |y|"
    odd = symbol_latex("w_11^(2)")
    body = (escape_latex(raw) + "\n\\par\n$" + odd + "$\n\\par\n"
            + escape_latex("σ′ = σ(1−σ), η ≈ 0.1 · ∂L/∂w … Σ δ ≥ 0"))
    pdf = compile_snippet(body, tmp_path / "escaped.pdf")
    text = pdf_text(pdf)
    assert r"\input{/etc/passwd} #1 50% a_b {c} $5 & x~y x^2 <x> |y|" in text
    assert "root:" not in text  # /etc/passwd was not read


@needs_tex
@pytest.mark.slow
def test_unescaped_input_would_fail(tmp_path):
    # The control for the test above: the raw text is a command that TeX runs (and fails on).
    with pytest.raises(sb.RenderError):
        compile_snippet(r"\input{/nonexistent/symbackprop-file}", tmp_path / "raw.pdf")


# -- escape_markdown ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a_b $x$", r"a\_b \$x\$"),
        ("*bold* `code`", r"\*bold\* \`code\`"),
        ("[link](http://x)", r"\[link\]\(http://x\)"),
        ("<script>", r"\<script\>"),
        ("# heading", r"\# heading"),
        (r"\input{x}", r"\\input\{x\}"),
        ("a|b ~c !d +e", r"a\|b \~c \!d \+e"),
        ("plain", "plain"),
    ],
)
def test_escape_markdown(raw, escaped):
    assert escape_markdown(raw) == escaped


@given(st.text(max_size=60))
def test_escape_markdown_every_special_is_escaped(text):
    out = escape_markdown(text)
    rest = re.sub(r"\\.", "", out, flags=re.S)  # drop every escaped pair
    assert not (set(rest) & set("\\`*_{}[]<>()#+!|$~")), (text, out)


# -- symbol_latex ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "latex"),
    [
        ("x1", "x_{1}"),
        ("w12", "w_{12}"),
        ("yhat", r"\hat{y}"),
        ("yhat2", r"\hat{y}_{2}"),
        ("alpha", r"\alpha"),
        ("eta3", r"\eta_{3}"),
        ("loss", r"\mathrm{loss}"),
        ("L", "L"),
        ("w_11^(2)", r"\mathit{w\_11\textasciicircum{}(2)}"),
    ],
)
def test_symbol_latex(name, latex):
    assert symbol_latex(name) == latex


@pytest.mark.parametrize(
    "name",
    [r"\input{x}", r"a\write18", "input", "inputhat", r"x_{\def}", "$x$", "a#b", "%", "\\", "x~y"],
)
def test_symbol_latex_odd_names_run_no_command(name):
    out = symbol_latex(name)
    allowed = [r"\hat{", r"\mathrm{", r"\mathit{", *LATEX_ESCAPES]
    assert strip_escapes(out, allowed).count("\\") == 0, out
    for cmd in ("input", "write", "def"):
        assert "\\" + cmd not in out


@given(st.text(max_size=30))
def test_symbol_latex_never_makes_a_command_from_user_text(name):
    out = symbol_latex(name)
    greek = [rf"\{g}" for g in GREEK]
    allowed = [r"\hat{", r"\mathrm{", r"\mathit{", *LATEX_ESCAPES]
    rest = strip_escapes(out, allowed)
    # The only other commands are the Greek letters of a whole simple name, like \alpha_{1}.
    for cmd in re.findall(r"\\[A-Za-z]+", rest):
        assert cmd in greek and re.fullmatch(r"[A-Za-z]+\d*\n?", name), (name, out)
    assert rest.count("\\") == len(re.findall(r"\\[A-Za-z]+", rest)), (name, out)


# -- TexPrinter -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seq():
    net = sb.mlp([2, 2, 1], activation="sigmoid", loss="mse", bias=False, notation="sequential")
    return net, sb.derive(net)


@pytest.fixture(scope="module")
def layered():
    net = sb.mlp([2, 2, 1], activation="sigmoid", loss="mse", bias=False, notation="layered")
    return net, sb.derive(net)


def test_printer_returns_tex(seq):
    net, d = seq
    out = TexPrinter(d)(net.symbol("x1"))
    assert isinstance(out, Tex) and isinstance(out, str)
    assert out == "x_{1}"


def test_yhat_prints_with_a_hat(seq):
    net, d = seq
    t = TexPrinter(d)
    yhat = net.symbol("yhat")
    assert t(yhat) == r"\hat{y}"
    assert t(d.local(yhat, net.symbol("z3"))) == r"\hat{y} \left(1 - \hat{y}\right)"


def test_sigmoid_prints_as_sigma(seq):
    net, d = seq
    t = TexPrinter(d)
    assert t(net.expr(net.symbol("yhat"))) == r"\sigma\left(z_{3}\right)"
    assert t(sb.sigmoid(sp.Symbol("x"))) == r"\sigma\left(x\right)"


def test_derivative_prints_as_partial_fraction(seq):
    net, d = seq
    t = TexPrinter(d)
    L, w5, z3 = net.loss_symbol, net.symbol("w5"), net.symbol("z3")
    assert t(sp.Derivative(L, w5)) == r"\frac{\partial L}{\partial w_{5}}"
    assert t(sp.Derivative(net.symbol("yhat"), z3)) == r"\frac{\partial \hat{y}}{\partial z_{3}}"
    assert t(sp.Derivative(L, z3, 2)) == r"\frac{\partial^{2} L}{\partial z_{3}^{2}}"


def test_sequential_delta_symbols(seq):
    net, d = seq
    t = TexPrinter(d)
    assert t(d.delta_symbols[net.symbol("z3")]) == r"\delta_{z_{3}}"
    assert t(d.delta_symbols[net.symbol("yhat")]) == r"\delta_{\hat{y}}"
    assert t(d.gradient("w5", form="delta")) in (r"\delta_{z_{3}} h_{1}", r"h_{1} \delta_{z_{3}}")


def test_layered_delta_symbols_follow_the_notation(layered):
    net, d = layered
    t = TexPrinter(d)
    assert t(d.delta_symbols[net.pre(2, 1)]) == r"\delta_{1}^{(2)}"
    assert t(d.delta_symbols[net.pre(1, 2)]) == r"\delta_{2}^{(1)}"
    assert t(net.weight(2, 1, 1)) == r"w_{11}^{(2)}"
    assert t(sp.Derivative(net.loss_symbol, net.weight(2, 1, 1))) == (
        r"\frac{\partial L}{\partial w_{11}^{(2)}}"
    )


def test_other_activations_and_indicator(seq):
    _, d = seq
    t = TexPrinter(d)
    z = sp.Symbol("z")
    assert t(sb.tanh(z)).startswith(r"\tanh")
    assert "ReLU" in t(sb.relu(z))
    assert t(sp.Heaviside(z)) == r"\mathbb{1}\left[z > 0\right]"


def test_product_keeps_the_given_order(seq):
    net, d = seq
    t = TexPrinter(d)
    h1, w5, yhat = net.symbol("h1"), net.symbol("w5"), net.symbol("yhat")
    assert t.product([w5, h1]) == r"w_{5} \cdot h_{1}"
    assert t.product([h1, w5]) == r"h_{1} \cdot w_{5}"
    assert t.product([yhat, 1 - yhat], sep=" ") == r"\hat{y} \left(1 - \hat{y}\right)"
    assert t.product([]) == "1"


def test_terms_keep_a_leading_minus(seq):
    _, d = seq
    t = TexPrinter(d)
    assert t.terms(["a", "-b", "c"]) == "a - b + c"
    assert t.terms([]) == "0"


def test_user_latex_name_is_used():
    g = sb.Graph()
    x = g.input("x", latex=r"\xi")
    w = g.parameter("w")
    y = g.target("y")
    g.loss("L", (y - w * x) ** 2)
    t = TexPrinter(sb.derive(g))
    assert t(w * x) in (r"\xi w", r"w \xi")

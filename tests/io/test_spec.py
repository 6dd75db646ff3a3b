"""Tests of spec.py: the TOML spec reader, the safe expression reader and the gallery specs."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.core import functions
from symbackprop.core.notation import Notation
from symbackprop.io import spec
from symbackprop.io.spec import SpecError, check_latex, load_spec, parse_expression, parse_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
GALLERY = sorted(EXAMPLES.glob("seed[0-9][0-9][0-9].toml"))

x, y, w, b, a = sp.symbols("x y w b a", real=True)
NAMES = {"x": x, "y": y, "w": w, "b": b, "a": a}


# -- the gallery ------------------------------------------------------------------------------------
def test_gallery_is_complete():
    assert [p.name for p in GALLERY] == [f"seed00{i}.toml" for i in range(5)]


@pytest.mark.parametrize("path", GALLERY, ids=lambda p: p.stem)
def test_gallery_spec_loads_evaluates_and_checks(path):
    s = load_spec(path)
    assert s.source == str(path)
    assert s.title and s.author
    assert s.missing_values == []
    assert s.learning_rate is not None and s.learning_rate > 0
    assert s.digits is not None
    d = sb.derive(s.graph)
    ev = d.evaluate(s.values)
    assert set(ev.gradients) == {p.name for p in s.graph.parameters}
    check = sb.check_gradients(d, s.values)
    assert check.ok, str(check)


def test_seed000_reproduces_the_worked_example():
    s = load_spec(EXAMPLES / "seed000.toml")
    assert s.notation == "sequential" and s.kind == "network"
    assert s.values == dict(
        x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45
    )
    assert (s.learning_rate, s.digits) == (0.1, 3)
    net = s.graph
    assert net.expr(net.symbol("z1")) == net.symbol("w1") * net.symbol("x1") + net.symbol(
        "w3"
    ) * net.symbol("x2")
    ex = sb.worked_example(sb.derive(net), s.values, s.learning_rate, s.digits)
    shown = {k: ex.show(v) for k, v in ex.nodes.items()}
    assert shown["z1"] == "0.470" and shown["z2"] == "0.330"
    assert shown["h1"] == "0.615" and shown["h2"] == "0.582"
    assert shown["z3"] == "0.600" and shown["L"] == "0.126"
    assert ex.show(ex.gradients["w5"]) == "-0.100" and ex.show(ex.updated["w5"]) == "0.560"


def test_seed001_threshold_bias_in_layered_notation():
    s = load_spec(EXAMPLES / "seed001.toml")
    net = s.graph
    assert s.notation == "layered" and net.bias_mode == "threshold"
    assert net.loss_name == "half_sse"
    d = sb.derive(net)
    # ∂L/∂b = −δ: the bias gradient is minus the δ of its unit.
    ev = d.evaluate(s.values)
    assert ev.gradients["b_1^(2)"] == pytest.approx(-ev.deltas["S_1^(2)"])


def test_seed002_output_unit_has_three_weights_and_a_bias():
    s = load_spec(EXAMPLES / "seed002.toml")
    net = s.graph
    z = net.pre(2, 1)
    assert z.name == "z_1^(2)"
    used = {p.name for p in net.expr(z).free_symbols if p in net.parameters}
    assert used == {"w_11^(2)", "w_12^(2)", "w_13^(2)", "b_1^(2)"}
    assert net.activations == ["sigmoid", "linear"] and net.loss_symbol.name == "J"


def test_seed003_graph_reuses_deltas_over_both_samples():
    s = load_spec(EXAMPLES / "seed003.toml")
    g = s.graph
    assert s.kind == "graph" and s.notation is None
    assert [n.name for n in g.inputs] == ["x_1", "x_2"]
    assert [n.name for n in g.targets] == ["y_1", "y_2"]
    assert len(sb.derive(g).chain("W1")) == 2  # one path per sample
    assert g.latex_name(g.symbol("yhat_2")) == r"\hat{y}_{2}"
    L, y1, y2 = g.symbol("L"), g.symbol("y_1"), g.symbol("y_2")
    yh1, yh2 = g.symbol("yhat_1"), g.symbol("yhat_2")
    assert g.expr(L) == (y1 - yh1) ** 2 + (y2 - yh2) ** 2


def test_seed004_softmax_cross_entropy_is_one_hot():
    s = load_spec(EXAMPLES / "seed004.toml")
    net = s.graph
    assert s.notation == "matrix"
    assert [t.name for t in net.one_hot_groups[0]] == ["Y_1", "Y_2"]
    d = sb.derive(net)
    yhat1, y1 = net.symbol("Yhat_1"), net.symbol("Y_1")
    assert sp.simplify(d.value(net.pre(2, 1)) - (yhat1 - y1)) == 0


# -- parse_expression: valid input ----------------------------------------------------------------
ROUND_TRIPS = [
    ("w*x + b", w * x + b),
    ("w * x+b", w * x + b),
    ("2", sp.Integer(2)),
    ("0.5", sp.Rational(1, 2)),
    (".25*x", x / 4),
    ("1e-3*x", x / 1000),
    ("2.5E+2", sp.Integer(250)),
    ("x^2", x**2),
    ("x**2", x**2),
    ("-x^2", -(x**2)),
    ("(-x)^2", x**2),
    ("x^-1", 1 / x),
    ("2^3^2", sp.Integer(512)),  # right-associative: 2^(3^2)
    ("x^0.5", sp.sqrt(x)),
    ("x^(1/2)", sp.sqrt(x)),
    ("a - b - x", a - b - x),
    ("a / b / x", a / (b * x)),
    ("a - -b", a + b),
    ("+x", x),
    ("--x", x),
    ("(y - a)^2 / 2", (y - a) ** 2 / 2),
    ("sigmoid(w*x + b)", functions.sigmoid(w * x + b)),
    ("tanh(x)", sp.tanh(x)),
    ("relu(x)", functions.relu(x)),
    ("leaky_relu(x)", functions.leaky_relu(x, sp.Rational(1, 100))),
    ("leaky_relu(x, 0.2)", functions.leaky_relu(x, sp.Rational(1, 5))),
    ("leaky_relu(x, a)", functions.leaky_relu(x, a)),
    ("softplus(x)", functions.softplus(x)),
    ("exp(-x)", sp.exp(-x)),
    ("log(a)", sp.log(a)),
    ("sqrt(x^2 + 1)", sp.sqrt(x**2 + 1)),
    ("abs(x - y)", sp.Abs(x - y)),
    ("-(y*log(a) + (1 - y)*log(1 - a))", -(y * sp.log(a) + (1 - y) * sp.log(1 - a))),
    ("exp(x) / (exp(x) + exp(y))", sp.exp(x) / (sp.exp(x) + sp.exp(y))),
    ("sigmoid(sigmoid(x) * w) * 3", 3 * functions.sigmoid(functions.sigmoid(x) * w)),
    ("  x\t+\n y ", x + y),
    ("1000000000000 * x", 10**12 * x),
    ("(x^16)^16", x**256),
    ("0 * x", sp.Integer(0)),
    ("x^0", sp.Integer(1)),
]


@pytest.mark.parametrize(("text", "expected"), ROUND_TRIPS, ids=[t for t, _ in ROUND_TRIPS])
def test_parse_expression_round_trips(text, expected):
    got = parse_expression(text, NAMES)
    assert got == expected, (got, expected)


def test_parse_expression_uses_the_given_symbols():
    z = sp.Symbol("z_1", positive=True)
    assert parse_expression("z_1 + 1", {"z_1": z}).free_symbols == {z}


# -- parse_expression: hostile input --------------------------------------------------------------
HOSTILE = [
    "__import__('os')",
    "__import__('os').system('echo pwned')",
    "x.__class__",
    "().__class__",
    "().__class__.__bases__[0].__subclasses__()",
    "x.y",
    "x . y",
    "[x for x in y]",
    "[x]",
    "x[0]",
    "{x}",
    "{'a': 1}",
    "lambda: 1",
    "lambda x: x",
    "exec('1')",
    "eval",
    "eval('x')",
    "open('f')",
    "getattr(x,'y')",
    "compile('1', 'f', 'exec')",
    "sympify('x')",
    "globals()",
    "x if y else z",
    "x if y else a",
    "x; y",
    "x = 1",
    "x == y",
    "x, y",
    "(x, y)",
    "'str'",
    '"str"',
    "`x`",
    "\\input{a}",
    "x # comment",
    "import os",
    "not x",
    "x and y",
    "True",
    "None",
    "9**9**9**9",
    "2^1000",
    "2**17",
    "x^17",
    "x^y",
    "x^(1/0)",
    "x^exp(1)",
    "(10^12)^16^16",
    "((2^16)^16)^16",
    "((x^16)^16)^16",
    "(((2*x)^16)^16)^16",
    "1e13",
    "1e999999999",
    "1e-999999999",
    "0." + "0" * 60 + "1",
    "9" * 1000,
    "(" * 10000 + "x" + ")" * 10000,
    "(" * 999 + "x" + ")" * 999,
    "-" * 1500 + "x",
    "x" + "^x" * 60,
    "sigmoid(" * 60 + "x" + ")" * 60,
    "x\0",
    "\0",
    "x + \x07y",
    "x\x1b[31m",
    "a" * 10_000,
    "a" * 65,
    "x" + "+x" * 1500,
    "x − y",
    "σ(x)",
    "2x",
    "1.2.3",
    "x @ y",
    "x % y",
    "x | y",
    "~x",
    "x!",
    "$x",
    "x->y",
    "x := 1",
    "undeclared + x",
    "q",
    "foo(x)",
    "softmax(1, x, y)",
    "softmax",
    "sigmoid",
    "sigmoid()",
    "sigmoid(x, y)",
    "leaky_relu(x, y, a)",
    "log(x, 2)",
    "()",
    "",
    "   ",
    "x +",
    "* x",
    "(x",
    "x)",
    "x y",
    "x(y)",
    "(x)(y)",
    "x / 0",
    "x / (y - y)",
    "0^-1",
    "log(0)",
    "sqrt(-1)",
    "log(-1) * x",
    "1/0",
]


@pytest.mark.parametrize("text", HOSTILE, ids=[repr(t[:30]) for t in HOSTILE])
def test_hostile_expression_is_rejected(text):
    with pytest.raises(SpecError) as info:
        parse_expression(text, NAMES)
    message = str(info.value)
    assert "\n" not in message and len(message) < 400
    assert message.startswith("expression: ")


def test_hostile_corpus_is_large_enough():
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("__import__('os')", "column 1"),
        ("x.__class__", "attribute access"),
        ("w*q", "undeclared name 'q'"),
        ("w * xx", "did you mean 'x'"),
        ("exec('1')", "unknown function 'exec'"),
        ("x + 'a'", "column 5"),
        ("x + 'a'", "strings are not allowed"),
        ("9**9**9**9", "larger than 16"),
        ("2^1000", "exponent 1000"),
        ("x^y", "exponent must be a plain number"),
        ("(" * 60 + "x" + ")" * 60, "nesting is deeper than 50"),
        ("a" * 10_000, "the limit is 2000"),
        ("a" * 100, "100 characters long; the limit is 64"),
        ("x\0", "NUL byte"),
        ("x\x07", "control character U+0007"),
        ("x − y", "write -"),
        ("lambda: 1", "Python keyword 'lambda'"),
        ("x, y", "comma is only allowed between the arguments"),
        ("softmax(1, x)", "softmax is not allowed in a graph expression"),
        ("sigmoid(x, y)", "takes 1 argument, got 2"),
        ("x / 0", "division by zero"),
        ("log(0)", "not finite and real"),
        ("2x", "write * between them"),
        ("(x", "never closed"),
        ("1e13", "larger than 1e12"),
    ],
)
def test_hostile_expression_messages_say_what_and_where(text, fragment):
    with pytest.raises(SpecError, match=re.escape(fragment)):
        parse_expression(text, NAMES)


def test_expression_reader_never_evaluates_code():
    source = inspect.getsource(spec)
    calls = re.findall(r"(?<![\w.])(eval|exec|compile|S)\s*\(", source)
    calls += re.findall(r"\b(sympify|parse_expr|literal_eval)\s*\(", source)
    assert calls == []
    assert not re.search(r"^\s*(import|from) ast\b", source, re.M)


def test_names_must_map_to_sympy_expressions():
    with pytest.raises(TypeError):
        parse_expression("x + 1", {"x": "__import__('os')"})


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_any_text_parses_or_raises_spec_error(text):
    try:
        result = parse_expression(text, NAMES)
    except SpecError:
        return
    assert isinstance(result, sp.Expr)
    assert result.free_symbols <= set(NAMES.values())


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="xyab0123456789.+-*/^() ,eE_", max_size=80))
def test_grammar_soup_parses_or_raises_spec_error(text):
    try:
        result = parse_expression(text, NAMES)
    except SpecError:
        return
    assert isinstance(result, sp.Expr) and not result.has(sp.zoo, sp.nan, sp.I)


# -- LaTeX spellings ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "good",
    [r"\hat{y}", "w_{11}^{(2)}", r"\delta^{[1]}_{2}", r"\mathbf{W}^{[l]}", "x'", r"\sigma",
     r"\tilde{x}_{i,j}", "h_{l+1}", r"\bar{z}", r"\operatorname{ReLU}"],
)
def test_safe_latex_is_accepted(good):
    assert check_latex(good) == good


@pytest.mark.parametrize(
    "bad",
    [r"\input{a}", r"\write18{rm}", r"\def\x{1}", r"\catcode", r"\\", "x}", "{x", "x$", "x%",
     "x#1", "x&y", "^^5cinput", "x_", "x^", "a~b", "", "\0", "x\ny", r"\ hat", "ö",
     r"\immediate", r"\csname x\endcsname", "x" * 300, 3],
)
def test_unsafe_latex_is_refused(bad):
    with pytest.raises(SpecError):
        check_latex(bad)


# -- malformed specs ------------------------------------------------------------------------------
NET = '[network]\nsizes = [2, 2, 1]\n'
GRAPH = """
[graph]
inputs = ["x"]
targets = ["y"]
parameters = ["w", "b"]
nodes = [ { name = "z", expr = "w*x + b" }, { name = "a", expr = "sigmoid(z)" } ]
loss = { name = "L", expr = "(y - a)^2 / 2" }
"""

MALFORMED = [
    # (spec text, key path the message must name, a fragment of the reason)
    ("title = 'x'\nnetwork = ", "", "invalid TOML"),
    ("a = " + "[" * 5000, "", "invalid TOML"),
    ("", "", "exactly one of the tables [network] or [graph]"),
    (NET + GRAPH, "", "exactly one of"),
    ("titel = 'x'\n" + NET, "titel", "did you mean 'title'"),
    ("title = 3\n" + NET, "title", "expected a string, got 3"),
    ("[network]\nsizes = [2, 0, 1]", "network.sizes[1]", "expected a positive integer, got 0"),
    ("[network]\nsizes = [2, 2.5, 1]", "network.sizes[1]", "expected a positive integer"),
    ("[network]\nsizes = [2, '2', 1]", "network.sizes[1]", 'got a string "2"'),
    ("[network]\nsizes = [2, true]", "network.sizes[1]", "got true"),
    ("[network]\nsizes = [2]", "network.sizes", "at least an input and an output"),
    ("[network]\nsizes = 3", "network.sizes", "expected an array, got 3"),
    ("[network]\nsizes = [100000, 1]", "network.sizes[0]", "the limit is"),
    ("[network]\nsizes = [1000, 1000, 1]", "network.sizes", "weights; the limit is"),
    ("[network]\nactivation = 'sigmoid'", "network", "missing key 'sizes'"),
    (NET + "activaton = 'tanh'", "network.activaton", "did you mean 'activation'"),
    (NET + "activation = 'sigmod'", "network.activation", "unknown activation"),
    (NET + "activation = ['tanh']", "network.activation", "1 activations given for 2 layers"),
    (NET + "activation = ['tanh', 'foo']", "network.activation[1]", "unknown activation"),
    (NET + "activation = 1", "network.activation", "got 1"),
    (NET + "loss = 'l2'", "network.loss", "unknown loss"),
    (NET + "loss = 'cross_entropy'", "network", "softmax"),
    (NET + "bias = 1", "network.bias", "expected true, false"),
    (NET + "bias = 'yes'", "network.bias", "expected true, false"),
    (NET + "notation = 'fancy'", "network.notation", "unknown notation"),
    (NET + "notation = 'custom'", "network.notation", "needs a [notation] table"),
    (NET + "[notation]\nbase = 'layered'", "notation", "needs network.notation = \"custom\""),
    (NET + "notation = 'custom'\n[notation]\nkeys = { wieght = 'v{n}' }", "notation.keys.wieght",
     "did you mean 'weight'"),
    (NET + "notation = 'custom'\n[notation]\nlatex = { weight = '\\input{{x}}' }",
     "notation.latex.weight", "\\input is not allowed"),
    (NET + "notation = 'custom'\n[notation]\nkeys = { weight = 'w{q}' }", "notation",
     "allowed fields"),
    (NET + "notation = 'custom'\n[notation]\nkeys = { weight = 'w' }", "notation",
     "declared twice"),
    (NET + "latex = { w9 = 'w' }", "network.latex.w9", "unknown name"),
    (NET + "latex = { w1 = '\\def' }", "network.latex.w1", "\\def is not allowed"),
    (NET + "[values]\nx1 = 'half'", "values.x1", 'expected a number, got a string "half"'),
    (NET + "[values]\nx1 = nan", "values.x1", "expected a finite number"),
    (NET + "[values]\nx1 = inf", "values.x1", "expected a finite number"),
    (NET + "[values]\nx1 = true", "values.x1", "expected a number, got true"),
    (NET + "[values]\nx1 = [1, 2]", "values.x1", "expected a number, got an array"),
    (NET + "[values]\nx3 = 1", "values.x3", "unknown name"),
    (NET + "[values]\nx1_ = 1", "values.x1_", "did you mean 'x1'"),
    (NET + "[values]\nz1 = 1", "values.z1", "is computed by the graph"),
    (NET + "[values]\n'w_11^(2)' = 1", 'values."w_11^(2)"', "unknown name"),
    ("values = 3\n" + NET, "values", "expected a table"),
    (NET + "[training]\nlearning_rate = 0", "training.learning_rate", "positive number"),
    (NET + "[training]\nlearning_rate = -0.1", "training.learning_rate", "positive number"),
    (NET + "[training]\nlearning_rate = '0.1'", "training.learning_rate", "expected a number"),
    (NET + "[training]\ndigits = 16", "training.digits", "integer from 0 to 15, got 16"),
    (NET + "[training]\ndigits = -1", "training.digits", "integer from 0 to 15"),
    (NET + "[training]\ndigits = 2.0", "training.digits", "integer from 0 to 15"),
    (NET + "[training]\nlr = 0.1", "training.lr", "unknown key"),
    (NET + "[training]\nrounding = 'up'", "training.rounding", "unknown rounding"),
    ("[network]\nsizes = [2, 2]\nactivation = 'softmax'\nloss = 'cross_entropy'\n"
     "[values]\ny1 = 0.5\ny2 = 0.7", "values", "must sum to 1"),
    (GRAPH.replace('"w", "b"', '"w", "y"'), "graph.parameters[1]",
     '"y" is already declared as a target (graph.targets[0])'),
    (GRAPH.replace('"w", "b"', '"w", "w"'), "graph.parameters[1]", "already declared"),
    (GRAPH.replace('name = "a"', 'name = "z"'), "graph.nodes[1].name", "already declared"),
    (GRAPH.replace('name = "L"', 'name = "x"'), "graph.loss.name", "already declared"),
    (GRAPH.replace('"w*x + b"', '"w*x + q"'), "graph.nodes[0].expr", "undeclared name 'q'"),
    (GRAPH.replace('"w*x + b"', '"w.x"'), "graph.nodes[0].expr", "attribute access"),
    (GRAPH.replace('"w*x + b"', '"__import__(\'os\')"'), "graph.nodes[0].expr", "column 1"),
    (GRAPH.replace('"w*x + b"', '"w*x + a"'), "graph.nodes[0].expr",
     "the nodes form a cycle (each uses the next): z -> a -> z"),
    (GRAPH.replace('"w*x + b"', '"w*z"'), "graph.nodes[0].expr", "cycle"),
    (GRAPH.replace('"w*x + b"', '"w*L"'), "graph.nodes[0].expr", "uses the loss"),
    (GRAPH.replace('"(y - a)^2 / 2"', '"L + a"'), "graph.loss.expr", "the loss uses itself"),
    (GRAPH.replace('"(y - a)^2 / 2"', '"2"'), "graph", "the loss is a constant"),
    (GRAPH.replace('"w*x + b"', "3"), "graph.nodes[0].expr", "expected an expression as a string"),
    (GRAPH.replace('expr = "w*x + b"', 'epxr = "w*x + b"'), "graph.nodes[0].epxr",
     "did you mean 'expr'"),
    (GRAPH.replace(', expr = "w*x + b"', ""), "graph.nodes[0]", "missing key 'expr'"),
    (GRAPH.replace('"w", "b"', '"w", "b-1"'), "graph.parameters[1]", "invalid name"),
    (GRAPH.replace('"w", "b"', '"w", "lambda"'), "graph.parameters[1]", "Python keyword"),
    (GRAPH.replace('"w", "b"', '"w", "exp"'), "graph.parameters[1]", "name of a function"),
    (GRAPH.replace('"w", "b"', '"w", 7'), "graph.parameters[1]", "expected a name as a string"),
    (GRAPH.replace('["w", "b"]', "[]"), "graph.parameters", "at least one parameter"),
    (GRAPH.replace('"w", "b"', '"w", "' + "b" * 70 + '"'), "graph.parameters[1]",
     "70 characters long; the limit is 64"),
    (GRAPH.replace("[graph]", "[graph]\nnotation = 'layered'"), "graph.notation", "unknown key"),
    (GRAPH + 'one_hot = ["y"]', "graph.one_hot", "at least two targets"),
    (GRAPH + 'one_hot = ["y", "x"]', "graph.one_hot[1]", "expected the name of a target"),
    (GRAPH + "latex = { w = '\\input{x}' }", "graph.latex.w", "\\input is not allowed"),
    (GRAPH + "latex = { q = 'q' }", "graph.latex.q", "unknown name"),
    (GRAPH.replace('expr = "sigmoid(z)"', 'expr = "sigmoid(z)", latex = "a$"'),
     "graph.nodes[1].latex", "not allowed"),
    (GRAPH + "[notation]\nbase = 'layered'", "notation", "belongs to a [network] spec"),
    (GRAPH + "[values]\nz = 1", "values.z", "is computed by the graph"),
    (GRAPH + 'inputs = ["q"]', "", "invalid TOML"),
]


@pytest.mark.parametrize(("text", "key", "fragment"), MALFORMED,
                         ids=[f"{k or 'top'}-{i}" for i, (_t, k, _f) in enumerate(MALFORMED)])
def test_malformed_spec_gives_one_line_error_naming_file_and_key(text, key, fragment):
    with pytest.raises(SpecError) as info:
        parse_spec(text, "seed.toml")
    err = info.value
    message = str(err)
    assert "\n" not in message
    assert message.startswith("seed.toml: " + (key + ": " if key else "")), message
    assert err.source == "seed.toml" and (err.key or "") == key
    assert fragment in message, message
    assert isinstance(err, ValueError)


def test_nodes_may_be_listed_in_any_order():
    text = GRAPH.replace(
        'nodes = [ { name = "z", expr = "w*x + b" }, { name = "a", expr = "sigmoid(z)" } ]',
        'nodes = [ { name = "a", expr = "sigmoid(z)" }, { name = "z", expr = "w*x + b" } ]',
    )
    g = parse_spec(text).graph
    assert [s.name for s in g.nodes] == ["z", "a", "L"]
    values = {"x": 0.5, "y": 1.0, "w": 0.3, "b": -0.1}
    assert sb.check_gradients(sb.derive(g), values).ok


def test_array_of_tables_form_and_graph_defaults():
    text = """
title = "array of tables"
[graph]
parameters = ["w"]
[[graph.nodes]]
name = "u"
expr = "w - 3"
[graph.loss]
name = "L"
expr = "u^2"
latex = '\\mathcal{L}'
"""
    s = parse_spec(text)
    assert s.title == "array of tables" and s.author == ""
    assert s.values == {} and s.learning_rate is None and s.digits is None
    assert s.graph.latex_name(s.graph.symbol("L")) == r"\mathcal{L}"
    assert sb.derive(s.graph).evaluate({"w": 1.0}).gradients["w"] == pytest.approx(-4.0)


def test_one_hot_targets_in_a_graph():
    text = """
[graph]
inputs = ["x"]
targets = ["y1", "y2"]
parameters = ["w1", "w2"]
nodes = [
  { name = "p1", expr = "exp(w1*x) / (exp(w1*x) + exp(w2*x))" },
  { name = "p2", expr = "exp(w2*x) / (exp(w1*x) + exp(w2*x))" },
]
loss = { name = "L", expr = "-(y1*log(p1) + y2*log(p2))" }
one_hot = ["y1", "y2"]
[values]
x = 1.5
y1 = 0
y2 = 1
w1 = 0.2
w2 = -0.3
"""
    s = parse_spec(text)
    assert [t.name for t in s.graph.one_hot_groups[0]] == ["y1", "y2"]
    assert sb.check_gradients(sb.derive(s.graph), s.values).ok


def test_custom_notation():
    text = NET + """notation = "custom"
[notation]
base = "layered"
name = "mine"
keys = { weight = "v_{ij}^({l})" }
latex = { weight = "v_{{{ij}}}^{{({l})}}" }
description = "layered, with v for weights"
[values]
"v_11^(1)" = 0.5
"""
    s = parse_spec(text)
    assert isinstance(s.notation, Notation) and s.notation.name == "mine"
    w = s.graph.weight(1, 1, 1)
    assert w.name == "v_11^(1)" and s.graph.latex_name(w) == "v_{11}^{(1)}"
    assert s.values == {"v_11^(1)": 0.5}
    assert "x_1^(0)" in s.missing_values


def test_network_latex_override_and_partial_values():
    s = parse_spec(NET + "latex = { yhat = '\\hat{o}' }\n[values]\nx1 = 1\n")
    assert s.graph.latex_name(s.graph.symbol("yhat")) == r"\hat{o}"
    assert s.values == {"x1": 1.0} and s.missing_values[0] == "x2"
    assert s.title == "MLP 2-2-1" and s.notation == "sequential"


def test_spec_is_frozen():
    s = parse_spec(NET)
    with pytest.raises(AttributeError):
        s.title = "changed"


def test_load_spec_errors_name_the_file(tmp_path):
    missing = tmp_path / "missing.toml"
    with pytest.raises(SpecError, match=r"missing\.toml: cannot read the file"):
        load_spec(missing)
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * spec.MAX_FILE_BYTES + "\n" + NET)
    with pytest.raises(SpecError, match=r"big\.toml: .*larger than 1000000 bytes"):
        load_spec(big)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"title = '\xe9'\n" + NET.encode())
    with pytest.raises(SpecError, match=r"latin\.toml: the file is not UTF-8"):
        load_spec(latin)
    bad = tmp_path / "bad.toml"
    bad.write_text(NET.replace("[2, 2, 1]", "[2, 0, 1]"))
    with pytest.raises(SpecError) as info:
        load_spec(bad)
    assert str(info.value) == f"{bad}: network.sizes[1]: expected a positive integer, got 0"


def test_parse_spec_refuses_huge_text():
    with pytest.raises(SpecError, match="larger than"):
        parse_spec("#" * (spec.MAX_FILE_BYTES + 1))


def test_expression_limits_are_documented_constants():
    assert spec.MAX_EXPRESSION_CHARS == 2000
    assert spec.MAX_DEPTH == 50
    assert spec.MAX_EXPONENT == 16
    assert spec.MAX_NUMBER == 10**12
    assert spec.MAX_NAME_CHARS == 64
    parse_expression("(" * 50 + "x" + ")" * 50, NAMES)  # exactly at the limit
    parse_expression("x^16 + x^-16 + 2^16", NAMES)
    parse_expression("a" * 64, {"a" * 64: x})

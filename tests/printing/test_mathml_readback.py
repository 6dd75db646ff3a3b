"""The MathML itself says what the equations say: read back into SymPy, it equals the engine's
expressions (issue 24's check that empty or wrong MathML behind a correct alttext fails)."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET

import pytest
import sympy as sp
from mathml_read import Names, ReadError, content, read

import symbackprop as sb
from symbackprop.core import ops
from symbackprop.printing.latex import TexPrinter
from symbackprop.printing.mathml import MATHML_NS, equation_mathml, tex_to_mathml

M = "{" + MATHML_NS + "}"

NETWORKS = {
    "mlp": lambda: sb.mlp([2, 2, 1], activation="sigmoid", loss="mse", bias=True),
    "mlp-gelu-softmax": lambda: sb.mlp([2, 2, 2], activation=["gelu", "softmax"],
                                       loss="cross_entropy", bias=True),
    "rnn": lambda: sb.rnn(1, 1, 1, steps=2),
}


def names_of(derivation) -> Names:
    """The derivation's symbols by the LaTeX the documents print, the registry's functions."""
    return Names(TexPrinter(derivation).names, {op.latex: op.function for op in ops.FUNCTIONS})


def same(got: sp.Expr, want: sp.Expr) -> bool:
    """Equal symbolically, or (where simplify gives up) at three random points."""
    if sp.simplify(got - want) == 0:
        return True
    rng = random.Random(0)
    symbols = sorted(got.free_symbols | want.free_symbols, key=str)
    for _ in range(3):
        point = {s: sp.Rational(rng.randint(1, 99), 100) for s in symbols}
        a, b = complex(got.subs(point).evalf(30)), complex(want.subs(point).evalf(30))
        if abs(a - b) > 1e-12 * max(1.0, abs(b)):
            return False
    return True


@pytest.fixture(scope="module", params=sorted(NETWORKS))
def printed(request):
    """(names, [(expression, its LaTeX as the documents print it)]) of a scalar form."""
    net = NETWORKS[request.param]()
    d = sb.derive(net)
    tex = TexPrinter(d)
    sides = [side for eq in sb.scalar_form(d).equations() for side in (eq.lhs, eq.rhs)]
    return names_of(d), [(side, tex(side)) for side in sides]


def test_every_scalar_equation_reads_back_from_its_mathml(printed):
    names, sides = printed
    assert len(sides) > 30
    for expr, tex in sides:
        assert same(read(tex_to_mathml(tex), names), expr), tex


def test_an_aligned_equation_reads_back_cell_by_cell(printed):
    # the HTML's display equations are equation_mathml's table: lhs | = | rhs in each row
    names, sides = printed
    for (lhs, lhs_tex), (rhs, rhs_tex) in zip(sides[::2], sides[1::2], strict=True):
        table = ET.fromstring(equation_mathml(lhs_tex, [("=", [rhs_tex])])).find(f"{M}mtable")
        (row,) = table.findall(f"{M}mtr")
        left, relation, right = row.findall(f"{M}mtd")
        assert "".join(relation.itertext()) == "="
        assert same(read(left, names), lhs) and same(read(right, names), rhs), rhs_tex


def drop_last_term(mathml: str) -> str:
    """The MathML with its last ``+ term`` cut out of its top row (what a lost term looks like)."""
    root = ET.fromstring(mathml)
    row = list(root)
    plus = max(k for k, e in enumerate(row) if e.tag == f"{M}mo" and e.text == "+")
    for e in row[plus:]:
        root.remove(e)
    return ET.tostring(root, encoding="unicode")


def test_a_dropped_term_fails_the_comparison():
    net = sb.rnn(1, 1, 1, steps=2)
    d = sb.derive(net)
    names, tex = names_of(d), TexPrinter(d)
    gradient = sb.scalar_form(d).equation("gradient", "V").rhs  # h1 δo1 + h2 δo2
    whole = tex_to_mathml(tex(gradient))
    assert same(read(whole, names), gradient)
    assert not same(read(drop_last_term(whole), names), gradient)


def test_a_changed_number_fails_the_comparison():
    net = sb.mlp([1, 1], activation="sigmoid", loss="mse")
    d = sb.derive(net)
    names, tex = names_of(d), TexPrinter(d)
    expr = sb.scalar_form(d).equation("delta", "yhat").rhs  # 2 ŷ − 2 y
    wrong = tex_to_mathml(tex(expr)).replace("<mn>2</mn>", "<mn>3</mn>", 1)
    assert not same(read(wrong, names), expr)


def test_empty_mathml_behind_a_correct_alttext_is_refused():
    net = sb.mlp([1, 1])
    names = names_of(sb.derive(net))
    empty = f'<math xmlns="{MATHML_NS}" alttext="w_{{1}} x_{{1}}"></math>'
    with pytest.raises(ReadError):
        read(empty, names)


def test_an_unknown_identifier_is_refused_not_guessed():
    names = names_of(sb.derive(sb.mlp([1, 1])))
    with pytest.raises(ReadError):
        read(tex_to_mathml(r"w_{1} q_{7}"), names)


def test_sums_fractions_roots_and_derivatives_read_back():
    i, n, w, x, L = sp.Symbol("i", integer=True), *sp.symbols("n w x L")
    names = Names({n: "n", w: "w_{i}", x: "x", L: "L"})
    cases = {
        r"\sum_{i=1}^{n} w_{i}": sp.Sum(w, (i, 1, n)),
        r"\frac{\partial L}{\partial x}": sp.Derivative(L, x),
        r"\sqrt{\frac{x}{n + 1}} - e^{- x}": sp.sqrt(x / (n + 1)) - sp.exp(-x),
        r"\tanh{\left(x \right)} \cdot \left(1 - x\right)^{2}": sp.tanh(x) * (1 - x) ** 2,
    }
    for tex, want in cases.items():
        for display in (False, True):  # a display sum is munderover, an inline one msubsup
            got = read(content(tex_to_mathml(tex, display=display)), names)
            assert got == want, (tex, display)


def at_example(derivation, example):
    """The value of an expression the notes write, at a worked example's numbers: leaves,
    nodes and δs by their symbols, ∂L/∂v and ∂a/∂b by the example's own derivatives."""
    graph = derivation.graph
    numbers = {graph.symbol(k): sp.Float(v) for k, v in {**example.values, **example.nodes}.items()}
    numbers.update({s: sp.Float(example.deltas[v.name]) for v, s in derivation.delta_symbols.items()
                    if v.name in example.deltas})

    def value(expr) -> complex:
        derivatives = {}
        for der in expr.atoms(sp.Derivative):
            (var, _), = der.variable_count
            top, var = der.expr.name, var.name
            if top == graph.loss_symbol.name:
                known = example.gradients if var in example.gradients else example.deltas
                derivatives[der] = sp.Float(known[var])
            else:
                derivatives[der] = sp.Float(example.local_derivatives[(top, var)])
        return complex(expr.xreplace(derivatives).xreplace(numbers).evalf(30))

    return value


#: The notes' sections whose every line is an expression of the network's quantities.
READ_SECTIONS = ("forward", "loss", "locals", "deltas", "gradients")


@pytest.mark.parametrize("network", ["mlp", "rnn"])
def test_every_line_the_notes_show_reads_back_equal_to_its_left_hand_side(network):
    # the Document's own equations, as the HTML shows them: each line's MathML, read back and
    # evaluated at a worked example, is the value of the equation's left-hand side
    net = NETWORKS[network]()
    d = sb.derive(net)
    example = sb.worked_example(d, {s.name: 0.1 * (k + 3) for k, s in enumerate(net.leaves)})
    value, names = at_example(d, example), names_of(d)
    doc = sb.build_document(d)
    lines = 0
    for section in (s for s in doc.sections if s.key in READ_SECTIONS):
        for eq in (e for sub in section.walk() for b in sub.blocks
                   if hasattr(b, "equations") for e in b.equations):
            rows = [r.findall(f"{M}mtd") for r in
                    ET.fromstring(equation_mathml(eq.lhs, eq.steps)).findall(f"{M}mtable/{M}mtr")]
            lhs = value(read(rows[0][0], names))
            for step in steps_in(rows):
                rhs = value(read(step, names))
                assert abs(rhs - lhs) <= 1e-9 * max(1.0, abs(lhs)), (eq.label, lhs, rhs)
                lines += 1
    assert lines > 40


def steps_in(rows: list[list[ET.Element]]) -> list[ET.Element]:
    """Each step's right-hand side as one row: a step begins where a relation stands, and its
    continued lines (the rows after, indented) go on with its expression."""
    steps: list[ET.Element] = []
    for _, relation, rhs in rows:
        if len(relation):
            steps.append(ET.Element(f"{M}mrow"))
        steps[-1].extend(list(rhs))
    return steps

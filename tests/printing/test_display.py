"""Every public class shows itself in Jupyter, in the notation the documents print.

The documents print symbols through the derivation's TexPrinter and the graph's textbook
spellings (δ_{z_{1}}, w_{11}^{(1)}, δ^{o}_{1}); a display that printed through SymPy's own printer
said δ_{z1} and δ_{o 1} instead. These tests build one object of every class ``sb`` exports and
read its rich display.
"""

from __future__ import annotations

import enum
import inspect

import pytest

import symbackprop as sb
from symbackprop.codegen.general import BatchedEvaluator
from symbackprop.printing.display import key_latex
from symbackprop.printing.latex import TexPrinter

RICH = ("_repr_latex_", "_repr_markdown_", "_repr_html_")
#: public classes with no display of their own, and why
WITHOUT = {
    "Kind": "an enum member prints its name",
    "LintResult": "teaching/ (the lint report's text is its display); left to its owner",
}

MLP_VALUES = dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)
RNN_SIZES = dict(T=2, n_h=2, n_x=1, n_y=1)


def _public_classes():
    for name in sb.__all__:
        obj = getattr(sb, name)
        if inspect.isclass(obj) and not issubclass(obj, (BaseException, enum.Enum)) \
                and obj.__module__.startswith("symbackprop"):
            yield name, obj
    yield "BatchedEvaluator", BatchedEvaluator


def _display(obj) -> str:
    for method in RICH:
        shown = getattr(obj, method, lambda: None)()
        if shown:
            return shown
    raise AssertionError(f"{type(obj).__name__} has no rich display")


@pytest.mark.parametrize(("name", "cls"), list(_public_classes()))
def test_every_public_class_has_a_rich_display(name, cls):
    if name in WITHOUT:
        assert not any(hasattr(cls, m) for m in RICH), f"{name} has a display now: drop it here"
        return
    assert any(callable(getattr(cls, m, None)) for m in RICH), name


def _objects():
    """One object of every displayed public class, each with the printer of its notation."""
    mlp = sb.mlp([2, 2, 1])
    d = sb.derive(mlp)
    t = TexPrinter(d)
    rnn = sb.rnn(1, 2, 1, 2)
    dr = sb.derive(rnn)
    general = sb.general_form(rnn)
    mf = sb.matrix_form([2, 2, 1])
    return {
        "Graph": (mlp, None),
        "Derivation": (d, [t(sp) for sp in mlp.parameters[:3]]),
        "Delta": (d.delta("z1"), [t(d.delta_symbols[mlp.symbol("z1")]), t(mlp.symbol("h1"))]),
        "Delta of an RNN": (dr.delta(rnn.delta_nodes[2]),
                            [TexPrinter(dr)(dr.delta_symbols[rnn.delta_nodes[2]])]),
        "Chain": (d.chain("w1"), [t(mlp.symbol("w1"))]),
        "Factor": (d.chain("w1").paths[0][-1], [t(mlp.symbol("z1")), t(mlp.symbol("w1"))]),
        "Evaluation": (d.evaluate(MLP_VALUES), [t(mlp.symbol("w5"))]),
        "GradientCheck": (sb.check_gradients(d, MLP_VALUES), [t(mlp.symbol("w5"))]),
        "WorkedExample": (sb.worked_example(d, MLP_VALUES), [t(mlp.symbol("w5"))]),
        "ScalarForm": (sb.scalar_form(mlp), [t(mlp.symbol("z1"))]),
        "MatrixForm": (mf, [r"\delta^{[2]}"]),
        "MatrixCheck": (mf.check(), None),
        "BatchEvaluator": (mf.evaluator(), None),
        "GeneralForm": (general, [r"h_{t,j}", r"n_{h}"]),
        "CheckReport": (general.check(RNN_SIZES), None),
        "BatchedEvaluator": (general.evaluator(RNN_SIZES), [r"n_{h} = 2"]),
        "Notation": (sb.NOTATIONS["layered"], [r"w_{ij}^{(l)}"]),
        "Document": (sb.build_document(d), [t(mlp.symbol("z1")), r"\frac{\partial z_{1}}"]),
    }


def test_each_display_spells_symbols_as_the_documents_do():
    for what, (obj, spelled) in _objects().items():
        shown = _display(obj)
        for tex in spelled or []:
            assert tex in shown, (what, tex, shown[:300])
        # SymPy's own spellings of our names, which the documents never print
        for raw in (r"\delta_{z1}", r"\delta_{o 1}", r"\delta_{o 2}", "delta_z"):
            assert raw not in shown, (what, raw)


def test_a_delta_is_spelled_as_in_the_derivation_section():
    d = sb.derive(sb.mlp([2, 2, 1]))
    shown = d.delta("z1")._repr_latex_()
    assert shown.count(r"\delta_{z_{1}}") == 1 and r"\delta_{z_{3}}" in shown


def test_value_keys_read_as_textbook_spellings_where_no_graph_is_at_hand():
    assert key_latex("w_11^(1)") == "w_{11}^{(1)}"
    assert key_latex("W_12^[3]") == "W_{12}^{[3]}"
    assert key_latex("h_2,1") == "h_{2,1}"
    assert key_latex("yhat_2") == r"\hat{y}_{2}"
    assert key_latex("x1") == "x_{1}"
    assert key_latex("delta") == r"\delta"


def test_an_evaluation_of_a_layered_net_names_its_rows_as_the_notes_do():
    net = sb.mlp([1, 1], notation="layered")
    values = {p.name: 0.2 for p in net.leaves}
    shown = sb.derive(net).evaluate(values)._repr_markdown_()
    assert "| $w_{11}^{(1)}$ |" in shown and "w\\_11" not in shown

"""gradcheck.py: the engine's gradients against central finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from networks import ATTENTION_1E215, seed000_by_hand

import symbackprop as sb
from symbackprop.check.report import GeneralCheck, GeneralCheckRow, largest_error, table_lines
from symbackprop.core.errors import ValuesError


# -- rows and verdicts ------------------------------------------------------------------------
def test_check_gradients_seed000(seed000_derivation, seed000_values):
    result = sb.check_gradients(seed000_derivation, seed000_values)
    assert result.ok
    assert result.max_error < 1e-6
    assert [r.name for r in result.rows] == ["w1", "w2", "w3", "w4", "w5", "w6"]
    assert result.skipped == []
    ref = seed000_by_hand(seed000_values)
    row = {r.name: r for r in result.rows}["w5"]
    assert row.engine == pytest.approx(ref["dw5"], rel=1e-12)
    assert row.finite_difference == pytest.approx(ref["dw5"], rel=1e-6)
    assert "all gradients agree" in str(result)


def test_check_gradients_accepts_a_graph(seed000_net, seed000_values):
    assert sb.check_gradients(seed000_net, seed000_values).ok


def test_check_gradients_on_a_batch(seed000_derivation, seed000_values):
    batch = dict(seed000_values, x2=np.array([-1.0, 0.0, 0.3, 2.0]))
    assert sb.check_gradients(seed000_derivation, batch).ok


def test_wrong_delta_is_caught(seed000_net, seed000_values):
    d = sb.derive(seed000_net)  # a private derivation: it is tampered with
    z1 = seed000_net.pre(1, 1)
    assert "evaluator" not in d.__dict__  # the evaluator is built after the tampering
    d.deltas[z1] = 2 * d.deltas[z1]  # as if σ' had been taken twice
    result = sb.check_gradients(d, seed000_values)
    assert not result.ok
    bad = sorted(r.name for r in result.rows if not r.ok)
    assert bad == ["w1", "w3"]  # exactly the weights into z1
    assert "WRONG" in str(result) and "SOME GRADIENTS DISAGREE" in str(result)


def test_wrong_parameter_gradient_is_caught(seed000_net, seed000_values):
    d = sb.derive(seed000_net)
    w6 = seed000_net.weight(2, 2, 1)
    h1 = seed000_net.symbol("h1")
    d.deltas[w6] = d.deltas[w6].xreplace({seed000_net.symbol("h2"): h1})  # wrong input
    result = sb.check_gradients(d, seed000_values)
    assert [r.name for r in result.rows if not r.ok] == ["w6"]


def test_relu_kink_rows_are_skipped_with_a_reason():
    net = sb.mlp([2, 2, 1], activation="relu")
    d = sb.derive(net)
    # z1 = w1*x1 + w3*x2 = 0.5*0.4 - 0.5*0.4 = 0 exactly: h1 sits on relu's kink
    values = dict(x1=0.4, x2=0.4, y=1.0, w1=0.5, w2=0.3, w3=-0.5, w4=0.6, w5=0.55, w6=0.45)
    assert d.evaluate(values).nodes["z1"] == 0.0
    result = sb.check_gradients(d, values)
    skipped = {r.name: r.skipped for r in result.skipped}
    assert set(skipped) == {"w1", "w3"}  # the weights that move z1 off 0
    for reason in skipped.values():
        assert "kink" in reason and "w1*x1 + w3*x2" in reason
    # the other rows are still compared with finite differences
    checked = [r for r in result.rows if not r.skipped]
    assert [r.name for r in checked] == ["w2", "w4", "w5", "w6"]
    assert all(np.isfinite(r.finite_difference) for r in checked)
    assert result.ok
    assert "skipped" in str(result)


def test_relu_kink_crossed_by_the_step_is_skipped():
    net = sb.mlp([1, 1], activation="relu")
    d = sb.derive(net)
    values = dict(x1=1.0, w1=1e-9, y=1.0)  # a step of 1e-6 in w1 crosses z = 0
    result = sb.check_gradients(d, values)
    assert [r.name for r in result.skipped] == ["w1"]
    values["w1"] = 0.3
    result = sb.check_gradients(d, values)
    assert result.skipped == [] and result.ok


# -- the check catches a wrong derivative ------------------------------------------------------
class _careless_sigmoid(sb.sigmoid):  # noqa: N801 - a sigmoid whose derivative forgets (1 − σ)
    def fdiff(self, argindex=1):
        return self


def _mutated(mutation: str) -> tuple[sb.Derivation, dict]:
    net = sb.mlp([2, 2, 1])
    d = sb.derive(net)
    s = net.symbol
    if mutation == "sign of the output δ":
        d.deltas[s("z3")] = -d.deltas[s("z3")]
    elif mutation == "factor 2 in one hidden δ":
        d.deltas[s("z1")] = 2 * d.deltas[s("z1")]
    elif mutation == "wrong activation in one gradient":
        d.deltas[s("w5")] = d.deltas[s("w5")].xreplace({s("h1"): s("h2")})
    return d, dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)


@pytest.mark.parametrize(("mutation", "wrong"), [
    ("sign of the output δ", {"w1", "w2", "w3", "w4", "w5", "w6"}),
    ("factor 2 in one hidden δ", {"w1", "w3"}),
    ("wrong activation in one gradient", {"w5"}),
])
def test_check_gradients_catches_a_mutated_derivation(mutation, wrong):
    d, values = _mutated(mutation)  # mutated before the evaluator is generated from it
    result = sb.check_gradients(d, values)
    assert not result.ok
    assert {r.name for r in result.rows if not r.ok} == wrong
    assert "WRONG" in str(result)


def test_check_gradients_catches_a_wrong_derivative_rule():
    g = sb.Graph()
    x, w, y = g.input("x"), g.parameter("w"), g.target("y")
    a = g.node("a", _careless_sigmoid(w * x))
    g.loss("L", (y - a) ** 2)
    values = {"x": 0.8, "w": -0.4, "y": 1.0}
    result = sb.check_gradients(sb.derive(g), values)
    assert not result.ok and [r.name for r in result.rows if not r.ok] == ["w"]


# -- large and overflowing losses ------------------------------------------------------------
def test_large_losses_do_not_make_the_check_report_a_false_wrong():
    # defect 3: the finite-difference tolerance now includes the round-off of L
    g = sb.Graph()
    w, u, x = g.parameter("w"), g.parameter("u"), g.input("x")
    a = g.node("a", u * x)
    g.loss("L", 10**6 * a**2 + w**2 / 100)
    for values in (dict(x=1.0, u=1.0, w=1.0), dict(x=2.0, u=-5.1, w=2.3)):
        assert sb.check_gradients(g, values).ok


def test_a_loss_beyond_float64_is_refused_by_the_check_in_one_line():
    # reproducer 01's last case: (1e200)² overflows; the check said WRONG with nan
    net = sb.mlp([1, 1], activation="identity")
    with pytest.raises(ValueError, match="the loss is inf at these values"):
        sb.check_gradients(net, dict(x1=1e200, y=0.0, w1=1.0))


# -- issue 21: a nan is reported as a nan ---------------------------------------------------------
_HUGE = dict(x1=-3e298, x2=0.5, y=1.0, w1=-1e299, w2=-1e299, w3=1e299, w4=1e299, w5=1e299, w6=1e299)


def test_a_node_float64_cannot_hold_is_refused_naming_it_not_tabled_as_nan_or_0():
    # h1 overflows to inf and δ_z3 = 0, so ∂L/∂w5 = 0·inf: torch in float64 says nan too. The
    # max error once read 0.00e+00 under SOME GRADIENTS DISAGREE; a nan then read nan; now the
    # values are refused in one line naming the node, as example and notes refuse them.
    torch = pytest.importorskip("torch")
    net = sb.mlp([2, 2, 1], activation=["identity", "sigmoid"], loss="mse")
    with pytest.raises(ValuesError, match=r"the node \S+ overflows float64"):
        sb.check_gradients(net, _HUGE)
    x = torch.tensor([_HUGE["x1"], _HUGE["x2"]], dtype=torch.float64)
    w = {k: torch.tensor(_HUGE[k], dtype=torch.float64, requires_grad=True)
         for k in ("w1", "w2", "w3", "w4", "w5", "w6")}
    h1, h2 = w["w1"] * x[0] + w["w3"] * x[1], w["w2"] * x[0] + w["w4"] * x[1]
    ((_HUGE["y"] - torch.sigmoid(w["w5"] * h1 + w["w6"] * h2)) ** 2).backward()
    assert math.isnan(w["w5"].grad.item())  # what a table would have had to show


def test_a_gradient_float64_loses_with_every_node_finite_is_refused_in_one_line():
    # c/softplus(r²) at r = 1.8e308: the node is 0, its gradient inf/inf = nan in float64
    g = sb.Graph("g")
    r = g.parameter("r")
    n = g.node("n", 3 / sb.softplus(r * r))
    g.loss("L", (n - 1) ** 2)
    with pytest.raises(ValuesError, match="float64 loses the gradient for r"):
        sb.check_gradients(g, {"r": 1.7976931348623157e308})


@pytest.mark.parametrize("errors", [[0.0, float("nan")], [float("nan"), 0.0], [1.0, float("nan"), 2.0]])
def test_the_largest_error_is_nan_wherever_the_nan_stands(errors):
    assert np.isnan(largest_error(errors))
    report = GeneralCheck(tuple(GeneralCheckRow("delta", f"q{i}", e, e < 1e-9)
                                for i, e in enumerate(errors)), {"n": 2}, 1e-9)
    assert np.isnan(report.max_error) and "max error nan at n=2: SOME" in str(report)
    assert largest_error([e for e in errors if e == e]) == max(e for e in errors if e == e)


# -- issue 21: where float64's finite difference cannot judge, a high-precision one does ---------


def _attention():
    spec = sb.parse_spec(ATTENTION_1E215)
    return spec.graph, spec.values


def test_a_saturated_softmax_is_judged_ok_in_high_precision_not_wrong():
    graph, values = _attention()
    report = sb.check_gradients(graph, values)
    rows = {r.name: r for r in report.rows}
    assert report.ok and not report.unchecked
    for name in ("q_2", "k_1,1", "k_2,1"):  # float64's difference said ±1.61e+244
        assert rows[name].ok and rows[name].digits > 0 and rows[name].finite_difference == 0.0
    assert "WRONG" not in str(report)


def test_a_gradient_no_reference_can_judge_is_unchecked_neither_ok_nor_wrong(monkeypatch):
    from symbackprop.check import precise
    monkeypatch.setattr(precise, "MAX_DIGITS", 60)
    graph, values = _attention()
    report = sb.check_gradients(graph, values)
    assert report.ok  # nothing disagrees, so check exits 0 ...
    assert {"q_2", "k_1,1", "k_2,1"} <= {r.name for r in report.unchecked}
    text = str(report)  # ... and the table and the verdict say what was not checked
    assert "unchecked: the loss needs more than" in text and "WRONG" not in text
    assert text.splitlines()[-1].endswith(f"{len(report.unchecked)} unchecked")


def _saturating_graph(tamper: bool):
    g = sb.Graph()
    w, x, y = g.parameter("w"), g.input("x"), g.target("y")
    a = g.node("a", sb.sigmoid(w * x))
    g.loss("L", (y - a) ** 2)
    d = sb.derive(g)
    if tamper:
        d.deltas[a] = 2 * d.deltas[a]
    return d


@pytest.mark.parametrize("w", [1e-300, 3e-300, -2e-300])
def test_a_logit_moved_by_1e300_per_unit_is_judged_right_and_a_doubled_delta_still_wrong(w):
    values = {"w": w, "x": 1e300, "y": 0.25}
    right = sb.check_gradients(_saturating_graph(False), values)
    assert right.ok and right.rows[0].digits > 0
    wrong = sb.check_gradients(_saturating_graph(True), values)
    assert not wrong.ok and "WRONG" in str(wrong) and not wrong.rows[0].float_lost


def test_a_wrong_gradient_the_reference_cannot_judge_stays_wrong_where_floats_were_sound():
    # test_check_gradients_catches_a_wrong_derivative_rule's function is unknown to the
    # reference; float64's difference was sound there, so its WRONG stands
    g = sb.Graph()
    x, w, y = g.input("x"), g.parameter("w"), g.target("y")
    g.loss("L", (y - g.node("a", _careless_sigmoid(w * x))) ** 2)
    report = sb.check_gradients(sb.derive(g), {"x": 0.8, "w": -0.4, "y": 1.0})
    assert not report.ok and not report.unchecked


@given(st.lists(st.tuples(st.text("abcdefghijk_,^[]0123456789", min_size=1, max_size=30),
                          st.floats(allow_nan=True), st.floats(allow_nan=True)),
                min_size=1, max_size=6))
def test_the_tables_columns_never_touch_however_wide_the_numbers(rows):
    cells = [("parameter", "engine", "finite diff.", "error", "status")]
    cells += [(name, f"{a:.9g}", f"{b:.9g}", f"{abs(a - b) if a == a else 0:.2e}", "ok")
              for name, a, b in rows]
    for line, row in zip(table_lines(cells, "<>>><"), cells, strict=True):
        assert line.split() == [word for cell in row for word in cell.split()]


def test_a_step_lost_in_rounding_is_judged_in_high_precision(seed000_net, seed000_values):
    # eps = 1e-20: w + h == w in float64, whose difference read 0 for every weight (WRONG)
    report = sb.check_gradients(seed000_net, seed000_values, eps=1e-20)
    assert report.ok and all(r.digits > 0 for r in report.rows)
    ref = seed000_by_hand(seed000_values)
    assert {r.name: r for r in report.rows}["w5"].finite_difference == pytest.approx(
        ref["dw5"], rel=1e-12)


def test_a_nan_finite_difference_is_judged_in_high_precision_not_wrong():
    # s452's v_1,1,1: w at float64's largest, so w + h is inf and inf·0 makes the loss nan
    g = sb.Graph()
    w, x, y = g.parameter("w"), g.input("x"), g.target("y")
    g.loss("L", (y - sb.sigmoid(w * x)) ** 2)
    report = sb.check_gradients(g, {"w": 1.7976931348623157e308, "x": 0.0, "y": 1.0})
    row = report.rows[0]
    assert report.ok and row.digits > 0 and row.finite_difference == 0.0 and row.error == 0.0


def test_a_wrong_row_whose_formula_agrees_in_high_precision_says_float64_lost_it():
    # c·(eᵂ − w)′ = c(eᵂ − 1) keeps 4 digits of 1e-12 in float64 (s437's SiLU′ cancelled so
    # until its stable form): the derivation is right, the evaluator's number is not: still
    # WRONG, and why
    g = sb.Graph()
    w, c = g.parameter("w"), g.input("c")
    g.loss("L", c * (sp.exp(w) - w))
    report = sb.check_gradients(g, {"w": 1e-12, "c": 1e20})
    row = report.rows[0]
    assert not report.ok and row.float_lost
    assert row.finite_difference == pytest.approx(1e8, rel=1e-12)
    assert "its formula agrees, float64 loses it" in str(report)


@settings(max_examples=30, deadline=None)
@given(c=st.floats(-5, 5), k=st.integers(0, 300), y=st.floats(0, 1))
def test_a_right_derivation_is_never_wrong_however_far_the_logit_scales(c, k, y):
    # w·x = c with x = 10^k: float64's step in w moves the logit by 10^(k−6)
    values = {"w": c * 10.0**-k, "x": 10.0**k, "y": y}
    report = sb.check_gradients(_saturating_graph(False), values)
    assert report.ok and not report.unchecked, str(report)

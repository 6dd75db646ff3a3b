"""Numbers from a derivation: the evaluator, finite-difference checks, worked examples."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import sympy as sp
from networks import seed000_by_hand, sig

import symbackprop as sb
from symbackprop.check.worked import round_half_up
from symbackprop.codegen.scalar import NUMPY_FUNCTIONS


# -- evaluate ------------------------------------------------------------------------------------
def test_evaluate_returns_nodes_loss_and_gradients(seed000_derivation, seed000_values):
    ev = seed000_derivation.evaluate(seed000_values)
    assert list(ev.nodes) == ["z1", "z2", "h1", "h2", "z3", "yhat", "L"]
    assert list(ev.gradients) == ["w1", "w2", "w3", "w4", "w5", "w6"]
    assert set(ev.deltas) >= {"z1", "z2", "z3"}
    assert ev.loss == ev.nodes["L"]
    ref = seed000_by_hand(seed000_values)
    for name in ("z1", "z2", "h1", "h2", "z3", "yhat", "L"):
        assert ev.nodes[name] == pytest.approx(ref[name], rel=1e-13)
    for name in ("w5", "w6", "w1"):
        assert ev.gradients[name] == pytest.approx(ref["d" + name], rel=1e-12)
    assert all(isinstance(x, float) for x in [*ev.nodes.values(), *ev.gradients.values()])


def test_loss_only(seed000_derivation, seed000_values):
    assert seed000_derivation.evaluator.loss(seed000_values) == pytest.approx(
        seed000_by_hand(seed000_values)["L"], rel=1e-13
    )


def test_symbols_as_keys(seed000_net, seed000_derivation, seed000_values):
    by_symbol = {seed000_net.symbol(k): v for k, v in seed000_values.items()}
    assert seed000_derivation.evaluate(by_symbol).gradients == (
        seed000_derivation.evaluate(seed000_values).gradients
    )


def test_arrays_broadcast_elementwise(seed000_derivation, seed000_values):
    d = seed000_derivation
    batch = dict(seed000_values)
    batch["x1"] = np.linspace(-1.0, 1.0, 5)
    batch["y"] = np.array([0.0, 1.0, 0.0, 1.0, 0.5])
    ev = d.evaluate(batch)
    for table in (ev.nodes, ev.gradients, ev.deltas):
        for name, value in table.items():
            assert isinstance(value, np.ndarray), name
            assert value.shape == (5,), name
    assert ev.loss.shape == (5,)
    for k in range(5):
        one = dict(batch, x1=float(batch["x1"][k]), y=float(batch["y"][k]))
        single = d.evaluate(one)
        for name, value in single.gradients.items():
            assert ev.gradients[name][k] == pytest.approx(value, rel=1e-14, abs=1e-300)
        assert ev.loss[k] == pytest.approx(single.loss, rel=1e-14)


def test_constant_gradient_broadcasts_too():
    g = sb.Graph()
    x, w, u, y = g.input("x"), g.parameter("w"), g.parameter("u"), g.target("y")
    g.loss("L", (y - w * x) ** 2)
    d = sb.derive(g)
    ev = d.evaluate(dict(x=np.arange(4.0), w=0.5, u=1.0, y=1.0))
    assert ev.gradients["u"].shape == (4,)
    assert np.all(ev.gradients["u"] == 0.0)
    assert np.allclose(ev.gradients["w"], -2 * (1.0 - 0.5 * np.arange(4.0)) * np.arange(4.0))
    del u


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(add={"w7": 0.1}), "w7"),
        (dict(drop="w3"), "missing for: w3"),
        (dict(drop="y"), "missing for: y"),
        (dict(add={"z1": 0.5}), "z1"),
        (dict(add={"w1": "0.7"}), "w1"),
        (dict(add={"w1": True}), "w1"),
        (dict(add={"w1": None}), "w1"),
    ],
)
def test_bad_values_name_the_culprit(seed000_derivation, seed000_values, change, message):
    values = dict(seed000_values)
    values.update(change.get("add", {}))
    values.pop(change.get("drop", ""), None)
    with pytest.raises(ValueError, match=message):
        seed000_derivation.evaluate(values)


def test_generated_source(seed000_derivation):
    src = seed000_derivation.evaluator.source
    for line in [
        "z1 = w1*x1 + w3*x2",
        "z2 = w2*x1 + w4*x2",
        "h1 = sigmoid(z1)",
        "z3 = h1*w5 + h2*w6",
        "yhat = sigmoid(z3)",
        "L = (y - yhat)**2",
        "delta_z3 = ",
        "delta_z1 = ",
        "dL_dw5 = delta_z3*h1",
        "dL_dw1 = delta_z1*x1",
    ]:
        assert line in src, line
    # the forward pass comes before the backward pass, and δ of z3 before δ of z1
    assert src.index("L = ") < src.index("delta_z3 = ") < src.index("delta_z1 = ")
    assert "exp(" not in src


def test_identifiers_for_punctuated_names():
    net = sb.mlp([2, 2, 1], bias=True, notation="layered")
    d = sb.derive(net)
    values = {s.name: 0.1 * k for k, s in enumerate(net.leaves, start=1)}
    ev = d.evaluate(values)
    assert "w_12^(1)" in ev.gradients and "S_1^(2)" in ev.nodes
    compile(d.evaluator.source, "<evaluator>", "exec")
    assert sb.check_gradients(d, values).ok


def test_sigmoid_bce_gradient_is_finite_when_the_output_saturates():
    # z = 40 rounds σ(z) to 1.0: the code must use δ_z = ŷ − y, not δ_ŷ · ŷ(1 − ŷ) = (−inf)·0.
    net = sb.mlp([1, 1], activation="sigmoid", loss="bce")
    d = sb.derive(net)
    ev = d.evaluate(dict(x1=2.0, w1=20.0, y=0.25))
    assert ev.nodes["yhat"] == 1.0
    assert ev.gradients["w1"] == pytest.approx((1.0 - 0.25) * 2.0, rel=1e-12)
    assert "delta_z1 = -y + yhat" in d.evaluator.source


# -- numpy implementations ---------------------------------------------------------------------
def test_numpy_functions_match_sympy():
    z = sp.Symbol("z", real=True)
    xs = np.array([-3.5, -0.2, 0.4, 2.9])
    cases = {
        "sigmoid": sb.sigmoid(z),
        "softplus": sb.softplus(z),
        "relu": sb.relu(z),
    }
    for name, expr in cases.items():
        for x in xs:
            expected = float(expr.subs(z, sp.Float(x)).evalf(30))
            assert NUMPY_FUNCTIONS[name](x) == pytest.approx(expected, rel=1e-14), name
    assert NUMPY_FUNCTIONS["leaky_relu"](-2.0, 0.01) == pytest.approx(-0.02)
    assert NUMPY_FUNCTIONS["leaky_relu"](3.0, 0.01) == 3.0
    p = [NUMPY_FUNCTIONS["softmax"](k, 1.0, 2.0, 3.0) for k in (1, 2, 3)]
    assert sum(p) == pytest.approx(1.0)
    assert p[2] == pytest.approx(math.exp(3) / (math.exp(1) + math.exp(2) + math.exp(3)))


def test_numpy_functions_are_stable_at_extremes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert NUMPY_FUNCTIONS["sigmoid"](-1000.0) == 0.0
        assert NUMPY_FUNCTIONS["sigmoid"](1000.0) == 1.0
        assert NUMPY_FUNCTIONS["softplus"](1000.0) == 1000.0
        assert NUMPY_FUNCTIONS["softmax"](1, 1000.0, 0.0) == 1.0


# -- worked examples -------------------------------------------------------------------------------
def test_worked_example_display_mode(seed000_derivation, seed000_values):
    ex = sb.worked_example(seed000_derivation, seed000_values, learning_rate=0.1, digits=3)
    ref = seed000_by_hand(seed000_values)
    assert ex.rounding == "display"
    assert ex.nodes["h1"] == pytest.approx(ref["h1"], rel=1e-13)  # carried in full
    assert ex.loss == pytest.approx(ref["L"], rel=1e-13)
    assert ex.gradients["w5"] == pytest.approx(ref["dw5"], rel=1e-12)
    assert ex.updated["w5"] == pytest.approx(0.55 - 0.1 * ref["dw5"], rel=1e-12)
    assert ex.show(ex.nodes["z1"]) == "0.470"
    assert ex.show(ex.loss) == "0.126"
    assert ex.show(ex.nodes["yhat"]) == "0.646"
    (path,) = ex.factors["w5"]
    assert [(f.of, f.wrt) for f in path] == [("L", "yhat"), ("yhat", "z3"), ("z3", "w5")]
    assert math.prod(f.value for f in path) == pytest.approx(ex.gradients["w5"], rel=1e-12)


def test_worked_example_by_hand_rounds_every_step(seed000_derivation, seed000_values):
    ex = sb.worked_example(seed000_derivation, seed000_values, digits=3, rounding="by_hand")
    assert ex.nodes["h1"] == 0.615 and ex.nodes["h2"] == 0.582
    assert ex.nodes["z3"] == round_half_up(0.615 * 0.55 + 0.582 * 0.45, 3) == 0.6
    assert ex.nodes["yhat"] == round_half_up(sig(0.6), 3) == 0.646
    # with ŷ rounded first, L = (1 − 0.646)² = 0.125316 -> 0.125 (display mode shows 0.126)
    assert ex.loss == 0.125
    (path,) = ex.factors["w5"]
    assert [f.value for f in path] == [-0.708, 0.229, 0.615]
    assert ex.gradients["w5"] == round_half_up(-0.708 * 0.229 * 0.615, 3) == -0.1
    assert ex.updated["w5"] == 0.56


def test_worked_example_arguments(seed000_derivation, seed000_values):
    with pytest.raises(ValueError, match="rounding"):
        sb.worked_example(seed000_derivation, seed000_values, rounding="banker")
    with pytest.raises(ValueError, match="digits"):
        sb.worked_example(seed000_derivation, seed000_values, digits=-1)
    with pytest.raises(ValueError, match="digits"):
        sb.worked_example(seed000_derivation, seed000_values, digits=2.5)
    with pytest.raises(ValueError, match="w9"):
        sb.worked_example(seed000_derivation, dict(seed000_values, w9=1.0))


@pytest.mark.parametrize(
    ("x", "digits", "expected"),
    [(0.0625, 3, 0.063), (-0.7087, 2, -0.71), (2.5, 0, 3.0), (0.1255, 3, 0.126),
     (-0.0005, 3, -0.001), (0.12449, 3, 0.124)],
)
def test_round_half_up(x, digits, expected):
    assert round_half_up(x, digits) == expected


def test_round_half_up_passes_non_finite_through():
    assert math.isnan(round_half_up(math.nan, 3))
    assert round_half_up(math.inf, 3) == math.inf


# -- saturated outputs: logs of probabilities come from the logits ---------------------------------
@pytest.mark.parametrize(("activation", "loss", "expected"), [
    ("sigmoid", "bce", 1000.0),          # mean of softplus(1000) and softplus(1000)
    ("softmax", "cross_entropy", 2000.0),  # −log softmax of a logit 2000 below the other
    ("softplus", "mse", 500000.5),
])
def test_saturated_outputs_give_finite_losses_and_gradients_without_warnings(activation, loss,
                                                                             expected):
    import warnings

    net = sb.mlp([1, 2], activation=activation, loss=loss)
    d = sb.derive(net)
    values = {"x1": 1.0, "y1": 0.0, "y2": 1.0, "w1": 1000.0, "w2": -1000.0}
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        ev = d.evaluate(values)
    assert ev.loss == pytest.approx(expected)
    assert all(np.isfinite(g) for g in ev.gradients.values())


def test_loss_code_reads_logs_from_logits():
    net = sb.mlp([2, 2, 2], activation=["tanh", "softmax"], loss="cross_entropy")
    source = sb.derive(net).evaluator.source
    assert "L = -y1*log_softmax(1, z3, z4) - y2*log_softmax(2, z3, z4)" in source
    bce = sb.derive(sb.mlp([2, 1], activation="sigmoid", loss="bce")).evaluator.source
    assert "softplus(-z1)" in bce and "log(" not in bce


def test_a_log_that_is_not_a_probability_is_not_clamped():
    # issue 15, defect 4: −log(a) + a at a = e^−150 is 150, and its gradient agrees with it.
    g = sb.Graph()
    x, w = g.input("x"), g.parameter("w")
    a = g.node("a", sp.exp(w * x))
    g.loss("L", -sp.log(a) + a)
    d = sb.derive(g)
    ev = d.evaluate({"x": 1.0, "w": -150.0})
    assert ev.loss == pytest.approx(150.0)
    assert ev.gradients["w"] == pytest.approx(-1.0)
    assert sb.check_gradients(d, {"x": 1.0, "w": -150.0}).ok


# -- issue 15's defects and issue 14's reproducers 01-04, 19, 22 -------------------------------------
def _bce_of(expr_of_w):
    g = sb.Graph()
    x, y, w = g.input("x"), g.target("y"), g.parameter("w")
    a = g.node("a", sb.sigmoid(expr_of_w(w, x)))
    g.loss("L", -(y * sp.log(a) + (1 - y) * sp.log(1 - a)))
    return g


def test_saturated_sigmoid_with_an_inline_argument_gives_torchs_gradient():
    # defect 1: the parameter's own line divided by a(1 − a); BCEWithLogits gives exactly 1.0
    ev = sb.derive(_bce_of(lambda w, x: w * x)).evaluate(dict(x=1.0, y=0.0, w=40.0))
    assert ev.gradients["w"] == 1.0


def test_saturated_softmax_with_inline_logits_and_cross_entropy_is_finite():
    g = sb.Graph()
    x = g.input("x")
    ys = [g.target(f"y{k}") for k in (1, 2, 3)]
    ws = [g.parameter(f"w{k}") for k in (1, 2, 3)]
    ps = [g.node(f"p{k}", sb.softmax(k, *[w * x for w in ws])) for k in (1, 2, 3)]
    g.loss("L", -sum(yk * sp.log(pk) for yk, pk in zip(ys, ps, strict=True)))
    ev = sb.derive(g).evaluate(dict(x=1.0, y1=0.0, y2=1.0, y3=0.0, w1=400.0, w2=-400.0, w3=0.0))
    assert ev.gradients == pytest.approx({"w1": 1.0, "w2": -1.0, "w3": 0.0}, abs=1e-12)
    assert ev.loss == pytest.approx(800.0)


def test_softmax_bce_at_saturation_is_finite_and_exact():
    # reproducer 22; the exact values are from 60-digit mpmath (x = 1, z = w)
    net = sb.mlp([1, 3], activation="softmax", loss="bce")
    d = sb.derive(net)
    values = dict(x1=1.0, y1=1.0, y2=0.0, y3=0.0, w1=40.0, w2=-40.0, w3=0.0)
    ev = d.evaluate(values)
    exact = {"w1": -2.832236170194393e-18, "w2": 1.2032342585636101e-35, "w3": 2.832236170194393e-18}
    assert ev.gradients == pytest.approx(exact, abs=2e-18)
    assert ev.gradients["w2"] == pytest.approx(exact["w2"], rel=1e-6)
    assert sb.check_gradients(d, values).ok
    far = dict(values, w1=400.0, w2=-400.0)  # 1 − p1 underflows to 0 entirely
    assert all(np.isfinite(list(d.evaluate(far).gradients.values())))


def test_a_node_named_like_a_generated_gradient_does_not_collide():
    # defect 2: a node named dL_dw shadowed the evaluator's variable for ∂L/∂w
    g = sb.Graph()
    x, y, w, u = g.input("x"), g.target("y"), g.parameter("w"), g.parameter("u")
    n = g.node("dL_dw", w * x)
    a = g.node("a", sb.tanh(n * u))
    g.loss("L", (y - a) ** 2)
    values = dict(x=1.0, y=0.3, w=0.5, u=0.7)
    t = math.tanh(0.35)
    ev = sb.derive(g).evaluate(values)
    assert ev.gradients["u"] == pytest.approx(-2 * (0.3 - t) * (1 - t * t) * 0.5)
    assert ev.gradients["w"] == pytest.approx(-2 * (0.3 - t) * (1 - t * t) * 0.7)


def _namespace_names() -> list[str]:
    import keyword

    names = set(dir(np)) | set(dir(math)) | set(dir(sp)) | set(keyword.kwlist)
    names |= set(keyword.softkwlist) | set(NUMPY_FUNCTIONS)
    names |= {n + "_" for n in names}  # reproducer 19: exp_ became exp
    names |= {"dL_dw", "delta_a", "e", "E", "pi", "np", "numpy", "math", "Heaviside", "sign"}
    ok = []
    for n in sorted(names):
        try:
            sb.Graph().parameter(n)
        except sb.GraphError:
            continue  # not a name the graph takes (_private, __dunder__)
        ok.append(n)
    return ok


def test_no_user_name_can_shadow_what_generated_code_reads():
    # reproducers 03, 04, 19: every name of numpy, math, SymPy and Python's keywords, each with
    # and without a trailing _, as parameters of one graph whose code reads e, sign, Heaviside.
    names = _namespace_names()
    assert len(names) > 2500
    g = sb.Graph()
    x, y = g.input("x_in"), g.target("y_in")
    ps = [g.parameter(n) for n in names]
    # in sums of 500: Python's compiler recurses once per + of one line (limit ~2500 terms)
    parts = [g.node(f"s_{k}", sp.Add(*[p * x for p in ps[k:k + 500]]))
             for k in range(0, len(ps), 500)]
    s = g.node("s", sp.Add(*parts))
    a = g.node("a", sb.relu(sp.E * s))
    g.loss("L", (y - a) ** 2 + sp.Abs(s))
    rng = np.random.default_rng(0)
    values = {n: float(v) for n, v in zip(names, rng.uniform(0, 1e-3, len(names)), strict=True)}
    values |= {"x_in": 1.5, "y_in": 0.25}
    ev = sb.derive(g).evaluate(values)
    total = sum(values[n] for n in names) * 1.5
    common = (-2 * (0.25 - math.e * total) * math.e + 1.0) * 1.5
    assert ev.loss == pytest.approx((0.25 - math.e * total) ** 2 + total)
    assert np.allclose(list(ev.gradients.values()), common, rtol=1e-12)


@pytest.mark.parametrize("name", ["e", "Heaviside", "sign", "exp_", "np", "Integer", "lambda_"])
def test_colliding_names_in_the_worked_example_and_the_check(name):
    g = sb.Graph()
    x, y, p = g.input("x"), g.target("y"), g.parameter(name)
    a = g.node("a", sb.relu(sp.E * p * x) + sp.Abs(p))
    g.loss("L", (y - a) ** 2)
    values = {"x": 1.0, "y": 0.5, name: 2.0}
    a_true = math.e * 2 + 2
    ex = sb.worked_example(g, values)
    assert ex.nodes["a"] == pytest.approx(a_true)
    assert ex.gradients[name] == pytest.approx(-2 * (0.5 - a_true) * (math.e + 1))
    assert sb.check_gradients(g, values).ok


@pytest.mark.parametrize("x1", [1e30, 1e200, 1e300])
def test_worked_examples_of_huge_values_round_without_error(x1):
    # reproducer 01: quantize ran out of decimal digits; squaring 1e200 raised OverflowError
    net = sb.mlp([1, 1], activation="identity")
    ex = sb.worked_example(net, dict(x1=x1, y=1.0, w1=1.0), learning_rate=1e308)
    assert ex.show(ex.nodes["yhat"]) == f"{round_half_up(x1, 3):.3f}"
    assert math.isinf(ex.loss) or ex.loss > 1e59
    assert round_half_up(1.7976931348623157e308, 15) == 1.7976931348623157e308


@pytest.mark.parametrize("rounding", ["display", "by_hand"])
def test_worked_example_divides_as_the_evaluator_does(rounding):
    # reproducer 02: a factor that divides by zero gave ZeroDivisionError; display rounding
    # now reads the evaluator's stable gradient (ŷ − y), as `check` does.
    net = sb.mlp([1, 1], loss="bce")
    values = dict(x1=1.0, y=1.0, w1=40.0)
    ex = sb.worked_example(net, values, rounding=rounding)
    assert ex.gradients["w1"] == pytest.approx(sb.derive(net).evaluate(values).gradients["w1"],
                                                abs=1e-3)
    assert "yhat" in ex.deltas and ("yhat", "z1") in ex.local_derivatives
    g = sb.Graph()
    x, y, w = g.input("x"), g.target("y"), g.parameter("w")
    a = g.node("a", x / w)
    g.loss("L", (y - a) ** 2)
    ex = sb.worked_example(g, dict(x=1.0, y=0.5, w=0.0), rounding=rounding)
    assert math.isinf(ex.nodes["a"])


def test_worked_example_compiles_once_per_derivation(monkeypatch):
    # issue 14: 5,360 lambdify calls for one 8-8-8-1 example; now a fixed few per derivation
    d = sb.derive(sb.mlp([2, 3, 1]))
    values = dict(x1=0.5, x2=0.3, y=1.0) | {p.name: 0.1 * k for k, p in enumerate(d.graph.parameters)}
    sb.worked_example(d, values, rounding="by_hand")
    calls = []
    real = sp.lambdify
    monkeypatch.setattr(sp, "lambdify", lambda *a, **k: calls.append(1) or real(*a, **k))
    for rounding in ("display", "by_hand"):
        ex = sb.worked_example(d, values, rounding=rounding)
        assert set(ex.deltas) == {v.name for v in d.graph.nodes} - {"L"}
    assert calls == []


def test_a_worked_example_past_the_path_limit_keeps_its_gradients_from_delta(monkeypatch):
    # The worked example is built from δ values: a parameter with too many chain paths to list
    # still gets its gradient (documents print it from δ), and the CLI text never shows "0 =".
    import symbackprop.check.worked as worked
    from symbackprop.cli.commands import _example_text

    net = sb.mlp([1, 2, 2, 1], activation="sigmoid")
    d = sb.derive(net)
    values = {s.name: 0.3 + 0.1 * i for i, s in enumerate(net.leaves)}
    full = sb.worked_example(d, values)
    monkeypatch.setattr(worked, "MAX_CHAIN_PATHS", 1)
    ex = sb.worked_example(d, values)
    w = net.weight(1, 1, 1)
    assert d.path_count(w) == 2 and ex.factors[w.name] == []
    assert ex.gradients == full.gradients and ex.gradients[w.name] != 0
    line = next(s for s in _example_text(ex).splitlines() if s.startswith(f"  dL/d{w.name} ="))
    assert line.startswith(f"  dL/d{w.name} = {ex.show(ex.gradients[w.name])};"), line


# -- issue 21: numbers at the extremes ---------------------------------------------------------
def test_a_batch_norm_before_a_softmax_head_builds_its_evaluator_line_by_line(monkeypatch):
    # 195 s: batch norm's 1/√(var + ε) counted as a division that saturation could make 0/0, so
    # every δ before it was written out in full (exact_value) and factored against the softmax:
    # now each δ line is its recursion, so nothing after a node is written out again.
    calls = []
    exact_value = sb.Derivation.exact_value

    def counting_exact_value(self, node):
        calls.append(node)
        return exact_value(self, node)

    monkeypatch.setattr(sb.Derivation, "exact_value", counting_exact_value)
    net = sb.network(2, [sb.dense(3, "tanh"), sb.batch_norm(), sb.residual(sb.dense(3, "sigmoid")),
                         sb.dense(2, "softmax")], loss="mse", batch=4)
    d = sb.derive(net)
    rng = np.random.default_rng(0)
    values = {s.name: float(rng.normal()) for s in net.leaves}
    assert np.isfinite(d.evaluate(values).loss)
    assert calls == []
    assert sb.check_gradients(d, values).ok


def _rnn_at_saturation(classes: int, steps: int):
    net = sb.rnn(1, 1, classes, steps=steps, output_activation="softmax", loss="cross_entropy")
    values = {s.name: 0.0 for s in net.leaves}  # U = W = V = b = 0: every step's logits are c
    values.update({f"y_{t},2": 1.0 for t in range(1, steps + 1)}, c_1=800.0, c_2=-800.0)
    return net, values


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("steps", [1, 2, 3])
def test_a_saturated_softmax_rnn_has_torchs_loss_and_gradients_at_every_length(classes, steps):
    # the per-step losses L_t = −Σ y log p were lines of their own, not the loss's: log 0 = −inf
    torch = pytest.importorskip("torch")
    net, values = _rnn_at_saturation(classes, steps)
    ev = sb.derive(net).evaluate(values)
    c = torch.tensor([values[f"c_{k}"] for k in range(1, classes + 1)], dtype=torch.float64,
                     requires_grad=True)
    loss = steps * torch.nn.functional.cross_entropy(c[None], torch.tensor([1]), reduction="sum")
    loss.backward()
    assert ev.loss == pytest.approx(loss.item(), rel=1e-12)
    assert [ev.gradients[f"c_{k}"] for k in range(1, classes + 1)] == pytest.approx(
        c.grad.tolist(), abs=1e-12)


def _bce_logits(sig, tanh, x, w, hidden=None):
    """The logits of a bce written by hand, through hidden nodes h1, h2, h3, in any library's ops
    (``hidden``: the hidden nodes' symbols, so that a graph's logit reads them)."""
    h1 = w[4] * x[1]
    h2 = tanh(h1 * w[4] + w[4] * x[0] + w[5] * x[1])
    h3 = sig(h1 * w[3] + h2 * w[4] + w[0] * x[1] + w[2] * x[0])
    h1, h2, h3 = hidden or (h1, h2, h3)
    return (h1, h2, h3), {
        "sum": h1 * w[4] + h2 * w[4] + h3 * w[4] + w[4] * x[0],  # w5 inside and out
        "product": h1 * h2 * h3 * w[0] * x[0],
        "shifted": w[1] * (h3 + x[0] + 1),
        "difference": h2 * w[2] - h2 * w[3],
    }


@pytest.mark.parametrize("inline", [False, True], ids=["node", "inline"])
@pytest.mark.parametrize("logit", ["sum", "product", "shifted", "difference"])
def test_bce_by_hand_over_a_saturated_sigmoid_has_torchs_gradients(logit, inline):
    # a consumer of a = σ(z) read δ_a·a(1 − a) = inf·0 = nan; now δ_z = a − y is read instead
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    g = sb.Graph()
    x, y = [g.input("x1"), g.input("x2")], g.target("y")
    w = [g.parameter(f"w{i}") for i in range(1, 7)]
    hidden, _ = _bce_logits(sb.sigmoid, sb.tanh, x, w)
    hs = [g.node(f"h{i}", h) for i, h in enumerate(hidden, 1)]
    z = _bce_logits(sb.sigmoid, sb.tanh, x, w, hidden=hs)[1][logit]
    a = sb.sigmoid(z) if inline else g.node("a", sb.sigmoid(z))
    g.loss("L", -(y * sp.log(a) + (1 - y) * sp.log(1 - a)))
    d = sb.derive(g)
    for scale, target in [(50.0, 0.0), (-50.0, 1.0), (1000.0, 0.0), (-1000.0, 1.0), (1000.0, 0.25)]:
        ws = [0.2, -0.3, 0.9, -0.6, 0.7, 0.4]
        tw = torch.tensor(ws, dtype=torch.float64, requires_grad=True)
        tx = torch.tensor([1.0, -0.5], dtype=torch.float64)
        _, tz = _bce_logits(torch.sigmoid, torch.tanh, tx, tw)
        k = scale / tz[logit].item()  # the input scaled so that the logit is ±50 or ±1000
        tx = tx * k
        _, tz = _bce_logits(torch.sigmoid, torch.tanh, tx, tw)
        loss = F.binary_cross_entropy_with_logits(tz[logit], torch.tensor(target, dtype=torch.float64))
        loss.backward()
        values = dict(x1=float(tx[0]), x2=float(tx[1]), y=target,
                      **{f"w{i}": v for i, v in enumerate(ws, 1)})
        ev = d.evaluate(values)
        assert ev.loss == pytest.approx(loss.item(), rel=1e-9)
        assert [ev.gradients[f"w{i}"] for i in range(1, 7)] == pytest.approx(
            tw.grad.tolist(), rel=1e-9, abs=1e-12)


def test_a_function_of_a_huge_integer_constant_is_computed_as_a_float():
    # log(1e-30) in a spec is −log(10**30): numpy.log of a Python int past int64 raised
    # "loop of ufunc does not support argument 0 of type int" in the evaluator, number()
    # and the verifier's compiled nodes (campaign seed 2112, spec 2738)
    import sympy as sp

    from symbackprop.codegen.scalar import number

    g = sb.Graph("g")
    x, w = g.input("x"), g.parameter("w")
    n = g.node("n", sp.tanh(x / w - sp.log(sp.Integer(10) ** 30) / 100))
    g.loss("L", n ** 2 / 2)
    d = sb.derive(g)
    r = d.evaluate({"x": 1.0, "w": 2.0})
    assert np.isfinite(float(r.gradients["w"]))
    assert number(sp.log(sp.Integer(10) ** 30) * x, {x: 1.0}) == pytest.approx(30 * np.log(10))
    assert sb.check_gradients(d, {"x": 1.0, "w": 2.0}).ok
    sb.build_document(d, sb.worked_example(d, {"x": 1.0, "w": 2.0}))

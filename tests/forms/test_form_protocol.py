"""The Form protocol: the same checks over the scalar, matrix and general forms, through the
protocol alone (equations, the check report, the evaluator against finite differences)."""

import math

import numpy as np
import pytest

import symbackprop as sb

FORMS = {
    "scalar MLP": (lambda: sb.scalar_form(sb.mlp([2, 3, 2], ["tanh", "softmax"], "cross_entropy",
                                                 bias=True)), None),
    "matrix MLP": (lambda: sb.matrix_form(sb.mlp([2, 3, 2], ["gelu", "sigmoid"], "bce", bias=True)),
                   None),
    "matrix MLP from its net": (lambda: sb.matrix_form(sb.mlp([2, 2, 1], "silu", bias=True)), None),
    "general RNN": (lambda: sb.general_form(sb.rnn(steps=3, inputs=2, hidden=2, outputs=1)),
                    {"T": 3, "n_x": 2, "n_h": 2, "n_y": 1}),
    "general conv1d": (lambda: sb.general_form(sb.conv1d(5, 2, "softplus")), {"n": 5, "K": 2}),
    "general attention": (lambda: sb.general_form(sb.attention(3, 2)), {"n": 3, "d": 2, "d_v": 2}),
}


@pytest.fixture(params=list(FORMS), scope="module")
def case(request):
    make, sizes = FORMS[request.param]
    return make(), sizes


def test_every_form_is_a_form_with_equations_in_the_protocols_stages(case):
    form, _ = case
    assert isinstance(form, sb.Form) and form.kind in ("scalar", "matrix", "general")
    equations = form.equations()
    stages = [eq.stage for eq in equations]
    assert set(stages) <= {"forward", "loss", "delta", "gradient"}
    assert {"delta", "gradient"} <= set(stages)
    # listed as a lecture gives them: the forward pass before every δ, every δ before a gradient
    assert max(i for i, s in enumerate(stages) if s == "forward") < stages.index("delta")
    assert max(i for i, s in enumerate(stages) if s == "delta") < stages.index("gradient")
    lines = form.latex()
    assert len(lines) == len(equations) and all(" = " in line for line in lines)
    first = equations[-1]
    key = first.layer if form.kind == "matrix" else first.name
    assert form.equation(first.kind, key) == first


def test_every_forms_check_is_one_report_that_agrees(case):
    form, sizes = case
    report = form.check(sizes, seed=1)
    assert isinstance(report, sb.CheckReport)
    assert report.ok and bool(report) and report.rows
    assert report.max_error < 1e-6 and report < 1e-6 and float(report) == report.max_error


def test_every_forms_evaluator_agrees_with_finite_differences_of_its_own_loss(case):
    form, sizes = case
    graph = form.scalar_model(sizes)
    evaluator = form.evaluator(sizes, backend="numpy")
    rng = np.random.default_rng(7)
    values = {s.name: float(rng.uniform(-0.8, 0.8)) for s in graph.leaves}
    for group in graph.one_hot_groups:
        values.update({s.name: float(k == 0) for k, s in enumerate(group)})
    result = evaluator.evaluate(values)
    assert sorted(result.gradients) == sorted(p.name for p in graph.parameters)
    h = 1e-6
    for p in graph.parameters:
        up = evaluator.evaluate({**values, p.name: values[p.name] + h}).loss
        down = evaluator.evaluate({**values, p.name: values[p.name] - h}).loss
        fd = (float(up) - float(down)) / (2 * h)
        assert math.isclose(float(result.gradients[p.name]), fd, rel_tol=1e-5, abs_tol=1e-7), p


def test_a_form_refuses_sizes_it_cannot_take(case):
    form, sizes = case
    with pytest.raises(ValueError):
        form.evaluator({"nonsense": 2}, backend="numpy")

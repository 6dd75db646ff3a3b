"""The evaluator's stable forms (codegen/stable.py) against 50-digit references."""

from __future__ import annotations

import functools
import json
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from mpref import reference

import symbackprop as sb
from symbackprop.codegen.export_matrix import matrix_module
from symbackprop.codegen.export_scalar import scalar_module
from symbackprop.codegen.stable import masked, masked_steps
from symbackprop.core import ops
from symbackprop.io.spec.reader import parse_spec

#: Issue 21's s1868: softmax + bce over a residual blocks net; 1 − p_2 is 2.4e-14 there.
S1868 = """
[network]
kind = "blocks"
inputs = 2
batch = 1
blocks = [{ type = "dense", units = 2, activation = "silu" },
          { type = "residual", blocks = [{ type = "residual", blocks = [
              { type = "dense", units = 1, activation = "softplus", bias = true },
              { type = "dense", units = 2, activation = "linear" }] }] },
          { type = "dense", units = 2, activation = "softmax" }]
loss = "bce"
[values]
x_1 = 1.904568
x_2 = 0.37
"W_11^[1]" = -1.47
"W_12^[1]" = -1.735
"W_21^[1]" = 1.6
"W_22^[1]" = 0.630114
"b_1^[1]" = -1.85
"b_2^[1]" = 1.182
"W_11^[2]" = -1.4
"W_12^[2]" = 1.164
"b_1^[2]" = 0.42
"W_11^[3]" = -1.0
"W_21^[3]" = 1.056
"b_1^[3]" = 1.673
"b_2^[3]" = 0.6
"W_11^[6]" = 0.69
"W_12^[6]" = -0.752
"W_21^[6]" = -1.1
"W_22^[6]" = 0.673234
"b_1^[6]" = -1.9
"b_2^[6]" = 0.507
y_1 = 0.53
y_2 = 0.37
"""


def assert_matches_reference(graph, values, rtol=1e-9):
    """The engine's loss and every gradient equal the 50-digit ones to ``rtol``, relative to
    the largest gradient (a gradient near 0 is a difference of terms of that size)."""
    ev = sb.derive(graph).evaluate(values)
    loss, grads = reference(graph, values)
    assert ev.loss == pytest.approx(loss, rel=rtol)
    scale = max([1e-300] + [abs(g) for g in grads.values()])
    wrong = {p: (ev.gradients[p], g) for p, g in grads.items()
             if not abs(ev.gradients[p] - g) <= rtol * scale}
    assert wrong == {}


def test_softmax_bce_blocks_net_s1868_has_the_50_digit_gradients():
    # b_1^[6] was −0.58130 for −0.58000: the δ of z_1^[6] divided by 1 − p_2 and multiplied
    # by p_1, each rounded separately, where sympy's factor had folded them into one fraction
    spec = parse_spec(S1868, "s1868.toml")
    assert_matches_reference(spec.graph, spec.values)


def _toml(value) -> str:
    """A value as inline TOML (a block list is a list of inline tables)."""
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def _blocks_spec(classes: int, hidden: str, residual: bool) -> str:
    blocks = [{"type": "dense", "units": 2, "activation": hidden}]
    if residual:
        blocks.append({"type": "residual", "blocks": [
            {"type": "dense", "units": 1, "activation": hidden},
            {"type": "dense", "units": 2, "activation": "linear"}]})
    blocks.append({"type": "dense", "units": classes, "activation": "softmax"})
    return (f'[network]\nkind = "blocks"\ninputs = 2\nbatch = 1\nblocks = {_toml(blocks)}\n'
            'loss = "bce"\n')


@pytest.mark.slow  # a long run: make test-slow (CI runs it too)
@given(classes=st.integers(2, 3), hidden=st.sampled_from(["silu", "tanh", "softplus", "gelu"]),
       residual=st.booleans(), scale=st.floats(1.0, 40.0), seed=st.integers(0, 2**16))
def test_softmax_bce_blocks_nets_match_50_digits_at_large_logits(classes, hidden, residual,
                                                                  scale, seed):
    graph = parse_spec(_blocks_spec(classes, hidden, residual), "drawn.toml").graph
    rng = np.random.default_rng(seed)
    values = {s.name: float(rng.uniform(-1.5, 1.5)) for s in graph.parameters}
    values.update({s.name: float(scale * rng.uniform(-1, 1)) for s in graph.inputs})
    values.update({s.name: float(rng.uniform(0, 1)) for s in graph.targets})
    ev = sb.derive(graph).evaluate(values)
    assert math.isfinite(ev.loss)
    assert_matches_reference(graph, values)


# -- every activation's derivative, as the evaluator computes it ------------------------------------
#: ±10^k from 1e-300 to 1e300: in tenths of a decade up to 100 (the tails, where σ and tanh
#: round to ±1), in decades to 1e20 (SiLU′ = a + σ(1 − a) was 0 from 1e16), then up to overflow
#: (mpmath's exp of 1e300 in 400 digits is slow: a few points there)
GRID = np.array([s * 10.0 ** k for k in [*range(-300, -20, 10), *range(-20, -2),
                                          *(j / 10 for j in range(-20, 21)), *range(3, 21),
                                          *range(30, 301, 30)] for s in (1.0, -1.0)])
SMALLEST_NORMAL = np.finfo(float).tiny


@functools.cache
def _exact_derivative(name: str) -> np.ndarray:
    """The derivative of the activation's elementary definition at GRID, in 400 digits (1 − σ
    at x = −700 needs 300 of them), rounded to floats."""
    op = ops.ACTIVATIONS[name]
    x = sp.Symbol("x", real=True)
    f = sp.lambdify(x, sp.diff(op.elementary(x, *op.defaults), x), modules="mpmath")
    with mpmath.workdps(400):
        return np.array([float(f(mpmath.mpf(z))) for z in GRID])


@pytest.mark.parametrize("inline", [False, True], ids=["node", "inline"])
@pytest.mark.parametrize("name", [n for n in ops.ELEMENTWISE if n != "linear"])
def test_every_activations_derivative_is_right_wherever_it_is_a_normal_float(name, inline):
    g = sb.Graph()
    w = g.parameter("w")
    applied = ops.ACTIVATIONS[name](w)
    g.loss("L", applied if inline else g.node("a", applied))
    with np.errstate(all="raise"):  # the evaluator silences its own; none may escape
        got = sb.derive(g).evaluate({"w": GRID}).gradients["w"]
    exact = _exact_derivative(name)
    normal = np.abs(exact) >= SMALLEST_NORMAL
    assert np.isfinite(got).all()
    wrong = normal & ~(np.abs(got - exact) <= 1e-12 * np.abs(exact))
    assert {float(z): (float(a), float(b)) for z, a, b in
            zip(GRID[wrong], got[wrong], exact[wrong], strict=True)} == {}
    # below the normal floats the evaluator may round to 0, never to more than the smallest one
    assert (np.abs(got[~normal]) <= SMALLEST_NORMAL).all()


@pytest.mark.parametrize("name", [n for n in ops.ELEMENTWISE if n != "linear"])
def test_the_matrix_evaluator_computes_each_derivative_as_the_scalar_one_does(name):
    # δ^[1] = W^[2]ᵀδ^[2] ⊙ f′(Z^[1]) printed A ⊙ (1 − A), SiLU′ as A + σ(Z) ⊙ (1 − A): the
    # generated array code calls the registry's prime, so ∂L/∂b^[1] = 2·f(z)·f′(z) here
    net = sb.mlp([1, 1, 1], [name, "identity"], "mse", bias=True)
    form = sb.matrix_form(net)
    d = sb.derive(net)
    batch = form.evaluator()
    zs = GRID[np.abs(GRID) < 1e150]  # f(z)² below overflow
    scalar = d.evaluate(dict(x1=zs, y=0.0, w1=1.0, b1=0.0, w2=1.0, b2=0.0)).gradients["b1"]
    matrix = np.array([batch.evaluate(dict(x1=z, y=0.0, w1=1.0, b1=0.0, w2=1.0, b2=0.0))
                       .gradients["b1"] for z in zs], dtype=float)
    np.testing.assert_allclose(matrix, scalar, rtol=1e-14, atol=0)


# -- a dead relu under an overflowing δ (the fuzz campaign's fz77_20 and fz77_511) ---------------
def _dead_relu_graph():
    # z = w·x < 0, so relu′(z) = 0 and ∂L/∂w = 0 exactly; the δ of a = relu(z) is
    # 2(v·a − y)·v with v = 1e300 and y = −1e300: 2e600, an overflow, and 0·inf was nan
    g = sb.Graph("dead relu")
    x, y = g.input("x"), g.target("y")
    w, v = g.parameter("w"), g.parameter("v")
    a = g.node("a", sb.relu(w * x))
    h = g.node("h", v * a)
    g.loss("L", (h - y) ** 2)
    return g, {"x": 1.0, "y": -1e300, "w": -0.5, "v": 1e300}


def test_masked_steps_gates_each_product_with_a_step_and_leaves_the_rest():
    z, d, e = sp.symbols("z d e")
    step = sp.Heaviside(z, 0)
    assert masked_steps(3 * d * step + e) == masked(step, 3 * d) + e
    assert masked_steps(d * e) == d * e
    assert masked_steps(step) == step  # a step alone has nothing to gate


def test_a_dead_relu_under_an_overflowing_delta_gives_the_gradient_0_not_nan():
    g, values = _dead_relu_graph()
    d = sb.derive(g)
    with np.errstate(all="ignore"):
        r = d.evaluate(values)
        assert float(r.gradients["w"]) == 0.0
        namespace: dict = {}
        exec(compile(scalar_module(d), "grad.py", "exec"), namespace)
        assert float(namespace["loss_and_gradients"](**values).gradients["w"]) == 0.0


@pytest.mark.parametrize("target", ["numpy", "torch", "jax"])
def test_a_matrix_module_masks_a_dead_relu_under_an_overflowing_delta(target):
    pytest.importorskip(target)
    # 1-2-1, relu then identity, mse: unit 1 dead (z = −1), unit 2 alive; y = −1e300 and
    # W2 = 1e300 overflow δ1 = W2ᵀδ2, which the dead unit's step must zero, not make nan
    form = sb.matrix_form([1, 2, 1], ["relu", "identity"], "mse", bias=False)
    X, Y = np.array([[1.0]]), np.array([[-1e300]])
    W = [np.array([[-1.0], [0.5]]), np.array([[1e300, 0.0]])]
    namespace: dict = {}
    exec(compile(matrix_module(form, target), "grad.py", "exec"), namespace)
    convert = {"numpy": np.asarray, "torch": lambda a: __import__("torch").tensor(a),
               "jax": lambda a: __import__("jax.numpy").numpy.asarray(a)}[target]
    if target == "jax":
        __import__("jax").config.update("jax_enable_x64", True)
    with np.errstate(all="ignore"):
        r = namespace["loss_and_gradients"](convert(X), convert(Y), [convert(w) for w in W])
    dW1 = np.asarray(r.weight_gradients[0], dtype=float)
    assert dW1[0, 0] == 0.0  # the dead unit: exactly 0, as torch's threshold_backward gives
    with np.errstate(all="ignore"):
        plain = form.evaluator()(X, Y, W)
    assert np.asarray(plain.weight_gradients[0], dtype=float)[0, 0] == 0.0

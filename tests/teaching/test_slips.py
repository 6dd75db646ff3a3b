"""The slip catalogue on networks other than the MLP: each slip made with plain math, expecting
its name from grade; and the slips that cannot happen on a network are said so."""

from decimal import Decimal
from math import sqrt, tanh

import pytest

import symbackprop as sb
from symbackprop.teaching.grade import grade
from symbackprop.teaching.slips import SLIPS, HandCalculator, matrix_entries

# A one-unit RNN over two steps, a loss at each step (Karpathy's names):
# a_t = Wxh x_t + Whh h_{t−1} + bh, h_t = tanh(a_t), o_t = Why h_t + by, L = Σ_t (y_t − o_t)².
RNN_VALUES = dict(x_1=0.5, x_2=-0.3, y_1=0.1, y_2=0.2, Wxh=0.4, Whh=0.6, Why=0.7, bh=0.1,
                  by=-0.2)


@pytest.fixture(scope="module")
def rnn():
    return sb.derive(sb.rnn(1, 1, 1, steps=2, notation="karpathy"))


def _rnn_by_hand():
    v = RNN_VALUES
    h1 = tanh(v["Wxh"] * v["x_1"] + v["bh"])
    h2 = tanh(v["Whh"] * h1 + v["Wxh"] * v["x_2"] + v["bh"])
    g1 = -2 * (v["y_1"] - (v["Why"] * h1 + v["by"]))  # ∂L/∂o_t
    g2 = -2 * (v["y_2"] - (v["Why"] * h2 + v["by"]))
    d2 = g2 * v["Why"]  # δ_2 = ∂L/∂h_2
    d1 = g1 * v["Why"] + d2 * (1 - h2 * h2) * v["Whh"]  # BPTT: δ_1 also hears step 2
    return dict(h1=h1, h2=h2, g1=g1, g2=g2, d1=d1, d2=d2)


def claim(value: float, decimals: int) -> Decimal:
    return Decimal(f"{value:.{decimals}f}")


def test_the_hand_calculation_of_the_rnn_is_the_engines(rnn):
    f, v = _rnn_by_hand(), RNN_VALUES
    right = f["d1"] * (1 - f["h1"] ** 2) * v["x_1"] + f["d2"] * (1 - f["h2"] ** 2) * v["x_2"]
    (row,) = grade(rnn, v, {"dL/dW_xh": claim(right, 6)})
    assert row.ok


def test_truncated_bptt_is_a_shared_parameter_counted_once(rnn):
    f, v = _rnn_by_hand(), RNN_VALUES
    last_step_only = f["d2"] * (1 - f["h2"] ** 2) * v["x_2"]
    (row,) = grade(rnn, v, {"dL/dW_xh": claim(last_step_only, 6)})
    assert row.slip.name == "shared_one_use" and row.slip.detail == {"use": "a_2"}


def test_bptt_without_the_recurrence_is_a_delta_with_one_path(rnn):
    f, v = _rnn_by_hand(), RNN_VALUES
    d1 = f["g1"] * v["Why"]  # δ_1 without the term from step 2
    slipped = d1 * (1 - f["h1"] ** 2) * v["x_1"] + f["d2"] * (1 - f["h2"] ** 2) * v["x_2"]
    rows = grade(rnn, v, {"δ_1": claim(d1, 6), "dL/dW_xh": claim(slipped, 6)})
    assert [r.slip.name for r in rows] == ["delta_one_path"] * 2
    assert rows[0].slip.detail == {"through": "a_2"}


def test_the_output_delta_for_the_hidden_weights_is_the_wrong_layer(rnn):
    f, v = _rnn_by_hand(), RNN_VALUES
    slipped = f["g1"] * (1 - f["h1"] ** 2) * v["x_1"] + f["g2"] * (1 - f["h2"] ** 2) * v["x_2"]
    (row,) = grade(rnn, v, {"dL/dW_xh": claim(slipped, 6)})
    assert row.slip.name == "wrong_layer_delta"


def test_a_transposed_recurrent_weight():
    d = sb.derive(sb.rnn(1, 2, 1, steps=2))
    values = {s.name: 0.1 * (k % 7) - 0.3 for k, s in enumerate(d.graph.leaves)}
    calc = HandCalculator(d, values)
    (row,) = grade(d, values, {"dL/dW_12": claim(calc.truth["dL/dW_21"], 6)})
    assert row.slip.name == "transposed_index" and row.slip.detail == {"other": "W_21"}


def test_a_norms_slip_is_told_apart_from_a_residuals():
    # x → dense 3 tanh → layer norm → residual(dense 3 tanh) → dense 1: the norm's μ and σ²
    # held constant is one slip, the block's branch forgotten another; each is named alone.
    d = sb.derive(sb.network(2, [sb.dense(3, "tanh"), sb.layer_norm(),
                                 sb.residual(sb.dense(3, "tanh")), sb.dense(1)]))
    x, y = [0.5, -0.4], 0.3
    W1 = [[0.3, -0.2], [0.8, 0.1], [-0.5, 0.6]]
    W3 = [[0.2, -0.1, 0.4], [0.3, 0.5, -0.2], [-0.6, 0.1, 0.2]]
    b1, gamma, beta, b3, W5 = [0.1, -0.2, 0.05], [0.9, 1.1, -0.7], [0.1, 0.0, -0.1], \
        [0.0, 0.1, -0.1], [0.4, -0.6, 0.3]
    values = {"x_1": x[0], "x_2": x[1], "y_1": y, "b_1^[5]": 0.2}
    for i in range(3):
        values.update({f"W_{i + 1}{j + 1}^[1]": W1[i][j] for j in range(2)})
        values.update({f"W_{i + 1}{j + 1}^[3]": W3[i][j] for j in range(3)})
        values.update({f"b_{i + 1}^[1]": b1[i], f"gamma_{i + 1}^[2]": gamma[i],
                       f"beta_{i + 1}^[2]": beta[i], f"b_{i + 1}^[3]": b3[i],
                       f"W_1{i + 1}^[5]": W5[i]})
    a = [tanh(W1[i][0] * x[0] + W1[i][1] * x[1] + b1[i]) for i in range(3)]
    mu = sum(a) / 3
    var = sum((ai - mu) ** 2 for ai in a) / 3
    xt = [gamma[i] * (a[i] - mu) / sqrt(var + 1e-5) + beta[i] for i in range(3)]
    u = [tanh(sum(W3[i][j] * xt[j] for j in range(3)) + b3[i]) for i in range(3)]
    yhat = sum(W5[i] * (u[i] + xt[i]) for i in range(3)) + 0.2
    d_r = [-2 * (y - yhat) * W5[i] for i in range(3)]
    d_xt = [d_r[j] + sum(d_r[i] * (1 - u[i] ** 2) * W3[i][j] for i in range(3))
            for j in range(3)]
    norm_slip = d_xt[0] * gamma[0] / sqrt(var + 1e-5) * (1 - a[0] ** 2) * x[0]
    (row,) = grade(d, values, {"dL/dW_11^[1]": claim(norm_slip, 7)})
    assert row.slip.name == "delta_one_path" and row.slip.detail == {
        "through": "mu^[2], var^[2]"}
    branch_slip = d_r[0]  # ∂L/∂x̃_1 through the skip only
    (row,) = grade(d, values, {"dL/dxt_1^[2]": claim(branch_slip, 7)})
    assert row.slip.name == "delta_one_path" and row.slip.detail == {
        "through": "z_1^[3], z_2^[3], z_3^[3]"}


@pytest.mark.parametrize("spec, absent", [
    ("seed000", {"tanh_prime_sech", "delta_one_path", "shared_one_use"}),
    ("model-conv1d", {"sigma_prime_at_a", "transposed_index"}),
    ("model-attention", {"sigma_prime_at_a", "tanh_prime_sech", "delta_one_path"}),
])
def test_each_network_says_which_slips_cannot_happen_on_it(spec, absent):
    s = sb.load_spec(f"docs/examples/{spec}.toml")
    calc = HandCalculator(sb.derive(s.graph), s.values)
    applicable = calc.applicable()
    assert absent.isdisjoint(applicable) and set(applicable) <= set(SLIPS)
    assert "learning_rate_sign" in applicable


def test_matrix_entries_read_an_mlps_roles_whatever_its_notation():
    net = sb.mlp([2, 2, 1])  # sequential names: w1 … w6, still w_ij^(l) underneath
    entries = matrix_entries(net)
    assert entries[net.weight(1, 1, 2)][1:] == (1, 2)
    weights = {w for layer in (1, 2) for w in net.weights(layer)}
    assert set(entries) == weights  # the biases are not matrix entries

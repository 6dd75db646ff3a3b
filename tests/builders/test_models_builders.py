"""The model builders: gradients against finite differences (random sizes) and against torch's
own modules in float64 (where torch is installed); their names, titles and errors."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from backends import installed, needs_torch
from hypothesis import given, settings
from hypothesis import strategies as st
from networks import assert_fd_ok, random_values

import symbackprop as sb
from symbackprop.core.graph import GraphError

FEW = settings(max_examples=3, deadline=None, derandomize=True)

# The reference: imported where installed; the tests that need it are marked to skip otherwise.
torch = importlib.import_module("torch") if installed("torch") else None
F = torch.nn.functional if torch is not None else None


@FEW
@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 2), st.integers(1, 4),
       st.booleans(), st.booleans())
def test_rnn_gradients_match_finite_differences(n_in, n_h, n_out, steps, every, bias):
    assert_fd_ok(sb.rnn(n_in, n_h, n_out, steps, every_step=every, bias=bias))


def test_rnn_softmax_cross_entropy_and_karpathy_names():
    net = sb.rnn(2, 2, 3, 2, output_activation="softmax", loss="cross_entropy",
                 notation="karpathy")
    assert_fd_ok(net)
    assert net.latex_name(net.recurrent(2, 1)) == "(W_{hh})_{21}"
    assert net.latex_name(net.hidden(2, 1)) == "h_{2,1}"
    assert net.latex_name(net.output(1, 3)) == r"\hat{y}_{1,3}"


def test_rnn_delta_is_the_bptt_recursion():
    net = sb.rnn(1, 1, 1, 3)
    d = sb.derive(net)
    rec = d.delta(net.hidden(2)).recursion
    h3, W, V = net.hidden(3), net.recurrent(1, 1), net.output_weight(1, 1)
    delta3 = d.delta_symbols[h3]
    delta_o2 = d.delta_symbols[net.symbol("o_2")]
    assert (rec - (W * delta3 * (1 - h3 ** 2) + V * delta_o2)).expand() == 0


@FEW
@given(st.integers(2, 6), st.integers(1, 3), st.sampled_from(["tanh", "sigmoid", "identity"]),
       st.integers(1, 2))
def test_conv1d_gradients_match_finite_differences(length, kernel, act, outputs):
    if kernel > length:
        kernel = length
    assert_fd_ok(sb.conv1d(length, kernel, act, outputs=outputs))


def test_conv2d_gradients_and_weight_gradient_is_a_correlation():
    net = sb.conv2d((3, 4), (2, 2), "tanh", outputs=2)
    assert_fd_ok(net)
    d = sb.derive(net)
    grad = d.gradient(net.w(1, 2), form="delta")
    expected = sum(d.delta_symbols[net.pre(i, j)] * net.x(i, j + 1)
                   for i in range(1, 3) for j in range(1, 4))
    assert (grad - expected).expand() == 0


@FEW
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.booleans())
def test_attention_gradients_match_finite_differences(keys, d, d_v, projections):
    assert_fd_ok(sb.attention(keys, d, d_v, projections=projections))


def test_attention_score_delta_is_the_softmax_jacobian_form():
    net = sb.attention(3, 2)
    d = sb.derive(net)
    g = [d.delta_symbols[net.weight(j)] for j in (1, 2, 3)]
    a = [net.weight(j) for j in (1, 2, 3)]
    expected = a[0] * (g[0] - sum(ai * gi for ai, gi in zip(a, g, strict=True)))
    assert (d.delta(net.score(1)).recursion - expected).expand() == 0


@settings(max_examples=2, deadline=None, derandomize=True)
@given(st.integers(1, 2), st.integers(2, 3), st.booleans())
def test_norm_and_residual_networks_match_finite_differences(n_in, width, batch_norm):
    norm = sb.batch_norm() if batch_norm else sb.layer_norm()
    net = sb.network(n_in, [sb.dense(width, "tanh"), norm,
                            sb.residual(sb.dense(width, "tanh")), sb.dense(1)],
                     batch=2 if batch_norm else 1)
    assert_fd_ok(net)


@pytest.mark.parametrize("build, message", [
    (lambda: sb.rnn(0, 1, 1, 2), "input size"),
    (lambda: sb.conv1d(2, 3), "larger than the input"),
    (lambda: sb.attention(2, 2, loss="bce"), "attention loss"),
    (lambda: sb.network(2, [sb.dense(2), sb.batch_norm()]), "batch of at least 2"),
    (lambda: sb.network(2, [sb.residual(sb.dense(3))]), "keep the width"),
    (lambda: sb.rnn(1, 1, 1, 2, loss="cross_entropy"), "softmax"),
])
def test_bad_models_give_one_clear_error(build, message):
    with pytest.raises(GraphError, match=message):
        build()


# Every builder with a bce, its outputs ending in the activation given (None: no activation).
BCE_BUILDS = {
    "mlp": lambda act: sb.mlp([1, 1], act, "bce"),
    "rnn": lambda act: sb.rnn(1, 1, 1, 2, output_activation=act, loss="bce"),
    "conv1d": lambda act: sb.conv1d(2, 1, output_activation=act, loss="bce"),
    "conv2d": lambda act: sb.conv2d((2, 2), (1, 1), output_activation=act, loss="bce"),
    "network": lambda act: sb.network(1, [sb.dense(1, act)], "bce"),
}


@pytest.mark.parametrize("build", BCE_BUILDS.values(), ids=list(BCE_BUILDS))
@pytest.mark.parametrize("act", ["identity", "relu", "tanh", "softplus"])
def test_every_builder_refuses_a_bce_over_outputs_outside_0_1(build, act):
    with pytest.raises(GraphError, match=r"^loss 'bce' needs outputs in \(0, 1\): a sigmoid"):
        build(act)


@pytest.mark.parametrize("build", BCE_BUILDS.values(), ids=list(BCE_BUILDS))
def test_every_builder_takes_a_bce_over_sigmoid_outputs(build):
    assert build("sigmoid").loss_name == "bce"


@pytest.mark.parametrize("net", [
    sb.rnn(2, 2, 2, 2), sb.rnn(1, 1, 1, 2, notation="karpathy"), sb.conv1d(4, 2),
    sb.conv2d((3, 3), (2, 2), outputs=2), sb.attention(2, 2, projections=True),
    sb.network(2, [sb.dense(2, "tanh"), sb.batch_norm(), sb.residual(sb.dense(2))], batch=2),
], ids=["rnn", "rnn-karpathy", "conv1d", "conv2d", "attention", "blocks"])
def test_every_symbol_has_a_textbook_spelling(net):
    from symbackprop.printing.latex import TexPrinter

    assert all(net.latex_name(s) for s in net.symbols)
    names = TexPrinter(sb.derive(net)).names.values()
    assert not [n for n in names if r"\mathit" in n or r"\_" in n]


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_rnn_notes_compile_with_readable_names(tmp_path):
    from texutil import have_tex

    net = sb.rnn(1, 1, 1, 2)
    tex = sb.render(sb.worked_example(sb.derive(net), random_values(net)), "article")
    assert r"\mathit" not in tex and r"h_{2}" in tex and r"\delta_{1}" in tex
    if have_tex():
        assert sb.compile_pdf(tex, tmp_path / "rnn.pdf").stat().st_size > 0


def test_default_titles_read_as_a_lecturer_prints_them():
    assert sb.rnn(1, 2, 1, steps=4).title == (
        "Elman RNN over 4 steps: 1 input, 2 hidden units, 1 output")
    assert sb.conv1d(7, 3).title == "1-D convolution: 7 inputs, kernel 3"
    assert sb.conv1d(1, 1).title == "1-D convolution: 1 input, kernel 1"
    assert sb.conv1d(5, 2, in_channels=1, out_channels=2).title == (
        "1-D convolution: 5 inputs, kernel 2, 1 input channel and 2 kernels")
    assert sb.attention(1, 2).title == "Attention over 1 key, d = 2"
    assert sb.rnn(1, 1, 1, steps=2, title="Mine").heading is None  # the user's title stands
    net = sb.network(2, [sb.dense(2, "tanh"), sb.residual(sb.dense(2)), sb.batch_norm()],
                     batch=2)
    assert net.title == ("Network of 2 inputs over a batch of 2: "
                         "dense 2 (tanh) → residual(dense 2) → batch norm")
    assert net.heading[1]["blocks"][1] == {
        "kind": "residual", "blocks": [{"kind": "dense", "units": 2, "activation": "identity"}]}


# -- torch: the same numbers from torch's own modules ------------------------------------------
def _grads(net, values):
    result = sb.derive(net).evaluate(values)
    return result.loss, result.gradients


@needs_torch
def test_rnn_matches_torch_nn_rnn():
    T, n_in, n_h, n_out = 3, 2, 3, 2
    net = sb.rnn(n_in, n_h, n_out, T)
    v = random_values(net, 1)
    mats = {k: torch.tensor([[v[s.name] for s in row] for row in rows], dtype=torch.float64,
                            requires_grad=True) for k, rows in net.matrices().items()}
    rnn = torch.nn.RNN(n_in, n_h, nonlinearity="tanh", batch_first=True).double()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(mats["U"]); rnn.weight_hh_l0.copy_(mats["W"])  # noqa: E702
        rnn.bias_ih_l0.copy_(mats["b"][:, 0]); rnn.bias_hh_l0.zero_()  # noqa: E702
    x = torch.tensor([[[v[net.symbol(f"x_{t},{i}").name] for i in (1, 2)] for t in (1, 2, 3)]],
                     dtype=torch.float64)
    y = torch.tensor([[v[f"y_{t},{k}"] for k in (1, 2)] for t in (1, 2, 3)], dtype=torch.float64)
    h, _ = rnn(x)
    V, c = mats["V"], mats["c"]
    out = h[0] @ V.T + c[:, 0]
    loss = ((out - y) ** 2).mean(dim=1).sum()
    loss.backward()
    ours_loss, grads = _grads(net, v)
    assert ours_loss == pytest.approx(loss.item(), rel=1e-12)
    expected = {"U": rnn.weight_ih_l0.grad, "W": rnn.weight_hh_l0.grad, "V": V.grad,
                "b": rnn.bias_ih_l0.grad[:, None], "c": c.grad}
    for k, rows in net.matrices().items():
        ours = np.array([[grads[s.name] for s in row] for row in rows])
        np.testing.assert_allclose(ours, expected[k].numpy(), rtol=1e-10, atol=1e-12)


@needs_torch
def test_conv1d_matches_torch_conv1d():
    net = sb.conv1d(6, 3, "tanh")
    v = random_values(net, 2)
    x = torch.tensor([[[v[f"x_{i}"] for i in range(1, 7)]]], dtype=torch.float64)
    w = torch.tensor([[[v[f"w_{k}"] for k in (1, 2, 3)]]], dtype=torch.float64,
                     requires_grad=True)
    b = torch.tensor([v["b"]], dtype=torch.float64, requires_grad=True)
    head = torch.tensor([v[f"v_{i}"] for i in range(1, 5)], dtype=torch.float64,
                        requires_grad=True)
    a = torch.tanh(F.conv1d(x, w, b))[0, 0]
    loss = ((a @ head + v["c"]) - v["y"]) ** 2
    loss.backward()
    _, grads = _grads(net, v)
    np.testing.assert_allclose([grads[f"w_{k}"] for k in (1, 2, 3)], w.grad[0, 0].numpy(),
                               rtol=1e-10)
    assert grads["b"] == pytest.approx(b.grad.item(), rel=1e-10)


@needs_torch
def test_attention_matches_torch_scaled_dot_product_attention():
    n, d, d_v = 3, 2, 2
    net = sb.attention(n, d, d_v)
    v = random_values(net, 3)

    def tensor(stem, rows, cols):
        return torch.tensor([[v[f"{stem}_{j},{i}"] for i in range(1, cols + 1)]
                             for j in range(1, rows + 1)], dtype=torch.float64,
                            requires_grad=True)

    q = torch.tensor([[v[f"q_{i}"] for i in range(1, d + 1)]], dtype=torch.float64,
                     requires_grad=True)
    k, val = tensor("k", n, d), tensor("v", n, d_v)
    o = F.scaled_dot_product_attention(q[None], k[None], val[None])[0, 0]
    y = torch.tensor([v[f"y_{i}"] for i in range(1, d_v + 1)], dtype=torch.float64)
    loss = ((o - y) ** 2).mean()
    loss.backward()
    _, grads = _grads(net, v)
    np.testing.assert_allclose([grads[f"q_{i}"] for i in (1, 2)], q.grad[0].numpy(), rtol=1e-10)
    np.testing.assert_allclose([[grads[f"k_{j},{i}"] for i in (1, 2)] for j in (1, 2, 3)],
                               k.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose([[grads[f"v_{j},{i}"] for i in (1, 2)] for j in (1, 2, 3)],
                               val.grad.numpy(), rtol=1e-10)


@needs_torch
@pytest.mark.parametrize("kind", ["layer", "batch"])
def test_norm_matches_torch(kind):
    n, m = 3, 2
    block = sb.layer_norm() if kind == "layer" else sb.batch_norm()
    net = sb.network(n, [block], batch=m)
    v = random_values(net, 4)
    x = torch.tensor([[v[f"x_{j}^({s})"] for j in range(1, n + 1)] for s in range(1, m + 1)],
                     dtype=torch.float64)
    y = torch.tensor([[v[f"y_{j}^({s})"] for j in range(1, n + 1)] for s in range(1, m + 1)],
                     dtype=torch.float64)
    gamma = torch.tensor([v[f"gamma_{j}^[1]"] for j in range(1, n + 1)], dtype=torch.float64,
                         requires_grad=True)
    beta = torch.tensor([v[f"beta_{j}^[1]"] for j in range(1, n + 1)], dtype=torch.float64,
                        requires_grad=True)
    if kind == "layer":
        out = F.layer_norm(x, (n,), gamma, beta, eps=1e-5)
    else:
        out = F.batch_norm(x, None, None, gamma, beta, training=True, eps=1e-5)
    loss = ((out - y) ** 2).mean(dim=1).mean()
    loss.backward()
    _, grads = _grads(net, v)
    np.testing.assert_allclose([grads[f"gamma_{j}^[1]"] for j in range(1, n + 1)],
                               gamma.grad.numpy(), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose([grads[f"beta_{j}^[1]"] for j in range(1, n + 1)],
                               beta.grad.numpy(), rtol=1e-8, atol=1e-12)

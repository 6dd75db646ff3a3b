"""The model builders' gradients against torch in float64 (skipped where torch is absent)."""

from __future__ import annotations

import numpy as np
import pytest
from test_models_builders import _values

import symbackprop as sb

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _grads(net, values):
    result = sb.derive(net).evaluate(values)
    return result.loss, result.gradients


def test_rnn_matches_torch_nn_rnn():
    T, n_in, n_h, n_out = 3, 2, 3, 2
    net = sb.rnn(n_in, n_h, n_out, T)
    v = _values(net, 1)
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


def test_conv1d_matches_torch_conv1d():
    net = sb.conv1d(6, 3, "tanh")
    v = _values(net, 2)
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


def test_attention_matches_torch_scaled_dot_product_attention():
    n, d, d_v = 3, 2, 2
    net = sb.attention(n, d, d_v)
    v = _values(net, 3)

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


@pytest.mark.parametrize("kind", ["layer", "batch"])
def test_norm_matches_torch(kind):
    n, m = 3, 2
    block = sb.layer_norm() if kind == "layer" else sb.batch_norm()
    net = sb.network(n, [block], batch=m)
    v = _values(net, 4)
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

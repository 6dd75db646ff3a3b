"""The models' batched evaluators against torch's own modules (skipped where torch is absent)."""

from __future__ import annotations

import numpy as np
import pytest

from symbackprop.forms import models as forms

B = 4

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _t(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=True)


def test_batched_rnn_matches_torch_nn_rnn():
    T, n_x, n_h, n_y = 5, 3, 4, 2
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(B, T, n_x)), rng.normal(size=(B, T, n_y))
    P = {"U": rng.normal(size=(n_h, n_x)) * 0.5, "W": rng.normal(size=(n_h, n_h)) * 0.5,
         "V": rng.normal(size=(n_y, n_h)), "b": rng.normal(size=n_h), "c": rng.normal(size=n_y)}
    for backend in ("numpy", "torch"):
        out = forms.rnn_form().evaluator({"T": T, "n_x": n_x, "n_h": n_h, "n_y": n_y},
                                         backend)({"x": x, "y": y}, P)
        rnn = torch.nn.RNN(n_x, n_h, batch_first=True).double()
        with torch.no_grad():
            rnn.weight_ih_l0.copy_(torch.tensor(P["U"])); rnn.weight_hh_l0.copy_(torch.tensor(P["W"]))  # noqa: E501, E702
            rnn.bias_ih_l0.copy_(torch.tensor(P["b"])); rnn.bias_hh_l0.zero_()  # noqa: E702
        V, c = _t(P["V"]), _t(P["c"])
        h, _ = rnn(torch.tensor(x))
        per_sample = ((h @ V.T + c - torch.tensor(y)) ** 2).mean(dim=2).sum(dim=1)
        per_sample.mean().backward()
        np.testing.assert_allclose(np.asarray(out.loss), per_sample.detach().numpy(), rtol=1e-12)
        for name, g in (("U", rnn.weight_ih_l0.grad), ("W", rnn.weight_hh_l0.grad),
                        ("V", V.grad), ("b", rnn.bias_ih_l0.grad), ("c", c.grad)):
            np.testing.assert_allclose(np.asarray(out.gradients[name]), g.numpy(), rtol=1e-10)


def test_batched_conv1d_matches_torch_conv1d():
    n, K = 9, 3
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(B, n)), rng.normal(size=B)
    P = {"w": rng.normal(size=K), "b": 0.3, "v": rng.normal(size=n - K + 1), "c": -0.2}
    out = forms.conv1d_form("tanh").evaluator({"n": n, "K": K})({"x": x, "y": y}, P)
    xt = _t(x[:, None, :])
    w, b, v = _t(P["w"][None, None]), _t([P["b"]]), _t(P["v"])
    a = torch.tanh(F.conv1d(xt, w, b))[:, 0]
    loss = ((a @ v + P["c"] - torch.tensor(y)) ** 2)
    loss.mean().backward()
    np.testing.assert_allclose(out.gradients["w"], w.grad[0, 0].numpy(), rtol=1e-10)
    np.testing.assert_allclose(out.gradients["b"], b.grad.numpy()[0], rtol=1e-10)
    np.testing.assert_allclose(out.gradients["x"], xt.grad[:, 0].numpy() * B, rtol=1e-10)


def test_batched_attention_matches_torch_sdpa():
    n, d, d_v = 4, 3, 2
    rng = np.random.default_rng(2)
    y = rng.normal(size=(B, d_v))
    P = {"q": rng.normal(size=d), "k": rng.normal(size=(n, d)), "v": rng.normal(size=(n, d_v))}
    out = forms.attention_form().evaluator({"n": n, "d": d, "d_v": d_v})({"y": y}, P)
    q, k, v = _t(P["q"][None, None]), _t(P["k"][None]), _t(P["v"][None])
    o = F.scaled_dot_product_attention(q, k, v)[0, 0]
    (((o - torch.tensor(y)) ** 2).mean(dim=1)).mean().backward()
    np.testing.assert_allclose(out.gradients["q"], q.grad[0, 0].numpy(), rtol=1e-10)
    np.testing.assert_allclose(out.gradients["k"], k.grad[0].numpy(), rtol=1e-10)
    np.testing.assert_allclose(out.gradients["v"], v.grad[0].numpy(), rtol=1e-10)


def test_batched_layer_norm_matches_torch_layer_norm():
    n = 5
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(B, n)), rng.normal(size=(B, n))
    P = {"gamma": rng.normal(size=n), "beta": rng.normal(size=n)}
    out = forms.layer_norm_form().evaluator({"n": n})({"x": x, "y": y}, P)
    xt, g, b = _t(x), _t(P["gamma"]), _t(P["beta"])
    ((F.layer_norm(xt, (n,), g, b, eps=1e-5) - torch.tensor(y)) ** 2).mean(dim=1).mean().backward()
    np.testing.assert_allclose(out.gradients["gamma"], g.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(out.gradients["beta"], b.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(out.gradients["x"], xt.grad.numpy() * B, rtol=1e-8)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_batched_multi_output_conv1d_matches_torch_conv1d(backend):
    n, K, n_y = 8, 3, 3
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(B, n)), rng.normal(size=(B, n_y))
    P = {"w": rng.normal(size=K), "b": 0.1, "v": rng.normal(size=(n_y, n - K + 1)),
         "c": rng.normal(size=n_y)}
    out = forms.conv1d_form("tanh", outputs=True).evaluator(
        {"n": n, "K": K, "n_y": n_y}, backend)({"x": x, "y": y}, P)
    w, b, v, c = _t(P["w"][None, None]), _t([P["b"]]), _t(P["v"]), _t(P["c"])
    a = torch.tanh(F.conv1d(torch.tensor(x[:, None, :]), w, b))[:, 0]
    ((F.linear(a, v, c) - torch.tensor(y)) ** 2).mean(dim=1).mean().backward()
    for name, g in (("w", w.grad[0, 0]), ("b", b.grad[0]), ("v", v.grad), ("c", c.grad)):
        np.testing.assert_allclose(np.asarray(out.gradients[name]), g.numpy(), rtol=1e-10)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_batched_attention_with_projections_matches_torch_sdpa(backend):
    n, d, d_v, d_in = 4, 2, 3, 3
    rng = np.random.default_rng(5)
    y, x, c = rng.normal(size=(B, d_v)), rng.normal(size=(B, d_in)), rng.normal(size=(B, n, d_in))
    P = {"Q": rng.normal(size=(d, d_in)), "K": rng.normal(size=(d, d_in)),
         "V": rng.normal(size=(d_v, d_in))}
    out = forms.attention_form(projections=True).evaluator(
        {"n": n, "d": d, "d_v": d_v, "d_in": d_in}, backend)({"y": y, "x": x, "xc": c}, P)
    WQ, WK, WV = (_t(P[w]) for w in "QKV")
    xs, cs = torch.tensor(x), torch.tensor(c)
    o = F.scaled_dot_product_attention(F.linear(xs, WQ)[:, None], F.linear(cs, WK),
                                       F.linear(cs, WV))[:, 0]
    ((o - torch.tensor(y)) ** 2).mean(dim=1).mean().backward()
    for name, g in (("Q", WQ.grad), ("K", WK.grad), ("V", WV.grad)):
        np.testing.assert_allclose(np.asarray(out.gradients[name]), g.numpy(), rtol=1e-9)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_batched_block_network_matches_torch_modules(backend):
    from symbackprop import batch_norm, dense, layer_norm, residual
    from symbackprop.forms.blocks import network_form

    m, n_0, n_1 = 6, 3, 4
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(m, n_0)), rng.normal(size=(m, 2))
    P = {"W1": rng.normal(size=(n_1, n_0)), "b1": rng.normal(size=n_1),
         "gamma2": rng.normal(size=n_1), "beta2": rng.normal(size=n_1),
         "W3": rng.normal(size=(n_1, n_1)), "b3": rng.normal(size=n_1),
         "gamma4": rng.normal(size=n_1), "beta4": rng.normal(size=n_1),
         "W6": rng.normal(size=(2, n_1)), "b6": rng.normal(size=2)}
    form = network_form([dense(n_1, "tanh"), batch_norm(),
                         residual(dense(n_1, "tanh"), layer_norm()), dense(2)])
    out = form.evaluator({"m": m, "n_0": n_0, "n_1": n_1, "n_6": 2}, backend)(
        {"x": x[None], "y": y[None]}, P)  # one mini-batch of m samples
    T = {k: _t(v) for k, v in P.items()}
    a = F.batch_norm(torch.tanh(F.linear(torch.tensor(x), T["W1"], T["b1"])), None, None,
                     T["gamma2"], T["beta2"], training=True, eps=1e-5)
    inner = torch.tanh(F.linear(a, T["W3"], T["b3"]))
    r = a + F.layer_norm(inner, (n_1,), T["gamma4"], T["beta4"], eps=1e-5)
    loss = ((F.linear(r, T["W6"], T["b6"]) - torch.tensor(y)) ** 2).mean()
    loss.backward()
    np.testing.assert_allclose(np.asarray(out.loss), [loss.item()], rtol=1e-11)
    for name, t in T.items():
        np.testing.assert_allclose(np.asarray(out.gradients[name]), t.grad.numpy(), rtol=1e-8,
                                   atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("scale", [1.0, 300.0], ids=["plain", "saturated"])
def test_batched_softmax_rnn_matches_nn_rnn_with_cross_entropy(backend, scale):
    # Goodfellow ch. 10: ŷ_t = softmax(c + V h_t), cross-entropy at every step
    T, n_x, n_h, n_y = 5, 3, 4, 3
    rng = np.random.default_rng(8)
    x, labels = rng.normal(size=(B, T, n_x)), rng.integers(n_y, size=(B, T))
    P = {"U": rng.normal(size=(n_h, n_x)) * 0.5, "W": rng.normal(size=(n_h, n_h)) * 0.5,
         "V": rng.normal(size=(n_y, n_h)) * scale, "b": rng.normal(size=n_h),
         "c": rng.normal(size=n_y)}
    out = forms.rnn_form("softmax", "cross_entropy").evaluator(
        {"T": T, "n_x": n_x, "n_h": n_h, "n_y": n_y}, backend)(
        {"x": x, "y": np.eye(n_y)[labels]}, P)
    rnn = torch.nn.RNN(n_x, n_h, batch_first=True).double()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.tensor(P["U"])); rnn.weight_hh_l0.copy_(torch.tensor(P["W"]))  # noqa: E501, E702
        rnn.bias_ih_l0.copy_(torch.tensor(P["b"])); rnn.bias_hh_l0.zero_()  # noqa: E702
    V, c = _t(P["V"]), _t(P["c"])
    h, _ = rnn(torch.tensor(x))
    per_sample = F.cross_entropy((h @ V.T + c).reshape(B * T, n_y),
                                 torch.tensor(labels).reshape(-1), reduction="none"
                                 ).reshape(B, T).sum(dim=1)
    per_sample.mean().backward()
    np.testing.assert_allclose(np.asarray(out.loss), per_sample.detach().numpy(), rtol=1e-11)
    for name, g in (("U", rnn.weight_ih_l0.grad), ("W", rnn.weight_hh_l0.grad),
                    ("V", V.grad), ("b", rnn.bias_ih_l0.grad), ("c", c.grad)):
        np.testing.assert_allclose(np.asarray(out.gradients[name]), g.numpy(), rtol=1e-9,
                                   atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_batched_softmax_conv_heads_match_torch_conv_and_cross_entropy(backend):
    rng = np.random.default_rng(9)
    n, K, n_y = 7, 3, 4
    x, labels = rng.normal(size=(B, n)), rng.integers(n_y, size=B)
    P = {"w": rng.normal(size=K), "b": 0.1, "v": rng.normal(size=(n_y, n - K + 1)),
         "c": rng.normal(size=n_y)}
    out = forms.conv1d_form("relu", "softmax", "cross_entropy").evaluator(
        {"n": n, "K": K, "n_y": n_y}, backend)({"x": x, "y": np.eye(n_y)[labels]}, P)
    w, b, v, c = _t(P["w"][None, None]), _t([P["b"]]), _t(P["v"]), _t(P["c"])
    a = torch.relu(F.conv1d(torch.tensor(x[:, None, :]), w, b))[:, 0]
    F.cross_entropy(F.linear(a, v, c), torch.tensor(labels)).backward()
    for name, g in (("w", w.grad[0, 0]), ("b", b.grad[0]), ("v", v.grad), ("c", c.grad)):
        np.testing.assert_allclose(np.asarray(out.gradients[name]), g.numpy(), rtol=1e-10)
    # and in two dimensions
    H, Wd, n_y = 4, 3, 3
    x, labels = rng.normal(size=(B, H, Wd)), rng.integers(n_y, size=B)
    P = {"w": rng.normal(size=(2, 2)), "b": -0.2, "v": rng.normal(size=(n_y, H - 1, Wd - 1)),
         "c": rng.normal(size=n_y)}
    out = forms.conv2d_form("tanh", "softmax", "cross_entropy").evaluator(
        {"H": H, "W": Wd, "P": 2, "Q": 2, "n_y": n_y}, backend)(
        {"x": x, "y": np.eye(n_y)[labels]}, P)
    w, b, v, c = _t(P["w"][None, None]), _t([P["b"]]), _t(P["v"]), _t(P["c"])
    a = torch.tanh(F.conv2d(torch.tensor(x[:, None]), w, b))[:, 0].reshape(B, -1)
    F.cross_entropy(F.linear(a, v.reshape(n_y, -1), c), torch.tensor(labels)).backward()
    for name, g in (("w", w.grad[0, 0]), ("b", b.grad[0]), ("v", v.grad), ("c", c.grad)):
        np.testing.assert_allclose(np.asarray(out.gradients[name]), g.numpy(), rtol=1e-10)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_batched_softmax_network_matches_torch_linear_and_cross_entropy(backend):
    from symbackprop import dense
    from symbackprop.forms.blocks import network_form

    m, n_0, n_1, n_2 = 5, 3, 4, 3
    rng = np.random.default_rng(10)
    x, labels = rng.normal(size=(m, n_0)), rng.integers(n_2, size=m)
    P = {"W1": rng.normal(size=(n_1, n_0)), "b1": rng.normal(size=n_1),
         "W2": rng.normal(size=(n_2, n_1)), "b2": rng.normal(size=n_2)}
    form = network_form([dense(n_1, "softmax"), dense(n_2, "softmax")], "cross_entropy")
    out = form.evaluator({"m": m, "n_0": n_0, "n_1": n_1, "n_2": n_2}, backend)(
        {"x": x[None], "y": np.eye(n_2)[labels][None]}, P)
    T = {k: _t(v) for k, v in P.items()}
    hidden = torch.softmax(F.linear(torch.tensor(x), T["W1"], T["b1"]), dim=1)
    loss = F.cross_entropy(F.linear(hidden, T["W2"], T["b2"]), torch.tensor(labels))
    loss.backward()
    np.testing.assert_allclose(np.asarray(out.loss), [loss.item()], rtol=1e-12)
    for name, t in T.items():
        np.testing.assert_allclose(np.asarray(out.gradients[name]), t.grad.numpy(), rtol=1e-9,
                                   atol=1e-13)

"""The models' batched evaluators against torch's own modules (skipped where torch is absent)."""

from __future__ import annotations

import numpy as np
import pytest

from symbackprop.models import forms

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

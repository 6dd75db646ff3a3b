"""Convolutions with channels against torch.nn.functional.conv1d/conv2d and the dense head,
with autograd in float64: the scalar derivation and the batched evaluators (numpy, torch, and
jax where installed). Skipped where torch is absent."""

from __future__ import annotations

import numpy as np
import pytest
from test_models_builders import _values

import symbackprop as sb
from symbackprop.forms import models as forms

torch = pytest.importorskip("torch")
F = torch.nn.functional
B = 4


def _t(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=True)


def _backends():
    out = ["numpy", "torch"]
    try:
        import jax  # noqa: F401
        out.append("jax")
    except ImportError:
        pass
    return out


def test_scalar_conv1d_with_channels_matches_torch():
    n, K, c_in, c_out = 5, 2, 2, 3
    net = sb.conv1d(n, K, "tanh", in_channels=c_in, out_channels=c_out)
    v = _values(net, 4)
    x = torch.tensor([[[v[f"x_{c},{i}"] for i in range(1, n + 1)]
                       for c in range(1, c_in + 1)]], dtype=torch.float64)
    w = _t([[[v[f"w_{o},{c},{k}"] for k in range(1, K + 1)] for c in range(1, c_in + 1)]
            for o in range(1, c_out + 1)])
    b = _t([v[f"b_{o}"] for o in range(1, c_out + 1)])
    head = _t([[v[f"v_{o},{i}"] for i in range(1, n - K + 2)] for o in range(1, c_out + 1)])
    a = torch.tanh(F.conv1d(x, w, b))[0]
    loss = ((a * head).sum() + v["c"] - v["y"]) ** 2
    loss.backward()
    result = sb.derive(net).evaluate(v)
    assert result.loss == pytest.approx(loss.item(), rel=1e-12)
    for o, c, k in np.ndindex(c_out, c_in, K):
        assert result.gradients[f"w_{o + 1},{c + 1},{k + 1}"] == pytest.approx(
            w.grad[o, c, k].item(), rel=1e-10, abs=1e-13)
    np.testing.assert_allclose([result.gradients[f"b_{o}"] for o in range(1, c_out + 1)],
                               b.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("backend", _backends())
def test_batched_conv1d_with_channels_matches_torch_conv1d(backend):
    n, K, c_in, c_out, n_y = 9, 3, 3, 2, 2
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(B, c_in, n)), rng.normal(size=(B, n_y))
    P = {"w": rng.normal(size=(c_out, c_in, K)), "b": rng.normal(size=c_out),
         "v": rng.normal(size=(n_y, c_out, n - K + 1)), "c": rng.normal(size=n_y)}
    out = forms.conv1d_form("tanh", outputs=True, channels=True).evaluator(
        {"n": n, "K": K, "C_in": c_in, "C_out": c_out, "n_y": n_y}, backend)({"x": x, "y": y}, P)
    xt, w, b, v, c = _t(x), _t(P["w"]), _t(P["b"]), _t(P["v"]), _t(P["c"])
    a = torch.tanh(F.conv1d(xt, w, b))                        # (B, C_out, n − K + 1)
    o = F.linear(a.flatten(1), v.flatten(1), c)               # the head over every a_{m,i}
    per_sample = ((o - torch.tensor(y)) ** 2).mean(dim=1)
    per_sample.mean().backward()
    np.testing.assert_allclose(np.asarray(out.loss), per_sample.detach().numpy(), rtol=1e-12)
    for name, g in (("w", w.grad), ("b", b.grad), ("v", v.grad), ("c", c.grad)):
        np.testing.assert_allclose(np.asarray(out.gradients[name]), g.numpy(), rtol=1e-10)
    # ∂L/∂x per sample: torch's is of the batch mean, hence × B
    np.testing.assert_allclose(np.asarray(out.gradients["x"]), xt.grad.numpy() * B, rtol=1e-10)


@pytest.mark.parametrize("backend", _backends())
def test_batched_conv2d_with_channels_matches_torch_conv2d(backend):
    H, W, P_, Q, c_in, c_out = 4, 5, 2, 3, 2, 3
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(B, c_in, H, W)), rng.normal(size=B)
    P = {"w": rng.normal(size=(c_out, c_in, P_, Q)), "b": rng.normal(size=c_out),
         "v": rng.normal(size=(c_out, H - P_ + 1, W - Q + 1)), "c": 0.3}
    out = forms.conv2d_form("sigmoid", channels=True).evaluator(
        {"H": H, "W": W, "P": P_, "Q": Q, "C_in": c_in, "C_out": c_out}, backend)(
        {"x": x, "y": y}, P)
    xt, w, b, v = _t(x), _t(P["w"]), _t(P["b"]), _t(P["v"])
    a = torch.sigmoid(F.conv2d(xt, w, b))
    per_sample = ((a * v).sum(dim=(1, 2, 3)) + P["c"] - torch.tensor(y)) ** 2
    per_sample.mean().backward()
    np.testing.assert_allclose(np.asarray(out.loss), per_sample.detach().numpy(), rtol=1e-12)
    for name, g in (("w", w.grad), ("b", b.grad), ("v", v.grad)):
        np.testing.assert_allclose(np.asarray(out.gradients[name]), g.numpy(), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(out.gradients["x"]), xt.grad.numpy() * B, rtol=1e-10)

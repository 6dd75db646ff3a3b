"""The models' batched evaluators on the jax backend (jit-compiled, float64) against jax's own
autograd of the same models written with jax.numpy and jax.nn (skipped where jax is absent)."""

from __future__ import annotations

import numpy as np
import pytest

import symbackprop as sb
from symbackprop.forms import models as forms
from symbackprop.forms.blocks import network_form

jax = pytest.importorskip("jax")
jnp = jax.numpy
B = 4


def _grads(loss, params, *data):
    """The batch-mean loss's gradient by jax autograd, in float64."""
    with jax.enable_x64(True):
        params = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in params.items()}
        data = [jnp.asarray(d, dtype=jnp.float64) for d in data]
        per_sample = loss(params, *data)
        grads = jax.grad(lambda p: loss(p, *data).mean())(params)
        return np.asarray(per_sample), {k: np.asarray(v) for k, v in grads.items()}


def _assert_matches(out, per_sample, grads):
    np.testing.assert_allclose(np.asarray(out.loss), per_sample, rtol=1e-11)
    for name, g in grads.items():
        np.testing.assert_allclose(np.asarray(out.gradients[name]), g, rtol=1e-9, atol=1e-13)


def test_jax_rnn_matches_jax_autograd():
    T, n_x, n_h, n_y = 3, 2, 3, 2
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(B, T, n_x)), rng.normal(size=(B, T, n_y))
    P = {"U": rng.normal(size=(n_h, n_x)) * 0.5, "W": rng.normal(size=(n_h, n_h)) * 0.5,
         "V": rng.normal(size=(n_y, n_h)), "b": rng.normal(size=n_h), "c": rng.normal(size=n_y)}

    def loss(p, x, y):
        h, total = jnp.zeros((x.shape[0], n_h)), 0.0
        for t in range(T):
            h = jnp.tanh(x[:, t] @ p["U"].T + h @ p["W"].T + p["b"])
            total = total + ((h @ p["V"].T + p["c"] - y[:, t]) ** 2).mean(axis=1)
        return total
    ev = forms.rnn_form().evaluator({"T": T, "n_x": n_x, "n_h": n_h, "n_y": n_y}, "jax")
    out = ev({"x": x, "y": y}, P)
    assert out.loss.dtype == np.float64
    _assert_matches(out, *_grads(loss, P, x, y))
    _assert_matches(ev({"x": x[:2], "y": y[:2]}, P), *_grads(loss, P, x[:2], y[:2]))


def test_jax_multi_output_conv1d_matches_jax_autograd():
    n, K, n_y = 7, 3, 2
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(B, n)), rng.normal(size=(B, n_y))
    P = {"w": rng.normal(size=K), "b": 0.2, "v": rng.normal(size=(n_y, n - K + 1)),
         "c": rng.normal(size=n_y)}

    def loss(p, x, y):
        z = jax.vmap(lambda row: jnp.correlate(row, p["w"], "valid"))(x) + p["b"]
        return ((jax.nn.sigmoid(jnp.tanh(z) @ p["v"].T + p["c"]) - y) ** 2).mean(axis=1)
    out = forms.conv1d_form("tanh", "sigmoid", outputs=True).evaluator(
        {"n": n, "K": K, "n_y": n_y}, "jax")({"x": x, "y": y}, P)
    _assert_matches(out, *_grads(loss, P, x, y))


@pytest.mark.parametrize("projections", [False, True])
def test_jax_attention_matches_jax_autograd(projections):
    n, d, d_in = 3, 2, 3
    rng = np.random.default_rng(2)
    y, x, c = rng.normal(size=(B, d)), rng.normal(size=(B, d_in)), rng.normal(size=(B, n, d_in))
    if projections:
        P = {w: rng.normal(size=(d, d_in)) for w in ("Q", "K", "V")}
    else:
        P = {"q": rng.normal(size=d), "k": rng.normal(size=(n, d)), "v": rng.normal(size=(n, d))}

    def loss(p, y, x, c):
        if projections:
            q, k, v = x @ p["Q"].T, c @ p["K"].T, c @ p["V"].T
        else:
            q, k, v = (jnp.broadcast_to(p[w], (y.shape[0], *p[w].shape)) for w in "qkv")
        # jax.nn.dot_product_attention agrees only to ~1e-7 (its softmax is not float64)
        alpha = jax.nn.softmax(jnp.einsum("bi,bji->bj", q, k) / jnp.sqrt(d), axis=1)
        return ((jnp.einsum("bj,bji->bi", alpha, v) - y) ** 2).mean(axis=1)
    sizes = {"n": n, "d": d, "d_v": d, **({"d_in": d_in} if projections else {})}
    inputs = {"y": y, **({"x": x, "xc": c} if projections else {})}
    out = forms.attention_form(projections=projections).evaluator(sizes, "jax")(inputs, P)
    _assert_matches(out, *_grads(loss, P, y, x, c))


def test_jax_block_network_matches_jax_autograd():
    m, n_0, n_1 = 5, 3, 4
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(1, m, n_0)), rng.normal(size=(1, m, 1))
    P = {"W1": rng.normal(size=(n_1, n_0)), "b1": rng.normal(size=n_1),
         "gamma2": rng.normal(size=n_1), "beta2": rng.normal(size=n_1),
         "W3": rng.normal(size=(n_1, n_1)), "b3": rng.normal(size=n_1),
         "gamma4": rng.normal(size=n_1), "beta4": rng.normal(size=n_1),
         "W6": rng.normal(size=(1, n_1)), "b6": rng.normal(size=1)}

    def norm(a, gamma, beta, axis):
        c = a - a.mean(axis=axis, keepdims=True)
        return gamma * c / jnp.sqrt((c ** 2).mean(axis=axis, keepdims=True) + 1e-5) + beta

    def loss(p, x, y):
        a = norm(jnp.tanh(x @ p["W1"].T + p["b1"]), p["gamma2"], p["beta2"], axis=1)  # batch
        r = a + norm(jax.nn.sigmoid(a @ p["W3"].T + p["b3"]), p["gamma4"], p["beta4"], axis=2)
        return ((r @ p["W6"].T + p["b6"] - y) ** 2).mean(axis=(1, 2))
    form = network_form([sb.dense(n_1, "tanh"), sb.batch_norm(),
                         sb.residual(sb.dense(n_1, "sigmoid"), sb.layer_norm()), sb.dense(1)])
    out = form.evaluator({"m": m, "n_0": n_0, "n_1": n_1, "n_6": 1}, "jax")({"x": x, "y": y}, P)
    _assert_matches(out, *_grads(loss, P, x, y))


@pytest.mark.parametrize("scale", [1.0, 300.0], ids=["plain", "saturated"])
def test_jax_softmax_rnn_matches_jax_autograd_of_log_softmax(scale):
    T, n_x, n_h, n_y = 3, 2, 3, 4
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(B, T, n_x)), np.eye(n_y)[rng.integers(n_y, size=(B, T))]
    P = {"U": rng.normal(size=(n_h, n_x)) * 0.5, "W": rng.normal(size=(n_h, n_h)) * 0.5,
         "V": rng.normal(size=(n_y, n_h)) * scale, "b": rng.normal(size=n_h),
         "c": rng.normal(size=n_y)}

    def loss(p, x, y):
        h, total = jnp.zeros((x.shape[0], n_h)), 0.0
        for t in range(T):
            h = jnp.tanh(x[:, t] @ p["U"].T + h @ p["W"].T + p["b"])
            total = total - (y[:, t] * jax.nn.log_softmax(h @ p["V"].T + p["c"])).sum(axis=1)
        return total
    ev = forms.rnn_form("softmax", "cross_entropy").evaluator(
        {"T": T, "n_x": n_x, "n_h": n_h, "n_y": n_y}, "jax")
    _assert_matches(ev({"x": x, "y": y}, P), *_grads(loss, P, x, y))

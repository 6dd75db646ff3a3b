"""Batched evaluators generated from the general forms, on every backend that has a check:

* numpy against the scalar derivation sample by sample, central differences and the plain sums;
* numpy and torch against torch's own modules with autograd in float64 (where torch is
  installed);
* jax (jit-compiled, float64) against jax's own autograd of the same models written with
  jax.numpy and jax.nn (where jax is installed).
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import numpy as np
import pytest
from backends import NUMPY, TORCH, installed, needs_jax, needs_torch
from hypothesis import given, settings
from hypothesis import strategies as st
from networks import quantity_arrays

import symbackprop as sb
from symbackprop.codegen.general import BatchedEvaluator
from symbackprop.forms import models as forms
from symbackprop.forms.blocks import network_form
from symbackprop.forms.numbers import scalar_numbers

B = 4

# The references: imported where installed; the tests that need them are marked to skip otherwise.
torch = importlib.import_module("torch") if installed("torch") else None
F = torch.nn.functional if torch is not None else None
jax = importlib.import_module("jax") if installed("jax") else None
jnp = jax.numpy if jax is not None else None


# -- numpy against the scalar derivation, central differences and the plain sums ------------------
@pytest.mark.parametrize("form, sizes", [
    (forms.rnn_form(), {"T": 4, "n_x": 2, "n_h": 3, "n_y": 2}),
    (forms.rnn_form("sigmoid", "bce", every_step=False), {"T": 3, "n_x": 1, "n_h": 2, "n_y": 1}),
    (forms.conv1d_form("tanh"), {"n": 6, "K": 3}),
    (forms.attention_form(), {"n": 3, "d": 2, "d_v": 2}),
    (forms.layer_norm_form(), {"n": 4}),
    (forms.conv1d_form("tanh", "sigmoid", outputs=True), {"n": 5, "K": 2, "n_y": 3}),
    (forms.attention_form(projections=True), {"n": 3, "d": 2, "d_v": 2, "d_in": 3}),
    (network_form([sb.dense(3, "tanh"), sb.batch_norm(),
                   sb.residual(sb.dense(3, "sigmoid"), sb.layer_norm()), sb.dense(2)]),
     {"m": 3, "n_0": 2, "n_1": 3, "n_6": 2}),
], ids=["rnn", "rnn-last-bce", "conv1d", "attention", "layer-norm", "conv1d-outputs",
        "attention-projections", "network"])
def test_batched_evaluator_matches_the_scalar_derivation(form, sizes):
    net, lookup = form._build(sizes)
    ev = form.evaluator(sizes)
    rng = np.random.default_rng(7)
    shared = {p.name: float(rng.uniform(-0.9, 0.9)) for p in net.parameters}
    samples = [{**{s.name: float(rng.uniform(0.1, 0.9)) for s in net.leaves}, **shared}
               for _ in range(B)]
    out = ev(*quantity_arrays(form, ev, lookup, samples))
    derivation = sb.derive(net)
    # the scalar derivation's own recursions, as form.check evaluates them (its compiled
    # evaluator spends tens of seconds tidying a norm network's exact δs first)
    scalar = [SimpleNamespace(loss=known["L"], gradients=deltas) for known, deltas in
              (scalar_numbers(derivation, s) for s in samples)]
    np.testing.assert_allclose(out.loss, [e.loss for e in scalar], rtol=1e-12)
    for name, grad in out.gradients.items():
        if form.quantities[name].kind != "parameter":
            continue
        for ix in np.ndindex(*grad.shape):
            point = tuple(lo + i for (lo, _), i in zip(ev.ranges[name], ix, strict=True))
            expected = np.mean([e.gradients[lookup(name, point).name] for e in scalar])
            assert grad[ix] == pytest.approx(expected, rel=1e-10, abs=1e-13)


_LOWERED = {
    "rnn": (forms.rnn_form(), lambda d: {"T": d[0] + 1, "n_x": d[1], "n_h": d[2], "n_y": d[3]}),
    "conv1d-outputs": (forms.conv1d_form("tanh", "sigmoid", outputs=True),
                       lambda d: {"n": d[0] + d[1] + 1, "K": d[1] + 1, "n_y": d[2]}),
    "conv1d-channels": (forms.conv1d_form("tanh", channels=True),
                        lambda d: {"n": d[0] + d[1] + 1, "K": d[1] + 1, "C_in": d[2],
                                   "C_out": d[3]}),
    "attention-projections": (forms.attention_form(projections=True),
                              lambda d: {"n": d[0], "d": d[1], "d_v": d[2], "d_in": d[3]}),
    "network": (network_form([sb.dense(3, "tanh"), sb.batch_norm(),
                              sb.residual(sb.dense(3, "sigmoid"), sb.layer_norm()),
                              sb.dense(2)]),
                lambda d: {"m": d[0] + 1, "n_0": d[1], "n_1": d[2] + 1, "n_6": d[3]}),
}


def _random_arrays(ev, batch, rng):
    inputs, params = {}, {}
    for name, q in ev.qs.items():
        shape = [hi - lo + 1 for lo, hi in ev.ranges[name]]
        if q.kind == "parameter":
            params[name] = rng.uniform(-0.9, 0.9, size=shape)
        elif q.kind in ("input", "target"):
            inputs[name] = rng.uniform(0.1, 0.9, size=[batch, *shape])
    return inputs, params


@pytest.mark.parametrize("kind", list(_LOWERED))
@settings(max_examples=2, deadline=None, derandomize=True)
@given(dims=st.lists(st.integers(1, 4), min_size=4, max_size=4), batch=st.integers(1, 5))
@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_lowered_code_matches_the_plain_sums(kind, dims, batch):
    """Matmuls, hoisted recursion terms and skipped copies change no number: the same form at
    random sizes without them (every Σ an outer product summed along its axes) agrees, and
    the caller's arrays are left as they were."""
    form, sizes = _LOWERED[kind]
    fast = BatchedEvaluator(form, sizes(dims))
    plain = BatchedEvaluator(form, sizes(dims), lower=False)
    assert "matmul(" not in plain.source
    assert "matmul(" in fast.source or min(dims) == 1  # a Σ over one term is no product
    inputs, params = _random_arrays(fast, batch, np.random.default_rng(batch))
    kept = {k: v.copy() for k, v in {**inputs, **params}.items()}
    got, want = fast(inputs, params), plain(inputs, params)
    np.testing.assert_allclose(got.loss, want.loss, rtol=1e-12, atol=1e-14)
    for name, g in want.gradients.items():
        np.testing.assert_allclose(got.gradients[name], g, rtol=1e-10, atol=1e-13)
    for name, value in kept.items():
        np.testing.assert_array_equal({**inputs, **params}[name], value)


def _one_hot(rng, shape, axis=-1):
    hot = rng.integers(shape[axis], size=shape[:axis] + shape[axis + 1:] if axis != -1
                       else shape[:-1])
    return np.moveaxis(np.eye(shape[axis])[hot], -1, axis)


_SOFTMAX = {
    "rnn": (lambda: forms.rnn_form("softmax", "cross_entropy"),
            {"T": 4, "n_x": 2, "n_h": 3, "n_y": 3}, -1),
    "rnn-last": (lambda: forms.rnn_form("softmax", "cross_entropy", every_step=False,
                                        bias=False), {"T": 3, "n_x": 2, "n_h": 2, "n_y": 3}, -1),
    "conv2d": (lambda: forms.conv2d_form("relu", "softmax", "cross_entropy"),
               {"H": 3, "W": 3, "P": 2, "Q": 2, "n_y": 3}, -1),
    "network": (lambda: network_form([sb.dense(3, "softmax"), sb.dense(3, "tanh"),
                                      sb.dense(3, "softmax")], "cross_entropy"),
                {"m": 3, "n_0": 2, "n_1": 3, "n_2": 2, "n_3": 3}, -1),
}


@pytest.fixture(scope="module", params=list(_SOFTMAX))
def softmax_case(request):
    make, sizes, axis = _SOFTMAX[request.param]
    form = make()
    ev = form.evaluator(sizes)
    rng = np.random.default_rng(11)
    inputs, params = {}, {}
    for name, q in form.quantities.items():
        shape = [hi - lo + 1 for lo, hi in ev.ranges[name]]
        if q.kind == "target":
            inputs[name] = _one_hot(rng, [B if "m" not in sizes else 1, *shape], axis)
        elif q.kind == "input":
            inputs[name] = rng.normal(size=[B if "m" not in sizes else 1, *shape])
        elif q.kind == "parameter":
            params[name] = rng.normal(size=shape) * 0.8
    return request.param, form, sizes, ev, inputs, params


def test_softmax_evaluator_matches_the_scalar_derivation_and_central_differences(softmax_case):
    which, form, sizes, ev, inputs, params = softmax_case
    out = ev(inputs, params)
    # central differences of the evaluator's own (batch-mean) loss, every parameter entry
    for name, value in params.items():
        for ix in np.ndindex(*np.shape(value)):
            moved = []
            for step in (1e-6, -1e-6):
                p = {k: np.array(v, dtype=float, copy=True) for k, v in params.items()}
                p[name][ix] += step
                moved.append(float(np.mean(ev(inputs, p).loss)))
            fd = (moved[0] - moved[1]) / 2e-6
            assert out.gradients[name][ix] == pytest.approx(fd, rel=1e-6, abs=1e-8), (name, ix)
    # and the scalar derivation, sample by sample, with the one-hot targets it declares
    net, lookup = form._build(sizes)
    scalar = sb.derive(net)
    for s in range(np.shape(next(iter(inputs.values())))[0]):
        values = {}
        for name, q in form.quantities.items():
            source = params[name] if q.kind == "parameter" else (
                inputs[name][s] if name in inputs else None)
            for ix in np.ndindex(*np.shape(source)) if source is not None else ():
                sym = lookup(name, tuple(lo + i for (lo, _), i in
                                         zip(ev.ranges[name], ix, strict=True)))
                if sym is not None:
                    values[sym.name] = float(source[ix])
        known, _ = scalar_numbers(scalar, values)
        assert float(np.asarray(out.loss)[s]) == pytest.approx(known["L"], rel=1e-12)


def test_a_saturated_softmax_gives_no_nan(softmax_case):
    which, form, sizes, ev, inputs, params = softmax_case
    big = {k: v * 400 for k, v in params.items()}  # logits in the thousands: exp overflows
    out = ev(inputs, big)
    assert np.all(np.isfinite(np.asarray(out.loss)))
    for g in out.gradients.values():
        assert np.all(np.isfinite(np.asarray(g)))
    # the δ at the output is ŷ − y (scaled), so a confident right answer gives zero loss there
    assert np.all(np.asarray(out.loss) >= 0)


# -- numpy and torch against torch's own modules (autograd, float64) ------------------------------
def _t(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=True)


@needs_torch
@pytest.mark.parametrize("backend", [NUMPY, TORCH])
def test_batched_rnn_matches_torch_nn_rnn(backend):
    T, n_x, n_h, n_y = 5, 3, 4, 2
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(B, T, n_x)), rng.normal(size=(B, T, n_y))
    P = {"U": rng.normal(size=(n_h, n_x)) * 0.5, "W": rng.normal(size=(n_h, n_h)) * 0.5,
         "V": rng.normal(size=(n_y, n_h)), "b": rng.normal(size=n_h), "c": rng.normal(size=n_y)}
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


@needs_torch
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


@needs_torch
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


@needs_torch
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


@needs_torch
@pytest.mark.parametrize("backend", [NUMPY, TORCH])
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


@needs_torch
@pytest.mark.parametrize("backend", [NUMPY, TORCH])
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


@needs_torch
@pytest.mark.parametrize("backend", [NUMPY, TORCH])
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


@needs_torch
@pytest.mark.parametrize("backend", [NUMPY, TORCH])
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


@needs_torch
@pytest.mark.parametrize("backend", [NUMPY, TORCH])
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


@needs_torch
@pytest.mark.parametrize("backend", [NUMPY, TORCH])
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


# -- jax against jax's own autograd of the same models --------------------------------------------
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


@pytest.mark.slow  # a long run: make test-slow (CI runs it too)
@needs_jax
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


@needs_jax
@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
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


@needs_jax
@pytest.mark.parametrize("projections", [False, True])
@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
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


@pytest.mark.slow  # a long run: make test-slow (CI runs it too)
@needs_jax
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


@needs_jax
@pytest.mark.parametrize("scale", [1.0, 300.0], ids=["plain", "saturated"])
@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
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

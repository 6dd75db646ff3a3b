"""Batched evaluators generated from the general forms: against the scalar derivation sample by
sample, and against torch's own modules where torch is installed."""

from __future__ import annotations

import numpy as np
import pytest

import symbackprop as sb
from symbackprop.models import forms

B = 4


def _arrays(form, ev, lookup, samples):
    inputs, params = {}, {}
    for name, q in form.quantities.items():
        if q.kind not in ("input", "target", "parameter"):
            continue
        ranges = ev.ranges[name]
        shape = [hi - lo + 1 for lo, hi in ranges]

        def value(sample, ix, name=name, ranges=ranges):
            s = lookup(name, tuple(lo + i for (lo, _), i in zip(ranges, ix, strict=True)))
            return sample[s.name] if s is not None else 0.0  # y_t before T: no loss there
        if q.kind == "parameter":
            params[name] = np.array([value(samples[0], ix) for ix in np.ndindex(*shape)]
                                    ).reshape(shape)
        else:
            inputs[name] = np.array([[value(s, ix) for ix in np.ndindex(*shape)]
                                     for s in samples]).reshape([len(samples), *shape])
    return inputs, params


@pytest.mark.parametrize("form, sizes", [
    (forms.rnn_form(), {"T": 4, "n_x": 2, "n_h": 3, "n_y": 2}),
    (forms.rnn_form("sigmoid", "bce", every_step=False), {"T": 3, "n_x": 1, "n_h": 2, "n_y": 1}),
    (forms.conv1d_form("tanh"), {"n": 6, "K": 3}),
    (forms.attention_form(), {"n": 3, "d": 2, "d_v": 2}),
    (forms.layer_norm_form(), {"n": 4}),
], ids=["rnn", "rnn-last-bce", "conv1d", "attention", "layer-norm"])
def test_batched_evaluator_matches_the_scalar_derivation(form, sizes):
    net, lookup = form._build(sizes)
    ev = form.evaluator(sizes)
    rng = np.random.default_rng(7)
    shared = {p.name: float(rng.uniform(-0.9, 0.9)) for p in net.parameters}
    samples = [{**{s.name: float(rng.uniform(0.1, 0.9)) for s in net.leaves}, **shared}
               for _ in range(B)]
    out = ev(*_arrays(form, ev, lookup, samples))
    derivation = sb.derive(net)
    scalar = [derivation.evaluate(s) for s in samples]
    np.testing.assert_allclose(out.loss, [e.loss for e in scalar], rtol=1e-12)
    for name, grad in out.gradients.items():
        if form.quantities[name].kind != "parameter":
            continue
        for ix in np.ndindex(*grad.shape):
            point = tuple(lo + i for (lo, _), i in zip(ev.ranges[name], ix, strict=True))
            expected = np.mean([e.gradients[lookup(name, point).name] for e in scalar])
            assert grad[ix] == pytest.approx(expected, rel=1e-10, abs=1e-13)


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

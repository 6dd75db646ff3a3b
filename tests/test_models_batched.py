"""Batched evaluators generated from the general forms: against the scalar derivation sample by
sample, and against torch's own modules where torch is installed."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.codegen.general import BatchedEvaluator
from symbackprop.forms import models as forms
from symbackprop.forms.blocks import network_form
from symbackprop.forms.general import _scalar_numbers

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
    out = ev(*_arrays(form, ev, lookup, samples))
    derivation = sb.derive(net)
    # the scalar derivation's own recursions, as form.check evaluates them (its compiled
    # evaluator spends tens of seconds tidying a norm network's exact δs first)
    scalar = [SimpleNamespace(loss=known["L"], gradients=deltas) for known, deltas in
              (_scalar_numbers(derivation, s) for s in samples)]
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
        known, _ = _scalar_numbers(scalar, values)
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

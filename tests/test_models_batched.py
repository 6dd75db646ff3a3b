"""Batched evaluators generated from the general forms: against the scalar derivation sample by
sample, and against torch's own modules where torch is installed."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.general import _scalar_numbers
from symbackprop.models import forms
from symbackprop.models.batched import BatchedEvaluator
from symbackprop.models.blocks_form import network_form

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

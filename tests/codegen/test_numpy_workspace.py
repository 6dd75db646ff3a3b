"""The numpy batched evaluator's Σs as products with a vector of ones, and its workspace: the
large results written into arrays kept between calls, never into arrays a live result holds."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import symbackprop as sb
from symbackprop.codegen.general import BatchedEvaluator
from symbackprop.forms.blocks import network_form

# m = 1024 samples of 16 features: 16,384 entries per array, the size the workspace starts at
SIZES = {"m": 1024, "n_0": 4, "n_1": 16, "n_6": 1}


@pytest.fixture(scope="module")
def block_network():
    form = network_form([sb.dense(16, "tanh"), sb.batch_norm(),
                         sb.residual(sb.dense(16, "tanh"), sb.layer_norm()), sb.dense(1)])
    return form, BatchedEvaluator(form, SIZES)


def _arrays(seed: int, dtype=np.float64):
    rng = np.random.default_rng(seed)
    inputs = {"x": rng.normal(size=(1, 1024, 4)), "y": rng.normal(size=(1, 1024, 1))}
    parameters = {"W1": rng.normal(size=(16, 4)) / 2, "b1": rng.normal(size=16),
                  "gamma2": rng.normal(size=16), "beta2": rng.normal(size=16),
                  "W3": rng.normal(size=(16, 16)) / 4, "b3": rng.normal(size=16),
                  "gamma4": rng.normal(size=16), "beta4": rng.normal(size=16),
                  "W6": rng.normal(size=(1, 16)), "b6": rng.normal(size=1)}
    cast = {k: v.astype(dtype) for k, v in {**inputs, **parameters}.items()}
    return {k: cast[k] for k in inputs}, {k: cast[k] for k in parameters}


def test_the_norms_sums_run_as_products_with_ones_and_agree_with_the_plain_sums(block_network):
    form, ev = block_network
    assert "ksum(" not in ev.source and "work(" in ev.source
    plain = BatchedEvaluator(form, SIZES, lower=False)
    assert "ksum(" in plain.source and "work(" not in plain.source
    inputs, parameters = _arrays(0)
    fast, slow = ev(inputs, parameters), plain(inputs, parameters)
    np.testing.assert_allclose(fast.loss, slow.loss, rtol=1e-12)
    for name, g in slow.gradients.items():
        np.testing.assert_allclose(fast.gradients[name], g, rtol=1e-9,
                                   atol=1e-12 * np.abs(g).max(), err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_live_result_keeps_its_arrays_through_later_calls(block_network, dtype):
    _, ev = block_network
    first = ev(*_arrays(1, dtype))
    kept = {k: np.array(v) for k, v in first.arrays.items() if isinstance(v, np.ndarray)}
    grads = {k: np.array(v) for k, v in first.gradients.items()}
    second = ev(*_arrays(2, dtype))
    for name, value in kept.items():
        np.testing.assert_array_equal(first.arrays[name], value, err_msg=name)
        assert first.arrays[name].dtype == dtype
    for name, value in grads.items():
        np.testing.assert_array_equal(first.gradients[name], value, err_msg=name)
    assert not np.array_equal(second.arrays["z1"], first.arrays["z1"])
    assert not np.shares_memory(second.arrays["z1"], first.arrays["z1"])


def test_a_dropped_results_arrays_are_written_again(block_network):
    _, ev = block_network
    inputs, parameters = _arrays(3)
    first = ev(inputs, parameters)
    z1 = first.arrays["z1"]
    buffer = weakref.ref(z1.base if z1.base is not None else z1)
    expected = {k: np.array(v) for k, v in first.gradients.items()}
    del first, z1
    gc.collect()
    again = ev(inputs, parameters)
    assert buffer() is not None and np.shares_memory(again.arrays["z1"], buffer())
    for name, value in expected.items():
        np.testing.assert_array_equal(again.gradients[name], value, err_msg=name)

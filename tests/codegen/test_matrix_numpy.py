"""The matrix evaluator's lean numpy code (codegen/matrix_numpy.py): after its first call it
makes no array of a layer's full (n_l, m) size, so no product copies an operand (whatever the
order of X) and no step upcasts float32 to a float64 temporary. (Its answers, float32 ones too,
are tested in tests/codegen/test_codegen.py.)"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import symbackprop as sb

M = 2048  # samples: a (64, M) array is far larger than every gradient the call returns


def _problem(sizes, dtype, order, seed=0):
    rng = np.random.default_rng(seed)
    X = np.asarray(rng.normal(size=(sizes[0], M)), dtype=dtype, order=order)
    Y = np.eye(sizes[-1], dtype=dtype)[:, rng.integers(sizes[-1], size=M)] if sizes[-1] > 1 \
        else rng.uniform(size=(1, M)).astype(dtype)
    W = [(rng.normal(size=(b, a)) / np.sqrt(a)).astype(dtype)
         for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    B = [rng.normal(scale=0.1, size=b).astype(dtype) for b in sizes[1:]]
    return X, Y, W, B


NETS = {"64-64-64-1 sigmoid, mse": ([64, 64, 64, 1], ["sigmoid"] * 3, "mse"),
        "32-64-10 softmax, cross-entropy": ([32, 64, 10], ["sigmoid", "softmax"], "cross_entropy")}


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("net", list(NETS))
def test_a_call_makes_no_full_size_temporary_copy_or_upcast_after_the_first(net, dtype, order):
    sizes, activations, loss = NETS[net]
    f = sb.matrix_form(sizes, activations, loss, bias=True, reduction="mean").evaluator()
    X, Y, W, B = _problem(sizes, dtype, order)
    f(X, Y, W, B)  # the first call fills the workspace
    tracemalloc.start()
    try:
        out = f(X, Y, W, B)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    hidden = sizes[1] * M * np.dtype(dtype).itemsize  # one (n_1, m) array of the call's dtype
    returned = sum(g.nbytes for g in [*out.weight_gradients, *out.bias_gradients])
    assert all(g.dtype == dtype for g in [*out.weight_gradients, *out.bias_gradients])
    assert peak < hidden, (peak, hidden, returned)  # an operand's copy or an upcast is ≥ hidden


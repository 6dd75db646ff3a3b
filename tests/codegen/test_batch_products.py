"""A parameter's gradient as one matrix product over the batch, and the orientation of a
lowered product: the batched evaluator's code for attention's ∂L/∂W^{Q,K,V} and the block
network's output layer, checked against the plain sums (``lower=False``)."""

from __future__ import annotations

import numpy as np

from symbackprop.codegen.general import BatchedEvaluator
from symbackprop.codegen.lowering import contraction
from symbackprop.forms import models as forms

SIZES = {"n": 3, "d": 2, "d_v": 2, "d_in": 3}


def _attention_data(batch: int = 5):
    rng = np.random.default_rng(11)
    inputs = {"x": rng.normal(size=(batch, 3)), "xc": rng.normal(size=(batch, 3, 3)),
              "y": rng.normal(size=(batch, 2))}
    parameters = {w: rng.normal(size=(2, 3)) for w in ("Q", "K", "V")}
    return inputs, parameters


def test_a_gradient_of_batched_factors_times_a_sum_is_one_product_over_the_batch():
    form = forms.attention_form(projections=True)
    ev = BatchedEvaluator(form, SIZES)
    lines = {line.split(" = ")[0].strip(): line for line in ev.source.splitlines()
             if " = " in line}
    for name in ("Q", "K", "V"):
        line = lines[f"A['grad_{name}']"]
        assert "matmul(" in line and "bmean(" not in line, line
    plain = BatchedEvaluator(form, SIZES, lower=False)
    assert "bmean(" in plain.source  # the plain reading keeps the per-sample products
    inputs, parameters = _attention_data()
    got, want = ev(inputs, parameters), plain(inputs, parameters)
    for name in ("Q", "K", "V"):
        np.testing.assert_allclose(got.gradients[name], want.gradients[name], rtol=1e-12,
                                   atol=1e-14)


def test_of_two_equal_products_the_one_reading_no_operand_transposed_is_chosen():
    # w (axis 2) against r's batch of rows (axes 0, 1, 2): r·wᵀ reads both as they stand,
    # w·rᵀ would read r transposed
    code = contraction("w", {2: 16}, "r", {0: None, 1: 1024, 2: 16}, {2}, n=4)
    assert code == "matmul(r.reshape((-1, 16)), w.reshape((16, 1))).reshape((-1, 1024, 1, 1, 1))"
    # where both read one operand transposed, the first order stays
    assert contraction("W", {1: 3, 2: 4}, "a", {0: None, 2: 4}, {2}, n=2) == \
        "matmul(a.reshape((-1, 4)), W.reshape((3, 4)).mT).reshape((-1, 3, 1))"

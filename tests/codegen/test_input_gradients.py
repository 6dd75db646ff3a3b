"""An input's gradient (∂L/∂x per sample) is computed when first read, on every backend.

No loss and no parameter gradient needs it, and its full convolution was the largest cost of a
channel convolution's call; the documented ``out.gradients["x"]`` still gives it, equal to the
plain sums (``lower=False``) computed with the call.
"""

from __future__ import annotations

import numpy as np
import pytest
from backends import installed

from symbackprop.codegen.general import BatchedEvaluator
from symbackprop.forms import models as forms

BACKENDS = ["numpy"] + [b for b in ("torch", "jax") if installed(b)]


def _case(seed: int = 0):
    form = forms.conv1d_form("tanh", channels=True)
    sizes = {"n": 7, "K": 3, "C_in": 2, "C_out": 3}
    rng = np.random.default_rng(seed)
    inputs = {"x": rng.normal(size=(5, 2, 7)), "y": rng.normal(size=5)}
    parameters = {"w": rng.normal(size=(3, 2, 3)), "b": rng.normal(size=3),
                  "v": rng.normal(size=(3, 5)), "c": 0.2}
    return form, sizes, inputs, parameters


def test_the_call_leaves_the_input_gradient_to_a_second_function():
    form, sizes, inputs, parameters = _case()
    ev = BatchedEvaluator(form, sizes)
    main, later = ev.source.split("def evaluate_inputs(A):")
    assert "grad_x" not in main and "grad_w" in main
    assert "grad_x" in later
    out = ev(inputs, parameters)
    assert "grad_x" not in out.arrays  # not computed by the call
    _ = out.gradients["x"]
    assert "grad_x" in out.arrays


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_input_gradient_read_later_equals_the_plain_sums(backend):
    form, sizes, inputs, parameters = _case(1)
    plain = BatchedEvaluator(form, sizes, lower=False)(inputs, parameters)
    ev = BatchedEvaluator(form, sizes, backend)
    if backend == "torch":
        import torch
        inputs = {k: torch.tensor(v) for k, v in inputs.items()}
        parameters = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v
                      for k, v in parameters.items()}
    out = ev(inputs, parameters)
    assert sorted(out.gradients) == sorted(plain.gradients) == ["b", "c", "v", "w", "x"]
    for name in plain.gradients:
        got = np.asarray(out.gradients[name])
        np.testing.assert_allclose(got, plain.gradients[name], rtol=1e-10, atol=1e-12)
    # a second call's input gradient is its own, not the first call's
    inputs2 = {"x": inputs["x"] * 2, "y": inputs["y"]}
    again = ev(inputs2, parameters)
    assert not np.allclose(np.asarray(again.gradients["x"]), np.asarray(out.gradients["x"]))


@pytest.mark.skipif(not installed("jax"), reason="jax is not installed")
def test_jax_waits_for_the_gradients_computed_with_the_call():
    import jax

    form, sizes, inputs, parameters = _case(2)
    out = BatchedEvaluator(form, sizes, "jax")(inputs, parameters)
    # a pytree of the parameters' gradients: block_until_ready waits for each, and the input's
    # is not computed by flattening
    assert len(jax.tree_util.tree_leaves(out.gradients)) == 4
    jax.block_until_ready(out.gradients)
    assert len(jax.tree_util.tree_leaves(out.gradients)) == 4

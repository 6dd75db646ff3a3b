"""float32 in, float32 out: the batched evaluator computes in the dtype of the arrays it is
given (every backend), and float64 stays the default."""

from __future__ import annotations

import numpy as np
import pytest
from backends import JAX, NUMPY, TORCH

import symbackprop as sb
from symbackprop.forms import models as forms
from symbackprop.forms.blocks import network_form


def _cases():
    rng = np.random.default_rng(7)
    yield (forms.rnn_form(), {"T": 3, "n_x": 2, "n_h": 3, "n_y": 1},
           {"x": rng.normal(size=(4, 3, 2)), "y": rng.normal(size=(4, 3, 1))},
           {"U": rng.normal(size=(3, 2)), "W": rng.normal(size=(3, 3)) * 0.5,
            "V": rng.normal(size=(1, 3)), "b": rng.normal(size=3), "c": rng.normal(size=1)})
    yield (forms.conv1d_form("tanh", channels=True), {"n": 7, "K": 3, "C_in": 2, "C_out": 3},
           {"x": rng.normal(size=(4, 2, 7)), "y": rng.normal(size=4)},
           {"w": rng.normal(size=(3, 2, 3)), "b": rng.normal(size=3),
            "v": rng.normal(size=(3, 5)), "c": np.asarray(0.1)})
    blocks = [sb.dense(3, "tanh"), sb.batch_norm(),
              sb.residual(sb.dense(3, "tanh"), sb.layer_norm()), sb.dense(1)]
    yield (network_form(blocks), {"m": 5, "n_0": 2, "n_1": 3, "n_6": 1},
           {"x": rng.normal(size=(1, 5, 2)), "y": rng.normal(size=(1, 5, 1))},
           {"W1": rng.normal(size=(3, 2)), "b1": rng.normal(size=3),
            "gamma2": rng.normal(size=3), "beta2": rng.normal(size=3),
            "W3": rng.normal(size=(3, 3)), "b3": rng.normal(size=3),
            "gamma4": rng.normal(size=3), "beta4": rng.normal(size=3),
            "W6": rng.normal(size=(1, 3)), "b6": rng.normal(size=1)})


@pytest.mark.slow  # 30 s: three models built on three backends (make test-slow; CI runs it)
@pytest.mark.parametrize("backend", [NUMPY, TORCH, JAX])
def test_float32_arrays_compute_in_float32(backend):
    for form, sizes, inputs, params in _cases():
        ev = form.evaluator(sizes, backend)
        exact = ev(inputs, params)
        single = ev({k: v.astype(np.float32) for k, v in inputs.items()},
                    {k: v.astype(np.float32) for k, v in params.items()})
        for name, g in exact.gradients.items():
            got = single.gradients[name]
            assert str(got.dtype).endswith("float32"), (form.title, name, got.dtype)
            assert str(g.dtype).endswith("float64")
            want = np.asarray(g)
            np.testing.assert_allclose(np.asarray(got), want, rtol=2e-4,
                                       atol=2e-5 * max(1.0, float(np.abs(want).max())))
        assert str(single.loss.dtype).endswith("float32")

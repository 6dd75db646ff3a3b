"""A small channel convolution the batched evaluator's tests call on every backend: its form,
sizes, and inputs and parameters of any batch (tests/codegen/test_jitted.py, test_jax_call.py)."""

from __future__ import annotations

import numpy as np

from symbackprop.forms import models as forms

CONV = (forms.conv1d_form("tanh", channels=True), {"n": 7, "K": 3, "C_in": 2, "C_out": 3})


def conv_data(batch: int, seed: int = 0) -> tuple[dict, dict]:
    """Inputs and parameters for ``CONV`` at ``batch`` samples, the same for the same seed."""
    rng = np.random.default_rng(seed)
    inputs = {"x": rng.normal(size=(batch, 2, 7)), "y": rng.normal(size=batch)}
    parameters = {"w": rng.normal(size=(3, 2, 3)), "b": rng.normal(size=3),
                  "v": rng.normal(size=(3, 5)), "c": 0.2}
    return inputs, parameters

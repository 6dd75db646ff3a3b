"""What a batched evaluator's call on jax takes and returns (codegen/jitted.py, results.py): the
values gathered by name into one tuple for jit, anything jit does not take converted, the
gradients jit's own dict, the arrays named when read, an input's gradient the call's own."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from backends import installed, needs_jax, needs_torch
from conv_case import CONV, conv_data

from symbackprop.codegen.jitted import JaxCall
from symbackprop.codegen.results import BatchedResult, Gradients

jax = importlib.import_module("jax") if installed("jax") else None


def _square_program(dtype):
    """A program of one input and one parameter, written here: L = (w x)², per sample."""
    def evaluate(A):
        return {**A, "L": (A["w"] * A["x"]) ** 2,
                "grad_w": (2 * A["w"] * A["x"] ** 2).mean().reshape(1)}

    def evaluate_inputs(A):
        return {**A, "grad_x": 2 * A["w"] ** 2 * A["x"]}
    return {"evaluate_inputs": evaluate_inputs}, evaluate


@needs_jax
def test_one_input_and_one_parameter_are_each_taken_by_name():
    call = JaxCall(_square_program, [("x", False), ("w", True)], "x", "L",
                   [("w", "grad_w")], {"grad_x": "x"}, fusions=False)
    x, w = np.array([1.0, -2.0, 3.0]), np.array([0.5])
    out = call({"x": x, "unused": "ignored"}, {"w": w})
    np.testing.assert_allclose(np.asarray(out.loss), (w * x) ** 2)
    np.testing.assert_allclose(np.asarray(out.gradients["w"]), [np.mean(2 * w * x ** 2)])
    assert sorted(out.arrays) == ["L", "grad_w"]
    np.testing.assert_allclose(np.asarray(out.gradients["x"]), 2 * w ** 2 * x)
    assert sorted(out.arrays) == ["L", "grad_w", "grad_x"]


@needs_jax
def test_a_missing_value_is_a_key_error_naming_it():
    form, sizes = CONV
    ev = form.evaluator(sizes, "jax")
    inputs, parameters = conv_data(2)
    with pytest.raises(KeyError, match="'y'"):
        ev({"x": inputs["x"]}, parameters)
    with pytest.raises(KeyError, match="'v'"):
        ev(inputs, {k: a for k, a in parameters.items() if k != "v"})


@needs_jax
def test_the_arrays_are_named_when_read_and_the_gradients_are_jit_s_dict():
    form, sizes = CONV
    ev = form.evaluator(sizes, "jax")
    out = ev(*conv_data(3))
    assert isinstance(out, BatchedResult) and isinstance(out.gradients, Gradients)
    assert sorted(out.gradients.computed()) == ["b", "c", "v", "w"]
    arrays = out.arrays
    assert sorted(arrays) == sorted([form.loss.name, "grad_b", "grad_c", "grad_v", "grad_w"])
    assert arrays[form.loss.name] is out.loss and arrays["grad_w"] is out.gradients["w"]
    assert "grad_x" not in arrays and "x" not in out.gradients.computed()


@needs_jax
def test_an_input_gradient_read_later_is_the_call_s_own_when_the_dict_changed_since():
    form, sizes = CONV
    ev, reference = form.evaluator(sizes, "jax"), form.evaluator(sizes, "numpy")
    inputs, parameters = conv_data(4, seed=2)
    want = reference(inputs, parameters).gradients["x"]
    out = ev(inputs, parameters)
    inputs["x"] = inputs["x"] * 3  # the caller's dict, changed after the call
    parameters["w"] = parameters["w"] * 0
    np.testing.assert_allclose(np.asarray(out.gradients["x"]), want, rtol=1e-11, atol=1e-13)


@needs_jax
def test_jax_arrays_pass_straight_through_once_their_type_is_known(monkeypatch):
    form, sizes = CONV
    ev = form.evaluator(sizes, "jax")
    inputs, parameters = conv_data(2)
    with jax.enable_x64(True):
        as_jax = ({k: jax.numpy.asarray(v) for k, v in inputs.items()},
                  {k: jax.numpy.asarray(v) for k, v in parameters.items()})
    first = ev(*as_jax)
    converted = []
    call = ev._jax_call
    original = call._converted
    monkeypatch.setattr(call, "_converted", lambda given: converted.append(1) or original(given))
    second = ev(*as_jax)
    assert converted == []
    np.testing.assert_allclose(np.asarray(second.gradients["w"]),
                               np.asarray(first.gradients["w"]), rtol=0, atol=0)
    ev({**as_jax[0], "x": inputs["x"].tolist()}, as_jax[1])  # a list: converted first
    assert converted == [1]


@needs_jax
@needs_torch
def test_torch_tensors_are_converted_in_their_dtype():
    import torch

    form, sizes = CONV
    ev, reference = form.evaluator(sizes, "jax"), form.evaluator(sizes, "numpy")
    inputs, parameters = conv_data(3, seed=5)
    tensors = {k: torch.tensor(v, dtype=torch.float32) for k, v in inputs.items()}
    out = ev(tensors, {k: np.asarray(v, dtype=np.float32) for k, v in parameters.items()})
    assert out.loss.dtype == np.float32 and out.gradients["v"].dtype == np.float32
    np.testing.assert_allclose(np.asarray(out.loss), reference(inputs, parameters).loss,
                               rtol=2e-4)

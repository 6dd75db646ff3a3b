"""The batched evaluator's call on jax (codegen/jitted.py) and its recursion loop
(codegen/jax_scan.py): one jitted program for every dtype and batch, the dtype chosen when jit
traces, arrays passed straight through, and answers equal to the numpy backend's."""

from __future__ import annotations

import importlib

import numpy as np
from backends import installed, needs_jax
from conv_case import CONV, conv_data

from symbackprop.codegen.jitted import dtype_of
from symbackprop.forms import models as forms

jax = importlib.import_module("jax") if installed("jax") else None

RNN = (forms.rnn_form(), {"T": 4, "n_x": 2, "n_h": 3, "n_y": 2})


def _as(arrays, dtype):
    return {k: v.astype(dtype) if isinstance(v, np.ndarray) else v for k, v in arrays.items()}


def _same(got, want, rtol):
    np.testing.assert_allclose(np.asarray(got.loss), np.asarray(want.loss), rtol=rtol)
    assert sorted(got.gradients) == sorted(want.gradients)
    for name in want.gradients:
        np.testing.assert_allclose(np.asarray(got.gradients[name]),
                                   np.asarray(want.gradients[name]), rtol=rtol,
                                   atol=rtol * 10)


def test_dtype_of_counts_only_strongly_typed_arrays():
    f32, f64, i64 = np.dtype("float32"), np.dtype("float64"), np.dtype("int64")
    assert dtype_of([(f32, False), (f32, False)]) is np.float32
    assert dtype_of([(f32, False), (f64, True)]) is np.float32  # a Python number
    assert dtype_of([(f32, False), (f64, False)]) is np.float64
    assert dtype_of([(f32, False), (i64, False)]) is np.float64
    assert dtype_of([(f64, True)]) is np.float64  # nothing typed: the default


@needs_jax
def test_one_program_serves_float32_and_float64_with_numpy_s_answers_each_time():
    form, sizes = CONV
    ev, reference = form.evaluator(sizes, "jax"), form.evaluator(sizes, "numpy")
    inputs, parameters = conv_data(5)
    for dtype, rtol in ((np.float32, 2e-4), (np.float64, 1e-11), (np.float32, 2e-4)):
        given = (_as(inputs, dtype), _as(parameters, dtype))
        out = ev(*given)
        assert out.loss.dtype == dtype and all(out.gradients[n].dtype == dtype
                                               for n in ("w", "b", "v", "c"))
        _same(out, reference(*given), rtol)
    # one compiled program per dtype, made by jit's own cache: the third call reused the first's
    assert ev._jax_call._main._cache_size() == 2


@needs_jax
def test_a_new_batch_is_a_new_trace_of_the_same_program():
    form, sizes = CONV
    ev, reference = form.evaluator(sizes, "jax"), form.evaluator(sizes, "numpy")
    for batch in (1, 4, 1):
        inputs, parameters = conv_data(batch, seed=batch)
        _same(ev(inputs, parameters), reference(inputs, parameters), 1e-11)
    assert ev._jax_call._main._cache_size() == 2


@needs_jax
def test_lists_and_python_numbers_are_converted_in_the_arrays_dtype():
    form, sizes = CONV
    ev = form.evaluator(sizes, "jax")
    inputs, parameters = conv_data(3)
    single = _as(inputs, np.float32), _as(parameters, np.float32)
    as_lists = ({k: v.tolist() for k, v in single[0].items()}, single[1])
    out, want = ev(*as_lists), ev(*single)
    assert out.loss.dtype == np.float32  # a list and the Python number c do not decide
    _same(out, want, 1e-6)


@needs_jax
def test_input_gradients_are_computed_only_when_read_and_equal_numpy_s():
    form, sizes = CONV
    ev, reference = form.evaluator(sizes, "jax"), form.evaluator(sizes, "numpy")
    inputs, parameters = conv_data(4, seed=3)
    out = ev(inputs, parameters)
    assert ev._jax_call._inputs._cache_size() == 0  # nothing read yet: nothing compiled
    want = reference(inputs, parameters)
    np.testing.assert_allclose(np.asarray(out.gradients["x"]), want.gradients["x"],
                               rtol=1e-11, atol=1e-13)
    assert "grad_x" in out.arrays and ev._jax_call._inputs._cache_size() == 1


@needs_jax
def test_a_call_inside_jax_s_own_x64_context_gives_the_same_float64_answers():
    form, sizes = RNN
    ev, reference = form.evaluator(sizes, "jax"), form.evaluator(sizes, "numpy")
    rng = np.random.default_rng(4)
    inputs = {"x": rng.normal(size=(2, 4, 2)), "y": rng.normal(size=(2, 4, 2))}
    parameters = {"U": rng.normal(size=(3, 2)), "W": rng.normal(size=(3, 3)) * 0.5,
                  "V": rng.normal(size=(2, 3)), "b": rng.normal(size=3), "c": rng.normal(size=2)}
    with jax.enable_x64(True):  # the call skips its own context here
        inside = ev(inputs, parameters)
        assert inside.loss.dtype == np.float64
        _same(inside, reference(inputs, parameters), 1e-11)
    _same(ev(inputs, parameters), inside, 1e-13)


@needs_jax
def test_the_loop_reads_zero_past_either_end_even_beside_an_infinity():
    from symbackprop.codegen.jax_scan import scan_functions

    f = scan_functions()
    # (batch, T, n), each with an infinity where the read past its end is clipped to: a zero
    # made as 0·x would be nan there
    first, last = np.array([[[np.inf], [1.0], [2.0]]]), np.array([[[1.0], [2.0], [np.inf]]])

    def step(c, s):
        return c, {"back": s["back"], "ahead": s["ahead"]}
    for direction in (1, -1):
        _, y = f["scan"](step, {}, {"back": f["scan_in"](first, 1, -1),
                                    "ahead": f["scan_in"](last, 1, 1)}, 3, direction,
                         {"back": 1, "ahead": 1})
        assert np.asarray(y["back"]).ravel().tolist() == [0.0, np.inf, 1.0]
        assert np.asarray(y["ahead"]).ravel().tolist() == [2.0, np.inf, 0.0]


@needs_jax
def test_the_rnn_loop_moves_no_array_and_matches_numpy_at_float32():
    form, sizes = RNN
    ev = form.evaluator(sizes, "jax")
    assert "scan_out" not in ev.source and "moveaxis" not in ev.source
    rng = np.random.default_rng(6)
    inputs = {"x": rng.normal(size=(3, 4, 2)), "y": rng.normal(size=(3, 4, 2))}
    parameters = {"U": rng.normal(size=(3, 2)), "W": rng.normal(size=(3, 3)) * 0.5,
                  "V": rng.normal(size=(2, 3)), "b": rng.normal(size=3), "c": rng.normal(size=2)}
    single = _as(inputs, np.float32), _as(parameters, np.float32)
    out = ev(*single)
    assert out.loss.dtype == np.float32
    _same(out, form.evaluator(sizes, "numpy")(inputs, parameters), 2e-4)

"""A recursion group's code: a ``lax.scan`` on jax, unrolled steps elsewhere, the first step
without the zeros before it, and the axes laid out as the stored arrays are."""

from __future__ import annotations

import re

import numpy as np
import sympy as sp
from backends import needs_jax

from symbackprop.codegen.general import BatchedEvaluator
from symbackprop.codegen.lowering import axis_order
from symbackprop.codegen.recurrence import on_step_views, scan_plan
from symbackprop.core.indexed import Quantity
from symbackprop.forms import models as forms

SIZES = {"T": 4, "n_x": 2, "n_h": 3, "n_y": 2}


def _data(batch=3):
    rng = np.random.default_rng(5)
    data = {"x": rng.normal(size=(batch, 4, 2)), "y": rng.normal(size=(batch, 4, 2))}
    params = {"U": rng.normal(size=(3, 2)), "W": rng.normal(size=(3, 3)) * 0.5,
              "V": rng.normal(size=(2, 3)), "b": rng.normal(size=3), "c": rng.normal(size=2)}
    return data, params


@needs_jax
def test_jax_runs_each_recursion_as_one_scan_with_numpy_s_answers():
    form = forms.rnn_form()
    ev = form.evaluator(SIZES, "jax")
    assert ev.source.count("= scan(") == 2  # h forward, δ_h backward
    assert ".at[" not in ev.source
    data, params = _data()
    want = form.evaluator(SIZES, "numpy")(data, params)
    got = ev(data, params)
    np.testing.assert_allclose(np.asarray(got.loss), want.loss, rtol=1e-12)
    for name, g in want.gradients.items():
        np.testing.assert_allclose(np.asarray(got.gradients[name]), g, rtol=1e-11, atol=1e-14)


def test_numpy_first_step_reads_no_zeros_before_it_and_w_once():
    lines = [line.strip() for line in
             forms.rnn_form().evaluator(SIZES, "numpy").source.splitlines()]
    assert "A['a'][:, 0:1, :] = A['_p0'][:, 0:1, :]" in lines
    assert any(re.fullmatch(r"A\['delta_h'\]\[:, 3:4, :\] = A\['_p\d+'\]\[:, 3:4, :\]", line)
               for line in lines)
    steps = [line for line in lines if re.match(r"A\['(a|h|delta_h)'\]\[", line)]
    assert len(steps) == 3 * 4 and not any("A['W']" in line for line in steps)  # W read once


def test_a_shift_of_two_steps_stays_unrolled():
    t, j = sp.symbols("t j")
    h = Quantity("h", "h", "node", (t, j), ((1, 4), (1, 3)))
    x, hb = sp.IndexedBase("x"), sp.IndexedBase("h")
    assert scan_plan([("h", h, sp.tanh(x[t, j] + hb[t - 2, j]))], t, 1) is None
    plan = scan_plan([("h", h, sp.tanh(x[t, j] + hb[t - 1, j]))], t, 1)
    assert plan.carry == {"h__m1": "h"} and plan.xs == [("x", "x", 0, 0)]


def test_axes_follow_the_stored_arrays_of_the_batch():
    t, j, i = sp.symbols("t j i")
    x = Quantity("x", "x", "input", (t, i), ((1, 4), (1, 2)))
    h = Quantity("h", "h", "node", (t, j), ((1, 4), (1, 3)))
    U = Quantity("U", "U", "parameter", (j, i), ((1, 3), (1, 2)))
    order = axis_order([i, j, t], [U, x, h], {"x": x.ranges, "h": h.ranges, "U": U.ranges})
    assert order == [t, j, i]  # x (t, i), h (t, j) and U (j, i) each read without a transpose


def test_numpy_steps_work_on_2d_views_with_the_unlowered_code_s_answers():
    """Each unrolled step reads and writes its (batch, n) view [:, t, :]: no reshape in the
    loop, the same numbers as the plain reading of the equations (lower=False)."""
    form = forms.rnn_form()
    ev = form.evaluator(SIZES, "numpy")
    steps = [line.strip() for line in ev.source.splitlines()
             if re.match(r"A\['(a|h|delta_h)'\]\[", line.strip())]
    assert len(steps) == 3 * 4 and not any(".reshape" in line for line in steps)
    assert "A['h'][:, 1, :] = tanh(A['a'][:, 1, :])" in steps
    data, params = _data()
    want = BatchedEvaluator(form, SIZES, "numpy", lower=False)(data, params)
    got = ev(data, params)
    np.testing.assert_allclose(got.loss, want.loss, rtol=1e-12)
    for name, g in want.gradients.items():
        np.testing.assert_allclose(got.gradients[name], g, rtol=1e-11, atol=1e-14)


def test_step_views_leave_what_is_not_elementwise_in_its_slices():
    width = {"a": 2, "h": 2, "x": 2}
    outer = ("A['h'][:, 1:2, :] = (A['a'][:, 1:2, :].reshape((-1, 1, 2, 1, )) * "
             "A['x'][:, 1:2, :].reshape((-1, 1, 1, 2, ))).reshape((A['_batch'], 1, 2, ))")
    summed = ("A['h'][:, 1:2, :] = ksum(A['a'][:, 1:2, :].reshape((-1, 1, 2, 1, )), (2,))"
              ".reshape((A['_batch'], 1, 2, ))")
    wider = ("A['h'][:, 1:2, :] = tanh(A['a'][:, 1:2, :].reshape((-1, 1, 2, 1, )))"
             ".reshape((A['_batch'], 1, 2, ))")
    assert on_step_views(outer, width) == outer  # an outer product: two shapes
    assert on_step_views(summed, width) == summed  # a Σ is not elementwise
    assert on_step_views(wider, {**width, "a": 3}) == wider  # a's n is not h's
    assert on_step_views(wider, width) == "A['h'][:, 1, :] = tanh(A['a'][:, 1, :])"

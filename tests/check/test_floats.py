"""float_of and real_float: IEEE floats as the evaluators compute them, never a silent cast."""

from __future__ import annotations

import math
import warnings

import numpy as np
import sympy as sp

from symbackprop.check.floats import float_of, real_float


def test_an_intermediate_overflow_is_inf_as_in_numpy_not_nan():
    # GELU'(w) = Φ(w) + w φ(w): w² overflows at w = -1e300, which Python's floats raise on;
    # numpy's inf gives exp(-inf) = 0 and the right derivative, 0.
    w = sp.Symbol("w", real=True)
    prime = (sp.erf(w / sp.sqrt(2)) + 1) / 2 + w * sp.exp(-w ** 2 / 2) / sp.sqrt(2 * sp.pi)
    assert float_of(sp.lambdify([w], prime, "numpy"), [-1e300]) == 0.0


def test_a_complex_result_is_nan_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(float_of(lambda a: np.complex128(a + 2j), [1.0]))
        assert float_of(lambda a: np.complex128(a + 0j), [1.0]) == 1.0


def test_real_float_reads_numbers_scalars_and_arrays():
    assert real_float(np.array(2.5)) == 2.5
    assert real_float(np.float64(-1.0)) == -1.0
    assert math.isnan(real_float(1 + 1j))
    assert math.isnan(real_float("not a number"))

"""Between a general form's arrays and the scalar model's names: one sample's values by leaf
name (``x_2``, ``w_1``) as the arrays of its quantities, and arrays back as values by name.

``BatchedEvaluator.evaluate`` uses both, so that the general form's evaluator takes and gives
numbers as the scalar and matrix forms' evaluators do (the Form protocol).

>>> import sympy as sp
>>> from symbackprop.core.indexed import Quantity
>>> i = sp.Idx("i")
>>> w = Quantity("w", "w", "parameter", (i,), ((1, 2),))
>>> def symbol_of(name, ix): return sp.Symbol(f"{name}_{ix[0]}")
>>> _, parameters = arrays_of({"w_1": 0.5, "w_2": -1.0}, {"w": w}, {"w": [(1, 2)]}, symbol_of)
>>> parameters["w"].tolist(), values_of(parameters, {"w": [(1, 2)]}, symbol_of)
([0.5, -1.0], {'w_1': 0.5, 'w_2': -1.0})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from ..core.indexed import Quantity
from .results import BatchedResult

__all__ = ["arrays_of", "one_sample", "values_of"]

SymbolOf = Callable[[str, tuple], object]


def _points(ranges: list[tuple[int, int]]):
    """Each array position with the quantity's own indices (which start at its lower bounds)."""
    for ix in np.ndindex(*[hi - lo + 1 for lo, hi in ranges]):
        yield ix, tuple(lo + k for (lo, _), k in zip(ranges, ix, strict=True))


def arrays_of(values: Mapping[str, float], quantities: Mapping[str, Quantity],
              ranges: Mapping[str, list[tuple[int, int]]], symbol_of: SymbolOf
              ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(inputs and targets with a batch axis of one, parameters): each leaf quantity's array,
    its entries from ``values`` by the scalar model's names (zero where it has no symbol:
    padding)."""
    inputs, parameters = {}, {}
    for name, q in quantities.items():
        if q.kind not in ("input", "target", "parameter"):
            continue
        array = np.zeros([hi - lo + 1 for lo, hi in ranges[name]])
        for ix, point in _points(ranges[name]):
            s = symbol_of(name, point)
            if s is not None:
                array[ix] = float(values[s.name])
        if q.kind == "parameter":
            parameters[name] = array
        else:
            inputs[name] = array[np.newaxis]
    return inputs, parameters


def values_of(arrays: Mapping[str, object], ranges: Mapping[str, list[tuple[int, int]]],
              symbol_of: SymbolOf) -> dict[str, float]:
    """Every entry of ``arrays`` that the scalar model names, by that name."""
    out = {}
    for name, array in arrays.items():
        # a scalar parameter's array may come back with one entry and a shape of its own
        array = np.asarray(array, dtype=float).reshape([hi - lo + 1 for lo, hi in ranges[name]])
        for ix, point in _points(ranges[name]):
            s = symbol_of(name, point)
            if s is not None:
                out[s.name] = float(array[ix])
    return out


def one_sample(evaluator, values: Mapping[str, float]) -> BatchedResult:
    """``evaluator`` (a BatchedEvaluator) at one sample named as the scalar model names it:
    its loss, and the parameters' gradients by those names (the inputs' are not computed)."""
    _, symbol_of = evaluator.form.instance(evaluator.sizes)
    inputs, parameters = arrays_of(values, evaluator.qs, evaluator.ranges, symbol_of)
    result = evaluator(inputs, parameters)
    gradients = values_of({n: result.gradients[n] for n in result.gradients
                           if evaluator.qs[n].kind == "parameter"}, evaluator.ranges, symbol_of)
    loss = float(np.asarray(result.loss, dtype=float).reshape(-1)[0])
    return BatchedResult(loss, gradients, result.arrays)

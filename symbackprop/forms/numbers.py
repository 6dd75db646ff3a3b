"""The numbers of a scalar derivation at given values, which a general form is checked
against: every node and every δ in order, each a real number or refused naming its quantity."""

from __future__ import annotations

import math
from collections.abc import Mapping

import sympy as sp

from ..core.errors import ValuesError

__all__ = ["scalar_numbers"]


def scalar_numbers(scalar, values: Mapping[str, float]) -> tuple[dict, dict]:
    """Every node's value and every δ (nodes, parameters, inputs) of a scalar derivation at
    ``values``, by name: its own recursions evaluated in order, loss side first. (Its compiled
    evaluator would first tidy the exact δ values of the divisions in a norm, which costs
    seconds of factoring here and changes no number.) A value that is not real (a log of a
    negative output) is refused naming its quantity: it has no float to compare."""
    graph = scalar.graph
    numbers: dict[sp.Symbol, float] = {s: values[s.name] for s in graph.leaves}
    for v in graph.nodes:
        numbers[v] = _real(graph.expr(v).xreplace(numbers), v.name)
    deltas: dict[str, float] = {}
    for v in [*reversed(graph.nodes), *graph.leaves]:
        if v == graph.loss_symbol:
            value = 1.0
        elif v in scalar.deltas:
            value = _real(scalar.deltas[v].xreplace(numbers), f"the error signal of {v.name}")
        else:
            continue
        deltas[v.name] = value
        if v in scalar.delta_symbols:
            numbers[scalar.delta_symbols[v]] = value
    return {s.name: numbers[s] for s in graph.symbols}, deltas


def _real(x, name: str) -> float:
    try:
        z = complex(x)
    except TypeError:  # a symbol left over: no number at all
        z = complex(math.nan)
    if z.imag != 0:
        raise ValuesError(f"{name} is not a real number at the general form's random check "
                          "values (a log or root of a negative number): the loss needs "
                          "outputs in its domain wherever the network can put them")
    return z.real

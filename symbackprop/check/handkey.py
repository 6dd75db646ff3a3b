"""The numbers of a by-hand worked example, as its key prints them.

A student with a by-hand key computes each node from its formula at the rounded numbers, each
named δ from its recursion and each gradient from its δ form (∂L/∂w₁ = x₁ δ_{z₁}), multiplying
the rounded numbers written down before it and rounding the result. The compiled by-hand pass
rounds at other places (every δ, named or not; σ′ from z rather than from the rounded σ; the
loss from the logits), so its last digit can differ from the product of the key's own factors
(0.900 · 0.044 = 0.0396 is 0.040, where it gave 0.039). These are the key's numbers, so that
every product it prints is the product of the factors it shows.

>>> import symbackprop as sb
>>> d = sb.derive(sb.mlp([2, 2, 1]))
>>> v = dict(x1=0.9, x2=0.6, y=0.0, w1=0.71, w2=-0.93, w3=0.46, w4=-0.65, w5=0.73, w6=0.08)
>>> ex = sb.worked_example(d, v, rounding="by_hand")
>>> ex.show(ex.deltas["z1"]), ex.show(ex.gradients["w1"])
('0.044', '0.040')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import sympy as sp

from ..codegen.scalar import number
from ..derivation.reverse import Derivation

__all__ = ["key_nodes", "key_deltas", "key_gradients"]


def _agree(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def key_nodes(d: Derivation, values: Mapping[str, float], nodes: Mapping[str, float],
              round_shown: Callable[[float], float]) -> dict[str, float]:
    """Every node from its own formula at the rounded numbers before it, as the key writes it:
    a loss of a softmax output is −log 0.147 = 1.917 there, where the pass took it from the
    logits (1.919). Where the formula gives no number (log 0 at an output rounded to 1), the
    pass's number stands."""
    out: dict[str, float] = {}
    for v in d.graph.nodes:
        expr = d.graph.expr(v)
        at = {s: next(t[s.name] for t in (out, values) if s.name in t) for s in expr.free_symbols}
        value = round_shown(number(expr, at))
        out[v.name] = value if math.isfinite(value) else nodes[v.name]
    return out


def key_deltas(d: Derivation, values: Mapping[str, float], nodes: Mapping[str, float],
               deltas: Mapping[str, float], round_shown: Callable[[float], float]
               ) -> dict[str, float]:
    """Each named δ (output first) from its recursion at the rounded numbers before it.

    ``nodes`` are the by-hand node values, ``deltas`` the pass's δs (read for a δ no recursion
    names); ``round_shown`` rounds a number as the key shows it. Where one-hot targets let the
    δ be written in node values alone (softmax and cross-entropy: p − y) and that form agrees at
    these values, it is the one used, as the key prints it.
    """
    g = d.graph
    engine = d.evaluate(dict(values)).deltas
    carried: dict[str, float] = {}  # by δ symbol name

    def value(s: sp.Symbol) -> float:
        for table in (nodes, values, carried):
            if s.name in table:
                return table[s.name]
        node = next((v for v, sym in d.delta_symbols.items() if sym == s), None)
        return deltas[node.name] if node is not None and node.name in deltas else math.nan

    delta_symbols = set(d.delta_symbols.values())
    out = {}
    for v in reversed([v for v in g.delta_nodes if v in d.deltas]):
        rec = d.recursion(v)
        if g.one_hot_groups and not rec.free_symbols & delta_symbols:
            delta = d.delta(v)
            if delta.assumes and _agree(
                    number(delta.value, {s: value(s) for s in delta.value.free_symbols}),
                    engine[v.name]):
                rec = delta.value
        shown = round_shown(number(rec, {s: value(s) for s in rec.free_symbols}))
        carried[d.delta_symbols[v].name] = out[v.name] = shown
    return out


def key_gradients(d: Derivation, values: Mapping[str, float], nodes: Mapping[str, float],
                  deltas: Mapping[str, float], round_shown: Callable[[float], float]
                  ) -> dict[str, float]:
    """Each parameter's gradient from its named-δ form at the rounded numbers the key shows
    (``deltas``: every δ by node name, the named ones as :func:`key_deltas` gives them)."""
    by_symbol = {d.delta_symbols[d.graph.symbol(k)].name: x for k, x in deltas.items()}
    out = {}
    for p in d.graph.parameters:
        form = d.gradient(p, form="named")  # over the named δs, as the notes print it
        known = {s: next((t[s.name] for t in (nodes, values, by_symbol) if s.name in t), math.nan)
                 for s in form.free_symbols}
        out[p.name] = round_shown(number(form, known)) if form != 0 else 0.0
    return out

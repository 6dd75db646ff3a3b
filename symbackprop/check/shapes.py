"""Symbolic work the verifier does once per shape, not once per equation.

A deep net's or an unrolled model's equations repeat a few shapes: every σ′ line
h(1 − h) = e^(−z)/(1 + e^(−z))² of a 16-layer net, every ∂a_t/∂h_{t−1} of an RNN. What SymPy
decides about one holds for all of them, since it depends on the symbols' assumptions and
order, never on their names. So the symbols are renamed in their sorted order (assumptions
kept) and the answer is kept by the renamed expression.

>>> x, y = sp.symbols("x y", real=True)
>>> is_zero(sp.exp(-x) / (1 + sp.exp(-x)) ** 2 - (1 / (1 + sp.exp(-x)) - 1 / (1 + sp.exp(-x)) ** 2),
...         sp.cancel)
True
>>> shaped_diff(x * y ** 2, y)
2*x*y
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from ..core.polys import polys_can_take

__all__ = ["shaped_diff", "is_zero", "forget_shapes"]

#: Kept shapes per cache before it starts again (a bound on memory, not a tuning knob).
_KEPT = 4096
_DIFFS: dict[tuple[sp.Expr, sp.Symbol], sp.Expr] = {}
_ZEROS: dict[tuple, bool | None] = {}


def forget_shapes() -> None:
    """Empty both caches (a benchmark's cold start)."""
    _DIFFS.clear()
    _ZEROS.clear()


def shaped_diff(expr: sp.Expr, b: sp.Symbol) -> sp.Expr:
    """d expr/db, taken once per shape: the edges of an unrolled model repeat a few shapes
    (every ∂a_t/∂h_{t−1} is one), and SymPy's diff was most of checking their gradients."""
    syms = sorted(expr.free_symbols, key=sp.default_sort_key)
    plain = {s: sp.Symbol(f"v{k}", real=True) for k, s in enumerate(syms)}
    if not all(s.is_real for s in syms) or b not in plain:
        return sp.diff(expr, b)
    key = (expr.xreplace(plain), plain[b])
    if key not in _DIFFS:
        if len(_DIFFS) > _KEPT:
            _DIFFS.clear()
        _DIFFS[key] = sp.diff(*key)
    return _DIFFS[key].xreplace({v: s for s, v in plain.items()})


def is_zero(diff: sp.Expr, how: Callable[[sp.Expr], sp.Expr],
            max_ops: int | None = None) -> bool | None:
    """Whether ``how`` (SymPy's cancel or simplify) takes ``diff`` to 0, decided once per
    shape. With ``max_ops``: None where ``diff`` has more operations than that, or more than
    SymPy's polys may be given (core/polys.py), so the caller's points decide instead."""
    syms = sorted(diff.free_symbols, key=sp.default_sort_key)
    plain = {s: sp.Symbol(f"v{k}", **s.assumptions0) for k, s in enumerate(syms)}
    key = (getattr(how, "__name__", repr(how)), max_ops, diff.xreplace(plain))
    if key not in _ZEROS:
        if len(_ZEROS) > _KEPT:
            _ZEROS.clear()
        _ZEROS[key] = _decide(key[2], how, max_ops)
    return _ZEROS[key]


def _decide(diff: sp.Expr, how, max_ops: int | None) -> bool | None:
    if max_ops is not None and (sp.count_ops(diff) > max_ops or not polys_can_take(diff)):
        return None
    try:
        return how(diff) == 0
    except (TypeError, ValueError, NotImplementedError, ArithmeticError):
        return False

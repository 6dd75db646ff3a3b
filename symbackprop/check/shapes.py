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

from collections.abc import Callable, Mapping, Sequence

import sympy as sp

from ..core.polys import polys_can_take

__all__ = ["shaped_diff", "is_zero", "forget_shapes", "neighbourhood_key", "plain"]

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


def plain(expr: sp.Expr) -> tuple[sp.Expr, dict[sp.Symbol, sp.Symbol]]:
    """``expr`` with its symbols renamed v0, v1, … in their sorted order (assumptions
    kept), and the renaming: one expression for every expression of its shape.

    >>> plain(sp.Symbol("w5") * sp.Symbol("h4"))
    (v0*v1, {h4: v0, w5: v1})
    """
    syms = sorted(expr.free_symbols, key=sp.default_sort_key)
    renamed = {s: sp.Symbol(f"v{k}", **s.assumptions0) for k, s in enumerate(syms)}
    return expr.xreplace(renamed), renamed


def is_zero(diff: sp.Expr, how: Callable[[sp.Expr], sp.Expr],
            max_ops: int | None = None) -> bool | None:
    """Whether ``how`` (SymPy's cancel or simplify) takes ``diff`` to 0, decided once per
    shape. With ``max_ops``: None where ``diff`` has more operations than that, or more than
    SymPy's polys may be given (core/polys.py), so the caller's points decide instead."""
    key = (getattr(how, "__name__", repr(how)), max_ops, plain(diff)[0])
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


def neighbourhood_key(exprs: Sequence[sp.Expr], definition: Callable[[sp.Symbol], sp.Expr],
                      parents: Mapping[sp.Symbol, list[sp.Symbol]],
                      order: Mapping[sp.Symbol, int], depth: int, most: int) -> tuple | None:
    """A key two lists of expressions share only if they are the same, and so are the
    definitions of the nodes up to ``depth`` − 1 steps above their symbols, up to a renaming
    that keeps every symbol's class, assumptions and sorted place and the nodes' ``order``
    (``parents`` and ``order`` hold every node and no leaf). Whatever SymPy decides from
    those alone (a verifier's unfolding, ``depth`` − 1 nodes deep) holds for both. None past
    ``most`` symbols: a wide layer's neighbourhood is no shape.

    >>> a, b, x, y = sp.symbols("a b x y", real=True)
    >>> nodes, order = {a: [x], b: [y]}, {a: 0, b: 1}
    >>> key = lambda e: neighbourhood_key([e], {a: sp.sin(x), b: sp.sin(y)}.get, nodes, order,
    ...                                   2, 9)
    >>> key(sp.Derivative(a, x)) == key(sp.Derivative(b, y)), key(a) == key(x)
    (True, False)
    """
    symbols: set[sp.Symbol] = set().union(*(e.free_symbols for e in exprs))
    frontier, defined = set(symbols), []
    for _ in range(depth):
        defined += [s for s in frontier if s in parents]
        frontier = {p for s in frontier if s in parents for p in parents[s]} - symbols
        symbols |= frontier
        if len(symbols) > most:
            return None
    ordered = sorted(symbols, key=sp.default_sort_key)
    index = {s: k for k, s in enumerate(ordered)}
    nodes = sorted((s for s in symbols if s in parents), key=order.__getitem__)
    try:
        return (tuple(_tree(e, index) for e in exprs),
                tuple((type(s), tuple(sorted(s.assumptions0.items()))) for s in ordered),
                tuple(index[s] for s in nodes),
                tuple((index[s], _tree(definition(s), index))
                      for s in sorted(defined, key=order.__getitem__)))
    except KeyError:  # a symbol outside the neighbourhood: no key, the work is done anew
        return None


def _tree(e: sp.Basic, index: Mapping[sp.Symbol, int]) -> tuple:
    # a number or other atom with its type (Integer(2) == 2 == Float(2.0) as Python compares)
    if isinstance(e, sp.Symbol):
        return (None, index[e])
    if not e.args:
        return (type(e), e, getattr(e, "_prec", None))
    return (type(e), *(_tree(a, index) for a in e.args))

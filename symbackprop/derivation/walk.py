"""The reverse walk's fast paths and size bounds: differentiating the terms a network is
made of without SymPy's general machinery, and knowing when an expression is too big to tidy.

Derivation (reverse.py) calls these on every node; they are what keeps deriving a wide net
linear in its weights.

>>> a, b, c = sp.symbols("a b c")
>>> diff_term(a * b, a), expands_to_at_most((a + b) * (b + c), 4)
(b, True)
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp
from sympy.core.function import ArgumentIndexError

from ..core.graph import product

__all__ = ["TIDY_OPS", "EXPAND_TERMS", "diff_term", "polynomial_diff", "is_small",
           "expands_to_at_most", "node_count", "paths_to_loss", "replace_deltas", "diff_function"]

# Tidying (factor, cancel) is for expressions a person reads; it is skipped above this size so
# that derivation time stays linear in the number of weights.
TIDY_OPS = 120

# Σy = 1 is used on the expanded δ: above this many terms (an unrolled softmax RNN's δ of h_t
# in node symbols: 10⁵ terms and more, or a few hundred whose factoring takes minutes) it is
# not tried, since such a value is never printed.
EXPAND_TERMS = 64


def diff_term(term: sp.Expr, parent: sp.Symbol) -> sp.Expr:
    """∂term/∂parent, without sp.diff's machinery for the common term w·a of a weighted sum:
    it is the other factor, found without a derivative dispatch (most of deriving a wide layer)."""
    if term == parent:
        return sp.S.One
    if isinstance(term, sp.Mul) and len(term.args) == 2:  # w·a: the other symbol
        a, b = term.args
        if a == parent and isinstance(b, sp.Symbol) and b != parent:
            return b
        if b == parent and isinstance(a, sp.Symbol) and a != parent:
            return a
    if isinstance(term, sp.Mul):
        rest = [a for a in term.args if a != parent]
        if len(rest) == len(term.args) - 1 and not any(
            a.has(parent) for a in rest if not isinstance(a, sp.Symbol)
        ):
            return rest[0] if len(rest) == 1 else sp.Mul(*rest)
    return polynomial_diff(term, parent)


def polynomial_diff(expr: sp.Expr, parent: sp.Symbol) -> sp.Expr:
    """∂expr/∂parent by the sum, product and power rules for a loss term as c·(y − ŷ)², and
    sp.diff for anything else. sp.diff's Leibniz rule for a product factors its terms: ~20 ms a
    term, which was most of deriving an RNN's 1 024 per-step losses (T = 64, 16 outputs).

    >>> y, yhat = sp.symbols("y yhat")
    >>> polynomial_diff((y - yhat) ** 2 / 2, yhat) == sp.diff((y - yhat) ** 2 / 2, yhat)
    True
    """
    if isinstance(expr, sp.Symbol):
        return sp.S.One if expr == parent else sp.S.Zero
    if expr.is_Number:
        return sp.S.Zero
    if isinstance(expr, sp.Add):
        return sp.Add(*[polynomial_diff(a, parent) for a in expr.args])
    if isinstance(expr, sp.Mul):
        holding = [k for k, a in enumerate(expr.args) if a.has(parent)]
        if len(holding) == 1:  # c·f: the constant factors times f′, as Mul orders them
            k = holding[0]
            return sp.Mul(*expr.args[:k], polynomial_diff(expr.args[k], parent),
                          *expr.args[k + 1:])
    elif isinstance(expr, sp.Pow) and expr.exp.is_Integer and not expr.exp.has(parent):
        return expr.exp * expr.base ** (expr.exp - 1) * polynomial_diff(expr.base, parent)
    return sp.diff(expr, parent)


def is_small(expr: sp.Expr, limit: int = 4 * TIDY_OPS) -> bool:
    """At most ``limit`` nodes in ``expr``'s tree: a walk that stops as soon as it is over,
    visiting a shared subexpression once."""
    seen: set[sp.Basic] = set()
    stack = [expr]
    while stack:
        e = stack.pop()
        if e in seen:
            continue
        seen.add(e)
        if len(seen) > limit:
            return False
        stack.extend(e.args)
    return True


def expands_to_at_most(expr: sp.Expr, limit: int = EXPAND_TERMS) -> bool:
    """Whether ``expr`` multiplied out has at most about ``limit`` terms (an upper bound:
    products of sums multiply, powers raise). A δ of an unrolled RNN in node symbols nests a
    sum per step and shares it, so its tree is small and its expansion astronomical.

    >>> a, b, c = sp.symbols("a b c")
    >>> expands_to_at_most((a + b) * (b + c), 4), expands_to_at_most((a + b + c) ** 3, 20)
    (True, False)
    """
    memo: dict[sp.Basic, int] = {}

    def terms(e: sp.Basic) -> int:
        if e in memo:
            return memo[e]
        if isinstance(e, sp.Add):
            n = sum(terms(a) for a in e.args)
        elif isinstance(e, sp.Mul):
            n = 1
            for a in e.args:
                n = min(n * terms(a), limit + 1)
        elif isinstance(e, sp.Pow) and e.exp.is_Integer and e.exp > 0:
            n = min(terms(e.base) ** int(min(e.exp, 64)), limit + 1)
        else:
            n = 1
        memo[e] = n = min(n, limit + 1)
        return n
    return terms(expr) <= limit


def node_count(expr: sp.Expr) -> int:
    """Distinct subexpressions of ``expr`` (a small one: callers bound it with is_small)."""
    seen: set[sp.Basic] = set()
    stack = [expr]
    while stack:
        e = stack.pop()
        if e not in seen:
            seen.add(e)
            stack.extend(e.args)
    return len(seen)


def replace_deltas(expr: sp.Expr, rule: Mapping[sp.Symbol, sp.Expr]) -> sp.Expr:
    """``expr.xreplace(rule)``, the same expression, but a term δ_c·w of a sum is rebuilt by
    product() (a δ value times a weight: most terms of a wide net's δ values; Mul's flattening
    of them was 80% of computing every δ of a 128-128-128-1 net)."""
    if not isinstance(expr, sp.Add):
        return expr.xreplace(rule)
    args, changed = [], False
    for term in expr.args:
        pair = term.args if isinstance(term, sp.Mul) and len(term.args) == 2 else ()
        if pair and pair[1] in rule:
            pair = pair[::-1]
        if pair and pair[0] in rule and isinstance(pair[1], sp.Symbol) and pair[1] not in rule:
            new = product(rule[pair[0]], pair[1])
        else:
            new = term.xreplace(rule)
        changed = changed or new is not term
        args.append(new)
    return expr.func(*args) if changed else expr


def paths_to_loss(graph) -> dict[sp.Symbol, int]:
    """For every symbol, how many chain-rule paths lead from it to the loss, counted on the
    graph before anything is derived (paths(v) = Σ paths(c) over v's children). A gradient
    written in node symbols has at least one term per path: an unrolled RNN's ∂L/∂U grows as
    (hidden units)^(steps), which no printer finishes.

    >>> import symbackprop as sb
    >>> counts = paths_to_loss(sb.mlp([2, 2, 2, 1]))
    >>> counts[sp.Symbol("w1", real=True)], counts[sp.Symbol("w9", real=True)]
    (2, 1)
    """
    equations = graph.forward_equations()
    children: dict[sp.Symbol, list[sp.Symbol]] = {}
    for node, expr in equations:
        for used in expr.free_symbols:
            children.setdefault(used, []).append(node)
    counts: dict[sp.Symbol, int] = {graph.loss_symbol: 1}
    for symbol in reversed(graph.symbols):
        if symbol != graph.loss_symbol:
            counts[symbol] = sum(counts.get(c, 0) for c in children.get(symbol, ()))
    return counts


def diff_function(expr: sp.Expr, parent: sp.Symbol) -> sp.Expr:
    """∂expr/∂parent by the function's own fdiff (σ′ = σ(1 − σ)) and the chain rule through
    its arguments: sp.diff's general machinery costs ~8 ms an activation node."""
    if isinstance(expr, sp.Function) and not isinstance(expr, sp.Derivative):
        terms = []
        try:
            for i, arg in enumerate(expr.args, start=1):
                if arg == parent:
                    terms.append(expr.fdiff(i))
                elif arg.has(parent):
                    terms.append(expr.fdiff(i) * diff_function(arg, parent))
        except ArgumentIndexError:  # a function without its own fdiff for that argument
            return sp.diff(expr, parent)
        return sp.Add(*terms)
    return sp.diff(expr, parent)

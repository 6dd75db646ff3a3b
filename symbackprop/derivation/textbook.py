"""Rewrites that turn a derived expression into the form a textbook prints, value unchanged:
Σy = 1 for one-hot targets (softmax + cross-entropy's p − y), sums read the textbook way round
(1 − a, ŷ − y), and a hidden δ's sum grouped per weight.

The derivation (derive.py) decides when they apply; these functions only rewrite.
"""

from __future__ import annotations

import sympy as sp


def sum_to_one(expr: sp.Expr, group: tuple[sp.Symbol, ...]) -> sp.Expr:
    """``expr`` with Σ_k y_k = 1 used wherever a product is multiplied by every y_k of a one-hot
    group: ŷ₁y₁ + ŷ₁y₂ − y₁ becomes ŷ₁ − y₁ (softmax + cross-entropy's p − y), also inside the
    sums of a hidden layer's gradient.

    >>> y1, y2, p = sp.symbols("y1 y2 p")
    >>> sum_to_one(p*y1 + p*y2 - y1, (y1, y2))
    p - y1
    """
    members = set(group)
    by_rest: dict[sp.Expr, list[sp.Symbol]] = {}
    kept: list[sp.Expr] = []
    for term in sp.Add.make_args(sp.expand(expr)):
        factors = sp.Mul.make_args(term)
        ys = [f for f in factors if f in members]
        if len(ys) == 1:
            by_rest.setdefault(sp.Mul(*[f for f in factors if f != ys[0]]), []).append(ys[0])
        else:
            kept.append(term)
    for rest, ys in by_rest.items():
        if len(ys) == len(members) and set(ys) == members:
            kept.append(rest)
        else:
            kept.extend(rest * y for y in ys)
    return sp.Add(*kept)


def textbook_signs(expr: sp.Expr, nodes: set[sp.Symbol]) -> sp.Expr:
    """A product's sums turned the way textbooks write them, its sign kept: 1 − a, not a − 1,
    and ŷ − y (the network's node first), not −(y − ŷ).

    >>> a, y, p = sp.symbols("a y p")
    >>> textbook_signs(sp.factor(a*(a - 1)*(y - p)), {a, p})
    a*(1 - a)*(p - y)
    """
    if not isinstance(expr, sp.Mul):
        return expr
    coeff, factors = expr.as_coeff_mul()
    turned, flips = [], 0
    for f in factors:
        if f.is_Add and _reads_backwards(f, nodes):
            turned.append(sp.Add(*(-t for t in f.args)))
            flips += 1
        else:
            turned.append(f)
    return sp.Mul(-coeff if flips % 2 else coeff, *turned)


def per_weight(expr: sp.Expr, nodes: set[sp.Symbol], targets: set[sp.Symbol]) -> sp.Expr:
    """A product's sums grouped per weight, as textbooks write a hidden δ of softmax +
    cross-entropy: w₁₁(ŷ₁ − y₁) + w₂₁(ŷ₂ − y₂), not w₁₁ŷ₁ − w₁₁y₁ − w₂₁y₂ + w₂₁ŷ₂.

    >>> a, w1, w2, p1, p2, y1, y2 = sp.symbols("a w1 w2 p1 p2 y1 y2")
    >>> per_weight(a*(w1*p1 - w1*y1 - w2*y2 + w2*p2), {a, p1, p2}, {y1, y2})
    a*(w1*(p1 - y1) + w2*(p2 - y2))
    """
    if not isinstance(expr, sp.Mul):
        return expr
    out = []
    for f in expr.args:
        weights = sorted(f.free_symbols - nodes - targets, key=sp.default_sort_key) \
            if f.is_Add and f.free_symbols & targets else []
        grouped = sp.collect(f, weights, evaluate=False) if weights else {}
        if grouped and all(k in weights for k in grouped) and len(grouped) > 1:
            f = sp.Add(*(w * textbook_signs(sp.factor(c), nodes) for w, c in grouped.items()))
        out.append(f)
    return sp.Mul(*out)


def _reads_backwards(total: sp.Add, nodes: set[sp.Symbol]) -> bool:
    constant, terms = total.as_coeff_add()
    if constant:
        return constant < 0
    with_nodes = [t for t in terms if t.free_symbols & nodes]
    return bool(with_nodes) and all(t.could_extract_minus_sign() for t in with_nodes)

"""Rewrites that make a general form's equations read as textbooks print them.

Each takes a SymPy expression over indexed entries and sums and returns an equal one: a short
local derivative factored (2(ŷ − y)/n), a factor moved into the sum where it cancels, a term
factored when that is shorter without splitting a bracket such as 1 − a², a leading minus moved
into its bracket of sums, nested sums merged, and summation variables given short letters.

>>> import sympy as sp
>>> y, a = sp.symbols("y a", real=True)
>>> factored(2 * a - 2 * y)
2*(a - y)
"""

from __future__ import annotations

import sympy as sp
from sympy.core.parameters import distribute

_POOL = "ijklmnpqrsuv"


def factored(expr: sp.Expr) -> sp.Expr:
    """A short local derivative factored as lecturers write it: 2(ŷ − y)/n, not −2y/n + 2ŷ/n."""
    if isinstance(expr, sp.Add) and sp.count_ops(expr) <= 12:
        factored = sp.factor_terms(expr)
        if sp.count_ops(factored) <= sp.count_ops(expr):
            return factored
    return expr


def into_sums(expr: sp.Expr) -> sp.Expr:
    """Z · Σ_i (−α_i g_i / Z) → −Σ_i α_i g_i: a factor moves into a sum (or a bracket) only
    where it cancels there, and a sign moves out of a sum."""
    if not expr.args or isinstance(expr, sp.Indexed):
        return expr
    expr = expr.func(*[into_sums(a) for a in expr.args])
    if isinstance(expr, sp.Sum):
        bound = {v for v, *_ in expr.limits}
        outside, inside = expr.function.as_independent(*bound, as_Add=False)
        if outside != 1 and inside != 1:
            return outside * sp.Sum(inside, *expr.limits)
        if expr.function.could_extract_minus_sign():
            return -sp.Sum(-expr.function, *expr.limits)
    if not isinstance(expr, sp.Mul):
        return expr
    factors = list(expr.args)
    changed = True
    while changed:
        changed = False
        for a in [f for f in factors if isinstance(f, sp.Add | sp.Sum)]:
            for f in [f for f in factors if f is not a and not isinstance(f, sp.Add | sp.Sum)]:
                moved = _move_in(f, a)
                if sp.count_ops(moved) < sp.count_ops(a) + sp.count_ops(f):
                    factors.remove(a)
                    factors.remove(f)
                    factors.append(moved)
                    changed = True
                    break
            if changed:
                break
    return sp.Mul(*factors)


def _move_in(factor: sp.Expr, into: sp.Expr) -> sp.Expr:
    if isinstance(into, sp.Sum):
        return into_sums(sp.Sum(factor * into.function, *into.limits))
    return sp.Add(*[into_sums(factor * t) for t in into.args])


def shorter(term: sp.Expr) -> sp.Expr:
    """A term (or the body of a sum) factored when that is shorter: ŷ(1 − ŷ)(−y/ŷ + …) → ŷ − y."""
    coeff, rest = term.as_independent(sp.Sum, as_Add=False)
    if isinstance(rest, sp.Sum):
        return _common_factor(coeff) * sp.Sum(shorter(rest.function), *rest.limits)
    if sp.count_ops(term) > 60:
        return term
    # a bracket without sums, such as tanh′ = 1 − a², is kept whole: (a − 1)(a + 1) is no textbook's
    kept = {f: sp.Dummy() for f in sp.Mul.make_args(term) if isinstance(f, sp.Add)
            and not f.has(sp.Sum)} if isinstance(term, sp.Mul) else {}
    factored = sp.factor(term.xreplace(kept)).xreplace({v: k for k, v in kept.items()})
    if sp.count_ops(factored) < sp.count_ops(term):
        return _sign_inside(factored)
    common = sp.factor_terms(term)  # 2(ŷ − y) rather than 2ŷ − 2y
    return common if sp.count_ops(common) <= sp.count_ops(term) else term


def _common_factor(expr: sp.Expr) -> sp.Expr:
    """(2o − 2y) x/d → 2(o − y) x/d: a number common to the terms of a bracket (outside any sum)
    is pulled out of it, as a textbook writes the bracket."""
    if isinstance(expr, sp.Mul):
        return sp.Mul(*[_common_factor(f) for f in expr.args])
    if isinstance(expr, sp.Add) and not expr.has(sp.Sum):
        common = sp.factor_terms(expr)
        return common if sp.count_ops(common) < sp.count_ops(expr) else expr
    return expr


def _sign_inside(expr: sp.Expr) -> sp.Expr:
    """−c(x̂ Σ gx̂ − n g + Σ g) → c(n g − Σ g − x̂ Σ gx̂): a leading minus goes into a bracket
    of sums, which then opens with its positive term as the three-term δ is written."""
    if not (isinstance(expr, sp.Mul) and expr.could_extract_minus_sign()):
        return expr
    for f in expr.args:
        # also a bracket of entries alone, −(y − ŷ)·1[T = t] → (ŷ − y)·1[T = t]; never one with
        # a number in it, which is a derivative such as 1 − a² that stays as written
        if isinstance(f, sp.Add) and (f.has(sp.Sum) or not any(t.is_number for t in f.args)):
            flipped = sp.Add(*[-t for t in f.args])
            # the outer minus counts as one: flip unless that leaves more minus signs
            if sum(t.could_extract_minus_sign() for t in flipped.args) <= 1 + sum(
                    t.could_extract_minus_sign() for t in f.args):
                return -expr / f * flipped
    return expr


def _expand(expr: sp.Expr) -> sp.Expr:
    return sp.expand(expr, power_base=False, power_exp=False, log=False, multinomial=False)


def merge_sum(term: sp.Expr) -> sp.Expr:
    """c · Σ_k f as Σ_k c f is left alone; nested sums become one Sum with several limits."""
    coeff, rest = term.as_independent(sp.Sum, as_Add=False)
    if isinstance(rest, sp.Sum) and isinstance(rest.function, sp.Sum):
        inner = merge_sum(rest.function)
        if isinstance(inner, sp.Sum):
            return coeff * sp.Sum(inner.function, *inner.limits, *rest.limits)
    return term


def rename_bound(expr: sp.Expr) -> sp.Expr:
    """Give summation variables short letters that the free indices and outer sums do not use.

    The expression is rebuilt with SymPy's number-into-bracket distribution off, so that a
    factored 2(ŷ − y) stays factored rather than becoming 2ŷ − 2y again."""
    with distribute(False):
        return _renamed(expr)


def _renamed(expr: sp.Expr) -> sp.Expr:
    taken = frozenset(s.name for s in expr.free_symbols)

    def visit(e, used):
        if isinstance(e, sp.Sum):
            mapping, used = {}, set(used)
            for v, *_ in e.limits:
                if isinstance(v, sp.Dummy) and v.name not in used:
                    mapping[v] = sp.Symbol(v.name, integer=True)
                    used.add(v.name)
                elif isinstance(v, sp.Dummy) or v.name in used:
                    letter = next(c for c in _POOL if c not in used)
                    mapping[v] = sp.Symbol(letter, integer=True)
                    used.add(letter)
                else:
                    used.add(v.name)
            limits = [(mapping.get(v, v), lo, hi) for v, lo, hi in e.limits]
            return sp.Sum(visit(e.function.xreplace(mapping), used), *limits)
        if e.args and not isinstance(e, sp.Indexed):
            return e.func(*[visit(a, used) for a in e.args])
        return e
    return visit(expr, taken)

"""The pieces the builders' general forms are made of: size_symbol symbols, loss entries, softmax
heads and one-hot targets, and the rewrites that tidy sums which add to zero.

models.py (RNN, conv, attention, layer norm) and blocks.py (networks of blocks) both build
with them.

>>> size_symbol("n")
n
"""

from __future__ import annotations

import sympy as sp

from ..core import functions
from ..core.indexed import Quantity, as_basic
from ..core.matrices import entry_loss

__all__ = ["size_symbol", "entry_loss_of", "total", "elementwise", "softmax_output", "one_hot",
           "sums_to_zero", "zero_sums", "pull_in"]


def size_symbol(name: str) -> sp.Symbol:
    return sp.Symbol(name, integer=True, positive=True)


def entry_loss_of(loss: str, y: sp.Expr, yhat: sp.Expr, count: sp.Expr) -> sp.Expr:
    one, mean = entry_loss(loss)
    e = one.xreplace({sp.Symbol("y", real=True): y, sp.Symbol("a", real=True): yhat})
    return e / count if mean else e


def total(entry: sp.Expr, *limits) -> sp.Expr:
    """Σ of the loss entries, a minus in front rather than inside: −Σ_t Σ_k y log ŷ."""
    if entry.could_extract_minus_sign():
        return -sp.Sum(-entry, *limits)
    return sp.Sum(entry, *limits)


def elementwise(name: str):
    if name not in functions.ACTIVATIONS:
        raise ValueError(f"the general form takes an elementwise activation, not {name!r}")
    return functions.ACTIVATIONS[name]


def softmax_output(o: Quantity, cls: sp.Symbol, name: str = "yhat", latex: str = r"\hat{y}",
             layer: str = "") -> list[Quantity]:
    """ŷ = softmax(o) over the index ``cls``, as its steps e = exp(o), Z = Σ e, ŷ = e/Z, so that
    reverse mode derives the softmax Jacobian itself (as :func:`attention_form` does); a
    block network's ``layer`` tags e^{[l]} and Z^{[l]}."""
    at = o.indices.index(cls)
    kept = tuple(v for v in o.indices if v != cls)
    kept_rng = tuple(r for v, r in zip(o.indices, o.ranges, strict=True) if v != cls)
    tag = f"^{{[{layer}]}}" if layer else ""
    e = Quantity(f"e{layer}", f"e{tag}", "node", o.indices, o.ranges, sp.exp(o.entry))
    Z = Quantity(f"Z{layer}", f"Z{tag}", "node", kept, kept_rng,
                 sp.Sum(e.entry, (cls, *o.ranges[at])))
    return [e, Z, Quantity(name, latex, "node", o.indices, o.ranges, e.entry / Z.at(*kept))]


def one_hot(target: Quantity, cls: sp.Symbol):
    """The fact Σ_k y_k = 1 over the class index of one-hot targets (softmax + cross-entropy),
    as :mod:`symbackprop.derivation.textbook` uses it for the scalar derivation: ŷ Σ_k y_k − y → ŷ − y."""
    at = target.indices.index(cls)
    lo, hi = target.ranges[at]

    def is_total(e: sp.Expr) -> bool:  # Σ_k c y_{…,k,…} over the whole class range
        if not isinstance(e, sp.Sum) or len(e.limits) != 1:
            return False
        (v, a, b) = e.limits[0]
        f = e.function.as_independent(v, as_Add=False)[1]
        return (isinstance(f, sp.Indexed) and f.base.name == target.name and f.indices[at] == v
                and sum(ix.has(v) for ix in f.indices) == 1 and (a, b) == (as_basic(lo), hi))

    def apply(expr: sp.Expr) -> sp.Expr:
        new = expr.replace(is_total, lambda e: e.function.as_independent(
            e.limits[0][0], as_Add=False)[0])
        # expanded once it applied, so that what Σy = 1 leaves cancels: (1 − y/ŷ)ŷ → ŷ − y
        return new if new == expr else sp.expand(new, power_base=False, power_exp=False,
                                                 log=False)
    statement = sp.Eq(sp.Sum(target.entry, (cls, lo, hi)), 1)
    return apply, statement


def sums_to_zero(*bases: str):
    """Facts: Σ_j x̂_j = 0 and Σ_j (x_j − μ) = 0 once the mean is subtracted."""
    def is_zero(summand: sp.Expr, v: sp.Symbol) -> bool:
        hits = [f for f in sp.Mul.make_args(summand) if f.has(v)]
        return (len(hits) == 1 and isinstance(hits[0], sp.Indexed)
                and hits[0].base.name in bases and tuple(hits[0].indices) == (v,))

    def apply(expr: sp.Expr) -> sp.Expr:
        expr = sp.expand(expr, power_base=False, power_exp=False, log=False)
        return zero_sums(sp.Add(*[pull_in(t) for t in sp.Add.make_args(expr)]), is_zero)
    return apply


def zero_sums(expr: sp.Expr, is_zero) -> sp.Expr:
    """``expr`` with every Σ whose body ``is_zero(body, index)`` says sums to zero dropped."""
    if isinstance(expr, sp.Sum):
        body = zero_sums(expr.function, is_zero)
        if any(is_zero(body, v) for v, *_ in expr.limits):
            return sp.S.Zero
        return sp.Sum(body, *expr.limits)
    if expr.args and not isinstance(expr, sp.Indexed):
        return expr.func(*[zero_sums(a, is_zero) for a in expr.args])
    return expr


def pull_in(term: sp.Expr) -> sp.Expr:
    """c · Σ_j f(j) as Σ_j c f(j) when c holds another sum (so each sum sees its own body)."""
    sums = [f for f in sp.Mul.make_args(term) if isinstance(f, sp.Sum)]
    if len(sums) < 2:
        return term
    first, rest = sums[0], term / sums[0]
    return sp.Sum(first.function * rest, *first.limits)

"""A softmax's array code computed stably: log e = o − max_k o first, and log ŷ as
log e − log Z, so a saturated softmax gives no overflow and no 0 · log 0.

The general form writes a softmax as the textbook does (e = exp(o), Z = Σ_k e, ŷ = e/Z), which
is what its δs are derived from; only the batched evaluator's code is rewritten here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import sympy as sp

from ..core.indexed import Quantity

if TYPE_CHECKING:
    from ..forms.general import GeneralForm

__all__ = ["ClassMax", "stable_softmax"]


class ClassMax(sp.Function):
    """max over the index ``v`` of ``expr`` (code only: the softmax's shift, never printed)."""

    nargs = 2


def stable_softmax(form: GeneralForm) -> tuple[dict[str, Quantity], dict[str, sp.Expr]]:
    """The quantities to compute, in order, and their definitions, with every softmax (e =
    exp(o), Z = Σ_k e, ŷ = e/Z) computed stably: log e = o − max_k o first (e and Z are then
    the textbook's scaled by exp(−max_k o), which cancels in ŷ), and log ŷ in the loss taken as
    log e − log Z, so that a saturated softmax gives no overflow and no 0 · log 0.

    A softmax is left as written where a δ or gradient equation reads e or Z itself (the
    scaling would not cancel there)."""
    qs = dict(form.quantities)
    defs = {n: q.expr for n, q in qs.items() if q.expr is not None}
    read = {a.base.name if isinstance(a, sp.Indexed) else a.name
            for eq in form.equations() if eq.kind != "forward"
            for a in eq.rhs.atoms(sp.Indexed, sp.Symbol)}
    order = list(qs)
    for q in form.quantities.values():
        hit = _softmax_of(qs, q)
        if hit is None or {hit[0].name, hit[1].name} & read:
            continue
        e, Z, cls = hit
        o = e.expr.args[0]
        log_e = Quantity(f"{e.name}_log", "", "node", e.indices, e.ranges,
                         o - ClassMax(o, cls))
        qs[log_e.name] = log_e
        order.insert(order.index(e.name), log_e.name)
        defs[log_e.name], defs[e.name] = log_e.expr, sp.exp(log_e.entry)
        log_q = log_e.entry - sp.log(Z.at(*[v for v in e.indices if v != cls]))

        def is_log(x, q=q) -> bool:
            return x.func == sp.log and isinstance(x.args[0], sp.Indexed) and \
                x.args[0].base.name == q.name

        def log_of(x, q=q, log_q=log_q) -> sp.Expr:
            return log_q.xreplace(dict(zip(q.indices, x.args[0].indices, strict=True)))
        defs = {n: expr.replace(is_log, log_of) if expr.has(sp.log) else expr
                for n, expr in defs.items()}
    return {n: qs[n] for n in order}, defs


def _softmax_of(qs: Mapping[str, Quantity], q: Quantity):
    """(e, Z, class index) if q is ŷ = e/Z with e = exp(o) and Z = Σ of e over one index."""
    if not isinstance(q.expr, sp.Mul) or len(q.expr.args) != 2:
        return None
    num = next((f for f in q.expr.args if isinstance(f, sp.Indexed)), None)
    den = next((f.base for f in q.expr.args if isinstance(f, sp.Pow) and f.exp == -1), None)
    if num is None or not isinstance(den, sp.Indexed | sp.Symbol):
        return None
    e = qs.get(num.base.name)
    Z = qs.get(den.base.name if isinstance(den, sp.Indexed) else den.name)
    if e is None or Z is None or e.expr is None or e.expr.func != sp.exp or \
            not isinstance(Z.expr, sp.Sum) or len(Z.expr.limits) != 1:
        return None
    (cls, *_), body = Z.expr.limits[0], Z.expr.function
    if not (isinstance(body, sp.Indexed) and body.base.name == e.name and cls in body.indices
            and tuple(num.indices) == tuple(e.indices) == tuple(q.indices)):
        return None
    return e, Z, e.indices[list(body.indices).index(cls)]

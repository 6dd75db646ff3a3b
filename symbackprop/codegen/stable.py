"""The numerically stable forms the scalar evaluator computes, as torch's losses do.

A log of a probability is computed from its logits (log σ(z) = −softplus(−z), log softmax from
the logsumexp), and a ratio p_j/(1 − p_k) of one softmax's outputs, which the exact δ of
softmax + bce keeps, as a softmax over the other logits: so saturated outputs give finite losses
and gradients. Generated code calls ``log_softmax``, ``log_softmax_complement`` and
``softmax_ratio`` by name; :data:`NUMPY_HELPERS` holds their numpy.

>>> import symbackprop as sb
>>> net = sb.mlp([1, 2], activation="softmax", loss="cross_entropy")
>>> sorted({type(f).__name__ for f in stable_loss(net, net.expr(net.loss_symbol)).atoms(sp.Function)})
['log_softmax']
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from ..core import functions, ops
from ..core.graph import Graph
from ..core.polys import polys_can_take

__all__ = ["NUMPY_HELPERS", "has_division", "masked_steps", "stable_forward", "stable_local",
           "stable_logs", "stable_loss", "stable_ratios"]


def _numpy_log_softmax(k, *zs):
    zs = np.broadcast_arrays(*[np.asarray(z, dtype=float) for z in zs])
    top = np.maximum.reduce(zs)
    return zs[int(k) - 1] - top - np.log(sum(np.exp(z - top) for z in zs))


def _numpy_log_softmax_complement(k, *zs):
    # log(1 − softmax_k(z)) = logsumexp(z without z_k) − logsumexp(z): finite however far z_k
    # stands above the others, where 1 − p_k rounds to 0.
    zs = np.broadcast_arrays(*[np.asarray(z, dtype=float) for z in zs])
    k = int(k) - 1
    others = [z for i, z in enumerate(zs) if i != k]
    if not others:
        return np.full(zs[0].shape, -np.inf)[()]
    return _logsumexp(others) - _logsumexp(zs)


def _logsumexp(zs):
    top = np.maximum.reduce(zs)
    top = np.where(np.isfinite(top), top, 0.0)
    return top + np.log(sum(np.exp(z - top) for z in zs))


def _numpy_softmax_ratio(j, k, *zs):
    # p_j / (1 − p_k) = exp(z_j) / Σ_{i≠k} exp(z_i): a softmax over the others, exact where
    # p_j and 1 − p_k both underflow (softmax + bce at saturation).
    zs = np.broadcast_arrays(*[np.asarray(z, dtype=float) for z in zs])
    j, k = int(j) - 1, int(k) - 1
    others = [z for i, z in enumerate(zs) if i != k]
    return np.exp(zs[j] - _logsumexp(others))


def _numpy_masked(gate, x):
    # torch's threshold_backward: where the step is 0 the product is 0, whatever overflowed
    # behind it (a dead relu under a δ of inf gave 0·inf = nan for a gradient that is 0)
    gate = np.asarray(gate, dtype=float)
    return np.where(gate == 0, 0.0, gate * x)[()]


class log_softmax(sp.Function):  # noqa: N801 - printed by name into lambdified code
    """log softmax(k, z1, …, zn), only in generated code: z_k − log Σ exp(z), never log(0)."""


class log_softmax_complement(sp.Function):  # noqa: N801
    """log(1 − softmax(k, z1, …, zn)), only in generated code, from the logits."""


class softmax_ratio(sp.Function):  # noqa: N801
    """softmax_j / (1 − softmax_k) of the same logits, only in generated code."""


class masked(sp.Function):  # noqa: N801 - printed by name into lambdified code
    """masked(step, x) = step·x, and exactly 0 where the step is 0, only in generated code."""


def masked_steps(expr: sp.Expr) -> sp.Expr:
    """``expr`` with each product of a step (relu′ = H(z)) and other factors as ``masked``.

    >>> z, d = sp.symbols("z d")
    >>> masked_steps(2 * d * sp.Heaviside(z, 0))
    masked(Heaviside(z, 0), 2*d)
    """
    if not expr.has(sp.Heaviside):
        return expr

    def gate(term: sp.Mul) -> sp.Expr:
        steps = [f for f in term.args if isinstance(f, sp.Heaviside)]
        rest = [f for f in term.args if not isinstance(f, sp.Heaviside)]
        return masked(sp.Mul(*steps), sp.Mul(*rest)) if steps and rest else term

    return expr.replace(lambda e: isinstance(e, sp.Mul) and any(
        isinstance(f, sp.Heaviside) for f in e.args), gate)


def stable_logs(g: Graph) -> dict[sp.Expr, sp.Expr]:
    """Every log of a probability in ``g`` with its form from the logits, as torch's
    BCEWithLogitsLoss and CrossEntropyLoss compute it: log σ(z) = −softplus(−z), log(1 − σ(z)) =
    −softplus(z), log softmax_k(z) = z_k − logsumexp(z), log(1 − softmax_k(z)) from the
    logsumexp of the others. So σ(±1000) or a softmax that underflows gives a finite loss.
    Any other log is left as it is: no clamping, so the loss and its gradient always agree."""
    logits: dict[sp.Expr, sp.Expr] = {}

    def add(p: sp.Expr, e: sp.Expr) -> None:
        if isinstance(e, functions.sigmoid):
            z = e.args[0]
            logits[sp.log(p)] = -functions.softplus(-z)
            logits[sp.log(1 - p)] = -functions.softplus(z)
        else:
            logits[sp.log(p)] = log_softmax(*e.args)
            logits[sp.log(1 - p)] = log_softmax_complement(*e.args)

    for v in g.nodes:
        e = g.expr(v)
        if isinstance(e, functions.sigmoid | functions.softmax):
            add(v, e)
        # a probability written inline, −y log σ(w·h) in the loss itself
        for f in e.atoms(functions.sigmoid, functions.softmax):
            if f != e and sp.log(f) not in logits:
                add(f, f)
    return logits


def stable_loss(g: Graph, expr: sp.Expr) -> sp.Expr:
    """``expr`` with every log of a probability computed from its logits (:func:`stable_logs`)."""
    return expr.xreplace(stable_logs(g))


def stable_forward(g: Graph) -> list[tuple[sp.Symbol, sp.Expr]]:
    """Every node's line with its logs of probabilities from the logits: the loss's, and the
    per-step losses an RNN sums (L = L_1 + L_2, each −Σ y log p: log 0 there made L inf)."""
    logs = stable_logs(g)
    return [(v, g.expr(v).xreplace(logs) if logs else g.expr(v)) for v in g.nodes]


def stable_ratios(g: Graph, expr: sp.Expr) -> sp.Expr:
    """``expr`` with each p_j/(1 − p_k) of one softmax computed from the logits.

    The exact δ of softmax + bce keeps such ratios (they do not cancel); both p_j and 1 − p_k
    underflow at saturation, where the ratio, a softmax over the other logits, is finite.
    """
    # each softmax's outputs by index, in one pass (a scan of every node per output took 10 of
    # the 16 s of a 16-step softmax RNN's worked example)
    groups: dict[tuple, dict[int, sp.Symbol]] = {}
    for v in g.nodes:
        e = g.expr(v)
        if isinstance(e, functions.softmax):
            groups.setdefault(e.args[1:], {})[int(e.args[0])] = v
    complements: dict[sp.Expr, tuple] = {}
    for logits, members in groups.items():
        for k, v in members.items():
            complements[1 - v] = (k, logits, members, 1)
            complements[v - 1] = (k, logits, members, -1)
    if not complements:
        return expr
    outputs = frozenset(v for members in groups.values() for v in members.values())

    def pair(term: sp.Expr) -> sp.Expr:
        # the factors as written first: factoring costs ~20 ms a term (K² terms for K classes)
        # and is needed only where a 1 − p_k hides inside a sum
        paired = pair_factors(term)
        if not _divides_by(paired, outputs) or not polys_can_take(term):
            return paired
        factored = sp.factor(sp.cancel(term))
        paired = pair_factors(factored)
        if not _divides_by(paired, outputs):
            return paired
        # factor may fold the whole δ into one fraction whose numerator is a sum (how it
        # orders the terms depends on the symbols' names: a_1^[6] did, yhat1 did not), where
        # no single factor p_j meets the 1 − p_k below it
        return divide(*sp.fraction(factored))

    def divide(top: sp.Expr, bottom: sp.Expr) -> sp.Expr:
        # top/bottom with each 1 − p_k of the bottom divided out of the top as polynomials in
        # p_k: top = q·(p_k − 1) + r, r free of p_k; q needs no division by it, and each term
        # of r keeps a factor p_j that pairs with it (the others vanish at p_k = 1).
        coeff, factors = sp.factor_list(bottom)
        found = next((i for i, (base, _) in enumerate(factors) if base in complements), None)
        if found is None:
            return top / bottom
        base, power = factors[found]
        k, _, members, _ = complements[base]
        q, r = sp.div(top, base, members[k])
        rest = sp.Mul(coeff, *(b**m for i, (b, m) in enumerate(factors) if i != found),
                      base**(power - 1))
        divided = [pair_factors(sp.Mul(t, sp.Pow(rest, -1), sp.Pow(base, -1)))
                   for t in sp.Add.make_args(sp.expand(r)) if t != 0]
        return sp.Add(divide(q, rest) if q != 0 else sp.S.Zero, *divided)

    def pair_factors(term: sp.Expr) -> sp.Expr:
        top, bottom = [], []
        for f in sp.Mul.make_args(term):
            base, power = f.as_base_exp()
            if f.is_number or not power.is_negative:
                top.append(f)
            elif base not in complements or not power.is_Integer:
                bottom.append(base**-power)
            else:
                bottom.extend([base] * int(-power))
        dens, bottom = bottom, []
        for base in dens:
            if base not in complements:
                bottom.append(base)
                continue
            k, zs, members, sign = complements[base]
            found = next(((i, j) for i, t in enumerate(top)
                          for j, p in members.items() if t == p), None)
            if found is None:
                bottom.append(base)
                continue
            i, j = found
            top[i] = sign * softmax_ratio(j, k, *zs)
        return sp.Mul(*top) / sp.Mul(*bottom)

    def stable(e: sp.Expr) -> sp.Expr:
        if not has_division(e):
            return e
        if isinstance(e, sp.Add):
            return sp.Add(*[stable(a) for a in e.args])
        if isinstance(e, sp.Mul):
            args = [stable(a) for a in e.args]
            out = sp.Mul(*args)
            if any(isinstance(a, sp.Add) and has_division(a) for a in args) \
                    or not _divides_by(out, outputs):
                return out
            return pair(out)
        return e

    return stable(expr)


def _divides_by(expr: sp.Expr, outputs: frozenset) -> bool:
    """Whether ``expr`` divides by something made of the softmax ``outputs``: only then can
    factoring it find a 1 − p_k to pair (factoring anything else costs and finds nothing)."""
    return any(
        isinstance(p, sp.Pow) and p.exp.is_negative and p.exp.is_Integer
        and not p.base.free_symbols.isdisjoint(outputs)
        for p in sp.preorder_traversal(expr)
    )


def has_division(expr: sp.Expr) -> bool:
    """Whether ``expr`` divides by a whole power of something that is not a number."""
    # Only a whole power divides by what saturation can round to 0 (ŷ, 1 − ŷ, σ(z)): a root's
    # (batch norm's 1/√(var + ε)) never cancels against the loss, and treating it as one sent
    # every δ before a batch norm through exact_value and factor: minutes on a 107-node net.
    return any(
        isinstance(p, sp.Pow) and p.exp.is_negative and p.exp.is_Integer
        and not p.base.is_number
        for p in sp.preorder_traversal(expr)
    )


def stable_local(expr: sp.Expr, v: sp.Symbol) -> sp.Expr:
    """∂expr/∂v with each activation's derivative its entry's ``prime`` (σ′(z), not σ(1 − σ))."""
    if isinstance(expr, sp.Function) and expr.args[:1] == (v,) and not any(
            a.has(v) for a in expr.args[1:]):
        op = ops.op_of(type(expr), subclasses=False)
        if op is not None and op.prime is not None:  # a = f(z), a node: f′(z), as it is
            return op.prime.function(*expr.args)
    twins = {f: _twin(type(f))(*f.args) for f in expr.atoms(sp.Function)
             if f.has(v) and _twin(type(f)) is not None}
    return sp.diff(expr.xreplace(twins), v).xreplace({t: f for f, t in twins.items()})


@functools.cache
def _twin(function: type) -> type | None:
    """``function`` differentiated to its prime (None: it has none): a class of the moment for
    an activation written inside a node's expression, x·σ(w), which the result names again."""
    op = ops.op_of(function, subclasses=False)
    if op is None or op.prime is None:
        return None
    prime = op.prime.function

    def fdiff(self, argindex=1):
        return prime(*self.args) if argindex == 1 else function.fdiff(self, argindex)

    return type(function.__name__, (function,), {"fdiff": fdiff})


#: numpy for the functions above, by the name generated code calls.
NUMPY_HELPERS = {
    "log_softmax": _numpy_log_softmax,
    "log_softmax_complement": _numpy_log_softmax_complement,
    "softmax_ratio": _numpy_softmax_ratio,
    "masked": _numpy_masked,
}

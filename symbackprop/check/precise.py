"""The loss in high precision (mpmath): the reference that judges a gradient where float64's
finite difference cannot (a nan, a loss near overflow, a step lost in rounding, a difference
drowned in the round-off of a huge loss).

The loss is computed from the graph's own expressions (never from user text), node by node in
the stable forms the evaluator uses (log σ and log softmax from the logits), each activation by
its registry definition, at as many digits as the loss's size and the tolerance need. A central
difference at two steps and two precisions then gives a reference and a bound on its error.
What no reference in reach can settle raises :class:`Unjudgeable`, whose ``reason`` says why.

>>> import symbackprop as sb
>>> g = sb.Graph()
>>> w, x, y = g.parameter("w"), g.input("x"), g.target("y")
>>> _ = g.loss("L", (y - sb.sigmoid(w * x)) ** 2)
>>> judge(PreciseLoss(g), {"w": 1e-300, "x": 1e300, "y": 0.0}, "w", 0.0, 1e-6, 1e-8).ok
False
>>> judge(PreciseLoss(g), {"w": 1.0, "x": 1e300, "y": 1.0}, "w", 0.0, 1e-6, 1e-8).ok
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import mpmath
import sympy as sp
from mpmath import mp

from ..codegen.stable import log_softmax, log_softmax_complement, stable_forward
from ..core import functions, ops
from ..core.graph import Graph

if TYPE_CHECKING:
    from ..derivation.reverse import Derivation

__all__ = ["MAX_DIGITS", "Judgement", "PreciseLoss", "Unjudgeable", "formula_agrees", "judge", "judged",
           "smooth_step"]

#: Most decimal digits a reference may use: a loss of 10^k needs about k of them more than the
#: tolerance, and each costs time in every operation of every node.
MAX_DIGITS = 1500
#: Largest |x| of an exp(x), in bits: mpmath reduces x modulo log 2 at that many extra bits, so
#: exp(1e300) is cheap, but the exp of such a result (exp(exp(1e300))) is out of reach.
MAX_EXP_BITS = 4096
#: Rounds of refinement (a smaller step at more digits) before a reference gives up.
ROUNDS = 3
_FIRST_DIGITS = 30
_MORE_DIGITS = 20  # the second precision of each round, which bounds the round-off
_STEP_SHRINK = mpmath.mpf(2) ** -20  # the second step, which bounds the truncation

#: Why a gradient could not be judged, in the words the check's table prints.
REASONS = {
    "digits": f"the loss needs more than {MAX_DIGITS} digits",
    "exp": "an exponent beyond high precision",
    "domain": "the loss leaves the real numbers",
    "function": "a function the reference does not know",
    "kink": "the step crosses a kink",
    "settle": "the reference does not settle",
}


class Unjudgeable(Exception):
    """No reference in reach can judge this gradient; ``reason`` is a key of :data:`REASONS`."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(REASONS[reason])


@dataclass(frozen=True)
class Judgement:
    """A gradient judged in high precision: the reference, whether the engine agrees with it,
    and the digits it took."""

    reference: float
    ok: bool
    digits: int


def _exp(x):
    if x and mp.mag(x) > MAX_EXP_BITS:
        raise Unjudgeable("exp")
    return mp.exp(x)


def _log(x):
    if x <= 0:
        raise Unjudgeable("domain")
    return mp.log(x)


def _pow(base, exponent):
    if base < 0 and exponent != mp.floor(exponent):
        raise Unjudgeable("domain")
    if base == 0:
        if exponent < 0:
            raise Unjudgeable("domain")
        return mp.zero if exponent else mp.one
    # the result's binary exponent is about exponent·log2|base|: bounded as exp's argument is
    if abs(exponent) * abs(mp.mag(base)) > 2**MAX_EXP_BITS:
        raise Unjudgeable("exp")
    return mp.power(base, exponent)


def _sigmoid(x):
    return 1 / (1 + _exp(-x)) if x >= 0 else _exp(x) / (1 + _exp(x))


def _softplus(x):
    return x + mp.log1p(_exp(-x)) if x > 0 else mp.log1p(_exp(x))


def _logsumexp(zs):
    top = max(zs)
    return top + mp.log(mp.fsum(_exp(z - top) for z in zs))


def _softmax(k, *zs):
    return _exp(zs[int(k) - 1] - _logsumexp(zs))


def _log_softmax(k, *zs):
    return zs[int(k) - 1] - _logsumexp(zs)


def _log_softmax_complement(k, *zs):
    others = [z for i, z in enumerate(zs) if i != int(k) - 1]
    if not others:
        raise Unjudgeable("domain")
    return _logsumexp(others) - _logsumexp(zs)


# Each kind of node by its meaning in mpmath; the probabilities and their logs in the stable
# forms of codegen/stable.py, as the engine computes them (1 − σ(1e300) is 0 at any precision).
_MEANING: dict[type, Callable] = {
    sp.Add: lambda *xs: mp.fsum(xs),
    sp.Mul: lambda *xs: mp.fprod(xs),
    sp.Pow: _pow,
    sp.exp: _exp,
    sp.log: _log,
    sp.tanh: mp.tanh,
    sp.erf: mp.erf,
    functions.sigmoid: _sigmoid,
    functions.softplus: _softplus,
    functions.softmax: _softmax,
    log_softmax: _log_softmax,
    log_softmax_complement: _log_softmax_complement,
}
# The non-smooth ones, whose branch is recorded so that a step across a kink is seen.
_BRANCHING: dict[type, Callable] = {
    sp.Abs: lambda x: (abs(x), x >= 0),
    sp.Max: lambda *xs: (max(xs), max(range(len(xs)), key=lambda i: xs[i])),
    sp.Min: lambda *xs: (min(xs), min(range(len(xs)), key=lambda i: xs[i])),
    sp.Heaviside: lambda x, at_zero=0.5: ((mp.one if x > 0 else mp.zero if x < 0
                                          else mpmath.mpf(at_zero)), mp.sign(x)),
}
_RELATIONS = {sp.StrictGreaterThan: lambda a, b: a > b, sp.GreaterThan: lambda a, b: a >= b,
              sp.StrictLessThan: lambda a, b: a < b, sp.LessThan: lambda a, b: a <= b}


class PreciseLoss:
    """The graph's loss as a function of its leaves, computed with mpmath at the current
    precision (``mp.workdps``). Of the last evaluation, ``branches`` records every non-smooth
    function's branch, ``values`` every subexpression's value."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.lines = stable_forward(graph)
        self.branches: list = []
        self.values: dict[sp.Basic, mpmath.mpf] = {}
        self._rewritten: dict[sp.Expr, sp.Expr] = {}
        self._numbers: dict = {}

    def __call__(self, values: Mapping[str, float | mpmath.mpf]) -> mpmath.mpf:
        """The loss at ``values`` (by leaf name)."""
        self.branches = []
        self.values = known = {s: self._number(values[s.name]) for s in self.graph.leaves}
        for symbol, expr in self.lines:
            known[symbol] = self._value(expr, known)
        return known[self.graph.loss_symbol]

    def _number(self, x) -> mpmath.mpf:
        # a float converts exactly at any precision, so each converts once per PreciseLoss
        # (converting 1 650 leaves per evaluation was a third of a large MLP's time); a step's
        # mpf is the working precision's already
        if not isinstance(x, float):
            return mpmath.mpf(x)
        if x not in self._numbers:
            self._numbers[x] = mpmath.mpf(x)
        return self._numbers[x]

    def value(self, expr: sp.Basic, known: dict):
        """``expr`` at the values in ``known`` (by symbol and subexpression), which it extends."""
        return self._value(expr, known)

    def _value(self, expr: sp.Basic, known: dict):
        if expr in known:
            return known[expr]
        if expr.is_Rational:
            value = mpmath.mpf(expr.p) / expr.q
        elif expr.is_Number or expr.is_NumberSymbol:
            value = mpmath.mpf(str(sp.N(expr, mp.dps + 5)))
        elif isinstance(expr, sp.Piecewise):
            value = self._piecewise(expr, known)
        else:
            value = self._function(expr, known)
        known[expr] = value
        return value

    def _function(self, expr: sp.Basic, known: dict):
        kind = type(expr)
        if kind in _MEANING or kind in _BRANCHING:
            args = [self._value(a, known) for a in expr.args]
            if kind in _MEANING:
                return _MEANING[kind](*args)
            value, branch = _BRANCHING[kind](*args)
            self.branches.append(branch)
            return value
        op = ops.op_of(kind, subclasses=False)
        if op is None:  # a user's own function: its meaning is its own, unknown here
            raise Unjudgeable("function")
        if expr not in self._rewritten:
            self._rewritten[expr] = op.elementary(*expr.args)
        return self._value(self._rewritten[expr], known)

    def _piecewise(self, expr: sp.Piecewise, known: dict):
        for k, (piece, condition) in enumerate(expr.args):
            if condition is sp.true or self._holds(condition, known):
                self.branches.append(k)
                return self._value(piece, known)
        raise Unjudgeable("domain")

    def _holds(self, condition: sp.Basic, known: dict) -> bool:
        relation = _RELATIONS.get(type(condition))
        if relation is None:
            raise Unjudgeable("function")
        return relation(self._value(condition.lhs, known), self._value(condition.rhs, known))


def judge(loss: PreciseLoss, at: Mapping[str, float], name: str, engine: float,
          rtol: float, atol: float) -> Judgement:
    """Judge the engine's ∂L/∂``name`` at ``at`` against a high-precision central difference
    (:func:`judged`); mpmath's own failures (a division by 0, a number past its range) are
    Unjudgeable too, never a traceback."""
    try:
        return judged(loss, at, name, engine, rtol, atol)
    except ZeroDivisionError as failure:
        raise Unjudgeable("domain") from failure
    except (OverflowError, ValueError) as failure:
        raise Unjudgeable("exp") from failure


def judged(loss: PreciseLoss, at: Mapping[str, float], name: str, engine: float,
           rtol: float, atol: float) -> Judgement:
    """The judgement of :func:`judge`, mpmath's failures left to it.

    The step is one the loss is smooth over (:func:`smooth_step`); the digits are what |L|, the
    step and the tolerance need (Unjudgeable beyond :data:`MAX_DIGITS`). Each round takes the
    difference at two precisions and two steps: their spreads bound the reference's round-off
    and truncation. It disagrees when |engine − ref| exceeds the tolerance by more than that
    bound, agrees when the bound is a small part of the tolerance, and otherwise tries a smaller
    step at more digits, :data:`ROUNDS` times.
    """
    x0 = mpmath.mpf(at[name])
    g = mpmath.mpf(engine)
    h, size = smooth_step(loss, at, name)
    tol_least = max(atol + rtol * abs(g), 1e-300)  # atol = 0 at g = 0 asks for every digit
    for _ in range(ROUNDS):
        digits = _FIRST_DIGITS + max(0, int(mpmath.log10(size + 1) - mpmath.log10(h)
                                            - math.log10(tol_least)))
        if digits + _MORE_DIGITS > MAX_DIGITS:
            raise Unjudgeable("digits")
        with mp.workdps(digits):
            coarse = _central(loss, at, name, x0, h)
        with mp.workdps(digits + _MORE_DIGITS):
            fine = _central(loss, at, name, x0, h)
            reference = _central(loss, at, name, x0, h * _STEP_SHRINK)
            bound = abs(coarse - fine) + abs(fine - reference)
            tol = atol + rtol * max(abs(g), abs(reference))
            gap = abs(g - reference)
        if gap > tol + bound:
            return Judgement(float(reference), False, digits + _MORE_DIGITS)
        if bound <= tol / 4:
            return Judgement(float(reference), True, digits + _MORE_DIGITS)
        h *= _STEP_SHRINK
    raise Unjudgeable("settle")


#: A step is smooth when no value of the loss's computation moves by more than this part of
#: max(1, |value|): then every nonlinearity sees a small change of its argument.
_SMOOTH = mpmath.mpf(2) ** -24


def smooth_step(loss: PreciseLoss, at: Mapping[str, float], name: str) -> tuple:
    """A step in ``name`` that the loss is smooth over, and |L|.

    A fixed relative step is not: with σ(w·a) at a = 10³⁰⁰, a step of 10⁻²⁰ in w moves the
    logit by 10²⁸⁰ and the difference measures the saturated function's jump, not its slope.
    A step is smooth when every intermediate value (each node and each function inside one)
    moves by at most 2⁻²⁴·max(1, |value|). The first tried is 2⁻⁶⁴·|p| (2⁻⁶⁴ at p = 0); else the
    largest smooth one is bisected for in the exponent, down to the smallest step
    :data:`MAX_DIGITS` can resolve (an exp of 10³⁰⁸ changes by e^Δ, so the step it needs is
    not found by scaling).
    """
    x0 = mpmath.mpf(at[name])
    # the parameter's own size, however small: a step of 2⁻⁶⁴ at w = 1e-176 crossed 0, where
    # √w has no real value, and the reference lost every digit (0 for 6e233)
    scale = abs(x0) if x0 != 0 else mp.one
    with mp.workdps(_FIRST_DIGITS):
        size = abs(loss(at))
        # the loss may be the small difference of large terms (−y log σ − (1 − y) log(1 − σ) at
        # y = 1e146 is 0.69): the digits are what the largest value needs, not |L|, where
        # they can be had (an e^(1.7e308) inside a silu adds nothing to cancel)
        terms = max([size, *(abs(v) for v in loss.values.values()
                             if mpmath.isfinite(v) and mpmath.im(v) == 0)])
        if terms and mpmath.log10(terms) < MAX_DIGITS // 2:
            size = terms
    top, bottom = -64, -int((MAX_DIGITS - 2 * _FIRST_DIGITS) * 3.32)
    if _smooth(loss, at, name, x0, scale * mpmath.mpf(2) ** top):
        return scale * mpmath.mpf(2) ** top, size
    if not _smooth(loss, at, name, x0, scale * mpmath.mpf(2) ** bottom):
        raise Unjudgeable("digits")
    while top - bottom > 8:  # bisect the exponent: about 12 evaluations at most
        middle = (top + bottom) // 2
        if _smooth(loss, at, name, x0, scale * mpmath.mpf(2) ** middle):
            bottom = middle
        else:
            top = middle
    return scale * mpmath.mpf(2) ** bottom, size


def _smooth(loss: PreciseLoss, at: Mapping[str, float], name: str, x0, h) -> bool:
    # enough digits that x0 + h is exact and each value's change shows above its round-off
    with mp.workdps(_FIRST_DIGITS + int(mpmath.log10(max(abs(x0), mp.one) / h))):
        loss(at)
        here = loss.values
        loss({**at, name: x0 + h})
        return all(abs(v - here[k]) <= _SMOOTH * max(mp.one, abs(here[k]))
                   for k, v in loss.values.items() if k in here)


def formula_agrees(loss: PreciseLoss, derivation: Derivation, at: Mapping[str, float],
                   name: str, reference: float, digits: int, rtol: float, atol: float) -> bool:
    """Whether the engine's own formula for ∂L/∂``name`` (its δ recursion, each δ_v =
    Σ δ_c·∂c/∂v) computed at ``digits`` agrees with ``reference``: then a WRONG is float64's
    evaluation losing a right formula (1 − silu(z) cancelling at z = 10³⁰⁸), not a wrong
    derivative. False where the formula cannot be computed (a ratio 0/0 at saturation)."""
    graph = loss.graph
    with mp.workdps(_FIRST_DIGITS):
        loss(at)
        # a formula may subtract values as large as the largest one (1 − silu(9e307)): it needs
        # that many digits more than the reference
        largest = min(max((mp.mag(v) for v in loss.values.values() if v), default=0),
                      4 * MAX_DIGITS)  # bits; an exp of 1e308 has 2.5e308 of them
    digits = min(MAX_DIGITS, digits + max(0, largest * 3 // 10) + _MORE_DIGITS)
    with mp.workdps(digits):
        try:
            loss(at)
            known = dict(loss.values)
            for v in reversed(graph.nodes):
                if v != graph.loss_symbol and v in derivation.deltas:
                    known[derivation.delta_symbols[v]] = loss.value(derivation.deltas[v], known)
            formula = loss.value(derivation.deltas.get(graph.symbol(name), sp.S.Zero), known)
        except (Unjudgeable, ArithmeticError, ValueError):
            return False
        return abs(formula - reference) <= atol + rtol * max(abs(formula), abs(reference))


def _central(loss: PreciseLoss, at: Mapping[str, float], name: str, x0, h):
    # the step as the working precision rounds it, so the quotient divides by the step taken
    right, left = x0 + h, x0 - h
    plus = loss({**at, name: right})
    branches = loss.branches
    minus = loss({**at, name: left})
    if branches != loss.branches:
        raise Unjudgeable("kink")
    return (plus - minus) / (right - left)

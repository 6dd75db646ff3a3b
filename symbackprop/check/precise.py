"""Expressions in 50 digits, as a second opinion where floats round away the answer.

Floats round a saturated σ to exactly 1, so (ŷ − y)/(ŷ(ŷ − 1)) is 0/0; in 50 digits from the
leaves it is the finite number the evaluator's stable forms agree with. The work of such an
evaluation grows with the magnitudes met (mpmath shifts a mantissa by a number's exponent, and
exp(1e300) asks for 1e300 bits), so every magnitude is bounded *before* the operation that
makes it: past :data:`MAX_BITS` binary digits of exponent the evaluation gives up (``None``)
instead of working for hours or failing inside mpmath.

>>> import sympy as sp
>>> x = sp.Symbol("x")
>>> precise_value(1 - 1 / (1 + sp.exp(-x)), {x: 40.0}).real > 0
True
>>> precise_value(sp.exp(sp.exp(x)), {x: 1e300}) is None
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import mpmath
import sympy as sp

__all__ = ["MAX_BITS", "DIGITS", "MANY_DIGITS", "precise_value", "precise_number"]

#: The largest binary exponent of any number met (2^4096 is about 1e1233: far past float64's
#: 1.8e308, so everything a float can hold, its square and its exp of a few thousand fit).
MAX_BITS = 4096
#: Decimal digits carried.
DIGITS = 50
#: Digits enough for any cancellation between numbers inside the bound (1 − (1 − 2^−4096)).
MANY_DIGITS = int(MAX_BITS * math.log10(2)) + 60
# exp(x) stays inside the bound while |x| < MAX_BITS · ln 2.
_EXP_LIMIT = MAX_BITS * math.log(2)


class _GiveUp(Exception):
    """Past the bounds, a node no table entry means, or a value that is not defined."""


def _bounded(x):
    if not mpmath.isfinite(x):
        raise _GiveUp
    if x != 0 and abs(mpmath.mag(x)) > MAX_BITS:
        raise _GiveUp
    return x


def _exp(x):
    if abs(mpmath.re(x)) > _EXP_LIMIT:
        raise _GiveUp
    return mpmath.exp(x)


def _log(x):
    if x == 0:
        raise _GiveUp  # −inf: not a number to judge by
    return mpmath.log(x)  # of a negative number: complex, for the caller to see


def _pow(base, exponent):
    if base == 0:
        if mpmath.re(exponent) <= 0:
            raise _GiveUp
        return mpmath.mpf(0)
    # the result's binary exponent, estimated before it is computed
    if abs(mpmath.re(exponent) * mpmath.log(abs(base), 2)) > MAX_BITS:
        raise _GiveUp
    return mpmath.power(base, exponent)


def _max(*xs):
    if any(mpmath.im(x) != 0 for x in xs):
        raise _GiveUp
    return max(xs, key=mpmath.re)


def _min(*xs):
    if any(mpmath.im(x) != 0 for x in xs):
        raise _GiveUp
    return min(xs, key=mpmath.re)


def _heaviside(x, at_zero=0.5):
    if mpmath.im(x) != 0:
        raise _GiveUp
    return mpmath.mpf(1) if x > 0 else mpmath.mpf(0) if x < 0 else mpmath.mpf(at_zero)


def _sign(x):
    return mpmath.sign(x)


#: The meaning of each kind of node in mpmath, by SymPy class (the elementary functions the
#: verifier rewrites activations into, and the spec language's functions).
PRECISE: dict[type, Callable] = {
    sp.Add: lambda *xs: mpmath.fsum(xs),
    sp.Mul: lambda *xs: mpmath.fprod(xs),
    sp.Pow: _pow,
    sp.exp: _exp,
    sp.log: _log,
    sp.Abs: abs,
    sp.Max: _max,
    sp.Min: _min,
    sp.Heaviside: _heaviside,
    sp.sign: _sign,
    sp.erf: mpmath.erf,
    sp.tanh: mpmath.tanh,
    sp.sin: mpmath.sin,
    sp.cos: mpmath.cos,
    sp.atan: mpmath.atan,
}


def precise_value(expr: sp.Expr, numbers: Mapping[sp.Basic, object],
                  digits: int = DIGITS) -> complex | None:
    """``expr`` in ``digits`` digits, with ``numbers`` (floats or mpmath numbers) for its
    symbols: a complex number (its imaginary part non-zero where it is not real), or None where
    it cannot be had cheaply: a magnitude past 2^MAX_BITS, log 0, 0^−1, a kind of node with no
    precise meaning, a symbol with no number."""
    with mpmath.workdps(digits):
        try:
            z = mpmath.mpc(_value(expr, numbers, {}))
        except (_GiveUp, ZeroDivisionError, ValueError, TypeError, OverflowError):
            return None
    return complex(z)


def precise_number(expr: sp.Expr, numbers: Mapping[sp.Basic, object],
                    digits: int = DIGITS):
    """``expr`` as an mpmath number (to carry into further precise evaluations), or None."""
    with mpmath.workdps(digits):
        try:
            return _value(expr, numbers, {})
        except (_GiveUp, ZeroDivisionError, ValueError, TypeError, OverflowError):
            return None


def _value(expr: sp.Basic, numbers: Mapping[sp.Basic, object], memo: dict):
    if expr in numbers:
        x = numbers[expr]
        if x is None:
            raise _GiveUp
        return _bounded(x if isinstance(x, mpmath.mpf | mpmath.mpc) else mpmath.mpf(float(x)))
    if expr in memo:
        return memo[expr]
    if expr.is_Float:
        x = mpmath.mpf(expr._mpf_)
    elif expr.is_Rational:
        x = mpmath.mpf(int(expr.p)) / int(expr.q)
    elif expr is sp.pi:
        x = +mpmath.pi
    elif expr is sp.E:
        x = +mpmath.e
    elif expr is sp.I:
        x = mpmath.mpc(0, 1)
    elif isinstance(expr, sp.NumberSymbol):  # a named constant (layer norm's ε): no argument
        x = mpmath.mpf(sp.Float(expr.evalf(mpmath.mp.dps + 5))._mpf_)
    else:
        f = PRECISE.get(type(expr))
        if f is None or not expr.args:
            raise _GiveUp
        x = f(*(_value(a, numbers, memo) for a in expr.args))
    memo[expr] = x = _bounded(x)
    return x

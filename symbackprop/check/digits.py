"""Expressions in 50 digits, as a second opinion where floats round away the answer.

Floats round a saturated σ to exactly 1, so (ŷ − y)/(ŷ(ŷ − 1)) is 0/0; in 50 digits from the
leaves it is the finite number the evaluator's stable forms agree with. The work of such an
evaluation grows with the numbers met: exp(x) reduces x by ln 2 to log₂|x| bits, so
exp(exp(1e300)) asks mpmath for 1e300 bits. Every argument and magnitude is bounded *before*
the operation that would need it (:data:`ARGUMENT_BITS`, :data:`MAX_BITS`): past them the
evaluation gives up (``None``) instead of working for hours or failing inside mpmath.

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

__all__ = ["ARGUMENT_BITS", "MAX_BITS", "DIGITS", "MANY_DIGITS", "precise_value", "precise_number"]

#: The largest argument of exp, sin and cos, as a binary exponent: |x| < 2^1100, past any
#: float64 (2^1024). Their cost grows with log |x| (the bits of ln 2 or π the reduction needs),
#: so this bounds it; e^(2^1100) is the largest magnitude that can then arise.
ARGUMENT_BITS = 1100
#: The largest binary exponent of any number met (mpmath keeps exponents as Python integers,
#: so e^(1e300), 2^(1.4e300), costs no more than 1.0; only its exponent is big).
MAX_BITS = 2 ** ARGUMENT_BITS * 2
#: Decimal digits carried.
DIGITS = 50
#: Digits for a second try where 50 cancel away (1 − σ(1000) is 0 in 50 digits): any
#: difference down to 2^−4096 of the numbers it subtracts.
MANY_DIGITS = int(4096 * math.log10(2)) + 60


class _GiveUp(Exception):
    """Past the bounds, a node no table entry means, or a value that is not defined."""


def _bounded(x):
    if not mpmath.isfinite(x):
        raise _GiveUp
    if x != 0 and abs(mpmath.mag(x)) > MAX_BITS:
        raise _GiveUp
    return x


def _reduced(f):
    """f of an argument below 2^ARGUMENT_BITS only: its cost grows with log |x|."""
    def bounded(x):
        if x != 0 and mpmath.mag(x) > ARGUMENT_BITS:
            raise _GiveUp
        return f(x)
    return bounded


_exp = _reduced(mpmath.exp)


def _tanh(x):
    # ±1 to any digits carried past |x| = 2^20 (1 − tanh x ≈ 2e^(−2x)); mpmath would raise
    if x != 0 and mpmath.mag(x) > 20 and mpmath.im(x) == 0:
        return mpmath.mpf(mpmath.sign(x))
    return _reduced(mpmath.tanh)(x)


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
    sp.tanh: _tanh,
    sp.sin: _reduced(mpmath.sin),
    sp.cos: _reduced(mpmath.cos),
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
    elif isinstance(expr, sp.Piecewise):  # leaky_relu's: the first branch whose test holds
        x = next((_value(e, numbers, memo) for e, test in expr.args
                  if _holds(test, numbers, memo)), None)
        if x is None:
            raise _GiveUp
    else:
        f = PRECISE.get(type(expr))
        if f is None or not expr.args:
            raise _GiveUp
        x = f(*(_value(a, numbers, memo) for a in expr.args))
    memo[expr] = x = _bounded(x)
    return x


_COMPARE: dict[type, Callable] = {
    sp.StrictGreaterThan: lambda a, b: a > b, sp.GreaterThan: lambda a, b: a >= b,
    sp.StrictLessThan: lambda a, b: a < b, sp.LessThan: lambda a, b: a <= b,
    sp.Eq: lambda a, b: a == b, sp.Ne: lambda a, b: a != b,
}


def _holds(test: sp.Basic, numbers: Mapping[sp.Basic, object], memo: dict) -> bool:
    """A Piecewise branch's test at the numbers (a comparison of two real sides, or true)."""
    if test is sp.true:
        return True
    compare = _COMPARE.get(type(test))
    if compare is None:
        raise _GiveUp
    a, b = (_value(side, numbers, memo) for side in test.args)
    if mpmath.im(a) != 0 or mpmath.im(b) != 0:
        raise _GiveUp
    return bool(compare(mpmath.re(a), mpmath.re(b)))

"""Expressions in floats, as a hand calculation meets them: the verifier's second opinion.

Each kind of node of an equation has a float meaning (:data:`FLOAT`, a dispatch table by SymPy
class, like SymPy's printers); an activation means its textbook definition, never the engine's
derivative. :data:`STRICT` is the same, except that leaving the real domain is an error.

>>> import sympy as sp
>>> x = sp.Symbol("x")
>>> float_value(sp.exp(x) + 1, {x: 0.0})
2.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import sympy as sp

from ..codegen.scalar import NUMPY_FUNCTIONS, calls_as_floats
from ..core import ops

__all__ = ["FLOAT", "STRICT", "UNDEFINED", "UnknownNode", "OutsideDomain", "float_value",
           "float_of", "real_float", "nowhere", "kink_differences", "undefined_node",
           "compiled_plain", "logit_value"]


UNDEFINED = (sp.zoo, sp.nan, sp.oo, sp.S.NegativeInfinity)


class UnknownNode(Exception):
    """An expression the float evaluator does not know: SymPy evaluates it instead."""


def _exp(x: float) -> float:
    return math.exp(x) if x < 709 else math.inf


def _log(x: float) -> float:
    return math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)


def _pow(base: float, exponent: float) -> float:
    if base < 0 and exponent != int(exponent):
        return math.nan  # not real
    if base == 0 and exponent < 0:
        return math.inf
    try:
        return base ** exponent
    except OverflowError:
        return math.inf


def _heaviside(x: float, at_zero: float = 0.5) -> float:
    return 1.0 if x > 0 else 0.0 if x < 0 else at_zero


def _product(*xs: float) -> float:
    return math.prod(xs)


# The float meaning of each kind of node of an equation, by SymPy class (a dispatch table, like
# SymPy's printers). An activation means its textbook definition, never the engine's derivative.
FLOAT = {
    sp.Add: lambda *xs: math.fsum(xs),
    sp.Mul: _product,
    sp.Pow: _pow,
    sp.exp: _exp,
    sp.log: _log,
    sp.Abs: abs,
    sp.Max: max,
    sp.Min: min,
    sp.Heaviside: _heaviside,
    sp.erf: math.erf,
    # each activation means its textbook definition, never the engine's derivative
    **{op.function: op.scalar for op in ops.FUNCTIONS},
}


class OutsideDomain(Exception):
    """A finite argument outside a function's real domain (log of a negative number, ...)."""


def _strict_log(x: float) -> float:
    if x < 0:
        raise OutsideDomain
    return _log(x)


def _strict_pow(base: float, exponent: float) -> float:
    if base < 0 and exponent != int(exponent):
        raise OutsideDomain
    return _pow(base, exponent)


# The same meanings, except that leaving the real domain is an error, not a nan. An infinity
# (log(0), exp(1000)) is not: rounding makes those of saturated sigmoids, where the exact
# answer is finite and the evaluator's stable forms compute it.
STRICT = {**FLOAT, sp.log: _strict_log, sp.Pow: _strict_pow}


def float_value(expr: sp.Basic, numbers: Mapping[sp.Basic, float], table=FLOAT) -> float:
    """``expr`` in floats, with ``numbers`` for its symbols and derivatives; nan outside the
    domain. Raises UnknownNode for a kind of node it does not know."""
    if expr in numbers:
        return numbers[expr]
    if expr.is_Number or expr in (sp.pi, sp.E):
        return float(expr)
    f = table.get(type(expr)) or table.get(getattr(expr, "func", None))
    if f is None:
        raise UnknownNode(type(expr).__name__)
    args = [float_value(a, numbers, table) for a in expr.args]
    if any(math.isnan(a) for a in args):
        return math.nan
    try:
        return float(f(*args))
    except (ValueError, ZeroDivisionError):
        return math.nan
    except OverflowError:
        return math.inf


def nowhere(*_args: float) -> float:
    """A meaning for a function defined nowhere on the reals."""
    return math.nan


def float_of(f, args: list[float]) -> float:
    """``f(*args)`` as a float; nan where it is undefined or not real.

    The arguments are numpy floats, so an intermediate that overflows is inf as in the
    evaluators (Python's own floats raise OverflowError at w**2 for w = -1e300, which made
    GELU′(−1e300) = 0 a nan). A complex result is not real unless its imaginary part is zero:
    it is never cast, which would silently drop that part.
    """
    with np.errstate(all="ignore"):  # a value outside the domain is nan, never a warning
        try:
            x = f(*(np.float64(a) for a in args))
        except (TypeError, ValueError, ArithmeticError):
            return math.nan
    return real_float(x)


def real_float(x) -> float:
    """``x`` (a number, a numpy scalar or a 0-d array) as a float; nan where it is not real.

    >>> real_float(2.0), real_float(1 + 0j), real_float(1 + 2j)
    (2.0, 1.0, nan)
    """
    try:
        z = complex(np.asarray(x).item())
    except (TypeError, ValueError):
        return math.nan
    return z.real if z.imag == 0 else math.nan


def undefined_node(graph, values: Mapping[str, float]) -> str | None:
    """The first node that leaves the real numbers at ``values`` (leaf names to numbers): a log
    or a fractional power of a negative number; None if there is none or values are missing.

    >>> import symbackprop as sb
    >>> g = sb.Graph("g"); x = g.input("x"); w = g.parameter("w")
    >>> a = g.node("a", sp.log(w) * x); L = g.loss("L", a ** 2)
    >>> undefined_node(g, {"x": 1.0, "w": -2.0}), undefined_node(g, {"x": 1.0, "w": 2.0})
    ('a', None)
    """
    numbers: dict[sp.Basic, float] = {}
    for s in graph.leaves:
        if s.name not in values:
            return None
        numbers[s] = float(values[s.name])
    for v, expr in graph.forward_equations():
        try:
            numbers[v] = float_value(expr, numbers, STRICT)
        except UnknownNode:
            return None
        except OutsideDomain:
            return v.name
    return None


def kink_differences(expr: sp.Expr) -> list[sp.Expr]:
    """What is 0 exactly where ``expr`` has a kink: the argument of each |·|, sign and step, the
    differences of each max's and min's arguments, the sides of each case split's tests.

    >>> x = sp.Symbol("x")
    >>> kink_differences(sp.Abs(x - 1))
    [x - 1]
    """
    out: list[sp.Expr] = []
    for f in expr.atoms(sp.Heaviside, sp.Piecewise, sp.Abs, sp.sign, sp.Max, sp.Min):
        if isinstance(f, sp.Piecewise):
            out += [t.lhs - t.rhs for _e, t in f.args if isinstance(t, sp.core.relational.Relational)]
        elif isinstance(f, sp.Max | sp.Min):
            out += [a - b for i, a in enumerate(f.args) for b in f.args[i + 1:]]
        else:
            out.append(f.args[0])
    return out


_COMPILED: dict[tuple[int, sp.Expr], object] = {}


def compiled_plain(symbols: list[sp.Symbol], expr: sp.Expr):
    """A numpy function of ``symbols`` computing ``expr``, one per shape of expression."""
    # Plain identifiers keep lambdify from dummifying names such as w_11^(2). They also make
    # the nodes of an unrolled model one shape (every a_t of an RNN is v0*v6 + v1*v4 + …), so
    # each shape is compiled once: lambdify's printing was most of a long RNN's check time.
    plain = [sp.Symbol(f"v{k}", real=True) for k in range(len(symbols))]

    body = expr.xreplace(dict(zip(symbols, plain, strict=True)))
    key = (len(plain), body)
    if key not in _COMPILED:
        if len(_COMPILED) > 4096:
            _COMPILED.clear()
        _COMPILED[key] = sp.lambdify(plain, calls_as_floats(body),
                                     modules=[NUMPY_FUNCTIONS, "numpy"])
    return _COMPILED[key]


def logit_value(z: sp.Expr, point: Mapping[sp.Basic, float]) -> float:
    """``z`` at ``point`` in floats; 0 for a kind of node the float table does not know."""
    try:
        return float_value(z, point)
    except UnknownNode:
        return 0.0

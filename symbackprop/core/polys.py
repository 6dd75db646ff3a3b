"""What SymPy's polynomial routines (cancel, factor) can be given without a runaway cost.

They read exp(x − 10¹²) as exp(x)·E^(−10¹²) and a power x¹⁰⁰⁰ as a term of degree 1000: a
spec's constant (up to 1e12) inside an exp made `check` spend minutes in cancel before it
printed a line. Such expressions keep the form they were derived in.

>>> import sympy as sp
>>> x = sp.Symbol("x")
>>> polys_can_take(sp.exp(x - 3) / (1 + x)), polys_can_take(sp.exp(x - 10**12) / (1 + x))
(True, False)
"""

from __future__ import annotations

import sympy as sp

__all__ = ["MAX_DEGREE", "polys_can_take"]

#: The largest whole number a generator may be raised to: an exp's constant term, a power's
#: exponent (the spec reader allows exponents up to 16).
MAX_DEGREE = 64


def polys_can_take(expr: sp.Expr) -> bool:
    """Whether cancel and factor see no degree past :data:`MAX_DEGREE` in ``expr``."""
    for e in sp.preorder_traversal(expr):
        if isinstance(e, sp.exp):
            constant, _ = e.args[0].as_coeff_Add()
            if abs(constant) > MAX_DEGREE:
                return False
        elif isinstance(e, sp.Pow) and e.exp.is_number and abs(e.exp) > MAX_DEGREE:
            return False
    return True

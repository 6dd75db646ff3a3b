"""Gradients checked against central finite differences of the loss, row by row.

The engine's gradients come from :attr:`Derivation.evaluator`; each parameter is moved by ±h
and the loss re-evaluated. Steps that cross a kink (relu, |x|) are skipped and say so, and the
tolerance includes the round-off of a large loss.

>>> import symbackprop as sb
>>> d = sb.derive(sb.mlp([2, 2, 1]))
>>> v = dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)
>>> print(sb.check_gradients(d, v).rows[0].name, sb.check_gradients(d, v).ok)
w1 True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..codegen.scalar import NUMPY_FUNCTIONS
from ..core import ops
from ..core.graph import Graph
from ..derivation.reverse import Derivation, derive
from ..printing.display import gradient_check_markdown
from .report import CheckReport, largest_error

__all__ = ["CheckRow", "GradientCheck", "check_gradients"]


@dataclass(frozen=True)
class CheckRow:
    """One parameter's comparison of the engine's gradient with central differences."""

    name: str
    engine: float
    finite_difference: float
    error: float
    ok: bool
    skipped: str = ""


@dataclass(frozen=True)
class GradientCheck(CheckReport):
    """``ok`` when every checked row agrees; ``max_error`` over checked rows."""

    rows: list[CheckRow]
    eps: float
    rtol: float
    atol: float

    @property
    def max_error(self) -> float:
        return largest_error(r.error for r in self.rows if not r.skipped)

    @property
    def skipped(self) -> list[CheckRow]:
        return [r for r in self.rows if r.skipped]

    def _repr_markdown_(self) -> str:
        return gradient_check_markdown(self)

    def __str__(self) -> str:
        lines = [f"{'parameter':<16}{'engine':>16}{'finite diff.':>16}{'error':>12}  status"]
        for r in self.rows:
            status = f"skipped: {r.skipped}" if r.skipped else ("ok" if r.ok else "WRONG")
            lines.append(
                f"{r.name:<16}{r.engine:>16.9g}{r.finite_difference:>16.9g}{r.error:>12.2e}  {status}"
            )
        verdict = "all gradients agree" if self.ok else "SOME GRADIENTS DISAGREE"
        lines.append(f"max error {self.max_error:.2e} (rtol {self.rtol:g}, atol {self.atol:g}): {verdict}")
        return "\n".join(lines)


# A few ulps of the loss per evaluation (its last operations each round once).
_ROUNDOFF = 8 * np.finfo(float).eps

_KINKED = (*(op.function for op in ops.FUNCTIONS if op.kinked),
           sp.Heaviside, sp.Abs, sp.Max, sp.Min)


def _kink_arguments(graph: Graph) -> list[sp.Expr]:
    """Arguments of the non-smooth functions in the forward pass, in leaves and node symbols
    (never expanded into leaves: that is exponential in depth, and recursed past Python's
    limit on a 400-node relu chain)."""
    found: list[sp.Expr] = []
    for _, expr in graph.forward_equations():
        for f in sp.preorder_traversal(expr):
            if isinstance(f, _KINKED) and f.args:
                arg = f.args[0]
                if arg not in found:
                    found.append(arg)
    return found


def check_gradients(
    derivation: Derivation | Graph,
    values: Mapping,
    eps: float = 1e-6,
    rtol: float = 1e-6,
    atol: float = 1e-8,
) -> GradientCheck:
    """Compare every gradient with central finite differences of the loss.

    A row is ok when |engine − fd| ≤ atol + rtol·max(|engine|, |fd|) + 8ε·|L|/(2h), the last
    term the round-off of the loss difference (it matters when |L| is large); rows whose step crosses a
    kink of relu / leaky_relu are skipped and say so.

    >>> import symbackprop as sb
    >>> d = sb.derive(sb.mlp([2, 2, 1]))
    >>> v = dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)
    >>> sb.check_gradients(d, v).ok
    True
    """
    d = derivation if isinstance(derivation, Derivation) else derive(derivation)
    ev = d.evaluator
    at = {d.graph.symbol(k).name: v for k, v in values.items()}
    evaluation = ev.evaluate(at)
    if not np.all(np.isfinite(evaluation.loss)):
        # Finite differences of an infinite or undefined loss say nothing about the gradients.
        loss = np.asarray(evaluation.loss, dtype=float).flat[0]
        beyond = " (beyond float64)" if np.isinf(loss) else ""
        raise ValueError(f"the loss is {loss:g} at these values{beyond}, "
                         "so finite differences cannot check its gradients")
    engine = evaluation.gradients
    kinks = _kink_arguments(d.graph)
    kink_f = (
        sp.lambdify([*d.graph.leaves, *d.graph.nodes], kinks, modules=[NUMPY_FUNCTIONS, "numpy"],
                    cse=True)
        if kinks
        else None
    )
    rows = []
    for p in d.graph.parameters:
        x0 = np.asarray(at[p.name], dtype=float)
        h = eps * np.maximum(1.0, np.abs(x0))
        plus, minus = dict(at), dict(at)
        plus[p.name], minus[p.name] = x0 + h, x0 - h
        if kink_f is not None:
            crossed = _crosses_kink(kink_f, kinks, d.graph, plus, minus, at, ev)
            if crossed:
                rows.append(
                    CheckRow(p.name, float(np.max(engine[p.name])), math.nan, 0.0, True,
                             f"the step crosses a kink ({crossed} = 0)")
                )
                continue
        loss_plus, loss_minus = np.asarray(ev.loss(plus)), np.asarray(ev.loss(minus))
        fd = (loss_plus - loss_minus) / (2 * h)
        g = np.asarray(engine[p.name], dtype=float)
        err = np.abs(g - fd)
        # The difference of two losses carries their round-off, about ε·|L| each, divided by
        # 2h: with a large |L| that alone exceeds rtol·|g| (L = 10⁶u² + w²/100 and ∂L/∂w).
        roundoff = _ROUNDOFF * np.maximum(np.abs(loss_plus), np.abs(loss_minus)) / (2 * h)
        tol = atol + rtol * np.maximum(np.abs(g), np.abs(fd)) + roundoff
        worst = int(np.argmax(err - tol)) if err.ndim else 0
        rows.append(
            CheckRow(
                p.name,
                float(g.flat[worst]) if g.ndim else float(g),
                float(np.asarray(fd).flat[worst]) if np.ndim(fd) else float(fd),
                float(np.max(err / np.maximum(1.0, np.maximum(np.abs(g), np.abs(fd))))),
                bool(np.all(np.isfinite(g)) and np.all(err <= tol)),
            )
        )
    return GradientCheck(rows, eps, rtol, atol)


def _crosses_kink(kink_f, kinks, graph, plus, minus, at, ev) -> str:
    def values(vals):
        nodes = ev.evaluate(vals).nodes
        args = [np.asarray(vals[s.name], dtype=float) for s in graph.leaves] + [
            np.asarray(nodes[s.name], dtype=float) for s in graph.nodes]
        return [np.asarray(a, dtype=float) for a in kink_f(*args)]

    for k, (a, b, c) in enumerate(zip(values(plus), values(minus), values(at), strict=True)):
        # Crossed: the step changes the argument's sign, or starts on the kink and moves off it.
        # A parameter that does not move an argument sitting at 0 leaves it there: no kink.
        moved = (a != c) | (b != c)
        if np.any(np.sign(a) != np.sign(b)) or np.any((c == 0) & moved):
            arg = kinks[k]
            if arg in graph.nodes:  # the node, and one level of what it is (never the leaves)
                return f"{sp.sstr(arg)} = {sp.sstr(graph.expr(arg))}"
            return sp.sstr(arg)
    return ""

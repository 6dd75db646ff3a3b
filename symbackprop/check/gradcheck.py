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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import sympy as sp

from ..codegen.scalar import NUMPY_FUNCTIONS
from ..core import ops
from ..core.errors import ValuesError
from ..core.graph import Graph
from ..derivation.reverse import Derivation, derive
from ..printing.display import gradient_check_markdown, tex_names
from .precise import PreciseLoss, Unjudgeable, formula_agrees, judge
from .report import CheckReport, largest_error, table_lines

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
    #: why no reference could judge this gradient (then ``ok`` is true: nothing disagreed)
    unchecked: str = ""
    #: the digits of the high-precision reference that judged it; 0 for float64's difference
    digits: int = 0
    #: WRONG, but the engine's formula computed at those digits agrees with the reference:
    #: float64's evaluation of a right formula lost the gradient
    float_lost: bool = False

    @property
    def status(self) -> str:
        """The row's verdict in the table: ok, WRONG, skipped or unchecked, with its reason."""
        if self.skipped:
            return f"skipped: {self.skipped}"
        if self.unchecked:
            return f"unchecked: {self.unchecked}"
        verdict = "ok" if self.ok else "WRONG"
        if self.float_lost:
            return f"{verdict} ({self.digits} digits; its formula agrees, float64 loses it)"
        return f"{verdict} ({self.digits} digits)" if self.digits else verdict


@dataclass(frozen=True)
class GradientCheck(CheckReport):
    """``ok`` when every checked row agrees; ``max_error`` over checked rows."""

    rows: list[CheckRow]
    eps: float
    rtol: float
    atol: float
    #: parameter name -> LaTeX as the documents spell it, for the table Jupyter shows
    names: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def max_error(self) -> float:
        return largest_error(r.error for r in self.rows if not (r.skipped or r.unchecked))

    @property
    def skipped(self) -> list[CheckRow]:
        return [r for r in self.rows if r.skipped]

    @property
    def unchecked(self) -> list[CheckRow]:
        """Rows no reference could judge: neither ok nor WRONG, and said so."""
        return [r for r in self.rows if r.unchecked]

    def _repr_markdown_(self) -> str:
        return gradient_check_markdown(self)

    def __str__(self) -> str:
        cells = [("parameter", "engine", "finite diff.", "error", "status")]
        cells += [(r.name, f"{r.engine:.9g}", f"{r.finite_difference:.9g}", f"{r.error:.2e}",
                   r.status) for r in self.rows]
        lines = table_lines(cells, "<>>><")
        if not self.ok:
            verdict = "SOME GRADIENTS DISAGREE"
        elif self.unchecked:
            verdict = f"the checked gradients agree; {len(self.unchecked)} unchecked"
        else:
            verdict = "all gradients agree"
        lines.append(f"max error {self.max_error:.2e} (rtol {self.rtol:g}, atol {self.atol:g}): {verdict}")
        return "\n".join(lines)


# A few ulps of the loss per evaluation (its last operations each round once).
_ROUNDOFF = 8 * np.finfo(float).eps
# A loss this close to float64's largest number may have overflowed on one side of the step.
_NEAR_OVERFLOW = np.finfo(float).max / 2**20
# A float step is small for the loss when no node moves by more than this part of max(1, |node|).
_FLOAT_SMOOTH = 2.0**-10

#: Most rows judged again in high precision in one check (each takes a few dozen loss
#: evaluations at up to precise.MAX_DIGITS digits) ...
MAX_REJUDGED = 32
#: ... and fewer in a large graph: rows × (leaves + nodes) stays within this (a 1 650-weight
#: MLP's high-precision loss takes about 0.1 s).
REJUDGE_BUDGET = 10_000
#: The reason of a row float64 failed that was past that bound.
TOO_MANY = "too many gradients to judge in high precision"

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
    for name, number in evaluation.nodes.items():
        # a node float64 cannot hold makes the engine's gradients through it inf or nan where
        # the true ones may be finite (c/softplus(r²) at r = 1e308): refused, as example does
        if not np.all(np.isfinite(number)):
            what = "overflows float64" if np.any(np.isinf(number)) else \
                "is not a finite number in float64"
            raise ValuesError(f"at these values the node {name} {what}, so finite differences "
                              "cannot check the gradients: give values where every node is a "
                              "finite number")
    engine = evaluation.gradients
    for name, number in engine.items():
        # the loss is finite but float64 lost this gradient on the way (inf/inf, 0·inf past
        # 1e308): a number no difference can be held against, refused as the notes refuse it
        if not np.all(np.isfinite(number)):
            raise ValuesError(f"at these values float64 loses the gradient for {name} (an "
                              "overflow on the way), so it cannot be checked: give values where "
                              "every number is finite")
    kinks = _kink_arguments(d.graph)
    kink_f = (
        sp.lambdify([*d.graph.leaves, *d.graph.nodes], kinks, modules=[NUMPY_FUNCTIONS, "numpy"],
                    cse=True)
        if kinks
        else None
    )
    rows: list[CheckRow] = []
    # (row, element, whether float64's difference is unsound: asked only if no reference judges)
    doubts: list[tuple[int, int, Callable[[], bool]]] = []
    for p in d.graph.parameters:
        x0 = np.asarray(at[p.name], dtype=float)
        h = eps * np.maximum(1.0, np.abs(x0))
        plus, minus = dict(at), dict(at)
        with np.errstate(over="ignore"):  # a step past float64's largest: judged below
            plus[p.name], minus[p.name] = x0 + h, x0 - h
        if kink_f is not None:
            crossed = _crosses_kink(kink_f, kinks, d.graph, plus, minus, at, ev)
            if crossed:
                rows.append(
                    CheckRow(p.name, float(np.max(engine[p.name])), math.nan, 0.0, True,
                             f"the step crosses a kink ({crossed} = 0)")
                )
                continue
        with np.errstate(all="ignore"):  # an overflowing difference is judged below, not warned
            loss_plus, loss_minus = np.asarray(ev.loss(plus)), np.asarray(ev.loss(minus))
            fd = (loss_plus - loss_minus) / (2 * h)
            g = np.asarray(engine[p.name], dtype=float)
            err = np.abs(g - fd)
            # The difference of two losses carries their round-off, about ε·|L| each, divided
            # by 2h: with a large |L| that alone exceeds rtol·|g| (L = 10⁶u² + w²/100, ∂L/∂w).
            roundoff = _ROUNDOFF * np.maximum(np.abs(loss_plus), np.abs(loss_minus)) / (2 * h)
            tol = atol + rtol * np.maximum(np.abs(g), np.abs(fd))
            worst = int(np.nanargmax(np.where(np.isnan(err), np.inf, err - tol - roundoff))
                        if err.ndim else 0)
            relative = np.max(err / np.maximum(1.0, np.maximum(np.abs(g), np.abs(fd))))
            # float64's difference cannot be trusted where it is not finite, the step was lost
            # in rounding, the loss is near overflow, or its round-off outweighs the tolerance
            untrusted = not (np.all(np.isfinite(fd)) and np.all(np.isfinite(loss_plus))
                             and np.all(np.isfinite(loss_minus))
                             and np.all(x0 + h != x0) and np.all(x0 - h != x0)
                             and np.all(np.maximum(np.abs(loss_plus), np.abs(loss_minus))
                                        < _NEAR_OVERFLOW)
                             and np.all(roundoff <= tol))
            # those rows, and the ones it calls wrong, are judged again in high precision
            doubtful = untrusted or not np.all(err <= tol)
        row = CheckRow(
            p.name,
            float(g.flat[worst]) if g.ndim else float(g),
            float(np.asarray(fd).flat[worst]) if np.ndim(fd) else float(fd),
            float(relative),
            bool(np.all(np.isfinite(g)) and np.all(err <= tol + roundoff)),
        )
        if doubtful and np.all(np.isfinite(g)):
            unsound = partial(_unsound, untrusted, ev, at, plus, minus)
            doubts.append((len(rows), worst, unsound))
        rows.append(row)
    if doubts:
        _rejudge(rows, doubts, d, at, rtol, atol)
    return GradientCheck(rows, eps, rtol, atol, tex_names(d.graph))


def _unsound(untrusted: bool, ev, at: Mapping, plus: Mapping, minus: Mapping) -> bool:
    """Whether float64's difference is unsound: untrusted already, or its step is not small
    for the loss (some node moves by more than 2⁻¹⁰·max(1, |node|), as a softmax's scores do
    by 10²⁰⁹ when a query moves by 10⁻⁶ against keys of 10²¹⁵), so it measures a jump."""
    if untrusted:
        return True
    here = ev.evaluate(at).nodes
    with np.errstate(all="ignore"):
        for side in (plus, minus):
            there = ev.evaluate(side).nodes
            for name, value in here.items():
                v, w = np.asarray(value, dtype=float), np.asarray(there[name], dtype=float)
                if not np.all(np.abs(w - v) <= _FLOAT_SMOOTH * np.maximum(1.0, np.abs(v))):
                    return True
    return False


def _rejudge(rows: list[CheckRow], doubts: list[tuple[int, int, Callable[[], bool]]],
             derivation: Derivation, at: Mapping, rtol: float, atol: float) -> None:
    """Judge the doubtful rows again against the loss in high precision, in place.

    The rows float64 called wrong go first, and at most MAX_REJUDGED rows are judged, fewer in
    a large graph (each costs a few dozen loss evaluations at hundreds of digits). Past that
    bound a row keeps float64's verdict, unless that is a WRONG on an unsound difference. Where
    no reference judges a row, float64's verdict stands if its difference was sound (finite,
    its round-off within the tolerance, its step small for the loss): a wrong derivative of a
    function the reference does not know is still WRONG. A row whose float difference was
    unsound is then unchecked, with the reason: never WRONG on a difference in doubt, and
    never ok either.
    """
    doubts = sorted(doubts, key=lambda doubt: rows[doubt[0]].ok)
    graph = derivation.graph
    loss = PreciseLoss(graph)
    shape = np.broadcast_shapes(*(np.shape(at[s.name]) for s in graph.leaves))
    bound = min(MAX_REJUDGED, max(1, REJUDGE_BUDGET // (len(graph.leaves) + len(graph.nodes))))
    for n, (k, element, unsound) in enumerate(doubts):
        row = rows[k]
        if n >= bound:
            if not row.ok and unsound():
                rows[k] = replace(row, ok=True, unchecked=TOO_MANY)
            continue
        # a batch is judged at the element the row shows
        point = {s.name: float(np.broadcast_to(np.asarray(at[s.name], dtype=float), shape)
                               .flat[element]) for s in graph.leaves}
        try:
            j = judge(loss, point, row.name, row.engine, rtol, atol)
        except Unjudgeable as reason:
            if unsound():
                rows[k] = replace(row, ok=True, unchecked=str(reason))
            continue
        scale = max(1.0, abs(row.engine), abs(j.reference))
        error = abs(row.engine - j.reference) / scale if math.isfinite(scale) else 1.0
        lost = not j.ok and formula_agrees(loss, derivation, point, row.name, j.reference,
                                           j.digits, rtol, atol)
        rows[k] = replace(row, finite_difference=j.reference, ok=j.ok, digits=j.digits,
                          error=error, float_lost=lost)


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

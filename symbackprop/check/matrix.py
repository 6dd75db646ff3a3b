"""The matrix form checked against the scalar derivation: a report with one row per equation.

``MatrixForm.check()`` instantiates every matrix equation at small sizes and compares it entry
by entry with :func:`symbackprop.derive` of the same network, sample by sample.

>>> from symbackprop.forms.matrix import matrix_form
>>> report = matrix_form([2, 1]).check()
>>> report.ok, [row.kind for row in report.rows][:3]
(True, ['forward', 'activation', 'loss'])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import sympy as sp

from ..builders.mlp import mlp
from ..core.errors import CheckError
from ..derivation.reverse import derive
from ..printing.display import matrix_check_markdown
from .report import CheckReport

if TYPE_CHECKING:
    from ..forms.matrix import MatrixEquation, MatrixForm

__all__ = ["MatrixCheck", "MatrixCheckError", "MatrixCheckRow"]


@dataclass(frozen=True)
class MatrixCheckRow:
    """One matrix equation against the scalar derivation: its largest relative difference."""

    kind: str
    layer: int
    equation: str
    error: float
    ok: bool


@dataclass(frozen=True)
class MatrixCheck(CheckReport):
    """What ``MatrixForm.check()`` found: a row per equation, at the sizes and batch it used."""

    rows: tuple[MatrixCheckRow, ...]
    sizes: tuple[int, ...]
    batch: int
    tolerance: float

    def __str__(self) -> str:
        lines = [f"{'equation':<12}{'layer':>6}{'rel. error':>14}  status"]
        lines += [f"{r.kind:<12}{r.layer:>6}{r.error:>14.2e}  {'ok' if r.ok else 'WRONG'}"
                  for r in self.rows]
        sizes = "-".join(map(str, self.sizes))
        verdict = "every equation agrees" if self.ok else "SOME EQUATIONS DISAGREE"
        lines.append(f"max error {self.max_error:.2e} at sizes {sizes}, batch {self.batch}: "
                     f"{verdict}")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return matrix_check_markdown(self)


def check_matrix_form(form: MatrixForm, sizes: Sequence[int] | None, batch: int, seed: int) -> MatrixCheck:
    if sizes is None:
        sizes = [min(s, 3) for s in form.sizes]
        if form.activations[-1] == "softmax":
            sizes[-1] = max(sizes[-1], 2)
    sizes = list(sizes)
    net = mlp(sizes, list(form.activations), form.loss_name, form.bias_mode, "sequential")
    d = derive(net)
    L, rng = form.depth, np.random.default_rng(seed)
    params = {p.name: float(rng.uniform(-1, 1)) for p in net.parameters}
    samples = []
    for _ in range(batch):
        values = dict(params)
        values.update({x.name: float(rng.uniform(-2, 2)) for x in net.inputs})
        if form.loss_name == "cross_entropy":
            hot = int(rng.integers(len(net.targets)))
            values.update({t.name: float(k == hot) for k, t in enumerate(net.targets)})
        else:
            values.update({t.name: float(rng.uniform(0, 1)) for t in net.targets})
        samples.append(values)
    scalar = [d.evaluate(v) for v in samples]
    shapes = {n: size for n, size in zip(form.n, sizes, strict=True)}
    shapes[form.m] = batch

    def concrete(symbol):
        return symbol.subs(shapes) if isinstance(symbol, sp.MatrixSymbol) else symbol

    known: dict[sp.Basic, sp.Float] = {}

    def remember(symbol, array) -> None:
        symbol = concrete(symbol)
        if isinstance(symbol, sp.MatrixSymbol):
            for (i, j), v in np.ndenumerate(np.atleast_2d(array)):
                known[symbol[i, j]] = sp.Float(float(v), 30)
        else:
            known[symbol] = sp.Float(float(array), 30)

    def evaluate(expr) -> np.ndarray:
        explicit = sp.Matrix(expr.subs(shapes).as_explicit()) if hasattr(expr, "shape") \
            else sp.Matrix([[expr]])
        return np.array([[float(e.xreplace(known).evalf(30)) for e in row]
                         for row in explicit.tolist()])

    def column(f) -> np.ndarray:
        return np.array([[f(ev, k) for k, ev in enumerate(scalar)]])

    r = 1 / batch if form.reduction == "mean" else 1
    remember(form.X, [[v[x.name] for v in samples] for x in net.inputs])
    remember(form.Y, [[v[t.name] for v in samples] for t in net.targets])
    for l in range(1, L + 1):
        remember(form.W[l], [[params[net.weight(l, i, j).name] for i in range(1, sizes[l - 1] + 1)]
                             for j in range(1, sizes[l] + 1)])
        if form.bias_mode == "shared":
            remember(form.b[l], params[net.bias(l, 1).name])
        elif form.bias_mode:
            remember(form.b[l], [[params[net.bias(l, j).name]] for j in range(1, sizes[l] + 1)])

    def expected(eq: MatrixEquation) -> np.ndarray:
        l, units = eq.layer, range(1, sizes[eq.layer] + 1)
        if eq.kind in ("forward", "activation", "delta"):
            node = net.pre if eq.kind != "activation" else net.act
            table = "deltas" if eq.kind == "delta" else "nodes"
            return np.array([[getattr(ev, table)[node(l, j).name] for ev in scalar]
                             for j in units])
        if eq.kind == "loss":
            return np.array([[r * sum(ev.loss for ev in scalar)]])
        if eq.kind == "weight":
            return np.array([[r * sum(ev.gradients[net.weight(l, i, j).name] for ev in scalar)
                              for i in range(1, sizes[l - 1] + 1)] for j in units])
        if form.bias_mode == "shared":
            return np.array([[r * sum(ev.gradients[net.bias(l, 1).name] for ev in scalar)]])
        return np.array([[r * sum(ev.gradients[net.bias(l, j).name] for ev in scalar)]
                         for j in units])

    rows = []
    for eq in form.equations:
        got, want = evaluate(eq.rhs), expected(eq)
        err = float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want))))
        rows.append(MatrixCheckRow(eq.kind, eq.layer, f"{eq.lhs} = {eq.rhs}",
                                   err if err == err else math.inf, err <= _CHECK_TOLERANCE))
        remember(eq.lhs, got if isinstance(eq.lhs, sp.MatrixSymbol) else got[0, 0])
    report = MatrixCheck(tuple(rows), tuple(sizes), batch, _CHECK_TOLERANCE)
    wrong = [r for r in rows if not r.ok]
    if wrong:
        r = wrong[0]
        raise MatrixCheckError(
            f"matrix equation {r.kind} of layer {r.layer} ({r.equation}) differs from the "
            f"scalar derivation by {r.error:.3g} at sizes {list(sizes)}, batch {batch}", report)
    return report


class MatrixCheckError(CheckError):
    """An equation of the matrix form disagrees with the scalar derivation; ``report`` has all."""

    def __init__(self, message: str, report: MatrixCheck) -> None:
        super().__init__(message)
        self.report = report


_CHECK_TOLERANCE = 1e-9

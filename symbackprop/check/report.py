"""One check report for every form: rows that each agree or not, and the largest error.

Every form's ``check()`` returns a :class:`CheckReport`: the scalar form's finite differences
(:class:`~symbackprop.check.gradcheck.GradientCheck`), the matrix form's comparison with the
scalar derivation (:class:`~symbackprop.check.matrix.MatrixCheck`) and the general form's
(:class:`GeneralCheck`). A report is true when every row agrees; it compares with a number by
its largest error, so ``form.check(sizes) < 1e-9`` reads as it always has.

>>> report = GeneralCheck((GeneralCheckRow("delta", "h", 2e-16, True),), {"n": 2}, 1e-9)
>>> bool(report), report < 1e-9, float(report)
(True, True, 2e-16)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..printing.display import check_report_markdown

__all__ = ["CheckReport", "GeneralCheck", "GeneralCheckRow", "largest_error", "table_lines"]


def table_lines(rows: list[tuple[str, ...]], align: str) -> list[str]:
    """``rows`` of cells as aligned lines: each column as wide as its widest cell, and two
    spaces between columns, so that a wide number (-1.61417171e+244) never touches its
    neighbour. ``align`` holds one ``<`` or ``>`` per column; the last column is not padded.

    >>> table_lines([("a", "b", "c"), ("long", "-1e+300", "ok")], "<><")
    ['a           b  c', 'long  -1e+300  ok']
    """
    widths = [max(len(row[k]) for row in rows) for k in range(len(align))]
    lines = []
    for row in rows:
        cells = [f"{cell:{a}{w}}" for cell, a, w in zip(row[:-1], align, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]))
    return lines


def largest_error(errors) -> float:
    """The largest of ``errors``, nan if any is nan (Python's ``max`` keeps whichever of a nan
    and a number comes first, so a nan row read "max error 0.00e+00"); 0.0 when there are none.

    >>> largest_error([0.0, float("nan"), 1e-3]), largest_error([0.0, 1e-3]), largest_error([])
    (nan, 0.001, 0.0)
    """
    errors = [float(e) for e in errors]
    if any(math.isnan(e) for e in errors):
        return math.nan
    return max(errors, default=0.0)


class CheckReport:
    """What a check found: ``rows``, each with ``error`` and ``ok``; true when all agree."""

    rows: tuple

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    @property
    def max_error(self) -> float:
        """The largest row error; nan when a row's is (nan compares false, so never ``< tol``)."""
        return largest_error(r.error for r in self.rows)

    def __bool__(self) -> bool:
        return self.ok

    def __float__(self) -> float:
        return float(self.max_error)

    # A report orders like its largest error, so that `check(...) < 1e-9` keeps its meaning
    # from when the general form's check returned that float.
    def __lt__(self, other: float) -> bool:
        return self.max_error < other

    def __le__(self, other: float) -> bool:
        return self.max_error <= other

    def __gt__(self, other: float) -> bool:
        return self.max_error > other

    def __ge__(self, other: float) -> bool:
        return self.max_error >= other

    def _repr_markdown_(self) -> str:
        """Jupyter shows the report's table (subclasses show theirs richer)."""
        return check_report_markdown(self)


@dataclass(frozen=True)
class GeneralCheckRow:
    """One general-form equation against the scalar derivation: its largest relative error."""

    kind: str
    name: str
    error: float
    ok: bool


@dataclass(frozen=True, eq=False)
class GeneralCheck(CheckReport):
    """What ``GeneralForm.check(sizes)`` found: a row per equation, at ``sizes``."""

    rows: tuple[GeneralCheckRow, ...]
    sizes: dict
    tolerance: float

    def __str__(self) -> str:
        lines = [f"{'equation':<12}{'quantity':<12}{'rel. error':>14}  status"]
        lines += [f"{r.kind:<12}{r.name:<12}{r.error:>14.2e}  {'ok' if r.ok else 'WRONG'}"
                  for r in self.rows]
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items())
        verdict = "every equation agrees" if self.ok else "SOME EQUATIONS DISAGREE"
        lines.append(f"max error {self.max_error:.2e} at {sizes}: {verdict}")
        return "\n".join(lines)


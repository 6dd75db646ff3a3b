"""Laying out the drawing of a layered network so that no two labels collide.

Geometry only (centimetres, boxes), no TeX: units sit in columns, and each weight's label is
placed at the first point along its edge where its box meets no unit and no label already
placed. When a layer's labels cannot all be placed, the layer's edges carry one name instead
(its weight matrix), so nothing is ever printed over anything else.

>>> Box(0, 0, 1, 1).meets(Box(0.5, 0.5, 1, 1)), Box(0, 0, 1, 1).meets(Box(2, 0, 1, 1))
(True, False)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Where along an edge (0 = source, 1 = target) a label may sit, most readable first.
POSITIONS = (0.5, 0.35, 0.65, 0.25, 0.75, 0.42, 0.58, 0.3, 0.7, 0.2, 0.8,
             0.46, 0.54, 0.38, 0.62, 0.16, 0.84, 0.22, 0.78, 0.12, 0.88)
#: Space kept clear around every label (cm).
MARGIN = 0.06

_COMMAND = re.compile(r"\\[A-Za-z]+|[{}^_]|\\[,;!]")


@dataclass(frozen=True)
class Box:
    """A box by centre and size (cm)."""

    x: float
    y: float
    w: float
    h: float

    def meets(self, other: Box) -> bool:
        return (abs(self.x - other.x) * 2 < self.w + other.w + 2 * MARGIN
                and abs(self.y - other.y) * 2 < self.h + other.h + 2 * MARGIN)


def label_size(latex: str, script: bool = True) -> tuple[float, float]:
    """A generous estimate of a math label's size in cm at \\scriptsize (or \\small).

    >>> w, h = label_size("w_{31}^{(1)}"); 0.5 < w < 1.0 and 0.3 < h < 0.6
    True
    """
    shown = _COMMAND.sub("", latex)
    raised = ("^" in latex) + ("_" in latex)
    per_char = 0.12 if script else 0.17
    width = 0.14 + per_char * len(shown) - (0.04 * len(shown) if raised == 2 else 0)
    return max(width, 0.3), (0.42 if raised == 2 else 0.34) * (1 if script else 1.3)


def place_labels(edges: list[tuple[tuple[float, float], tuple[float, float], str]],
                 obstacles: list[Box]) -> list[tuple[float, float]] | None:
    """A centre for each edge's label ((start, end, latex) in cm), or None if some cannot go.

    >>> place_labels([((0, 0), (3, 0), "w_{1}")], [])
    [(1.5, 0.0)]
    """
    placed: list[Box] = []
    centres = []
    for (x0, y0), (x1, y1), latex in edges:
        w, h = label_size(latex)
        for p in POSITIONS:
            box = Box(x0 + p * (x1 - x0), y0 + p * (y1 - y0), w, h)
            if not any(box.meets(o) for o in obstacles) and not any(box.meets(b) for b in placed):
                placed.append(box)
                centres.append((round(box.x, 2), round(box.y, 2)))
                break
        else:
            return None
    return centres

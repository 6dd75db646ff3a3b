"""Laying out the drawing of a layered network so that no two labels collide.

Geometry only (centimetres, boxes), no TeX: units sit in columns, and each weight's label is
placed at the first point along its edge where its box meets no unit, no label already placed
and no other edge: a label sits on its own edge alone, so which weight it names is never in
doubt. When a layer's labels cannot all be placed, the layer's edges carry one name instead
(its weight matrix), so nothing is ever printed over anything else.

>>> Box(0, 0, 1, 1).meets(Box(0.5, 0.5, 1, 1)), Box(0, 0, 1, 1).meets(Box(2, 0, 1, 1))
(True, False)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Where along an edge (0 = source, 1 = target) a label may sit, most readable first: the
#: middle, then towards the source, where a unit's edges fan out, before the target, where
#: they converge.
POSITIONS = (0.5, 0.35, 0.28, 0.42, 0.22, 0.3, 0.38, 0.46, 0.25, 0.32, 0.18, 0.55, 0.6,
             0.65, 0.7, 0.75, 0.8, 0.15, 0.85, 0.12, 0.88)
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

    def crosses(self, start: tuple[float, float], end: tuple[float, float]) -> bool:
        """Whether the segment start–end passes through the box (with its margin).

        >>> Box(1, 0, 0.4, 0.4).crosses((0, -1), (2, 1)), Box(1, 0, 0.4, 0.4).crosses((0, 1), (2, 1))
        (True, False)
        """
        (x0, y0), (x1, y1) = start, end
        lo, hi = 0.0, 1.0  # Liang–Barsky: clip the segment's parameter to the box's slabs
        for p0, d, c, half in ((x0, x1 - x0, self.x, self.w / 2 + MARGIN),
                               (y0, y1 - y0, self.y, self.h / 2 + MARGIN)):
            if abs(d) < 1e-12:
                if abs(p0 - c) >= half:
                    return False
                continue
            a, b = (c - half - p0) / d, (c + half - p0) / d
            lo, hi = max(lo, min(a, b)), min(hi, max(a, b))
            if lo >= hi:
                return False
        return True


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

    A label meets no obstacle and no label placed before it, and no other edge passes through
    its core (its middle half), so it sits on its own edge alone. Of the places that allow,
    the one that the fewest other edges clip at all wins (its white fill hides what they pass).

    >>> place_labels([((0, 0), (3, 0), "w_{1}")], [])
    [(1.5, 0.0)]
    >>> place_labels([((0, 0), (3, 1), "a"), ((0, 1), (3, 0), "b")], [])
    [(1.05, 0.35), (0.66, 0.78)]
    """
    placed: list[Box] = []
    centres = []
    for k, ((x0, y0), (x1, y1), latex) in enumerate(edges):
        w, h = label_size(latex)
        others = [(a, b) for n, (a, b, _) in enumerate(edges) if n != k]
        best = None
        for p in POSITIONS:
            box = Box(x0 + p * (x1 - x0), y0 + p * (y1 - y0), w, h)
            if any(box.meets(o) for o in obstacles) or any(box.meets(b) for b in placed):
                continue
            core = Box(box.x, box.y, w / 2 - 2 * MARGIN, h / 2 - 2 * MARGIN)
            if any(core.crosses(a, b) for a, b in others):
                continue
            clipped = sum(box.crosses(a, b) for a, b in others)
            if best is None or clipped < best[0]:
                best = (clipped, box)
            if clipped == 0:
                break
        if best is None:
            return None
        placed.append(best[1])
        centres.append((round(best[1].x, 2), round(best[1].y, 2)))
    return centres

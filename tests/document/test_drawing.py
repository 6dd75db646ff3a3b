"""The network drawing's label layout (symbackprop/document/drawing.py), read back from the TikZ:
every weight label sits on its own edge alone (no other edge through its core, no other label
or unit under it) up to 6 units a layer, and larger layers carry their matrix's name."""

from __future__ import annotations

import re

import pytest

import symbackprop as sb
from symbackprop.document.drawing import Box, label_size
from symbackprop.document.tikz import MAX_DRAWING_WIDTH, tikz_network
from symbackprop.printing.latex import TexPrinter

_UNIT = re.compile(r"\\node\[unit\] \((n\d+-\d+)\) at \(([-\d.]+),([-\d.]+)\)")
_EDGE = re.compile(r"\\draw\[->\] \((n\d+-\d+)\) -- \((n\d+-\d+)\);")
_LABEL = re.compile(r"\\node\[w\] at \(([-\d.]+),([-\d.]+)\) \{\$(.*)\$\};")


def _drawing(sizes, notation):
    net = sb.mlp(sizes, notation=notation)
    d = sb.derive(net)
    return tikz_network(d, TexPrinter(d))


def _layers(tikz: str):
    """Per layer gap: its edges (start, end) and its labels (x, y, latex), in the same order."""
    units, gaps = {}, []
    for line in tikz.splitlines():
        if m := _UNIT.search(line):
            units[m[1]] = (float(m[2]), float(m[3]))
        elif m := _EDGE.search(line):
            layer = int(m[2][1:].split("-")[0])
            if len(gaps) < layer:
                gaps.append(([], []))
            gaps[layer - 1][0].append((units[m[1]], units[m[2]]))
        elif m := _LABEL.search(line):
            gaps[-1][1].append((float(m[1]), float(m[2]), m[3]))
    return units, gaps


@pytest.mark.parametrize("sizes", [[2, 3, 2], [3, 4, 2], [4, 4, 4], [5, 5, 3], [6, 6], [3, 6, 2]])
@pytest.mark.parametrize("notation", ["layered", "sequential"])  # widest and narrowest labels
def test_each_label_sits_on_its_own_edge_alone(sizes, notation):
    tikz = _drawing(sizes, notation)
    units, gaps = _layers(tikz)
    radius = float(re.search(r"minimum size=([\d.]+)cm", tikz)[1]) / 2
    for edges, labels in gaps:
        assert len(labels) == len(edges)  # every weight named on its edge
        boxes = []
        for k, ((x0, y0), (x1, y1)) in enumerate(edges):
            x, y, latex = labels[k]
            w, h = label_size(latex)
            # on its own edge
            p = (x - x0) / (x1 - x0)
            assert abs(y0 + p * (y1 - y0) - y) < 0.02
            core = Box(x, y, w / 2 - 0.16, h / 2 - 0.16)  # the layout's core, less rounding
            others = [e for n, e in enumerate(edges) if n != k]
            assert not any(core.crosses(a, b) for a, b in others), latex
            box = Box(x, y, w, h)
            assert not any(box.meets(Box(ux, uy, 2 * radius, 2 * radius))
                           for ux, uy in units.values())
            assert not any(box.meets(b) for b in boxes)
            boxes.append(box)


@pytest.mark.parametrize("sizes", [[6, 6, 6], [7, 7], [8, 8, 8]])
def test_layers_too_dense_to_label_legibly_carry_the_matrix_name(sizes):
    tikz = _drawing(sizes, "layered")
    units, gaps = _layers(tikz)
    xs = [x for x, _ in units.values()]
    assert max(xs) - min(xs) <= MAX_DRAWING_WIDTH
    named = [gap for gap in gaps if not gap[1]]
    assert named  # at least one layer gives its weights one general name
    assert tikz.count(r"\node[font=\small] at") == len(named)

"""The graph's SVG (printing/display.py graph_svg, shown in Jupyter): nodes are labelled in the
model's notation (ŷ₁, γ^[2]), never by their ASCII keys, and every label fits inside its circle."""

from __future__ import annotations

import re

import symbackprop as sb
from symbackprop.printing.display import graph_svg, unicode_label

_TEXT = re.compile(r"<text [^>]*>(.*?)</text>")
_TSPAN = re.compile(r'<tspan dy="[-\d]+"( font-size="9")?>([^<]*)</tspan>')


def _labels(svg: str) -> list[list[tuple[str, bool]]]:
    return [[(text, bool(small)) for small, text in _TSPAN.findall(t)] for t in _TEXT.findall(svg)]


def test_labels_are_the_models_notation_not_ascii_keys():
    rnn = graph_svg(sb.rnn(1, 1, 1, steps=2))
    shown = ["".join(text for text, _ in runs) for runs in _labels(rnn)]
    assert "ŷ1" in shown and "h1" in shown
    assert not any("yhat" in s for s in shown)
    blocks = graph_svg(sb.network(2, [sb.dense(2, "tanh"), sb.layer_norm(), sb.dense(1)]))
    shown = ["".join(text for text, _ in runs) for runs in _labels(blocks)]
    assert "γ1[2]" in shown and "μ[2]" in shown
    assert not any(re.search("gamma|xhat|mu_", s) for s in shown)


def test_every_label_fits_inside_its_circle():
    for graph in (sb.rnn(1, 2, 1, steps=3), sb.network(2, [sb.layer_norm(), sb.dense(1)], batch=2),
                  sb.conv1d(4, 2, in_channels=2)):
        svg = graph_svg(graph)
        radius = float(re.search(r'r="([\d.]+)"', svg)[1])
        for runs in _labels(svg):
            # generous per-character widths of sans-serif at 12 px and 9 px
            width = sum(len(text) * (5.6 if small else 7.4) for text, small in runs)
            assert width <= 2 * radius - 4, (runs, radius)


def test_unicode_label_reads_the_builders_spellings():
    assert unicode_label(r"\tilde{x}_{1}^{[2](1)}") == [("x̃", ""), ("1", "sub"), ("[2](1)", "sup")]
    assert unicode_label(r"\left(\sigma^{[2]}\right)^{2}") == [
        ("(σ", ""), ("[2]", "sup"), (")", ""), ("2", "sup")]

"""Every public object shows itself in Jupyter: a notebook executed by nbclient, a real kernel."""

from __future__ import annotations

import pytest

import symbackprop as sb

CELLS = [
    "import symbackprop as sb\n"
    "net = sb.mlp([2, 2, 1])\n"
    "d = sb.derive(net)\n"
    "v = dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)",
    "net",
    "d.delta('z1')",
    "d.evaluate(v)",
    "sb.check_gradients(d, v)",
    "sb.worked_example(d, v)",
    "mf = sb.matrix_form([2, 2, 1])\nmf.equations[0]",
    "mf.check()",
    "mf.evaluator()",
]
EXPECTED = [None, "text/html", "text/latex", "text/markdown", "text/markdown", "text/markdown",
            "text/latex", "text/markdown", "text/markdown"]


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_a_notebook_shows_every_object_richly():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    for cell, mime in zip(nb.cells, EXPECTED, strict=True):
        if mime is None:
            continue
        data = cell.outputs[-1]["data"]
        assert mime in data, (cell.source, list(data))
    svg = nb.cells[1].outputs[-1]["data"]["text/html"]
    assert svg.startswith("<svg") and svg.count("<circle") == len(sb.mlp([2, 2, 1]).symbols)
    assert "| $w_{5}$ |" in nb.cells[4].outputs[-1]["data"]["text/markdown"]


def test_reprs_without_a_kernel():
    d = sb.derive(sb.mlp([2, 1], loss="bce"))
    v = dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3)
    ex = sb.worked_example(d, v)
    text = ex._repr_markdown_()
    assert "**forward pass**" in text and ex.show(ex.gradients["w1"]) in text
    assert repr(ex).startswith("<WorkedExample of")
    assert "WRONG" not in sb.check_gradients(d, v)._repr_markdown_()
    assert d.delta("z1")._repr_latex_().startswith("$\\displaystyle")

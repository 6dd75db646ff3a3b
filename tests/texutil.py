"""Helpers shared by the rendering tests: TeX detection, tiny TeX compiles, cached documents.

Building the Document of a larger net verifies every equation and takes tens of seconds, so the
documents that several test modules render are built once per test session (``functools.cache``)
and never mutated by the tests that use them.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pytest

import symbackprop as sb
from symbackprop.output.render import compile_pdf, have_tex

__all__ = [
    "REPO",
    "SEED000_VALUES",
    "THRESHOLD_VALUES",
    "have_tex",
    "needs_tex",
    "needs_pdftotext",
    "needs_pdftoppm",
    "compile_snippet",
    "pdf_text",
    "seed000_net",
    "seed000_example",
    "seed000_doc",
    "tanh_softmax_doc",
    "threshold_doc",
    "matrix_doc",
    "shared_graph",
    "shared_graph_values",
    "NETWORK_DOCS",
    "TEX_MISSING",
]

REPO = Path(__file__).resolve().parent.parent

TEX_MISSING = "TeX is not installed (neither latexmk nor pdflatex is on PATH)"

#: Skip marker for tests that run latexmk/pdflatex: they run wherever TeX is present (CI).
needs_tex = pytest.mark.skipif(not have_tex(), reason=TEX_MISSING)
needs_pdftotext = pytest.mark.skipif(shutil.which("pdftotext") is None,
                                     reason="pdftotext (poppler-utils) is not installed")
needs_pdftoppm = pytest.mark.skipif(shutil.which("pdftoppm") is None,
                                    reason="pdftoppm (poppler-utils) is not installed")

#: Seed 000's numbers: inputs, label and the six initial weights of its 2-2-1 network.
SEED000_VALUES = dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)

#: Numbers for the 2-2-1 layered net with threshold biases (x_0 = -1).
THRESHOLD_VALUES = {
    "x_1^(0)": 0.5, "x_2^(0)": -0.25, "y": 1.0,
    "w_11^(1)": 0.2, "w_12^(1)": -0.4, "w_21^(1)": 0.7, "w_22^(1)": 0.1,
    "b_1^(1)": 0.3, "b_2^(1)": -0.2,
    "w_11^(2)": 0.6, "w_21^(2)": -0.5, "b_1^(2)": 0.05,
}


def compile_snippet(body: str, output: Path, preamble: str = "") -> Path:
    """Compile ``body`` in a minimal article with ``compile_pdf`` (raises RenderError)."""
    tex = (
        "\\documentclass{article}\n\\usepackage[T1]{fontenc}\n" + preamble
        + "\\begin{document}\n" + body + "\n\\end{document}\n"
    )
    return compile_pdf(tex, output)


def pdf_text(pdf: Path) -> str:
    """The text layer of a PDF, by pdftotext."""
    import subprocess

    run = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                         check=True)
    return run.stdout


# -- networks and their documents, built once per session ----------------------------------------
def seed000_net() -> sb.MLP:
    return sb.mlp([2, 2, 1], activation="sigmoid", loss="mse", bias=False, notation="sequential")


@functools.cache
def seed000_example() -> sb.WorkedExample:
    return sb.worked_example(sb.derive(seed000_net()), SEED000_VALUES, learning_rate=0.1, digits=3)


@functools.cache
def seed000_doc() -> sb.Document:
    return sb.build_document(seed000_example().derivation, seed000_example(), title="Seed 000")


@functools.cache
def tanh_softmax_doc() -> sb.Document:
    net = sb.mlp([2, 3, 3], activation=["tanh", "softmax"], loss="cross_entropy", bias=True,
                 notation="layered")
    return sb.build_document(sb.derive(net))


@functools.cache
def threshold_doc() -> sb.Document:
    net = sb.mlp([2, 2, 1], activation="sigmoid", loss="mse", bias="threshold", notation="layered")
    d = sb.derive(net)
    return sb.build_document(d, sb.worked_example(d, THRESHOLD_VALUES, learning_rate=0.5, digits=3))


@functools.cache
def matrix_doc() -> sb.Document:
    net = sb.mlp([2, 3, 2], activation=["sigmoid", "softmax"], loss="cross_entropy", bias=True,
                 notation="matrix")
    return sb.build_document(sb.derive(net))


def shared_graph() -> sb.Graph:
    """A general graph: w is used twice (shared), a feeds two nodes (fan-out)."""
    g = sb.Graph()
    x, w, v, y = g.input("x"), g.parameter("w"), g.parameter("v"), g.target("y")
    a = g.node("a", sb.sigmoid(w * x))
    b = g.node("b", sb.tanh(w * a + v))
    c = g.node("c", a * b)
    g.loss("L", (y - c) ** 2 / 2)
    return g


shared_graph_values = {"x": 0.5, "w": 0.8, "v": -0.3, "y": 0.2}

#: name -> builder of the documents every kind is rendered (and compiled) for.
NETWORK_DOCS = {
    "seed000": seed000_doc,
    "tanh_softmax": tanh_softmax_doc,
    "threshold": threshold_doc,
    "matrix": matrix_doc,
}

"""The names users hold: everything ``import symbackprop as sb`` gives, gathered from the layers.

This is the top of the house below the command line: it may import any package and nothing
imports it but ``symbackprop/__init__.py`` and ``cli``. docs/api.md documents every name here.

A name whose object reaches across layers is finished here: ``sb.worked_example`` gives a
:class:`WorkedExample` that can also typeset itself, which needs the document and output
layers above the check layer that computes it.

>>> import symbackprop as sb
>>> ex = sb.worked_example(sb.mlp([1, 1]), dict(x1=1.0, y=1.0, w1=0.5))
>>> ex.to_latex().count("align*") >= 2
True
"""

from __future__ import annotations

import dataclasses
import functools

from .builders.attention import Attention, attention
from .builders.conv import Conv, conv1d, conv2d
from .builders.mlp import MLP, mlp
from .builders.norm import Network, batch_norm, dense, layer_norm, network, residual
from .builders.rnn import RNN, rnn
from .check import worked
from .check.gradcheck import GradientCheck, check_gradients
from .check.report import CheckReport
from .check.verify import VerificationError
from .codegen.matrix import BatchEvaluator
from .codegen.scalar import Evaluation
from .core.errors import SymbackpropError, UnavailableError, ValuesError
from .core.functions import gelu, gelu_erf, identity, leaky_relu, relu, sigmoid, silu, softmax, softplus, tanh
from .core.graph import Graph, GraphError, Kind
from .core.notation import NOTATIONS, Notation
from .derivation.reverse import Chain, Delta, Derivation, Factor, derive
from .document import Document, build_document
from .forms.base import Form
from .forms.general import GeneralForm
from .forms.matrix import MatrixCheck, MatrixForm, matrix_form
from .forms.models import general_form
from .forms.scalar import ScalarForm, scalar_form
from .io.spec import SpecError, load_spec, parse_spec
from .output.render import RenderError, compile_pdf, render
from .teaching.exercises import exercise_sheets as exercises
from .teaching.grade import grade
from .teaching.lint import LintResult, lint

__all__ = [
    "Graph", "GraphError", "Kind", "MLP", "mlp", "derive", "Derivation", "Chain", "Factor",
    "Delta", "Notation", "NOTATIONS", "sigmoid", "tanh", "relu", "leaky_relu", "softplus",
    "softmax", "identity", "check_gradients", "worked_example", "Evaluation",
    "GradientCheck", "WorkedExample", "render", "compile_pdf", "RenderError", "Document",
    "build_document", "VerificationError", "matrix_form", "MatrixForm", "BatchEvaluator",
    "load_spec", "parse_spec", "SpecError", "grade", "exercises", "MatrixCheck",
    "lint", "LintResult",
    "RNN", "rnn", "Conv", "conv1d", "conv2d", "Attention", "attention", "Network", "network",
    "dense", "layer_norm", "batch_norm", "residual", "general_form", "GeneralForm",
    "gelu", "gelu_erf", "silu", "SymbackpropError", "UnavailableError", "ValuesError",
    "Form", "ScalarForm", "scalar_form", "CheckReport",
]


class WorkedExample(worked.WorkedExample):
    __doc__ = worked.WorkedExample.__doc__

    def to_latex(self, **options) -> str:
        """The worked example as a LaTeX fragment (``options`` as for :func:`render`)."""
        return render(self, kind="fragment", **options)


@functools.wraps(worked.worked_example)  # its signature and docstring, which docs/api.md shows
def worked_example(*args, **kwargs) -> WorkedExample:
    example = worked.worked_example(*args, **kwargs)
    return WorkedExample(**{f.name: getattr(example, f.name) for f in dataclasses.fields(example)})

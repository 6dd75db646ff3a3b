"""symbackprop: derive the equations of backpropagation symbolically."""

from .codegen import BatchEvaluator
from .derive import Chain, Delta, Derivation, Factor, derive
from .document import Document, build_document
from .errors import SymbackpropError, UnavailableError
from .exercises import exercise_sheets as exercises
from .functions import (
    gelu,
    gelu_erf,
    identity,
    leaky_relu,
    relu,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from .general import GeneralForm
from .grade import grade
from .graph import Graph, GraphError, Kind
from .lint import LintResult, lint
from .matrix import MatrixCheck, MatrixForm, matrix_form
from .mlp import MLP, mlp
from .models import (
    RNN,
    Attention,
    Conv,
    Network,
    attention,
    batch_norm,
    conv1d,
    conv2d,
    dense,
    general_form,
    layer_norm,
    network,
    residual,
    rnn,
)
from .notation import NOTATIONS, Notation
from .numeric import Evaluation, GradientCheck, WorkedExample, check_gradients, worked_example
from .render import RenderError, compile_pdf, render
from .spec import SpecError, load_spec, parse_spec
from .verify import VerificationError

__version__ = "0.1.0"
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
    "gelu", "gelu_erf", "silu", "SymbackpropError", "UnavailableError",
]

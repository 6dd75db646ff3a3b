"""The op registry: every activation defined once, each in a module of its own; the losses.

An entry (:class:`Activation`) holds all of one activation's rules: its SymPy function and
textbook derivative, its LaTeX, the catalog message naming it, its elementary definition, its
value at floats, and its kernel for numpy, torch and jax (the same text the exported modules
carry). Every other module asks the registry; none spells an activation out. Adding one is a
module here, a line in ``_ENTRIES``, its catalog lines and its tests (docs/design.md).

>>> sorted(ACTIVATIONS)[:4]
['gelu', 'gelu_erf', 'identity', 'leaky_relu']
>>> activation_op("silu").latex
'\\\\operatorname{SiLU}'
"""

from __future__ import annotations

import functools
import io
import tokenize
from collections.abc import Callable

from ..errors import UnavailableError
from .base import TARGETS, Activation, print_operator
from .gelu import GELU, GELU_ERF, GELU_ERF_PRIME, GELU_PRIME
from .identity import IDENTITY
from .leaky_relu import LEAKY_RELU
from .losses import LOSSES, Loss
from .relu import RELU, RELU_AT_ZERO
from .sigmoid import SIGMOID, SIGMOID_PRIME
from .silu import SILU, SILU_PRIME
from .softmax import SOFTMAX
from .softplus import SOFTPLUS
from .tanh import TANH, TANH_PRIME

__all__ = [
    "Activation",
    "ACTIVATIONS",
    "ELEMENTWISE",
    "FUNCTIONS",
    "LAYER_ACTIVATIONS",
    "LOSSES",
    "Loss",
    "TARGETS",
    "RELU_AT_ZERO",
    "activation_op",
    "op_of",
    "kernel_names",
    "kernel_sources",
    "called_names",
    "namespace",
    "print_operator",
    "require",
]

_ENTRIES = (SIGMOID, TANH, RELU, LEAKY_RELU, SOFTPLUS, GELU, GELU_ERF, SILU, IDENTITY, SOFTMAX)
#: Derivatives that the notes write as functions of their own (GELU′(z)), and those the
#: evaluators compute in place of a textbook form that rounds away (an entry's ``prime``):
#: entries with kernels, but no layer's activation.
_DERIVATIVES = (GELU_PRIME, GELU_ERF_PRIME, SIGMOID_PRIME, TANH_PRIME, SILU_PRIME)

#: Every activation by name ("linear" is another name of the identity).
ACTIVATIONS: dict[str, Activation] = {op.name: op for op in _ENTRIES}
ACTIVATIONS["linear"] = IDENTITY
#: The elementwise ones, as a layer of any builder may use them (softmax is a layer's function).
ELEMENTWISE: tuple[str, ...] = tuple(n for n in ACTIVATIONS if n != "softmax")
#: Every name a layer's activation may have.
LAYER_ACTIVATIONS: tuple[str, ...] = (*ELEMENTWISE, "softmax")

#: Every entry with a SymPy function: the activations and the derivatives written as functions.
FUNCTIONS: tuple[Activation, ...] = tuple(op for op in (*_ENTRIES, *_DERIVATIVES) if op.latex)
_BY_FUNCTION: dict[object, Activation] = {op.function: op for op in FUNCTIONS}


def activation_op(name: str) -> Activation:
    """The registry's entry for the activation called ``name``; a one-line ValueError if none.

    >>> activation_op("gelu").prose
    'GELU'
    """
    try:
        return ACTIVATIONS[name]
    except KeyError:
        known = ", ".join(LAYER_ACTIVATIONS)
        raise ValueError(f"unknown activation {name!r}; expected one of: {known}") from None


def op_of(function: object, subclasses: bool = True) -> Activation | None:
    """The entry whose SymPy function ``function`` is, or subclasses (a user's sigmoid with a
    derivative of its own still computes the sigmoid); None for any other function.

    >>> op_of(SIGMOID.function).name, op_of(type(RELU(-2)))
    ('sigmoid', None)
    """
    if function in _BY_FUNCTION or not subclasses:
        return _BY_FUNCTION.get(function)
    for parent in getattr(function, "__mro__", ())[1:]:
        if parent in _BY_FUNCTION:
            return _BY_FUNCTION[parent]
    return None


@functools.cache
def kernel_names(target: str) -> dict[str, Activation]:
    """Each name a ``target`` kernel defines (sigmoid, sigmoid_into, erf, …) -> its entry.

    >>> kernel_names("numpy")["tanh_into"].name
    'tanh'
    """
    out: dict[str, Activation] = {}
    for op in FUNCTIONS:
        for name in vars(op.kernels.get(target, object)):
            if not name.startswith("_"):
                out.setdefault(name, op)
    return out


def called_names(source: str) -> set[str]:
    """The names a piece of code calls or reads, attributes (``numpy.tanh``'s tanh) left out.

    >>> sorted(called_names("a = numpy.tanh(z) + relu(z)"))
    ['a', 'numpy', 'relu', 'z']
    """
    names, previous = set(), None
    for tok in tokenize.generate_tokens(io.StringIO(source + "\n").readline):
        if tok.type == tokenize.NAME and previous != ".":
            names.add(tok.string)
        previous = tok.string
    return names


def kernel_sources(names: set[str], target: str) -> list[str]:
    """The kernel source of every op that defines one of ``names``, in the registry's order:
    what a standalone module of ``target`` carries for the functions its code calls.

    >>> print(*kernel_sources({"relu"}, "torch"))
    def relu(x):
        return torch.relu(x)
    """
    used = {kernel_names(target)[n].name for n in names if n in kernel_names(target)}
    return [op.source(target) for op in FUNCTIONS if op.name in used]


def namespace(target: str, module: object | None = None,
              wrap: Callable[[Callable], Callable] | None = None,
              missing_kernels: bool = False) -> dict[str, object]:
    """Every kernel ``target`` has that can run here, by the names generated code calls.

    A kernel whose library is missing (scipy, for numpy's erf) is left out, so code that calls
    it is refused in one line by :func:`require`; with ``missing_kernels`` it is a function
    that raises that reason (for code that SymPy's lambdify writes). ``module`` runs numpy's
    kernels on another library that speaks numpy (cupy); ``wrap`` wraps each function (a cast
    to float64, say).

    >>> import numpy as np
    >>> namespace("numpy")["sigmoid"](np.array([0.0, -800.0, 800.0])).tolist()
    [0.5, 0.0, 1.0]
    """
    out: dict[str, object] = {}
    for op in FUNCTIONS:
        if target not in op.kernels:
            continue
        try:
            loaded = op.load(target, module)
        except UnavailableError as missing:
            if missing_kernels:  # called, they raise the reason in one line
                out.update({name: _refusal(str(missing)) for name in vars(op.kernels[target])
                            if not name.startswith("_") and name != "imports"})
            continue
        for name, f in loaded.items():
            if not name.startswith("_") and callable(f):
                out[name] = wrap(f) if wrap else f
    return out


def _refusal(reason: str) -> Callable:
    def unavailable(*_args):
        raise UnavailableError(reason)
    return unavailable


def require(source: str, target: str, available: object) -> None:
    """Refuse, in one line, code that calls a kernel ``target`` cannot run here.

    >>> require("a = sigmoid(x)", "numpy", namespace("numpy"))
    """
    for name in sorted(called_names(source)):
        op = kernel_names(target).get(name)
        if op is not None and name not in available:
            op.load(target)  # raises the reason: the library that is missing
            raise UnavailableError(f"{op.name} has no {target} kernel here")

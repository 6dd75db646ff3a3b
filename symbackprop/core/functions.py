"""Activations and losses as SymPy objects whose derivatives are already in textbook form.

The activations are the op registry's (:mod:`symbackprop.core.ops`), re-exported here by name.
Each is a ``sympy.Function`` whose ``fdiff`` is written in terms of the function itself, so
``diff(sigmoid(z), z)`` is ``sigmoid(z)*(1 - sigmoid(z))`` and never the exp form.
That is what lets the engine later replace ``sigmoid(z3)`` by the node symbol ``yhat`` and print
``yhat*(1 - yhat)``, as lecture notes do.

>>> import sympy as sp
>>> z = sp.Symbol("z")
>>> sp.diff(sigmoid(z), z)
(1 - sigmoid(z))*sigmoid(z)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sympy as sp

from . import ops
from .ops.gelu import gelu, gelu_erf
from .ops.identity import identity
from .ops.leaky_relu import leaky_relu
from .ops.relu import RELU_AT_ZERO, relu
from .ops.sigmoid import sigmoid
from .ops.silu import silu
from .ops.softmax import softmax
from .ops.softplus import softplus

__all__ = [
    "sigmoid",
    "relu",
    "leaky_relu",
    "softplus",
    "gelu",
    "gelu_erf",
    "silu",
    "softmax",
    "tanh",
    "identity",
    "ACTIVATIONS",
    "LOSSES",
    "activation",
    "loss",
    "RELU_AT_ZERO",
]

tanh = sp.tanh  # SymPy's own tanh already differentiates to 1 - tanh(x)**2.

#: Elementwise activations by name, each the registry's entry (callable on a pre-activation).
#: softmax is a layer-wise activation, handled by the builders.
ACTIVATIONS: dict[str, Callable[[sp.Expr], sp.Expr]] = {
    n: ops.ACTIVATIONS[n] for n in ops.ELEMENTWISE}
LAYER_ACTIVATIONS = ops.LAYER_ACTIVATIONS


def activation(name: str, pre_activations: Sequence[sp.Expr]) -> list[sp.Expr]:
    """Apply the activation called ``name`` to a layer's pre-activations.

    >>> z1, z2 = sp.symbols("z1 z2")
    >>> activation("softmax", [z1, z2])
    [softmax(1, z1, z2), softmax(2, z1, z2)]
    """
    op = ops.activation_op(name)
    if name == "softmax":
        return [softmax(k, *pre_activations) for k in range(1, len(pre_activations) + 1)]
    return [op(z) for z in pre_activations]


#: Losses by name: the registry's (:mod:`symbackprop.core.ops.losses`), each a function of the
#: targets and the outputs.
LOSSES: dict[str, Callable[[Sequence[sp.Expr], Sequence[sp.Expr]], sp.Expr]] = {
    name: entry.function for name, entry in ops.LOSSES.items()}


def loss(name: str, targets: Sequence[sp.Expr], outputs: Sequence[sp.Expr]) -> sp.Expr:
    """The loss called ``name`` between targets and outputs.

    >>> y, p = sp.symbols("y p")
    >>> loss("half_sse", [y], [p])
    (-p + y)**2/2
    """
    try:
        f = LOSSES[name]
    except KeyError:
        known = ", ".join(LOSSES)
        raise ValueError(f"unknown loss {name!r}; expected one of: {known}") from None
    return f(targets, outputs)

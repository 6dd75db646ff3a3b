"""The rectified linear unit max(0, x); its derivative is the step H(x) with H(0) = 0."""

from __future__ import annotations

import numpy
import sympy as sp

from .base import N_, Activation, ActivationFunction, jax, torch

#: The subgradient used for ReLU at 0 (the same choice as PyTorch and JAX).
RELU_AT_ZERO = sp.Integer(0)


class relu(ActivationFunction):  # noqa: N801
    """relu(x) = max(0, x); its derivative is the step H(x) with H(0) = 0 (a subgradient).

    >>> x = sp.Symbol("x")
    >>> sp.diff(relu(x), x)
    Heaviside(x, 0)
    """

    @classmethod
    def eval(cls, x):
        if x.is_number and x.is_real:
            return sp.Max(x, 0)

    def fdiff(self, argindex=1):
        return sp.Heaviside(self.args[0], RELU_AT_ZERO)


class Numpy:
    def relu(x):
        return numpy.maximum(x, 0.0)

    def relu_into(z):
        return numpy.maximum(z, 0.0, out=z)


class Torch:
    def relu(x):
        return torch.relu(x)


class Jax:
    def relu(x):
        return jax.nn.relu(x)


RELU = Activation(
    name="relu",
    function=relu,
    latex=r"\operatorname{ReLU}",
    prose=N_("ReLU"),
    elementary=lambda x: sp.Max(x, 0),
    scalar=lambda x: x if x > 0 else 0.0,
    kinked=True,
    kernels={"numpy": Numpy, "torch": Torch, "jax": Jax},
)

"""The leaky ReLU: x for x > 0, a·x otherwise (a = 1/100 unless given); derivative 1 or a."""

from __future__ import annotations

import numpy
import sympy as sp

from .base import N_, Activation, ActivationFunction, jnp, print_operator, torch
from .relu import RELU_AT_ZERO

DEFAULT_SLOPE = sp.Rational(1, 100)


class leaky_relu(ActivationFunction):  # noqa: N801
    """leaky_relu(x, a) = x for x > 0, a·x otherwise; derivative 1 or a (a at 0).

    >>> x = sp.Symbol("x")
    >>> sp.diff(leaky_relu(x, sp.Rational(1, 100)), x)
    99*Heaviside(x, 0)/100 + 1/100
    """

    nargs = (1, 2)

    @classmethod
    def eval(cls, x, slope=None):
        if slope is None:
            return cls(x, DEFAULT_SLOPE)
        if x.is_number and x.is_real:
            return x if x > 0 else slope * x

    def fdiff(self, argindex=1):
        x, slope = self.args
        step = sp.Heaviside(x, RELU_AT_ZERO)
        if argindex == 1:
            return slope + (1 - slope) * step
        return x * (1 - step)

    def _latex(self, printer, exp=None):
        return print_operator(LEAKY_RELU.latex, printer, self.args[:1], exp)


class Numpy:
    def leaky_relu(x, slope):
        return numpy.where(x > 0, x, slope * x)


class Torch:
    def leaky_relu(x, slope):
        return torch.where(x > 0, x, slope * x)


class Jax:
    def leaky_relu(x, slope):
        return jnp.where(x > 0, x, slope * x)


LEAKY_RELU = Activation(
    name="leaky_relu",
    function=leaky_relu,
    latex=r"\operatorname{LReLU}",
    prose=N_("leaky ReLU"),
    elementary=lambda x, slope: sp.Piecewise((x, x > 0), (slope * x, True)),
    scalar=lambda x, slope: x if x > 0 else slope * x,
    defaults=(DEFAULT_SLOPE,),
    kinked=True,
    kernels={"numpy": Numpy, "torch": Torch, "jax": Jax},
)

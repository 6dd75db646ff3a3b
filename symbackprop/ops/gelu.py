"""The Gaussian error linear unit (Hendrycks and Gimpel), as the tanh approximation and exactly.

``gelu`` is the tanh approximation x/2·(1 + tanh(√(2/π)(x + 0.044715x³))), which every array
library computes; ``gelu_erf`` is x·Φ(x) = x/2·(1 + erf(x/√2)), whose kernel needs an erf:
torch's and jax's, and numpy's only through scipy.
"""

from __future__ import annotations

import math

import numpy
import sympy as sp

from .base import N_, Activation, ActivationFunction, jax, scipy, torch

#: The cubic term's coefficient of the tanh approximation.
CUBIC = sp.Rational(44715, 1000000)


def _inner(x: sp.Expr) -> sp.Expr:
    """u(x) = √(2/π)(x + 0.044715x³), the tanh approximation's argument."""
    return sp.sqrt(2 / sp.pi) * (x + CUBIC * x**3)


class gelu(ActivationFunction):  # noqa: N801
    """GELU(x) ≈ x/2·(1 + tanh u), u = √(2/π)(x + 0.044715x³); its derivative is
    (1 + tanh u)/2 + x/2·(1 − tanh² u)·u′, tanh′ written as 1 − tanh² as the tanh unit's is.

    >>> x = sp.Symbol("x")
    >>> sp.diff(gelu(x), x).subs(x, 0)
    1/2
    """

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.S.Zero

    def fdiff(self, argindex=1):
        x = self.args[0]
        t = sp.tanh(_inner(x))
        du = sp.sqrt(2 / sp.pi) * (1 + 3 * CUBIC * x**2)  # u′(x), whatever expression x is
        return (1 + t) / 2 + x * (1 - t**2) * du / 2


class gelu_erf(ActivationFunction):  # noqa: N801
    """GELU(x) = x·Φ(x) = x/2·(1 + erf(x/√2)), exactly; its derivative is Φ(x) + x·φ(x).

    >>> x = sp.Symbol("x")
    >>> sp.diff(gelu_erf(x), x)
    sqrt(2)*x*exp(-x**2/2)/(2*sqrt(pi)) + erf(sqrt(2)*x/2)/2 + 1/2
    """

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.S.Zero

    def fdiff(self, argindex=1):
        x = self.args[0]
        return (1 + sp.erf(x / sp.sqrt(2))) / 2 + x * sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi)


def _tanh_approximation(x: float) -> float:
    # x*x*x, not x**3: a float product overflows to inf, where ** raises
    return 0.5 * x * (1.0 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * (x * x * x))))


class Numpy:
    def gelu(x):
        # the tanh approximation: x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        return 0.5 * x * (1.0 + numpy.tanh(0.7978845608028654 * (x + 0.044715 * (x * x * x))))


class Torch:
    def gelu(x):
        return torch.nn.functional.gelu(x, approximate="tanh")


class Jax:
    def gelu(x):
        return jax.nn.gelu(x, approximate=True)


class NumpyErf:
    imports = ("import scipy.special",)

    def erf(x):
        return scipy.special.erf(x)

    def gelu_erf(x):
        return 0.5 * x * (1.0 + scipy.special.erf(x * 0.7071067811865476))


class TorchErf:
    def erf(x):
        return torch.erf(x)

    def gelu_erf(x):
        return torch.nn.functional.gelu(x)


class JaxErf:
    def erf(x):
        return jax.lax.erf(x)

    def gelu_erf(x):
        return jax.nn.gelu(x, approximate=False)


GELU = Activation(
    name="gelu",
    function=gelu,
    latex=r"\operatorname{GELU}",
    prose=N_("GELU"),
    elementary=lambda x: x * (1 + sp.tanh(_inner(x))) / 2,
    scalar=_tanh_approximation,
    kernels={"numpy": Numpy, "torch": Torch, "jax": Jax},
)

GELU_ERF = Activation(
    name="gelu_erf",
    function=gelu_erf,
    latex=r"\operatorname{GELU_{erf}}",
    prose=N_("GELU with erf"),
    elementary=lambda x: x * (1 + sp.erf(x / sp.sqrt(2))) / 2,
    scalar=lambda x: 0.5 * x * (1.0 + math.erf(x / math.sqrt(2))),
    # numpy has no erf: scipy's where installed, else refused where it is used
    kernels={"numpy": NumpyErf, "torch": TorchErf, "jax": JaxErf},
)

"""softplus(x) = log(1 + e^x), whose derivative is σ(x)."""

from __future__ import annotations

import math

import numpy
import sympy as sp

from .base import N_, Activation, ActivationFunction, jax, scipy, torch
from .sigmoid import sigmoid


class softplus(ActivationFunction):  # noqa: N801
    """softplus(x) = log(1 + e^x), whose derivative is σ(x).

    >>> x = sp.Symbol("x")
    >>> sp.diff(softplus(x), x)
    sigmoid(x)
    """

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])


class Numpy:
    def softplus(x):
        return numpy.logaddexp(0.0, x)


class Scipy:
    # softplus(x) = -log sigmoid(-x), scipy's fused log_expit where installed
    imports = ("import scipy.special",)

    def softplus(x):
        return -scipy.special.log_expit(-x)


class Torch:
    def softplus(x):
        return torch.nn.functional.softplus(x)


class Jax:
    def softplus(x):
        return jax.nn.softplus(x)


SOFTPLUS = Activation(
    name="softplus",
    function=softplus,
    latex=r"\operatorname{softplus}",
    prose=N_("softplus"),
    elementary=lambda x: sp.log(1 + sp.exp(x)),
    scalar=lambda x: max(x, 0.0) + math.log1p(math.exp(-abs(x))),
    kernels={"numpy": Numpy, "scipy": Scipy, "torch": Torch, "jax": Jax},
)

"""softplus(x) = log(1 + e^x), whose derivative is σ(x)."""

from __future__ import annotations

import math

import numpy
import sympy as sp

from .base import N_, Activation, jax, print_operator, torch
from .sigmoid import sigmoid


class softplus(sp.Function):  # noqa: N801
    """softplus(x) = log(1 + e^x), whose derivative is σ(x).

    >>> x = sp.Symbol("x")
    >>> sp.diff(softplus(x), x)
    sigmoid(x)
    """

    is_real = True

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _eval_rewrite_as_log(self, x, **kwargs):
        return sp.log(1 + sp.exp(x))

    def _eval_evalf(self, prec):
        return self.rewrite(sp.log)._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        return print_operator(SOFTPLUS.latex, printer, self.args, exp)


class Numpy:
    def softplus(x):
        return numpy.logaddexp(0.0, x)


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
    kernels={"numpy": Numpy, "torch": Torch, "jax": Jax},
)

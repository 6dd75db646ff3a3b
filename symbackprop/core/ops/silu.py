"""The sigmoid linear unit (swish): silu(x) = x·σ(x), whose derivative is a + σ(x)(1 − a)."""

from __future__ import annotations

import math

import numpy
import sympy as sp

from .base import N_, Activation, ActivationFunction, DerivativeSteps, jax, torch
from .sigmoid import sigmoid


class silu(ActivationFunction):  # noqa: N801
    """silu(x) = x·σ(x); its derivative in its own terms is silu + σ(1 − silu) (Ramachandran
    et al.), as σ′ = σ(1 − σ) is the sigmoid's.

    >>> x = sp.Symbol("x")
    >>> sp.diff(silu(x), x)
    (1 - silu(x))*sigmoid(x) + silu(x)
    """

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.S.Zero

    def fdiff(self, argindex=1):
        return self + sigmoid(self.args[0]) * (1 - self)


def _scalar(x: float) -> float:
    return x / (1 + math.exp(-x)) if x >= 0 else x * math.exp(x) / (1 + math.exp(x))


class Numpy:
    def silu(x):
        # x / (1 + exp(-x)): where exp(-x) overflows (x < -709) the quotient is -0.0
        with numpy.errstate(over="ignore"):
            return x / (1.0 + numpy.exp(-x))


class Torch:
    def silu(x):
        return torch.nn.functional.silu(x)


class Jax:
    def silu(x):
        return jax.nn.silu(x)


def _derivation(x: sp.Symbol) -> DerivativeSteps:
    """SiLU′ by the product rule, σ′ = σ(1 − σ), ending in SiLU + σ(1 − SiLU)."""
    sig = sigmoid(x)
    return DerivativeSteps(
        section="activation", label="SiLU'", lhs=r"\operatorname{SiLU}'(x)",
        definition=x / (1 + sp.exp(-x)),
        steps=(
            (sig + x * sig * (1 - sig), r"\sigma(x) + x\, \sigma(x)\bigl(1 - \sigma(x)\bigr)"),
            (x * sig + sig * (1 - x * sig),
             r"x\, \sigma(x) + \sigma(x)\bigl(1 - x\, \sigma(x)\bigr)"),
            (silu(x) + sig * (1 - silu(x)),
             r"\operatorname{SiLU}(x) + \sigma(x)\bigl(1 - \operatorname{SiLU}(x)\bigr)"),
        ),
        before=("derivative_intro", {
            "definition": r"\operatorname{SiLU}(x) = x\, \sigma(x)",
            "inner": r"\sigma'(x) = \sigma(x)\bigl(1 - \sigma(x)\bigr)",
        }),
    )


SILU = Activation(
    name="silu",
    function=silu,
    latex=r"\operatorname{SiLU}",
    prose=N_("SiLU (swish)"),
    elementary=lambda x: x / (1 + sp.exp(-x)),
    scalar=_scalar,
    kernels={"numpy": Numpy, "torch": Torch, "jax": Jax},
    derivation=_derivation,
)

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


class silu_prime(ActivationFunction):  # noqa: N801
    """SiLU′(x) = σ(x)(1 + x·σ(−x)), as the evaluators compute SiLU + σ(1 − SiLU): where SiLU
    is x (x > 1e16), SiLU + (1 − SiLU) cancels to 0 but this is 1. The notes print the latter."""

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.S.Half


def _scalar_prime(x: float) -> float:
    e = math.exp(-abs(x))  # σ(x) and σ(−x) from e^(−|x|), which never overflows
    up, down = (1.0 / (1.0 + e), e / (1.0 + e)) if x >= 0 else (e / (1.0 + e), 1.0 / (1.0 + e))
    return up * (1.0 + x * down)


class NumpyPrime:
    def silu_prime(x):
        # sigma(x) (1 + x sigma(-x)); where exp overflows, x/inf is 0 and 1/inf is 0, as they are
        with numpy.errstate(over="ignore"):
            return (1.0 + x / (1.0 + numpy.exp(x))) / (1.0 + numpy.exp(-x))


class TorchPrime:
    def silu_prime(x):
        return torch.sigmoid(x) * (1.0 + x * torch.sigmoid(-x))


class JaxPrime:
    def silu_prime(x):
        return jax.nn.sigmoid(x) * (1.0 + x * jax.nn.sigmoid(-x))


SILU_PRIME = Activation(
    name="silu_prime",
    function=silu_prime,
    latex=r"\operatorname{SiLU}'",
    prose=N_("SiLU (swish)"),
    elementary=lambda x: (1 + x * sp.exp(-x) / (1 + sp.exp(-x))) / (1 + sp.exp(-x)),
    scalar=_scalar_prime,
    kernels={"numpy": NumpyPrime, "torch": TorchPrime, "jax": JaxPrime},
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
    prime=SILU_PRIME,
)

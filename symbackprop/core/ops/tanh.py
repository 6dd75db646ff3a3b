"""The hyperbolic tangent: SymPy's own, whose derivative is already 1 − tanh²."""

from __future__ import annotations

import math

import numpy
import sympy as sp

from .base import N_, Activation, ActivationFunction, DerivativeSteps, jnp, torch


class Numpy:
    def tanh(z):
        return numpy.tanh(z)

    def tanh_into(z):
        return numpy.tanh(z, out=z)


class Torch:
    def tanh(z):
        return torch.tanh(z)


class Jax:
    def tanh(z):
        return jnp.tanh(z)


def _derivation(x: sp.Symbol) -> DerivativeSteps:
    """tanh′ by the quotient rule over exponentials, ending in 1 − tanh²."""
    ex, emx = sp.exp(x), sp.exp(-x)
    return DerivativeSteps(
        section="tanh", label="tanh'", lhs=r"\tanh'(x)", definition=(ex - emx) / (ex + emx),
        steps=(
            (((ex + emx) ** 2 - (ex - emx) ** 2) / (ex + emx) ** 2,
             r"\frac{(e^{x} + e^{-x})^{2} - (e^{x} - e^{-x})^{2}}{(e^{x} + e^{-x})^{2}}"),
            (1 - (ex - emx) ** 2 / (ex + emx) ** 2,
             r"1 - \frac{(e^{x} - e^{-x})^{2}}{(e^{x} + e^{-x})^{2}}"),
            (1 - sp.tanh(x) ** 2, r"1 - \tanh^{2} x"),
        ),
        before=("tanh_intro", {"definition": r"\tanh x = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}"}),
    )


class tanh_prime(ActivationFunction):  # noqa: N801
    """tanh′(x) = 1/cosh²(x), as the evaluators compute 1 − tanh²: where tanh rounds to ±1
    (|x| > 19), 1 − tanh² is 0 but 1/cosh² is not. The notes print 1 − tanh²."""

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.S.One


def _scalar_prime(x: float) -> float:
    e = math.exp(-2.0 * abs(x))  # 1/cosh²(x) = 4e^(−2|x|)/(1 + e^(−2|x|))², never an overflow
    return 4.0 * e / ((1.0 + e) * (1.0 + e))


class NumpyPrime:
    def tanh_prime(z):
        # 1/cosh(z)^2; cosh overflows to inf (1/inf = 0) only where the true value is below 1e-308
        with numpy.errstate(over="ignore"):
            s = 1.0 / numpy.cosh(z)
        return s * s


class TorchPrime:
    def tanh_prime(z):
        s = 1.0 / torch.cosh(z)
        return s * s


class JaxPrime:
    def tanh_prime(z):
        s = 1.0 / jnp.cosh(z)
        return s * s


TANH_PRIME = Activation(
    name="tanh_prime",
    function=tanh_prime,
    latex=r"\tanh'",
    prose=N_("hyperbolic tangent"),
    elementary=lambda x: 1 / sp.cosh(x) ** 2,
    scalar=_scalar_prime,
    kernels={"numpy": NumpyPrime, "torch": TorchPrime, "jax": JaxPrime},
)

TANH = Activation(
    name="tanh",
    function=sp.tanh,
    latex=r"\tanh",
    prose=N_("hyperbolic tangent"),
    elementary=lambda x: sp.tanh(x),
    scalar=math.tanh,
    kernels={"numpy": Numpy, "torch": Torch, "jax": Jax},
    derivation=_derivation,
    prime=TANH_PRIME,
)

"""The hyperbolic tangent: SymPy's own, whose derivative is already 1 − tanh²."""

from __future__ import annotations

import math

import numpy
import sympy as sp

from .base import N_, Activation, DerivativeSteps, jnp, torch


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


TANH = Activation(
    name="tanh",
    function=sp.tanh,
    latex=r"\tanh",
    prose=N_("hyperbolic tangent"),
    elementary=lambda x: sp.tanh(x),
    scalar=math.tanh,
    kernels={"numpy": Numpy, "torch": Torch, "jax": Jax},
    derivation=_derivation,
)

"""The Gaussian error linear unit (Hendrycks and Gimpel), as the tanh approximation and exactly.

``gelu`` is the tanh approximation x/2·(1 + tanh(√(2/π)(x + 0.044715x³))), which every array
library computes; ``gelu_erf`` is x·Φ(x) = x/2·(1 + erf(x/√2)), whose kernel needs an erf:
torch's and jax's, and numpy's only through scipy.
"""

from __future__ import annotations

import math

import numpy
import sympy as sp

from .base import N_, Activation, ActivationFunction, DerivativeSteps, jax, jnp, scipy, torch

#: The cubic term's coefficient of the tanh approximation.
CUBIC = sp.Rational(44715, 1000000)


def _inner(x: sp.Expr) -> sp.Expr:
    """u(x) = √(2/π)(x + 0.044715x³), the tanh approximation's argument."""
    return sp.sqrt(2 / sp.pi) * (x + CUBIC * x**3)


def _du(x: sp.Expr) -> sp.Expr:
    """u′(x) = √(2/π)(1 + 3·0.044715x²), written for any expression x."""
    return sp.sqrt(2 / sp.pi) * (1 + 3 * CUBIC * x**2)


def _derivative(x: sp.Expr) -> sp.Expr:
    """GELU′(x) = (1 + tanh u)/2 + x/2·(1 − tanh² u)·u′ in elementary functions."""
    t = sp.tanh(_inner(x))
    return (1 + t) / 2 + x * (1 - t**2) * _du(x) / 2


def _normal_cdf(x: sp.Expr) -> sp.Expr:
    """Φ(x) = (1 + erf(x/√2))/2."""
    return (1 + sp.erf(x / sp.sqrt(2))) / 2


def _erf_derivative(x: sp.Expr) -> sp.Expr:
    """GELU_erf′(x) = Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π)."""
    return _normal_cdf(x) + x * sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi)


class gelu(ActivationFunction):  # noqa: N801
    """GELU(x) ≈ x/2·(1 + tanh u), u = √(2/π)(x + 0.044715x³). Its derivative has no short
    form in GELU itself, so the notes write it GELU′(x), as lecturers do, and the appendix
    derives GELU′(x) = (1 + tanh u)/2 + x/2·(1 − tanh² u)·u′.

    >>> x = sp.Symbol("x")
    >>> sp.diff(gelu(x), x), sp.diff(gelu(x), x).subs(x, 0)
    (gelu_prime(x), 1/2)
    """

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.S.Zero

    def fdiff(self, argindex=1):
        return gelu_prime(self.args[0])


class gelu_prime(ActivationFunction):  # noqa: N801
    """GELU′(x), the tanh approximation's derivative (its own derivative is SymPy's)."""

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.S.Half


class gelu_erf(ActivationFunction):  # noqa: N801
    """GELU(x) = x·Φ(x) = x/2·(1 + erf(x/√2)), exactly; its derivative, Φ(x) + x·φ(x), is
    written GELU_erf′(x) in the notes and derived in the appendix.

    >>> x = sp.Symbol("x")
    >>> sp.diff(gelu_erf(x), x)
    gelu_erf_prime(x)
    """

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.S.Zero

    def fdiff(self, argindex=1):
        return gelu_erf_prime(self.args[0])


class gelu_erf_prime(ActivationFunction):  # noqa: N801
    """GELU_erf′(x) = Φ(x) + x·φ(x) (its own derivative is SymPy's)."""

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.S.Half


def _scalar_prime(x: float) -> float:
    # the kernels' form, below, from e^(−|u|), which never overflows (math.exp raises)
    u = 0.7978845608028654 * (x + 0.044715 * (x * x * x))
    h = math.exp(-abs(u))
    up = 1.0 / (1.0 + h * h) if u >= 0 else h * h / (1.0 + h * h)  # σ(2u)
    s = 2.0 * h / (1.0 + h * h)  # 1/cosh u
    return up + 0.5 * (x * s) * 0.7978845608028654 * (s + 0.134145 * (x * (x * s)))


def _scalar_erf_prime(x: float) -> float:
    return 0.5 * math.erfc(-x * 0.7071067811865476) + x * math.exp(-0.5 * x * x) / math.sqrt(
        2 * math.pi)


# GELU′ = (1 + tanh u)/2 + x/2·(1 − tanh² u)·u′ as the printed form says loses everything in the
# tails: tanh u rounds to ±1 for |x| > 5, so x = −10 gave 0 for −3.4e-36, and x = 1e300 gave
# 0·inf = nan. The kernels compute (1 + tanh u)/2 = σ(2u) and 1/cosh u from h = e^(−|u|), which
# never overflows, and x·u′/cosh² u as (x·s)(s + 0.134145·x·(x·s)) with s = 1/cosh u, so that
# s = 0 meets no inf.
class NumpyPrime:
    def gelu_prime(x):
        with numpy.errstate(over="ignore", invalid="ignore"):
            u = 0.7978845608028654 * (x + 0.044715 * (x * x * x))
            h = numpy.exp(-numpy.abs(u))
            hh = h * h
            s = 2.0 * h / (1.0 + hh)
            return numpy.where(u >= 0, 1.0, hh) / (1.0 + hh) + 0.5 * (x * s) * (
                0.7978845608028654 * (s + 0.134145 * (x * (x * s))))


class TorchPrime:
    def gelu_prime(x):
        u = 0.7978845608028654 * (x + 0.044715 * (x * x * x))
        h = torch.exp(-torch.abs(u))
        hh = h * h
        s = 2.0 * h / (1.0 + hh)
        return torch.where(u >= 0, 1.0, hh) / (1.0 + hh) + 0.5 * (x * s) * (
            0.7978845608028654 * (s + 0.134145 * (x * (x * s))))


class JaxPrime:
    def gelu_prime(x):
        u = 0.7978845608028654 * (x + 0.044715 * (x * x * x))
        h = jnp.exp(-jnp.abs(u))
        hh = h * h
        s = 2.0 * h / (1.0 + hh)
        return jnp.where(u >= 0, 1.0, hh) / (1.0 + hh) + 0.5 * (x * s) * (
            0.7978845608028654 * (s + 0.134145 * (x * (x * s))))


# Phi(x) + x phi(x) with Phi(x) = erfc(−x/√2)/2: 1 + erf(x/√2) rounds to 0 below x = −8.3
class NumpyErfPrime:
    imports = ("import scipy.special",)

    def gelu_erf_prime(x):
        # Phi(x) + x phi(x)
        return 0.5 * scipy.special.erfc(x * -0.7071067811865476) + (
            x * numpy.exp(-0.5 * (x * x)) * 0.3989422804014327)


class TorchErfPrime:
    def gelu_erf_prime(x):
        return 0.5 * torch.erfc(x * -0.7071067811865476) + (
            x * torch.exp(-0.5 * (x * x)) * 0.3989422804014327)


class JaxErfPrime:
    def gelu_erf_prime(x):
        return 0.5 * jax.lax.erfc(x * -0.7071067811865476) + (
            x * jnp.exp(-0.5 * (x * x)) * 0.3989422804014327)


def _gelu_derivation(x: sp.Symbol) -> DerivativeSteps:
    """GELU′ by the product and chain rules, tanh′ = 1 − tanh²."""
    t = sp.tanh(_inner(x))
    return DerivativeSteps(
        section="activation", label="GELU'", lhs=r"\operatorname{GELU}'(x)",
        definition=x * (1 + t) / 2,
        steps=(
            ((1 + t) / 2 + x * (1 - t**2) * _du(x) / 2,
             r"\frac{1}{2}\bigl(1 + \tanh u\bigr) + \frac{x}{2}\bigl(1 - \tanh^{2} u\bigr)\, u'"),
            (_derivative(x),
             r"\frac{1}{2}\bigl(1 + \tanh u\bigr) + \frac{x}{2}\bigl(1 - \tanh^{2} u\bigr)"
             r"\sqrt{\tfrac{2}{\pi}}\,\bigl(1 + 0.134145\, x^{2}\bigr)"),
        ),
        before=("derivative_intro", {
            "definition": r"\operatorname{GELU}(x) = \frac{x}{2}\bigl(1 + \tanh u\bigr)",
            "inner": r"u = \sqrt{\tfrac{2}{\pi}}\,\bigl(x + 0.044715\, x^{3}\bigr)",
        }),
    )


def _gelu_erf_derivation(x: sp.Symbol) -> DerivativeSteps:
    """GELU_erf′ by the product rule, Φ′ = φ."""
    return DerivativeSteps(
        section="activation", label="GELU_erf'", lhs=r"\operatorname{GELU_{erf}}'(x)",
        definition=x * _normal_cdf(x),
        steps=(
            (_erf_derivative(x), r"\Phi(x) + x\, \varphi(x)"),
            (_erf_derivative(x),
             r"\frac{1}{2}\left(1 + \operatorname{erf}\frac{x}{\sqrt{2}}\right)"
             r" + \frac{x\, e^{-x^{2}/2}}{\sqrt{2\pi}}"),
        ),
        before=("derivative_intro", {
            "definition": r"\operatorname{GELU_{erf}}(x) = x\, \Phi(x)",
            "inner": r"\Phi(x) = \frac{1}{2}\left(1 + \operatorname{erf}\frac{x}{\sqrt{2}}\right)",
        }),
    )


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
    derivation=_gelu_derivation,
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
    derivation=_gelu_erf_derivation,
)

#: The derivatives are functions of their own in the notes (GELU′(z)), with their own kernels.
GELU_PRIME = Activation(
    name="gelu_prime",
    function=gelu_prime,
    latex=r"\operatorname{GELU}'",
    prose=N_("GELU"),
    elementary=_derivative,
    scalar=_scalar_prime,
    kernels={"numpy": NumpyPrime, "torch": TorchPrime, "jax": JaxPrime},
)

GELU_ERF_PRIME = Activation(
    name="gelu_erf_prime",
    function=gelu_erf_prime,
    latex=r"\operatorname{GELU_{erf}}'",
    prose=N_("GELU with erf"),
    elementary=_erf_derivative,
    scalar=_scalar_erf_prime,
    kernels={"numpy": NumpyErfPrime, "torch": TorchErfPrime, "jax": JaxErfPrime},
)


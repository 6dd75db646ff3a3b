"""The softmax of a layer: component k of (z1, …, zn) is e^(z_k)/Σ e^(z_j), with the derivative
p_k(δ_kj − p_j) written in terms of the softmax itself. A layer's activation, not an elementwise
one: its first argument is the component's index."""

from __future__ import annotations

import math

import numpy
import sympy as sp

from .base import N_, Activation, ActivationFunction, jax, jnp, torch


class softmax(ActivationFunction):  # noqa: N801
    """Component k of the softmax of (z1, …, zn): softmax(k, z1, …, zn) = e^(z_k) / Σ e^(z_j).

    Its derivative is written in terms of the softmax itself, ∂p_k/∂z_j = p_k(δ_kj − p_j).

    >>> z1, z2 = sp.symbols("z1 z2")
    >>> sp.diff(softmax(1, z1, z2), z2)
    -softmax(1, z1, z2)*softmax(2, z1, z2)
    """

    @classmethod
    def eval(cls, k, *zs):
        if not (k.is_Integer and 1 <= int(k) <= len(zs)):
            raise ValueError(f"softmax index {k} is not in 1..{len(zs)}")

    def fdiff(self, argindex=1):
        k, *zs = self.args
        if argindex == 1:
            return sp.S.Zero  # the index is not a variable
        j = argindex - 1
        return self * (sp.KroneckerDelta(k, j) - softmax(j, *zs))

    def _latex(self, printer, exp=None):
        k, *zs = self.args
        inner = ", ".join(printer._print(z) for z in zs)
        body = rf"{SOFTMAX.latex}_{{{int(k)}}}\left({inner}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"


def _scalar(k: float, *zs: float) -> float:
    top = max(zs)
    return math.exp(zs[int(k) - 1] - top) / math.fsum(math.exp(z - top) for z in zs)


class Numpy:
    def softmax(k, *zs):
        zs = numpy.broadcast_arrays(*zs)
        top = numpy.maximum.reduce(zs)
        exps = [numpy.exp(z - top) for z in zs]
        return exps[int(k) - 1] / sum(exps)


class Torch:
    def softmax(k, *zs):
        return torch.softmax(torch.stack(torch.broadcast_tensors(*zs)), 0)[int(k) - 1]


class Jax:
    def softmax(k, *zs):
        return jax.nn.softmax(jnp.stack(jnp.broadcast_arrays(*zs)), 0)[int(k) - 1]


SOFTMAX = Activation(
    name="softmax",
    function=softmax,
    latex=r"\operatorname{softmax}",
    prose=N_("softmax"),
    elementary=lambda k, *zs: sp.exp(zs[int(k) - 1]) / sp.Add(*[sp.exp(z) for z in zs]),
    scalar=_scalar,
    kernels={"numpy": Numpy, "torch": Torch, "jax": Jax},
)

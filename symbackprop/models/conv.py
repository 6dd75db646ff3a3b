"""Convolutions with a shared kernel (stride 1, valid padding), an activation and a dense head::

    z_i = Σ_k w_k x_{i+k−1} + b      a_i = f(z_i)      ŷ = g(Σ_i v_i a_i + c)

(a cross-correlation, as deep-learning texts and torch's conv1d compute it). In two dimensions
z_{ij} = Σ_{p,q} w_{pq} x_{i+p−1, j+q−1} + b. δ_i = ∂L/∂z_i is the δ the derivation names.

>>> import symbackprop as sb
>>> net = sb.conv1d(4, 3)
>>> net.expr(net.pre(2))
b + w_1*x_2 + w_2*x_3 + w_3*x_4
"""

from __future__ import annotations

import itertools

import sympy as sp

from .. import functions
from ..graph import GraphError
from .base import Model, choice, plural, positive, sub

__all__ = ["Conv", "conv1d", "conv2d"]


class Conv(Model):
    """A 1-D or 2-D convolution with its head. Positions are tuples (i,) or (i, j), 1-based."""

    def __init__(self, shape: tuple[int, ...], kernel: tuple[int, ...], activation: str,
                 outputs: int, output_activation: str, loss: str, bias: bool,
                 title: str | None) -> None:
        self.shape = tuple(positive(s, "the input length", 1024) for s in shape)
        self.kernel = tuple(positive(k, "the kernel size", 64) for k in kernel)
        if any(k > s for k, s in zip(self.kernel, self.shape, strict=True)):
            raise GraphError(f"the kernel {self.kernel} is larger than the input {self.shape}")
        self.n_out = positive(outputs, "the number of outputs")
        choice(activation, "activation", tuple(functions.ACTIVATIONS))
        choice(output_activation, "output activation", functions.LAYER_ACTIVATIONS)
        choice(loss, "loss", tuple(functions.LOSSES))
        if loss == "cross_entropy" and output_activation != "softmax":
            raise GraphError("loss 'cross_entropy' needs output_activation='softmax'")
        dims, kernel = "×".join(map(str, self.shape)), "×".join(map(str, self.kernel))
        inputs = plural(self.shape[0], "input") if len(self.shape) == 1 else f"{dims} input"
        super().__init__(title or f"{len(self.shape)}-D convolution: {inputs}, kernel {kernel}")
        if not title:
            self.heading = ("conv", {"dims": len(self.shape), "shape": list(self.shape),
                                     "kernel": list(self.kernel), "inputs": self.shape[0]})
        self.activation, self.output_activation, self.loss_name = (
            activation, output_activation, loss)
        self.has_bias = bool(bias)
        self.out_shape = tuple(s - k + 1 for s, k in zip(self.shape, self.kernel, strict=True))
        self._sym: dict[tuple, sp.Symbol] = {}
        self._build()

    @staticmethod
    def _positions(shape) -> list[tuple[int, ...]]:
        return list(itertools.product(*[range(1, s + 1) for s in shape]))

    def _build(self) -> None:
        for pos in self._positions(self.shape):
            self._sym["x", *pos] = self.add(self.input, *sub("x", *pos))
        single = self.n_out == 1
        for k in range(1, self.n_out + 1):
            self._sym[("y",) if single else ("y", k)] = self.add(
                self.target, *(("y", "y") if single else sub("y", k)))
        for pos in self._positions(self.kernel):
            self._sym["w", *pos] = self.add(self.parameter, *sub("w", *pos))
        if self.has_bias:
            self._sym["b",] = self.add(self.parameter, "b", "b")
        feats = self._positions(self.out_shape)
        for k in range(1, self.n_out + 1):
            for pos in feats:
                key, tex = sub("v", *(pos if single else (k, *pos)), sep=not single)
                self._sym[("v", *pos) if single else ("v", k, *pos)] = self.add(
                    self.parameter, key, tex)
        if self.has_bias:
            for k in range(1, self.n_out + 1):
                self._sym[("c",) if single else ("c", k)] = self.add(
                    self.parameter, *(("c", "c") if single else sub("c", k)))
        acts = []
        for pos in feats:
            terms = [self._sym["w", *off] * self._sym["x", *(p + o - 1 for p, o in
                                                             zip(pos, off, strict=True))]
                     for off in self._positions(self.kernel)]
            if self.has_bias:
                terms.append(self._sym["b",])
            z = self.add(self.node, *sub("z", *pos), sp.Add(*terms))
            self._sym["z", *pos] = z
            key, tex = sub("delta", *pos)
            self.name_delta(z, key, tex.replace("delta", r"\delta", 1))
            a = functions.activation(self.activation, [z])[0]
            acts.append(self.add(self.node, *sub("a", *pos), a))
            self._sym["a", *pos] = acts[-1]
        pres = []
        for k in range(1, self.n_out + 1):
            terms = [self._sym[("v", *pos) if single else ("v", k, *pos)] * a
                     for pos, a in zip(feats, acts, strict=True)]
            if self.has_bias:
                terms.append(self._sym[("c",) if single else ("c", k)])
            o = self.add(self.node, *(("o", "o") if single else sub("o", k)), sp.Add(*terms))
            pres.append(o)
            self._sym[("o",) if single else ("o", k)] = o
            self.name_delta(o, *(("delta_o", r"\delta^{o}") if single else
                                 (f"delta_o_{k}", rf"\delta^{{o}}_{{{k}}}")))
        outs = []
        for k, e in enumerate(functions.activation(self.output_activation, pres), start=1):
            outs.append(self.add(self.node, *(("yhat", r"\hat{y}") if single else
                                              (f"yhat_{k}", rf"\hat{{y}}_{{{k}}}")), e))
            self._sym[("yhat",) if single else ("yhat", k)] = outs[-1]
        targets = [self._sym[("y",) if single else ("y", k)] for k in range(1, self.n_out + 1)]
        if self.output_activation == "softmax" and self.loss_name == "cross_entropy":
            self.targets_sum_to_one(targets)
        self.add(self.loss, "L", "L", functions.loss(self.loss_name, targets, outs))

    def _get(self, *key) -> sp.Symbol:
        try:
            return self._sym[key]
        except KeyError:
            raise GraphError(f"no {key[0]}{list(key[1:])} in a {self.title}") from None

    def x(self, *pos: int) -> sp.Symbol:
        """The input at a position."""
        return self._get("x", *pos)

    def w(self, *pos: int) -> sp.Symbol:
        """The kernel entry w_k (w_{pq} in 2-D)."""
        return self._get("w", *pos)

    def pre(self, *pos: int) -> sp.Symbol:
        """z_i (z_{ij}), the convolution's output before the activation."""
        return self._get("z", *pos)

    def feature(self, *pos: int) -> sp.Symbol:
        """a_i = f(z_i)."""
        return self._get("a", *pos)


def conv1d(length: int, kernel: int, activation: str = "relu", outputs: int = 1,
           output_activation: str = "identity", loss: str = "mse", bias: bool = True,
           title: str | None = None) -> Conv:
    """A 1-D convolution over ``length`` inputs with a ``kernel``-tap shared kernel and bias,
    an activation, and a dense head to ``outputs`` units.

    >>> net = conv1d(5, 2, activation="tanh")
    >>> [p.name for p in net.parameters][:3]
    ['w_1', 'w_2', 'b']
    """
    return Conv((length,), (kernel,), activation, outputs, output_activation, loss, bias, title)


def conv2d(shape: tuple[int, int], kernel: tuple[int, int], activation: str = "relu",
           outputs: int = 1, output_activation: str = "identity", loss: str = "mse",
           bias: bool = True, title: str | None = None) -> Conv:
    """A small 2-D convolution: input ``shape`` (rows, columns), ``kernel`` (rows, columns).

    >>> net = conv2d((3, 3), (2, 2))
    >>> net.expr(net.pre(1, 2))
    b + w_11*x_12 + w_12*x_13 + w_21*x_22 + w_22*x_23
    """
    if not (isinstance(shape, tuple | list) and len(shape) == 2 and
            isinstance(kernel, tuple | list) and len(kernel) == 2):
        raise GraphError("conv2d takes shape=(rows, columns) and kernel=(rows, columns)")
    return Conv(tuple(shape), tuple(kernel), activation, outputs, output_activation, loss, bias,
                title)

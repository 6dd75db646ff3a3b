"""Convolutions with a shared kernel (stride 1, valid padding), an activation and a dense head::

    z_i = Σ_k w_k x_{i+k−1} + b      a_i = f(z_i)      ŷ = g(Σ_i v_i a_i + c)

(a cross-correlation, as deep-learning texts and torch's conv1d compute it). In two dimensions
z_{ij} = Σ_{p,q} w_{pq} x_{i+p−1, j+q−1} + b. δ_i = ∂L/∂z_i is the δ the derivation names.

With C_in input channels and C_out kernels (filters) every name carries its channels, as
textbooks write them: z_{m,i} = Σ_ℓ Σ_k w_{m,ℓ,k} x_{ℓ,i+k−1} + b_m, a_{m,i} = f(z_{m,i}), and
the head reads every a_{m,i} (v_{m,i}). With one channel each, the names are the ones above.

>>> import symbackprop as sb
>>> net = sb.conv1d(4, 3)
>>> net.expr(net.pre(2))
b + w_1*x_2 + w_2*x_3 + w_3*x_4
>>> net = sb.conv1d(4, 2, in_channels=2, out_channels=3)
>>> net.expr(net.pre(3, 1))
b_3 + w_3,1,1*x_1,1 + w_3,1,2*x_1,2 + w_3,2,1*x_2,1 + w_3,2,2*x_2,2
"""

from __future__ import annotations

import itertools
import math

import sympy as sp

from ..core import functions
from ..core.graph import GraphError, product
from .base import Model, check_loss, choice, plural, positive, sub

__all__ = ["Conv", "conv1d", "conv2d"]

#: products w·x in all z entries; the largest single-channel spec (32×32, kernel 8×8) has 40 000
MAX_PRODUCTS = 100_000


class Conv(Model):
    """A 1-D or 2-D convolution with its head. Positions are tuples (i,) or (i, j), 1-based."""

    def __init__(self, shape: tuple[int, ...], kernel: tuple[int, ...], activation: str,
                 outputs: int, output_activation: str, loss: str, bias: bool,
                 title: str | None, in_channels: int = 1, out_channels: int = 1) -> None:
        self.shape = tuple(positive(s, "the input length", 1024) for s in shape)
        self.kernel = tuple(positive(k, "the kernel size", 64) for k in kernel)
        if any(k > s for k, s in zip(self.kernel, self.shape, strict=True)):
            raise GraphError(f"the kernel {self.kernel} is larger than the input {self.shape}")
        self.n_out = positive(outputs, "the number of outputs")
        self.c_in = positive(in_channels, "the number of input channels", 16)
        self.c_out = positive(out_channels, "the number of output channels", 16)
        # one channel each keeps the single-channel names (x_i, w_k, b); else every name
        # carries its channels (x_{ℓ,i}, w_{m,ℓ,k}, b_m), as the general form prints them
        self.channels = self.c_in > 1 or self.c_out > 1
        self.out_shape = tuple(s - k + 1 for s, k in zip(self.shape, self.kernel, strict=True))
        # every z entry is C_in·|kernel| products: bound the scalar graph before it is built
        work = math.prod(self.out_shape) * self.c_out * self.c_in * math.prod(self.kernel)
        if work > MAX_PRODUCTS:
            raise GraphError(f"the convolution has {work} products w·x; the limit is "
                             f"{MAX_PRODUCTS} (use a smaller input, kernel or fewer channels)")
        choice(activation, "activation", tuple(functions.ACTIVATIONS))
        choice(output_activation, "output activation", functions.LAYER_ACTIVATIONS)
        check_loss(loss, output_activation)
        dims, kernel = "×".join(map(str, self.shape)), "×".join(map(str, self.kernel))
        inputs = plural(self.shape[0], "input") if len(self.shape) == 1 else f"{dims} input"
        chans = (f", {plural(self.c_in, 'input channel')} and {plural(self.c_out, 'kernel')}"
                 if self.channels else "")
        super().__init__(title or f"{len(self.shape)}-D convolution: {inputs}, kernel {kernel}"
                         + chans)
        if not title:
            self.heading = ("conv", {"dims": len(self.shape), "shape": list(self.shape),
                                     "kernel": list(self.kernel), "inputs": self.shape[0],
                                     "channels": self.channels, "c_in": self.c_in,
                                     "c_out": self.c_out})
        self.activation, self.output_activation, self.loss_name = (
            activation, output_activation, loss)
        self.has_bias = bool(bias)
        self._sym: dict[tuple, sp.Symbol] = {}
        self._build()

    @staticmethod
    def _positions(shape) -> list[tuple[int, ...]]:
        return list(itertools.product(*[range(1, s + 1) for s in shape]))

    def _name(self, stem: str, *ix: int) -> tuple[str, str]:
        return sub(stem, *ix, sep=self.channels)

    def _build(self) -> None:
        ch = self.channels
        # keys of the convolution part: channel indices first, only in the channel form
        cin = [(c,) for c in range(1, self.c_in + 1)] if ch else [()]
        cout = [(o,) for o in range(1, self.c_out + 1)] if ch else [()]
        for c in cin:
            for pos in self._positions(self.shape):
                self._sym["x", *c, *pos] = self.add(self.input, *self._name("x", *c, *pos))
        single = self.n_out == 1
        for k in range(1, self.n_out + 1):
            self._sym[("y",) if single else ("y", k)] = self.add(
                self.target, *(("y", "y") if single else sub("y", k)))
        for o in cout:
            for c in cin:
                for pos in self._positions(self.kernel):
                    self._sym["w", *o, *c, *pos] = self.add(
                        self.parameter, *self._name("w", *o, *c, *pos))
        if self.has_bias:
            for o in cout:
                self._sym["b", *o] = self.add(self.parameter, *(sub("b", *o) if ch else
                                                                  ("b", "b")))
        feats = [(*o, *pos) for o in cout for pos in self._positions(self.out_shape)]
        sep = not single or ch
        for k in range(1, self.n_out + 1):
            for pos in feats:
                key, tex = sub("v", *(pos if single else (k, *pos)), sep=sep)
                self._sym[("v", *pos) if single else ("v", k, *pos)] = self.add(
                    self.parameter, key, tex)
        if self.has_bias:
            for k in range(1, self.n_out + 1):
                self._sym[("c",) if single else ("c", k)] = self.add(
                    self.parameter, *(("c", "c") if single else sub("c", k)))
        acts = []
        for o in cout:
            for pos in self._positions(self.out_shape):
                terms = [product(self._sym["w", *o, *c, *off], self._sym[
                    "x", *c, *(p + d - 1 for p, d in zip(pos, off, strict=True))])
                    for c in cin for off in self._positions(self.kernel)]
                if self.has_bias:
                    terms.append(self._sym["b", *o])
                z = self.add(self.node, *self._name("z", *o, *pos), sp.Add(*terms))
                self._sym["z", *o, *pos] = z
                key, tex = self._name("delta", *o, *pos)
                self.name_delta(z, key, tex.replace("delta", r"\delta", 1))
                a = functions.activation(self.activation, [z])[0]
                acts.append(self.add(self.node, *self._name("a", *o, *pos), a))
                self._sym["a", *o, *pos] = acts[-1]
        pres = []
        for k in range(1, self.n_out + 1):
            terms = [product(self._sym[("v", *pos) if single else ("v", k, *pos)], a)
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
        """The input at a position; with channels, x(c, i) (x(c, i, j) in 2-D)."""
        return self._get("x", *pos)

    def w(self, *pos: int) -> sp.Symbol:
        """The kernel entry w_k (w_{pq} in 2-D); with channels, w(o, c, k)."""
        return self._get("w", *pos)

    def pre(self, *pos: int) -> sp.Symbol:
        """z_i (z_{ij}), the convolution's output before the activation; with channels,
        pre(o, i)."""
        return self._get("z", *pos)

    def feature(self, *pos: int) -> sp.Symbol:
        """a_i = f(z_i); with channels, feature(o, i)."""
        return self._get("a", *pos)


def conv1d(length: int, kernel: int, activation: str = "relu", outputs: int = 1,
           output_activation: str = "identity", loss: str = "mse", bias: bool = True,
           title: str | None = None, in_channels: int = 1, out_channels: int = 1) -> Conv:
    """A 1-D convolution over ``length`` inputs with a ``kernel``-tap shared kernel and bias,
    an activation, and a dense head to ``outputs`` units. ``in_channels`` and
    ``out_channels`` give C_in input channels and C_out kernels (one bias each).

    >>> net = conv1d(5, 2, activation="tanh")
    >>> [p.name for p in net.parameters][:3]
    ['w_1', 'w_2', 'b']
    >>> [p.name for p in conv1d(3, 2, in_channels=2, out_channels=2).parameters][:3]
    ['w_1,1,1', 'w_1,1,2', 'w_1,2,1']
    """
    return Conv((length,), (kernel,), activation, outputs, output_activation, loss, bias, title,
                in_channels, out_channels)


def conv2d(shape: tuple[int, int], kernel: tuple[int, int], activation: str = "relu",
           outputs: int = 1, output_activation: str = "identity", loss: str = "mse",
           bias: bool = True, title: str | None = None, in_channels: int = 1,
           out_channels: int = 1) -> Conv:
    """A small 2-D convolution: input ``shape`` (rows, columns), ``kernel`` (rows, columns),
    with ``in_channels`` input channels and ``out_channels`` kernels as for :func:`conv1d`.

    >>> net = conv2d((3, 3), (2, 2))
    >>> net.expr(net.pre(1, 2))
    b + w_11*x_12 + w_12*x_13 + w_21*x_22 + w_22*x_23
    """
    if not (isinstance(shape, tuple | list) and len(shape) == 2 and
            isinstance(kernel, tuple | list) and len(kernel) == 2):
        raise GraphError("conv2d takes shape=(rows, columns) and kernel=(rows, columns)")
    return Conv(tuple(shape), tuple(kernel), activation, outputs, output_activation, loss, bias,
                title, in_channels, out_channels)

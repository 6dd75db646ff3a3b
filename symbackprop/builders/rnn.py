"""The Elman RNN unrolled over T steps, named as Goodfellow et al. (ch. 10) write it::

    a_t = b + W h_{t−1} + U x_t      h_t = tanh(a_t)      o_t = c + V h_t      ŷ_t = f(o_t)

with h_0 = 0 and a loss at every step (L = Σ_t L_t) or only at the last. Vectors carry their unit
after the step: h_{t,j} is unit j of h_t. The ``"karpathy"`` notation spells the matrices
W_xh, W_hh, W_hy and the biases b_h, b_y instead.

δ_t = ∂L/∂h_t is the δ the derivation names, so its recursion is BPTT's.

>>> import symbackprop as sb
>>> net = sb.rnn(1, 1, 1, steps=2)
>>> net.expr(net.hidden(2))
tanh(a_2)
>>> net.expr(net.pre(2))
U*x_2 + W*h_1 + b
>>> alt = sb.rnn(2, 2, 1, steps=2, notation="karpathy")
>>> alt.latex_name(alt.recurrent(1, 2))
'(W_{hh})_{12}'
"""

from __future__ import annotations

import sympy as sp

from ..core import functions
from ..core.graph import GraphError, product
from .base import Model, check_loss, choice, plural, positive, sub

__all__ = ["RNN", "rnn", "RNN_NOTATIONS"]

# stem of each matrix / bias: (key stem, LaTeX stem)
RNN_NOTATIONS = {
    "goodfellow": {"U": ("U", "U"), "W": ("W", "W"), "V": ("V", "V"), "b": ("b", "b"),
                   "c": ("c", "c")},
    "karpathy": {"U": ("Wxh", "W_{xh}"), "W": ("Whh", "W_{hh}"), "V": ("Why", "W_{hy}"),
                 "b": ("bh", "b_{h}"), "c": ("by", "b_{y}")},
}


class RNN(Model):
    """An unrolled Elman RNN; ``hidden(t, j)``, ``pre(t, j)``, ``output(t, k)`` … name its symbols."""

    def __init__(self, inputs: int, hidden: int, outputs: int, steps: int,
                 output_activation: str = "identity", loss: str = "mse",
                 every_step: bool = True, bias: bool = True, notation: str = "goodfellow",
                 title: str | None = None) -> None:
        self.n_in = positive(inputs, "the input size")
        self.n_h = positive(hidden, "the hidden size")
        self.n_out = positive(outputs, "the output size")
        self.steps = positive(steps, "the number of steps", 256)
        choice(output_activation, "output activation", functions.LAYER_ACTIVATIONS)
        check_loss(loss, output_activation)
        choice(notation, "RNN notation", tuple(RNN_NOTATIONS))
        super().__init__(title or f"Elman RNN over {plural(steps, 'step')}: "
                         f"{plural(inputs, 'input')}, {plural(hidden, 'hidden unit')}, "
                         f"{plural(outputs, 'output')}")
        if not title:
            self.heading = ("rnn", {"steps": self.steps, "inputs": self.n_in,
                                    "hidden": self.n_h, "outputs": self.n_out})
        self.output_activation, self.loss_name = output_activation, loss
        self.every_step, self.has_bias, self.notation = bool(every_step), bool(bias), notation
        self._sym: dict[tuple, sp.Symbol] = {}
        self._build()

    # -- naming ---------------------------------------------------------------------------------
    def _matrix(self, which: str, rows: int, cols: int, r: int, c: int) -> tuple[str, str]:
        key, tex = RNN_NOTATIONS[self.notation][which]
        if rows == cols == 1:
            return key, tex
        ix = f"{r}{c}" if max(r, c) < 10 else f"{r},{c}"
        wrapped = f"({tex})" if "_" in tex else tex
        return f"{key}_{ix}", f"{wrapped}_{{{ix}}}"

    def _vector(self, which: str, size: int, j: int) -> tuple[str, str]:
        key, tex = RNN_NOTATIONS[self.notation][which]
        if size == 1:
            return key, tex
        wrapped = f"({tex})" if "_" in tex else tex
        return f"{key}_{j}", f"{wrapped}_{{{j}}}"

    @staticmethod
    def _at(stem: str, tex: str, t: int, j: int, size: int) -> tuple[str, str]:
        key, _ = sub(stem, t, j, sep=True) if size > 1 else sub(stem, t)
        return key, (f"{tex}_{{{t},{j}}}" if size > 1 else f"{tex}_{{{t}}}")

    # -- construction ---------------------------------------------------------------------------
    def _build(self) -> None:
        T, n_in, n_h, n_out = self.steps, self.n_in, self.n_h, self.n_out
        loss_steps = range(1, T + 1) if self.every_step else [T]
        for t in range(1, T + 1):
            for i in range(1, n_in + 1):
                self._sym["x", t, i] = self.add(self.input, *self._at("x", "x", t, i, n_in))
        for t in loss_steps:
            for k in range(1, n_out + 1):
                self._sym["y", t, k] = self.add(self.target, *self._at("y", "y", t, k, n_out))
        for which, rows, cols in (("U", n_h, n_in), ("W", n_h, n_h), ("V", n_out, n_h)):
            for r in range(1, rows + 1):
                for c in range(1, cols + 1):
                    self._sym[which, r, c] = self.add(
                        self.parameter, *self._matrix(which, rows, cols, r, c))
        if self.has_bias:
            for which, size in (("b", n_h), ("c", n_out)):
                for j in range(1, size + 1):
                    self._sym[which, j] = self.add(self.parameter, *self._vector(which, size, j))
        step_losses = []
        for t in range(1, T + 1):
            hs = []
            for j in range(1, n_h + 1):
                terms = [self._sym["b", j]] if self.has_bias else []
                if t > 1:  # h_0 = 0
                    terms += [product(self._sym["W", j, k], self._sym["h", t - 1, k])
                              for k in range(1, n_h + 1)]
                terms += [product(self._sym["U", j, i], self._sym["x", t, i])
                          for i in range(1, n_in + 1)]
                a = self.add(self.node, *self._at("a", "a", t, j, n_h), sp.Add(*terms))
                self._sym["a", t, j] = a
                hs.append(self.add(self.node, *self._at("h", "h", t, j, n_h), functions.tanh(a)))
                self._sym["h", t, j] = hs[-1]
                self.name_delta(hs[-1], *self._at("delta", r"\delta", t, j, n_h))
            if t not in loss_steps:
                continue
            os_ = []
            for k in range(1, n_out + 1):
                terms = [self._sym["c", k]] if self.has_bias else []
                terms += [product(self._sym["V", k, j], hs[j - 1]) for j in range(1, n_h + 1)]
                os_.append(self.add(self.node, *self._at("o", "o", t, k, n_out), sp.Add(*terms)))
                self._sym["o", t, k] = os_[-1]
                self.name_delta(os_[-1], *self._at("delta_o", r"\delta^{o}", t, k, n_out))
            yhats = functions.activation(self.output_activation, os_)
            outs = []
            for k, e in enumerate(yhats, start=1):
                key, tex = self._at("yhat", r"\hat{y}", t, k, n_out)
                outs.append(self.add(self.node, key, tex, e))
                self._sym["yhat", t, k] = outs[-1]
            targets = [self._sym["y", t, k] for k in range(1, n_out + 1)]
            if self.output_activation == "softmax" and self.loss_name == "cross_entropy":
                self.targets_sum_to_one(targets)
            step_loss = functions.loss(self.loss_name, targets, outs)
            if len(loss_steps) > 1:
                step_losses.append(self.add(self.node, f"L_{t}", f"L_{{{t}}}", step_loss))
            else:
                step_losses.append(step_loss)
        self.add(self.loss, "L", "L", sp.Add(*step_losses))

    # -- structure ------------------------------------------------------------------------------
    def _get(self, *key) -> sp.Symbol:
        try:
            return self._sym[key]
        except KeyError:
            raise GraphError(f"no {key[0]}{list(key[1:])} in a {self.title}") from None

    def hidden(self, t: int, j: int = 1) -> sp.Symbol:
        """h_{t,j}, unit j of the hidden state after step t."""
        return self._get("h", t, j)

    def pre(self, t: int, j: int = 1) -> sp.Symbol:
        """a_{t,j}, the pre-activation of hidden unit j at step t."""
        return self._get("a", t, j)

    def output(self, t: int, k: int = 1) -> sp.Symbol:
        """ŷ_{t,k}."""
        return self._get("yhat", t, k)

    def input_weight(self, j: int, i: int) -> sp.Symbol:
        """U_{ji} (W_xh): input unit i to hidden unit j."""
        return self._get("U", j, i)

    def recurrent(self, j: int, k: int) -> sp.Symbol:
        """W_{jk} (W_hh): hidden unit k at t−1 to hidden unit j at t."""
        return self._get("W", j, k)

    def output_weight(self, k: int, j: int) -> sp.Symbol:
        """V_{kj} (W_hy): hidden unit j to output k."""
        return self._get("V", k, j)

    def matrices(self) -> dict[str, list[list[sp.Symbol]]]:
        """Each weight matrix (U, W, V) and bias (b, c) as rows of symbols, for evaluators."""
        out: dict[str, list[list[sp.Symbol]]] = {}
        for which, rows, cols in (("U", self.n_h, self.n_in), ("W", self.n_h, self.n_h),
                                  ("V", self.n_out, self.n_h)):
            out[which] = [[self._sym[which, r, c] for c in range(1, cols + 1)]
                          for r in range(1, rows + 1)]
        if self.has_bias:
            out["b"] = [[self._sym["b", j]] for j in range(1, self.n_h + 1)]
            out["c"] = [[self._sym["c", k]] for k in range(1, self.n_out + 1)]
        return out


def rnn(inputs: int, hidden: int, outputs: int, steps: int,
        output_activation: str = "identity", loss: str = "mse", every_step: bool = True,
        bias: bool = True, notation: str = "goodfellow", title: str | None = None) -> RNN:
    """An Elman RNN (tanh) with ``inputs``, ``hidden`` and ``outputs`` units, unrolled ``steps``.

    ``every_step``: a loss at every step (L = Σ_t L_t), else only at the last step.

    >>> net = rnn(1, 2, 1, steps=3, every_step=False)
    >>> [p.name for p in net.parameters]
    ['U_11', 'U_21', 'W_11', 'W_12', 'W_21', 'W_22', 'V_11', 'V_12', 'b_1', 'b_2', 'c']
    """
    return RNN(inputs, hidden, outputs, steps, output_activation, loss, every_step, bias,
               notation, title)

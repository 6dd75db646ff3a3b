"""One scaled dot-product attention head with a loss on its output::

    s_j = q·k_j / √d      α_j = softmax_j(s)      o = Σ_j α_j v_j      L = loss(y, o)

q, the keys k_j and the values v_j are the parameters (their gradients are what the derivation
shows); ``projections=True`` instead computes them from inputs, q = W_Q x and k_j = W_K x_j,
v_j = W_V x_j, with the three matrices as parameters. k_{j,i} is entry i of key j.
g_j = ∂L/∂α_j is the δ of α_j, so ∂L/∂s_j = α_j (g_j − Σ_i α_i g_i) appears by name.

>>> import symbackprop as sb
>>> net = sb.attention(keys=2, d=2)
>>> net.expr(net.score(1))
sqrt(2)*(k_1,1*q_1 + k_1,2*q_2)/2
"""

from __future__ import annotations

import sympy as sp

from ..core import functions
from ..core.graph import GraphError
from .base import Model, check_loss, plural, positive, sub

__all__ = ["Attention", "attention"]

_LOSSES = ("mse", "sse", "half_sse")


class Attention(Model):
    """A single attention head; ``query(i)``, ``key(j, i)``, ``value(j, i)``, ``weight(j)`` …"""

    def __init__(self, keys: int, d: int, d_v: int | None, loss: str, projections: bool,
                 d_in: int | None, title: str | None) -> None:
        self.n = positive(keys, "the number of keys", 256)
        self.d = positive(d, "the key size d", 256)
        self.d_v = positive(d_v if d_v is not None else d, "the value size d_v", 256)
        # o = Σ α_j v_j ends in no activation
        self.loss_name = check_loss(loss, None, _LOSSES, "attention loss")
        self.projections = bool(projections)
        self.d_in = positive(d_in if d_in is not None else d, "the input size")
        super().__init__(title or f"Attention over {plural(self.n, 'key')}, d = {self.d}")
        if not title:
            self.heading = ("attention", {"keys": self.n, "d": self.d})
        self._sym: dict[tuple, sp.Symbol] = {}
        self._build()

    def _vec(self, stem: str, j: int | None, i: int, size: int) -> tuple[str, str]:
        if j is None:
            return sub(stem, i) if size > 1 else (stem, stem)
        return sub(stem, j, i, sep=True) if size > 1 else sub(stem, j)

    def _build(self) -> None:
        n, d, d_v = self.n, self.d, self.d_v
        for i in range(1, d_v + 1):
            self._sym["y", i] = self.add(self.target, *self._vec("y", None, i, d_v))
        if self.projections:
            self._project()
        else:
            for i in range(1, d + 1):
                self._sym["q", i] = self.add(self.parameter, *self._vec("q", None, i, d))
            for j in range(1, n + 1):
                for i in range(1, d + 1):
                    self._sym["k", j, i] = self.add(self.parameter, *self._vec("k", j, i, d))
            for j in range(1, n + 1):
                for i in range(1, d_v + 1):
                    self._sym["v", j, i] = self.add(self.parameter, *self._vec("v", j, i, d_v))
        scores = []
        for j in range(1, n + 1):
            dot = sp.Add(*[self._sym["q", i] * self._sym["k", j, i] for i in range(1, d + 1)])
            s = self.add(self.node, *sub("s", j), dot / sp.sqrt(d))
            scores.append(s)
            self._sym["s", j] = s
        for j, e in enumerate(functions.activation("softmax", scores), start=1):
            key, _ = sub("alpha", j)
            alpha = self.add(self.node, key, rf"\alpha_{{{j}}}", e)
            self._sym["alpha", j] = alpha
            self.name_delta(alpha, f"g_{j}", f"g_{{{j}}}")
        outs = []
        for i in range(1, d_v + 1):
            mix = sp.Add(*[self._sym["alpha", j] * self._sym["v", j, i] for j in range(1, n + 1)])
            outs.append(self.add(self.node, *self._vec("o", None, i, d_v), mix))
            self._sym["o", i] = outs[-1]
        for s in scores:
            self.name_delta(s, f"delta_{s.name}", rf"\delta_{{{self.latex_name(s)}}}")
        targets = [self._sym["y", i] for i in range(1, d_v + 1)]
        self.add(self.loss, "L", "L", functions.loss(self.loss_name, targets, outs))

    def _project(self) -> None:
        n, d, d_v, m = self.n, self.d, self.d_v, self.d_in
        for i in range(1, m + 1):
            self._sym["x", i] = self.add(self.input, *self._vec("x", None, i, m))
        for j in range(1, n + 1):
            for i in range(1, m + 1):
                self._sym["xc", j, i] = self.add(self.input, *self._vec("c", j, i, m))
        for which, rows in (("Q", d), ("K", d), ("V", d_v)):
            for r in range(1, rows + 1):
                for c in range(1, m + 1):
                    key, tex = sub(f"W{which}", r, c)
                    self._sym[which, r, c] = self.add(
                        self.parameter, key, tex.replace(f"W{which}_", f"(W_{{{which}}})_", 1))
        for i in range(1, d + 1):
            e = sp.Add(*[self._sym["Q", i, c] * self._sym["x", c] for c in range(1, m + 1)])
            self._sym["q", i] = self.add(self.node, *self._vec("q", None, i, d), e)
        for which, stem, size in (("K", "k", d), ("V", "v", d_v)):
            for j in range(1, n + 1):
                for i in range(1, size + 1):
                    e = sp.Add(*[self._sym[which, i, c] * self._sym["xc", j, c]
                                 for c in range(1, m + 1)])
                    self._sym[stem, j, i] = self.add(self.node, *self._vec(stem, j, i, size), e)

    def _get(self, *key) -> sp.Symbol:
        try:
            return self._sym[key]
        except KeyError:
            raise GraphError(f"no {key[0]}{list(key[1:])} in a {self.title}") from None

    def query(self, i: int = 1) -> sp.Symbol:
        return self._get("q", i)

    def key(self, j: int, i: int = 1) -> sp.Symbol:
        return self._get("k", j, i)

    def value(self, j: int, i: int = 1) -> sp.Symbol:
        return self._get("v", j, i)

    def score(self, j: int) -> sp.Symbol:
        """s_j = q·k_j/√d."""
        return self._get("s", j)

    def weight(self, j: int) -> sp.Symbol:
        """α_j, the attention weight of key j."""
        return self._get("alpha", j)

    def output(self, i: int = 1) -> sp.Symbol:
        return self._get("o", i)


def attention(keys: int, d: int, d_v: int | None = None, loss: str = "mse",
              projections: bool = False, d_in: int | None = None,
              title: str | None = None) -> Attention:
    """One scaled dot-product head over ``keys`` keys of size ``d`` (values of size ``d_v``).

    >>> net = attention(keys=3, d=1)
    >>> [p.name for p in net.parameters]
    ['q', 'k_1', 'k_2', 'k_3', 'v_1', 'v_2', 'v_3']
    """
    return Attention(keys, d, d_v, loss, projections, d_in, title)

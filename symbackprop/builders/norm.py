"""Networks composed of blocks: dense layers, layer norm, batch norm and residual connections.

Each block l maps the previous block's outputs (per sample s of a batch of m) to its own, with
Ng's layer-and-sample superscripts a^{[l](s)}_j (keys a_j^[l](s))::

    dense       z_j = Σ_i W_{ji} a_i + b_j,  a_j = f(z_j)
    layer norm  μ = (1/n) Σ_j a_j,  σ² = (1/n) Σ_j (a_j − μ)²,  x̂_j = (a_j − μ)/√(σ² + ε),
                x̃_j = γ_j x̂_j + β_j                      (over the features of one sample)
    batch norm  the same over the m samples of one feature j, with γ_j, β_j
    residual    r_j = a_j + F(a)_j                        (F: the blocks it wraps)

The loss averages the samples: L = (1/m) Σ_s loss(y^{(s)}, output^{(s)}). ε is the constant
10⁻⁵ (torch's default), printed ε.

>>> import symbackprop as sb
>>> net = sb.network(2, [sb.dense(2, "tanh"), sb.layer_norm(), sb.dense(1, "identity")])
>>> [p.name for p in net.parameters][4:9]
['b_1^[1]', 'b_2^[1]', 'gamma_1^[2]', 'gamma_2^[2]', 'beta_1^[2]']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import mpmath
import sympy as sp
from sympy.core.numbers import NumberSymbol

from ..core import functions
from ..core.graph import GraphError, product
from .base import Model, check_loss, choice, index, plural, positive

__all__ = ["Network", "network", "dense", "layer_norm", "batch_norm", "residual", "Block"]


class Epsilon(NumberSymbol):
    r"""The constant ε = 10⁻⁵ under a normaliser's square root: printed ε, evaluated 1e-5.

    A number, not a leaf, so that it is never sampled negative and needs no value.

    >>> sp.latex(EPSILON), float(EPSILON)
    ('\\epsilon', 1e-05)
    """

    is_real = True
    is_positive = True
    is_number = True
    __slots__ = ()

    def _as_mpf_val(self, prec):
        return mpmath.mpf("1e-5")._mpf_

    def approximation_interval(self, number_cls):
        return None

    def _latex(self, printer) -> str:
        return r"\epsilon"

    def _sympystr(self, printer) -> str:
        return "eps"


EPSILON = Epsilon()


@dataclass(frozen=True)
class Dense:
    units: int
    activation: str = "identity"
    bias: bool = True


@dataclass(frozen=True)
class LayerNorm:
    affine: bool = True


@dataclass(frozen=True)
class BatchNorm:
    affine: bool = True


@dataclass(frozen=True)
class Residual:
    blocks: tuple


Block = Dense | LayerNorm | BatchNorm | Residual


def dense(units: int, activation: str = "identity", bias: bool = True) -> Dense:
    """A fully connected layer of ``units`` units: z = W a + b, a = f(z).

    >>> dense(3, "tanh")
    Dense(units=3, activation='tanh', bias=True)
    """
    positive(units, "the number of units")
    choice(activation, "activation", functions.LAYER_ACTIVATIONS)
    return Dense(units, activation, bool(bias))


def layer_norm(affine: bool = True) -> LayerNorm:
    """Normalise each sample over its features, then scale by γ_j and shift by β_j."""
    return LayerNorm(bool(affine))


def batch_norm(affine: bool = True) -> BatchNorm:
    """Normalise each feature over the batch (training mode: the batch's own mean and variance)."""
    return BatchNorm(bool(affine))


def residual(*blocks: Block) -> Residual:
    """A skip connection around ``blocks``: r = a + F(a); F must keep the width.

    >>> residual(dense(2, "tanh"))
    Residual(blocks=(Dense(units=2, activation='tanh', bias=True),))
    """
    if len(blocks) == 1 and isinstance(blocks[0], list | tuple):
        blocks = tuple(blocks[0])
    if not blocks:
        raise GraphError("a residual block wraps at least one block")
    return Residual(tuple(blocks))


class Network(Model):
    """A network of blocks over a batch of ``batch`` samples."""

    def __init__(self, inputs: int, blocks: Sequence[Block], loss: str, batch: int,
                 title: str | None) -> None:
        self.n_in = positive(inputs, "the input size")
        self.batch = positive(batch, "the batch size", 256)
        if not blocks:
            raise GraphError("a network needs at least one block")
        self.blocks = tuple(blocks)
        last = self.blocks[-1]
        # only a dense block ends in an activation; a norm's or a residual sum's outputs are
        # any real numbers
        self.loss_name = check_loss(loss, last.activation if isinstance(last, Dense) else None)
        blocks_text = " → ".join(_describe(b) for b in self.blocks)
        batch_text = f" over a batch of {self.batch}" if self.batch > 1 else ""
        super().__init__(title or f"Network of {plural(self.n_in, 'input')}{batch_text}: "
                         + blocks_text)
        if not title:
            self.heading = ("network", {"inputs": self.n_in, "batch": self.batch,
                                        "blocks": [_outline(b) for b in self.blocks]})
        self._layer = 0
        self.outputs_: list[list[sp.Symbol]] = []
        self._build()

    # -- naming: stem^{[l](s)}_j, keys stem^[l](s)_j ------------------------------------------------
    def _name(self, stem: str, tex: str, l: int | None, s: int | None, *ix: int) -> tuple[str, str]:  # noqa: E741
        sup_key = (f"^[{l}]" if l is not None else "") + (
            f"({s})" if s is not None and self.batch > 1 else "")
        sup_tex = (f"[{l}]" if l is not None else "") + (
            f"({s})" if s is not None and self.batch > 1 else "")
        key = stem + (f"_{index(*ix)}" if ix else "") + (f"^{sup_key[1:]}" if sup_key.startswith(
            "^") else (f"^{sup_key}" if sup_key else ""))
        body = tex + (f"_{{{index(*ix)}}}" if ix else "")
        return key, (body + f"^{{{sup_tex}}}" if sup_tex else body)

    def _build(self) -> None:
        m = self.batch
        acts = [[self.add(self.input, *self._name("x", "x", None, s, i))
                 for i in range(1, self.n_in + 1)] for s in range(1, m + 1)]
        for block in self.blocks:
            acts = self._block(block, acts)
        n_out = len(acts[0])
        targets = [[self.add(self.target, *self._name("y", "y", None, s, k))
                    for k in range(1, n_out + 1)] for s in range(1, m + 1)]
        if self.loss_name == "cross_entropy":  # check_loss saw a softmax dense block last
            for ys in targets:
                self.targets_sum_to_one(ys)
        per_sample = [functions.loss(self.loss_name, ys, outs)
                      for ys, outs in zip(targets, acts, strict=True)]
        self.outputs_ = acts
        self.add(self.loss, "L", "L", sp.Add(*per_sample) / m)

    def _block(self, block: Block, acts: list[list[sp.Symbol]]) -> list[list[sp.Symbol]]:
        if isinstance(block, Residual):
            inner = acts
            for b in block.blocks:
                inner = self._block(b, inner)
            if len(inner[0]) != len(acts[0]):
                raise GraphError(f"a residual block must keep the width: {len(acts[0])} in, "
                                 f"{len(inner[0])} out")
            self._layer += 1
            l = self._layer  # noqa: E741
            return [[self.add(self.node, *self._name("r", "r", l, s, j), a + f)
                     for j, (a, f) in enumerate(zip(xs, fs, strict=True), start=1)]
                    for s, (xs, fs) in enumerate(zip(acts, inner, strict=True), start=1)]
        self._layer += 1
        if isinstance(block, Dense):
            return self._dense(block, acts)
        if isinstance(block, LayerNorm | BatchNorm):
            return self._norm(block, acts)
        raise GraphError(f"not a block: {block!r}")

    def _dense(self, block: Dense, acts):
        l, n_prev = self._layer, len(acts[0])  # noqa: E741
        W = [[self.add(self.parameter, *self._name("W", "W", l, None, j, i))
              for i in range(1, n_prev + 1)] for j in range(1, block.units + 1)]
        b = [self.add(self.parameter, *self._name("b", "b", l, None, j))
             for j in range(1, block.units + 1)] if block.bias else None
        out = []
        for s, xs in enumerate(acts, start=1):
            zs = []
            for j in range(1, block.units + 1):
                e = sp.Add(*[product(W[j - 1][i], xs[i]) for i in range(n_prev)])
                z = self.add(self.node, *self._name("z", "z", l, s, j),
                             e + b[j - 1] if b else e)
                key, tex = self._name("delta", r"\delta", l, s, j)
                self.name_delta(z, key, tex)
                zs.append(z)
            out.append([self.add(self.node, *self._name("a", "a", l, s, j), e) for j, e in
                        enumerate(functions.activation(block.activation, zs), start=1)])
        return out

    def _norm(self, block, acts):
        l, n, m = self._layer, len(acts[0]), len(acts)  # noqa: E741
        eps = EPSILON
        if isinstance(block, BatchNorm) and m < 2:
            raise GraphError("batch norm needs a batch of at least 2 samples (batch=2)")
        gamma = beta = None
        if block.affine:
            gamma = [self.add(self.parameter, *self._name("gamma", r"\gamma", l, None, j))
                     for j in range(1, n + 1)]
            beta = [self.add(self.parameter, *self._name("beta", r"\beta", l, None, j))
                    for j in range(1, n + 1)]
        # groups: the sets normalised together, as (sample, feature) pairs
        if isinstance(block, LayerNorm):
            groups = [[(s, j) for j in range(n)] for s in range(m)]
            label = [(None, s + 1) for s in range(m)]
        else:
            groups = [[(s, j) for s in range(m)] for j in range(n)]
            label = [(j + 1, None) for j in range(n)]
        xhat: dict[tuple[int, int], sp.Symbol] = {}
        for group, (j_ix, s_ix) in zip(groups, label, strict=True):
            size = len(group)
            ix = (j_ix,) if j_ix is not None else ()
            mu = self.add(self.node, *self._name("mu", r"\mu", l, s_ix, *ix),
                          sp.Add(*[acts[s][j] for s, j in group]) / size)
            var_key, var_tex = self._name("var", r"\sigma", l, s_ix, *ix)
            var = self.add(self.node, var_key, rf"\left({var_tex}\right)^{{2}}",
                           sp.Add(*[(acts[s][j] - mu) ** 2 for s, j in group]) / size)
            # ∂L/∂μ and ∂L/∂σ² named, as Ioffe and Szegedy write the norm's backward pass: the
            # δ below the norm is then three short terms, not μ and σ² differentiated inline
            mu_tex = self._name("mu", r"\mu", l, s_ix, *ix)[1]
            self.name_delta(mu, self._name("dmu", "", l, s_ix, *ix)[0], rf"\delta_{{{mu_tex}}}")
            self.name_delta(var, self._name("dvar", "", l, s_ix, *ix)[0],
                            rf"\delta_{{\left({var_tex}\right)^{{2}}}}")
            for s, j in group:
                xhat[s, j] = self.add(self.node, *self._name("xhat", r"\hat{x}", l, s + 1, j + 1),
                                      (acts[s][j] - mu) / sp.sqrt(var + eps))
                # g = ∂L/∂x̂, as the general form names it: the δ of the layer below then
                # reads in g, not in the δs above the norm expanded through μ and σ² (1,000 pt)
                self.name_delta(xhat[s, j], *self._name("g", "g", l, s + 1, j + 1))
        out = []
        for s in range(m):
            row = []
            for j in range(n):
                e = gamma[j] * xhat[s, j] + beta[j] if block.affine else xhat[s, j]
                row.append(self.add(self.node, *self._name("xt", r"\tilde{x}", l, s + 1, j + 1),
                                    e))
                if block.affine:  # g̃ = ∂L/∂x̃, named as the general form names it
                    self.name_delta(row[-1], *self._name("gt", r"\tilde{g}", l, s + 1, j + 1))
            out.append(row)
        return out

    @property
    def outputs(self) -> list[sp.Symbol]:
        """The last block's outputs, sample by sample."""
        return [a for row in self.outputs_ for a in row]


def _describe(block: Block) -> str:
    if isinstance(block, Dense):
        return f"dense {block.units}" + (
            f" ({block.activation})" if block.activation != "identity" else "")
    if isinstance(block, Residual):
        return "residual(" + ", ".join(_describe(b) for b in block.blocks) + ")"
    return "layer norm" if isinstance(block, LayerNorm) else "batch norm"


def _outline(block: Block) -> dict:
    """A block as the document's title macro reads it (heading_network in _prose.j2)."""
    if isinstance(block, Dense):
        return {"kind": "dense", "units": block.units, "activation": block.activation}
    if isinstance(block, Residual):
        return {"kind": "residual", "blocks": [_outline(b) for b in block.blocks]}
    return {"kind": "layer_norm" if isinstance(block, LayerNorm) else "batch_norm"}


def network(inputs: int, blocks: Sequence[Block], loss: str = "mse", batch: int = 1,
            title: str | None = None) -> Network:
    """Compose ``blocks`` (dense, layer_norm, batch_norm, residual) after ``inputs`` inputs.

    >>> net = network(2, [dense(2), batch_norm(), dense(1)], batch=2)
    >>> net.symbol("var_1^[2]").name
    'var_1^[2]'
    """
    return Network(inputs, blocks, loss, batch, title)

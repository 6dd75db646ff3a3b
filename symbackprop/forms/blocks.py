"""The general form of a block network (:func:`symbackprop.network`): dense layers, layer norm,
batch norm and residual connections over a batch of m samples, with every width symbolic.

Every quantity carries the sample index s first and a feature index second, so the block
structure is written once for any widths n_0, n_l and any batch m::

    dense       z^{[l]}_{s,j} = b^{[l]}_j + Σ_i W^{[l]}_{j,i} a^{[l−1]}_{s,i},
                a^{[l]}_{s,j} = f(z^{[l]}_{s,j})
    layer norm  μ_s = (1/n) Σ_j a_{s,j},  c_{s,j} = a_{s,j} − μ_s,  σ²_s = (1/n) Σ_j c²_{s,j},
                σ_s = √(σ²_s + ε),  x̂_{s,j} = c_{s,j}/σ_s,  x̃_{s,j} = γ_j x̂_{s,j} + β_j
    batch norm  the same over the samples: μ_j = (1/m) Σ_s a_{s,j}, …, σ_j
    residual    r_{s,j} = a_{s,j} + F(a)_{s,j}
    loss        L = (1/m) Σ_s Σ_k loss(y_{s,k}, out_{s,k})

δ^{[l]} = ∂L/∂z^{[l]} of every dense layer and g^{[l]} = ∂L/∂x̂^{[l]} of every norm are the
named δs; the centred values sum to zero over the axis they were centred on (Σ_j x̂_{s,j} = 0
in a layer norm, Σ_s x̂_{s,j} = 0 in a batch norm), which the derivation uses and the check
against the scalar derivation confirms.

>>> import symbackprop as sb
>>> form = network_form([sb.dense(3, "tanh"), sb.layer_norm(), sb.dense(1)])
>>> sorted(form.sizes)
['m', 'n_0', 'n_1', 'n_3']
>>> print(form.equation("gradient", "W1").latex())
\\frac{\\partial L}{\\partial W^{[1]}_{j,i}} = \\sum_{s=1}^{m} \\delta^{[1]}_{s,j} x_{s,i}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import sympy as sp

from ..builders.norm import EPSILON, network
from ..core import functions
from .general import GeneralForm, Quantity
from .pieces import entry_loss_of, one_hot, pull_in, size_symbol, softmax_output, total, zero_sums

__all__ = ["network_form"]

s_, i_, j_, k_ = sp.symbols("s i j k", integer=True)


class _Layout:
    """Walks the blocks once, as :class:`~symbackprop.builders.norm.Network` does, and records the
    quantities, the names the scalar model gives their entries, and which width is whose."""

    def __init__(self, blocks: Sequence, loss: str) -> None:
        self.m = size_symbol("m")
        self.sizes = {"m": self.m, "n_0": size_symbol("n_0")}
        self.quantities: list[Quantity] = []
        self.keys: dict[str, tuple] = {}  # name -> (stem, layer, sample position, feature positions)
        self.named: list[str] = []
        self.delta_latex: dict[str, str] = {}
        self.centred: dict[str, int] = {}  # centred quantity -> the axis its entries sum to zero on
        self.widths: list[str] = []  # the size name of each dense block, in walk order
        self.layer = 0
        self.has_batch_norm = False
        x = self._add("x", "x", "input", (s_, j_), self.sizes["n_0"], key=("x", None))
        out, width = self._blocks(blocks, x, self.sizes["n_0"])
        self.n_out = width
        y = self._add("y", "y", "target", (s_, j_), width, key=("y", None))
        self.one_hot = None
        last = blocks[-1]
        if type(last).__name__ == "Dense" and last.activation == "softmax" and \
                loss == "cross_entropy":
            self.one_hot = one_hot(y, j_)  # the scalar network's targets are one-hot too
        entry = entry_loss_of(loss, y.at(s_, k_), out.at(s_, k_), width)
        self.loss = Quantity("L", "L", "loss", (), (),
                             total(entry / self.m, (k_, 1, width), (s_, 1, self.m)))

    def _add(self, name, latex, kind, indices, width=None, expr=None, key=None) -> Quantity:
        ranges = tuple((1, self.m) if ix == s_ else (1, width) for ix in indices)
        q = Quantity(name, latex, kind, indices, ranges, expr)
        self.quantities.append(q)
        if key is not None:
            self.keys[name] = key
        return q

    def _blocks(self, blocks, prev: Quantity, width, end_width=None):
        dense = [n for n, b in enumerate(blocks) if type(b).__name__ == "Dense"]
        for n, block in enumerate(blocks):
            forced = end_width if dense and n == dense[-1] else None
            prev, width = self._block(block, prev, width, forced)
        return prev, width

    def _block(self, block, prev: Quantity, width, forced):
        kind = type(block).__name__
        if kind == "Residual":
            inner, _ = self._blocks(block.blocks, prev, width, end_width=width)
            self.layer += 1
            l = self.layer  # noqa: E741
            return self._add(f"r{l}", f"r^{{[{l}]}}", "node", (s_, j_), width,
                             prev.at(s_, j_) + inner.at(s_, j_), ("r", l)), width
        self.layer += 1
        if kind == "Dense":
            return self._dense(block, prev, width, forced)
        return self._norm(block, prev, width, batch=kind == "BatchNorm")

    def _dense(self, block, prev: Quantity, width, forced):
        l = self.layer  # noqa: E741
        if forced is None:
            forced = self.sizes[f"n_{l}"] = size_symbol(f"n_{l}")
        self.widths.append(str(forced))
        W = Quantity(f"W{l}", f"W^{{[{l}]}}", "parameter", (j_, i_), ((1, forced), (1, width)))
        self.quantities.append(W)
        self.keys[W.name] = ("W", l)
        pre = sp.Sum(W.at(j_, i_) * prev.at(s_, i_), (i_, 1, width))
        if block.bias:
            b = self._add(f"b{l}", f"b^{{[{l}]}}", "parameter", (j_,), forced, key=("b", l))
            pre = b.at(j_) + pre
        z = self._add(f"z{l}", f"z^{{[{l}]}}", "node", (s_, j_), forced, pre, ("z", l))
        self.named.append(z.name)
        self.delta_latex[z.name] = rf"\delta^{{[{l}]}}"
        if block.activation == "softmax":  # over the block's units j: e, Z, then a = e/Z
            e, Z, a = softmax_output(z, j_, f"a{l}", f"a^{{[{l}]}}", str(l))
            self.quantities += [e, Z, a]
            self.keys[a.name] = ("a", l)
            return a, forced
        f = functions.ACTIVATIONS[block.activation]
        a = self._add(f"a{l}", f"a^{{[{l}]}}", "node", (s_, j_), forced, f(z.at(s_, j_)),
                      ("a", l))
        return a, forced

    def _norm(self, block, prev: Quantity, width, batch: bool):
        l, m = self.layer, self.m  # noqa: E741
        self.has_batch_norm |= batch
        # the axis normalised over (s in a batch norm, j in a layer norm) and the one kept
        over, kept, size = (s_, j_, m) if batch else (j_, s_, width)
        gamma = beta = None
        if block.affine:
            gamma = self._add(f"gamma{l}", rf"\gamma^{{[{l}]}}", "parameter", (j_,), width,
                              key=("gamma", l))
            beta = self._add(f"beta{l}", rf"\beta^{{[{l}]}}", "parameter", (j_,), width,
                             key=("beta", l))
        mu = self._add(f"mu{l}", rf"\mu^{{[{l}]}}", "node", (kept,), width,
                       sp.Sum(prev.at(s_, j_), (over, 1, size)) / size, ("mu", l))
        c = self._add(f"c{l}", f"c^{{[{l}]}}", "node", (s_, j_), width,
                      prev.at(s_, j_) - mu.at(kept))
        var = self._add(f"var{l}", rf"\left(\sigma^{{[{l}]}}\right)^{{2}}", "node", (kept,),
                        width, sp.Sum(c.at(s_, j_) ** 2, (over, 1, size)) / size, ("var", l))
        sigma = self._add(f"sigma{l}", rf"\sigma^{{[{l}]}}", "node", (kept,), width,
                          sp.sqrt(var.at(kept) + EPSILON))
        xhat = self._add(f"xhat{l}", rf"\hat{{x}}^{{[{l}]}}", "node", (s_, j_), width,
                         c.at(s_, j_) / sigma.at(kept), ("xhat", l))
        self.named.append(xhat.name)
        self.delta_latex[xhat.name] = f"g^{{[{l}]}}"
        position = 0 if batch else 1
        self.centred.update({c.name: position, xhat.name: position})
        out = gamma.at(j_) * xhat.at(s_, j_) + beta.at(j_) if block.affine else xhat.at(s_, j_)
        xt = self._add(f"xt{l}", rf"\tilde{{x}}^{{[{l}]}}", "node", (s_, j_), width, out,
                       ("xt", l))
        if block.affine:
            # g̃ = ∂L/∂x̃ is named too (Ioffe and Szegedy's ∂ℓ/∂y): then ∂L/∂β_j = Σ_s g̃_{s,j}
            # and ∂L/∂γ_j = Σ_s g̃_{s,j} x̂_{s,j} read as one sum over the batch, and g = γ_j g̃
            self.named.append(xt.name)
            self.delta_latex[xt.name] = rf"\tilde{{g}}^{{[{l}]}}"
        return xt, width


def _rebuilt(blocks: Sequence, units: list[int]) -> list:
    """The same blocks with each dense block's width taken in walk order from ``units``."""
    out = []
    for block in blocks:
        kind = type(block).__name__
        if kind == "Dense":
            out.append(dataclasses.replace(block, units=units.pop(0)))
        elif kind == "Residual":
            out.append(dataclasses.replace(block, blocks=tuple(_rebuilt(block.blocks, units))))
        else:
            out.append(block)
    return out


def _sums_to_zero_on(centred: dict[str, int]):
    """Facts: Σ over the centred axis of x̂ (or c) is zero, Σ_j x̂_{s,j} = 0 in a layer norm."""
    def is_zero(summand: sp.Expr, v: sp.Symbol) -> bool:
        hits = [f for f in sp.Mul.make_args(summand) if f.has(v)]
        if len(hits) != 1 or not isinstance(hits[0], sp.Indexed):
            return False
        hit = hits[0]
        axis = centred.get(hit.base.name)
        return axis is not None and hit.indices[axis] == v and not any(
            ix.has(v) for n, ix in enumerate(hit.indices) if n != axis)

    def apply(expr: sp.Expr) -> sp.Expr:
        # factor by factor, so that an activation's (1 − a²) stays outside the norm's terms
        if isinstance(expr, sp.Mul):
            return sp.Mul(*[apply(f) for f in expr.args])
        if not isinstance(expr, sp.Add):
            return expr
        expr = sp.expand(expr, power_base=False, power_exp=False, log=False)
        return zero_sums(sp.Add(*[pull_in(t) for t in sp.Add.make_args(expr)]), is_zero)
    return apply


def network_form(blocks: Sequence, loss: str = "mse") -> GeneralForm:
    """The general form of ``sb.network(n_0, blocks, loss, batch=m)`` for any widths and m.

    The block structure (kinds, activations, residual nesting) is fixed; every width and the
    batch size stay symbols. A dense block that closes a residual takes its input's width.

    >>> import symbackprop as sb
    >>> form = network_form([sb.batch_norm()])  # batch norm of n_0 features
    >>> form.check({"m": 3, "n_0": 2}) < 1e-9
    True
    """
    if loss not in functions.LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of: {', '.join(functions.LOSSES)}")
    layout = _Layout(blocks, loss)
    if loss == "cross_entropy" and layout.one_hot is None:
        raise ValueError("loss 'cross_entropy' needs a softmax dense block last")
    facts = _sums_to_zero_on(layout.centred)
    if layout.one_hot is not None:
        one_hot, zero_sums = layout.one_hot[0], facts
        facts = lambda e: one_hot(zero_sums(e))  # noqa: E731

    def build(sizes):
        units = [int(sizes[w]) for w in layout.widths]
        net = network(int(sizes["n_0"]), _rebuilt(blocks, units), loss, batch=int(sizes["m"]))

        def lookup(name, ix):
            key = layout.keys.get(name)
            if key is None:
                return None
            stem, l = key  # noqa: E741
            q = next(q for q in layout.quantities if q.name == name)
            sample = next((v for v, s in zip(ix, q.indices, strict=True) if s == s_), None)
            feats = [v for v, s in zip(ix, q.indices, strict=True) if s != s_]
            symbol_key = net._name(stem, stem, l, sample, *feats)[0]
            return net.symbol(symbol_key) if symbol_key in net else None
        return net, lookup

    widths = sorted(set(layout.widths))
    checks = [{"m": 2 if layout.has_batch_norm else 1, "n_0": 2, **dict.fromkeys(widths, 2)},
              {"m": 3 if layout.has_batch_norm else 2, "n_0": 3,
               **{w: 3 - n % 2 for n, w in enumerate(widths)}}]
    return GeneralForm("block network", layout.quantities, layout.loss, layout.named,
                       layout.sizes, build, layout.delta_latex,
                       facts=facts, check_sizes=checks,
                       assumptions=[layout.one_hot[1]] if layout.one_hot else ())

"""The MLP builder: a fully connected network as a Graph, named by a notation.

>>> import symbackprop as sb
>>> net = sb.mlp([2, 2, 1], activation="sigmoid", loss="mse", bias=False)
>>> net.weight(2, 1, 1), net.weight(1, 2, 1)
(w5, w3)
>>> net.expr(net.symbol("z1"))
w1*x1 + w3*x2
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from ..core import functions
from ..core.graph import Graph, GraphError, collector_paused, product, sum_of_products
from ..core.notation import Notation, notation
from .base import check_loss

__all__ = ["MLP", "mlp", "BIAS_MODES"]

BIAS_MODES = (False, True, "threshold", "shared")


class MLP(Graph):
    """A Graph with layer structure: ``weight(l, i, j)``, ``bias(l, j)``, ``pre(l, j)``, ….

    Layers are numbered 0 (inputs) to L (outputs); units 1-based.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | Sequence[str] = "sigmoid",
        loss: str = "mse",
        bias: bool | str = False,
        notation: str | Notation = "sequential",
        title: str | None = None,
    ) -> None:
        checked = check_architecture(sizes, activation, loss, bias)  # before sizes is used
        super().__init__(title=title or "MLP " + "-".join(str(s) for s in sizes))
        #: Untitled, the documents title it in their own language (heading_mlp in _prose.j2).
        self.heading = None if title else ("mlp", {"sizes": [int(s) for s in sizes]})
        self.sizes, self.activations = checked
        self.loss_name = loss
        self.bias_mode = bias
        self.notation = _notation(notation)
        self._weights: dict[tuple[int, int, int], sp.Symbol] = {}
        self._biases: dict[tuple[int, int], sp.Symbol] = {}
        self._pre: dict[tuple[int, int], sp.Symbol] = {}
        self._act: dict[tuple[int, int], sp.Symbol] = {}
        self.roles: dict[sp.Symbol, tuple[str, dict[str, int]]] = {}
        with collector_paused():
            self._build()

    # -- construction -----------------------------------------------------------------------
    def _declare_role(self, kind, role: str, expr=None, **index: int) -> sp.Symbol:
        name = self.notation.key(role, **index)
        symbol = kind(name, expr) if expr is not None else kind(name)  # spelled in _spelled
        self.roles[symbol] = (role, index)
        return symbol

    def _spelled(self, symbol: sp.Symbol) -> str | None:
        role, index = self.roles.get(symbol, (None, None))
        return None if role is None else self.notation.latex(role, **index)

    def _build(self) -> None:
        sizes, depth = self.sizes, len(self.sizes) - 1
        single = sizes[-1] == 1
        for i in range(1, sizes[0] + 1):
            self._act[(0, i)] = self._declare_role(self.input, "input", i=i, j=i, l=0, n=i)
        targets = []
        for j in range(1, sizes[-1] + 1):
            role = "target_single" if single else "target"
            targets.append(self._declare_role(self.target, role, j=j, l=depth, n=j))
        counters = {"weight": 0, "bias": 0, "pre": 0, "act": 0}

        def count(role: str) -> int:
            counters[role] += 1
            return counters[role]

        for l in range(1, depth + 1):  # noqa: E741 - l is the textbook's layer index
            for i in range(1, sizes[l - 1] + 1):  # source-major, as seed 000 numbers them
                for j in range(1, sizes[l] + 1):
                    self._weights[(l, i, j)] = self._declare_role(
                        self.parameter, "weight", i=i, j=j, l=l, n=count("weight")
                    )
            if self.bias_mode == "shared":
                shared = self._declare_role(self.parameter, "layer_bias", l=l, n=l)
                for j in range(1, sizes[l] + 1):
                    self._biases[(l, j)] = shared
            elif self.bias_mode:
                for j in range(1, sizes[l] + 1):
                    self._biases[(l, j)] = self._declare_role(
                        self.parameter, "bias", j=j, l=l, n=count("bias")
                    )
            pres = []
            for j in range(1, sizes[l] + 1):
                terms = [product(self._weights[(l, i, j)], self._act[(l - 1, i)])
                         for i in range(1, sizes[l - 1] + 1)]
                if self.bias_mode == "threshold":
                    terms.append(-self._biases[(l, j)])  # S = Σ w x − b: w_0j = b, x_0 = −1
                elif self.bias_mode:
                    terms.append(self._biases[(l, j)])
                z = sum_of_products(terms)
                n = count("pre")
                pres.append(self._declare_role(self.node, "pre", z, j=j, l=l, n=n))
                self._pre[(l, j)] = pres[-1]
            for j, a in enumerate(functions.activation(self.activations[l - 1], pres), start=1):
                if l == depth:
                    role, n = ("output_single" if single else "output"), j
                else:
                    role, n = "act", count("act")
                self._act[(l, j)] = self._declare_role(self.node, role, a, j=j, l=l, n=n)
        outputs = [self._act[(depth, j)] for j in range(1, sizes[-1] + 1)]
        self._declare_role(self.loss, "loss", functions.loss(self.loss_name, targets, outputs))
        if self.activations[-1] == "softmax" and self.loss_name == "cross_entropy":
            self.targets_sum_to_one(targets)

    # -- structure --------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Number of weight layers L."""
        return len(self.sizes) - 1

    def weight(self, l: int, i: int, j: int) -> sp.Symbol:  # noqa: E741
        """The weight from unit i of layer l−1 to unit j of layer l (all 1-based, l ≥ 1)."""
        try:
            return self._weights[(l, i, j)]
        except KeyError:
            raise GraphError(f"no weight ({l}, {i}, {j}) in a {self.title}") from None

    def bias(self, l: int, j: int) -> sp.Symbol:  # noqa: E741
        """The bias of unit j in layer l (the same symbol for every j with shared biases)."""
        try:
            return self._biases[(l, j)]
        except KeyError:
            why = " (built with bias=False)" if not self.bias_mode else ""
            raise GraphError(f"no bias ({l}, {j}) in a {self.title}{why}") from None

    def pre(self, l: int, j: int) -> sp.Symbol:  # noqa: E741
        """The pre-activation (z or S) of unit j in layer l ≥ 1."""
        try:
            return self._pre[(l, j)]
        except KeyError:
            raise GraphError(f"no pre-activation ({l}, {j}) in a {self.title}") from None

    def act(self, l: int, j: int) -> sp.Symbol:  # noqa: E741
        """The activation of unit j in layer l (layer 0: the inputs)."""
        try:
            return self._act[(l, j)]
        except KeyError:
            raise GraphError(f"no activation ({l}, {j}) in a {self.title}") from None

    @property
    def outputs(self) -> list[sp.Symbol]:
        return [self._act[(self.depth, j)] for j in range(1, self.sizes[-1] + 1)]

    def weights(self, l: int) -> list[sp.Symbol]:  # noqa: E741
        """Layer l's weights in source-major order."""
        return [s for (k, _i, _j), s in self._weights.items() if k == l]

    def layer_biases(self, l: int) -> list[sp.Symbol]:  # noqa: E741
        seen: list[sp.Symbol] = []
        for (k, _j), s in self._biases.items():
            if k == l and s not in seen:
                seen.append(s)
        return seen

    @property
    def delta_nodes(self) -> list[sp.Symbol]:
        """The nodes whose δ the textbook names: the pre-activations, δ_j^(l) = ∂L/∂z_j^(l)."""
        return list(self._pre.values())

    def delta_latex(self, node: sp.Symbol) -> str | None:
        role, index = self.roles.get(node, (None, {}))
        return self.notation.latex("delta", **index) if role == "pre" else None

    def delta_key(self, node: sp.Symbol) -> str | None:
        role, index = self.roles.get(node, (None, {}))
        return self.notation.key("delta", **index) if role == "pre" else None


def _notation(which: str | Notation) -> Notation:
    return notation(which)


def check_architecture(sizes, activation, loss, bias) -> tuple[list[int], list[str]]:
    if isinstance(sizes, str | bytes) or not isinstance(sizes, Sequence):
        raise GraphError(f"sizes must be a list of layer widths, got {sizes!r}")
    if len(sizes) < 2:
        raise GraphError("sizes needs at least an input and an output layer, e.g. [2, 2, 1]")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, int) or s < 1:
            raise GraphError(f"every layer size must be a positive integer, got {s!r}")
    depth = len(sizes) - 1
    if isinstance(activation, str):
        activations = [activation] * depth
    elif isinstance(activation, Sequence) and all(isinstance(a, str) for a in activation):
        activations = list(activation)
    else:
        raise GraphError(f"activation must be a name or a list of names, got {activation!r}")
    if len(activations) != depth:
        raise GraphError(
            f"{len(activations)} activations given for {depth} layers; give one name or one per layer"
        )
    for a in activations:
        if a not in functions.LAYER_ACTIVATIONS:
            known = ", ".join(functions.LAYER_ACTIVATIONS)
            raise GraphError(f"unknown activation {a!r}; expected one of: {known}")
    check_loss(loss, activations[-1])
    if bias not in BIAS_MODES or isinstance(bias, int) and not isinstance(bias, bool):
        raise GraphError(f"bias must be one of {BIAS_MODES}, got {bias!r}")
    return list(sizes), activations


def mlp(
    sizes: Sequence[int],
    activation: str | Sequence[str] = "sigmoid",
    loss: str = "mse",
    bias: bool | str = False,
    notation: str | Notation = "sequential",
    title: str | None = None,
) -> MLP:
    """Build a fully connected network.

    ``activation`` is one name or one per layer; ``bias`` is False, True (z = Σ w a + b),
    ``"threshold"`` (S = Σ w x − b, so ∂L/∂b = −δ) or ``"shared"`` (one b per layer).

    >>> net = mlp([2, 2, 1])
    >>> [p.name for p in net.parameters]
    ['w1', 'w2', 'w3', 'w4', 'w5', 'w6']
    """
    return MLP(sizes, activation, loss, bias, notation, title)

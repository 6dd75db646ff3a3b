"""The [network] table of a spec: an MLP's sizes, activations, loss, bias and notation (a
[notation] table for a custom one), the other kinds handed to models.py, and latex spellings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...builders.mlp import mlp
from ...core import functions
from ...core.graph import Graph, GraphError
from ...core.notation import NOTATIONS, ROLES, Notation
from .errors import MAX_LATEX_CHARS, MAX_LAYERS, MAX_WEIGHTS, MAX_WIDTH, got, show, subkey, suggest
from .models import read_network  # rnn, conv1d, conv2d, attention, blocks
from .sizes import model_size
from .spelling import latex_problem
from .tables import TableReader, latex_table

_NETWORK_KEYS = ("sizes", "activation", "loss", "bias", "notation", "latex")
_NOTATION_KEYS = ("base", "name", "keys", "latex", "description")
_BIAS = {True: True, False: False, "threshold": "threshold", "shared": "shared"}


def read_network_table(
    data: dict, r: TableReader, title: str | None, refuse_parameters: Callable[[int], None]
) -> tuple[Graph, str | Notation | None]:
    """The graph of the spec ``data``'s [network] table, and the notation an MLP is spelt in
    (None for the other kinds, which models.py reads). ``refuse_parameters`` sees the number of
    parameters before the graph is built."""
    if isinstance(data["network"], dict) and data["network"].get("kind", "mlp") != "mlp":
        graph = read_network(data["network"], r, title, refuse_parameters)
        _respell(graph, data["network"], r)
        return graph, None
    net = r.table(data["network"], "network", ("kind", *_NETWORK_KEYS), required=("sizes",))
    sizes = r.array(net["sizes"], "network.sizes", MAX_LAYERS + 1)
    if len(sizes) < 2:
        raise r.error("network.sizes", "expected at least an input and an output layer, e.g. "
                      "[2, 2, 1]")
    for k, s in enumerate(sizes):
        if isinstance(s, bool) or not isinstance(s, int) or s < 1:
            raise r.error(subkey("network.sizes", k), f"expected a positive integer, got {got(s)}")
        if s > MAX_WIDTH:
            raise r.error(subkey("network.sizes", k), f"{s} units; the limit is {MAX_WIDTH}")
    weights = sum(a * b for a, b in zip(sizes, sizes[1:], strict=False))
    if weights > MAX_WEIGHTS:
        raise r.error("network.sizes", f"{weights} weights; the limit is {MAX_WEIGHTS}")
    depth = len(sizes) - 1
    act = net.get("activation", "sigmoid")
    if isinstance(act, list):
        if len(act) != depth:
            raise r.error("network.activation", f"{len(act)} activations given for {depth} "
                          "layers; give one name or one per layer")
        for k, a in enumerate(act):
            r.choice(a, subkey("network.activation", k), functions.LAYER_ACTIVATIONS, "activation")
        activation: str | list[str] = list(act)
    else:
        activation = r.choice(act, "network.activation", functions.LAYER_ACTIVATIONS, "activation")
    loss = r.choice(net.get("loss", "mse"), "network.loss", tuple(functions.LOSSES), "loss")
    bias = net.get("bias", False)
    if not isinstance(bias, bool | str) or bias not in _BIAS:
        raise r.error("network.bias", f'expected true, false, "threshold" or "shared", got '
                      f"{got(bias)}")
    which = r.choice(net.get("notation", "sequential"), "network.notation",
                     (*NOTATIONS, "custom"), "notation")
    if which == "custom":
        if "notation" not in data:
            raise r.error("network.notation", 'notation = "custom" needs a [notation] table')
        notation_used: str | Notation = _custom_notation(data["notation"], r)
    else:
        if "notation" in data:
            raise r.error("notation", 'a [notation] table needs network.notation = "custom"')
        notation_used = which
    refuse_parameters(model_size("mlp", {"sizes": sizes, "bias": bias}).parameters)
    try:
        graph = mlp(sizes, activation, loss, _BIAS[bias], notation_used, title)
    except (GraphError, ValueError) as err:
        where = "notation" if which == "custom" else "network"
        raise r.error(where, str(err)) from None
    _respell(graph, net, r)
    return graph, notation_used


def _respell(graph: Graph, net: dict, r: TableReader) -> None:
    if "latex" in net:
        for name, spelling in latex_table(net["latex"], "network.latex", r).items():
            if name not in graph:
                raise r.error(subkey("network.latex", name), f"unknown name {show(name)}"
                              f"{suggest(name, [s.name for s in graph.symbols])}")
            graph.set_latex(graph.symbol(name), spelling)


def _custom_notation(value: Any, r: TableReader) -> Notation:
    table = r.table(value, "notation", _NOTATION_KEYS)
    base = NOTATIONS[r.choice(table.get("base", "sequential"), "notation.base",
                              tuple(NOTATIONS), "notation")]
    name = r.text(table.get("name", "custom"), "notation.name", 64)
    plain: dict[str, object] = {}
    for part in ("keys", "latex"):
        if part in table:
            patterns = r.table(table[part], f"notation.{part}", ROLES)
            for role, pattern in patterns.items():
                r.text(pattern, subkey(f"notation.{part}", role), MAX_LATEX_CHARS)
            plain[part] = patterns
    if "description" in table:
        plain["description"] = r.text(table["description"], "notation.description")
    try:
        result = Notation.from_mapping(name, plain, base)
    except ValueError as err:
        raise r.error("notation", str(err)) from None
    for role in ROLES:  # every spelling the notation can produce goes into LaTeX unescaped
        where = subkey("notation.latex", role)
        # Numbers in a worked example, letters in "the general form": \pi{j} is \pi2 but \pij.
        for letters in (False, True):
            try:
                sample = (result.latex_general(role) if letters
                          else result.latex(role, i=1, j=2, l=1, n=3))
            except (KeyError, IndexError, ValueError, TypeError) as err:
                raise r.error(where, f"the pattern cannot be filled in: {err}") from None
            problem = latex_problem(sample)
            if problem:
                raise r.error(where, f"{problem} (in {show(sample)})")
    return result

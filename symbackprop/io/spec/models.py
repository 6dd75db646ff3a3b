"""Reading ``[network] kind = "rnn"`` (conv1d, conv2d, attention, blocks) from a spec's table.

The spec reader hands over the parsed TOML table and its typed reader; every bad value is one
line naming its key, as for an MLP. Nothing here parses text as an expression.

>>> from symbackprop.io.spec import parse_spec
>>> spec = parse_spec('[network]\\nkind = "rnn"\\ninputs = 1\\nhidden = 2\\noutputs = 1\\nsteps = 3')
>>> spec.graph.title
'Elman RNN over 3 steps: 1 input, 2 hidden units, 1 output'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...builders.attention import attention
from ...builders.conv import conv1d, conv2d
from ...builders.norm import batch_norm, dense, layer_norm, network, residual
from ...builders.rnn import RNN_NOTATIONS, rnn
from ...core import functions
from ...core.graph import Graph, GraphError
from .sizes import model_size, size_problem

__all__ = ["KINDS", "read_network"]

_LOSSES = tuple(functions.LOSSES)
_ACTS = tuple(functions.ACTIVATIONS)
_OUT_ACTS = functions.LAYER_ACTIVATIONS


def _size(limit: int):
    def read(value: Any, key: str, r) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise r.error(key, f"expected a positive integer, got {value!r}")
        if value > limit:
            raise r.error(key, f"{value} is too large; the limit is {limit}")
        return value
    return read


def _pair(limit: int):
    def read(value: Any, key: str, r) -> tuple[int, int]:
        if not isinstance(value, list) or len(value) != 2:
            raise r.error(key, f"expected [rows, columns], got {value!r}")
        return tuple(_size(limit)(v, f"{key}[{k}]", r) for k, v in enumerate(value))
    return read


def _flag(value: Any, key: str, r) -> bool:
    if not isinstance(value, bool):
        raise r.error(key, f"expected true or false, got {value!r}")
    return value


def _one_of(choices: tuple[str, ...], what: str):
    return lambda value, key, r: r.choice(value, key, choices, what)


# kind -> {key: (reader, default)}; a default of ... means required
_Reader = Callable[[Any, str, Any], Any]
KINDS: dict[str, dict[str, tuple[_Reader, Any]]] = {
    "rnn": {
        "inputs": (_size(16), ...), "hidden": (_size(32), ...), "outputs": (_size(16), ...),
        "steps": (_size(64), ...),
        "output_activation": (_one_of(_OUT_ACTS, "activation"), "identity"),
        "loss": (_one_of(_LOSSES, "loss"), "mse"),
        "loss_at": (_one_of(("every_step", "last"), "loss position"), "every_step"),
        "bias": (_flag, True),
        "notation": (_one_of(tuple(RNN_NOTATIONS), "RNN notation"), "goodfellow"),
    },
    "conv1d": {
        "length": (_size(256), ...), "kernel": (_size(16), ...),
        "activation": (_one_of(_ACTS, "activation"), "relu"), "outputs": (_size(16), 1),
        "output_activation": (_one_of(_OUT_ACTS, "activation"), "identity"),
        "loss": (_one_of(_LOSSES, "loss"), "mse"), "bias": (_flag, True),
        "in_channels": (_size(8), 1), "out_channels": (_size(8), 1),
    },
    "conv2d": {
        "shape": (_pair(32), ...), "kernel": (_pair(8), ...),
        "activation": (_one_of(_ACTS, "activation"), "relu"), "outputs": (_size(16), 1),
        "output_activation": (_one_of(_OUT_ACTS, "activation"), "identity"),
        "loss": (_one_of(_LOSSES, "loss"), "mse"), "bias": (_flag, True),
        "in_channels": (_size(8), 1), "out_channels": (_size(8), 1),
    },
    "attention": {
        "keys": (_size(32), ...), "d": (_size(32), ...), "d_v": (_size(32), None),
        "loss": (_one_of(("mse", "sse", "half_sse"), "attention loss"), "mse"),
        "projections": (_flag, False), "d_in": (_size(32), None),
    },
    "blocks": {
        "inputs": (_size(64), ...), "blocks": (None, ...), "batch": (_size(16), 1),
        "loss": (_one_of(_LOSSES, "loss"), "mse"),
    },
}
_BLOCK_KEYS = ("type", "units", "activation", "bias", "affine", "blocks")
_MAX_BLOCKS = 32


def _block(value: Any, key: str, r, depth: int = 0):
    table = r.table(value, key, _BLOCK_KEYS, required=("type",))
    kind = r.choice(table["type"], f"{key}.type",
                    ("dense", "layer_norm", "batch_norm", "residual"), "block type")
    allowed = {"dense": ("units", "activation", "bias"), "layer_norm": ("affine",),
               "batch_norm": ("affine",), "residual": ("blocks",)}[kind]
    for name in table:
        if name not in ("type", *allowed):
            raise r.error(f"{key}.{name}", f"a {kind} block takes: {', '.join(allowed)}")
    if kind == "dense":
        if "units" not in table:
            raise r.error(key, "missing key 'units'")
        return dense(_size(256)(table["units"], f"{key}.units", r),
                     r.choice(table.get("activation", "identity"), f"{key}.activation",
                              _OUT_ACTS, "activation"),
                     _flag(table.get("bias", True), f"{key}.bias", r))
    if kind == "residual":
        if depth > 4:
            raise r.error(key, "residual blocks nest at most 4 deep")
        return residual(*_blocks(table.get("blocks"), f"{key}.blocks", r, depth + 1))
    affine = _flag(table.get("affine", True), f"{key}.affine", r)
    return layer_norm(affine) if kind == "layer_norm" else batch_norm(affine)


def _blocks(value: Any, key: str, r, depth: int = 0) -> list:
    items = r.array(value, key, _MAX_BLOCKS)
    if not items:
        raise r.error(key, "expected at least one block")
    return [_block(b, f"{key}[{k}]", r, depth) for k, b in enumerate(items)]


def read_network(table: Any, r, title: str | None,
                 refuse_parameters: Callable[[int], None]) -> Graph:
    """The network a ``[network]`` table with a ``kind`` other than ``"mlp"`` describes;
    ``refuse_parameters`` sees its number of parameters before it is built."""
    kind = r.choice(table.get("kind"), "network.kind", ("mlp", *KINDS), "network kind")
    fields = KINDS[kind]
    r.table(table, "network", ("kind", "latex", *fields))
    args: dict[str, Any] = {}
    for name, (read, default) in fields.items():
        key = f"network.{name}"
        if name not in table:
            if default is ...:
                raise r.error("network", f"missing key {name!r} for kind = {kind!r}")
            args[name] = default
        elif name == "blocks":
            args[name] = _blocks(table[name], key, r)
        else:
            args[name] = read(table[name], key, r)
    size = model_size(kind, args)
    problem = size_problem(kind, size)
    if problem:
        raise r.error("network", problem)
    refuse_parameters(size.parameters)
    try:
        graph = _BUILD[kind](args, title)
    except GraphError as err:
        raise r.error("network", str(err)) from None
    return graph


_BUILD: dict[str, Callable[[dict, str | None], Graph]] = {
    "rnn": lambda a, t: rnn(a["inputs"], a["hidden"], a["outputs"], a["steps"],
                            a["output_activation"], a["loss"], a["loss_at"] == "every_step",
                            a["bias"], a["notation"], t),
    "conv1d": lambda a, t: conv1d(a["length"], a["kernel"], a["activation"], a["outputs"],
                                  a["output_activation"], a["loss"], a["bias"], t,
                                  a["in_channels"], a["out_channels"]),
    "conv2d": lambda a, t: conv2d(a["shape"], a["kernel"], a["activation"], a["outputs"],
                                  a["output_activation"], a["loss"], a["bias"], t,
                                  a["in_channels"], a["out_channels"]),
    "attention": lambda a, t: attention(a["keys"], a["d"], a["d_v"], a["loss"],
                                        a["projections"], a["d_in"], t),
    "blocks": lambda a, t: network(a["inputs"], a["blocks"], a["loss"], a["batch"], t),
}

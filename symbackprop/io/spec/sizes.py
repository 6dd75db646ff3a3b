"""The size of every model kind, counted from a spec's numbers before anything is built.

Each ``[network]`` kind's parameters and products w·x (the scalar graph's multiplications, which
is what building, deriving and printing it cost) follow from its sizes alone. The reader refuses
a spec over MAX_WEIGHTS parameters here, and a network of blocks over MAX_PRODUCTS products (its
sizes multiply: 32 blocks of 256 units over a batch of 16), in one line, so a 600-byte spec
cannot ask for minutes of SymPy work before any command sees its size; the same count goes to a
command's own, lower limit (the reader's ``refuse_parameters``). A convolution's products
are bounded by its builder, before it builds; an RNN's sizes are each bounded, so its largest
(130 048 products) is documented and measured rather than cut here.

>>> from symbackprop.builders.norm import dense
>>> model_size("blocks", {"inputs": 64, "batch": 16, "blocks": [dense(256, "tanh")] * 3})
ModelSize(parameters=148224, products=2359296)
>>> model_size("mlp", {"sizes": [2, 2, 1], "bias": True})
ModelSize(parameters=9, products=6)
>>> model_size("rnn", {"inputs": 16, "hidden": 32, "outputs": 16, "steps": 64, "bias": True})
ModelSize(parameters=2096, products=130048)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from ...builders.conv import MAX_PRODUCTS
from ...builders.norm import BatchNorm, Dense, LayerNorm, Residual
from .errors import MAX_WEIGHTS

__all__ = ["ModelSize", "model_size", "size_problem", "MAX_PRODUCTS"]


class ModelSize(NamedTuple):
    """A model's parameters (what per-command limits count) and products w·x (its graph's work)."""

    parameters: int
    products: int


def _mlp(a: dict) -> ModelSize:
    sizes, bias = a["sizes"], a.get("bias", False)
    weights = sum(n_in * n_out for n_in, n_out in zip(sizes, sizes[1:], strict=False))
    # a bias per unit (threshold: b subtracted), one per layer when shared, none when false
    biases = (len(sizes) - 1 if bias == "shared" else sum(sizes[1:])) if bias else 0
    return ModelSize(weights + biases, weights)


def _rnn(a: dict) -> ModelSize:
    n_in, n_h, n_out, steps = a["inputs"], a["hidden"], a["outputs"], a["steps"]
    bias = (n_h + n_out) if a.get("bias", True) else 0
    # h_0 = 0: the first step has no W·h products
    products = steps * n_h * n_in + (steps - 1) * n_h * n_h + steps * n_out * n_h
    return ModelSize(n_h * n_in + n_h * n_h + n_out * n_h + bias, products)


def _conv(a: dict, dims: int) -> ModelSize:
    shape = (a["length"],) if dims == 1 else tuple(a["shape"])
    kernel = (a["kernel"],) if dims == 1 else tuple(a["kernel"])
    c_in, c_out, n_out = a.get("in_channels", 1), a.get("out_channels", 1), a.get("outputs", 1)
    # a kernel larger than its input is the builder's refusal; count nothing negative meanwhile
    positions = math.prod(max(s - k + 1, 0) for s, k in zip(shape, kernel, strict=True))
    taps = c_out * c_in * math.prod(kernel)
    head = n_out * c_out * positions
    bias = (c_out + n_out) if a.get("bias", True) else 0
    return ModelSize(taps + head + bias, positions * taps + head)


def _attention(a: dict) -> ModelSize:
    n, d = a["keys"], a["d"]
    d_v = a.get("d_v") or d
    scores = n * d + n * d_v  # q·k_j and Σ_j α_j v_j
    if not a.get("projections"):
        return ModelSize(d + n * d + n * d_v, scores)
    m = a.get("d_in") or d
    weights = (2 * d + d_v) * m
    return ModelSize(weights, scores + d * m + n * (d + d_v) * m)


def _blocks(blocks: Sequence[Any], width: int, batch: int) -> tuple[int, int, int]:
    """(parameters, products, width out) of a sequence of blocks fed ``width`` features."""
    parameters = products = 0
    for block in blocks:
        if isinstance(block, Dense):
            parameters += block.units * width + (block.units if block.bias else 0)
            products += batch * block.units * width
            width = block.units
        elif isinstance(block, LayerNorm | BatchNorm):
            if block.affine:  # γ_j x̂_j per entry
                parameters, products = parameters + 2 * width, products + batch * width
        elif isinstance(block, Residual):
            p, w, _ = _blocks(block.blocks, width, batch)
            parameters, products = parameters + p, products + w
    return parameters, products, width


def model_size(kind: str, args: dict) -> ModelSize:
    """The parameters and products w·x of a ``[network]`` of ``kind`` with the read ``args``."""
    if kind == "mlp":
        return _mlp(args)
    if kind == "rnn":
        return _rnn(args)
    if kind in ("conv1d", "conv2d"):
        return _conv(args, 1 if kind == "conv1d" else 2)
    if kind == "attention":
        return _attention(args)
    if kind == "blocks":
        parameters, products, _ = _blocks(args["blocks"], args["inputs"], args.get("batch", 1))
        return ModelSize(parameters, products)
    raise ValueError(f"unknown network kind {kind!r}")


def size_problem(kind: str, size: ModelSize) -> str | None:
    """Why a model of ``kind`` and ``size`` is refused before it is built, or None."""
    if size.parameters > MAX_WEIGHTS:
        return f"{size.parameters} parameters; the limit is {MAX_WEIGHTS}"
    if kind == "blocks" and size.products > MAX_PRODUCTS:
        return (f"{size.products} products w·x (every weight once per sample, step or "
                f"position); the limit is {MAX_PRODUCTS}")
    return None

"""Drawings of the model kinds as textbooks draw them (an RNN unrolled in time, a convolution's
window over its input, attention's scores and weighted sum, blocks in a row), each laid out as
geometry (:mod:`.scene`) and emitted as TikZ.

>>> import symbackprop as sb
>>> model_scene(sb.rnn(1, 1, 1, steps=2)) is not None, model_scene(sb.mlp([1, 1])) is None
(True, True)
"""

from __future__ import annotations

from ...builders.attention import Attention
from ...builders.conv import Conv
from ...builders.norm import Dense, Network, Residual
from ...builders.rnn import RNN, RNN_NOTATIONS
from ...core.graph import Graph
from ...printing.latex import Tex
from .attention import attention_scene
from .blocks import blocks_scene
from .conv import conv_scene
from .rnn import rnn_scene
from .scene import Scene

__all__ = ["model_scene", "model_caption", "Scene"]


def model_scene(graph: Graph) -> Scene | None:
    """The textbook drawing of ``graph``'s model kind, or None where there is none (an MLP,
    a graph built by hand: they are drawn as networks of units)."""
    if isinstance(graph, RNN):
        return rnn_scene(graph)
    if isinstance(graph, Conv):
        return conv_scene(graph)
    if isinstance(graph, Attention):
        return attention_scene(graph)
    if isinstance(graph, Network):
        return blocks_scene(graph)
    return None


def model_caption(graph: Graph) -> dict:
    """What the caption of ``graph``'s drawing says (the ``caption_model`` macro's args).

    >>> import symbackprop as sb
    >>> model_caption(sb.rnn(1, 1, 1, steps=2))["kind"]
    'rnn'
    """
    if isinstance(graph, RNN):
        letters = {k: Tex(tex) for k, (_, tex) in RNN_NOTATIONS[graph.notation].items()}
        return {"kind": "rnn", **letters}
    if isinstance(graph, Conv):
        weights = [p for p in graph.parameters if p.name.startswith("w")]
        first, last = graph.latex_name(weights[0]), graph.latex_name(weights[-1])
        shown = rf"{first}, \ldots, {last}" if len(weights) > 3 else ", ".join(
            graph.latex_name(w) for w in weights)
        return {"kind": "conv", "dims": len(graph.shape), "colours": not graph.channels
                and len(graph.shape) == 1, "weights": Tex(shown)}
    if isinstance(graph, Attention):
        return {"kind": "attention"}
    if isinstance(graph, Network):
        def kinds(blocks):
            for b in blocks:
                yield from kinds(b.blocks) if isinstance(b, Residual) else (type(b),)
        return {"kind": "blocks", "norm": any(k is not Dense for k in kinds(graph.blocks)),
                "residual": any(isinstance(b, Residual) for b in graph.blocks)}
    return {"kind": "other"}

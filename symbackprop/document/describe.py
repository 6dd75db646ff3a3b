"""What a model is, in its own sizes: the numbers the abstract and the network section name.

A builder's model (an RNN, a convolution, an attention head, a network of blocks) is described
by what a textbook would say of it (steps, hidden units, kernel, keys), never by the nodes the
tool unrolled it into; ``model_<kind>`` in templates/_prose.j2 turns the outline into words.

>>> import symbackprop as sb
>>> model_outline(sb.rnn(inputs=1, hidden=2, outputs=1, steps=4))
('rnn', {'steps': 4, 'inputs': 1, 'hidden': 2, 'outputs': 1, 'output': 'identity'})
>>> intermediate_nodes(sb.mlp([2, 2, 1]))
6
"""

from __future__ import annotations

from ..builders.attention import Attention
from ..builders.conv import Conv
from ..builders.norm import BatchNorm, Dense, LayerNorm, Network, Residual
from ..builders.rnn import RNN
from ..core.graph import Graph

__all__ = ["model_outline", "block_outline", "intermediate_nodes"]


def intermediate_nodes(graph: Graph) -> int:
    """The nodes between the leaves and the loss: the ones the forward section lists as nodes.

    Every page that counts a graph's nodes counts these, so that no two pages disagree by the
    loss. ``intermediate_nodes(sb.mlp([1, 1]))`` is 2 (z and a).
    """
    return sum(1 for v in graph.nodes if v != graph.loss_symbol)


def model_outline(graph: Graph) -> tuple[str, dict] | None:
    """``(kind, sizes)`` of a builder's model for the ``model_<kind>`` macro; None for a plain
    graph or an MLP (their own paragraphs describe them).

    ``model_outline(sb.attention(keys=3, d=2))[1]["keys"]`` is 3.
    """
    if isinstance(graph, RNN):
        return "rnn", {"steps": graph.steps, "inputs": graph.n_in, "hidden": graph.n_h,
                       "outputs": graph.n_out, "output": graph.output_activation}
    if isinstance(graph, Conv):
        return "conv", {"dims": len(graph.shape), "shape": list(graph.shape),
                        "kernel": list(graph.kernel), "channels": graph.channels,
                        "c_in": graph.c_in, "c_out": graph.c_out,
                        "activation": graph.activation, "outputs": graph.n_out,
                        "output": graph.output_activation}
    if isinstance(graph, Attention):
        return "attention", {"keys": graph.n, "d": graph.d, "d_v": graph.d_v,
                             "projections": graph.projections, "d_in": graph.d_in}
    if isinstance(graph, Network):
        return "network", {"inputs": graph.n_in, "batch": graph.batch,
                           "blocks": [block_outline(b) for b in graph.blocks]}
    return None


def block_outline(block: Dense | LayerNorm | BatchNorm | Residual) -> dict:
    """A block as ``network_block`` in _prose.j2 reads it.

    ``block_outline(sb.dense(2, "tanh"))`` is ``{'kind': 'dense', 'units': 2, 'activation': 'tanh'}``.
    """
    if isinstance(block, Dense):
        return {"kind": "dense", "units": block.units, "activation": block.activation}
    if isinstance(block, Residual):
        return {"kind": "residual", "blocks": [block_outline(b) for b in block.blocks]}
    return {"kind": "layer_norm" if isinstance(block, LayerNorm) else "batch_norm"}

"""Attention as textbooks draw it, left to right: the query and the keys, one score per key,
the softmax over the scores (framed), and the weighted sum of the values, which come in from
the right; the loss on top. Each node is a whole vector (q, k_j, v_j, o). The slides step
backwards through it: o, the weights and values, the softmax, the scores.

>>> import symbackprop as sb
>>> scene = attention_scene(sb.attention(keys=3, d=2))
>>> sorted(n for n in scene.nodes if n.startswith("s"))
['s-1', 's-2', 's-3']
>>> scene.problems()
[]
"""

from __future__ import annotations

from ...builders.attention import Attention
from ...core import ops
from ..drawing import Box
from .scene import Scene

__all__ = ["attention_scene"]

_DX, _DY = 2.3, 1.15


def attention_scene(net: Attention) -> Scene | None:
    """The drawing of ``net``; None with projections (it is drawn as its graph)."""
    if net.projections:
        return None
    s = Scene()
    n = net.n
    size = 0.62 + 0.1 * len(str(n))
    ys = {j: ((n + 1) / 2 - j) * _DY for j in range(1, n + 1)}
    top = ys[1] + _DY
    s.node("q", 0, top, "q", w=size)
    for j in range(1, n + 1):
        s.node(f"k-{j}", 0, ys[j], f"k_{{{j}}}", w=size)
        s.node(f"s-{j}", 1.3 * _DX, ys[j], f"s_{{{j}}}", w=size)
        s.node(f"a-{j}", 2.6 * _DX, ys[j], rf"\alpha_{{{j}}}", w=size)
        s.node(f"v-{j}", 4.8 * _DX, ys[j], f"v_{{{j}}}", w=size)
    # The softmax frame around the weights, its name above it.
    height = (n - 1) * _DY + size + 0.3
    softmax = Box(2.6 * _DX, 0, size + 0.5, height)
    s.frame(softmax, "rounded corners=4pt, fill=gray!8")
    s.label(ops.activation_op("softmax").latex, softmax.x, softmax.y + height / 2 + 0.3)
    s.node("o", 3.7 * _DX, 0, "o", w=size)
    s.node("loss", 3.7 * _DX, top + 0.6, "L", w=size)
    for j in range(1, n + 1):
        s.connect(f"k-{j}", f"s-{j}")
        s.connect("q", f"s-{j}", style="->, gray")
        s.connect(f"s-{j}", f"a-{j}")
        s.connect(f"a-{j}", "o")
        s.connect(f"v-{j}", "o", style="->, gray")
    s.connect("o", "loss")
    _symbols(s, net)
    # Backwards: the loss to o, o to the weights and values, the softmax, the scores to q, k.
    keys = range(1, n + 1)
    s.walk += [
        (r"\frac{\partial L}{\partial o}", [("o", "loss")], []),
        (r"g_{j} = \frac{\partial L}{\partial \alpha_{j}}",
         [(f"a-{j}", "o") for j in keys] + [(f"v-{j}", "o") for j in keys], []),
        (r"\frac{\partial L}{\partial s_{j}}", [(f"s-{j}", f"a-{j}") for j in keys],
         [Box(softmax.x, softmax.y, softmax.w + 0.1, softmax.h + 0.1)]),
        (r"\frac{\partial L}{\partial q}, \frac{\partial L}{\partial k_{j}}",
         [("q", f"s-{j}") for j in keys] + [(f"k-{j}", f"s-{j}") for j in keys], []),
    ]
    return s


def _symbols(s: Scene, net: Attention) -> None:
    for i in range(1, net.d + 1):
        s.symbols[net.query(i).name] = "q"
        for j in range(1, net.n + 1):
            s.symbols[net.key(j, i).name] = f"k-{j}"
    for j in range(1, net.n + 1):
        s.symbols[net.score(j).name] = f"s-{j}"
        s.symbols[net.weight(j).name] = f"a-{j}"
        for i in range(1, net.d_v + 1):
            s.symbols[net.value(j, i).name] = f"v-{j}"
    for i in range(1, net.d_v + 1):
        s.symbols[net.output(i).name] = "o"
    s.symbols[net.loss_symbol.name] = "loss"

"""A network of blocks as textbooks draw it: layer boxes in a row from the input to the loss,
each box the block's own equation; a norm's statistics (μ, σ²) in a box under it, fed by the
block before and feeding the norm; a residual block's branch raised above the row, its skip
connection the straight way along the row into the ⊕ that adds them.

Each box stands for its block's every unit and sample, so a chain's path runs box to box, and
the slides step backwards through the blocks from the loss.

>>> import symbackprop as sb
>>> net = sb.network(2, [sb.dense(2, "tanh"), sb.layer_norm(),
...                      sb.residual(sb.dense(2, "tanh")), sb.dense(1)])
>>> scene = blocks_scene(net)
>>> sorted(scene.nodes)
['b-1', 'b-2', 'b-3', 'b-5', 'in', 'loss', 'plus-4', 'st-2']
>>> scene.problems()
[]
"""

from __future__ import annotations

import re

from ...builders.norm import Dense, Network, Residual
from ...core import ops
from ..focus import families
from .scene import Scene

__all__ = ["blocks_scene"]

_GAP, _RAISE, _DROP = 1.0, 1.8, 1.45


def blocks_scene(net: Network) -> Scene:
    """The drawing of ``net``'s blocks."""
    s = Scene()
    s.node("in", 0, 0, "x", shape="rectangle")
    state = {"layer": 0, "x": s.nodes["in"].box.w / 2, "feeds": {}, "outputs": []}
    last, _ = _row(s, net.blocks, "in", r"x", 0.0, state)
    right = s.nodes[last].box.x + s.nodes[last].box.w / 2
    s.node("loss", right + _GAP + 0.4, 0, "L")
    s.connect(last, "loss")
    _symbols(s, net, state["feeds"])
    # Backwards, block by block from the loss: the edges leaving each block's output.
    for name, out in reversed(state["outputs"]):
        leaving = [e.ends for e in s.edges if e.ends and e.ends[0] == name]
        s.walk.append((rf"\frac{{\partial L}}{{\partial {out}}}", leaving, []))
    return s


def _sup(stem: str, layer: int) -> str:
    return f"{stem}^{{[{layer}]}}"


def _place(s: Scene, name: str, latex: str, lane: float, state: dict, shape="rectangle",
           operator: str = ""):
    """A box on ``lane`` just right of everything placed so far (``operator``: the name of a
    function it prints, which label_size does not count)."""
    probe = s.node(name, 0, lane, latex, shape=shape)
    # label_size is generous, most of all for a long formula (its spaces and scripts count
    # as full letters): a box fits its equation more closely, so the row stays readable.
    printed = re.sub(r"\\operatorname\{([^{}]*)\}", r"\1", operator).lstrip("\\")
    w = probe.box.w if shape == "circle" else 0.82 * probe.box.w + 0.25 + 0.16 * len(printed)
    x = state["x"] + _GAP + w / 2
    node = s.node(name, x, lane, latex, shape=shape, w=w)
    state["x"] = x + node.box.w / 2
    return node


def _row(s: Scene, blocks, before: str, before_tex: str, lane: float, state: dict):
    """Place ``blocks`` after node ``before`` (whose output is ``before_tex``) on ``lane``."""
    for block in blocks:
        if isinstance(block, Residual):
            start_x = state["x"]
            raised = lane + _RAISE if lane <= 0 else lane - _RAISE
            inner, inner_tex = _row(s, block.blocks, before, before_tex, raised, state)
            state["layer"] += 1
            l = state["layer"]  # noqa: E741
            state["x"] = max(state["x"], start_x)
            plus = _place(s, f"plus-{l}", "+", lane, state, shape="circle")
            s.connect(before, plus.name)  # the skip: straight along the row
            s.connect(inner, plus.name)
            below = -1 if lane <= 0 else 1
            s.label(_sup("r", l), plus.box.x, plus.box.y + below * (plus.box.h / 2 + 0.32))
            state["feeds"][l] = before
            state["outputs"].append((plus.name, _sup("r", l)))
            before, before_tex = plus.name, _sup("r", l)
            continue
        state["layer"] += 1
        l = state["layer"]  # noqa: E741
        if isinstance(block, Dense):
            f = ops.ACTIVATIONS[block.activation].latex or ""  # identity and linear: none
            bias = f" + {_sup('b', l)}" if block.bias else ""
            inside = f"{_sup('W', l)} {before_tex}{bias}"
            latex = f"{_sup('a', l)} = " + (rf"{f}\bigl({inside}\bigr)" if f else inside)
            box = _place(s, f"b-{l}", latex, lane, state, operator=f)
            s.connect(before, box.name)
            out_tex = _sup("a", l)
        else:
            hat = _sup(r"\hat{x}", l)
            out_tex = _sup(r"\tilde{x}", l) if block.affine else hat
            gamma, beta = _sup(r"\gamma", l), _sup(r"\beta", l)
            latex = rf"{out_tex} = {gamma} \odot {hat} + {beta}" if block.affine else hat
            gap_x = state["x"] + _GAP / 2
            box = _place(s, f"b-{l}", latex, lane, state)
            away = -1 if lane <= 0 else 1
            mu, sigma = _sup(r"\mu", l), _sup(r"\sigma", l)
            stats = s.node(f"st-{l}", gap_x + 0.4, lane + away * _DROP,
                           rf"{mu},\ \bigl({sigma}\bigr)^{{2}}",
                           shape="rectangle", style="fill=gray!8")
            s.connect(before, stats.name)
            s.connect(stats.name, box.name)
            s.connect(before, box.name)
        state["feeds"][l] = before
        state["outputs"].append((box.name, out_tex))
        before, before_tex = box.name, out_tex
    return before, before_tex


def _symbols(s: Scene, net: Network, feeds: dict[int, str]) -> None:
    """Each symbol's box (by its family: z[1] → the first block's); each dense weight: the
    edge into its block, for every entry it feeds."""
    where = {"z": "b", "a": "b", "xhat": "b", "xt": "b", "mu": "st", "var": "st",
             "r": "plus"}
    for sym, (stem, _) in families(net).items():
        base, _, layer = stem.partition("[")
        if sym == net.loss_symbol:
            s.symbols[sym.name] = "loss"
        elif base == "x" and not layer:
            s.symbols[sym.name] = "in"
        elif base in where and layer:
            s.symbols[sym.name] = f"{where[base]}-{layer.rstrip(']')}"
    fam = families(net)
    for sym, (stem, _) in fam.items():
        base, _, layer = stem.partition("[")
        if base not in ("W", "b") or not layer:
            continue
        l = int(layer.rstrip("]"))  # noqa: E741
        row = fam[sym][1][0]
        fed = [z for z, (st, ix) in fam.items() if st == f"z[{l}]" and ix[-1] == row]
        s.symbols[sym.name] = {z.name: [(feeds[l], f"b-{l}")] for z in fed}

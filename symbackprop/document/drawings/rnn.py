"""The RNN as textbooks draw it (Goodfellow et al., fig. 10.3): unrolled in time, x_t below h_t,
ŷ_t above it and the step's loss L_t on top, W between consecutive hidden states, U and V on
the vertical edges; beside it, on the left, the same network folded, its loop through W.

Each node stands for a whole vector (h_t for every h_{t,j}), so the slides' BPTT path at step
t runs along these edges: a weight maps to the edges of its use at each step, and the slides
step backwards through time on the drawing (:attr:`.scene.Scene.walk`).

>>> import symbackprop as sb
>>> scene = rnn_scene(sb.rnn(1, 2, 1, steps=3))
>>> sorted(n for n in scene.nodes if n.startswith("h"))
['h-1', 'h-2', 'h-3', 'hf']
>>> scene.problems()
[]
"""

from __future__ import annotations

from ...builders.rnn import RNN, RNN_NOTATIONS
from .scene import Scene

__all__ = ["rnn_scene", "MAX_STEPS_DRAWN"]

#: More steps than this are drawn as the first two, an ellipsis, and the last two.
MAX_STEPS_DRAWN = 6

_DX, _ROW = 2.3, {"x": 0.0, "h": 1.65, "y": 3.3, "l": 4.8, "loss": 6.15}


def rnn_scene(net: RNN) -> Scene:
    """The drawing of ``net`` unrolled, with its folded form beside it."""
    s = Scene()
    letters = {k: tex for k, (_, tex) in RNN_NOTATIONS[net.notation].items()}
    T = net.steps
    steps: list[int | None] = (list(range(1, T + 1)) if T <= MAX_STEPS_DRAWN
                               else [1, 2, None, T - 1, T])
    has_out = {t: t == T or net.every_step for t in range(1, T + 1)}
    names = {"x": "x_{%s}", "h": "h_{%s}", "y": r"\hat{y}_{%s}", "l": "L_{%s}"}
    widest = max(len(str(T)), 1)
    size = 0.62 + 0.1 * widest  # every circle as wide as the widest label's
    _folded(s, letters, names, size, net.every_step)
    column = {t: k * _DX for k, t in enumerate(steps)}
    vertical = []
    for t in steps:
        x = column[t]
        if t is None:
            for row in ("x", "h", "y"):
                s.node(f"{row}-dots", x, _ROW[row], r"\cdots", shape="plain")
            continue
        s.node(f"x-{t}", x, _ROW["x"], names["x"] % t, w=size)
        s.node(f"h-{t}", x, _ROW["h"], names["h"] % t, w=size)
        vertical.append((s.connect(f"x-{t}", f"h-{t}"), letters["U"]))
        if has_out[t]:
            s.node(f"y-{t}", x, _ROW["y"], names["y"] % t, w=size)
            vertical.append((s.connect(f"h-{t}", f"y-{t}"), letters["V"]))
            if net.every_step and T > 1:
                s.node(f"l-{t}", x, _ROW["l"], names["l"] % t, w=size)
                s.connect(f"y-{t}", f"l-{t}")
    for before, after in zip(steps, steps[1:], strict=False):
        a = f"h-{before}" if before is not None else "h-dots"
        b = f"h-{after}" if after is not None else "h-dots"
        s.label_beside(s.connect(a, b), letters["W"], side=1)
    # U and V beside their edges, where the W labels between the columns leave room.
    for edge, letter in vertical:
        s.label_beside(edge, letter, side=1, at=(0.5, 0.62, 0.38, 0.72, 0.28))
    last = column[T]
    if net.every_step and T > 1:
        middle = (column[steps[0]] + last) / 2
        s.node("loss", middle, _ROW["loss"], "L", w=size)
        for t in steps:
            if t is not None:
                s.connect(f"l-{t}", "loss", style="->, gray")
    else:
        s.node("loss", last, _ROW["l"], "L", w=size)
        s.connect(f"y-{T}", "loss")
    _symbols(s, net, steps)
    # BPTT, last step first: δ_t gathers from the step's output and from h_{t+1}; the step's
    # weights get their share along U and W.
    shown = [t for t in steps if t is not None]
    for t in reversed(shown):
        edges = [(f"h-{t}", f"y-{t}")] if f"y-{t}" in s.nodes else []
        if t + 1 in shown:
            edges.append((f"h-{t}", f"h-{t + 1}"))
        edges.append((f"x-{t}", f"h-{t}"))
        if t - 1 in shown:
            edges.append((f"h-{t - 1}", f"h-{t}"))
        s.walk.append((f"t = {t}", edges, []))
    return s


def _folded(s: Scene, letters: dict, names: dict, size: float, every_step: bool) -> None:
    """The folded network left of step 1: x_t → h_t → ŷ_t → L_t, with h's loop through W."""
    fx = -2.6 * _DX / 1.55
    s.node("xf", fx, _ROW["x"], names["x"] % "t", w=size)
    hf = s.node("hf", fx, _ROW["h"], names["h"] % "t", w=size)
    s.node("yf", fx, _ROW["y"], names["y"] % "t", w=size)
    s.label_beside(s.connect("xf", "hf"), letters["U"], side=1)
    s.label_beside(s.connect("hf", "yf"), letters["V"], side=1)
    if every_step:
        s.node("lf", fx, _ROW["l"], names["l"] % "t", w=size)
        s.connect("yf", "lf")
    # The loop leaves h_t on the right and comes back in from below, beside the U edge.
    r = size / 2
    out = hf.boundary((fx + 1, _ROW["h"] + 0.36))
    reach, low = fx + r + 0.6, _ROW["h"] - r - 0.45
    back = (fx + 0.28, _ROW["h"] - (r * r - 0.28 ** 2) ** 0.5)
    loop = s.path((out, (reach, out[1]), (reach, low), (back[0], low), back),
                  style="->, rounded corners=4pt")
    s.label_beside(loop, letters["W"], side=1, segment=1)
    # Unfolding: a thick arrow from the folded network to the unrolled one.
    s.path(((reach + 0.45, _ROW["h"] + 0.95), (-size / 2 - 0.55, _ROW["h"] + 0.95)),
           style="->, very thick, gray")


def _key(stem: str, t: int, j: int, size: int) -> str:
    """A unit's key as the builder writes it (h_3,2; h_3 when the vector has one unit)."""
    return f"{stem}_{t},{j}" if size > 1 else f"{stem}_{t}"


def _symbols(s: Scene, net: RNN, steps: list[int | None]) -> None:
    """Each unit's node; each weight's edges at every drawn step (for the slides' paths)."""
    shown = [t for t in steps if t is not None]
    outputs = [t for t in shown if f"y-{t}" in s.nodes]
    for t in shown:
        for i in range(1, net.n_in + 1):
            s.symbols[_key("x", t, i, net.n_in)] = f"x-{t}"
        for j in range(1, net.n_h + 1):
            s.symbols[net.pre(t, j).name] = s.symbols[net.hidden(t, j).name] = f"h-{t}"
        if f"l-{t}" in s.nodes:
            s.symbols[f"L_{t}"] = f"l-{t}"
    for t in outputs:
        for k in range(1, net.n_out + 1):
            s.symbols[_key("o", t, k, net.n_out)] = s.symbols[net.output(t, k).name] = f"y-{t}"
    s.symbols[net.loss_symbol.name] = "loss"
    for j in range(1, net.n_h + 1):
        for i in range(1, net.n_in + 1):
            s.symbols[net.input_weight(j, i).name] = {
                net.pre(t, j).name: [(f"x-{t}", f"h-{t}")] for t in shown}
        for k in range(1, net.n_h + 1):
            s.symbols[net.recurrent(j, k).name] = {
                net.pre(t, j).name: [(f"h-{t - 1}", f"h-{t}")] for t in shown if t - 1 in shown}
    for k in range(1, net.n_out + 1):
        for j in range(1, net.n_h + 1):
            s.symbols[net.output_weight(k, j).name] = {
                _key("o", t, k, net.n_out): [(f"h-{t}", f"y-{t}")] for t in outputs}

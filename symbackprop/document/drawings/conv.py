"""A convolution as textbooks draw it: the input row (a grid in 2-D), the kernel window framed
over its first position, the kernel itself below, the output row above (beside, in 2-D), and the
dense head. With one channel in 1-D every edge is drawn in the colour of its kernel tap: edges of
one colour carry one shared weight. With channels (or in 2-D) an arrow leads from the window to
the output entry it makes.

On the slides the window steps along the input, position by position, each overlay joining
its cells to the entry they make (:attr:`.scene.Scene.walk`).

>>> import symbackprop as sb
>>> scene = conv_scene(sb.conv1d(5, 2))
>>> sorted(n for n in scene.nodes if n.startswith("z"))
['z-1-1', 'z-1-2', 'z-1-3', 'z-1-4']
>>> scene.problems()
[]
"""

from __future__ import annotations

import itertools

from ...builders.conv import Conv
from ..drawing import Box
from .scene import Scene

__all__ = ["conv_scene", "TAP_COLOURS"]

#: One colour per kernel tap (cycled past the sixth).
TAP_COLOURS = ("blue!70!black", "orange!85!black", "green!50!black", "purple!80!black",
               "teal!80!black", "brown!80!black")

_GAP, _UP = 0.12, 2.1


def _cells(shape) -> list[tuple[int, ...]]:
    return list(itertools.product(*[range(1, n + 1) for n in shape]))


def conv_scene(net: Conv) -> Scene | None:
    """The drawing of ``net``; None for a 2-D convolution with channels (drawn as a graph)."""
    if len(net.shape) == 2 and net.channels:
        return None
    s = Scene()
    t = net.latex_name
    x_syms = {(c, *p): net.x(*((c,) if net.channels else ()), *p)
              for c in range(1, net.c_in + 1) for p in _cells(net.shape)}
    z_syms = {(m, *p): net.pre(*((m,) if net.channels else ()), *p)
              for m in range(1, net.c_out + 1) for p in _cells(net.out_shape)}
    w_syms = {(m, c, *p): net.w(*((m, c) if net.channels else ()), *p)
              for m in range(1, net.c_out + 1) for c in range(1, net.c_in + 1)
              for p in _cells(net.kernel)}
    every = [t(v) for v in (*x_syms.values(), *z_syms.values(), *w_syms.values())]
    probe = s.node("probe", 0, 0, max(every, key=len), shape="rectangle")
    del s.nodes["probe"]
    cw, ch = max(probe.box.w, 0.8), probe.box.h
    pitch = cw + _GAP
    if len(net.shape) == 1:
        _one_d(s, net, x_syms, z_syms, w_syms, cw, ch, pitch)
    else:
        _two_d(s, net, x_syms, z_syms, w_syms, cw, ch, pitch)
    _symbols(s, net, x_syms, z_syms, w_syms)
    _walk(s, net, z_syms)
    return s


def _walk(s: Scene, net: Conv, z_syms) -> None:
    """The window at each output position of the first kernel, in turn (its input cells framed
    and joined to the entry they make, or that entry framed too), as the slides step through
    it."""
    two_d = len(net.shape) == 2
    for (m, *pos) in z_syms:
        if m != 1:
            continue
        cells = [(c, *(a + b - 1 for a, b in zip(pos, off, strict=True)))
                 for c in range(1, net.c_in + 1) for off in _cells(net.kernel)]
        names = [_name("x", cell[1:] if two_d else cell) for cell in cells]
        target = _name("z", tuple(pos) if two_d else (m, *pos))
        boxes = [s.nodes[n].box for n in names]
        left, right = min(b.x - b.w / 2 for b in boxes), max(b.x + b.w / 2 for b in boxes)
        low, high = min(b.y - b.h / 2 for b in boxes), max(b.y + b.h / 2 for b in boxes)
        window = Box((left + right) / 2, (low + high) / 2, right - left + 0.1, high - low + 0.1)
        where = f"i = {pos[0]}" if not two_d else f"(i, j) = ({pos[0]}, {pos[1]})"
        if net.channels or two_d:  # no edges drawn there: frame the window and its entry
            out = s.nodes[target].box
            frames = [window, Box(out.x, out.y, out.w + 0.1, out.h + 0.1)]
            s.walk.append((where, [], frames))
        else:
            s.walk.append((where, [(n, target) for n in names], [window]))


def _name(stem: str, ix: tuple[int, ...]) -> str:
    return stem + "-" + "-".join(map(str, ix))


def _one_d(s: Scene, net: Conv, x_syms, z_syms, w_syms, cw, ch, pitch) -> None:
    t, k, n_out = net.latex_name, net.kernel[0], net.out_shape[0]
    row_gap = ch + 0.35
    for (c, i), v in x_syms.items():  # channel 1 on top, nearest the output
        s.node(_name("x", (c, i)), (i - 1) * pitch, -(c - 1) * row_gap, t(v), "rectangle", cw, ch)
    bottom = -(net.c_in - 1) * row_gap
    window = Box((k - 1) * pitch / 2, bottom / 2, k * pitch + 0.1, -bottom + ch + 0.2)
    s.frame(window, "dashed, rounded corners=3pt")
    row_width = n_out * pitch
    for (m, i), v in z_syms.items():
        x = (k - 1) * pitch / 2 + (i - 1) * pitch + (m - 1) * (row_width + 0.8)
        s.node(_name("z", (m, i)), x, _UP, t(v), "rectangle", cw, ch)
    if not net.channels:
        for i in range(1, n_out + 1):
            for p in range(1, k + 1):
                s.connect(_name("x", (1, i + p - 1)), _name("z", (1, i)),
                          style=f"->, tap{(p - 1) % len(TAP_COLOURS) + 1}")
    else:
        top = (window.x, window.y + window.h / 2)
        for m in range(1, net.c_out + 1):
            target = s.nodes[_name("z", (m, 1))]
            s.path((top, target.boundary(top)), style="->, thick")
    # The kernel, once, below the input: a block per output channel, a row per input channel.
    for key, v in sorted(w_syms.items()):
        m, c, p = key
        colour = TAP_COLOURS[(p - 1) % len(TAP_COLOURS)]
        style = "fill=gray!10" if net.channels else \
            f"draw={colour}, fill={colour.split('!')[0]}!8, very thick"
        s.node(_name("w", key), (p - 1) * pitch + (m - 1) * (k * pitch + 0.5),
               bottom - 1.3 - (c - 1) * (ch + 0.12), t(v), "rectangle", cw, ch, style)
    for p, colour in enumerate(TAP_COLOURS, start=1):
        s.styles[f"tap{p}"] = f"draw={colour}"
    _head(s, net, [(_name("z", key), s.nodes[_name("z", key)]) for key in z_syms])


def _two_d(s: Scene, net: Conv, x_syms, z_syms, w_syms, cw, ch, pitch) -> None:
    t = net.latex_name
    (rows, cols), (kr, kc), orows = net.shape, net.kernel, net.out_shape[0]
    vpitch = ch + _GAP
    for (_, r, c), v in x_syms.items():
        s.node(_name("x", (r, c)), (c - 1) * pitch, -(r - 1) * vpitch, t(v), "rectangle", cw, ch)
    window = Box((kc - 1) * pitch / 2, -(kr - 1) * vpitch / 2, kc * pitch + 0.1,
                 kr * vpitch + 0.1)
    s.frame(window, "dashed, rounded corners=3pt")
    left = cols * pitch + 1.6
    top = -(rows - orows) * vpitch / 2
    for (_, r, c), v in z_syms.items():
        s.node(_name("z", (r, c)), left + (c - 1) * pitch, top - (r - 1) * vpitch, t(v),
               "rectangle", cw, ch)
    # From the window up over the grid and down into the entry it makes.
    target = s.nodes[_name("z", (1, 1))]
    start = (window.x, window.y + window.h / 2)
    over = max(start[1], target.box.y + ch / 2) + 0.45
    s.path((start, (start[0], over), (target.box.x, over), (target.box.x, target.box.y + ch / 2)),
           style="->, thick, rounded corners=3pt")
    for (_, _, r, c), v in w_syms.items():
        s.node(_name("w", (r, c)), (c - 1) * pitch, -rows * vpitch - 0.6 - (r - 1) * vpitch,
               t(v), "rectangle", cw, ch, "fill=gray!10")
    s.frame(Box((kc - 1) * pitch / 2, -rows * vpitch - 0.6 - (kr - 1) * vpitch / 2,
                kc * pitch + 0.1, kr * vpitch + 0.1), "dashed, rounded corners=3pt")
    _head(s, net, [(_name("z", (r, c)), s.nodes[_name("z", (r, c))])
                   for (_, r, c) in z_syms], beside=True)


def _head(s: Scene, net: Conv, outputs, beside: bool = False) -> None:
    """ŷ from every output entry (v), then the loss."""
    n = net.n_out
    t = net.latex_name
    yhats = [net.symbol("yhat" if n == 1 else f"yhat_{k}") for k in range(1, n + 1)]
    xs = [node.box.x for _, node in outputs]
    ys = [node.box.y for _, node in outputs]
    if beside:  # 2-D: one arrow from the output grid's frame
        frame = Box((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2,
                    max(xs) - min(xs) + outputs[0][1].box.w + 0.2,
                    max(ys) - min(ys) + outputs[0][1].box.h + 0.2)
        s.frame(frame, "rounded corners=3pt, gray")
        cx, cy = frame.x + frame.w / 2 + 2.0, frame.y
        for k, v in enumerate(yhats, start=1):
            s.node(f"yhat-{k}", cx, cy - (k - 1) * 1.0, t(v))
            arrow = s.path(((frame.x + frame.w / 2, cy - (k - 1) * 1.0),
                            (cx - s.nodes[f"yhat-{k}"].box.w / 2, cy - (k - 1) * 1.0)))
            if k == 1:
                s.label_beside(arrow, "v", side=1)
        s.node("loss", cx + 1.6, cy - (n - 1) * 0.5, "L")
    else:
        cx = (min(xs) + max(xs)) / 2
        y = max(ys) + 1.6
        for k, v in enumerate(yhats, start=1):
            s.node(f"yhat-{k}", cx + (k - (n + 1) / 2) * 1.2, y, t(v))
            for name, _ in outputs:
                edge = s.connect(name, f"yhat-{k}", style="->, gray")
            if k == n:
                s.label_beside(edge, "v", side=-1)
        s.node("loss", cx, y + 1.25, "L")
    for k in range(1, n + 1):
        s.connect(f"yhat-{k}", "loss")


def _symbols(s: Scene, net: Conv, x_syms, z_syms, w_syms) -> None:
    """Each entry's cell (a_i = f(z_i) shares z_i's); each kernel weight: for every output
    entry, the edges of its window there (the slides highlight the window at position i)."""
    two_d = len(net.shape) == 2
    cell = (lambda key: key[1:]) if two_d else (lambda key: key)
    for key, v in x_syms.items():
        s.symbols[v.name] = _name("x", cell(key))
    for key, v in z_syms.items():
        s.symbols[v.name] = _name("z", cell(key))
        s.symbols[net.feature(*((key[0],) if net.channels else ()), *key[1:]).name] = \
            _name("z", cell(key))
    for k in range(1, net.n_out + 1):
        s.symbols[("yhat" if net.n_out == 1 else f"yhat_{k}")] = f"yhat-{k}"
        s.symbols[("o" if net.n_out == 1 else f"o_{k}")] = f"yhat-{k}"
    s.symbols[net.loss_symbol.name] = "loss"
    for (m, c, *_), w in w_syms.items():
        uses = {}
        for (m2, *pos), z in z_syms.items():
            if m2 != m:
                continue
            window = [(c, *(a + b - 1 for a, b in zip(pos, off, strict=True)))
                      for off in _cells(net.kernel)]
            uses[z.name] = [(_name("x", cell(x)), _name("z", cell((m, *pos)))) for x in window]
        s.symbols[w.name] = uses

"""A recursion's steps on jax as one XLA loop over the arrays in their own layout.

The batched evaluator stores an RNN's h as (batch, T, n). ``jax.lax.scan`` reads its ``xs``
and stacks its outputs along a leading step axis, so each array a step reads had to be moved to
(T, batch, 1, n) before the loop and each output moved back after it: at batch 1024 those
transposes (two copies each, with XLA's layouts) were about a fifth of the RNN's call. Here the
loop reads each step's slice where it lies (a dynamic slice along the step's axis) and writes
each output into its own (batch, T, n) array (an in-place dynamic update), so nothing moves.

``scan_in(a, axis, shift)`` names what a step reads: ``a`` at the step plus ``shift`` along
``axis`` (zero past either end, as the general form reads an entry outside its range);
``scan(step, carry, xs, length, direction, out_axes)`` runs ``step(carry, slices)`` ->
(carry, outputs) ``length`` times (upwards when ``direction`` is +1, downwards when −1) and
returns the last carry and each output whole, its steps along ``out_axes[name]``.

>>> import numpy as np
>>> f = scan_functions()
>>> x = np.arange(6.0).reshape(1, 3, 2)                   # (batch, T, n)
>>> def step(c, s):
...     h = c["h"] + s["x"]
...     return {"h": h}, {"h": h, "ahead": s["x1"]}
>>> c, y = f["scan"](step, {"h": np.zeros((1, 1, 2))},
...                  {"x": f["scan_in"](x, 1, 0), "x1": f["scan_in"](x, 1, 1)}, 3, 1,
...                  {"h": 1, "ahead": 1})
>>> np.asarray(y["h"]).tolist(), np.asarray(y["ahead"]).tolist()
([[[0.0, 1.0], [2.0, 4.0], [6.0, 9.0]]], [[[2.0, 3.0], [4.0, 5.0], [0.0, 0.0]]])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

__all__ = ["scan_functions"]


def scan_functions() -> dict[str, Callable]:
    """``scan`` and ``scan_in`` for the jax namespace of generated code."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    def scan_in(a, axis: int, shift: int) -> tuple:
        return a, axis, shift

    def read(a, axis: int, shift: int, t):
        if not shift:
            return lax.dynamic_slice_in_dim(a, t, 1, axis)
        at = t + shift
        got = lax.dynamic_slice_in_dim(a, jnp.clip(at, 0, a.shape[axis] - 1), 1, axis)
        # where, not a product with 0/1: an inf in the array must still read as zero
        return jnp.where((at >= 0) & (at < a.shape[axis]), got, jnp.zeros_like(got))

    def scan(step: Callable, carry: Mapping, xs: Mapping[str, tuple], length: int,
             direction: int, out_axes: Mapping[str, int]):
        def slices(t):
            return {name: read(*x, t) for name, x in xs.items()}
        shapes = jax.eval_shape(step, carry, slices(0))[1]
        whole = {name: jnp.zeros(s.shape[:out_axes[name]] + (length,)
                                 + s.shape[out_axes[name] + 1:], s.dtype)
                 for name, s in shapes.items()}

        def body(i, state):
            c, out = state
            t = i if direction > 0 else length - 1 - i
            c, y = step(c, slices(t))
            return c, {name: lax.dynamic_update_slice_in_dim(out[name], y[name], t,
                                                             out_axes[name])
                       for name in out}
        return lax.fori_loop(0, length, body, (dict(carry), whole))
    return {"scan": scan, "scan_in": scan_in}

"""The array libraries the batched evaluator's generated code runs on: each a namespace of the
functions that code calls (sigmoid, softmax_columns, sample_sum, …), numpy always, torch, jax and
cupy where installed. numpy's kernels work in place and keep the arrays' dtype.

>>> import numpy as np
>>> space = BACKENDS["numpy"]()
>>> space["sigmoid"](np.array([0.0, -800.0, 800.0])).tolist()
[0.5, 0.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..core import ops
from .scalar import NUMPY_FUNCTIONS

__all__ = ["BACKENDS"]


def _log_softmax_complement(xp, z):
    """log(1 − softmax(z)) down each column: for row k, the logsumexp of the other rows minus the
    logsumexp of all. Exact where p_k rounds to 1; −inf for a single row (1 − p is 0 there)."""
    n = z.shape[0]
    others = xp.where(xp.eye(n, dtype=bool)[:, :, None], -xp.inf, z[None, :, :])  # (k, row, m)

    def logsumexp(a, axis):
        top = a.max(axis=axis, keepdims=True)
        top = xp.where(xp.isfinite(top), top, 0.0)
        return top + xp.log(xp.exp(a - top).sum(axis=axis, keepdims=True))

    return logsumexp(others, 1)[:, 0, :] - logsumexp(z, 0)


def _numpy_namespace() -> dict[str, object]:

    def softmax_columns(z):
        e = np.exp(z - z.max(axis=0, keepdims=True))
        return e / e.sum(axis=0, keepdims=True)

    def log_softmax_columns(z):
        shifted = z - z.max(axis=0, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))

    def log(x):
        # Not clamped: the logs of sigmoid and softmax outputs never get here (they are computed
        # from the logits), and clamping any other would give a loss its gradient disagrees
        # with. log(0) is −inf, as the gradient's 1/0 is inf.
        with np.errstate(divide="ignore"):
            return np.log(x)

    def log_softmax_complement_columns(z):
        return _log_softmax_complement(np, z)

    return {
        **{k: v for k, v in NUMPY_FUNCTIONS.items() if k != "softmax"},
        # the registry's kernels as they are, keeping the arrays' dtype (float32 in, float32
        # out), where numeric.py's cast to float64 first
        **ops.namespace("numpy"),
        "outer": lambda d, a: np.einsum("ik,jk->ij", d, a),  # d aᵀ of one column each
        "heaviside": lambda x, h: np.heaviside(x, float(h)),
        "masked": lambda step, x: np.where(step == 0, 0.0, step * x),
        "exp": np.exp, "log": log, "sqrt": np.sqrt,
        "softmax_columns": softmax_columns, "log_softmax_columns": log_softmax_columns,
        "log_softmax_complement_columns": log_softmax_complement_columns,
        "sample_sum": lambda x: x.sum(axis=1, keepdims=True),
        "unit_sum": lambda x: x.sum(axis=0, keepdims=True),
        "np": np,
    }


def _torch_namespace() -> dict[str, object]:
    import torch

    return {
        **ops.namespace("torch"),
        "exp": torch.exp, "sqrt": torch.sqrt, "log": torch.log,
        "heaviside": lambda x, h: torch.heaviside(x, torch.tensor(float(h), dtype=x.dtype)),
        "masked": lambda step, x: torch.where(step == 0, torch.zeros((), dtype=x.dtype), step * x),
        "softmax_columns": lambda z: torch.softmax(z, dim=0),
        "log_softmax_columns": lambda z: torch.log_softmax(z, dim=0),
        "log_softmax_complement_columns": lambda z: (
            torch.logsumexp(z[None].expand(z.shape[0], *z.shape).masked_fill(
                torch.eye(z.shape[0], dtype=torch.bool)[:, :, None], -torch.inf), dim=1)
            - torch.logsumexp(z, dim=0, keepdim=True)),
        "sample_sum": lambda x: x.sum(dim=1, keepdim=True),
        "unit_sum": lambda x: x.sum(dim=0, keepdim=True),
    }


def _jax_namespace() -> dict[str, object]:
    import jax
    import jax.numpy as jnp

    return {
        **ops.namespace("jax"),
        "exp": jnp.exp, "sqrt": jnp.sqrt, "log": jnp.log,
        "heaviside": lambda x, h: jnp.heaviside(x, float(h)),
        "masked": lambda step, x: jnp.where(step == 0, 0.0, step * x),
        "softmax_columns": lambda z: jax.nn.softmax(z, axis=0),
        "log_softmax_columns": lambda z: jax.nn.log_softmax(z, axis=0),
        "log_softmax_complement_columns": lambda z: _log_softmax_complement(jnp, z),
        "sample_sum": lambda x: x.sum(axis=1, keepdims=True),
        "unit_sum": lambda x: x.sum(axis=0, keepdims=True),
    }


def _cupy_namespace() -> dict[str, object]:
    import cupy

    space = {k: v for k, v in _numpy_namespace().items() if k != "np"}
    space.update({
        **ops.namespace("numpy", module=cupy),  # the numpy kernels, on cupy's arrays
        "exp": cupy.exp, "sqrt": cupy.sqrt,
        "heaviside": lambda x, h: cupy.heaviside(x, float(h)),
        "masked": lambda step, x: cupy.where(step == 0, 0.0, step * x),
        "log": cupy.log,
        "log_softmax_complement_columns": lambda z: _log_softmax_complement(cupy, z),
        "softmax_columns": lambda z: (lambda e: e / e.sum(axis=0, keepdims=True))(
            cupy.exp(z - z.max(axis=0, keepdims=True))),
        "log_softmax_columns": lambda z: (lambda s: s - cupy.log(cupy.exp(s).sum(axis=0,
                                                                                keepdims=True)))(
            z - z.max(axis=0, keepdims=True)),
    })
    return space


#: Array libraries the generated code can run on: name -> function returning its namespace.
BACKENDS: dict[str, Callable[[], dict[str, object]]] = {
    "numpy": _numpy_namespace,
    "torch": _torch_namespace,
    "jax": _jax_namespace,
    "cupy": _cupy_namespace,
}

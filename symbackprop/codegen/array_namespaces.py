"""The array namespaces the batched evaluators' generated code runs in: numpy, torch or jax.

Each maps the few names the generated lines call (``xp``, ``perm``, ``matmul``, ``take``,
``imul``, …) to the backend's own functions, so one program text serves all three.

>>> sorted(backend_namespace("numpy"))[:4]
['bcast', 'bmean', 'erf', 'gelu']
"""

from __future__ import annotations

import contextlib
import functools
import math
import sys

import numpy as np

from ..core import ops
from .heap import keep_freed_arrays
from .jax_scan import scan_functions

__all__ = ["backend_namespace", "float64_context", "is_float32", "jax_compiler_options"]


def backend_namespace(name: str, dtype: type = np.float64) -> dict[str, object]:
    """The names generated code calls on backend ``name``, the registry's kernels among them;
    the arrays it makes (zeros, broadcasts, steps, constants through ``tensor``) are ``dtype``
    (float64 or float32)."""
    return {**_array_functions(name, np.dtype(dtype).name), **ops.namespace(name)}


def _array_functions(name: str, dtype: str) -> dict[str, object]:
    if name == "numpy":
        real = np.dtype(dtype)
        keep_freed_arrays()  # a call's arrays stay in the heap for the next (codegen/heap.py)

        def tensor(a):
            a = np.asarray(a)
            return a if a.dtype.kind == "i" else a.astype(real, copy=False)
        return {
            "xp": np, "tensor": tensor,
            "ksum": lambda a, axis: np.sum(a, axis=axis, keepdims=True),
            "kmax": lambda a, axis: np.max(a, axis=axis, keepdims=True),
            "bcast": lambda x, s: np.broadcast_to(np.asarray(x, dtype=real), s),
            "perm": np.transpose, "bmean": lambda x: x.mean(axis=0), "matmul": np.matmul,
            "imul": lambda a, b: np.multiply(a, b, out=a),
            "take": lambda a, i: np.take(a.reshape(a.shape[0], -1), i, axis=1),
            "heaviside": lambda z: (z > 0).astype(real),
            "zeros": lambda shape: np.zeros(shape, dtype=real), "ones": _ones_of(real),
            "work": _workspace(real),
        }
    if name == "torch":
        import torch

        real = getattr(torch, dtype)

        def tensor(a):
            a = np.asarray(a)
            return torch.as_tensor(a, dtype=torch.int64 if a.dtype.kind == "i" else real)
        return {
            "xp": torch, "tensor": tensor,
            "ksum": lambda a, axis: a.sum(dim=axis, keepdim=True),
            "kmax": lambda a, axis: torch.amax(a, dim=axis, keepdim=True),
            "bcast": lambda x, s: torch.broadcast_to(torch.as_tensor(x, dtype=real), s),
            "perm": lambda x, p: x.permute(p), "bmean": lambda x: x.mean(dim=0),
            "matmul": torch.matmul, "imul": lambda a, b: a.mul_(b),
            "take": lambda a, i: a.reshape(a.shape[0], -1)[:, i],
            "heaviside": lambda z: (z > 0).to(real),
            "zeros": lambda shape: torch.zeros(shape, dtype=real),
        }
    if name == "jax":
        import jax.numpy as jnp

        real = getattr(jnp, dtype)

        def jtensor(a):
            a = np.asarray(a)
            return jnp.asarray(a, dtype=jnp.int64 if a.dtype.kind == "i" else real)
        return {
            "xp": jnp, "tensor": jtensor,
            "ksum": lambda a, axis: jnp.sum(a, axis=axis, keepdims=True),
            "kmax": lambda a, axis: jnp.max(a, axis=axis, keepdims=True),
            "bcast": lambda x, s: jnp.broadcast_to(jnp.asarray(x, dtype=real), s),
            "perm": jnp.transpose, "bmean": lambda x: x.mean(axis=0), "matmul": jnp.matmul,
            "imul": lambda a, b: a * b,
            "take": lambda a, i: jnp.take(a.reshape(a.shape[0], -1), i, axis=1),
            "heaviside": lambda z: (z > 0).astype(real),
            "zeros": lambda shape: jnp.zeros(shape, dtype=real),
            **scan_functions(),
        }
    raise ValueError(f"unknown backend {name!r}; expected numpy, torch or jax")


def _ones_of(dtype: np.dtype):
    """``ones(n)``: a read-only vector of n ones in ``dtype``, made once per length (the batch
    evaluator sums over the batch as a product with it: BLAS's gemv, not numpy's reduction)."""
    @functools.lru_cache(maxsize=16)
    def ones(n: int) -> np.ndarray:
        out = np.ones(n, dtype=dtype)
        out.flags.writeable = False
        return out
    return ones


def _workspace(dtype: np.dtype):
    """``work(key, shape)``: an array of ``dtype`` the generated code writes a result into,
    kept from one call to the next (fresh arrays of 128 KiB cost page faults that the kernel
    zeroes, once glibc has handed the freed heap back). It is used again only when nothing
    else holds it: a result still alive (its arrays, an input gradient yet to be computed)
    keeps its arrays, and the call makes new ones. None (a fresh array) below 128 KiB, which
    glibc serves from memory freed a moment before, warm in the cache."""
    pool: dict[int, np.ndarray] = {}
    least = 131072 // np.dtype(dtype).itemsize

    def work(key: int, shape: tuple) -> np.ndarray | None:
        if math.prod(shape) < least:
            return None
        array = pool.pop(key, None)  # atomic: another thread finds no array, or a held one
        if array is None or array.shape != shape or sys.getrefcount(array) > free:
            array = np.empty(shape, dtype)
        pool[key] = array
        return array

    probe = np.empty(0)
    free = sys.getrefcount(probe)  # the count of an array nothing else holds, here
    return work


# XLA's CPU backend hands reductions (and products) to YNNPACK library fusions by default.
# The evaluator's arrays keep one axis per index, most of them of length 1, and on such arrays
# those fusions ran a layer norm's Σs 3-5x slower than XLA's own loops (the block network at
# m = 1024: 2.3 ms with them, 0.45 ms without; hand-written jax.jit, 2-d arrays, 0.43 ms).
# A recursion's lax.scan keeps them: its steps' small matrix products ran 10-30% faster with
# them (RNN T = 16 at batch 1024, interleaved: 1.7-2.0 ms against 2.3-2.4 ms by the minimum).
_NO_LIBRARY_FUSIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}
_compiler_options: list[dict[str, str]] = []


def jax_compiler_options() -> dict[str, str]:
    """The options the evaluator's jitted programs compile with: XLA's CPU library fusions
    off where this jaxlib knows the option (an unknown one fails the compile), none else.

    >>> jax_compiler_options() in ({}, {"xla_cpu_experimental_ynn_fusion_type": ""})
    True
    """
    if not _compiler_options:
        import jax
        import jax.numpy as jnp

        options: dict[str, str] = {}
        if jax.default_backend() == "cpu":
            try:
                jax.jit(jnp.sum).lower(jnp.zeros(2)).compile(compiler_options=_NO_LIBRARY_FUSIONS)
                options = dict(_NO_LIBRARY_FUSIONS)
            except Exception:  # noqa: BLE001 - an older or newer XLA without the option
                options = {}
        _compiler_options.append(options)
    return dict(_compiler_options[0])


def float64_context(backend: str):
    """jax computes in float32 unless x64 is on: the evaluator turns it on for its own work
    only (tracing, constants, calls), as numpy and torch compute in float64 here too. It only
    allows float64: float32 arrays (and weakly typed Python numbers) stay float32."""
    if backend == "jax":
        import jax

        return jax.enable_x64(True)
    return contextlib.nullcontext()


def is_float32(dtype) -> bool:
    """Whether a numpy, jax or torch dtype is float32.

    >>> is_float32(np.dtype("float32")), is_float32(np.dtype("float64"))
    (True, False)
    """
    # a numpy (or jax) dtype compares in C; str() of one costs microseconds, per array per call
    return dtype == np.float32 if isinstance(dtype, np.dtype) else str(dtype).endswith("float32")

"""The MLP evaluator's matrix products alone, in numpy and in its peers' libraries (bench/compare.py):
W A, Wᵀ δ and δ Aᵀ per layer at the engine's shapes, dtype and layout, so a cell's miss can be
split into numpy's BLAS time and the engine's own, and each library's BLAS named.

>>> gemm_shapes([4, 3, 1], 2)
[('W A', (3, 4), (4, 2)), ('δ Aᵀ', (3, 2), (4, 2)), ('W A', (1, 3), (3, 2)), ('δ Aᵀ', (1, 2), (3, 2))]
"""

from __future__ import annotations

import importlib.util
import os
import sys

import harness
import numpy as np


def gemm_shapes(sizes, batch):
    """The matrix products the engine's numpy code makes at this cell, as (kind, W or δ's
    shape, A or δ's shape): Z = W A per layer; δ Aᵀ per layer but at batch 1 (there an outer
    product without BLAS); Wᵀ δ below each layer of more than one unit (one unit is a
    broadcast)."""
    shapes = []
    for k in range(1, len(sizes)):
        shapes.append(("W A", (sizes[k], sizes[k - 1]), (sizes[k - 1], batch)))
        if batch > 1:
            shapes.append(("δ Aᵀ", (sizes[k], batch), (sizes[k - 1], batch)))
        if k > 1 and sizes[k] > 1:
            shapes.append(("Wᵀ δ", (sizes[k], sizes[k - 1]), (sizes[k], batch)))
    return shapes


def _kept_shape(kind, a, b):
    """The shape of the kept array a product writes into (None: a new array each call)."""
    return {"W A": (a[0], b[1]), "Wᵀ δ": (a[1], b[1])}.get(kind)


def _products(pairs, matmul, out):
    """The products of ``pairs`` as the engine calls them: W A and Wᵀ δ (a view of W) into
    ``out``'s kept arrays, δ Aᵀ a new array (a gradient the engine returns)."""
    def products():
        for (kind, a, b), kept in zip(pairs, out, strict=True):
            if kind == "W A":
                matmul(a, b, out=kept)
            elif kind == "Wᵀ δ":
                matmul(a.T, b, out=kept)
            else:
                a @ b.T
    return products


def operand_pairs(sizes, batch, dtype, convert, seed=1):
    """(kind, left, right) of each product at this cell, the same numbers in ``convert``'s library."""
    rng = np.random.default_rng(seed)
    return [(kind, convert(rng.normal(size=a).astype(dtype)), convert(rng.normal(size=b).astype(dtype)))
            for kind, a, b in gemm_shapes(sizes, batch)]


def engine_products(sizes, batch, dtype):
    """One call of the engine's matrix products alone at this cell, in numpy: what the
    engine's whole call spends in numpy's BLAS."""
    pairs = operand_pairs(sizes, batch, dtype, np.asarray)
    out = [None if (shape := _kept_shape(kind, a.shape, b.shape)) is None
           else np.empty(shape, dtype) for kind, a, b in pairs]
    return _products(pairs, np.matmul, out)


def _torch_products(sizes, batch, dtype):
    import torch

    pairs = operand_pairs(sizes, batch, dtype, torch.from_numpy)
    kept = [None if (shape := _kept_shape(kind, a.shape, b.shape)) is None
            else torch.empty(shape, dtype=a.dtype) for kind, a, b in pairs]
    return _products(pairs, torch.matmul, kept)


def _jax_products(sizes, batch, dtype):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    pairs = operand_pairs(sizes, batch, dtype, jnp.asarray)
    kinds = [kind for kind, _, _ in pairs]

    @jax.jit
    def products(operands):
        return [a @ b if kind == "W A" else a.T @ b if kind == "Wᵀ δ" else a @ b.T
                for kind, (a, b) in zip(kinds, operands, strict=True)]

    operands = [(a, b) for _, a, b in pairs]
    return lambda: jax.block_until_ready(products(operands))


def library_products(sizes, batch, dtype) -> dict:
    """The engine's matrix products at this cell (the same shapes, dtype and layout) in numpy,
    and in each peer library installed: torch.matmul into kept tensors, one jax.jit'd program."""
    out = {"numpy": engine_products(sizes, batch, dtype)}
    for library, make in (("torch", _torch_products), ("jax", _jax_products)):
        if importlib.util.find_spec(library) is not None:
            out[library] = make(sizes, batch, dtype)
    return out


def blas_names() -> dict:
    """Each library's BLAS by name, as its configuration reports it (numpy's with its kernel)."""
    kernel = openblas_kernel().rpartition(": ")[2]
    names = {"numpy": harness.blas_report().partition(";")[0].partition(": ")[2]
             + (f", {kernel.split()[0]} kernel" if kernel else ""),
             "jax": "XLA's Eigen"}
    if "torch" in sys.modules:
        names["torch"] = sys.modules["torch"].__config__.show().partition("BLAS_INFO=")[2] \
            .split(",")[0].strip() or "its BLAS"
    return names


def openblas_kernel() -> str:
    """The kernel set numpy's OpenBLAS chose for this CPU, as threadpoolctl reports it ('' where
    it cannot tell): OpenBLAS picks it once, at load, unless OPENBLAS_CORETYPE names one, and
    it decides how fast the products are (on this project's AMD EPYC, Zen 4, it picks SkylakeX,
    whose float32 GEMM measured 1.3x its own Haswell or Zen kernel's at 64 x 64 x 4096)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ""
    numpy_blas = [pool for pool in threadpool_info() if pool.get("internal_api") == "openblas"
                  and "numpy" in str(pool.get("filepath", ""))]
    if not numpy_blas:
        return ""
    chosen = numpy_blas[0].get("architecture") or "?"
    forced = os.environ.get("OPENBLAS_CORETYPE")
    return f"numpy's OpenBLAS kernel: {chosen}" + (f" (OPENBLAS_CORETYPE={forced})" if forced
                                                   else " (its own choice)")


#: OpenBLAS's AVX-512 kernel sets: a CPU that runs them runs its AVX2 + FMA sets too
AVX512_KERNELS = ("SkylakeX", "Cooperlake", "SapphireRapids")


def cpu_kernel(cpuinfo: str) -> str | None:
    r"""OpenBLAS's AVX2 kernel set made for this CPU's vendor (Zen for AMD and Hygon, Haswell for
    Intel), from /proc/cpuinfo's text; None where the CPU has no AVX2 (forcing it would crash).

    >>> cpu_kernel("vendor_id\t: AuthenticAMD\nflags\t\t: fma avx2"), cpu_kernel("flags : sse2")
    ('Zen', None)
    """
    if " avx2" not in cpuinfo:
        return None
    return "Zen" if "AuthenticAMD" in cpuinfo or "HygonGenuine" in cpuinfo else "Haswell"

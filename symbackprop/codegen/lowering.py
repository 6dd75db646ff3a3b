"""Array code for a Σ of a product of two factors, lowered to one batched matrix product.

The batched evaluator gives each index (free or summed) its own axis, so Σ_k W[j,k] a[k]
is naively an outer product over (j, k) summed along k's axis: one large temporary, and no
BLAS. Here the axes of the two factors are sorted into those both keep (a stack of matrices),
those only the left or only the right one has (rows and columns), and the summed ones (the
inner dimension); each factor is transposed and reshaped into that layout, multiplied with
``matmul``, and the product is put back on the evaluator's axes (summed ones kept as length 1).
Dimensions are described as {axis: length}; the batch axis 0 has length None (known only
when called), written -1 in a reshape, so it may occur in at most one merged dimension.
``as_view`` tells when an entry such as W[j, k], or h[t+1] at a fixed t, is a view or a slice
of the stored array rather than a gather.

>>> print(contraction("W", {1: 3, 2: 4}, "a", {0: None, 2: 4}, {2}, n=2))
matmul(a.reshape((-1, 4)), W.reshape((3, 4)).mT).reshape((-1, 3, 1))
"""

from __future__ import annotations

import re
from math import prod

import numpy as np
import sympy as sp

__all__ = ["as_view", "axis_order", "batch_summed", "contraction", "gathered_in_order", "joined",
           "permuted", "reshaped", "summed_by_ones", "workspace"]

BATCH = "A['_batch']"  # the batch's length, known when the generated function is called
_LAST_RESHAPE = re.compile(r"^(.*)\.reshape\(\([^()]*\)\)$", re.S)
_OUTER_PERM = re.compile(r"^perm\((.*), \(([\d, ]+)\)\)$", re.S)
# perm of a gather take(x, _c0), or of a masked one imul(take(x, _c0), _c1), the zeros
# outside x's range being the mask
_PERMUTED_GATHER = re.compile(
    r"perm\((?:imul\((?P<masked>take\(A\['\w+'\], (?P<mi>_c\d+)\)), (?P<mask>_c\d+)\)"
    r"|(?P<plain>take\(A\['\w+'\], (?P<pi>_c\d+)\)))"
    r", \((?P<order>[\d, ]+)\)\)")


def _balanced(code: str) -> bool:
    depth = 0
    for ch in code:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def reshaped(code: str, shape: str) -> str:
    """``code``.reshape(shape); a reshape of a reshape is one reshape (row-major order is
    kept by both), which saves one dispatch: torch pays several µs for each.

    >>> reshaped("x.reshape((1, 4, 1))", "(4,)")
    'x.reshape((4,))'
    """
    found = _LAST_RESHAPE.match(code)
    if found and _balanced(found.group(1)):
        code = found.group(1)
    return f"{code}.reshape({shape})"


def permuted(code: str, order: tuple[int, ...]) -> str:
    """perm(code, order); a permutation of a permutation is one.

    >>> permuted("perm(x, (1, 0, 2))", (2, 1, 0))
    'perm(x, (2, 0, 1))'
    """
    found = _OUTER_PERM.match(code)
    if found and _balanced(found.group(1)):
        inner = tuple(int(d) for d in found.group(2).split(",") if d.strip())
        code, order = found.group(1), tuple(inner[d] for d in order)
    if order == tuple(sorted(order)):
        return code
    return f"perm({code}, {order})"


def _length(dims: dict[int, int | None], axes: list[int]) -> str:
    """The merged length of ``axes`` in a reshape: -1 if it holds the batch axis."""
    return "-1" if 0 in axes else str(prod(dims[a] for a in axes))


def _arranged(code: str, dims: dict[int, int | None], stack: list[int], first: list[int],
              second: list[int], n: int) -> str:
    """``code`` (an array over axes 0..n, of length 1 off ``dims``) as one dimension per stack
    axis, then the matrix (first merged, second merged); an empty group has length 1."""
    order = stack + first + second
    rest = [a for a in range(n + 1) if a not in order]
    shape = [_length(dims, [a]) for a in stack]
    if order != sorted(order) and stack + second + first == sorted(order):
        # the matrix stored the other way round: its transpose is a view, and matmul reads
        # it as it stands (BLAS's transposed operand), where a permutation copied it
        shape += [_length(dims, second), _length(dims, first)]
        return reshaped(code, f"({', '.join(shape)})") + ".mT"
    if order != sorted(order):  # axes off dims have length 1: only the order of the others counts
        code = permuted(code, tuple(order + rest))
    shape += [_length(dims, first), _length(dims, second)]
    return reshaped(code, f"({', '.join(shape)})")


def contraction(left: str, left_dims: dict[int, int | None], right: str,
                right_dims: dict[int, int | None], summed: set[int], n: int) -> str | None:
    """Code for Σ over the ``summed`` axes of left·right as a matmul, or None when a summed
    axis is missing from a factor (no matrix product: the caller sums the plain product)."""
    if not summed or not summed <= set(left_dims) & set(right_dims):
        return None
    if not set(left_dims) ^ set(right_dims):
        # both factors on the same axes: a stack of dot products, which BLAS runs one by one
        # (and numpy copies into place first); the product summed along the axes is one pass
        return None
    # (AB) or (BᵀAᵀ)ᵀ: the one that moves fewer axes (each move a copy or a dispatch), then
    # the one that reads fewer operands transposed: BLAS reads a transposed view as it stands,
    # but XLA copied r·w's batch of rows (16×1024) to read it as (wᵀ)(rᵀ)
    return min((_product(left, left_dims, right, right_dims, summed, n),
                _product(right, right_dims, left, left_dims, summed, n)),
               key=lambda code: (code.count("perm("), code.count(".mT")))


def _product(left: str, left_dims: dict[int, int | None], right: str,
             right_dims: dict[int, int | None], summed: set[int], n: int) -> str:
    stack = sorted(set(left_dims) & set(right_dims) - summed)
    rows = sorted(set(left_dims) - set(right_dims))
    cols = sorted(set(right_dims) - set(left_dims))
    inner = sorted(summed)
    a = _arranged(left, left_dims, stack, rows, inner, n)
    b = _arranged(right, right_dims, stack, inner, cols, n)
    dims = {**left_dims, **right_dims}
    order = stack + rows + cols
    rest = [a for a in range(n + 1) if a not in order]
    if order == sorted(order):  # the other axes have length 1: the reshape puts them in place
        shape = [_length(dims, [a]) if a in order else "1" for a in range(n + 1)]
        return f"matmul({a}, {b}).reshape(({', '.join(shape)}))"
    shape = [_length(dims, [a]) for a in order] + ["1"] * len(rest)
    out = f"matmul({a}, {b}).reshape(({', '.join(shape)}))"
    full = order + rest
    if full != sorted(full):  # back to the evaluator's axis order: a view, no copy
        out = permuted(out, tuple(sorted(range(n + 1), key=full.__getitem__)))
    return out


def summed_by_ones(code: str, dims: dict[int, int | None], axes: set[int], n: int, const
                   ) -> str | None:
    """Σ of ``code`` over ``axes`` (keeping them at length 1) as a matrix product with a vector
    of ones, or None where the summed axes and the kept ones interleave. numpy's own reduction
    of these arrays (one axis per index, most of length 1) ran 4-10x slower than BLAS's gemv:
    18 µs against 3.5 µs for a (1024, 16) sum at float64. ``const(array)`` names a constant
    (the ones of a length known now); ``ones(n)``, called with the batch's, makes the others.

    >>> def const(a): return f"c{len(a)}"
    >>> print(summed_by_ones("x", {0: None, 1: 4, 2: 3}, {2}, 2, const))
    matmul(x.reshape((-1, 3)), c3).reshape((-1, 4, 1))
    >>> print(summed_by_ones("x", {0: None, 1: 4, 2: 3}, {0, 1}, 2, const))
    matmul(ones(A['_batch'] * 4), x.reshape((-1, 3))).reshape((1, 1, 3))
    """
    def ones(length: int | str) -> str:
        return const(np.ones(length)) if isinstance(length, int) else f"ones({length})"
    batch = 0 in dims
    fold = batch and 0 in axes  # the batch joins the Σ (a gradient's batch mean)
    over = sorted(a for a in axes if a in dims and a != 0)
    kept = sorted(a for a in dims if a not in axes and a != 0)
    if not over:
        return None
    s = prod(dims[a] for a in over)
    k = prod(dims[a] for a in kept)
    if not kept or max(kept) < min(over):  # the summed axes last: each row's sum
        out = f"matmul({reshaped(code, f'(-1, {s})')}, {ones(s)})"
        if fold:  # then each column's sum over the batch
            out = f"matmul({ones(BATCH)}, {out}.reshape((-1, {k})))"
    elif max(over) < min(kept):  # the summed axes first: each column's sum
        if fold:
            out = f"matmul({ones(f'{BATCH} * {s}')}, {reshaped(code, f'(-1, {k})')})"
        elif batch:  # a stack of them, one per sample
            out = f"matmul({ones(s)}, {reshaped(code, f'(-1, {s}, {k})')})"
        else:
            out = f"matmul({ones(s)}, {reshaped(code, f'({s}, {k})')})"
    else:
        return None
    shape = ["-1" if a == 0 and batch and not fold else str(dims[a]) if a in kept else "1"
             for a in range(n + 1)]
    return f"{out}.reshape(({', '.join(shape)}))"


def joined(parts: list[tuple[str, str]], out: str | None = None) -> str:
    """Terms joined by their operators (``+ - * /``; the first one's ``-`` a negation, its ``/``
    a reciprocal); with ``out``, the last operation writes into that array (a ufunc's third
    argument), where a fresh array of that size would cost page faults.

    >>> joined([("+", "a"), ("+", "b"), ("-", "c")])
    '(a + b - c)'
    >>> joined([("*", "a"), ("/", "b")], "w")
    'xp.divide((a), b, w)'
    """
    head = {"-": "-", "/": "1.0 / "}.get(parts[0][0], "") + parts[0][1]
    if out is not None and len(parts) > 1:
        ufunc = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}[parts[-1][0]]
        return f"xp.{ufunc}({joined(parts[:-1])}, {parts[-1][1]}, {out})"
    return "(" + head + "".join(f" {op} {code}" for op, code in parts[1:]) + ")"


WORKSPACE_ENTRIES = 16384  # 128 KiB of float64: glibc's threshold for an mmap of its own


def workspace(dims: dict[int, int | None], axes: list[int], n: int, key: int) -> str | None:
    """Code for the workspace array (kept between calls, ``work(key, shape)``) a result over
    ``dims`` is written into, when the result is stored as it is (it spans the batch and every
    one of the quantity's ``axes`` longer than 1, in order) and one sample's is as large as
    ``WORKSPACE_ENTRIES``: a smaller fresh array comes from memory freed a moment before. Else
    None.

    >>> workspace({0: None, 1: 8, 2: 2048}, [1, 2], 3, 7)
    "work(7, (A['_batch'], 8, 2048, 1))"
    >>> workspace({0: None, 1: 8, 2: 3}, [1, 2], 3, 7) is None
    True
    """
    if 0 not in dims or not set(axes) <= set(dims) or axes != sorted(axes) or \
            prod(d for a, d in dims.items() if a) < WORKSPACE_ENTRIES:
        return None
    return f"work({key}, ({BATCH}, " + ", ".join(str(dims.get(a, 1)) for a in range(1, n + 1)) + "))"


def as_view(pos: list[np.ndarray], n: int, ranges, slices: bool = False
             ) -> tuple[list[int], list[int], list[str]] | None:
    """(target shape, the array's dimensions in axis order, a slice per dimension) if reading
    at ``pos`` takes the whole array with each index running along its own axis, or (with
    ``slices``) at one fixed entry of it, else None (a gather).

    >>> as_view([np.arange(3).reshape(1, 3)], 2, [(1, 3)])   # x[k], k on axis 2 of 2
    ([1, 3], [0], [':'])
    >>> as_view([np.array(1)], 2, [(1, 3)], slices=True)      # x[2]: the second entry
    ([1, 1], [0], ['1:2'])
    """
    shape = [1] * n
    axes, at = [], []
    for p, (lo, hi) in zip(pos, ranges, strict=True):
        varying = [a for a in range(p.ndim) if p.shape[a] > 1]
        fixed = int(p.flat[0]) if p.size and (p == p.flat[0]).all() else None
        if (hi == lo and fixed == 0) or (slices and fixed is not None and 0 <= fixed <= hi - lo):
            # one entry: length 1 after the slice, so the reshape fits it anywhere
            axes.append(None)
            at.append(":" if hi == lo else f"{fixed}:{fixed + 1}")
            continue
        at.append(":")
        if len(varying) != 1 or p.ndim != n:
            return None
        axis = varying[0]
        if axis in axes or not np.array_equal(p.reshape(-1), np.arange(hi - lo + 1)):
            return None
        shape[axis] = p.shape[axis]
        axes.append(axis)
    moving = [a for a in axes if a is not None]
    if moving == sorted(moving):  # length-1 dimensions may sit anywhere: no transpose
        return shape, list(range(len(axes))), at
    order = sorted(range(len(axes)), key=lambda d: n + d if axes[d] is None else axes[d])
    return shape, order, at


def gathered_in_order(code: str, consts: dict[str, np.ndarray], const) -> str:
    """``code`` with each permuted gather of a batched array replaced by a gather whose index
    arrays (and mask) are transposed once, when the evaluator is built: the gather then writes
    its result in the order the matmul reads it, where the permutation copied it once more
    (the full convolution's δ_{m,i−k+1} spent most of a channel convolution's call there).
    ``const`` registers an array and returns its name.

    >>> consts = {"_c0": np.arange(6).reshape(2, 3)}
    >>> def const(a):
    ...     consts[f"_c{len(consts)}"] = a
    ...     return f"_c{len(consts) - 1}"
    >>> gathered_in_order("perm(take(A['x'], _c0), (0, 2, 1))", consts, const)
    "take(A['x'], _c1)"
    >>> consts["_c1"].tolist()
    [[0, 3], [1, 4], [2, 5]]
    """
    def fused(found: re.Match) -> str:
        order = tuple(int(d) for d in found.group("order").split(",") if d.strip())
        names = [found.group("mi") or found.group("pi")]
        inner = tuple(d - 1 for d in order[1:])
        if order[0] != 0 or any(consts[c].ndim != len(inner) for c in names):
            return found.group(0)  # the batch axis moves, or an index is not on the grid
        moved = [const(np.ascontiguousarray(consts[c].transpose(inner))) for c in names]
        head = (found.group("masked") or found.group("plain")).rsplit(", ", 1)[0]
        gather = f"{head}, {moved[0]})"
        if found.group("mask") is None:
            return gather
        mask = const(np.ascontiguousarray(consts[found.group("mask")].transpose(order)))
        return f"imul({gather}, {mask})"
    return _PERMUTED_GATHER.sub(fused, code)


def batch_summed(rhs: sp.Expr) -> sp.Sum | None:
    """The Σ of a gradient written Σ … or c·Σ …, which the batch mean may join; else None."""
    sums = [a for a in sp.Mul.make_args(rhs) if isinstance(a, sp.Sum)]
    rest = [a for a in sp.Mul.make_args(rhs) if not isinstance(a, sp.Sum)]
    return sums[0] if len(sums) == 1 and all(a.is_number for a in rest) else None


def axis_order(symbols: list[sp.Symbol], quantities, ranges) -> list[sp.Symbol]:
    """The index symbols in the order their axes take: where it can, each stored array's
    indices in its own order, so that reading it is a reshape (a view) and not a transpose
    (a copy); the largest arrays (batched first) are served first. Ties keep ``symbols``'
    order (first use)."""
    def size(q):
        return (q.kind != "parameter", prod(hi - lo + 1 for lo, hi in ranges[q.name]))
    after: dict[sp.Symbol, set[sp.Symbol]] = {v: set() for v in symbols}

    def reaches(a, b) -> bool:  # b after a already, through the edges so far
        seen, todo = set(), [a]
        while todo:
            v = todo.pop()
            if v == b:
                return True
            if v not in seen:
                seen.add(v)
                todo.extend(after[v])
        return False
    for q in sorted(quantities, key=size, reverse=True):
        for a, b in zip(q.indices, q.indices[1:], strict=False):
            if a in after and b in after and not reaches(b, a):
                after[a].add(b)
    order, placed = [], set()
    while len(order) < len(symbols):  # Kahn's order, ties by first use
        free = next(v for v in symbols if v not in placed and not any(
            v in after[u] for u in symbols if u not in placed))
        order.append(free)
        placed.add(free)
    return order

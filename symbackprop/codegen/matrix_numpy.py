"""The numpy gradients made lean: the passes that measured slow taken out of the generated code,
and the helpers that code calls (which an exported numpy module carries as source).

Measured per line at 64-64-64-1, batch 4096 (CPU time, one thread): the prime recomputed from Z
took seven passes and a second exp per layer; numpy's broadcast bias add costs 2.5 ordinary
passes; Wᵀδ with one unit above is a k = 1 GEMM, 10× a broadcast; row sums are 1.3-2.5× BLAS's
gemv; and fresh (n_l, m) arrays cost page faults the kernel zeroes (3,072 per call in float64).
Tried in float32 at that size and kept out: scipy's expit (935 µs, against 195 for numpy's exp,
add and reciprocal together), the sigmoid in row blocks that stay in L2 (1.05-1.2x slower: exp
and the reciprocal are bound by arithmetic, not memory), the whole call in column blocks of
512-2048 samples (within the noise), and σ from tanh (σ′ would lose its tails). Each step left
is one numpy ufunc pass over the array; the rest of the time is BLAS's products.

Tried for float32's products under the SkylakeX kernel numpy 2.4.6's OpenBLAS 0.3.31 picks on an
AMD Zen 4 CPU (64 x 64 x 4096: 0.53 ms, 0.35 under OPENBLAS_CORETYPE=Zen), and kept out: np.dot
(0.54), the batch in column blocks of 512 (0.54), Wᵀ stored contiguous (0.53), each Z, A and δ
kept column-major, as the transpose of an (m, n_l) workspace array (W A 0.36-0.40 ms, δ Aᵀ 0.40
against 0.50; the whole call 0.89x at 64-64-64-1, batch 4096, 0.99x at 784-256-10) — but the same
layout is 1.11x slower at 64-64-64-1 under the Zen kernel (its W A into a column-major array from
a row-major X: 0.39 ms against 0.35), and 1.01-1.12x slower in float64 (batch 1024-4096): it tunes the
code to one misjudged kernel. At 784-256-10 no layout beats 16.6 ms for the 256 x 784 x 4096
products (Zen kernel 15.5).

>>> lean_gradients(["    m = X.shape[1]", "    Z1 = W1 @ X", "    return Z1"], ["X", "W1"])[1:3]
['    dtype = result_type(X, W1)', "    Z1 = matmul(W1, X, out=work('Z1', (W1.shape[0], m), dtype))"]
"""

from __future__ import annotations

import inspect
import re

import numpy

__all__ = ["NUMPY_HELPERS", "lean_gradients", "numpy_helper_sources"]


def sigmoid_and_prime(z, bias=None, out=None):
    """σ(z + b) and σ′(z + b) from one exp, the latter written over z's own array.

    e = e^(−z−b), σ = 1/(1 + e) and σ′ = σ(z + b)σ(−z − b) = (e σ) σ: exact in both tails, where
    σ(1 − σ) rounds to 0 once σ rounds to 1. −(z + b) is one pass (numpy's broadcast bias add
    alone costs two and a half), and δ ⊙ σ′ is then one pass where the prime from z took seven.

    >>> a, p = sigmoid_and_prime(numpy.array([[0.0, 40.0, -1000.0]]))
    >>> a.tolist(), float(p[0, 0]), float(p[0, 2]), abs(p[0, 1] / numpy.exp(-40.0) - 1) < 1e-12
    ([[0.5, 1.0, 0.0]], 0.25, 0.0, np.True_)
    """
    if bias is None:
        numpy.negative(z, out=z)
    else:
        numpy.subtract(-bias, z, out=z)
    overflowed = False
    with numpy.errstate(over="raise"):
        try:
            numpy.exp(z, out=z)
        except FloatingPointError:  # z + b < −709 (float32: −88): numpy has written inf there
            overflowed = True
    a = numpy.add(z, 1.0, out=out)
    numpy.reciprocal(a, out=a)  # 1/(1 + inf) = 0: σ's limit
    if overflowed:
        z[numpy.isinf(z)] = 0.0  # σ′ is 0 there too (below the smallest normal float), not inf·0
    z *= a
    z *= a
    return a, z


def outer(d, a):
    """d aᵀ of one sample (one column each): einsum's loop where the product is large (3.4× BLAS's
    k = 1 GEMM and 1.5× a broadcast at 256 × 784), the broadcast where it is small (einsum's
    setup is most of a 64 × 64: 4.1 µs against 3.8).

    >>> outer(numpy.array([[1.0], [2.0]]), numpy.array([[3.0], [4.0]])).tolist()
    [[3.0, 4.0], [6.0, 8.0]]
    """
    if d.shape[0] * a.shape[0] > 8192:
        return numpy.einsum("ik,jk->ij", d, a)
    return d * a.T


def sum_over_samples(d):
    """δ 1, the sum of each row over the samples, as a matrix-vector product: BLAS's gemv is
    1.3× (float64) to 2.5× (float32) faster than numpy's row sums at batch 4096.

    >>> sum_over_samples(numpy.array([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [[3.0], [7.0]]
    """
    return d @ numpy.ones((d.shape[1], 1), d.dtype) if d.shape[1] > 1 else d.copy()


def transposed_product(w, delta, out=None):
    """Wᵀ δ, into ``out``: with one row in W (one unit above) a broadcast product, for BLAS's
    k = 1 GEMM is an outer product it does 10× slower (64-64-64-1, batch 4096: 311 µs against 30).

    >>> transposed_product(numpy.array([[2.0, 3.0]]), numpy.array([[1.0, 10.0]])).tolist()
    [[2.0, 20.0], [3.0, 30.0]]
    """
    if w.shape[0] > 1:
        return numpy.matmul(w.T, delta, out=out)
    return numpy.multiply(w.T, delta, out=out)


def fresh(name, shape, dtype):
    """A new array for the gradients' Z, A or δ named ``name``: the default ``work``. (The
    evaluator passes a workspace that keeps them between calls instead: at 64-64-64-1, batch
    4096, float64, fresh arrays cost 3,072 page faults per call, which the kernel zeroes.)"""
    return numpy.empty(shape, dtype)


#: The numpy gradients' own helpers, by the name the code calls (see :func:`lean_gradients`).
NUMPY_HELPERS = {"sigmoid_and_prime": sigmoid_and_prime, "sum_over_samples": sum_over_samples,
                 "outer": outer,
                 "transposed_product": transposed_product, "fresh": fresh,
                 "matmul": numpy.matmul, "result_type": numpy.result_type}
_NUMPY_ALIASES = {"matmul": "matmul = numpy.matmul", "result_type": "result_type = numpy.result_type"}


def numpy_helper_sources(names) -> list[str]:
    """The source of each helper in ``names`` that the numpy gradients call, for an exported
    module (it imports numpy as ``numpy``, as these functions do)."""
    return [_NUMPY_ALIASES[name] if name in _NUMPY_ALIASES else inspect.getsource(fn).rstrip()
            for name, fn in NUMPY_HELPERS.items() if name in names]


_SIGMOID = re.compile(r"    (A\d+) = sigmoid(?:_into)?\((Z\d+)\)(?:  #.*)?$")
_BIAS = re.compile(r"    (Z\d+) ([+-])= (.+)$")
_BACK_PRODUCT = re.compile(r"    (delta\d+) = (W\d+)\.T @ (delta\d+)$")
_PRODUCT = re.compile(r"    (Z\d+) = (W\d+) @ (\w+)$")
_ROW_SUMS = re.compile(r"([A-Za-z_]\w*)\.sum\(axis=1, keepdims=True\)")


def lean_gradients(lines: list[str], arguments: list[str]) -> list[str]:
    """The numpy gradients' lines with the passes that measured slow taken out.

    - ``A = σ(Z)`` whose Z no later line reads but in σ′(Z) becomes ``A, P = sigmoid_and_prime(Z,
      b)``, with the bias line before it folded in, and σ′(Z) is read as P;
    - ``δ = Wᵀ @ δ'`` is ``transposed_product``, a broadcast where W has one row;
    - the sums over samples are ``sum_over_samples`` (gemv);
    - every Z, A and δ of the full (n_l, m) size is written into ``work(name, shape, dtype)``:
      the evaluator's workspace keeps them between calls, where fresh arrays were page faults.
    """
    out = list(lines)
    for i, line in enumerate(lines):
        match = _SIGMOID.match(line)
        if not match:
            continue
        a, z = match.groups()
        prime, name = f"sigmoid_prime({z})", "P" + a[1:]
        later = out[i + 1:]
        if not any(prime in text for text in later) or any(
                z in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text.replace(prime, "")) for text in later):
            continue
        bias = _BIAS.match(out[i - 1])
        argument = z
        if bias and bias.group(1) == z and out[i - 2].startswith(f"    {z} = "):
            argument = f"{z}, {bias.group(3) if bias.group(2) == '+' else '-' + bias.group(3)}"
            out[i - 1] = None
        out[i] = f"    {a}, {name} = sigmoid_and_prime({argument})  # σ({z}) and σ′({z}), over {z}"
        out[i + 1:] = [text.replace(prime, name) for text in later]
    out = [line for line in out if line is not None]
    for i, line in enumerate(out):
        if match := _PRODUCT.match(line):
            z, w, a = match.groups()
            out[i] = f"    {z} = matmul({w}, {a}, out=work('{z}', ({w}.shape[0], m), dtype))"
        elif match := _BACK_PRODUCT.match(line):
            delta, w, above = match.groups()
            out[i] = (f"    {delta} = transposed_product({w}, {above}, "
                      f"out=work('{delta}', ({w}.shape[1], m), dtype))")
        elif line.startswith("    A") and "sigmoid_and_prime(" in line:
            a = line.split(",")[0].strip()
            out[i] = line.replace(")  # σ", f", out=work('{a}', Z{a[1:]}.shape, dtype))  # σ", 1)
        out[i] = _ROW_SUMS.sub(r"sum_over_samples(\1)", out[i])
    # the work arrays in the arguments' own dtype (float32 stays float32), after m = X.shape[1]
    at = out.index("    m = X.shape[1]") + 1
    return [*out[:at], f"    dtype = result_type({', '.join(arguments)})", *out[at:]]

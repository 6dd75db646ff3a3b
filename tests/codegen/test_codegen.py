"""The batched evaluator's generated code (codegen.py): its logs, its in-place kernels, its
backends and dtypes. The equations themselves are tested in test_matrix.py."""

from __future__ import annotations

import itertools
import re
import warnings

import mpmath
import numpy as np
import pytest

import symbackprop as sb
from symbackprop.core import functions

OUTPUTS = ["sigmoid", "tanh", "relu", "softplus", "identity", "softmax"]


def _exact_softmax_bce(Z, Y) -> float:
    """The mean bce of softmax columns, in 50 digits."""
    with mpmath.workdps(50):
        total = mpmath.mpf(0)
        for z, y in zip(Z.T, Y.T, strict=True):
            s = sum(mpmath.exp(v) for v in z)
            for zk, yk in zip(z, y, strict=True):
                p = mpmath.exp(zk) / s
                total += -(yk * mpmath.log(p) + (1 - yk) * mpmath.log(1 - p))
        return float(total / Z.size)


def test_no_log_is_clamped_so_the_loss_is_the_one_the_gradient_differentiates():
    # Every log the matrix evaluator takes is of a sigmoid or softmax output, and each is taken
    # from the logits; a clamped log (torch's BCELoss: −100) would report a loss the gradient is
    # not the derivative of. No bare log(…) of an activation is left in any generated source.
    for output, loss in itertools.product(OUTPUTS, functions.LOSSES):
        try:
            f = sb.matrix_form([2, 3], [output], loss).evaluator()
        except sb.GraphError:
            continue
        assert not re.search(r"(?<![\w.])log\(", f.source), (output, loss)
        assert "-100" not in f.source


def test_softmax_bce_loss_at_saturation_is_exact_not_clamped():
    # p = 1 − 4e-18 rounds to 1.0: log(1 − p) from the probability would be log(0) (clamped to
    # −100 before); from the logits it is −40.2, and the loss agrees with 50-digit arithmetic.
    f = sb.matrix_form([1, 3], ["softmax"], "bce").evaluator()
    X = np.array([[1.0, 0.5]])
    W = [np.array([[40.0], [-3.0], [0.2]])]
    Y = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    want = _exact_softmax_bce(W[0] @ X, Y)
    assert f.loss(X, Y, W) == pytest.approx(want, rel=1e-13)
    with np.errstate(all="ignore"):  # its gradient is the documented limit (nan here)
        assert f(X, Y, W).loss == pytest.approx(want, rel=1e-13)


def _random_problem(sizes, bias, batch, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(sizes[0], batch))
    Y = rng.uniform(size=(sizes[-1], batch))
    W = [rng.normal(size=(b, a)) for a, b in zip(sizes, sizes[1:], strict=False)]
    B = None if not bias else [rng.normal() for _ in sizes[1:]] if bias == "shared" \
        else [rng.normal(size=b) for b in sizes[1:]]
    return X, Y, W, B


@pytest.mark.parametrize("batch", [1, 5])  # one sample takes the outer-product line
@pytest.mark.parametrize("bias", [False, True, "threshold", "shared"])
@pytest.mark.parametrize("output", ["sigmoid", "tanh", "relu", "softplus", "gelu", "silu",
                                    "identity", "softmax"])
def test_in_place_code_equals_the_equations_as_written_and_leaves_arguments_alone(output, bias,
                                                                                  batch):
    # The numpy code writes over the arrays it has just made (Z = W @ A; Z += b; σ over Z;
    # δ = Wᵀ @ δ'; δ *= A …); the other backends' code is the equations line for line. Run both
    # on numpy arrays: the same numbers, and X, Y, W, b unchanged.
    from symbackprop.codegen.matrix import BACKENDS
    from symbackprop.codegen.matrix_code import generate

    loss = {"softmax": "cross_entropy", "sigmoid": "bce"}.get(output, "mse")
    sizes = [3, 4, 4, 2]
    form = sb.matrix_form(sizes, ["sigmoid", "tanh" if output != "tanh" else "relu", output],
                          loss, bias=bias)
    f = form.evaluator()
    assert "_into(" in f.source or "+= b" in f.source or " *= " in f.source
    written: dict = dict(BACKENDS["numpy"]())
    exec(compile(generate(form, "jax"), "as_written", "exec"), written)  # the engine's own code
    X, Y, W, B = _random_problem(sizes, bias, batch=batch)
    before = [a.copy() for a in (X, Y, *W, *(np.atleast_1d(b) for b in B or []))]
    got = f(X, Y, W, B)
    args = f._arguments(X, Y, W, B)
    loss_value, dW, db = written["gradients"](*args)
    assert got.loss == pytest.approx(loss_value, rel=1e-13)
    for a, b in zip(got.weight_gradients, dW, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    after = [a.copy() for a in (X, Y, *W, *(np.atleast_1d(b) for b in B or []))]
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def _in_float64_and_float32(f, X, Y, W, B):
    def narrow(a):
        return a.astype(np.float32)

    return f(X, Y, W, B), f(narrow(X), narrow(Y), [narrow(w) for w in W], [narrow(b) for b in B])


@pytest.mark.parametrize("hidden", ["sigmoid", "relu", "leaky_relu", "softplus", "tanh", "gelu",
                                    "silu"])
def test_float32_arrays_give_float32_gradients_close_to_float64(hidden):
    f = sb.matrix_form([3, 4, 3], [hidden, "softmax"], "cross_entropy", bias=True).evaluator()
    X, _, W, B = _random_problem([3, 4, 3], True, batch=6)
    Y = np.eye(3)[:, [0, 1, 2, 0, 1, 2]]
    wide, single = _in_float64_and_float32(f, X, Y, W, B)
    for got, want in zip([*single.weight_gradients, *single.bias_gradients],
                         [*wide.weight_gradients, *wide.bias_gradients], strict=True):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert single.loss == pytest.approx(wide.loss, rel=1e-5)


def test_auto_backend_runs_the_code_of_the_arrays_own_library():
    f = sb.matrix_form([3, 4, 2], ["tanh", "softmax"], "cross_entropy", bias=True).evaluator()
    assert f.backend == "auto" and "sigmoid_into" not in f.source and "+= b1" in f.source
    X, _, W, B = _random_problem([3, 4, 2], True, batch=5)
    Y = np.eye(2)[:, [0, 1, 1, 0, 1]]
    want = f(X, Y, W, B)
    torch = pytest.importorskip("torch")
    t = torch.from_numpy
    got = f(t(X), t(Y), [t(w) for w in W], [t(b) for b in B])
    assert all(isinstance(g, torch.Tensor) for g in got.weight_gradients)  # no copy to numpy
    for a, b in zip(got.weight_gradients, want.weight_gradients, strict=True):
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-12)
    assert set(f._compiled) == {"numpy", "torch"}


@pytest.mark.parametrize(("sizes", "activations", "loss"), [
    ([64, 64, 64, 1], ["sigmoid"] * 3, "mse"),                    # bench/compare.py's nets
    ([784, 256, 10], ["sigmoid", "softmax"], "cross_entropy")])
def test_float32_stays_float32_through_the_fused_sigmoid_and_matches_float64(sizes, activations,
                                                                             loss):
    f = sb.matrix_form(sizes, activations, loss, bias=True, reduction="mean").evaluator()
    assert "sigmoid_and_prime(Z1, b1, out=" in f.source and "sum_over_samples(delta1)" in f.source
    X, Y, W, B = _random_problem(sizes, True, batch=33)
    W = [w / np.sqrt(w.shape[1]) for w in W]
    if activations[-1] == "softmax":
        Y = np.eye(sizes[-1])[:, np.arange(33) % sizes[-1]]
    wide, single = _in_float64_and_float32(f, X, Y, W, B)
    for got, want in zip([*single.weight_gradients, *single.bias_gradients],
                         [*wide.weight_gradients, *wide.bias_gradients], strict=True):
        assert got.dtype == np.float32  # no silent upcast anywhere on the way
        scale = np.abs(want).max()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * scale)
    assert single.loss == pytest.approx(wide.loss, rel=1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_sigmoid_is_exact_in_both_tails_without_warnings(dtype):
    # Hidden Z at ±1000 (e^1000 overflows) and 40 or 17 (where 1 − σ rounds to 0): σ′ from the
    # forward pass's own exp is 0 where it is below every normal float and e^−z σ² elsewhere,
    # the same numbers as the prime computed from Z (the equations as written).
    from symbackprop.codegen.matrix import BACKENDS
    from symbackprop.codegen.matrix_code import generate

    form = sb.matrix_form([1, 4, 2], ["sigmoid", "sigmoid"], "mse", bias=True)
    f = form.evaluator()
    assert "sigmoid_and_prime(Z1, b1, out=" in f.source and "sigmoid_prime" not in f.source.split(
        "def gradients")[1]
    written: dict = dict(BACKENDS["numpy"]())
    exec(compile(generate(form, "jax"), "as_written", "exec"), written)  # the engine's own code
    big = 40.0 if dtype == np.float64 else 17.0
    X = np.array([[1.0, -1.0, 0.5]], dtype=dtype)
    W = [np.array([[1000.0], [-1000.0], [big], [0.3]], dtype=dtype),
         np.array([[0.5, -0.25, 1e3, 0.1], [0.2, 0.1, -1e3, 0.3]], dtype=dtype)]
    B = [np.zeros(4, dtype=dtype), np.array([0.0, 1e3], dtype=dtype)]
    Y = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.5]], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        got = f(X, Y, W, B)
        with np.errstate(over="ignore"):
            want = written["gradients"](*f._arguments(X, Y, W, B))
    tiny = np.finfo(dtype).tiny
    for a, b in zip([*got.weight_gradients, *got.bias_gradients],
                    [*want[1], *(g.reshape(-1) for g in want[2])], strict=True):
        assert a.dtype == dtype and np.isfinite(a).all()
        np.testing.assert_allclose(a, b, rtol=1e-12 if dtype == np.float64 else 1e-5, atol=tiny)
    assert got.weight_gradients[0][2, 0] != 0  # σ′(40) = 4e-18, not σ(1 − σ) = 0


def test_the_workspace_is_the_evaluators_own_so_results_never_alias_between_calls():
    # Z, A and δ are written into arrays kept between calls (fresh ones were page faults); what
    # a call returns is new each time, and each thread has its own workspace.
    import threading

    sizes = [5, 7, 6, 3]
    f = sb.matrix_form(sizes, ["sigmoid", "tanh", "softmax"], "cross_entropy", bias=True).evaluator()
    problems = [_random_problem(sizes, True, batch=9, seed=s) for s in range(4)]
    problems = [(X, np.eye(3)[:, np.arange(9) % 3], W, B) for X, _, W, B in problems]
    first = f(*problems[0])
    kept = [g.copy() for g in [*first.weight_gradients, *first.bias_gradients]]
    second = f(*problems[1])
    for a, b in zip([*first.weight_gradients, *first.bias_gradients], kept, strict=True):
        np.testing.assert_array_equal(a, b)  # the second call wrote nothing the first returned
    assert not np.allclose(second.weight_gradients[0], first.weight_gradients[0])
    fresh = sb.matrix_form(sizes, ["sigmoid", "tanh", "softmax"], "cross_entropy",
                           bias=True).evaluator()
    want = [fresh(*p) for p in problems]
    got: dict = {}

    def run(k):
        for _ in range(20):
            got[k] = f(*problems[k])

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        for a, b in zip(got[k].weight_gradients, want[k].weight_gradients, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-13)

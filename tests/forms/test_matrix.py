"""The matrix form (seed 004): derived equations, their agreement with the scalar derivation entry
by entry, and the batched evaluator generated from them."""

from __future__ import annotations

import importlib.util
import re
import warnings

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from texutil import compile_snippet, needs_tex

import symbackprop as sb
from symbackprop.builders.mlp import BIAS_MODES
from symbackprop.codegen.matrix import BACKENDS
from symbackprop.core import ops
from symbackprop.forms.matrix import MatrixLatexPrinter
from symbackprop.output.render import section_title as title

#: Every activation of the op registry, softmax last.
ACTIVATIONS = [n for n in ops.LAYER_ACTIVATIONS if n != "linear"]


# -- the equations, as seed 004 writes them --------------------------------------------------------
def test_sizes_are_symbols_so_the_equations_hold_for_every_width():
    mf = sb.matrix_form([784, 128, 10], ["sigmoid", "softmax"], "cross_entropy", bias=True)
    n0, n1, n2 = mf.n
    assert mf.W[1].shape == (n1, n0) and mf.W[2].shape == (n2, n1)
    assert mf.A[1].shape == (n1, mf.m)
    assert all(784 not in eq.rhs.free_symbols for eq in mf.equations)


def test_forward_pass_and_bias_modes():
    mf = sb.matrix_form([2, 3, 1], bias=True)
    assert mf.equation("forward", 1).rhs == mf.W[1] * mf.A[0] + mf.b[1] * sp.OneMatrix(1, mf.m)
    thr = sb.matrix_form([2, 3, 1], bias="threshold")
    assert thr.equation("forward", 2).rhs == thr.W[2] * thr.A[1] - thr.b[2] * sp.OneMatrix(1, thr.m)
    assert thr.equation("bias", 2).rhs == -thr.delta[2] * sp.OneMatrix(thr.m, 1) / thr.m


@pytest.mark.parametrize(("output", "loss", "expected"), [
    ("softmax", "cross_entropy", lambda f: f.A[2] - f.Y),
    ("sigmoid", "bce", lambda f: (f.A[2] - f.Y) / f.n[2]),
    ("identity", "half_sse", lambda f: f.A[2] - f.Y),
])
def test_output_delta_simplifies_as_lectures_write_it(output, loss, expected):
    f = sb.matrix_form([2, 3, 2], ["sigmoid", output], loss)
    assert f.equation("delta", 2).rhs == expected(f)


def test_hidden_delta_is_the_transposed_weights_times_the_next_delta_times_sigma_prime():
    f = sb.matrix_form([2, 3, 1])
    rhs = f.equation("delta", 1).rhs
    ones = sp.OneMatrix(*f.A[1].shape)
    assert rhs == sp.HadamardProduct(f.W[2].T * f.delta[2], f.A[1], ones - f.A[1])


def test_mean_losses_average_the_batch_and_sums_do_not():
    mse = sb.matrix_form([2, 1], loss="mse")
    sse = sb.matrix_form([2, 1], loss="sse")
    assert mse.reduction == "mean" and sse.reduction == "sum"
    assert mse.equation("weight", 1).rhs == mse.delta[1] * mse.A[0].T / mse.m
    assert sse.equation("weight", 1).rhs == sse.delta[1] * sse.A[0].T
    assert sb.matrix_form([2, 1], loss="sse", reduction="mean").batch_scale == 1 / sse.m


def test_latex_of_seed004():
    f = sb.matrix_form([2, 3, 2], ["sigmoid", "softmax"], "cross_entropy", bias=True)
    lines = f.latex()
    assert r"Z^{[1]} = W^{[1]} A^{[0]} + b^{[1]} \mathbf{1}_{m}^{\top}" in lines
    assert r"\delta^{[2]} = A^{[2]} - Y" in lines
    assert (r"\delta^{[1]} = \left({W^{[2]}}^{\top} \delta^{[2]}\right) \odot A^{[1]} \odot "
            r"\left(\mathbf{1} - A^{[1]}\right)") in lines
    assert r"\frac{\partial \mathcal{L}}{\partial W^{[1]}} = \delta^{[1]} {A^{[0]}}^{\top}" in lines
    assert MatrixLatexPrinter(loss="J").doprint(f.dW[2]) == r"\frac{\partial J}{\partial W^{[2]}}"
    assert f._repr_latex_().startswith(r"$\displaystyle \begin{aligned}")


@needs_tex
def test_every_combination_compiles(tmp_path):
    body = []
    for act in ACTIVATIONS:
        loss = "cross_entropy" if act == "softmax" else "bce" if act == "sigmoid" else "mse"
        for bias in BIAS_MODES:
            f = sb.matrix_form([2, 3, 2], [act, act], loss, bias)
            body.append(r"\begin{align*}" + r" \\ ".join(
                line.replace(" = ", " &= ", 1) for line in f.latex()) + r"\end{align*}")
    pdf = compile_snippet("\n".join(body), tmp_path / "matrix.pdf",
                          preamble="\\usepackage{amsmath,amssymb}\n")
    assert pdf.stat().st_size > 0


# -- every equation equals the scalar derivation, entry by entry ----------------------------------
@pytest.mark.parametrize("bias", [False, True, "threshold", "shared"])
@pytest.mark.parametrize(("activations", "loss"), [
    (["sigmoid", "sigmoid"], "mse"),
    (["tanh", "softmax"], "cross_entropy"),
    (["relu", "sigmoid"], "bce"),
    (["leaky_relu", "softplus", "identity"], "half_sse"),
    (["softmax", "softmax"], "mse"),
    (["sigmoid", "softmax"], "bce"),
    (["identity"], "sse"),
])
def test_matrix_equations_equal_the_scalar_derivation(activations, loss, bias):
    f = sb.matrix_form([3] * len(activations) + [2], activations, loss, bias)
    report = f.check(batch=3)
    assert report.ok and report.max_error < 1e-12


@settings(max_examples=12)
@given(depth=st.integers(1, 3), widths=st.lists(st.integers(1, 3), min_size=4, max_size=4),
       acts=st.lists(st.sampled_from(ACTIVATIONS[:-1]), min_size=3, max_size=3),
       output=st.sampled_from(["sigmoid", "softmax", "identity", "tanh"]),
       bias=st.sampled_from([False, True, "threshold", "shared"]), seed=st.integers(0, 99))
@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_random_architectures_agree_with_the_scalar_derivation(depth, widths, acts, output, bias,
                                                                seed):
    loss = {"sigmoid": "bce", "softmax": "cross_entropy"}.get(output, "mse")
    sizes = widths[: depth + 1]
    if output == "softmax":
        sizes[-1] = max(2, sizes[-1])
    f = sb.matrix_form(sizes, [*acts[: depth - 1], output], loss, bias)
    assert f.check(sizes=sizes, batch=2, seed=seed).max_error < 1e-12


def test_check_catches_a_wrong_equation():
    f = sb.matrix_form([2, 3, 1])
    right = f.deltas
    wrong = [right[0], type(right[1])("delta", 1, right[1].lhs, f.W[2].T * f.delta[2])]  # no σ′
    f.__dict__["deltas"] = wrong
    with pytest.raises(AssertionError, match="delta of layer 1") as caught:
        f.check()
    report = caught.value.report
    assert not report.ok and not report
    assert [(r.kind, r.layer) for r in report.rows if not r.ok] == [("delta", 1), ("weight", 1)]
    assert "WRONG" in str(report) and "SOME EQUATIONS DISAGREE" in str(report)


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_notes_in_matrix_notation_carry_the_matrix_form_and_say_it_was_checked():
    net = sb.mlp([2, 3, 2], ["sigmoid", "softmax"], "cross_entropy", bias=True, notation="matrix")
    doc = sb.build_document(sb.derive(net), appendix=False)
    section = next(s for s in doc.sections if title(s) == "The matrix form")
    checks = [eq.check for b in section.blocks if hasattr(b, "equations") for eq in b.equations]
    assert len(checks) == 11 and set(checks) == {"matrix"}
    assert "The matrix form" not in [title(s) for s in sb.build_document(
        sb.derive(sb.mlp([2, 2, 1])), appendix=False).sections]
    assert "The matrix form" in [title(s) for s in sb.build_document(
        sb.derive(sb.mlp([2, 2, 1])), appendix=False, matrix=True).sections]


# -- the batched evaluator --------------------------------------------------------------------------
def random_problem(sizes, loss, bias, batch, seed=0):
    rng = np.random.default_rng(seed)
    weights = [rng.uniform(-1, 1, (sizes[k + 1], sizes[k])) for k in range(len(sizes) - 1)]
    if bias == "shared":
        biases = [float(rng.uniform(-1, 1)) for _ in weights]
    elif bias:
        biases = [rng.uniform(-1, 1, sizes[k + 1]) for k in range(len(sizes) - 1)]
    else:
        biases = None
    X = rng.uniform(-2, 2, (sizes[0], batch))
    if loss == "cross_entropy":
        Y = np.eye(sizes[-1])[:, rng.integers(sizes[-1], size=batch)]
    else:
        Y = rng.uniform(0, 1, (sizes[-1], batch))
    return X, Y, weights, biases


def scalar_values(net, X, Y, weights, biases, k):
    values = {x.name: X[i, k] for i, x in enumerate(net.inputs)}
    values.update({t.name: Y[j, k] for j, t in enumerate(net.targets)})
    for l in range(1, net.depth + 1):  # noqa: E741
        for i in range(1, net.sizes[l - 1] + 1):
            for j in range(1, net.sizes[l] + 1):
                values[net.weight(l, i, j).name] = weights[l - 1][j - 1, i - 1]
        for j in range(1, net.sizes[l] + 1):
            if net.bias_mode == "shared":
                values[net.bias(l, j).name] = biases[l - 1]
            elif net.bias_mode:
                values[net.bias(l, j).name] = biases[l - 1][j - 1]
    return values


@pytest.mark.parametrize(("activations", "loss", "bias"), [
    (["sigmoid", "sigmoid"], "mse", True),
    (["tanh", "softmax"], "cross_entropy", "threshold"),
    (["relu", "leaky_relu", "sigmoid"], "bce", "shared"),
    (["softplus", "identity"], "half_sse", False),
    (["softmax", "identity"], "sse", True),
])
def test_batch_evaluator_equals_the_scalar_evaluator_summed_over_samples(activations, loss, bias):
    sizes = [3, 4, 3, 2][: len(activations) + 1]
    net = sb.mlp(sizes, activations, loss, bias)
    d = sb.derive(net)
    f = sb.matrix_form(net).evaluator()
    X, Y, W, B = random_problem(sizes, loss, bias, batch=7)
    out = f(X, Y, W, B)
    scale = 1 / 7 if f.form.reduction == "mean" else 1
    evs = [d.evaluate(scalar_values(net, X, Y, W, B, k)) for k in range(7)]
    assert out.loss == pytest.approx(scale * sum(e.loss for e in evs), rel=1e-12)
    for l in range(1, net.depth + 1):  # noqa: E741
        for i in range(1, sizes[l - 1] + 1):
            for j in range(1, sizes[l] + 1):
                want = scale * sum(e.gradients[net.weight(l, i, j).name] for e in evs)
                assert out.weight_gradients[l - 1][j - 1, i - 1] == pytest.approx(want, rel=1e-10,
                                                                                 abs=1e-13)
        if bias == "shared":
            want = scale * sum(e.gradients[net.bias(l, 1).name] for e in evs)
            assert float(out.bias_gradients[l - 1]) == pytest.approx(want, rel=1e-10, abs=1e-13)
        elif bias:
            want = [scale * sum(e.gradients[net.bias(l, j).name] for e in evs)
                    for j in range(1, sizes[l] + 1)]
            assert out.bias_gradients[l - 1] == pytest.approx(want, rel=1e-10, abs=1e-13)
    assert f.forward(X, W, B).shape == (sizes[-1], 7)
    assert f.loss(X, Y, W, B) == pytest.approx(out.loss, rel=1e-14)


def test_batch_gradients_match_central_differences():
    sizes, loss = [4, 5, 3], "cross_entropy"
    f = sb.matrix_form(sizes, ["tanh", "softmax"], loss, bias=True).evaluator()
    X, Y, W, B = random_problem(sizes, loss, True, batch=16, seed=3)
    out = f(X, Y, W, B)
    h = 1e-6
    for layer in range(2):
        for idx in np.ndindex(W[layer].shape):
            plus = [w.copy() for w in W]
            minus = [w.copy() for w in W]
            plus[layer][idx] += h
            minus[layer][idx] -= h
            fd = (f.loss(X, Y, plus, B) - f.loss(X, Y, minus, B)) / (2 * h)
            assert out.weight_gradients[layer][idx] == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_seed000_through_the_batch_evaluator(seed000_values):
    v = seed000_values
    f = sb.matrix_form([2, 2, 1]).evaluator()
    X, Y = np.array([[v["x1"]], [v["x2"]]]), np.array([[v["y"]]])
    W = [np.array([[v["w1"], v["w3"]], [v["w2"], v["w4"]]]), np.array([[v["w5"], v["w6"]]])]
    d = sb.derive(sb.mlp([2, 2, 1]))
    assert f(X, Y, W).weight_gradients[1][0, 0] == pytest.approx(d.evaluate(v).gradients["w5"])


@pytest.mark.parametrize(("output", "loss"), [("sigmoid", "bce"), ("softmax", "cross_entropy"),
                                              ("softplus", "mse")])
def test_saturated_outputs_give_finite_losses_and_gradients_without_warnings(output, loss):
    f = sb.matrix_form([1, 2], [output], loss, bias=False).evaluator()
    X = np.array([[1.0, 1.0]])
    W = [np.array([[1000.0], [-1000.0]])]
    Y = np.array([[0.0, 1.0], [1.0, 0.0]])
    # Underflow to 0 (exp(−1000)) is exact enough and numpy ignores it by default; overflow,
    # division by zero and invalid operations are what would turn into inf and nan.
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        out = f(X, Y, W)
    assert np.isfinite(out.loss) and out.loss > 100
    assert all(np.isfinite(g).all() for g in out.weight_gradients)


def test_generated_source_is_readable_and_can_be_saved(tmp_path):
    f = sb.matrix_form([64, 64, 64, 1], bias=True).evaluator()
    # a few array operations per layer, no loop over weights
    assert not re.search(r"^\s*(for|while) ", f.source, re.M)
    # δ^[2] = (W^[3]ᵀ δ^[3]) ⊙ A^[2] ⊙ (1 − A^[2]), computed in place in the product's array,
    # with σ′(Z^[2]) = σ(Z^[2])σ(−Z^[2]), made with A^[2] from the same exp (A ⊙ (1 − A) is 0
    # where σ rounds to 1)
    assert "A2, P2 = sigmoid_and_prime(Z2, b2, out=" in f.source
    assert "delta2 = transposed_product(W3, delta3, out=" in f.source
    assert "\n    delta2 *= P2\n" in f.source
    path = tmp_path / "mlp_gradients.py"
    f.save(path)
    namespace: dict = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)  # our own file
    X, Y, W, B = random_problem([64, 64, 64, 1], "mse", True, batch=5)
    loss, dW, db = namespace["gradients"](X, Y, *W, *[b.reshape(-1, 1) for b in B])
    assert loss == pytest.approx(f(X, Y, W, B).loss)


def test_wrong_arguments_are_named():
    f = sb.matrix_form([2, 2, 1], bias=True).evaluator()
    X, Y, W, B = random_problem([2, 2, 1], "mse", True, batch=2)
    with pytest.raises(ValueError, match="expected 2 weight matrices"):
        f(X, Y, W[:1], B)
    with pytest.raises(ValueError, match="expected 2 biases"):
        f(X, Y, W, None)
    with pytest.raises(ValueError, match="unknown backend"):
        sb.matrix_form([2, 1]).evaluator("tensorflow")


@pytest.mark.parametrize("backend", ["torch", "jax", "cupy"])
def test_other_backends_where_installed(backend):
    if importlib.util.find_spec(backend) is None:
        with pytest.raises(ImportError, match=f"the {backend} backend needs"):
            sb.matrix_form([2, 1]).evaluator(backend)
        pytest.skip(f"{backend} is not installed")
    f = sb.matrix_form([3, 4, 2], ["tanh", "softmax"], "cross_entropy", bias=True)
    X, Y, W, B = random_problem([3, 4, 2], "cross_entropy", True, batch=5)
    want = f.evaluator()(X, Y, W, B)
    lib = {"torch": "torch", "jax": "jax.numpy", "cupy": "cupy"}[backend]
    xp = importlib.import_module(lib)
    as_array = (lambda a: xp.tensor(a, dtype=xp.float64)) if backend == "torch" else xp.asarray
    got = f.evaluator(backend)(as_array(X), as_array(Y), [as_array(w) for w in W],
                               [as_array(b) for b in B])
    # jax computes in float32 unless told otherwise: agreement to single precision
    assert float(got.loss) == pytest.approx(want.loss, rel=1e-5)
    for g, w in zip(got.weight_gradients, want.weight_gradients, strict=True):
        assert np.asarray(g) == pytest.approx(w, rel=1e-4, abs=1e-7)
    assert backend in BACKENDS


def test_evaluate_takes_the_networks_own_names_and_a_batch_of_samples():
    net = sb.mlp([2, 3, 2], ["tanh", "softmax"], "cross_entropy", bias=True, notation="layered")
    d = sb.derive(net)
    rng = np.random.default_rng(5)
    values = {p.name: float(rng.uniform(-1, 1)) for p in net.parameters}
    samples = [{**values, **{x.name: float(rng.uniform(-2, 2)) for x in net.inputs}} for _ in range(4)]
    for k, s in enumerate(samples):
        s.update({t.name: float(j == k % 2) for j, t in enumerate(net.targets)})
    batch = {**values, **{s.name: [v[s.name] for v in samples] for s in [*net.inputs, *net.targets]}}
    out = sb.matrix_form(net).evaluator().evaluate(batch)
    evs = [d.evaluate(s) for s in samples]
    assert out.loss == pytest.approx(sum(e.loss for e in evs))  # cross-entropy sums the batch
    for p in net.parameters:
        assert out.gradients[p.name] == pytest.approx(sum(e.gradients[p.name] for e in evs))
    with pytest.raises(ValueError, match="no value for: w_11"):
        sb.matrix_form(net).evaluator().evaluate({k: v for k, v in batch.items() if k != "w_11^(1)"})
    with pytest.raises(ValueError, match="needs the form of a network"):
        sb.matrix_form([2, 1]).evaluator().evaluate(batch)


@pytest.mark.parametrize("targets", ["twice one-hot", "all one half", "soft labels"])
def test_softmax_cross_entropy_code_is_exact_for_targets_that_are_not_one_hot(targets):
    # issue 15, defect 5: δ = A − Y assumed each target column sums to 1 (dW was half of
    # torch's for 2·one-hot, of the wrong sign for 0.5 everywhere)
    rng = np.random.default_rng(3)
    X, W = rng.normal(size=(2, 4)), [rng.normal(size=(3, 2))]
    Y = {"twice one-hot": 2 * np.eye(3)[:, [0, 1, 2, 0]], "all one half": np.full((3, 4), 0.5),
         "soft labels": rng.dirichlet([1, 1, 1], size=4).T}[targets]
    f = sb.matrix_form([2, 3], ["softmax"], "cross_entropy").evaluator()
    got = f(X, Y, W).weight_gradients[0]
    h = 1e-6
    for i, j in np.ndindex(3, 2):
        plus, minus = W[0].copy(), W[0].copy()
        plus[i, j] += h
        minus[i, j] -= h
        fd = (f.loss(X, Y, [plus]) - f.loss(X, Y, [minus])) / (2 * h)
        assert got[i, j] == pytest.approx(fd, rel=1e-6, abs=1e-8)

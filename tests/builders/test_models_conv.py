"""Convolutions with channels (C_in input channels, C_out kernels): the scalar builder, its
names and spec keys, the general form checked against the scalar derivation, the batched
evaluator against the scalar derivation and finite differences, and both the scalar derivation
and the batched evaluators (numpy, torch, jax) against torch.nn.functional.conv1d/conv2d and
the dense head with autograd in float64, where torch is installed."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from backends import BACKENDS, installed, needs_torch
from hypothesis import given, settings
from hypothesis import strategies as st
from networks import assert_fd_ok, quantity_arrays, random_values

import symbackprop as sb
from symbackprop.core.graph import GraphError
from symbackprop.forms import models as forms
from symbackprop.io.spec import SpecError, parse_spec

FEW = settings(max_examples=3, deadline=None, derandomize=True)
B = 4

# The reference: imported where installed; the tests that need it are marked to skip otherwise.
torch = importlib.import_module("torch") if installed("torch") else None
F = torch.nn.functional if torch is not None else None


@FEW
@given(st.integers(2, 5), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),
       st.integers(1, 2), st.sampled_from(["tanh", "sigmoid"]))
def test_conv1d_with_channels_matches_finite_differences(length, kernel, c_in, c_out, outputs,
                                                          act):
    assert_fd_ok(sb.conv1d(length, min(kernel, length), act, outputs=outputs, in_channels=c_in,
                     out_channels=c_out))


def test_conv2d_with_channels_matches_finite_differences():
    assert_fd_ok(sb.conv2d((3, 3), (2, 2), "tanh", in_channels=2, out_channels=2))


def test_channel_names_are_the_textbook_ones():
    net = sb.conv1d(4, 2, in_channels=2, out_channels=3)
    assert net.latex_name(net.x(2, 4)) == "x_{2,4}"
    assert net.latex_name(net.w(3, 1, 2)) == "w_{3,1,2}"
    assert net.latex_name(net.pre(3, 1)) == "z_{3,1}"
    assert net.delta_latex(net.pre(3, 1)) == r"\delta_{3,1}"
    assert net.latex_name(net.symbol("b_3")) == "b_{3}"
    assert net.latex_name(net.symbol("v_2,3")) == "v_{2,3}"
    assert net.title == "1-D convolution: 4 inputs, kernel 2, 2 input channels and 3 kernels"
    two = sb.conv2d((3, 3), (2, 2), outputs=2, in_channels=2)
    assert two.latex_name(two.w(1, 2, 1, 2)) == "w_{1,2,1,2}"
    assert two.latex_name(two.symbol("v_2,1,1,2")) == "v_{2,1,1,2}"


@pytest.mark.parametrize("build", [lambda **c: sb.conv1d(5, 2, "tanh", outputs=2, **c),
                                   lambda **c: sb.conv2d((3, 4), (2, 2), **c)],
                         ids=["conv1d", "conv2d"])
def test_one_channel_each_keeps_the_single_channel_network(build):
    one, plain = build(in_channels=1, out_channels=1), build()
    assert [(s.name, one.latex_name(s)) for s in one.symbols] == [
        (s.name, plain.latex_name(s)) for s in plain.symbols]
    assert one.title == plain.title and not one.channels


def test_weight_gradient_is_a_correlation_per_channel_pair():
    net = sb.conv1d(5, 2, "tanh", in_channels=2, out_channels=2)
    d = sb.derive(net)
    grad = d.gradient(net.w(2, 1, 2), form="delta")
    expected = sum(d.delta_symbols[net.pre(2, i)] * net.x(1, i + 1) for i in range(1, 5))
    assert (grad - expected).expand() == 0


@pytest.mark.parametrize("build, message", [
    (lambda: sb.conv1d(4, 2, in_channels=0), "input channels must be a positive integer"),
    (lambda: sb.conv1d(4, 2, out_channels=17), "output channels is 17; the limit is 16"),
    (lambda: sb.conv2d((32, 32), (8, 8), in_channels=4, out_channels=2), "limit is 100000"),
])
def test_bad_channels_give_one_clear_error(build, message):
    with pytest.raises(GraphError, match=message) as info:
        build()
    assert "\n" not in str(info.value)


# -- the general form -----------------------------------------------------------------------------
def test_general_form_with_channels_prints_the_textbook_sums():
    eqs = {e.name: e.latex() for e in forms.conv1d_form("tanh", channels=True).equations()
           if e.kind != "forward"}
    assert eqs["w"] == (r"\frac{\partial L}{\partial w_{m,\ell,k}} = \sum_{i=1}^{n - K + 1} "
                        r"\delta_{m,i} x_{\ell,i + k - 1}")
    assert eqs["x"] == (r"\frac{\partial L}{\partial x_{\ell,i}} = \sum_{\substack{1 \leq m \leq "
                        r"C_{\mathrm{out}}\\1 \leq k \leq K}} \delta_{m,i - k + 1} w_{m,\ell,k}")
    assert eqs["b"] == r"\frac{\partial L}{\partial b_{m}} = \sum_{i=1}^{n - K + 1} \delta_{m,i}"


@FEW
@given(st.integers(2, 5), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),
       st.booleans())
def test_conv1d_channel_form_matches_the_scalar_derivation(n, K, c_in, c_out, outputs):
    sizes = {"n": n, "K": min(K, n), "C_in": c_in, "C_out": c_out}
    form = forms.conv1d_form("tanh", "sigmoid" if outputs else "identity",
                             "bce" if outputs else "mse", outputs=outputs, channels=True)
    assert form.check({**sizes, "n_y": 2} if outputs else sizes) < 1e-9


@pytest.mark.parametrize("sizes", [{"H": 3, "W": 3, "P": 2, "Q": 2, "C_in": 2, "C_out": 2},
                                   {"H": 2, "W": 3, "P": 1, "Q": 2, "C_in": 3, "C_out": 1},
                                   {"H": 3, "W": 2, "P": 2, "Q": 1, "C_in": 1, "C_out": 1}])
def test_conv2d_channel_form_matches_the_scalar_derivation(sizes):
    assert forms.conv2d_form("sigmoid", channels=True).check(sizes) < 1e-9


def test_general_form_of_a_built_network_has_its_channels():
    form = sb.general_form(sb.conv2d((3, 3), (2, 2), in_channels=2))
    assert form.sizes.keys() == {"H", "W", "P", "Q", "C_in", "C_out"}
    assert sb.general_form(sb.conv1d(4, 2)).sizes.keys() == {"n", "K"}


# -- the batched evaluator ------------------------------------------------------------------------
@pytest.mark.parametrize("form, sizes", [
    (forms.conv1d_form("tanh", channels=True), {"n": 5, "K": 2, "C_in": 2, "C_out": 3}),
    (forms.conv2d_form("sigmoid", "sigmoid", outputs=True, channels=True),
     {"H": 3, "W": 3, "P": 2, "Q": 2, "C_in": 2, "C_out": 2, "n_y": 2}),
], ids=["conv1d", "conv2d-outputs"])
def test_batched_channel_evaluator_matches_scalar_and_finite_differences(form, sizes):
    net, lookup = form._build(sizes)
    ev = form.evaluator(sizes)
    rng = np.random.default_rng(3)
    shared = {p.name: float(rng.uniform(-0.9, 0.9)) for p in net.parameters}
    samples = [{**{s.name: float(rng.uniform(-0.9, 0.9)) for s in net.leaves}, **shared}
               for _ in range(3)]
    inputs, params = quantity_arrays(form, ev, lookup, samples)
    out = ev(inputs, params)
    scalar = [sb.derive(net).evaluate(s) for s in samples]
    np.testing.assert_allclose(out.loss, [r.loss for r in scalar], rtol=1e-12)
    for name in ("w", "b", "v"):
        grad = out.gradients[name]
        for ix in np.ndindex(*grad.shape):
            point = tuple(lo + i for (lo, _), i in zip(ev.ranges[name], ix, strict=True))
            expected = np.mean([r.gradients[lookup(name, point).name] for r in scalar])
            assert grad[ix] == pytest.approx(expected, rel=1e-10, abs=1e-13)
    # and against central differences of the evaluator's own mean loss
    h, w = 1e-6, params["w"]
    for ix in [(0,) * w.ndim, tuple(s - 1 for s in w.shape)]:
        shifted = [{**params, "w": w + sign * h * (np.arange(w.size) == np.ravel_multi_index(
            ix, w.shape)).reshape(w.shape)} for sign in (1, -1)]
        fd = (np.mean(ev(inputs, shifted[0]).loss) - np.mean(ev(inputs, shifted[1]).loss)) / (2 * h)
        assert out.gradients["w"][ix] == pytest.approx(fd, rel=1e-6, abs=1e-9)


# -- against torch --------------------------------------------------------------------------------
def _t(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=True)


@needs_torch
def test_scalar_conv1d_with_channels_matches_torch():
    n, K, c_in, c_out = 5, 2, 2, 3
    net = sb.conv1d(n, K, "tanh", in_channels=c_in, out_channels=c_out)
    v = random_values(net, 4)
    x = torch.tensor([[[v[f"x_{c},{i}"] for i in range(1, n + 1)]
                       for c in range(1, c_in + 1)]], dtype=torch.float64)
    w = _t([[[v[f"w_{o},{c},{k}"] for k in range(1, K + 1)] for c in range(1, c_in + 1)]
            for o in range(1, c_out + 1)])
    b = _t([v[f"b_{o}"] for o in range(1, c_out + 1)])
    head = _t([[v[f"v_{o},{i}"] for i in range(1, n - K + 2)] for o in range(1, c_out + 1)])
    a = torch.tanh(F.conv1d(x, w, b))[0]
    loss = ((a * head).sum() + v["c"] - v["y"]) ** 2
    loss.backward()
    result = sb.derive(net).evaluate(v)
    assert result.loss == pytest.approx(loss.item(), rel=1e-12)
    for o, c, k in np.ndindex(c_out, c_in, K):
        assert result.gradients[f"w_{o + 1},{c + 1},{k + 1}"] == pytest.approx(
            w.grad[o, c, k].item(), rel=1e-10, abs=1e-13)
    np.testing.assert_allclose([result.gradients[f"b_{o}"] for o in range(1, c_out + 1)],
                               b.grad.numpy(), rtol=1e-10)


@needs_torch
@pytest.mark.parametrize("backend", BACKENDS)
def test_batched_conv1d_with_channels_matches_torch_conv1d(backend):
    n, K, c_in, c_out, n_y = 9, 3, 3, 2, 2
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(B, c_in, n)), rng.normal(size=(B, n_y))
    P = {"w": rng.normal(size=(c_out, c_in, K)), "b": rng.normal(size=c_out),
         "v": rng.normal(size=(n_y, c_out, n - K + 1)), "c": rng.normal(size=n_y)}
    out = forms.conv1d_form("tanh", outputs=True, channels=True).evaluator(
        {"n": n, "K": K, "C_in": c_in, "C_out": c_out, "n_y": n_y}, backend)({"x": x, "y": y}, P)
    xt, w, b, v, c = _t(x), _t(P["w"]), _t(P["b"]), _t(P["v"]), _t(P["c"])
    a = torch.tanh(F.conv1d(xt, w, b))                        # (B, C_out, n − K + 1)
    o = F.linear(a.flatten(1), v.flatten(1), c)               # the head over every a_{m,i}
    per_sample = ((o - torch.tensor(y)) ** 2).mean(dim=1)
    per_sample.mean().backward()
    np.testing.assert_allclose(np.asarray(out.loss), per_sample.detach().numpy(), rtol=1e-12)
    for name, g in (("w", w.grad), ("b", b.grad), ("v", v.grad), ("c", c.grad)):
        np.testing.assert_allclose(np.asarray(out.gradients[name]), g.numpy(), rtol=1e-10)
    # ∂L/∂x per sample: torch's is of the batch mean, hence × B
    np.testing.assert_allclose(np.asarray(out.gradients["x"]), xt.grad.numpy() * B, rtol=1e-10)


@needs_torch
@pytest.mark.parametrize("backend", BACKENDS)
def test_batched_conv2d_with_channels_matches_torch_conv2d(backend):
    H, W, P_, Q, c_in, c_out = 4, 5, 2, 3, 2, 3
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(B, c_in, H, W)), rng.normal(size=B)
    P = {"w": rng.normal(size=(c_out, c_in, P_, Q)), "b": rng.normal(size=c_out),
         "v": rng.normal(size=(c_out, H - P_ + 1, W - Q + 1)), "c": 0.3}
    out = forms.conv2d_form("sigmoid", channels=True).evaluator(
        {"H": H, "W": W, "P": P_, "Q": Q, "C_in": c_in, "C_out": c_out}, backend)(
        {"x": x, "y": y}, P)
    xt, w, b, v = _t(x), _t(P["w"]), _t(P["b"]), _t(P["v"])
    a = torch.sigmoid(F.conv2d(xt, w, b))
    per_sample = ((a * v).sum(dim=(1, 2, 3)) + P["c"] - torch.tensor(y)) ** 2
    per_sample.mean().backward()
    np.testing.assert_allclose(np.asarray(out.loss), per_sample.detach().numpy(), rtol=1e-12)
    for name, g in (("w", w.grad), ("b", b.grad), ("v", v.grad)):
        np.testing.assert_allclose(np.asarray(out.gradients[name]), g.numpy(), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(out.gradients["x"]), xt.grad.numpy() * B, rtol=1e-10)


# -- spec -----------------------------------------------------------------------------------------
def test_channel_spec_builds_what_the_api_builds():
    spec = parse_spec('[network]\nkind = "conv2d"\nshape = [3, 3]\nkernel = [2, 2]\n'
                      'in_channels = 2\nout_channels = 2\nactivation = "tanh"')
    net = sb.conv2d((3, 3), (2, 2), "tanh", in_channels=2, out_channels=2)
    assert [s.name for s in spec.graph.symbols] == [s.name for s in net.symbols]
    assert spec.graph.expr(spec.graph.loss_symbol) == net.expr(net.loss_symbol)


@pytest.mark.parametrize("body, key, message", [
    ('kind = "conv1d"\nlength = 3\nkernel = 2\nin_channels = 0', "network.in_channels",
     "positive integer"),
    ('kind = "conv1d"\nlength = 3\nkernel = 2\nout_channels = 9', "network.out_channels",
     "the limit is 8"),
    ('kind = "conv2d"\nshape = [3, 3]\nkernel = [2, 2]\nin_channels = "2"',
     "network.in_channels", "positive integer"),
    ('kind = "conv2d"\nshape = [32, 32]\nkernel = [8, 8]\nin_channels = 8\nout_channels = 8',
     "network", "limit is 100000"),
])
def test_bad_channel_specs_give_one_line_naming_the_key(body, key, message):
    with pytest.raises(SpecError, match=message) as info:
        parse_spec("[network]\n" + body, "m.toml")
    assert info.value.key == key and "\n" not in str(info.value)


# -- documents ------------------------------------------------------------------------------------
CHANNELS_SPEC = "docs/examples/model-conv1d-channels.toml"


@pytest.fixture(scope="module")
def channel_notes():
    spec = sb.load_spec(CHANNELS_SPEC)
    d = sb.derive(spec.graph)
    return {lang: sb.render(sb.worked_example(d, spec.values), "article", title=spec.title,
                            language=lang) for lang in ("en", "ko")}


def test_channel_notes_open_with_the_general_form_and_keep_labels_and_numbers_narrow(
        channel_notes):
    from symbackprop.document.layout import TEXT_WIDTH, width

    tex = channel_notes["en"]
    assert tex.index(r"\frac{\partial L}{\partial w_{m,\ell,k}}") < tex.index(r"w_{1,1,1} x_{1,1}")
    # the drawing gives the kernel once, a cell per weight, below the input rows
    assert r"{$w_{1,1,1}$}" in tex and r"{$w_{2,2,2}$}" in tex
    # a 2-D convolution with channels is drawn as its graph, where a node using many
    # parameters is labelled with its first and last
    graph = sb.derive(sb.conv2d((3, 3), (2, 2), in_channels=2))
    assert r"{$w_{1,1,1,1}, \ldots, b_{1}$}" in sb.render(graph, "article", appendix=False)
    # the head's eight products in numbers are broken over lines (unbroken: 73 em)
    numbers = [ln for ln in tex.splitlines() if ln.startswith(r" &= \left(")]
    assert numbers and max(width(ln[4:].removesuffix(r" \\*")) for ln in numbers) < TEXT_WIDTH


@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "ko"])
def test_channel_notes_compile_without_overfull_lines(channel_notes, language, tmp_path):
    import pdfcheck
    from texutil import have_tex

    from symbackprop.output.render import compile_pdf

    if not have_tex():
        pytest.skip("TeX is not installed")
    pdf, log = tmp_path / "notes.pdf", tmp_path / "notes.log"
    compile_pdf(channel_notes[language], pdf, language=language, log=log)
    assert pdfcheck.overfull(log.read_text(errors="replace")) == []
    assert pdfcheck.collisions(pdf) == []


def test_channel_answer_key_keeps_its_numbers_within_the_page():
    from symbackprop.document.layout import TEXT_WIDTH, width
    from symbackprop.teaching.exercises import exercise_sheets

    _, key = exercise_sheets(sb.conv1d(4, 2, "tanh", in_channels=2, out_channels=2), 1, seed=0)
    numbers = [ln for ln in key.splitlines() if ln.startswith(" &= ") and r"\cdot" in ln]
    assert numbers and max(width(ln[4:].split(r" \\")[0]) for ln in numbers) < TEXT_WIDTH

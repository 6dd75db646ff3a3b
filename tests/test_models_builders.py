"""The model builders: gradients against finite differences (random sizes) and against torch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.core.graph import GraphError

FEW = settings(max_examples=3, deadline=None, derandomize=True)


def _values(net, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    values = {s.name: float(rng.uniform(-0.9, 0.9)) for s in net.leaves}
    return values


def _fd_ok(net, seed: int = 0) -> None:
    check = sb.check_gradients(sb.derive(net), _values(net, seed), rtol=1e-5, atol=1e-7)
    assert check.ok, str(check)


@FEW
@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 2), st.integers(1, 4),
       st.booleans(), st.booleans())
def test_rnn_gradients_match_finite_differences(n_in, n_h, n_out, steps, every, bias):
    _fd_ok(sb.rnn(n_in, n_h, n_out, steps, every_step=every, bias=bias))


def test_rnn_softmax_cross_entropy_and_karpathy_names():
    net = sb.rnn(2, 2, 3, 2, output_activation="softmax", loss="cross_entropy",
                 notation="karpathy")
    _fd_ok(net)
    assert net.latex_name(net.recurrent(2, 1)) == "(W_{hh})_{21}"
    assert net.latex_name(net.hidden(2, 1)) == "h_{2,1}"
    assert net.latex_name(net.output(1, 3)) == r"\hat{y}_{1,3}"


def test_rnn_delta_is_the_bptt_recursion():
    net = sb.rnn(1, 1, 1, 3)
    d = sb.derive(net)
    rec = d.delta(net.hidden(2)).recursion
    h3, W, V = net.hidden(3), net.recurrent(1, 1), net.output_weight(1, 1)
    delta3 = d.delta_symbols[h3]
    delta_o2 = d.delta_symbols[net.symbol("o_2")]
    assert (rec - (W * delta3 * (1 - h3 ** 2) + V * delta_o2)).expand() == 0


@FEW
@given(st.integers(2, 6), st.integers(1, 3), st.sampled_from(["tanh", "sigmoid", "identity"]),
       st.integers(1, 2))
def test_conv1d_gradients_match_finite_differences(length, kernel, act, outputs):
    if kernel > length:
        kernel = length
    _fd_ok(sb.conv1d(length, kernel, act, outputs=outputs))


def test_conv2d_gradients_and_weight_gradient_is_a_correlation():
    net = sb.conv2d((3, 4), (2, 2), "tanh", outputs=2)
    _fd_ok(net)
    d = sb.derive(net)
    grad = d.gradient(net.w(1, 2), form="delta")
    expected = sum(d.delta_symbols[net.pre(i, j)] * net.x(i, j + 1)
                   for i in range(1, 3) for j in range(1, 4))
    assert (grad - expected).expand() == 0


@FEW
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.booleans())
def test_attention_gradients_match_finite_differences(keys, d, d_v, projections):
    _fd_ok(sb.attention(keys, d, d_v, projections=projections))


def test_attention_score_delta_is_the_softmax_jacobian_form():
    net = sb.attention(3, 2)
    d = sb.derive(net)
    g = [d.delta_symbols[net.weight(j)] for j in (1, 2, 3)]
    a = [net.weight(j) for j in (1, 2, 3)]
    expected = a[0] * (g[0] - sum(ai * gi for ai, gi in zip(a, g, strict=True)))
    assert (d.delta(net.score(1)).recursion - expected).expand() == 0


@settings(max_examples=2, deadline=None, derandomize=True)
@given(st.integers(1, 2), st.integers(2, 3), st.booleans())
def test_norm_and_residual_networks_match_finite_differences(n_in, width, batch_norm):
    norm = sb.batch_norm() if batch_norm else sb.layer_norm()
    net = sb.network(n_in, [sb.dense(width, "tanh"), norm,
                            sb.residual(sb.dense(width, "tanh")), sb.dense(1)],
                     batch=2 if batch_norm else 1)
    _fd_ok(net)


@pytest.mark.parametrize("build, message", [
    (lambda: sb.rnn(0, 1, 1, 2), "input size"),
    (lambda: sb.conv1d(2, 3), "larger than the input"),
    (lambda: sb.attention(2, 2, loss="bce"), "attention loss"),
    (lambda: sb.network(2, [sb.dense(2), sb.batch_norm()]), "batch of at least 2"),
    (lambda: sb.network(2, [sb.residual(sb.dense(3))]), "keep the width"),
    (lambda: sb.rnn(1, 1, 1, 2, loss="cross_entropy"), "softmax"),
])
def test_bad_models_give_one_clear_error(build, message):
    with pytest.raises(GraphError, match=message):
        build()


# -- torch: the same numbers from torch's own modules ------------------------------------------
@pytest.mark.parametrize("net", [
    sb.rnn(2, 2, 2, 2), sb.rnn(1, 1, 1, 2, notation="karpathy"), sb.conv1d(4, 2),
    sb.conv2d((3, 3), (2, 2), outputs=2), sb.attention(2, 2, projections=True),
    sb.network(2, [sb.dense(2, "tanh"), sb.batch_norm(), sb.residual(sb.dense(2))], batch=2),
], ids=["rnn", "rnn-karpathy", "conv1d", "conv2d", "attention", "blocks"])
def test_every_symbol_has_a_textbook_spelling(net):
    from symbackprop.printing.latex import TexPrinter

    assert all(net.latex_name(s) for s in net.symbols)
    names = TexPrinter(sb.derive(net)).names.values()
    assert not [n for n in names if r"\mathit" in n or r"\_" in n]


def test_rnn_notes_compile_with_readable_names(tmp_path):
    from texutil import have_tex

    net = sb.rnn(1, 1, 1, 2)
    tex = sb.render(sb.worked_example(sb.derive(net), _values(net)), "article")
    assert r"\mathit" not in tex and r"h_{2}" in tex and r"\delta_{1}" in tex
    if have_tex():
        assert sb.compile_pdf(tex, tmp_path / "rnn.pdf").stat().st_size > 0


def test_default_titles_read_as_a_lecturer_prints_them():
    assert sb.rnn(1, 2, 1, steps=4).title == (
        "Elman RNN over 4 steps: 1 input, 2 hidden units, 1 output")
    assert sb.conv1d(7, 3).title == "1-D convolution: 7 inputs, kernel 3"
    assert sb.conv1d(1, 1).title == "1-D convolution: 1 input, kernel 1"
    assert sb.conv1d(5, 2, in_channels=1, out_channels=2).title == (
        "1-D convolution: 5 inputs, kernel 2, 1 input channel and 2 kernels")
    assert sb.attention(1, 2).title == "Attention over 1 key, d = 2"
    assert sb.rnn(1, 1, 1, steps=2, title="Mine").heading is None  # the user's title stands
    net = sb.network(2, [sb.dense(2, "tanh"), sb.residual(sb.dense(2)), sb.batch_norm()],
                     batch=2)
    assert net.title == ("Network of 2 inputs over a batch of 2: "
                         "dense 2 (tanh) → residual(dense 2) → batch norm")
    assert net.heading[1]["blocks"][1] == {
        "kind": "residual", "blocks": [{"kind": "dense", "units": 2, "activation": "identity"}]}

"""General forms with symbolic sizes: each δ and gradient equation agrees entry by entry with
the scalar derivation of the unrolled model, at several sizes."""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from symbackprop.builders.base import Model
from symbackprop.forms import models as forms


@pytest.fixture(scope="module")
def rnn():
    return forms.rnn_form()


@pytest.mark.parametrize("sizes", [
    {"T": 1, "n_x": 1, "n_h": 1, "n_y": 1},
    {"T": 3, "n_x": 2, "n_h": 2, "n_y": 1},
    {"T": 4, "n_x": 1, "n_h": 3, "n_y": 2},
])
def test_bptt_general_form_matches_the_unrolled_derivation(rnn, sizes):
    assert rnn.check(sizes) < 1e-9


@pytest.mark.parametrize("options", [
    {"every_step": False},
    {"output_activation": "sigmoid", "loss": "bce", "bias": False},
    {"output_activation": "tanh", "loss": "half_sse", "every_step": False},
])
def test_rnn_variants(options):
    assert forms.rnn_form(**options).check({"T": 3, "n_x": 1, "n_h": 2, "n_y": 2}) < 1e-9


def test_bptt_equations_read_as_the_textbook(rnn):
    lines = "\n".join(rnn.latex())
    assert r"\sum_{i=1}^{n_{h}} \left(1 - h_{t + 1,i}^{2}\right) W_{i,j} \delta_{t + 1,i}" in lines
    assert (r"\frac{\partial L}{\partial W_{j,k}} = \sum_{t=1}^{T} \left(1 - h_{t,j}^{2}\right)"
            r" \delta_{t,j} h_{t - 1,k}") in lines


@pytest.mark.parametrize("sizes", [{"n": 3, "K": 1}, {"n": 5, "K": 3}, {"n": 6, "K": 6}])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_convolution_general_form_matches(sizes, activation):
    assert forms.conv1d_form(activation).check(sizes) < 1e-9


def test_convolution_gradients_are_a_correlation_and_a_full_convolution():
    form = forms.conv1d_form("tanh")
    assert form.equation("gradient", "w").latex() == (
        r"\frac{\partial L}{\partial w_{k}} = \sum_{i=1}^{n - K + 1} \delta_{i} x_{i + k - 1}")
    assert form.equation("gradient", "x").latex() == (
        r"\frac{\partial L}{\partial x_{i}} = \sum_{k=1}^{K} \delta_{i - k + 1} w_{k}")


def test_a_wrong_general_equation_is_caught(rnn):
    broken = forms.rnn_form()
    eqs = broken.equations()
    W = next(e for e in eqs if e.kind == "gradient" and e.name == "W")
    wrong = dataclasses.replace(W, rhs=W.rhs.xreplace({sp.Symbol("T", integer=True,
                                                                 positive=True): 2}))
    broken.equations = lambda: [*(e for e in eqs if e is not W), wrong]
    with pytest.raises(AssertionError, match="general form gives"):
        broken.check({"T": 3, "n_x": 1, "n_h": 1, "n_y": 1})


@pytest.mark.parametrize("sizes", [{"n": 1, "d": 1, "d_v": 1}, {"n": 3, "d": 2, "d_v": 2}])
def test_attention_general_form_matches(sizes):
    assert forms.attention_form().check(sizes) < 1e-9


def test_attention_score_gradient_is_the_softmax_jacobian_form():
    form = forms.attention_form()
    assert form.equation("delta", "s").latex() == (
        r"\delta_{j} = \left(g_{j} - \sum_{i=1}^{n} \alpha_{i} g_{i}\right) \alpha_{j}")


@pytest.mark.parametrize("n", [1, 3])
def test_layer_norm_general_form_matches(n):
    assert forms.layer_norm_form().check({"n": n}) < 1e-9


def test_layer_norm_input_gradient_is_the_three_term_delta():
    rhs = forms.layer_norm_form().equation("gradient", "x").latex().split(" = ")[1]
    assert rhs == (r"\frac{g_{j}}{\sigma} - \frac{\hat{x}_{j} \sum_{i=1}^{n} g_{i} \hat{x}_{i}}"
                   r"{n \sigma} - \frac{\sum_{i=1}^{n} g_{i}}{n \sigma}")


def test_general_form_of_built_models_and_refusals():
    import symbackprop as sb

    assert sb.general_form(sb.rnn(2, 2, 1, 3, every_step=False)).title == "Elman RNN (BPTT)"
    assert sb.general_form(sb.conv1d(5, 2, "tanh")).sizes.keys() == {"n", "K"}
    assert sb.general_form(sb.attention(3, 2)).named == ("alpha", "s")
    assert sb.general_form(sb.network(3, [sb.layer_norm()])).title == "layer norm"
    assert sb.general_form(sb.conv2d((3, 3), (2, 2), outputs=2)).sizes.keys() == {
        "H", "W", "P", "Q", "n_y"}
    assert sb.general_form(sb.attention(2, 2, projections=True)).sizes.keys() == {
        "n", "d", "d_v", "d_in"}
    softmax = sb.general_form(sb.conv1d(4, 2, outputs=3, output_activation="softmax",
                                        loss="cross_entropy"))
    assert softmax.named == ("z", "o") and softmax.assumption_latex() == [
        r"\sum_{r=1}^{n_{y}} y_{r} = 1"]
    with pytest.raises(ValueError, match="no general form"):
        sb.general_form(Model("hand-built"))


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_general_forms_compile_in_latex(tmp_path):
    from texutil import compile_snippet, have_tex

    import symbackprop as sb

    if not have_tex():
        pytest.skip("no TeX")
    body = []
    from symbackprop.forms.blocks import network_form

    network = network_form([sb.dense(2, "tanh"), sb.batch_norm(),
                            sb.residual(sb.dense(2, "tanh"), sb.layer_norm()), sb.dense(1)])
    for form in (forms.rnn_form(), forms.conv1d_form(), forms.attention_form(),
                 forms.layer_norm_form(), network):
        body.append(r"\begin{align*}" + r"\\".join(
            line.replace(" = ", " &= ", 1) for line in form.latex()) + r"\end{align*}")
    assert compile_snippet("\n".join(body), tmp_path / "forms.pdf",
                           preamble="\\usepackage{amsmath,amssymb}\n").exists()


@pytest.mark.parametrize("sizes", [{"H": 3, "W": 3, "P": 2, "Q": 2}, {"H": 2, "W": 4, "P": 2, "Q": 3}])
def test_conv2d_general_form_matches(sizes):
    form = forms.conv2d_form("sigmoid")
    assert form.check(sizes) < 1e-9
    assert form.equation("gradient", "w").latex().endswith(
        r"\delta_{i,j} x_{i + p - 1,j + q - 1}")


def test_batch_norm_general_form_is_the_three_term_delta_over_the_batch():
    import symbackprop as sb

    form = sb.general_form(sb.network(1, [sb.batch_norm()], batch=3))
    assert form.check({"m": 4}) < 1e-9
    assert form.equation("gradient", "x").latex().split(" = ")[1] == (
        r"\frac{g_{j}}{\sigma} - \frac{\hat{x}_{j} \sum_{i=1}^{m} g_{i} \hat{x}_{i}}"
        r"{m \sigma} - \frac{\sum_{i=1}^{m} g_{i}}{m \sigma}")


@settings(max_examples=3, deadline=None)
@given(n=st.integers(2, 5), K=st.integers(1, 3), n_y=st.integers(1, 3))
def test_multi_output_convolution_general_form_matches(n, K, n_y):
    K = min(K, n)
    assert forms.conv1d_form("tanh", "sigmoid", "bce", outputs=True).check(
        {"n": n, "K": K, "n_y": n_y}) < 1e-9


def test_multi_output_convolution_sums_over_the_outputs():
    form = forms.conv2d_form("sigmoid", outputs=True)
    assert form.check({"H": 3, "W": 3, "P": 2, "Q": 1, "n_y": 2}) < 1e-9
    assert form.equation("gradient", "v").latex() == (
        r"\frac{\partial L}{\partial v_{r,i,j}} = "
        r"\frac{2 \left(\hat{y}_{r} - y_{r}\right) a_{i,j}}{n_{y}}")
    assert r"\sum_{r=1}^{n_{y}}" in form.equation("delta", "z").latex()


@settings(max_examples=3, deadline=None)
@given(n=st.integers(1, 3), d=st.integers(1, 2), d_v=st.integers(1, 2), d_in=st.integers(1, 3))
def test_attention_with_projections_general_form_matches(n, d, d_v, d_in):
    assert forms.attention_form(projections=True).check(
        {"n": n, "d": d, "d_v": d_v, "d_in": d_in}) < 1e-9


def test_attention_projection_gradients_read_as_the_textbook():
    form = forms.attention_form(projections=True)
    assert form.equation("gradient", "K").latex() == (
        r"\frac{\partial L}{\partial W^{K}_{i,l}} = "
        r"\frac{q_{i} \sum_{j=1}^{n} \delta_{j} c_{j,l}}{\sqrt{d}}")
    assert form.equation("delta", "s").latex() == (
        r"\delta_{j} = \left(g_{j} - \sum_{i=1}^{n} \alpha_{i} g_{i}\right) \alpha_{j}")


def test_a_common_number_is_pulled_out_of_a_bracket_and_stays_out(rnn):
    v = forms.attention_form(projections=True).equation("gradient", "V").latex()
    assert r"2 \left(o_{i} - y_{i}\right) \sum_{j=1}^{n}" in v  # not (2o − 2y)
    c = rnn.equation("gradient", "c").latex()
    assert r"\sum_{t=1}^{T} 2 \left(\hat{y}_{t,k} - y_{t,k}\right)" in c


def test_a_norms_beta_gradient_is_one_sum_over_the_batch():
    form = forms.layer_norm_form(over="batch")
    assert form.check({"m": 3}) < 1e-9
    assert form.equation("gradient", "beta").latex() == (
        r"\frac{\partial L}{\partial \beta} = \sum_{j=1}^{m} \tilde{g}_{j}")


def test_sizes_are_checked_in_one_line():
    form = forms.conv1d_form(outputs=True)
    with pytest.raises(ValueError, match=r"takes the sizes K, n, n_y; missing: n_y; unknown: m$"):
        form.evaluator({"n": 4, "K": 2, "m": 3})
    with pytest.raises(ValueError, match="must be a positive integer, got 0"):
        form.check({"n": 4, "K": 2, "n_y": 0})


def test_a_word_in_a_size_subscript_stands_upright():
    q = forms.attention_form(projections=True).equation("forward", "q").latex()
    assert r"\sum_{l=1}^{d_{\mathrm{in}}}" in q and r"d_{in}" not in q
    assert r"\sum_{i=1}^{n_{h}}" in "\n".join(forms.rnn_form().latex())  # one letter: italic


_SOFTMAX_FORMS = {
    "rnn": (lambda: forms.rnn_form("softmax", "cross_entropy"),
            {"T": 4, "n_x": 2, "n_h": 2, "n_y": 4}, r"\delta^{o}_{t,k} = \hat{y}_{t,k} - y_{t,k}"),
    "rnn-last-step": (lambda: forms.rnn_form("softmax", "cross_entropy", every_step=False,
                                             bias=False),
                      {"T": 3, "n_x": 1, "n_h": 3, "n_y": 2},
                      r"\delta^{o}_{t,k} = \left(\hat{y}_{t,k} - y_{t,k}\right) "
                      r"\mathbb{1}\left[T = t\right]"),
    "conv1d": (lambda: forms.conv1d_form("relu", "softmax", "cross_entropy"),
               {"n": 6, "K": 3, "n_y": 4}, r"\delta^{o}_{r} = \hat{y}_{r} - y_{r}"),
    "conv2d": (lambda: forms.conv2d_form("tanh", "softmax", "cross_entropy", bias=False),
               {"H": 3, "W": 3, "P": 2, "Q": 1, "n_y": 2}, r"\delta^{o}_{r} = \hat{y}_{r} - y_{r}"),
}


@pytest.mark.parametrize("which", list(_SOFTMAX_FORMS))
def test_a_softmax_cross_entropy_output_has_the_textbook_delta(which):
    make, sizes, delta = _SOFTMAX_FORMS[which]
    form = make()
    assert form.equation("delta", "o").latex() == delta
    # a third size beyond the form's own two, checked at one-hot targets as the model declares
    assert form.verify() < 1e-9 and form.check(sizes, seed=3) < 1e-9
    assert form.assumption_latex()[0].endswith("= 1")


def test_the_softmax_form_needs_its_one_hot_targets():
    # ŷ − y holds where Σ_k y_k = 1; with targets that do not sum to one the check must fail
    form = forms.rnn_form("softmax", "cross_entropy")
    build = form._build

    def soft(sizes):
        net, lookup = build(sizes)
        net._sums_to_one.clear()  # the check then draws targets anywhere in (−0.9, 0.9)
        return net, lookup
    form._build = soft
    with pytest.raises(AssertionError, match="delta o"):
        form.check({"T": 2, "n_x": 1, "n_h": 1, "n_y": 3})


def test_a_softmax_with_another_loss_keeps_its_jacobian():
    form = forms.rnn_form("softmax", "mse")
    assert not form.assumptions and form.check({"T": 2, "n_x": 1, "n_h": 2, "n_y": 3}) < 1e-9
    assert r"\sum_{i=1}^{n_{y}} \left(y_{t,i} - \hat{y}_{t,i}\right) \hat{y}_{t,i}" in \
        form.equation("delta", "o").latex()


def test_a_cross_entropy_prints_the_target_before_its_logarithm():
    loss = forms.rnn_form("softmax", "cross_entropy").equation("forward", "L").latex()
    assert loss.endswith(r"y_{t,k} \log{\left(\hat{y}_{t,k} \right)}")

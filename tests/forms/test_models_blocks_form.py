"""The general form of block networks (dense, layer norm, batch norm, residual) with symbolic
widths and batch size: every δ and gradient equation against the scalar derivation of
``sb.network`` at several sizes, and the equations as textbooks print them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.forms.blocks import network_form

STRUCTURES = {
    "mlp": [sb.dense(3, "tanh"), sb.dense(1, "sigmoid")],
    "batch-norm": [sb.batch_norm()],
    "dense-layer-norm": [sb.dense(2, "tanh"), sb.layer_norm(), sb.dense(1)],
    "residual": [sb.dense(2, "tanh"), sb.batch_norm(),
                 sb.residual(sb.dense(2, "relu"), sb.layer_norm(affine=False))],
}


@pytest.fixture(scope="module")
def built():
    return {name: network_form(blocks) for name, blocks in STRUCTURES.items()}


@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_network_forms_match_the_scalar_derivation_at_their_check_sizes(built, name):
    assert built[name].verify() < 1e-9


@settings(max_examples=3, deadline=None)
@given(m=st.integers(2, 3), n_0=st.integers(1, 3), n_1=st.integers(2, 3))
def test_batch_norm_of_several_features_matches_for_any_sizes(built, m, n_0, n_1):
    assert built["batch-norm"].check({"m": m, "n_0": n_0}) < 1e-9
    assert built["residual"].check({"m": m, "n_0": n_0, "n_1": n_1}) < 1e-9


def test_the_dense_recursion_reads_as_the_textbook(built):
    form = built["mlp"]
    assert form.equation("delta", "z1").latex() == (
        r"\delta^{[1]}_{s,j} = \left(1 - {a^{[1]}_{s,j}}^{2}\right) "
        r"\sum_{i=1}^{n_{2}} W^{[2]}_{i,j} \delta^{[2]}_{s,i}")
    assert form.equation("gradient", "W1").latex() == (
        r"\frac{\partial L}{\partial W^{[1]}_{j,i}} = \sum_{s=1}^{m} \delta^{[1]}_{s,j} x_{s,i}")


def test_norms_give_the_three_term_delta_over_their_own_axis(built):
    batch = built["residual"].equation("delta", "z1").latex()
    assert r"\sum_{i=1}^{m} g^{[2]}_{i,j} \hat{x}^{[2]}_{i,j}" in batch  # over the samples
    layer = built["dense-layer-norm"].equation("delta", "z1").latex()
    assert r"\sum_{i=1}^{n_{1}} g^{[2]}_{s,i} \hat{x}^{[2]}_{s,i}" in layer  # over the features
    assert r"\left(1 - {a^{[1]}_{s,j}}^{2}\right) \left(n_{1} g^{[2]}_{s,j} - " in layer


def test_a_residual_sends_the_gradient_along_both_paths(built):
    g = built["residual"].equation("delta", "xt2").latex()  # through F, and straight to L
    assert r"W^{[3]}_{i,j} \delta^{[3]}_{s,i}" in g and r"r^{[5]}_{s,j}" in g
    form = network_form([sb.dense(2, "tanh"), sb.residual(sb.dense(2, "tanh")), sb.dense(1)])
    delta = form.equation("delta", "z1").latex()
    assert r"W^{[2]}_{i,j} \delta^{[2]}_{s,i}" in delta and r"W^{[4]}_{i,j} \delta^{[4]}_{s,i}" \
        in delta


def test_a_norms_affine_gradients_are_one_sum_over_the_batch(built):
    form = built["residual"]  # Ioffe and Szegedy: g̃ = ∂L/∂x̃, g = ∂L/∂x̂ = γ g̃
    assert form.equation("gradient", "beta2").latex() == (
        r"\frac{\partial L}{\partial \beta^{[2]}_{j}} = \sum_{s=1}^{m} \tilde{g}^{[2]}_{s,j}")
    assert form.equation("gradient", "gamma2").latex().endswith(
        r"= \sum_{s=1}^{m} \tilde{g}^{[2]}_{s,j} \hat{x}^{[2]}_{s,j}")
    assert form.equation("delta", "xhat2").latex() == (
        r"g^{[2]}_{s,j} = \tilde{g}^{[2]}_{s,j} \gamma^{[2]}_{j}")
    assert "xt4" not in form.named  # a norm without γ and β has no g̃


def test_general_form_of_a_network_and_refusals():
    net = sb.network(2, [sb.dense(2, "tanh"), sb.batch_norm(), sb.dense(1)], batch=2)
    form = sb.general_form(net)
    assert form.title == "block network" and set(form.sizes) == {"m", "n_0", "n_1", "n_3"}
    with pytest.raises(ValueError, match="needs a softmax dense block last"):
        network_form([sb.dense(3, "tanh")], "cross_entropy")
    with pytest.raises(ValueError, match="unknown loss"):
        network_form([sb.dense(3, "tanh")], "hinge")


def test_softmax_blocks_last_with_cross_entropy_and_hidden():
    form = network_form([sb.dense(3, "softmax"), sb.dense(2, "tanh"), sb.dense(3, "softmax")],
                        "cross_entropy")
    assert form.equation("delta", "z3").latex() == (
        r"\delta^{[3]}_{s,j} = \frac{a^{[3]}_{s,j} - y_{s,j}}{m}")
    # a softmax hidden block gets the softmax Jacobian: a_j (g_j − Σ_i a_i g_i)
    assert form.equation("delta", "z1").latex() == (
        r"\delta^{[1]}_{s,j} = \left(\sum_{i=1}^{n_{2}} W^{[2]}_{i,j} \delta^{[2]}_{s,i} - "
        r"\sum_{i=1}^{n_{1}} a^{[1]}_{s,i} \sum_{k=1}^{n_{2}} W^{[2]}_{k,i} \delta^{[2]}_{s,k}"
        r"\right) a^{[1]}_{s,j}")
    assert form.check({"m": 2, "n_0": 2, "n_1": 3, "n_2": 2, "n_3": 4}) < 1e-9

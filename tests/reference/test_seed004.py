"""Seed 004 ("Backward propagation", 2024): the matrix form, and where its labels slip.

The seed writes δ^[L] = ∂L/∂A^[L] = Ŷ − Y, δ^[l] = (W^[l+1]ᵀ · δ^[l+1]) · σ′(Z^[l]) and
∂L/∂b^[l] = δ^[l]. The engine derives, for a softmax output with cross-entropy:
- Ŷ − Y is ∂L/∂Z^[L], not ∂L/∂A^[L] (that one is −Y/Ŷ, entry by entry);
- the second product in the hidden δ is entrywise (⊙), not a matrix product;
- over a batch, ∂L/∂b^[l] sums δ^[l] over the samples: δ^[l] 1, a column, not the matrix δ^[l].
"""

from __future__ import annotations

import sympy as sp

import symbackprop as sb


def seed004():
    return sb.mlp([2, 3, 2], ["sigmoid", "softmax"], "cross_entropy", bias=True,
                  notation="matrix")


def test_y_hat_minus_y_is_the_derivative_by_z_not_by_a():
    net = seed004()
    d = sb.derive(net)
    yhat, y, z = net.outputs[0], net.targets[0], net.pre(2, 1)
    assert sp.simplify(d.delta(z).value - (yhat - y)) == 0
    assert sp.simplify(d.delta(yhat).value - (-y / yhat)) == 0  # what ∂L/∂A^[L] really is
    mf = sb.matrix_form(net)
    assert mf.equation("delta", 2).rhs == mf.A[2] - mf.Y
    assert mf.delta[2].shape == mf.Z[2].shape


def test_the_hidden_delta_multiplies_entry_by_entry():
    mf = sb.matrix_form(seed004())
    rhs = mf.equation("delta", 1).rhs
    assert isinstance(rhs, sp.HadamardProduct)
    assert rhs.args[0] == mf.W[2].T * mf.delta[2]
    # σ′(Z^[1]) written in A^[1], as the engine keeps derivatives: A ⊙ (1 − A)
    assert set(rhs.args[1:]) == {mf.A[1], sp.OneMatrix(*mf.A[1].shape) - mf.A[1]}


def test_the_bias_gradient_sums_over_the_batch():
    mf = sb.matrix_form(seed004())
    rhs = mf.equation("bias", 1).rhs
    assert rhs == mf.delta[1] * sp.OneMatrix(mf.m, 1)  # cross-entropy sums the samples
    assert rhs.shape == mf.b[1].shape != mf.delta[1].shape


def test_the_matrix_equations_agree_with_the_scalar_derivation_entry_by_entry():
    assert sb.matrix_form(seed004()).check(sizes=[2, 3, 2], batch=4).max_error < 1e-12

"""The verifier decides each shape of local equation once (check/shapes.neighbourhood_key): a
deep chain's thousand ∂h_k/∂z_k = h_k(1 − h_k) are one comparison, and the answer is never
carried to an equation that only looks alike (another activation, a false right side)."""

from __future__ import annotations

import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.check import verify as verify_module
from symbackprop.check.verify import Meaning, VerificationError, verify


def _counted(monkeypatch) -> list:
    calls: list = []
    real = verify_module._symbolically_equal  # the module's own work, counted in place

    def counting(lhs, rhs, meaning):
        calls.append((lhs, rhs))
        return real(lhs, rhs, meaning)

    monkeypatch.setattr(verify_module, "_symbolically_equal", counting)
    return calls


def test_a_deep_chain_s_local_derivatives_are_decided_once_per_shape(monkeypatch):
    net = sb.mlp([1] * 41)
    m = Meaning(sb.derive(net))
    calls = _counted(monkeypatch)
    for k in range(1, 41):
        h, z = net.symbol(f"h{k}") if k < 40 else net.symbol("yhat"), net.symbol(f"z{k}")
        assert verify(sp.Derivative(h, z), h * (1 - h), f"dh{k}/dz{k}", m).method == "symbolic"
        assert verify(sp.Derivative(z, net.symbol(f"w{k}")), net.symbol(f"h{k - 1}") if k > 1
                      else net.symbol("x1"), f"dz{k}/dw{k}", m).method in ("identical", "symbolic")
    # the first few layers and the last see the leaves or the loss within reach: a few shapes
    assert 2 <= len(calls) <= 20


def _decided_then_refused(net, layers: range, wrong) -> Meaning:
    """h(1 − h) accepted at each of ``layers``, then ``wrong(h)`` for layer 7 refused."""
    m = Meaning(sb.derive(net))
    for k in layers:
        h, z = net.symbol(f"h{k}"), net.symbol(f"z{k}")
        verify(sp.Derivative(h, z), h * (1 - h), f"dh{k}/dz{k}", m)
    h, z = net.symbol("h7"), net.symbol("z7")
    with pytest.raises(VerificationError, match="dh7/dz7"):
        verify(sp.Derivative(h, z), wrong(h), "dh7/dz7", m)
    return m


def test_a_false_equation_of_a_decided_shape_is_still_refused():
    _decided_then_refused(sb.mlp([1] * 12), range(1, 11), lambda h: h * (1 + h))


def test_the_same_equation_over_another_activation_is_decided_on_its_own():
    # layers 1-5 σ, 6-10 tanh: h(1 − h) holds for σ only, whatever was decided before
    net = sb.mlp([1] * 11, activation=["sigmoid"] * 5 + ["tanh"] * 5)
    m = _decided_then_refused(net, range(1, 6), lambda h: h * (1 - h))
    h, z = net.symbol("h7"), net.symbol("z7")
    assert verify(sp.Derivative(h, z), 1 - h ** 2, "dh7/dz7", m).method in ("identical", "symbolic")

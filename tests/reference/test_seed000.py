"""Seed 000 ("Backpropagation with chain rule", 05/09/2023): its 2-2-1 sigmoid/MSE example.

The seed's forward numbers are reproduced; its final gradient is not: it prints
∂L/∂w5 = −0.71 · 0.229 · 0.615 ≈ −0.01 and w5 = 0.551, but that product is ≈ −0.09998, so the
updated weight is 0.55 + 0.1 · 0.09998 ≈ 0.55998. The engine must give the correct numbers.
Expected values are recomputed here with plain ``math`` from the seed's inputs, never copied
from the engine.
"""

from __future__ import annotations

import math

import pytest

import symbackprop as sb

X1, X2, Y = 0.5, 0.3, 1.0
W = dict(w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)
ETA = 0.1
VALUES = dict(x1=X1, x2=X2, y=Y, **W)

# What the seed prints.
SEED_FORWARD = dict(z1=0.47, z2=0.33, h1=0.615, h2=0.582, z3=0.6, L=0.126)
SEED_YHAT = 0.645
SEED_FACTORS = (-0.71, 0.229, 0.615)
SEED_GRADIENT_W5 = -0.01
SEED_UPDATED_W5 = 0.551


def sigma(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def by_hand() -> dict[str, float]:
    """The seed's own recipe, at full precision."""
    z1 = X1 * W["w1"] + X2 * W["w3"]
    z2 = X1 * W["w2"] + X2 * W["w4"]
    h1, h2 = sigma(z1), sigma(z2)
    z3 = h1 * W["w5"] + h2 * W["w6"]
    yhat = sigma(z3)
    L = (Y - yhat) ** 2  # (1/n) Σ with n = 1
    dL_dyhat = -2 * (Y - yhat)
    dyhat_dz3 = yhat * (1 - yhat)
    dz3_dw5 = h1
    return dict(z1=z1, z2=z2, h1=h1, h2=h2, z3=z3, yhat=yhat, L=L, dL_dyhat=dL_dyhat,
                dyhat_dz3=dyhat_dz3, dz3_dw5=dz3_dw5)


@pytest.fixture(scope="module")
def net():
    return sb.mlp([2, 2, 1], activation="sigmoid", loss="mse", bias=False, notation="sequential")


@pytest.fixture(scope="module")
def d(net):
    return sb.derive(net)


@pytest.fixture(scope="module")
def ev(d):
    return d.evaluate(VALUES)


def test_forward_numbers(ev):
    for name, printed in SEED_FORWARD.items():
        assert round(ev.nodes[name], 3) == pytest.approx(printed, abs=1e-12), name
    # The seed prints ŷ = σ(0.6) = 0.645, but σ(0.60025) = 0.64571…, which rounds to 0.646:
    # the seed truncated. Accept the printed value to within one unit of its last digit.
    assert ev.nodes["yhat"] == pytest.approx(SEED_YHAT, abs=1e-3)
    assert round(ev.nodes["yhat"], 3) == 0.646
    assert ev.loss == pytest.approx(by_hand()["L"], rel=1e-13)


def test_forward_matches_the_recipe(ev):
    ref = by_hand()
    for name in ("z1", "z2", "h1", "h2", "z3", "yhat"):
        assert ev.nodes[name] == pytest.approx(ref[name], rel=1e-13), name


def test_chain_for_w5_and_its_factors(net, d):
    chain = d.chain(net.weight(2, 1, 1))
    assert repr(chain) == "Chain(dL/dw5 = dL/dyhat * dyhat/dz3 * dz3/dw5)"
    ex = sb.worked_example(d, VALUES, learning_rate=ETA, digits=3)
    (path,) = ex.factors["w5"]
    values = [f.value for f in path]
    assert round(values[0], 2) == SEED_FACTORS[0]  # −2(1 − 0.645) = −0.71
    assert round(values[1], 3) == SEED_FACTORS[1]  # ŷ(1 − ŷ) = 0.229
    assert round(values[2], 3) == SEED_FACTORS[2]  # h1 = 0.615
    ref = by_hand()
    assert values == pytest.approx([ref["dL_dyhat"], ref["dyhat_dz3"], ref["dz3_dw5"]], rel=1e-12)


def test_gradient_and_update_of_w5_correct_the_seed(d, ev):
    ref = by_hand()
    product = ref["dL_dyhat"] * ref["dyhat_dz3"] * ref["dz3_dw5"]
    gradient = ev.gradients["w5"]
    assert gradient == pytest.approx(product, rel=1e-12)
    # The seed's own rounded factors give the same, not −0.01:
    assert math.prod(SEED_FACTORS) == pytest.approx(gradient, abs=5e-4)
    assert gradient != pytest.approx(SEED_GRADIENT_W5, abs=1e-3)  # the seed is off by 10x
    assert abs(gradient / SEED_GRADIENT_W5) == pytest.approx(10, rel=0.01)

    ex = sb.worked_example(d, VALUES, learning_rate=ETA, digits=3)
    updated = ex.updated["w5"]
    assert updated == pytest.approx(W["w5"] - ETA * product, rel=1e-12)
    assert updated != pytest.approx(SEED_UPDATED_W5, abs=1e-3)
    assert ex.show(updated) == "0.560"
    assert ex.show(ex.gradients["w5"]) == "-0.100"


def test_finite_differences_agree(d):
    result = sb.check_gradients(d, VALUES)
    assert result.ok
    assert result.max_error < 1e-6

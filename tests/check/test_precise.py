"""precise.py: the loss in high precision, the reference for gradients float64 cannot judge."""

from __future__ import annotations

import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.check import precise
from symbackprop.check.precise import PreciseLoss, Unjudgeable, judge, smooth_step


def _saturating():
    g = sb.Graph()
    w, x, y = g.parameter("w"), g.input("x"), g.target("y")
    g.loss("L", (y - sb.sigmoid(w * x)) ** 2)
    return g


def test_the_reference_finds_the_slope_of_a_sigmoid_whose_logit_moves_by_1e300_per_unit():
    # w·x = 1: ∂L/∂w = −2(y − σ(1))σ(1)(1 − σ(1))·x, about 2.9e299, which a fixed step misses
    at = {"w": 1e-300, "x": 1e300, "y": 0.0}
    s = 1 / (1 + 2.718281828459045 ** -1)
    exact = 2 * s * s * (1 - s) * 1e300
    j = judge(PreciseLoss(_saturating()), at, "w", exact, 1e-6, 1e-8)
    assert j.ok and j.reference == pytest.approx(exact, rel=1e-9)
    assert not judge(PreciseLoss(_saturating()), at, "w", 2 * exact, 1e-6, 1e-8).ok


def test_the_smooth_step_moves_the_saturated_logit_by_less_than_its_own_scale():
    h, _ = smooth_step(PreciseLoss(_saturating()), {"w": 1e-300, "x": 1e300, "y": 0.0}, "w")
    assert h * 1e300 <= 2.0**-24


def test_the_exp_of_an_exp_of_1e300_is_refused_as_beyond_high_precision():
    g = sb.Graph()
    w = g.parameter("w")
    g.loss("L", sb.sigmoid(-sp.exp(w)))
    with pytest.raises(Unjudgeable, match="exponent beyond high precision"):
        PreciseLoss(g)({"w": 1e300})


def test_a_reference_needing_more_digits_than_allowed_is_unjudgeable(monkeypatch):
    monkeypatch.setattr(precise, "MAX_DIGITS", 40)
    at = {"w": 1e-300, "x": 1e300, "y": 0.0}
    with pytest.raises(Unjudgeable) as raised:
        judge(PreciseLoss(_saturating()), at, "w", 0.0, 1e-6, 1e-8)
    assert raised.value.reason == "digits"


def test_a_users_own_function_is_not_guessed_at():
    class mine(sp.Function):  # noqa: N801
        pass

    g = sb.Graph()
    w = g.parameter("w")
    g.loss("L", mine(w) ** 2)
    with pytest.raises(Unjudgeable, match="does not know"):
        PreciseLoss(g)({"w": 1.0})


def test_a_step_for_an_exp_of_1e308_is_bisected_for_not_scaled():
    # silu(z) = z/(1 + e^(−z)) at z = −1.75e308: e^(−z) changes by a factor e^Δ, so scaling the
    # step by the change found no smooth step (s437's w_2,1,5 read "does not settle")
    g = sb.Graph()
    w, x, y = g.parameter("w"), g.input("x"), g.target("y")
    g.loss("L", (y - sb.silu(w * x)) ** 2)
    at = {"w": -0.975, "x": 1.7976931348623157e308, "y": 0.5}
    loss = PreciseLoss(g)
    h, _ = smooth_step(loss, at, "w")
    assert h * at["x"] <= 2.0**-20
    assert judge(loss, at, "w", 0.0, 1e-6, 1e-8).ok


def test_a_loss_that_is_a_small_difference_of_huge_terms_gets_the_digits_its_terms_need():
    # −z log σ(n) − (1 − z) log(1 − σ(n)) at z = 1.7e146 is 0.69: its digits were sized by |L|,
    # so 30 of them read ∂L/∂w as 0 and called the engine's right −6e233 WRONG (seed 2112,
    # spec 1737); and the first step, 2⁻⁶⁴ at w = 9e-177, crossed 0, where √w is not real
    g = sb.Graph("g")
    w, z = g.parameter("w"), g.target("z")
    n = g.node("n", sp.sqrt(w))
    g.loss("L", -z * sp.log(sb.sigmoid(n)) - (1 - z) * sp.log(1 - sb.sigmoid(n)))
    report = sb.check_gradients(g, {"w": 8.899343576808139e-177, "z": 1.691736480120155e146})
    assert report.ok, str(report)

"""Grading a hand calculation: seed 000's own numbers, every kind of slip, the claims file."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from texutil import REPO

import symbackprop as sb
from symbackprop.teaching.grade import ClaimsError, grade, load_claims, report

GALLERY = REPO / "docs" / "examples"


@pytest.fixture(scope="module")
def seed000():
    return sb.derive(sb.mlp([2, 2, 1]))


def test_seed000s_own_numbers(seed000, seed000_values):
    claims = load_claims(GALLERY / "seed000-claims.toml")
    rows = {r.key: r for r in grade(seed000, seed000_values, claims, learning_rate=0.1)}
    wrong = sorted(k for k, r in rows.items() if not r.ok)
    assert wrong == ["dL/dw5", "w5'"]
    assert rows["dL/dw5"].slip.name == "factor_10"
    assert rows["dL/dw5"].correct == pytest.approx(-0.09975254, abs=1e-8)
    assert rows["w5'"].slip.name == "carried"
    assert rows["w5'"].slip.detail == {"key": "dL/dw5", "value": "-0.01"}
    assert rows["w5'"].correct == pytest.approx(0.55997525, abs=1e-8)
    assert rows["yhat"].ok and rows["z1"].ok and rows["dyhat/dz3"].ok
    text = report(list(rows.values()))
    assert text.endswith("10 of 12 right; wrong: dL/dw5, w5'\n")
    korean = report(list(rows.values()), language="ko")
    assert korean.endswith("12개 중 10개 정답; 오답: dL/dw5, w5'\n")
    assert "10배 차이" in korean and "WRONG" not in korean and "slip" not in korean


@pytest.mark.parametrize(("key", "claimed", "slip"), [
    ("dL/dw6", "0.094", "sign"),
    ("dL/dw6", "-0.0094", "factor_10"),
    ("dL/dw6", "-0.00094", "factor_100"),
    ("dL/dw1", "-0.021", "half_missing"),
    ("dL/dw5", "-0.050", "factor_2"),
    ("w5'", "0.540", "learning_rate_sign"),
    ("L", "0.200", "rounded_all"),
])
def test_each_slip_is_named(seed000, seed000_values, key, claimed, slip):
    (row,) = grade(seed000, seed000_values, {key: Decimal(claimed)}, learning_rate=0.1)
    assert not row.ok and row.slip.name == slip


def test_a_number_no_slip_explains_has_none(seed000, seed000_values):
    (row,) = grade(seed000, seed000_values, {"yhat": Decimal("0.700")}, learning_rate=0.1)
    assert not row.ok and row.slip is None
    assert "WRONG (correct: 0.6457)\n" in report([row])


def test_a_claim_is_judged_at_its_own_precision(seed000, seed000_values):
    rows = grade(seed000, seed000_values,
                 {"yhat": Decimal("0.6457"), "z3": Decimal("0.600"), "h1": Decimal("0.6")}, 0.1)
    assert [r.ok for r in rows] == [True, True, True]
    (row,) = grade(seed000, seed000_values, {"yhat": Decimal("0.6450")}, 0.1)
    assert not row.ok  # four decimals claim more than 0.645 did


def test_unknown_quantities_and_bad_files_are_named(seed000, seed000_values, tmp_path):
    with pytest.raises(ClaimsError, match=r"claims\.w9: not a quantity of this network"):
        grade(seed000, seed000_values, {"w9": Decimal("1")}, 0.1)
    bad = tmp_path / "c.toml"
    bad.write_text("[other]\nx = 1\n", encoding="utf-8")
    with pytest.raises(ClaimsError, match="expected one \\[claims\\] table"):
        load_claims(bad)
    bad.write_text('[claims]\n"w1\'" = "0.7"\n', encoding="utf-8")
    with pytest.raises(ClaimsError, match="expected a number, got str"):
        load_claims(bad)
    with pytest.raises(ClaimsError, match="no such file"):
        load_claims(tmp_path / "missing.toml")


# -- each named slip, made by hand (plain math on seed 000's numbers) --------------------------
X1, X2, Y, ETA = 0.5, 0.3, 1.0, 0.1
W = dict(w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)


def sig(x):
    return 1 / (1 + math.exp(-x))


def forward(act=sig, w=W):
    z1, z2 = X1 * w["w1"] + X2 * w["w3"], X1 * w["w2"] + X2 * w["w4"]
    h1, h2 = act(z1), act(z2)
    z3 = h1 * w["w5"] + h2 * w["w6"]
    return dict(z1=z1, z2=z2, h1=h1, h2=h2, z3=z3, yhat=act(z3))


F = forward()
D_YHAT = -2 * (Y - F["yhat"])                      # L = (y − ŷ)²
DELTA_Z3 = D_YHAT * F["yhat"] * (1 - F["yhat"])
DELTA_Z1 = DELTA_Z3 * W["w5"] * F["h1"] * (1 - F["h1"])


def claim(value: float, decimals: int = 5) -> Decimal:
    return Decimal(f"{value:.{decimals}f}")


def test_sigma_prime_at_the_activation(seed000, seed000_values):
    s = sig(F["yhat"])  # σ′(ŷ) instead of σ′(z3) = ŷ(1 − ŷ)
    (row,) = grade(seed000, seed000_values, {"dL/dw5": claim(D_YHAT * s * (1 - s) * F["h1"])})
    assert row.slip.name == "sigma_prime_at_a"


@pytest.fixture(scope="module")
def tanh_net():
    return sb.derive(sb.mlp([2, 2, 1], activation="tanh", loss="mse", bias=False))


@pytest.mark.parametrize(("derivative", "slip"), [
    (lambda z: 1 / math.cosh(z), "tanh_prime_sech"),
    (lambda z: 1 - z * z, "tanh_prime_one_minus_z2"),
])
def test_tanh_prime_written_wrong(tanh_net, seed000_values, derivative, slip):
    f = forward(math.tanh)
    d_yhat = -2 * (Y - f["yhat"])
    d_z3 = d_yhat * derivative(f["z3"])
    d_z1 = d_z3 * W["w5"] * derivative(f["z1"])
    (row,) = grade(tanh_net, seed000_values, {"dL/dw1": claim(d_z1 * X1, 6)})
    assert row.slip.name == slip


def test_the_one_over_m_missing_or_doubled(seed000_values):
    d = sb.derive(sb.mlp([2, 2, 3], loss="mse", bias=False))
    values = {s.name: 0.1 * (k % 7) - 0.2 for k, s in enumerate(d.graph.parameters)}
    values.update(x1=0.5, x2=0.3, y1=1.0, y2=0.0, y3=0.5)
    truth = d.evaluate(values).gradients
    g = float(truth[d.graph.parameters[0].name])
    key = f"dL/d{d.graph.parameters[0].name}"
    (missing,) = grade(d, values, {key: claim(3 * g, 6)})
    (doubled,) = grade(d, values, {key: claim(g / 3, 7)})
    assert (missing.slip.name, doubled.slip.name) == ("one_over_m_missing", "one_over_m_doubled")
    assert missing.slip.detail == {"m": 3}


def test_a_transposed_weight_index(seed000, seed000_values):
    d_w3 = DELTA_Z1 * X2  # w3 = w_21 goes from x2 to z1; w2 = w_12 from x1 to z2
    (row,) = grade(seed000, seed000_values, {"dL/dw2": claim(d_w3, 6)})
    assert row.slip.name == "transposed_index" and row.slip.detail == {"other": "w3"}


def test_the_delta_of_the_wrong_layer(seed000, seed000_values):
    (row,) = grade(seed000, seed000_values, {"dL/dw1": claim(DELTA_Z3 * X1, 5)})
    assert row.slip.name == "wrong_layer_delta"


def test_an_update_that_used_already_updated_weights(seed000, seed000_values):
    w5_new = W["w5"] - ETA * DELTA_Z3 * F["h1"]
    d_z1 = DELTA_Z3 * w5_new * F["h1"] * (1 - F["h1"])
    (row,) = grade(seed000, seed000_values, {"dL/dw1": claim(d_z1 * X1, 7)})
    assert row.slip.name == "updated_weights_used"


def test_the_factor_2_of_the_square(seed000, seed000_values):
    half = -(Y - F["yhat"]) * F["yhat"] * (1 - F["yhat"]) * F["h1"]  # as if L = ½(y − ŷ)²
    (row,) = grade(seed000, seed000_values, {"dL/dw5": claim(half, 4)})
    assert row.slip.name == "factor_2" and row.slip.detail == {"half": False}


def test_which_intermediate_was_rounded_too_early(seed000, seed000_values):
    h1 = round(F["h1"], 2)  # h1 = 0.62 used in z3, everything else exact
    yhat = sig(h1 * W["w5"] + F["h2"] * W["w6"])
    (row,) = grade(seed000, seed000_values, {"yhat": claim(yhat, 4)})
    assert row.slip.name == "rounded_early"
    assert row.slip.detail == {"node": "h1", "digits": 2}
    assert "h_1 rounded to 2 decimals before it was used" in report([row])  # as the notes


@pytest.mark.parametrize("written", ["delta_z3", "δ_z3", r"\delta_{z_3}", "dL/dz3", "∂L/∂z_3",
                                     r"\frac{\partial L}{\partial z_3}"])
def test_claims_accept_every_name_the_notes_print(seed000, seed000_values, written):
    (row,) = grade(seed000, seed000_values, {written: claim(DELTA_Z3, 4)})
    assert row.ok and row.key == "dL/dz3"


def test_report_names_the_slip_in_words(seed000, seed000_values):
    claims = load_claims(GALLERY / "seed000-claims.toml")
    text = report(grade(seed000, seed000_values, claims, learning_rate=0.1))
    assert "dL/dw5         = -0.01      WRONG (correct: -0.100; likely slip: a factor of 10)" in text
    assert "carried from the claimed dL/dw_5 = -0.01, which is wrong" in text

"""Grading a hand calculation: seed 000's own numbers, every kind of slip, the claims file."""

from __future__ import annotations

from decimal import Decimal

import pytest
from texutil import REPO

import symbackprop as sb
from symbackprop.grade import ClaimsError, grade, load_claims, report

GALLERY = REPO / "docs" / "examples"


@pytest.fixture(scope="module")
def seed000():
    return sb.derive(sb.mlp([2, 2, 1]))


def test_seed000s_own_numbers(seed000, seed000_values):
    claims = load_claims(GALLERY / "seed000-claims.toml")
    rows = {r.key: r for r in grade(seed000, seed000_values, claims, learning_rate=0.1)}
    wrong = sorted(k for k, r in rows.items() if not r.ok)
    assert wrong == ["dL/dw5", "w5'"]
    assert rows["dL/dw5"].slip == "a factor of 10"
    assert rows["dL/dw5"].correct == pytest.approx(-0.09975254, abs=1e-8)
    assert rows["w5'"].slip.startswith("carried from the claimed dL/dw5 = -0.01")
    assert rows["w5'"].correct == pytest.approx(0.55997525, abs=1e-8)
    assert rows["yhat"].ok and rows["z1"].ok and rows["dyhat/dz3"].ok
    text = report(list(rows.values()))
    assert text.endswith("10 of 12 right; wrong: dL/dw5, w5'\n")


@pytest.mark.parametrize(("key", "claimed", "slip"), [
    ("dL/dw6", "0.094", "a sign"),
    ("dL/dw6", "-0.0094", "a factor of 10"),
    ("dL/dw6", "-0.00094", "a factor of 100"),
    ("dL/dw1", "-0.021", "a missing ½ (or an extra factor 2)"),
    ("dL/dw5", "-0.050", "a missing factor 2 (or an extra ½)"),
    ("w5'", "0.540", "a sign: the step went with the gradient instead of against it"),
    ("L", "0.200", "intermediates rounded to 1 decimal before they were used"),
    ("yhat", "0.700", ""),
])
def test_each_slip_is_named(seed000, seed000_values, key, claimed, slip):
    (row,) = grade(seed000, seed000_values, {key: Decimal(claimed)}, learning_rate=0.1)
    assert not row.ok and row.slip == slip


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

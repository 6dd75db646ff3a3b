"""Notations: presets, key and LaTeX spellings, refusal of unsafe patterns, user notations."""

from __future__ import annotations

import pytest

from symbackprop.core.notation import (
    FIELDS,
    INDEXED,
    LAYERED,
    MATRIX,
    NOTATIONS,
    ROLES,
    SEQUENTIAL,
    Notation,
    notation,
)


def test_presets_define_every_role_and_are_found_by_name():
    assert set(NOTATIONS) == {"sequential", "layered", "indexed", "matrix"}
    for name, n in NOTATIONS.items():
        assert n.name == name
        assert set(n.keys) == set(ROLES)
        assert set(n.latexes) == set(ROLES)
        assert n.description
    assert notation("layered") is LAYERED
    assert notation(MATRIX) is MATRIX


def test_unknown_or_missing_notation_is_refused():
    with pytest.raises(ValueError, match="unknown notation 'greek'"):
        notation("greek")
    with pytest.raises(ValueError, match="unknown notation"):
        notation(None)


@pytest.mark.parametrize(
    ("n", "role", "index", "key", "latex"),
    [
        (SEQUENTIAL, "weight", dict(i=1, j=2, l=1, n=2), "w2", "w_{2}"),
        (SEQUENTIAL, "pre", dict(j=1, l=2, n=3), "z3", "z_{3}"),
        (SEQUENTIAL, "act", dict(j=2, l=1, n=2), "h2", "h_{2}"),
        (SEQUENTIAL, "output_single", {}, "yhat", r"\hat{y}"),
        (SEQUENTIAL, "output", dict(j=2), "yhat2", r"\hat{y}_{2}"),
        (SEQUENTIAL, "delta", dict(n=3), "delta_z3", r"\delta_{z_{3}}"),
        (LAYERED, "weight", dict(i=1, j=2, l=1), "w_12^(1)", "w_{12}^{(1)}"),
        (LAYERED, "weight", dict(i=11, j=2, l=3), "w_11,2^(3)", "w_{11,2}^{(3)}"),
        (LAYERED, "pre", dict(j=2, l=1), "S_2^(1)", "S_{2}^{(1)}"),
        (LAYERED, "act", dict(j=1, l=2), "x_1^(2)", "x_{1}^{(2)}"),
        (LAYERED, "input", dict(i=2), "x_2^(0)", "x_{2}^{(0)}"),
        (LAYERED, "delta", dict(j=1, l=2), "delta_1^(2)", r"\delta_{1}^{(2)}"),
        (INDEXED, "weight", dict(i=1, j=2, l=1), "w_21^(1)", "w_{21}^{(1)}"),
        (INDEXED, "act", dict(j=3, l=1), "h_3^(2)", "h_{3}^{(2)}"),
        (INDEXED, "input", dict(i=1), "h_1^(1)", "h_{1}^{(1)}"),
        (INDEXED, "loss", {}, "J", "J"),
        (MATRIX, "weight", dict(i=3, j=1, l=2), "W^[2]_13", "W^{[2]}_{13}"),
        (MATRIX, "pre", dict(j=2, l=1), "Z^[1]_2", "Z^{[1]}_{2}"),
        (MATRIX, "input", dict(i=2), "x_2", "A^{[0]}_{2}"),
        (MATRIX, "layer_bias", dict(l=2), "b^[2]", "b^{[2]}"),
    ],
)
def test_key_and_latex(n, role, index, key, latex):
    assert n.key(role, **index) == key
    assert n.latex(role, **index) == latex


def test_pair_field_separates_indices_of_ten_or_more():
    n = Notation.from_mapping("pairs", {"keys": {"weight": "w{ij}_{ji}"}})
    assert n.key("weight", i=1, j=2) == "w12_21"
    assert n.key("weight", i=10, j=2) == "w10,2_2,10"
    n = Notation.from_mapping("layers", {"keys": {"pre": "z{lm1}.{l}.{lp1}"}})
    assert n.key("pre", l=2) == "z1.2.3"


@pytest.mark.parametrize(
    "pattern", ["{i.__class__}", "{0}", "{}", "{i[0]}", "{i!r}", "{i:>3}", "{x}", "{__init__}"]
)
def test_unsafe_or_unknown_fields_refused(pattern):
    with pytest.raises(ValueError, match="allowed fields"):
        Notation.from_mapping("evil", {"keys": {"weight": pattern}})
    with pytest.raises(ValueError, match="allowed fields"):
        Notation.from_mapping("evil", {"latex": {"weight": pattern}})


def test_malformed_pattern():
    with pytest.raises(ValueError, match="malformed"):
        Notation.from_mapping("broken", {"latex": {"weight": "w_{"}})


def test_from_mapping_overrides_base():
    n = Notation.from_mapping(
        "mine",
        {"keys": {"weight": "v{n}"}, "latex": {"weight": "v_{{{ij}}}"}, "description": "mine"},
        LAYERED,
    )
    assert n.name == "mine"
    assert n.description == "mine"
    assert n.key("weight", i=1, j=2, n=5) == "v5"
    assert n.latex("weight", i=1, j=2) == "v_{12}"
    # every other role comes from the base
    assert n.key("pre", j=1, l=2) == LAYERED.key("pre", j=1, l=2)
    assert n.latex("delta", j=1, l=2) == LAYERED.latex("delta", j=1, l=2)
    # the default base is sequential
    assert Notation.from_mapping("plain", {}).keys == SEQUENTIAL.keys


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"symbols": {}}, "unknown entries"),
        ({"keys": "w{n}"}, "must be a table"),
        ({"latex": ["w"]}, "must be a table"),
        ({"keys": {"neuron": "n{n}"}}, "unknown role 'neuron'"),
        ({"keys": {"weight": 3}}, "not text"),
        ({"description": 3}, "description must be text"),
    ],
)
def test_from_mapping_errors(data, message):
    with pytest.raises(ValueError, match=message):
        Notation.from_mapping("bad", data)


def test_missing_roles_refused():
    keys = {r: "k" for r in ROLES if r != "delta"}
    with pytest.raises(ValueError, match="lacks roles: delta"):
        Notation("partial", keys, dict(SEQUENTIAL.latexes))


def test_fields_documented_set():
    assert FIELDS == {"i", "j", "ij", "ji", "l", "lp1", "lm1", "n"}


def test_an_index_outside_i_j_l_n_is_refused():
    with pytest.raises(TypeError, match="unknown index k"):
        SEQUENTIAL.key("weight", k=1, n=2)
    with pytest.raises(TypeError, match="unknown index k"):
        LAYERED.latex("loss", k=1)

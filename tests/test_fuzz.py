"""A bounded fuzz test of the whole pipeline over the whole spec grammar (issue 14).

Specs are drawn with names from numpy's, math's and SymPy's namespaces and Python's keywords,
every function of the expression language, and values from the edges (0, ±1e300, subnormal).
Each goes through the spec reader, derive, the evaluator, the verifier and the renderer, as the
command line runs them: ``check`` and ``notes``. Anything but the project's own one-line
errors (exit 1 or 2) fails the test.

Nothing is excluded: names that collide with numpy's, math's or SymPy's (reproducers 03, 04,
19), huge values (01) and divisions by zero in the worked example (02) are all in the draw.
"""

from __future__ import annotations

import keyword
import math
import os

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbackprop.cli import main as cli
from symbackprop.io.spec import FUNCTIONS

NAMESPACE = sorted({n for n in dir(np) + dir(math) + dir(sympy) if n.isidentifier()}
                   | set(keyword.kwlist))
PLAIN = ["x", "w", "y", "b", "a1", "w_2", "Q"]
EDGES = ["0", "0.0", "-0.0", "1", "-1", "1e300", "-1e300", "5e-324", "1e-3", "0.5", "-0.3", "1e3"]
NUMBERS = ["0", "1", "2", "0.5", "1e-3", "1e12", "1e-30", "3"]

names = st.one_of(st.sampled_from(NAMESPACE), st.sampled_from(PLAIN),
                  st.sampled_from([n + "_" for n in ("exp", "log", "sqrt", "tanh", "x")]))


def expressions(leaves: list[str]):
    atoms = st.one_of(st.sampled_from(leaves), st.sampled_from(NUMBERS))

    def extend(inner):
        return st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(
                lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
            st.tuples(inner, st.sampled_from(["2", "0.5", "-1", "3"])).map(
                lambda t: f"({t[0]})^{t[1]}"),
            st.tuples(st.sampled_from(sorted(FUNCTIONS)), inner).map(
                lambda t: f"{t[0]}({t[1]})"),
            inner.map(lambda e: f"-({e})"),
        )

    return st.recursive(atoms, extend, max_leaves=6)


@st.composite
def specs(draw) -> tuple[str, set[str]]:
    pool = draw(st.lists(names, min_size=3, max_size=3, unique=True))
    x, y, w = pool
    expr = draw(expressions([x, w]))
    loss = draw(expressions(["a", y]))
    values = {n: draw(st.sampled_from(EDGES)) for n in pool}
    text = (f'[graph]\ninputs = ["{x}"]\ntargets = ["{y}"]\nparameters = ["{w}"]\n'
            f'nodes = [{{ name = "a", expr = "{expr}" }}]\n'
            f'loss = {{ name = "L", expr = "{loss}" }}\n[values]\n'
            + "".join(f'"{n}" = {v}\n' for n, v in values.items()))
    return text, set(pool)


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=specs())
def test_every_spec_ends_in_an_answer_or_one_line(tmp_path_factory, capsys, case):
    text, _ = case
    capsys.readouterr()
    folder = tmp_path_factory.mktemp("fuzz")
    spec = folder / "s.toml"
    spec.write_text(text, encoding="utf-8")
    for command in (["check", str(spec)], ["notes", str(spec), "-o", str(folder / "n.tex"), "-q"]):
        try:
            code = cli(command)
        except Exception as err:  # noqa: BLE001 - the point: nothing else may escape
            pytest.fail(f"{command[0]} raised {type(err).__name__}: {err}\n{text}")
        err = capsys.readouterr().err
        assert code in (0, 1, 2)
        assert err.count("\n") <= 1 and "Warning" not in err, (err, text)
        if code == 2:
            return  # refused: the later commands would refuse it too


FOUND = {  # cases the fuzzer found after the merge of issues 14 and 15, kept as plain tests
    "loss 1/0 at the values (a node that is the number 0)":
        ('[graph]\ninputs = ["x_"]\ntargets = ["little_endian"]\nparameters = ["exp_"]\n'
         'nodes = [{ name = "a", expr = "((0)^2) / ((exp_) / (1e-3))" }]\n'
         'loss = { name = "L", expr = "((1e-3)^2) / ((a) / (1e-3))" }\n[values]\n'
         '"exp_" = 1e3\n"little_endian" = 0\n"x_" = 1e3\n'),
    "a local derivative that is the constant e":
        ('[graph]\ninputs = ["Abs"]\ntargets = ["AccumBounds"]\nparameters = ["Add"]\n'
         'nodes = [{ name = "a", expr = "Abs" }]\nloss = { name = "L", expr = "(a) * (exp(1))" }\n'
         '[values]\n"Abs" = 0\n"AccumBounds" = 0\n"Add" = 0\n'),
}


@pytest.mark.parametrize("text", FOUND.values(), ids=FOUND.keys())
def test_cases_the_fuzzer_found(tmp_path, capsys, text):
    spec = tmp_path / "s.toml"
    spec.write_text(text, encoding="utf-8")
    for command in (["check", str(spec)], ["notes", str(spec), "-o", str(tmp_path / "n.tex"), "-q"]):
        code = cli(command)
        err = capsys.readouterr().err
        assert code in (0, 1, 2) and err.count("\n") <= 1, err

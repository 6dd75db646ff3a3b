"""bench/bench_notes.py keeps the harness's discipline and prints its section (timings are not
judged here: see make bench)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest
from texutil import REPO

import symbackprop as sb
from symbackprop.io.spec.reader import parse_spec


@pytest.fixture
def bench_notes(monkeypatch):
    """The script as a module; its pin_threads() writes into a copy of the environment."""
    monkeypatch.setattr(os, "environ", dict(os.environ))
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    return importlib.import_module("bench_notes")


def test_the_specs_give_every_leaf_a_value(bench_notes):
    for text, graph in ((bench_notes.mlp_spec(4, 3), sb.mlp([4, 4, 4, 1])),
                        (bench_notes.rnn_spec(4, 2), None)):
        spec = parse_spec(text)
        graph = graph or spec.graph
        assert set(spec.values) == {s.name for s in graph.leaves}


def test_rounds_rotate_the_cases_and_a_changed_ending_is_refused(bench_notes):
    order = []

    def case(name):
        return lambda: order.append(name) or bench_notes.Outcome(0)

    timings, outcomes = bench_notes.measure({"a": case("a"), "b": case("b"), "c": case("c")},
                                            rounds=3)
    assert order == list("abc" "abc" "bca" "cab")  # one unmeasured round, then rotated
    assert all(len(t.samples) == 3 for t in timings.values())
    assert outcomes["a"] == bench_notes.Outcome(0)
    endings = iter([0, 2])
    with pytest.raises(AssertionError, match="differently"):
        bench_notes.measure({"a": lambda: bench_notes.Outcome(next(endings))}, rounds=1)


@pytest.mark.slow  # a long run: make test-slow (CI runs it too)
def test_quick_run_prints_its_table_and_targets():
    run = subprocess.run([sys.executable, str(REPO / "bench" / "bench_notes.py"), "--quick"],
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("### Notes time against size")
    assert "| case | parameters | min (s) | median (s) | outcome |" in lines
    assert any("MLP depth 3, width 64" in x and "refused: the network has" in x for x in lines)
    assert any(x.startswith("Fitted exponent") for x in lines)
    assert "| chain | weights | output | min (s) | median (s) |" in lines
    assert any(x.startswith("| mlp([1]*21) | 20 | html |") for x in lines)
    targets = [x for x in lines if x.startswith("- ")]
    assert len(targets) == 7  # 3 for the specs, 4 for the deep chains
    assert any("chain notes linear in n" in t for t in targets)
    assert all(t.startswith(("- PASS", "- MISS", "- NOT MEASURED")) for t in targets)

"""Per-command limits (issue 14, reproducer 23): refused up front, in one line, before any work;
and (issue 21) every command at every documented maximum answers or refuses, never hangs.

Timings are not judged here: `make bench` has rows for notes at 1000 parameters and a depth-16
chain; these tests show that a net over a command's limit is refused before any graph is built
(every builder made to fail), from the spec's numbers.
"""

from __future__ import annotations

import importlib.util

import pytest
from texutil import REPO

from symbackprop.cli import common
from symbackprop.cli import main as cli
from symbackprop.cli.common import MAX_NUMBERS_PARAMETERS, MAX_SCALAR_GRAD_PARAMETERS
from symbackprop.core.graph import Graph

# 100-100-1 is 10 100 weights: over every per-command limit, inside the spec's 100 000.
BIG = "[network]\nsizes = [100, 100, 1]\n"
# Three dense blocks of 64 on 64 inputs: 12 480 parameters, inside the spec's weight and
# product limits; a graph of 2 001 parameters, over check's.
BLOCKS = ('[network]\nkind = "blocks"\ninputs = 64\nblocks = ['
          + ", ".join(['{ type = "dense", units = 64, activation = "tanh" }'] * 3) + "]\n")
GRAPH = ("[graph]\ninputs = [\"x\"]\ntargets = [\"y\"]\nparameters = ["
         + ", ".join(f'"w{k}"' for k in range(1, 2002))
         + ']\nloss = { name = "L", expr = "(y - w1*x)^2" }\n')
SPECS = {"mlp": BIG, "blocks": BLOCKS, "graph": GRAPH}


def _refuse_to_build(monkeypatch) -> None:
    """Make declaring any symbol of any graph fail loudly: every builder and the [graph]
    reader declare through Graph._declare, so a refusal must come before all of them."""
    def declared(*args, **kwargs):
        raise AssertionError("a graph was built before the command's limit was checked")
    monkeypatch.setattr(Graph, "_declare", declared)


@pytest.mark.parametrize(("args", "fragment", "kinds"), [
    (["grad"], f"grad --form intermediate is limited to {MAX_SCALAR_GRAD_PARAMETERS}",
     ("mlp", "blocks")),
    (["grad", "--form", "expanded"], "grad --form expanded is limited", ("mlp", "blocks")),
    (["check"], f"check is limited to {MAX_NUMBERS_PARAMETERS}", ("mlp", "blocks", "graph")),
    (["example"], "example is limited", ("mlp", "blocks", "graph")),
    (["grade", "claims.toml"], "grade is limited", ("mlp", "blocks", "graph")),
    (["grade", "answer.tex"], "grade is limited", ("mlp", "blocks", "graph")),
    (["notes"], "notes write equations for every one", ("mlp", "blocks", "graph")),
    (["exercises"], "notes write equations for every one", ("mlp", "blocks", "graph")),
])
def test_commands_refuse_nets_over_their_limit_before_building_anything(
        tmp_path, capsys, monkeypatch, args, fragment, kinds):
    (tmp_path / "answer.tex").write_text("$x = 1$\n")
    (tmp_path / "claims.toml").write_text("[claims]\n")
    _refuse_to_build(monkeypatch)
    for kind in kinds:
        spec = tmp_path / f"{kind}.toml"
        spec.write_text(SPECS[kind])
        extra = [str(tmp_path / a) if a.endswith((".tex", ".toml")) else a for a in args[1:]]
        code = cli([args[0], str(spec), *extra, "-o", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and fragment in err, (kind, err)
        assert not (tmp_path / "out").exists()


def test_a_command_within_its_limit_builds_the_graph(tmp_path, monkeypatch):
    # the other side of the test above: a spec under check's limit does reach the builder
    spec = tmp_path / "small.toml"
    spec.write_text("[network]\nsizes = [2, 2, 1]\n")
    _refuse_to_build(monkeypatch)
    with pytest.raises(AssertionError, match="a graph was built"):
        cli(["check", str(spec)])


def _bench_limits():
    """bench/bench_limits.py: the specs at each documented limit, shared with `make bench`."""
    spec = importlib.util.spec_from_file_location("bench_limits", REPO / "bench" / "bench_limits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LIMITS = _bench_limits()


@pytest.mark.slow
@pytest.mark.parametrize("command", LIMITS.COMMANDS, ids=[" ".join(c) for c in LIMITS.COMMANDS])
@pytest.mark.parametrize("name", list(LIMITS.LIMITS))
def test_every_command_answers_or_refuses_at_each_documented_limit(tmp_path, name, command):
    # The guard only catches a hang (issue 21: minutes at an RNN's or blocks' limit); how long
    # each takes is make bench's table, not judged here.
    _seconds, outcome, err = LIMITS.run(name, command, tmp_path, guard=LIMITS.GUARD)
    assert outcome in ("ok", "refused"), (outcome, err[-2000:])
    if outcome == "refused":  # up front, in one line
        assert err.startswith("symbackprop: error: ") and err.count("\n") == 1, err


def test_grad_refuses_a_gradient_with_too_many_paths_to_write_before_deriving(tmp_path, capsys):
    # an RNN of 4 hidden units over 8 steps: ∂L/∂U has ~4^7 chain-rule paths, one term each
    spec = tmp_path / "rnn.toml"
    spec.write_text('[network]\nkind = "rnn"\ninputs = 1\nhidden = 4\noutputs = 1\nsteps = 8\n')
    for extra in (["--param", "U_11"], [], ["--form", "expanded", "--latex"]):
        code = cli(["grad", str(spec), *extra, "-o", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and "chain-rule paths" in err, err
        assert "use --form delta" in err and not (tmp_path / "out").exists()
    assert cli(["grad", str(spec), "--param", "U_11", "--form", "delta", "-o",
                str(tmp_path / "out")]) == 0


def test_grad_code_of_a_model_over_the_term_limit_is_refused_before_deriving(
        tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(common, "MAX_SCALAR_CODE_TERMS", 10)
    spec = tmp_path / "rnn.toml"
    spec.write_text('[network]\nkind = "rnn"\ninputs = 1\nhidden = 2\noutputs = 1\nsteps = 3\n')
    code = cli(["grad", str(spec), "--code", "-o", str(tmp_path / "m.py")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "grad --code" in err and "limited to 10" in err
    assert not (tmp_path / "m.py").exists()
    monkeypatch.setattr(common, "MAX_SCALAR_CODE_TERMS", 10_000)
    assert cli(["grad", str(spec), "--code", "-o", str(tmp_path / "m.py")]) == 0


def test_grad_refuses_more_paths_in_all_than_it_writes_before_deriving(tmp_path, capsys,
                                                                       monkeypatch):
    # a batch multiplies every weight's paths: 2·2 + 2·1 weights over 4 samples
    monkeypatch.setattr(common, "MAX_WRITTEN_PATHS", 20)
    spec = tmp_path / "blocks.toml"
    spec.write_text('[network]\nkind = "blocks"\ninputs = 2\nbatch = 4\nblocks = [{ type = '
                    '"dense", units = 2, activation = "tanh" }, { type = "dense", units = 1 }]\n')
    code = cli(["grad", str(spec), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "chain-rule paths in all" in err, err
    assert not (tmp_path / "out").exists()
    assert cli(["grad", str(spec), "--param", "W_11^[1]", "-o", str(tmp_path / "out")]) == 0

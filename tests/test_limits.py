"""Per-command limits (issue 14, reproducer 23): refused up front, in one line, before any work;
and (issue 21) every command at every documented maximum answers or refuses, never hangs.

Timings are not judged here: `make bench` has rows for notes at 1000 parameters and a depth-16
chain; these tests only show that a net over a command's limit is refused at once.
"""

from __future__ import annotations

import importlib.util
import time

import pytest
from texutil import REPO

from symbackprop.cli import common
from symbackprop.cli import main as cli
from symbackprop.cli.common import MAX_NUMBERS_PARAMETERS, MAX_SCALAR_GRAD_PARAMETERS

# 100-100-1 is 10 100 weights: over every per-command limit, inside the spec's 100 000.
BIG = "[network]\nsizes = [100, 100, 1]\n"


@pytest.mark.parametrize(("args", "fragment"), [
    (["grad"], f"grad --form intermediate is limited to {MAX_SCALAR_GRAD_PARAMETERS}"),
    (["grad", "--form", "expanded"], "grad --form expanded is limited"),
    (["check"], f"check is limited to {MAX_NUMBERS_PARAMETERS}"),
    (["example"], "example is limited"),
    (["notes"], "notes write equations for every one"),
    (["exercises"], "notes write equations for every one"),
])
def test_commands_refuse_nets_over_their_limit_at_once(tmp_path, capsys, args, fragment):
    spec = tmp_path / "big.toml"
    spec.write_text(BIG)
    start = time.process_time()
    code = cli([args[0], str(spec), *args[1:], "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and fragment in err, err
    assert time.process_time() - start < 60  # refused before deriving (a generous bound)
    assert not (tmp_path / "out").exists()


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

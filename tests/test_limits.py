"""Per-command limits (issue 14, reproducer 23): refused up front, in one line, before any work.

Timings are not judged here: `make bench` has rows for notes at 1000 parameters and a depth-16
chain; these tests only show that a net over a command's limit is refused at once.
"""

from __future__ import annotations

import time

import pytest

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

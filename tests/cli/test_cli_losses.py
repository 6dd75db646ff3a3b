"""The command line on specs whose cross-entropy cannot be: a bce over relu outputs, a bce
target outside [0, 1], for a model other than an MLP (issue 21: `notes` crashed with a
complex-number TypeError, `check` reported -inf). One line, exit 2, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

CONV = '[network]\nkind = "conv1d"\nlength = 1\nkernel = 1\noutput_activation = "{act}"\n' \
       'loss = "bce"\n[values]\nx_1 = 0.5\ny = {y}\nw_1 = 0.5\nb = 0.1\nv_1 = 0.5\nc = 0.1\n'


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    return subprocess.run([sys.executable, "-m", "symbackprop", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300,
                          check=False)


@pytest.mark.parametrize(("act", "y", "message"), [
    ("relu", 0.5, "net.toml: network: loss 'bce' needs outputs in (0, 1): a sigmoid or "
                  "softmax output layer"),
    ("identity", 0.5, "net.toml: network: loss 'bce' needs outputs in (0, 1)"),
    ("sigmoid", -0.7, "net.toml: values.y: a bce target is a probability from 0 to 1, got -0.7"),
])
@pytest.mark.parametrize("command", ["notes", "check"])
def test_a_conv1d_with_an_impossible_bce_is_refused_in_one_line(tmp_path, act, y, message,
                                                                 command):
    (tmp_path / "net.toml").write_text(CONV.format(act=act, y=y), encoding="utf-8")
    result = _run(command, "net.toml", "-o", "out.txt", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"symbackprop: error: {message}"), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.toml"]


def test_the_same_conv1d_with_a_sigmoid_output_checks(tmp_path):
    (tmp_path / "net.toml").write_text(CONV.format(act="sigmoid", y=0.5), encoding="utf-8")
    result = _run("check", "net.toml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr

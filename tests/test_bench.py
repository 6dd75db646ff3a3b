"""The benchmark script runs and prints its table (timings are not judged here: see make bench)."""

from __future__ import annotations

import subprocess
import sys

from texutil import REPO


def test_quick_benchmark_prints_every_section_and_the_targets(tmp_path):
    out = tmp_path / "results.md"
    run = subprocess.run([sys.executable, str(REPO / "bench" / "bench.py"), "--quick", "--output",
                          str(out)], capture_output=True, text=True, timeout=600, check=False,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    text = out.read_text(encoding="utf-8")
    assert text.strip() == run.stdout.strip()  # the file holds the table it printed
    header = "| case | method | time per call | ratio | peak memory | note |"
    assert text.count(header) == 5
    for needle in ("naive: diff of expanded loss", "engine: derive + all δ forms",
                   "matrix form", "hand-written numpy", "engine: batched evaluator",
                   "engine: scalar lambdified", "torch CPU autograd", "gradient / forward",
                   "notes, first in a new process", "Machine: ", "**Targets**",
                   "engine: batched evaluator (numpy)", "general form: derive + check"):
        assert needle in text, needle
    targets, side = text.split("**Targets**", 1)[1].split("**Side by side**", 1)
    assert "| net, batch | hand numpy | engine matrix (numpy) |" in side
    assert "every d.delta(node)" in side.split("**Symbolic targets**", 1)[1]
    assert "general graphs of 10–12 nodes" in side and "form='intermediate'" in side
    targets = targets.strip().splitlines()
    assert targets and all(t.startswith(("- PASS", "- MISS", "- NOT MEASURED")) for t in targets)

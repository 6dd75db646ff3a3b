"""The benchmark script runs and prints its table (timings are not judged here: see make bench)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from texutil import REPO


@pytest.mark.slow  # a long run: make test-slow (CI runs it too)
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
                   "engine: batched evaluator (numpy)", "general form: derive + check",
                   "Every command at each documented limit", "| mlp-depth (100 layers"):
        assert needle in text, needle
    targets, side = text.split("**Targets**", 1)[1].split("**Side by side**", 1)
    assert "| net, batch | hand numpy | engine matrix (numpy) |" in side
    assert "every d.delta(node)" in side.split("**Symbolic targets**", 1)[1]
    assert "general graphs of 10–12 nodes" in side and "form='intermediate'" in side
    targets = targets.strip().splitlines()
    assert targets and all(t.startswith(("- PASS", "- MISS", "- NOT MEASURED")) for t in targets)


def _only_e(path):
    return subprocess.run([sys.executable, str(REPO / "bench" / "bench.py"), "--only", "e",
                           "--quick", "--output", str(path)], capture_output=True, text=True,
                          timeout=600, check=False, cwd=path.parent)


def test_only_e_refuses_a_results_file_without_section_e(tmp_path):
    out = tmp_path / "results.md"
    out.write_text("# nothing measured yet\n", encoding="utf-8")
    run = _only_e(out)
    assert run.returncode == 2 and "run the full bench first" in run.stderr + run.stdout
    assert out.read_text(encoding="utf-8") == "# nothing measured yet\n"  # nothing lost


@pytest.mark.slow
def test_only_e_replaces_section_e_and_its_targets_and_keeps_the_rest(tmp_path):
    out = tmp_path / "results.md"
    kept_head = ["# symbackprop benchmark", "", "**d) Lecture notes**", "", "| d row |", ""]
    kept_tail = ["", "**Side by side** (bench/compare.py)", "", "| side |"]
    out.write_text("\n".join([
        *kept_head, "**e) Beyond the MLP (bench_models.py)**", "", "| stale e row |", "",
        "**Targets**", "", "- PASS: seed 000 notes rendered without pdflatex: 1 s",
        "- MISS: RNN T=3, 2 hidden: derive 9 s (target < 5 s)", *kept_tail]) + "\n",
        encoding="utf-8")
    run = _only_e(out)
    assert run.returncode == 0, run.stderr
    text = out.read_text(encoding="utf-8")
    assert text.startswith("\n".join(kept_head)) and text.endswith("\n".join(kept_tail) + "\n")
    assert "stale e row" not in text and "derive 9 s" not in text
    assert "Section e re-measured" in text and "engine: batched evaluator (numpy)" in text
    targets = text.split("**Targets**", 1)[1].split("**Side by side**", 1)[0].split("\n- ")
    assert "seed 000 notes" in targets[1] and "RNN T=3, 2 hidden: derive" in targets[2]

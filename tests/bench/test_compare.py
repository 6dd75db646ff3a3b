"""bench/compare.py, the MLP evaluator against its peers: it runs and prints its table and its
target lines, and checks every contender's answers before timing (timings are not judged here)."""

from __future__ import annotations

import subprocess
import sys

from texutil import REPO

COMPARE = REPO / "bench" / "compare.py"


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False, cwd=REPO / "bench")


def test_quick_run_prints_every_cell_and_a_target_line_per_net_and_dtype():
    run = subprocess.run([sys.executable, str(COMPARE), "--quick"], capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert out.startswith("### The MLP evaluator against its peers (quick run)")
    assert "| net | dtype | batch | engine min / mom | hand numpy min / mom |" in out
    rows = [line for line in out.splitlines() if line.startswith(("| 64-64-64-1 |",
                                                                   "| 784-256-10 |"))]
    assert {tuple(r.split(" | ")[1:3]) for r in rows} >= {
        ("float64", "16"), ("float32", "16")}
    targets = [line for line in out.splitlines() if line.startswith("- ")]
    assert all(t.startswith(("- PASS: ", "- MISS: ", "- NOT MEASURED: ")) for t in targets)
    for net in ("64-64-64-1", "784-256-10"):
        for dtype in ("float64", "float32"):
            assert sum(t.split(": ", 1)[1].startswith(f"{net} {dtype}: ") for t in targets) == 1
    assert any("gradient / forward-only ≤ 3" in t for t in targets)


def test_the_cells_run_under_the_harness_discipline():
    # threads pinned before numpy is imported, and each contender's loss and every gradient
    # compared with the float64 hand-written backprop before any timing, in the cell's dtype
    run = _python(
        "import compare, harness, numpy\n"
        "assert harness.threads_pinned()\n"
        "calls, forward = compare.prepare('64-64-64-1', 3, 'float32')\n"
        "assert set(calls) >= {'engine', 'hand numpy'}, calls\n"
        "shapes = compare.gemm_shapes([64, 64, 64, 1], 8)\n"
        "assert ((64, 64), (64, 8), False) in shapes and ((64, 1), (1, 8), False) not in shapes\n"
        "print('ok')\n")
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


def test_a_contender_with_a_wrong_gradient_is_refused_before_timing():
    run = _python(
        "import compare\n"
        "original = compare.contenders\n"
        "def broken(sizes, softmax):\n"
        "    methods, engine = original(sizes, softmax)\n"
        "    run, convert = methods['engine']\n"
        "    def wrong(X, Y, W, B):\n"
        "        loss, dW, db = run(X, Y, W, B)\n"
        "        return loss, [g * 1.001 for g in dW], db\n"
        "    methods['engine'] = (wrong, convert)\n"
        "    return methods, engine\n"
        "compare.contenders = broken\n"
        "compare.prepare('64-64-64-1', 4, 'float64')\n")
    assert run.returncode != 0
    assert "engine at 64-64-64-1, 4, float64: dW1 differs from the reference" in run.stderr

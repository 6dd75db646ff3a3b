"""bench/bench_symbolic.py keeps the harness's discipline (timings are not judged here)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from texutil import REPO

sys.path.insert(0, str(REPO / "bench"))

import bench_symbolic  # noqa: E402
import harness  # noqa: E402


def test_own_timed_jobs_run_once_untimed_then_in_rotated_rounds():
    calls: list[str] = []

    def job(name):
        def run():
            calls.append(name)
            return 1.0
        return run

    jobs = [(n, job(n), 1.0) for n in "abc"]
    timings = bench_symbolic.interleaved_own(jobs, rounds=3)
    assert calls == list("abc") + list("abc") + list("bca") + list("cab")
    assert all(t.samples == [1.0, 1.0, 1.0] for t in timings.values())


def test_the_scalar_evaluator_agrees_with_the_hand_written_gradients_by_name():
    import numpy as np
    from handwritten import backprop

    import symbackprop as sb

    net = sb.mlp([3, 4, 1], activation="sigmoid", loss="mse", bias=True)
    X, Y, W, B = bench_symbolic.problem([3, 4, 1], 16)
    want = bench_symbolic.hand_by_name(net, backprop(X, Y, W, B))
    got = sb.derive(net).evaluator.evaluate(bench_symbolic.named_values(net, X, Y, W, B),
                                            batch_mean=True).gradients
    harness.same_answers(want, got, rtol=1e-9, atol=1e-13)
    got["w1"] += 1e-3  # a wrong answer is refused before any timing
    with pytest.raises(AssertionError):
        harness.same_answers(want, got, rtol=1e-9, atol=1e-13)
    assert np.isfinite(list(want.values())).all()


@pytest.mark.slow  # a run of the script itself (about 30 s on a loaded machine)
def test_quick_run_prints_its_tables_and_target_lines():
    run = subprocess.run([sys.executable, str(REPO / "bench" / "bench_symbolic.py"), "--quick"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    targets = [ln for ln in lines if ln.startswith("- ")]
    assert len(targets) == 8
    assert all(t.startswith(("- PASS: ", "- MISS: ")) for t in targets)
    assert "graph build + derive + every δ form" in run.stdout
    assert "scalar evaluator / hand-written numpy" in run.stdout
    assert "| CPU min | CPU median |" in run.stdout

"""bench/harness.py, the one timing discipline of `make bench`: what it enforces, not how fast
anything is (no test here reads a clock it does not control)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from texutil import REPO

sys.path.insert(0, str(REPO / "bench"))

import harness  # noqa: E402


def _pinned_child(code: str, env: dict[str, str] | None = None) -> dict:
    """Run ``code`` after ``harness.pin_threads()`` in a new python; its last line is JSON."""
    script = textwrap.dedent(f"""
        import json, os, sys
        sys.path.insert(0, {str(REPO / 'bench')!r})
        import harness
        harness.pin_threads()
    """) + textwrap.dedent(code)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, check=False, env=env)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def _unpinned_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in (*harness.THREAD_VARIABLES, "XLA_FLAGS")}


def test_pin_threads_sets_every_variable_before_numpy_reads_them():
    got = _pinned_child("""
        import numpy
        print(json.dumps({"env": {v: os.environ.get(v) for v in harness.THREAD_VARIABLES},
                          "xla": os.environ.get("XLA_FLAGS"), "pinned": harness.threads_pinned()}))
    """, env=_unpinned_env())
    assert got["env"] == dict.fromkeys(harness.THREAD_VARIABLES, "1")
    assert got["xla"] == harness.XLA_ONE_THREAD and got["pinned"] is True


@pytest.mark.slow  # imports torch and jax in a new process: a few seconds
def test_torch_and_jax_imported_after_pinning_run_one_thread():
    got = _pinned_child("""
        import torch, jax.numpy
        jax.numpy.ones(3).block_until_ready()
        print(json.dumps({"torch": torch.get_num_threads(), "pinned": harness.threads_pinned(),
                          "report": harness.blas_report()}))
    """, env=_unpinned_env())
    assert got["torch"] == 1 and got["pinned"] is True
    assert all(f"{lib} " in got["report"] for lib in ("numpy", "torch", "jax"))


@pytest.mark.slow
def test_threads_pinned_is_false_for_torch_on_two_threads():
    got = _pinned_child("""
        import torch
        torch.set_num_threads(2)
        print(json.dumps(harness.threads_pinned()))
    """)
    assert got is False


@pytest.mark.parametrize("variable", harness.THREAD_VARIABLES)
def test_threads_pinned_is_false_when_a_variable_is_not_set(monkeypatch, variable):
    for name in harness.THREAD_VARIABLES:
        monkeypatch.setenv(name, "1")
    monkeypatch.delenv(variable)
    assert harness.threads_pinned() is False
    monkeypatch.setenv(variable, "4")
    assert harness.threads_pinned() is False


class Recorder:
    """Fake contenders and a fake clock writing one log: which contender ran, and each tick."""

    def __init__(self, names):
        self.log: list[str] = []
        self.ticks = 0
        self.contenders = {name: (lambda name=name: self.log.append(name)) for name in names}

    def clock(self) -> float:
        self.log.append("|")
        self.ticks += 1
        return float(self.ticks)


def _samples(log: list[str]) -> list[list[str]]:
    """The calls between each pair of ticks: one sample each."""
    timed = "".join(f"{x} " if x != "|" else "|" for x in log[log.index("|"):])
    return [part.split() for part in timed.split("|")[1::2]]


def test_interleaved_warms_each_contender_then_rotates_the_start_every_round(monkeypatch):
    names = ["a", "b", "c"]
    calls = {"a": 3, "b": 1, "c": 2}
    monkeypatch.setattr(harness, "calls_per_sample", lambda fn, min_time: calls[fn.__name__])
    rec = Recorder(names)
    for name, fn in rec.contenders.items():
        fn.__name__ = name
    timings = harness.interleaved(rec.contenders, rounds=4, clock=rec.clock)
    assert rec.log[:3] == names  # each called once, in order, before any timing
    samples = _samples(rec.log)
    assert len(samples) == 4 * len(names)
    order = [sample[0] for sample in samples]
    assert order == [*"abc", *"bca", *"cab", *"abc"]  # the start moves by one each round
    for sample in samples:  # each sample: one contender, the same number of calls every round
        assert set(sample) == {sample[0]} and len(sample) == calls[sample[0]]
    # the fake clock moves by one per reading: each sample is 1 / calls
    assert {name: t.samples for name, t in timings.items()} == {
        name: [1 / calls[name]] * 4 for name in names}
    assert timings["a"].min == timings["a"].median == 1 / 3


def test_calls_per_sample_grows_1_2_5_until_a_sample_lasts_min_time():
    work = {"calls": 0}

    def contender():
        work["calls"] += 1

    def clock():  # 10 ms of CPU per call, as a fake
        return work["calls"] * 0.01

    assert harness.calls_per_sample(contender, min_time=0.05, clock=clock) == 5
    assert harness.calls_per_sample(contender, min_time=0.15, clock=clock) == 20
    assert [harness.rotated("abc", k) for k in range(4)] == [
        list("abc"), list("bca"), list("cab"), list("abc")]


def test_timing_reports_min_and_median():
    t = harness.Timing([3.0, 1.0, 2.0, 10.0, 4.0])
    assert (t.min, t.median) == (1.0, 3.0)


def test_same_answers_accepts_equal_gradients_and_refuses_a_wrong_or_missing_one():
    reference = {"loss": 0.5, "W1": np.arange(6.0).reshape(2, 3), "b1": np.ones(2)}
    harness.same_answers(reference, {k: np.array(v) for k, v in reference.items()}, who="copy")
    harness.same_answers(reference, {**reference, "extra": 1.0})  # more is fine, less is not
    wrong = {**reference, "W1": reference["W1"] + 1e-6}
    with pytest.raises(AssertionError, match="torch: W1 differs"):
        harness.same_answers(reference, wrong, who="torch")
    with pytest.raises(AssertionError, match="jax: no b1"):
        harness.same_answers(reference, {"loss": 0.5, "W1": reference["W1"]}, who="jax")
    with pytest.raises(AssertionError, match="W1 differs"):  # a transposed gradient is wrong too
        harness.same_answers(reference, {**reference, "W1": reference["W1"].T.copy()})


@pytest.mark.parametrize("power", [0.5, 1.0, 2.0, 2.5])
def test_fitted_exponent_recovers_exact_power_laws(power):
    sizes = [3, 10, 33, 100, 1000]
    assert harness.fitted_exponent(sizes, [7e-3 * s**power for s in sizes]) == pytest.approx(power)


def test_target_lines_say_pass_miss_or_not_measured():
    assert harness.target_line(True, "x: 1 s (target < 2 s)") == "- PASS: x: 1 s (target < 2 s)"
    assert harness.target_line(False, "x") == "- MISS: x"
    assert harness.target_line(None, "x") == "- NOT MEASURED: x"
    assert [harness.verdict(v) for v in (True, False, None)] == ["PASS", "MISS", "NOT MEASURED"]
    assert harness.target_line(harness.LIMIT, "x") == "- LIMIT: x"


def test_a_miss_is_a_limit_only_where_the_peer_librarys_products_would_close_it():
    # engine 12 ms, fastest peer 10 ms (1.2x): the engine spends 6 ms in numpy's products; the
    # same products take 4.5 ms in the peer's library, so swapped in it would be 10.5 ms, within
    # 11 ms: a LIMIT. At 5.5 ms there it would be 11.5 ms: the rest of the miss is the engine's
    assert harness.against_limit(12.0, 10.0, 6.0, 4.5, 1.1) == harness.LIMIT
    assert harness.against_limit(12.0, 10.0, 6.0, 5.5, 1.1) is False
    assert harness.against_limit(12.0, 10.0, 6.0, 5.0, 1.1) == harness.LIMIT  # exactly 1.1x
    assert harness.against_limit(12.0, 10.0, 6.0, 5.01, 1.1) is False
    # products that take longer in the peer's library never make a LIMIT, however slow numpy is
    assert harness.against_limit(12.0, 10.0, 11.0, 11.5, 1.1) is False
    # within the target it is a PASS whatever the products
    assert harness.against_limit(10.9, 10.0, 9.0, 0.1, 1.1) is True
    assert harness.against_limit(11.0, 10.0, 0.0, 50.0, 1.1) is True


def test_against_limit_counts_a_miss_that_passes_on_its_blas_right_kernel_as_a_limit():
    # the swap says MISS (12 − 6 + 5.5 = 11.5 > 11); the same cell with numpy's OpenBLAS on the
    # kernel made for this CPU is 1.04x: the kernel is the whole miss
    assert harness.against_limit(12.0, 10.0, 6.0, 5.5, 1.1, tuned=1.04) == harness.LIMIT
    assert harness.against_limit(12.0, 10.0, 6.0, 5.5, 1.1, tuned=1.1) == harness.LIMIT
    # still over the target on the right kernel: the engine's own code, a MISS
    assert harness.against_limit(12.0, 10.0, 6.0, 5.5, 1.1, tuned=1.11) is False
    # a tuned ratio never turns a PASS into anything else
    assert harness.against_limit(10.5, 10.0, 6.0, 5.5, 1.1, tuned=1.5) is True


def test_several_cells_take_the_worst_verdict():
    limit = harness.LIMIT
    assert harness.worst_verdict([True, True]) is True
    assert harness.worst_verdict([True, limit, True]) == limit
    assert harness.worst_verdict([limit, False, True]) is False  # a LIMIT never hides a MISS
    assert harness.worst_verdict([limit, None]) is None
    assert harness.worst_verdict([None, False]) is False


def test_children_cpu_counts_a_finished_child_whatever_the_wall_time():
    before = harness.children_cpu()
    subprocess.run([sys.executable, "-c", "import time\nt = time.process_time()\n"
                    "while time.process_time() - t < 0.3: pass"], check=True)
    assert harness.children_cpu() - before >= 0.25


def test_blas_report_names_numpy_and_its_blas():
    assert harness.blas_report().startswith(f"numpy {np.__version__}: ")

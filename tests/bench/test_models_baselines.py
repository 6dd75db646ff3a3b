"""The hand-written baselines of bench/bench_models.py compute the engine's gradients, and the
section script checks answers before it times and prints its targets (timings are not judged)."""

from __future__ import annotations

import dataclasses
import functools
import subprocess
import sys

import numpy as np
import pytest
from texutil import REPO

sys.path.insert(0, str(REPO / "bench"))

import bench_models as bm  # noqa: E402
import handwritten_models as hm  # noqa: E402

SMALL = {
    "rnn": (3, {"steps": 3, "inputs": 2, "hidden": 3}),
    "conv": (3, {"length": 6, "kernel": 3, "c_in": 2, "c_out": 3}),
    "attention": (3, {"keys": 3, "d": 2, "d_in": 3}),
    "network": (3, {"n_0": 2, "n_1": 3}),
    "network of one sample": (1, {"n_0": 2, "n_1": 3}),  # torch's batch norm refuses m = 1
}


@functools.cache
def _form(model: str):
    # a form holds symbolic sizes: the two network cases share one derivation
    return hm.MODEL_CASES[model](1, **SMALL[model][1]).form()


@pytest.mark.parametrize("key", sorted(SMALL))
def test_hand_written_gradients_equal_the_engines_in_float64(key):
    batch, sizes = SMALL[key]
    model = key.split()[0]
    case = dataclasses.replace(hm.MODEL_CASES[model](batch, **sizes), form=lambda: _form(model))
    errors = hm.check_gradients(case)  # raises past 1e-10
    by_hand = {"numpy"} if model in ("rnn", "network") else set()
    assert set(errors) == {"jax", "torch"} | by_hand
    assert max(errors.values()) < 1e-10


def test_a_hand_written_model_that_differs_is_refused():
    case = hm.rnn_case(2, steps=3, hidden=2)
    wrong = dataclasses.replace(case, jax_loss=lambda p, d: 1.001 * case.jax_loss(p, d))
    with pytest.raises(AssertionError, match="hand-written jax"):
        hm.check_gradients(wrong)


def test_answers_are_checked_in_the_dtype_asked_for():
    reference = {"loss": np.array(2.0), "W": np.array([1.0, -3.0])}
    bm.check_answers(reference, {k: v.astype(np.float32) for k, v in reference.items()},
                     "float32", "float32 peer")
    with pytest.raises(AssertionError, match="float64"):  # float64 is not a float32 answer
        bm.check_answers(reference, reference, "float32", "engine")
    off = {"loss": np.array(2.0), "W": np.array([1.0, -3.0 + 1e-8])}
    with pytest.raises(AssertionError, match="W differs"):
        bm.check_answers(reference, off, "float64", "engine")
    with pytest.raises(AssertionError, match="no W"):
        bm.check_answers(reference, {"loss": np.array(2.0)}, "float64", "engine")


def test_a_contender_with_wrong_gradients_is_never_timed():
    import jax

    with jax.enable_x64(True):  # as bench_models.main turns it on for the whole run
        _contenders_checked_before_timing()


class _Upcasting:
    """An evaluator that computes float32 arrays in float64, as the engine's numpy backend did
    before issue 23."""

    def __init__(self, evaluator):
        self.evaluator = evaluator

    def __call__(self, inputs, parameters):
        return self.evaluator(*({k: np.asarray(v, dtype=np.float64) for k, v in d.items()}
                                for d in (inputs, parameters)))


def _contenders_checked_before_timing():
    case = hm.attention_case(2, keys=2, d=2, d_in=2)
    form = case.form()
    evaluators = {b: form.evaluator(case.sizes, b) for b in bm.ENGINES}
    loss, grads = hm.engine_value_and_grad(case, evaluator=evaluators["numpy"])(
        case.parameters, case.inputs)
    reference = bm.answers(loss, grads)
    cell = bm.Cell(2, "float64")
    assert list(bm.contenders_of(case, evaluators, "float64", reference, cell)) == \
        [c for c in bm.CONTENDERS if c != "hand numpy"]  # no numpy attention written by hand
    reference["Q"] = reference["Q"] + 1e-6  # every contender now disagrees with it
    with pytest.raises(AssertionError, match="Q differs"):
        bm.contenders_of(case, evaluators, "float64", reference, bm.Cell(2, "float64"))
    # every engine backend computes float32 in float32 ...
    cell = bm.Cell(2, "float32")
    contenders = bm.contenders_of(case, evaluators, "float32", bm.answers(loss, grads), cell)
    assert {"engine numpy", "engine jax", "engine torch"} <= set(contenders) and not cell.skipped
    # ... and one that returned float64 would be skipped with its reason, not timed
    evaluators["numpy"] = _Upcasting(evaluators["numpy"])
    cell = bm.Cell(2, "float32")
    contenders = bm.contenders_of(case, evaluators, "float32", bm.answers(loss, grads), cell)
    assert "engine numpy" not in contenders
    assert cell.skipped["engine numpy"] == "returns float64 for loss, not float32"
    assert {"hand jax.jit", "torch eager"} <= set(contenders)


def _run(cells):
    return bm.ModelRun("model", 0.1, cells=cells)


def _cell(batch, dtype, **medians):
    cell = bm.Cell(batch, dtype)
    for name, seconds in {"hand jax.jit": 1.0, **medians}.items():
        cell.timings[name] = bm.harness.Timing([seconds, seconds * 1.5, seconds * 0.9])
    return cell


def test_targets_read_the_median_ratio_and_say_what_was_not_timed():
    cells = [_cell(1, "float64", **{"engine jax": 1.1, "engine numpy": 5.0}),
             _cell(64, "float64", **{"engine jax": 1.15, "engine numpy": 2.5}),
             _cell(1, "float32"), _cell(64, "float32")]
    for cell in cells[2:]:
        cell.skipped = {"engine jax": "returns float64", "engine numpy": "returns float64"}
    lines = bm.targets(_run(cells))
    assert lines[0].startswith("- PASS: model, float64: engine jax") and "1.15× at batch 64" \
        in lines[0]
    assert lines[1].startswith("- MISS: model, float64: engine numpy") and "batch 1" not in \
        lines[1]  # numpy is judged from batch 64
    assert all(line.startswith("- NOT MEASURED") and "returns float64" in line
               for line in lines[2:])


def test_a_plain_scripts_numpy_call_slower_than_this_processs_is_a_miss():
    run = _run([_cell(64, "float64", **{"engine jax": 1.0, "engine numpy": 1.5})])
    run.fresh = _cell(64, "float64", **{"engine numpy": 1.5 * 1.3})
    assert run.fresh_ratio() == pytest.approx(1.3)
    assert bm.targets(run)[-1].startswith("- MISS: model, float64, batch 64: engine numpy in a "
                                          "plain script / in this process (median) = 1.30×")
    run.fresh = _cell(64, "float64", **{"engine numpy": 1.5 * 1.2})
    assert bm.targets(run)[-1].startswith("- PASS: ")


@pytest.mark.slow  # about 30 s of CPU: make test-slow (CI runs it too)
def test_quick_run_prints_every_models_table_and_targets():
    run = subprocess.run([sys.executable, str(REPO / "bench" / "bench_models.py"), "--quick"],
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert out.startswith("### Models against hand-written jax.jit")
    for name in ("RNN", "conv1d", "attention", "network"):
        assert f"**{name}" in out
    assert out.count("| batch | dtype | statistic | " + " | ".join(bm.CONTENDERS)) == 4
    targets = [line for line in out.splitlines() if line.startswith("- ")]
    # per model and dtype: engine jax and engine numpy; per model: the plain script's numpy
    assert len(targets) == 4 * 2 * 2 + 4
    assert out.count("engine numpy in a plain script (a fresh process") == 4
    assert all(t.startswith(("- PASS: ", "- MISS: ", "- NOT MEASURED: ")) for t in targets)


def test_the_floor_times_every_generated_line_and_leaves_the_evaluator_as_it_was():
    case = hm.rnn_case(2, steps=3, hidden=2)
    ev = case.form().evaluator(case.sizes, "numpy")
    source = ev.source
    by_line = bm.line_times(ev, case, evaluations=3)
    lines = ev.source.splitlines()
    assert [line for line, _ in by_line] == lines[1:lines.index("    return A")]
    assert all(seconds >= 0 for _, seconds in by_line) and sum(s for _, s in by_line) > 0
    assert ev.source == source
    summary = bm.summarise_lines(by_line, 3)
    assert "the 9 step-by-step lines of the recursion" in summary  # a, h and δ_h at 3 steps
    profile = bm.profile_numpy(ev, case, min_time=0.001)
    assert "cProfile (CPU time)" in profile and "| `" in profile

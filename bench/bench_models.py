"""The models' evaluators against the same models written by hand in jax.jit (issue 23, item 1).

    python bench/bench_models.py            # the section of `make bench` (a few minutes)
    python bench/bench_models.py --quick    # tiny sizes, batch 64, 2 rounds: a smoke test

For the RNN (T = 16, 8 hidden units), the channel convolution (length 64, 4 → 8 channels,
kernel 5), attention with projections (16 keys, d = 8) and the block network (dense, batch
norm, residual dense + layer norm, dense; 16 wide), at batch 1, 64 and 1024, in float64 and
float32, these contenders compute the batch-mean loss and every parameter's gradient:

- engine numpy / jax / torch: ``form.evaluator(sizes, backend)``, the BatchedEvaluator
  generated from the model's general form (its jax backend one jitted function);
- hand jax.jit: ``jax.jit(jax.value_and_grad(loss))`` of bench/handwritten_models.py
  (``lax.scan`` for the recurrence), the baseline every ratio is taken to;
- hand numpy (the RNN and the block network): forward pass and backprop written by hand in
  numpy, what numpy itself reaches on them (the RNN: a recurrence of small products);
- torch eager: autograd through torch's own modules (``nn.RNN``, ``conv1d``, …).

Every contender's answers equal the engine's float64 numpy answers (1e-10 of each array's
largest entry in float64; in float32, 2e-4 of the largest gradient entry) before anything is
timed. Then ``harness.interleaved``: CPU time, threads pinned, 7 rounds, start rotated; each
cell gives the median and the minimum over the rounds and its ratio to hand jax.jit by the same
statistic. The jax contenders take jax arrays, torch's tensors, numpy's numpy arrays (no
conversion inside the timed call but the engine's own). An engine backend that cannot compute
in float32 (it raises, or returns float64) is not timed there: its cells say why, and its
target reads NOT MEASURED.

Targets: engine jax ≤ 1.2× hand jax.jit (median) at every batch and dtype; engine numpy ≤ 2× at
batch ≥ 64, and where it misses, the floor: hand numpy's ratio where one is written, and under
the table a cProfile (CPU time) of the generated function, its top entries by own time, and
each of its lines timed on its own.

This process's heap is not a user's: torch and jax have run in it, and glibc keeps freed arrays
for reuse once a large one has been freed. So engine numpy is timed once more at the largest
batch in float64 in a plain script (FRESH_SCRIPT: a fresh process importing numpy and
symbackprop only, each result dropped), and its median may be at most 1.25× this process's.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import harness  # noqa: E402

harness.pin_threads()  # before numpy, torch and jax read their thread counts

import handwritten_models as hm  # noqa: E402
import numpy as np  # noqa: E402

from symbackprop.codegen.heap import user_tunes_malloc  # noqa: E402

ENGINES = ("numpy", "jax", "torch")
CONTENDERS = ("engine numpy", "engine jax", "engine torch", "hand jax.jit", "hand numpy",
              "torch eager")
BASELINE = "hand jax.jit"
DTYPES = ("float64", "float32")
TOLERANCE = {"float64": 1e-10, "float32": 2e-4}  # relative: see check_answers
JAX_TARGET, NUMPY_TARGET, NUMPY_FROM_BATCH = 1.2, 2.0, 64
#: a plain script's numpy call (a fresh process, numpy and symbackprop only) against the same
#: call here, where torch and jax have run: at most this ratio, so this process cannot flatter
FRESH_TARGET = 1.25

# A user's plain script: nothing imported but numpy and symbackprop, nothing run before, each
# result dropped at once; the engine's numpy call timed as this process times it (float64).
FRESH_SCRIPT = """
import json, sys
sys.path.insert(0, {bench!r})
import harness
harness.pin_threads()
import handwritten_models as hm
case = hm.MODEL_CASES[{key!r}]({batch}, **{sizes!r})
ev = case.form().evaluator(case.sizes, "numpy")
timing = harness.interleaved({{"engine numpy": lambda: ev(case.inputs, case.parameters)}},
                             {rounds}, {min_time})["engine numpy"]
print(json.dumps(timing.samples))
"""

# (key, the full run's sizes, --quick's sizes): the factories of bench/handwritten_models.py
MODELS = (
    ("rnn", {"steps": 16, "inputs": 2, "hidden": 8}, {"steps": 3, "inputs": 2, "hidden": 3}),
    ("conv", {"length": 64, "kernel": 5, "c_in": 4, "c_out": 8},
     {"length": 8, "kernel": 3, "c_in": 2, "c_out": 2}),
    ("attention", {"keys": 16, "d": 8, "d_in": 8}, {"keys": 3, "d": 2, "d_in": 2}),
    ("network", {"n_0": 4, "n_1": 16}, {"n_0": 2, "n_1": 3}),
)


@dataclass
class Cell:
    """One model at one batch and dtype: each contender's Timing, or why it was not timed."""

    batch: int
    dtype: str
    timings: dict[str, harness.Timing] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def ratio(self, contender: str, statistic: str) -> float | None:
        if contender not in self.timings or BASELINE not in self.timings:
            return None
        return (getattr(self.timings[contender], statistic)
                / getattr(self.timings[BASELINE], statistic))


@dataclass
class ModelRun:
    name: str
    derive_check: float  # CPU seconds, once: the general form derived and checked
    note: str = ""
    built: dict[str, float] = field(default_factory=dict)  # backend -> CPU s to build, largest
    cells: list[Cell] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    fresh: Cell | None = None  # engine numpy in a plain script, at the largest batch, float64

    def fresh_ratio(self) -> float | None:
        """The plain script's median over this process's, engine numpy, same batch, float64."""
        here = next((c for c in self.cells if self.fresh is not None and
                     c.batch == self.fresh.batch and c.dtype == "float64"), None)
        if here is None or "engine numpy" not in here.timings:
            return None
        return self.fresh.timings["engine numpy"].median / here.timings["engine numpy"].median


# -- the libraries' arrays and answers ------------------------------------------------------------
def to_library(arrays: dict, library: str, dtype: str, requires_grad: bool = False) -> dict:
    """``arrays`` (numpy) as ``library``'s arrays of ``dtype``, made once, outside any timing."""
    cast = {k: np.asarray(v, dtype=dtype) for k, v in arrays.items()}
    if library == "jax":
        import jax.numpy as jnp

        return {k: jnp.asarray(v) for k, v in cast.items()}
    if library == "torch":
        import torch

        return {k: torch.tensor(v, requires_grad=requires_grad) for k, v in cast.items()}
    return cast


def as_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def answers(loss, gradients: dict) -> dict[str, np.ndarray]:
    return {"loss": as_numpy(loss), **{k: as_numpy(g) for k, g in gradients.items()}}


def check_answers(reference: dict, got: dict, dtype: str, who: str) -> None:
    """AssertionError unless every array of ``got`` is ``dtype`` and equals the float64
    reference: in float64 within 1e-10 of each array's largest entry; in float32 within 2e-4
    of the largest gradient entry of all (the loss: of itself), since a gradient that comes
    out of a cancellation (a bias before a batch norm of 1024 samples) keeps only the absolute
    accuracy of the terms that cancelled."""
    wrong = [k for k, v in got.items() if v.dtype != np.dtype(dtype)]
    if wrong:
        raise AssertionError(f"{who}: returns {got[wrong[0]].dtype} for {wrong[0]}, "
                             f"not {dtype}")
    tol = TOLERANCE[dtype]
    largest = max((float(np.max(np.abs(v))) for k, v in reference.items() if k != "loss"),
                  default=0.0)
    for name, want in reference.items():
        scale = float(np.max(np.abs(want))) if dtype == "float64" or name == "loss" else largest
        harness.same_answers({name: want}, got, rtol=tol, atol=tol * max(scale, 1e-300),
                             who=who)


# -- one cell ------------------------------------------------------------------------------------------
def contenders_of(case: hm.ModelCase, evaluators: dict, dtype: str, reference: dict, cell: Cell
                  ) -> dict[str, Callable[[], object]]:
    """Every contender that computes ``case`` in ``dtype`` with the reference's answers, as a
    call of no arguments; the others go to ``cell.skipped`` with the reason."""
    import jax

    runs: dict[str, tuple[Callable[[], object], Callable[[], dict]]] = {}
    for backend in ENGINES:
        ev = evaluators[backend]
        inputs = to_library(case.inputs, backend, dtype)
        params = to_library(case.parameters, backend, dtype)
        if backend == "jax":
            def call(ev=ev, i=inputs, p=params):
                out = ev(i, p)
                return jax.block_until_ready((out.loss, out.gradients))
        else:
            def call(ev=ev, i=inputs, p=params):
                return ev(i, p)
        runs[f"engine {backend}"] = (call, _engine_answers(ev, inputs, params, case))

    jax_params = to_library(case.parameters, "jax", dtype)
    jax_inputs = to_library(case.inputs, "jax", dtype)
    hand = hm.jax_value_and_grad(case)
    runs["hand jax.jit"] = (lambda: jax.block_until_ready(hand(jax_params, jax_inputs)),
                            lambda: answers(*hand(jax_params, jax_inputs)))
    if case.numpy_value_and_grad is not None:  # what numpy itself reaches, where written
        np_params = to_library(case.parameters, "numpy", dtype)
        np_inputs = to_library(case.inputs, "numpy", dtype)
        by_hand = case.numpy_value_and_grad
        runs["hand numpy"] = (lambda: by_hand(np_params, np_inputs),
                              lambda: answers(*by_hand(np_params, np_inputs)))
    torch_params = to_library(case.parameters, "torch", dtype, requires_grad=True)
    torch_inputs = to_library(case.inputs, "torch", dtype)
    eager = hm.torch_value_and_grad(case)
    runs["torch eager"] = (lambda: eager(torch_params, torch_inputs),
                           lambda: answers(*eager(torch_params, torch_inputs)))

    contenders = {}
    for name in CONTENDERS:
        if name not in runs:  # no such hand-written code for this model: "—" in the table
            continue
        call, get = runs[name]
        try:
            check_answers(reference, get(), dtype, name)
        except Exception as err:  # noqa: BLE001 - a contender that cannot run is reported, not timed
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            reason = reason.removeprefix(f"{name}: ")
            if not name.startswith("engine") or dtype == "float64":
                raise  # the baselines, and every float64 answer, must agree: never skip those
            cell.skipped[name] = reason[:120]
            continue
        contenders[name] = call
    return contenders


def _engine_answers(ev, inputs, params, case) -> Callable[[], dict]:
    def get():
        out = ev(inputs, params)
        return answers(out.loss.mean(), {n: out.gradients[n] for n in case.parameters})
    return get


def run_model(key: str, sizes: dict, batches: tuple[int, ...], rounds: int, min_time: float,
              log: Callable[[str], None]) -> ModelRun:
    make = hm.MODEL_CASES[key]
    first = make(batches[0], **sizes)
    derive_check, form = harness.once(lambda: _verified(first.form()))
    run = ModelRun(first.name, derive_check, f". {first.note}" if first.note else "")
    evaluators: dict[tuple, dict] = {}
    for batch in batches:
        case = make(batch, **sizes)
        size_key = tuple(sorted(case.sizes.items()))
        if size_key not in evaluators:  # the block network's batch is its size m
            evaluators[size_key] = {}
            for backend in ENGINES:
                took, ev = harness.once(lambda b=backend, s=case.sizes: form.evaluator(s, b))
                evaluators[size_key][backend] = ev
                run.built[backend] = took
        engines = evaluators[size_key]
        ref_loss, ref_grads = hm.engine_value_and_grad(case, evaluator=engines["numpy"])(
            case.parameters, case.inputs)
        reference = answers(ref_loss, ref_grads)
        for dtype in DTYPES:
            log(f"{run.name}: batch {batch}, {dtype}")
            cell = Cell(batch, dtype)
            contenders = contenders_of(case, engines, dtype, reference, cell)
            cell.timings = harness.interleaved(contenders, rounds, min_time)
            run.cells.append(cell)
        if any(_numpy_misses(c) for c in run.cells if c.batch == batch and c.dtype == "float64"):
            run.profiles.append(profile_numpy(engines["numpy"], case, min_time))
    log(f"{run.name}: batch {batches[-1]}, float64, engine numpy in a plain script")
    run.fresh = plain_script(key, sizes, batches[-1], rounds, min_time)
    return run


def plain_script(key: str, sizes: dict, batch: int, rounds: int, min_time: float) -> Cell:
    """Engine numpy on model ``key`` timed in a fresh process that imports numpy and
    symbackprop only (FRESH_SCRIPT): the heap a user's script starts with, not this one's."""
    code = FRESH_SCRIPT.format(bench=str(Path(__file__).resolve().parent), key=key, batch=batch,
                               sizes=sizes, rounds=rounds, min_time=min_time)
    env = {k: v for k, v in os.environ.items() if not user_tunes_malloc({k: v})}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env).stdout
    cell = Cell(batch, "float64")
    cell.timings["engine numpy"] = harness.Timing(json.loads(out.splitlines()[-1]))
    return cell


def _verified(form):
    form.verify()
    return form


def _numpy_misses(cell: Cell) -> bool:
    ratio = cell.ratio("engine numpy", "median")
    return cell.batch >= NUMPY_FROM_BATCH and ratio is not None and ratio > NUMPY_TARGET


# -- the floor: where the generated numpy function spends its time ---------------------------------
def profile_numpy(ev, case: hm.ModelCase, min_time: float, top: int = 6) -> str:
    """Where the engine's numpy evaluator spends its time on ``case`` (float64), as Markdown:
    cProfile's top entries by own time, then each line of the generated function timed."""
    calls = max(3, harness.calls_per_sample(lambda: ev(case.inputs, case.parameters),
                                            min_time * 4))
    profiler = cProfile.Profile(time.process_time)  # CPU time: wall time counts other processes
    profiler.enable()
    for _ in range(calls):
        ev(case.inputs, case.parameters)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # (file, line, function) -> (cc, nc, tt, ct, callers)
    total = sum(tt for _, _, tt, _, _ in stats.values())
    rows = sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]
    generated = sum(v[2] for k, v in stats.items() if k[0].startswith("<batched"))
    lines = [f"*engine numpy, {case.name}, batch {case.batch}, float64: cProfile (CPU time) of "
             f"{calls} evaluations, {total / calls * 1e6:.0f} µs each under the profiler. The "
             "generated "
             f"function's own time ({generated / total:.0%}) holds its arithmetic operators and "
             "ufunc calls (matmul, +, ·: cProfile does not see them) and the Python between "
             "them*", "",
             "| entry (top by own time) | calls per evaluation | own time per evaluation | share |",
             "|---|---|---|---|"]
    for (filename, line, function), (_, ncalls, tt, _, _) in rows:
        where = function if filename == "~" else f"{Path(filename).name}:{line} {function}"
        lines.append(f"| `{where}` | {ncalls / calls:.0f} | {tt / calls * 1e6:.1f} µs "
                     f"| {tt / total:.0%} |")
    by_line = line_times(ev, case, calls)
    if by_line:
        lines += ["", summarise_lines(by_line, calls)]
    return "\n".join(lines)


def line_times(ev, case: hm.ModelCase, evaluations: int) -> list[tuple[str, float]] | None:
    """(line, CPU seconds summed over ``evaluations``) for each line of the evaluator's
    generated function, each line timed on its own in an instrumented copy run in the
    evaluator's own (public) float64 namespace on the case's arrays; None where the function is
    not a flat list of statements. The evaluator itself is left untouched."""
    lines = ev.source.splitlines()  # "def evaluate(A):" … "return A" first, then the lazy parts
    body = lines[1:lines.index("    return A")]
    if any(not ln.startswith("    ") or ln.startswith("     ") or ln.rstrip().endswith(":")
           for ln in body):
        return None
    timed = ["def evaluate(A):"]
    for n, line in enumerate(body):
        timed += ["    _start = _clock()", line, f"    _spent[{n}] += _clock() - _start"]
    timed.append("    return A")
    spent = [0.0] * len(body)
    namespace = {**ev.namespace, "_clock": time.process_time, "_spent": spent}
    exec(compile("\n".join(timed), "<timed lines>", "exec"), namespace)  # the engine's lines
    arrays = {name: np.asarray(value, dtype=np.float64)
              for name, value in {**case.inputs, **case.parameters}.items()}
    batch = next(len(a) for name, a in arrays.items() if name in case.inputs)
    for _ in range(evaluations):
        namespace["evaluate"]({**arrays, "_batch": batch})
    return list(zip(body, spent, strict=True))


def summarise_lines(by_line: list[tuple[str, float]], evaluations: int, top: int = 4) -> str:
    """One sentence: the step-by-step lines (an entry of a recursion written one index at a
    time: ``A['h'][:, 3:4, :] = …``) against the rest, and the costliest other lines."""
    total = sum(t for _, t in by_line) or 1e-12  # a clock too coarse for tiny lines
    steps = [(ln, t) for ln, t in by_line if "][" in ln.split(" = ", 1)[0]]
    others = sorted(((ln, t) for ln, t in by_line if "][" not in ln.split(" = ", 1)[0]),
                    key=lambda lt: -lt[1])[:top]
    per = 1e6 / evaluations
    costly = ", ".join(f"`{ln.strip().split(' = ', 1)[0]}` {t * per:.0f} µs" for ln, t in others)
    step_text = (f"the {len(steps)} step-by-step lines of the recursion take "
                 f"{sum(t for _, t in steps) * per:.0f} µs ({sum(t for _, t in steps) / total:.0%}),"
                 " ") if steps else ""
    return (f"Each of the generated function's {len(by_line)} lines timed on its own (CPU time, "
            f"{evaluations} evaluations): {total * per:.0f} µs per evaluation; {step_text}the "
            f"costliest other lines: {costly}.")


# -- printing -------------------------------------------------------------------------------------------
def human(seconds: float) -> str:
    """Three significant digits in the unit that keeps them under 1000: 999.7 µs is 1 ms."""
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if seconds >= scale * 0.9995:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def table(run: ModelRun) -> str:
    built = ", ".join(f"{b} {human(t)}" for b, t in run.built.items())
    lines = [f"**{run.name}** (general form derived and checked once: {human(run.derive_check)} "
             f"CPU; evaluators built, largest size: {built}){run.note}", "",
             "| batch | dtype | statistic | " + " | ".join(CONTENDERS) + " |",
             "|---|---|---|" + "---|" * len(CONTENDERS)]
    for cell in run.cells:
        for statistic in ("median", "min"):
            row = []
            for name in CONTENDERS:
                if name in cell.timings:
                    ratio = cell.ratio(name, statistic)
                    row.append(f"{human(getattr(cell.timings[name], statistic))} "
                               f"({ratio:.2f}×)")
                elif name in cell.skipped:
                    row.append("not timed" if statistic == "median" else "")
                else:
                    row.append("—")
            lines.append(f"| {cell.batch} | {cell.dtype} | {statistic} | " + " | ".join(row)
                         + " |")
    notes = {f"{name}, {cell.dtype}: {reason}" for cell in run.cells
             for name, reason in cell.skipped.items()}
    if notes:
        lines += ["", "Not timed: " + "; ".join(sorted(notes)) + "."]
    if any("hand numpy" in c.timings for c in run.cells):
        lines += ["", "hand numpy: the same model's forward pass and backprop written by hand "
                      "in numpy (bench/handwritten_models.py): what numpy itself can reach; "
                      "—: none written for this model."]
    if run.fresh is not None and run.fresh_ratio() is not None:
        t = run.fresh.timings["engine numpy"]
        lines += ["", f"engine numpy in a plain script (a fresh process with numpy and "
                      f"symbackprop only, each result dropped), batch {run.fresh.batch}, "
                      f"float64: median {human(t.median)}, min {human(t.min)}: "
                      f"{run.fresh_ratio():.2f}× its median in this process."]
    if run.profiles:
        lines += ["", f"Where engine numpy misses {NUMPY_TARGET:g}× at batch ≥ "
                      f"{NUMPY_FROM_BATCH}, its floor:", ""]
        lines += [p + "\n" for p in run.profiles]
    return "\n".join(lines)


def targets(run: ModelRun) -> list[str]:
    out = []
    for dtype in DTYPES:
        cells = [c for c in run.cells if c.dtype == dtype]
        for contender, goal, low in (("engine jax", JAX_TARGET, 0),
                                     ("engine numpy", NUMPY_TARGET, NUMPY_FROM_BATCH)):
            judged = [c for c in cells if c.batch >= low]
            ratios = [c.ratio(contender, "median") for c in judged]
            every = " at every batch" if not low else f" at batch ≥ {low}"
            what = (f"{run.name}, {dtype}: {contender} / hand-written jax.jit (median)")
            if any(r is None for r in ratios):
                reason = next(c.skipped.get(contender, "not timed") for c in judged
                              if c.ratio(contender, "median") is None)
                out.append(harness.target_line(None, f"{what}: not timed ({reason}); target "
                                                     f"≤ {goal:g}×{every}"))
                continue
            shown = ", ".join(f"{r:.2f}× at batch {c.batch}" for c, r in
                              zip(judged, ratios, strict=True))
            ok = all(r <= goal for r in ratios)
            floor = ""
            if not ok and contender == "engine numpy":
                hand = [c.ratio("hand numpy", "median") for c in judged]
                if all(r is not None for r in hand):
                    floor = "; hand-written numpy itself " + ", ".join(f"{r:.2f}×" for r in hand)
                if run.profiles and dtype == "float64":
                    floor += "; the floor's profile is under the table"
            out.append(harness.target_line(ok, f"{what} = {shown} (target ≤ {goal:g}×{every})"
                                               f"{floor}"))
    if run.fresh is not None:
        ratio = run.fresh_ratio()
        what = (f"{run.name}, float64, batch {run.fresh.batch}: engine numpy in a plain script "
                "/ in this process (median)")
        out.append(harness.target_line(None if ratio is None else ratio <= FRESH_TARGET,
                                       f"{what} = " + ("not timed" if ratio is None else
                                                       f"{ratio:.2f}×")
                                       + f" (target ≤ {FRESH_TARGET:g}×)"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, batch 64 only, 2 rounds")
    args = parser.parse_args(argv)
    import jax
    import torch  # noqa: F401 - imported here so that pin_threads sets its threads

    harness.pin_threads()
    jax.config.update("jax_enable_x64", True)  # float64 arrays stay float64; float32 stays 32
    assert harness.threads_pinned(), "threads are not pinned"
    batches = (64,) if args.quick else (1, 64, 1024)
    rounds, min_time = (2, 0.002) if args.quick else (harness.ROUNDS, 0.05)

    def log(text: str) -> None:
        print(f"[bench_models] {text}", file=sys.stderr, flush=True)

    runs = [run_model(key, quick if args.quick else full, batches, rounds, min_time, log)
            for key, full, quick in MODELS]
    print(f"### Models against hand-written jax.jit{' (quick)' if args.quick else ''}\n")
    print(f"CPU time per call (time.process_time), threads pinned, {rounds} interleaved rounds "
          "with the start rotated; each cell: the statistic, and in brackets its ratio to hand "
          "jax.jit by the same statistic (targets read the median). "
          f"{harness.blas_report()}.\n")
    for run in runs:
        print(table(run) + "\n")
    for run in runs:
        print("\n".join(targets(run)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""symbackprop's benchmark: one table, measured in one run on this machine.

    python bench/bench.py              # the full run (a few minutes), writes bench/results.md
    python bench/bench.py --quick      # tiny sizes, a smoke test of the script itself
    python bench/bench.py --only e     # section e alone, its rows and targets updated in place

Sections:
  a) deriving every gradient: sympy.diff of the fully expanded loss (what one does without
     backpropagation, seed 003) against the engine (sb.derive and every gradient in δ form,
     ∂L/∂w = δ_j a_i), and the matrix form of the same net;
  b) evaluating the gradients of a batch: the engine's batched evaluator, a hand-written numpy
     backprop of the same net (bench/handwritten.py), the engine's scalar lambdified evaluator,
     and PyTorch CPU autograd where torch is installed;
  c) gradient time over forward-only time, for the engine's batched evaluator;
  d) rendering seed 000's full notes (LaTeX, without pdflatex).

Times are the best of several repeats of timeit's autorange (the least disturbed measurement);
derivations, which cannot be repeated cheaply, are timed once each in a fresh process. Peak
memory is tracemalloc's peak for one call (Python and numpy allocations), or for a derivation
the growth of the fresh process's peak resident size. Before anything is timed, every method's
gradients are checked against the engine's: a fast wrong answer is not measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import gc
import importlib.util
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
import timeit
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import sympy as sp  # noqa: E402
from bench_models import bench_models, model_targets  # noqa: E402
from handwritten import backprop, forward_loss  # noqa: E402

import symbackprop as sb  # noqa: E402

NAIVE_LIMIT_S = 60.0


@dataclass
class Row:
    section: str
    case: str
    method: str
    seconds: float | None
    ratio: float | None = None
    memory: float | None = None  # bytes
    note: str = ""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- timing helpers ------------------------------------------------------------------------------
REPEATS = 5  # --quick: 1


def best_time(fn, repeat: int = 5) -> float:
    """CPU seconds per call: the best of ``repeat`` autoranged runs (each at least 0.2 s).

    CPU time, not wall time: on a shared machine wall time counts other processes' turns too
    (a run at load 8.6 timed torch at batch 64 at 195 ms, more than at batch 4096)."""
    timer = timeit.Timer(fn, timer=time.process_time)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=min(repeat, REPEATS), number=number)) / number


def peak_memory(fn) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return float(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


def _in_child(queue, job, args) -> None:
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    info = job(*args)
    seconds = time.perf_counter() - start
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024.0
    queue.put((seconds, grown, info))


def in_fresh_process(job, args, limit: float):
    """(seconds, peak RSS growth, info) of job(*args) in a new process, or None past ``limit``."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_in_child, args=(queue, job, args))
    proc.start()
    proc.join(limit)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return None
    return queue.get() if not queue.empty() else None


# -- a) derivation ---------------------------------------------------------------------------------
def sizes_for(depth: int, width: int) -> list[int]:
    return [width] * depth + [1]


# Each job builds the network first and returns (seconds of the derivation alone, seconds of
# building the graph): the graph is the input both methods start from.
def engine_derivation(sizes: list[int]) -> tuple[float, float]:
    start = time.perf_counter()
    net = sb.mlp(sizes, activation="sigmoid", loss="mse", bias=True)
    built = time.perf_counter()
    d = sb.derive(net)
    forms = [d.gradient(p, form="delta") for p in net.parameters]
    assert len(forms) == len(net.parameters)
    return time.perf_counter() - built, built - start


def naive_derivation(sizes: list[int]) -> tuple[float, float]:
    start = time.perf_counter()
    net = sb.mlp(sizes, activation="sigmoid", loss="mse", bias=True)
    built = time.perf_counter()
    expanded = net.expand(net.expr(net.loss_symbol))
    grads = [sp.diff(expanded, p) for p in net.parameters]
    assert len(grads) == len(net.parameters)
    return time.perf_counter() - built, built - start


def matrix_derivation(sizes: list[int]) -> tuple[float, float]:
    start = time.perf_counter()
    n = len(sb.matrix_form(sizes, activation="sigmoid", loss="mse", bias=True).equations)
    assert n > 0
    return time.perf_counter() - start, 0.0


def bench_derivation(quick: bool) -> tuple[list[Row], dict]:
    rows: list[Row] = []
    facts: dict = {}
    cases = [(d, w) for w in (2, 4, 8) for d in (1, 2, 3, 4)] + [(3, w) for w in (32, 64, 128)]
    if quick:
        cases = [(1, 2), (2, 2)]
    naive_gave_up: set[int] = set()  # widths whose naive run hit the limit at a smaller depth
    naive_ok = True
    for depth, width in cases:
        sizes = sizes_for(depth, width)
        name = "-".join(map(str, sizes))
        weights = sum(a * b + b for a, b in zip(sizes, sizes[1:], strict=False))
        log(f"derivation {name} ({weights} parameters)")
        run = in_fresh_process(engine_derivation, (sizes,), 600)
        assert run is not None, f"the engine took over 600 s on {name}"
        engine = (run[2][0], run[1])
        rows.append(Row("a", f"{name} ({weights} params)", "engine: derive + all δ forms",
                        engine[0], 1.0, engine[1], note=f"graph built in {human_time(run[2][1])}"))
        if sizes == [128, 128, 128, 1]:
            facts["derive_128"] = engine[0]
        big = width >= 32
        if width in naive_gave_up or (big and not naive_ok):
            rows.append(Row("a", f"{name} ({weights} params)", "naive: diff of expanded loss",
                            None, note="skipped: a smaller net already took > 60 s"))
        else:
            naive = in_fresh_process(naive_derivation, (sizes,), NAIVE_LIMIT_S)
            naive = naive and (naive[2][0], naive[1])
            if naive is None:
                naive_gave_up.add(width)
                naive_ok = naive_ok and not big
                rows.append(Row("a", f"{name} ({weights} params)", "naive: diff of expanded loss",
                                None, note="> 60 s, stopped"))
            else:
                rows.append(Row("a", f"{name} ({weights} params)", "naive: diff of expanded loss",
                                naive[0], naive[0] / engine[0], naive[1]))
        matrix = in_fresh_process(matrix_derivation, (sizes,), 60)
        rows.append(Row("a", f"{name} ({weights} params)", "matrix form (any width)",
                        matrix[2][0], matrix[2][0] / engine[0], matrix[1]))
    deep = [4] if quick else [8, 32]
    facts["matrix_deepest"] = 0.0
    for depth in deep:
        sizes = sizes_for(depth, 128)
        t = in_fresh_process(matrix_derivation, (sizes,), 60)
        facts["matrix_deepest"] = max(facts["matrix_deepest"], t[2][0])
        rows.append(Row("a", f"depth {depth}, any width", "matrix form", t[2][0], None, t[1]))
    return rows, facts


# -- b) and c) evaluation --------------------------------------------------------------------------
def problem(sizes: list[int], batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, 1 / np.sqrt(a), (b, a)) for a, b in zip(sizes, sizes[1:], strict=False)]
    biases = [rng.normal(0, 0.1, b) for b in sizes[1:]]
    X = rng.normal(size=(sizes[0], batch))
    Y = rng.uniform(size=(sizes[-1], batch))
    return X, Y, weights, biases


def named_values(net, X, Y, weights, biases) -> dict:
    values = {x.name: X[i] for i, x in enumerate(net.inputs)}
    values.update({t.name: Y[j] for j, t in enumerate(net.targets)})
    for l in range(1, net.depth + 1):  # noqa: E741
        for i in range(1, net.sizes[l - 1] + 1):
            for j in range(1, net.sizes[l] + 1):
                values[net.weight(l, i, j).name] = weights[l - 1][j - 1, i - 1]
        for j in range(1, net.sizes[l] + 1):
            values[net.bias(l, j).name] = biases[l - 1][j - 1]
    return values


def torch_backprop():
    """A function computing the same loss and gradients with torch autograd, or None."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    def run(X, Y, weights, biases):
        ws = [w.detach().requires_grad_(True) for w in weights]
        bs = [b.detach().requires_grad_(True) for b in biases]
        a = X
        for w, b in zip(ws, bs, strict=True):
            a = torch.sigmoid(w @ a + b[:, None])
        loss = ((Y - a) ** 2).mean()
        loss.backward()
        return loss.item(), [w.grad for w in ws], [b.grad for b in bs]

    return run


def bench_evaluation(quick: bool) -> tuple[list[Row], dict]:
    rows: list[Row] = []
    facts: dict = {"eval_ratio_4096": {}, "grad_over_forward": {}, "vs_torch": {}}
    nets = [[2, 2, 1], [64, 64, 64, 1]] if not quick else [[2, 2, 1], [8, 8, 1]]
    batches = [1, 64, 4096] if not quick else [1, 64]
    for sizes in nets:
        name = "-".join(map(str, sizes))
        log(f"evaluators for {name}")
        net = sb.mlp(sizes, activation="sigmoid", loss="mse", bias=True)
        engine = sb.matrix_form(net).evaluator()
        start = time.perf_counter()
        scalar = sb.derive(net).evaluator
        scalar_build = time.perf_counter() - start
        for m in batches:
            case_rows, case_facts = measure_batch(f"{name}, batch {m}", net, engine, scalar,
                                                  problem(sizes, m))
            if m == batches[0]:
                case_rows[2].note = f"lambdified once in {scalar_build:.1f} s"
            rows += case_rows
            facts["grad_over_forward"].update(case_facts["grad_over_forward"])
            facts["vs_torch"].update(case_facts["vs_torch"])
            if m == batches[-1]:
                facts["eval_ratio_4096"][name] = case_facts["ratio"]
    return rows, facts


def measure_batch(case: str, net, engine, scalar, data) -> tuple[list[Row], dict]:
    X, Y, W, B = data
    ours = engine(X, Y, W, B)
    hand = backprop(X, Y, W, B)
    # Nothing is timed before it agrees with the engine.
    assert abs(hand[0] - ours.loss) <= 1e-10 * max(1.0, abs(ours.loss)), case
    for g, h in zip([*ours.weight_gradients, *ours.bias_gradients], [*hand[1], *hand[2]],
                    strict=True):
        assert np.allclose(g, h, rtol=1e-8, atol=1e-14), case
    values = named_values(net, X, Y, W, B)
    named = engine.evaluate(values).gradients
    per_sample = scalar.evaluate(values).gradients
    for p in net.parameters:
        assert np.isclose(np.mean(per_sample[p.name]), named[p.name], rtol=1e-8, atol=1e-14), \
            (case, p.name)

    def run_hand():
        return backprop(X, Y, W, B)

    def run_engine():
        return engine(X, Y, W, B)

    def run_scalar():  # per-sample gradients from the scalar code, averaged over the batch
        return {k: np.mean(v) for k, v in scalar.evaluate(values).gradients.items()}

    t_hand, t_engine = best_time(run_hand), best_time(run_engine)
    t_forward = best_time(lambda: engine.loss(X, Y, W, B))
    t_hand_fwd = best_time(lambda: forward_loss(X, Y, W, B))
    rows = [Row("b", case, "hand-written numpy", t_hand, 1.0, peak_memory(run_hand)),
            Row("b", case, "engine: batched evaluator", t_engine, t_engine / t_hand,
                peak_memory(run_engine))]
    if X.shape[1] <= 64 or len(net.parameters) < 100:
        t_scalar = best_time(run_scalar, repeat=3)
        rows.append(Row("b", case, "engine: scalar lambdified", t_scalar, t_scalar / t_hand,
                        peak_memory(run_scalar)))
    else:
        rows.append(Row("b", case, "engine: scalar lambdified", None,
                        note="skipped: one array operation per weight"))
    facts: dict = {"ratio": t_engine / t_hand, "vs_torch": {},
                   "grad_over_forward": {case: t_engine / t_forward}}
    torch_run = torch_backprop()
    if torch_run is None:
        rows.append(Row("b", case, "torch CPU autograd", None,
                        note="torch is not installed (pip install torch)"))
    else:
        import torch

        tX, tY = torch.tensor(X), torch.tensor(Y)
        tW, tB = [torch.tensor(w) for w in W], [torch.tensor(b) for b in B]
        tl, tg, _ = torch_run(tX, tY, tW, tB)
        assert abs(tl - ours.loss) <= 1e-10 * max(1.0, abs(ours.loss)), case
        assert np.allclose(tg[0].numpy(), ours.weight_gradients[0], rtol=1e-8, atol=1e-14), case

        def run_torch():
            return torch_run(tX, tY, tW, tB)

        t_torch = best_time(run_torch)
        rows.append(Row("b", case, "torch CPU autograd", t_torch, t_torch / t_hand,
                        peak_memory(run_torch), note="tracemalloc does not see torch's allocator"))
        facts["vs_torch"][case] = t_engine / t_torch
    rows.append(Row("c", case, "engine: gradient / forward", t_engine / t_forward,
                    note=f"hand-written: {t_hand / t_hand_fwd:.2f}"))
    return rows, facts


# -- d) notes -----------------------------------------------------------------------------------------
SEED000 = dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)


def seed000_notes() -> int:
    net = sb.mlp([2, 2, 1], activation="sigmoid", loss="mse", bias=False)
    ex = sb.worked_example(sb.derive(net), SEED000, learning_rate=0.1, digits=3)
    return len(sb.render(ex, "article"))


def residual_chain_spec(depth: int) -> str:
    """A residual chain n_k = sigmoid(n_{k-1}) + n_{k-1}*w: one parameter, ``depth`` nodes."""
    nodes = ['{ name = "n1", expr = "w*x" }'] + [
        f'{{ name = "n{k}", expr = "sigmoid(n{k - 1}) + n{k - 1}*w" }}' for k in range(2, depth + 1)]
    return ('[graph]\ninputs = ["x"]\ntargets = ["y"]\nparameters = ["w"]\nnodes = [\n  '
            + ",\n  ".join(nodes) + f'\n]\nloss = {{ name = "L", expr = "(y - n{depth})^2" }}\n'
            "[values]\nx = 0.5\ny = 0.2\nw = 0.3\n")


def spec_notes(text: str) -> int:
    """Notes of a spec as ``symbackprop notes`` makes them: every equation verified."""
    from symbackprop.io.spec import parse_spec

    spec = parse_spec(text, "bench.toml")
    return len(sb.render(sb.derive(spec.graph), "article"))


def bench_large_notes(quick: bool) -> tuple[list[Row], dict]:
    # Verification is local (each equation at the forward pass's values), so a document costs
    # about linearly in its size: these two were exponential in depth before.
    sizes = [5, 5, 2] if quick else [30, 30, 3]
    depth = 4 if quick else 16
    weights = sum(a * b for a, b in zip(sizes, sizes[1:], strict=False))
    cases = [(f"MLP {'-'.join(map(str, sizes))} ({weights} params)", "notes_wide",
              "[network]\nsizes = [" + ", ".join(map(str, sizes)) + "]\n"),
             (f"residual chain, depth {depth}", "notes_deep", residual_chain_spec(depth))]
    rows, facts = [], {}
    ctx = mp.get_context("spawn")
    for case, fact, text in cases:
        log(f"rendering notes: {case}")
        with ctx.Pool(1) as pool:
            took, grown, _ = pool.apply(_timed_child, (functools.partial(spec_notes, text),))
        rows.append(Row("d", case, "notes, first in a new process", took, None, grown,
                        note="article LaTeX, every equation verified"))
        facts[fact] = (case, took)
    return rows, facts


def bench_notes() -> tuple[list[Row], dict]:
    log("rendering seed 000's notes")
    # What a user waits for: the first render in a new process (SymPy's caches cold, templates
    # not yet compiled), with the imports already done. Then the same again, warm.
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        cold, grown, _ = pool.apply(_timed_child, (seed000_notes,))
    seed000_notes()
    warm = best_time(seed000_notes, repeat=3)
    note = "article LaTeX, every equation verified"
    return [Row("d", "seed 000 (2-2-1)", "notes, first in a new process", cold, None, grown,
                note=note),
            Row("d", "seed 000 (2-2-1)", "notes, again (warm caches)", warm, None,
                peak_memory(seed000_notes), note=note)], {"notes": cold}


def _timed_child(job):
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    info = job()
    return (time.perf_counter() - start,
            (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024.0, info)


# -- the table -----------------------------------------------------------------------------------------
def human_time(s: float | None) -> str:
    if s is None:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def human_bytes(b: float | None) -> str:
    if b is None:
        return "—"
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if b >= scale:
            return f"{b / scale:.3g} {unit}"
    return f"{b:.0f} B"


SECTIONS = {
    "a": "a) Deriving every gradient (ratio: to the engine)",
    "b": "b) Gradients of a batch, sigmoid MSE nets with biases (ratio: to hand-written numpy)",
    "c": "c) Gradient time over forward-only time (the value is the ratio)",
    "d": "d) Lecture notes",
    "e": "e) Beyond the MLP: RNN, convolution, attention and block networks, derived and evaluated "
         "(bench_models.py)",
}


def table(rows: list[Row], sections: tuple[str, ...] = tuple(SECTIONS)) -> str:
    out = []
    for key, title in SECTIONS.items():
        if key not in sections:
            continue
        out += [f"**{title}**", "",
                "| case | method | time per call | ratio | peak memory | note |",
                "|---|---|---|---|---|---|"]
        for r in rows:
            if r.section != key:
                continue
            value = f"{r.seconds:.2f}" if key == "c" else human_time(r.seconds)
            ratio = "" if r.ratio is None else f"{r.ratio:.2f}×"
            out.append(f"| {r.case} | {r.method} | {value} | {ratio} | {human_bytes(r.memory)} "
                       f"| {r.note} |")
        out.append("")
    return "\n".join(out)


def targets(facts: dict) -> list[str]:
    lines = []

    def check(ok: bool | None, text: str) -> None:
        lines.append(f"- {'PASS' if ok else 'MISS' if ok is not None else 'NOT MEASURED'}: {text}")

    d128 = facts.get("derive_128")
    check(None if d128 is None else d128 < 2.0,
          f"128-128-128-1 (33 153 parameters), derive and every gradient in δ form: "
          f"{human_time(d128)} (target < 2 s)")
    deep = facts.get("matrix_deepest")
    check(None if deep is None else deep < 0.5,
          f"matrix form, deepest net measured: {human_time(deep)} (target < 0.5 s)")
    for name, ratio in facts.get("eval_ratio_4096", {}).items():
        check(ratio <= 1.5, f"{name} at the largest batch: engine / hand-written = {ratio:.2f} "
                            "(target ≤ 1.5)")
    if facts.get("vs_torch"):
        for case, ratio in facts["vs_torch"].items():
            if case.endswith(("batch 1", "batch 64")):
                check(ratio < 1.0, f"{case}: engine / torch = {ratio:.2f} (target < 1)")
    else:
        check(None, "faster than torch CPU autograd at batch 1 and 64: torch is not installed")
    for case, ratio in facts.get("grad_over_forward", {}).items():
        check(ratio <= 3.0, f"{case}: gradient / forward = {ratio:.2f} (target ≤ 3)")
    for fact in ("notes_wide", "notes_deep"):
        if fact in facts:
            case, took = facts[fact]
            check(took < 10.0, f"notes of {case}: {human_time(took)} (target < 10 s)")
    notes = facts.get("notes")
    check(None if notes is None else notes < 1.0,
          f"seed 000 notes rendered without pdflatex: {human_time(notes)} (target < 1 s)")
    model_targets(facts, check, human_time)
    return lines


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    torch = "not installed"
    if importlib.util.find_spec("torch") is not None:
        import torch as _torch

        torch = _torch.__version__
    return (f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores; "
            f"Python {platform.python_version()}, numpy {np.__version__}, sympy {sp.__version__}, "
            f"torch {torch}")


def only_models(quick: bool, output: Path) -> int:
    """Re-measure section e and splice its table and its target lines into ``output`` (an
    earlier full run's file), saying when; sections a–d and their targets stay as measured."""
    old = output.read_text(encoding="utf-8").splitlines()
    head = next((k for k, line in enumerate(old) if line.startswith("**e) ")), None)
    end = next((k for k, line in enumerate(old) if line == "**Targets**"), None)
    if head is None or end is None or end < head:
        log(f"{output} has no section e and targets to update: run the full bench first")
        return 2
    rows, facts = bench_models(quick, Row, REPEATS)
    lines: list[str] = []

    def check(ok: bool | None, text: str) -> None:
        lines.append(f"- {'PASS' if ok else 'MISS' if ok is not None else 'NOT MEASURED'}: {text}")
    model_targets(facts, check, human_time)
    when = dt.datetime.now(dt.UTC)
    section = table(rows, ("e",)).splitlines()
    section[1:1] = ["", f"Section e re-measured {when:%Y-%m-%d %H:%M} UTC with `python "
                        f"bench/bench.py --only e{' --quick' if quick else ''}`."]
    cases = tuple(facts["models"])
    text = old[:head] + section + old[end:]
    kept = [line for line in text if not (line[:2] == "- " and line.split(": ", 1)[-1]
                                          .startswith(cases))]
    at = next((k for k, line in enumerate(text) if line[:2] == "- " and
               line.split(": ", 1)[-1].startswith(cases)), None)
    if at is None:  # no earlier section-e targets: they go last in the targets list
        at = next(k for k, line in enumerate(kept) if line == "**Targets**") + 2
        while at < len(kept) and kept[at].startswith("- "):
            at += 1
    kept[at:at] = lines
    output.write_text("\n".join(kept) + "\n", encoding="utf-8")
    print("\n".join(section + ["", *lines]))
    log(f"section e updated in {output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--output", default=str(HERE / "results.md"), help="the results file")
    parser.add_argument("--only", choices=["e"],
                        help="re-measure one section and update it in the results file")
    args = parser.parse_args(argv)
    global REPEATS
    REPEATS = 1 if args.quick else REPEATS
    if args.only == "e":
        return only_models(args.quick, Path(args.output))
    started = dt.datetime.now(dt.UTC)
    rows: list[Row] = []
    facts: dict = {}
    for part in (bench_derivation, bench_evaluation):
        r, f = part(args.quick)
        rows += r
        facts.update(f)
    r, f = bench_notes()
    rows += r
    facts.update(f)
    r, f = bench_large_notes(args.quick)
    rows += r
    facts.update(f)
    r, f = bench_models(args.quick, Row, REPEATS)
    rows += r
    facts.update(f)
    # The peers side by side, in a fresh process: its thread pinning must precede numpy's import.
    import subprocess

    log("compare.py: engine vs torch / jax / numpy, interleaved")
    compared = subprocess.run([sys.executable, str(HERE / "compare.py"),
                               *(["--quick"] if args.quick else [])],
                              capture_output=True, text=True, check=True).stdout
    log("bench_symbolic.py: issue 15's symbolic targets, interleaved rounds")
    symbolic = subprocess.run([sys.executable, str(HERE / "bench_symbolic.py"),
                               *(["--quick"] if args.quick else [])],
                              capture_output=True, text=True, check=True).stdout
    log("bench_limits.py: every command at every documented limit")
    limits = subprocess.run([sys.executable, str(HERE / "bench_limits.py"),
                             *(["--quick"] if args.quick else [])],
                            capture_output=True, text=True, check=True).stdout
    text = "\n".join([
        f"# symbackprop benchmark{' (quick)' if args.quick else ''}",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC in one run of `python bench/bench.py"
        f"{' --quick' if args.quick else ''}`.",
        f"Machine: {machine()}.",
        "",
        table(rows),
        "**Targets**",
        "",
        *targets(facts),
        "",
        "**Side by side** (bench/compare.py)",
        "",
        compared,
        "**Symbolic targets** (bench/bench_symbolic.py)",
        "",
        symbolic,
        "**Every command at each documented limit** (bench/bench_limits.py: one run each, "
        "wall time; refused = one line, exit 2)",
        "",
        limits,
    ])
    print(text)
    Path(args.output).write_text(text, encoding="utf-8")
    log(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""symbackprop's benchmark: every section in a fresh process, one results file, one PASS/MISS summary.

    python bench/bench.py                  # every section (under 30 minutes), writes bench/results.md
    python bench/bench.py --quick          # every section at tiny sizes and 2 rounds: a smoke test
    python bench/bench.py --only compare   # re-run one section and splice it into bench/results.md
    python bench/bench.py --sections a d   # only these sections, into a new results file
    python bench/bench.py --section a      # one of this file's own sections, as the others call it

Each section is a script of the section-script protocol (``harness.pin_threads()`` before numpy,
Markdown on stdout: a heading, its tables saying their statistic, then its target lines made by
``harness.target_line``), run with this same python in a process of its own. A section may also be
named by the path of such a script. This file's own sections:

  a) deriving every gradient: sympy.diff of the fully expanded loss (what one does without
     backpropagation, seed 003) against the engine (sb.derive and every gradient in δ form) and
     the matrix form of the same net; each contender once per round in a new forked process
     (SymPy's caches start cold), the order rotated round by round, CPU time of the child;
  d) lecture notes: seed 000's notes first in a new process and again with warm caches, and
     two big documents (a 990-parameter MLP, a depth-16 residual chain), every equation verified.

The run exits 0 with MISSes (it is a report) and 1 when a section crashed or timed out.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import harness  # noqa: E402

harness.pin_threads()  # before numpy (imported by symbackprop) reads its thread count

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import multiprocessing as mp  # noqa: E402
import queue as queue_module  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

import sympy as sp  # noqa: E402
from runner import SCRIPTS, Section, orchestrate, splice  # noqa: E402

import symbackprop as sb  # noqa: E402

NAIVE_CPU_LIMIT = 20.0  # CPU seconds: sympy.diff of the expanded loss past this is stopped
GUARD = 600.0  # wall seconds a forked job may take before it is killed (a hang guard)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- one job in a fresh process ---------------------------------------------------------------------
def _in_child(queue, job, args, cpu_limit) -> None:
    if cpu_limit is not None:  # the kernel stops the job at this much CPU time, whatever the load
        resource.setrlimit(resource.RLIMIT_CPU, (int(cpu_limit) + 1, resource.RLIM_INFINITY))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = job(*args)
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024.0
    queue.put((times, grown))


def fresh(job, args, cpu_limit: float | None = None):
    """(the job's own CPU timings, peak RSS growth in bytes) of ``job(*args)`` in a forked process,
    or None when it passed ``cpu_limit`` CPU seconds (or GUARD wall seconds). The parent has
    derived nothing, so SymPy's caches start cold in the child."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_in_child, args=(queue, job, args, cpu_limit))
    proc.start()
    deadline = time.monotonic() + GUARD
    try:
        while True:
            try:
                return queue.get(timeout=0.5)
            except queue_module.Empty:
                if proc.is_alive() and time.monotonic() < deadline:
                    continue
            try:  # gone (its CPU limit, a crash) or past the guard: what it sent, if anything
                return queue.get(timeout=0.5)
            except queue_module.Empty:
                return None
    finally:
        proc.kill()
        proc.join()


def measured(result, what: str):
    """A job's result that must be there: a crash of a job without a limit crashes the section."""
    if result is None:
        raise RuntimeError(f"{what} gave no result in its process (crashed or past {GUARD:.0f} s)")
    return result


# -- a) derivation --------------------------------------------------------------------------------
def sizes_for(depth: int, width: int) -> list[int]:
    return [width] * depth + [1]


# Each job builds the network first and times the derivation alone: the graph is the input both
# the engine and the naive diff start from. The build's CPU time is reported beside.
def engine_derivation(sizes: list[int]) -> dict:
    build, net = harness.once(lambda: sb.mlp(sizes, activation="sigmoid", loss="mse", bias=True))

    def derive():
        d = sb.derive(net)
        return [d.gradient(p, form="delta") for p in net.parameters]

    seconds, forms = harness.once(derive)
    assert len(forms) == len(net.parameters)
    return {"seconds": seconds, "build": build}


def naive_derivation(sizes: list[int]) -> dict:
    build, net = harness.once(lambda: sb.mlp(sizes, activation="sigmoid", loss="mse", bias=True))

    def diff_all():
        expanded = net.expand(net.expr(net.loss_symbol))
        return [sp.diff(expanded, p) for p in net.parameters]

    seconds, grads = harness.once(diff_all)
    assert len(grads) == len(net.parameters)
    return {"seconds": seconds, "build": build}


def matrix_derivation(sizes: list[int]) -> dict:
    seconds, n = harness.once(lambda: len(sb.matrix_form(sizes, activation="sigmoid",
                                                         loss="mse", bias=True).equations))
    assert n > 0
    return {"seconds": seconds}


METHODS = {"engine: derive + all δ forms": (engine_derivation, None),
           "naive: diff of expanded loss": (naive_derivation, NAIVE_CPU_LIMIT),
           "matrix form (any width)": (matrix_derivation, None)}


def section_a(quick: bool) -> list[str]:
    rounds = 2 if quick else 3
    cases = [(d, w) for w in (2, 4, 8) for d in (1, 2, 3, 4)] + [(3, w) for w in (32, 64, 128)]
    if quick:
        cases = [(1, 2), (2, 2)]
    out = ["## a) Deriving every gradient (bench/bench.py --section a)", "",
           f"CPU time of the work in a new forked process per run (SymPy's caches cold), threads "
           f"pinned; {rounds} rounds, the contenders' order rotated each round; min and median "
           f"over the rounds; ratio: median over the engine's median. The naive diff is stopped "
           f"at {NAIVE_CPU_LIMIT:.0f} s CPU (and not tried at larger sizes of that width).", "",
           "| case | method | CPU min | CPU median | ratio (median) | peak RSS growth | note |",
           "|---|---|---|---|---|---|---|"]
    gave_up: set[int] = set()  # widths where the naive diff already passed its limit
    for depth, width in cases:
        sizes = sizes_for(depth, width)
        name = "-".join(map(str, sizes))
        params = sum(a * b + b for a, b in zip(sizes, sizes[1:], strict=False))
        log(f"a) {name} ({params} parameters)")
        names = [m for m in METHODS if not (m.startswith("naive") and
                                            (width in gave_up or width >= 32 and gave_up))]
        runs: dict[str, list] = {m: [] for m in names}
        for round_number in range(rounds):
            for method in harness.rotated(names, round_number):
                job, limit = METHODS[method]
                if runs[method] and runs[method][-1] is None:
                    continue  # passed its limit once: not tried again
                result = fresh(job, (sizes,), limit)
                runs[method].append(result if limit else measured(result, f"{method}, {name}"))
        engine = harness.Timing([r[0]["seconds"] for r in runs[names[0]]])
        for method in METHODS:
            case = f"{name} ({params} params)"
            if method not in runs:
                out.append(f"| {case} | {method} | — | — | | — | not run: a smaller net passed "
                           "the limit |")
                continue
            done = [r for r in runs[method] if r is not None]
            if len(done) < len(runs[method]) or not done:
                gave_up.add(width)
                out.append(f"| {case} | {method} | — | — | | — | > {NAIVE_CPU_LIMIT:.0f} s CPU, "
                           "stopped |")
                continue
            t = harness.Timing([r[0]["seconds"] for r in done])
            build = [r[0]["build"] for r in done if "build" in r[0]]
            note = f"graph built in {human_time(min(build))} CPU (min)" if build else ""
            out.append(f"| {case} | {method} | {human_time(t.min)} | {human_time(t.median)} "
                       f"| {t.median / engine.median:.2f}× | {human_bytes(max(r[1] for r in done))}"
                       f" | {note} |")
    deepest = None
    for depth in ([4] if quick else [8, 32]):
        log(f"a) matrix form, depth {depth}")
        done = [measured(fresh(matrix_derivation, (sizes_for(depth, 128),)), f"depth {depth}")
                for _ in range(rounds)]
        deepest = harness.Timing([r[0]["seconds"] for r in done])
        out.append(f"| depth {depth}, any width | matrix form | {human_time(deepest.min)} | "
                   f"{human_time(deepest.median)} | | {human_bytes(max(r[1] for r in done))} | |")
    out += ["", harness.target_line(deepest.median < 0.5,
                                    f"matrix form, deepest net measured (depth {depth}): "
                                    f"{human_time(deepest.median)} CPU, median of {rounds} "
                                    "fresh processes (target < 0.5 s)")]
    return out


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


def timed_job(fn, *args) -> dict:
    seconds, _ = harness.once(lambda: fn(*args))
    return {"seconds": seconds}


def section_d(quick: bool) -> list[str]:
    rounds = 2 if quick else 3
    sizes = [5, 5, 2] if quick else [30, 30, 3]
    depth = 4 if quick else 16
    weights = sum(a * b for a, b in zip(sizes, sizes[1:], strict=False))
    mlp = "[network]\nsizes = [" + ", ".join(map(str, sizes)) + "]\n"
    # What a user waits for: the first document in a new process (SymPy's caches cold, templates
    # not compiled yet), the imports already done. The big documents are cold too.
    cold = [("seed 000 (2-2-1)", 1.0, seed000_notes, ()),
            (f"MLP {'-'.join(map(str, sizes))} ({weights} params)", 10.0, spec_notes, (mlp,)),
            (f"residual chain, depth {depth}", 10.0, spec_notes, (residual_chain_spec(depth),))]
    out = ["## d) Lecture notes (bench/bench.py --section d)", "",
           "Article LaTeX without pdflatex, every equation verified. CPU time, threads pinned: "
           f"'first' is a new forked process per run ({rounds} runs, the cases rotated round by "
           f"round); 'again' is {harness.ROUNDS if not quick else 2} interleaved rounds in one "
           "warm process. Min and median over the runs.", "",
           "| case | run | CPU min | CPU median | peak RSS growth |", "|---|---|---|---|---|"]
    names = [case for case, *_ in cold]
    runs: dict[str, list] = {case: [] for case in names}
    for round_number in range(rounds):
        for case in harness.rotated(names, round_number):
            _, _, fn, args = next(c for c in cold if c[0] == case)
            log(f"d) notes of {case}, round {round_number + 1}")
            runs[case].append(measured(fresh(timed_job, (fn, *args)), f"notes of {case}"))
    lines = []
    for case, target, _, _ in cold:
        t = harness.Timing([r[0]["seconds"] for r in runs[case]])
        out.append(f"| {case} | first in a new process | {human_time(t.min)} | "
                   f"{human_time(t.median)} | {human_bytes(max(r[1] for r in runs[case]))} |")
        lines.append(harness.target_line(t.median < target, f"notes of {case}, first in a new "
                                         f"process: {human_time(t.median)} CPU, median of {rounds} "
                                         f"(target < {target:g} s)"))
    warm = harness.interleaved({"seed 000": seed000_notes}, rounds=2 if quick else harness.ROUNDS)
    t = warm["seed 000"]
    out.append(f"| seed 000 (2-2-1) | again (warm caches) | {human_time(t.min)} | "
               f"{human_time(t.median)} | |")
    return [*out, "", *lines]


# -- formatting ---------------------------------------------------------------------------------------
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


OWN = {"a": section_a, "d": section_d}


def sections(names: list[str], parser: argparse.ArgumentParser) -> list[Section]:
    """The sections to run: by name (this file's, then the scripts'), or by a script's path."""
    chosen = []
    for name in names:
        if name in OWN:
            chosen.append(Section(name, HERE / "bench.py", ("--section", name)))
        elif name in SCRIPTS:
            chosen.append(Section(name, HERE / SCRIPTS[name]))
        elif name.endswith(".py"):
            chosen.append(Section(Path(name).stem, Path(name).resolve()))
        else:
            parser.error(f"no section {name!r}: name one of {', '.join([*OWN, *SCRIPTS])} "
                         "or a section script's path")
    return chosen


def main(argv: list[str] | None = None) -> int:
    every = [*OWN, *SCRIPTS]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every section at tiny sizes")
    parser.add_argument("--output", default=str(HERE / "results.md"), help="the results file")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--only", nargs="+", metavar="SECTION",
                       help=f"re-run these sections and splice them into the results file "
                            f"({', '.join(every)}, or a section script's path)")
    group.add_argument("--sections", nargs="+", metavar="SECTION",
                       help="run only these sections, into a new results file")
    group.add_argument("--section", choices=list(OWN), help="print one of this file's sections")
    args = parser.parse_args(argv)
    if args.section:
        print("\n".join(OWN[args.section](args.quick)))
        return 0
    output = Path(args.output)
    started = dt.datetime.now(dt.UTC)
    if args.only:
        return splice(sections(args.only, parser), args.quick, output, log)
    return orchestrate(sections(args.sections or every, parser), args.quick, output, started,
                       log)


if __name__ == "__main__":
    sys.exit(main())

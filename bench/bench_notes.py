"""Notes time against the network's size (issue 23, item 3): `symbackprop notes SPEC` in-process.

    python bench/bench_notes.py            # the full table (about 4 minutes)
    python bench/bench_notes.py --quick    # tiny sizes, 2 rounds: what the tests run

Each case is a spec text with [values] (an MLP of width w and depth d, sizes [w]*d + [1]; an
Elman RNN of T steps, 1 input, 8 hidden units, 1 output, mse at every step), written to a file
and given to the CLI's own entry point, ``symbackprop.cli.main.main(["notes", SPEC, "-o", OUT])``:
the spec read, the graph built, derived, the worked example computed, every equation verified,
the article rendered and written (no pdflatex). Every call starts cold, as a new process would
after import: SymPy's cache and the engine's own caches (the verifier's shapes, compiled
numbers, the compiled templates, the formulas' widths) are emptied before it, so no round
reuses another's work.

Timing follows bench/harness.py: threads pinned, CPU time, one unmeasured round first, then
rounds that time every case once each, the order rotated by one each round; min and median.
The fitted exponents are least-squares slopes of log(median) against log(parameters) (MLP) and
log(T) (RNN).

Deep chains, mlp([1]*n) for n = 51 … 1001 (50 to 1000 weights, the notes' limit), are timed in
the same rounds but through the API (a spec's sizes stop at 101 layers): derived, the worked
example computed, the Document built and rendered as the article; the longest also as slides
and as the HTML page. Their exponent is fitted against n.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import harness  # noqa: E402

harness.pin_threads()

import sympy as sp  # noqa: E402

import symbackprop as sb  # noqa: E402
from symbackprop.check.shapes import forget_shapes  # noqa: E402
from symbackprop.cli.main import main as cli_main  # noqa: E402
from symbackprop.codegen import scalar  # noqa: E402
from symbackprop.document import layout  # noqa: E402
from symbackprop.io.spec.reader import parse_spec  # noqa: E402
from symbackprop.output import render  # noqa: E402
from symbackprop.printing.mathml import forget_mathml  # noqa: E402

RNN_HIDDEN = 8
#: The issue's targets.
MLP_DEEP_LIMIT_S = 2.0  # width 4, depth 16
MLP_WIDE_LIMIT_S = 3.0  # depth 3, width 64 (or its refusal)
RNN_EXPONENT_LIMIT = 1.15
RNN_STEP_LIMIT = 2.6  # no time ratio between consecutive doublings of T above this
#: A chain of width 1 (mlp([1]*n), n − 1 weights): notes linear in n, and at the notes' limit of
#: 1000 parameters (n = 1001) the article, the slides and the HTML page each within this.
CHAIN_EXPONENT_LIMIT = 1.15
CHAIN_LIMIT_S = 10.0
CHAIN_KINDS = {"notes": "article", "slides": "slides", "HTML": "html"}


def _leaf_values(graph) -> str:
    # made-up numbers in [-0.15, 0.22], a fixed pattern: no two runs differ
    rows = [f'"{s.name}" = {0.37 * ((7 * k) % 11) / 11 - 0.15:.3f}'
            for k, s in enumerate(graph.leaves)]
    return "\n[values]\n" + "\n".join(rows) + "\n"


def mlp_spec(width: int, depth: int) -> str:
    """An MLP spec of sizes [width]*depth + [1] with [values] for every leaf."""
    head = f"[network]\nsizes = {[width] * depth + [1]}\n"
    return head + _leaf_values(sb.mlp([width] * depth + [1]))


def rnn_spec(steps: int, hidden: int = RNN_HIDDEN) -> str:
    """An Elman RNN spec (1 input, ``hidden`` units, 1 output, mse at every step) with values."""
    head = (f'[network]\nkind = "rnn"\ninputs = 1\nhidden = {hidden}\noutputs = 1\n'
            f'steps = {steps}\nloss = "mse"\nloss_at = "every_step"\nnotation = "goodfellow"\n')
    return head + _leaf_values(parse_spec(head).graph)


def parameter_count(spec: str) -> int:
    """The parameters the spec's network has (built outside any timing)."""
    return len(parse_spec(spec).graph.parameters)


def forget() -> None:
    """Empty every cache a notes run fills, so that each call does a new process's work."""
    sp.core.cache.clear_cache()
    forget_shapes()
    scalar._compiled.cache_clear()
    render._our_environment.cache_clear()
    layout.width.cache_clear()
    forget_mathml()


@dataclass
class Outcome:
    """How a notes run ended: exit code and, for a refusal, its one-line reason."""

    code: int
    reason: str = ""


def notes_call(spec: str, folder: Path, name: str) -> Callable[[], Outcome]:
    """The CLI's notes command on ``spec`` (written to ``folder``), cold, as one call."""
    path = folder / f"{name}.toml"
    path.write_text(spec, encoding="utf-8")
    out = folder / f"{name}.tex"

    def run() -> Outcome:
        forget()
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = cli_main(["notes", str(path), "-o", str(out), "--quiet"])
        if code not in (0, 2):
            raise AssertionError(f"{name}: notes exited {code}: {err.getvalue().strip()}")
        return Outcome(code, err.getvalue().strip().removeprefix("symbackprop: error: "))

    return run


def chain_call(n: int, kind: str = "article") -> Callable[[], Outcome]:
    """A chain mlp([1]*n)'s notes of ``kind`` in-process and cold: derived, its worked example
    computed, the Document built (every equation verified) and rendered. (A spec's
    ``network.sizes`` holds at most 101 layers, so a chain of 1000 weights is not a CLI case.)"""
    def run() -> Outcome:
        forget()
        net = sb.mlp([1] * n)
        d = sb.derive(net)
        values = {s.name: round(0.37 * ((7 * k) % 11) / 11 - 0.15, 3)
                  for k, s in enumerate(net.leaves)}
        text = sb.render(sb.build_document(d, sb.worked_example(d, values)), kind)
        return Outcome(0 if text else 1)

    return run


def chain_sizes(quick: bool) -> tuple[int, ...]:
    """The chains' n (layers + 1): 50 to 1000 weights; --quick: two tiny ones."""
    return (11, 21) if quick else (51, 101, 201, 401, 1001)


def cases(quick: bool) -> list[tuple[str, str, str]]:
    """(series, case, spec): the MLP by depth (width 4), by width (depth 3), the RNN by T."""
    depths = (2, 4) if quick else (2, 4, 8, 16, 32)
    widths = (4, 64) if quick else (4, 8, 16, 32, 64)
    steps = (4, 8) if quick else (4, 8, 16, 32, 64)
    return ([("mlp-depth", f"MLP width 4, depth {d}", mlp_spec(4, d)) for d in depths]
            + [("mlp-width", f"MLP depth 3, width {w}", mlp_spec(w, 3)) for w in widths]
            + [("rnn", f"RNN T = {t} ({RNN_HIDDEN} hidden)", rnn_spec(t)) for t in steps])


def measure(calls: dict[str, Callable[[], Outcome]], rounds: int
            ) -> tuple[dict[str, harness.Timing], dict[str, Outcome]]:
    """One unmeasured round (imports, first calls), then ``rounds`` rotated rounds of one call
    per case, in CPU seconds (harness.interleaved's discipline; one call per sample, for a
    case that takes seconds)."""
    outcomes = {name: fn() for name, fn in calls.items()}
    timings = {name: harness.Timing() for name in calls}
    for number in range(rounds):
        for name in harness.rotated(list(calls), number):
            seconds, outcome = harness.once(calls[name])
            if outcome != outcomes[name]:
                raise AssertionError(f"{name}: the notes ended differently between rounds")
            timings[name].samples.append(seconds)
    return timings, outcomes


def report(quick: bool) -> str:
    rounds = 2 if quick else 3
    table = cases(quick)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        calls = {case: notes_call(spec, folder, f"case{k}")
                 for k, (_, case, spec) in enumerate(table)}
        chains = chain_sizes(quick)
        chain_cases = {f"chain mlp([1]*{n}) notes": chain_call(n) for n in chains}
        longest = chains[-1]
        extra = {f"chain mlp([1]*{longest}) {label}": chain_call(longest, kind)
                 for label, kind in CHAIN_KINDS.items() if label != "notes"}
        timings, outcomes = measure({**calls, **chain_cases, **extra}, rounds)
    sizes = {case: parameter_count(spec) for _, case, spec in table}
    chain_lines, chain_targets = chain_report(chains, timings)
    lines = [f"Notes (`symbackprop notes SPEC`, article with worked example, in-process, each "
             f"call cold) against size: CPU seconds, min and median of {rounds} rotated rounds",
             "", "| case | parameters | min (s) | median (s) | outcome |", "|---|---|---|---|---|"]
    for _, case, _ in table:
        t, o = timings[case], outcomes[case]
        outcome = "written" if o.code == 0 else f"refused: {o.reason}"
        lines.append(f"| {case} | {sizes[case]} | {t.min:.3f} | {t.median:.3f} | {outcome} |")
    lines += ["", *chain_lines, ""]

    def series(name: str) -> list[str]:
        return [case for s, case, _ in table if s == name and outcomes[case].code == 0]

    mlp = series("mlp-depth") + series("mlp-width")
    mlp_exponent = harness.fitted_exponent([sizes[c] for c in mlp],
                                           [timings[c].median for c in mlp])
    depth = series("mlp-depth")
    depth_exponent = harness.fitted_exponent([sizes[c] for c in depth],
                                             [timings[c].median for c in depth])
    rnn = series("rnn")
    steps = [int(c.split("T = ")[1].split()[0]) for c in rnn]
    rnn_medians = [timings[c].median for c in rnn]
    rnn_exponent = harness.fitted_exponent(steps, rnn_medians)
    ratios = [b / a for a, b in zip(rnn_medians, rnn_medians[1:], strict=False)]
    lines += [f"Fitted exponent (time ∝ size^k, on medians): MLP notes vs parameters k = "
              f"{mlp_exponent:.2f} (width 4 by depth alone: {depth_exponent:.2f}); RNN notes vs "
              f"T k = {rnn_exponent:.2f}, ratios between doublings of T "
              f"{', '.join(f'{r:.2f}' for r in ratios)}.", ""]

    deep = "MLP width 4, depth 16"
    if deep in timings:
        t = timings[deep].median
        lines.append(harness.target_line(t < MLP_DEEP_LIMIT_S and outcomes[deep].code == 0,
                                         f"MLP width 4 depth 16 notes < {MLP_DEEP_LIMIT_S:g} s: "
                                         f"{t:.2f} s median (min {timings[deep].min:.2f} s)"))
    else:
        lines.append(harness.target_line(None, "MLP width 4 depth 16 notes: --quick leaves it out"))
    wide = "MLP depth 3, width 64"
    t, o = timings[wide], outcomes[wide]
    what = "written" if o.code == 0 else f"refused ({o.reason[:90]}…)"
    lines.append(harness.target_line(t.median < MLP_WIDE_LIMIT_S,
                                     f"MLP depth 3 width 64 notes or refusal < "
                                     f"{MLP_WIDE_LIMIT_S:g} s: {t.median:.3f} s median, {what}"))
    if len(steps) >= 3:
        ok = rnn_exponent <= RNN_EXPONENT_LIMIT and max(ratios) <= RNN_STEP_LIMIT
        lines.append(harness.target_line(ok, f"RNN notes linear in T = {steps[0]}…{steps[-1]}: "
                                             f"exponent {rnn_exponent:.2f} ≤ "
                                             f"{RNN_EXPONENT_LIMIT:g}, largest doubling ratio "
                                             f"{max(ratios):.2f} ≤ {RNN_STEP_LIMIT:g}"))
    else:
        lines.append(harness.target_line(None, "RNN notes linear in T: --quick has two T only"))
    lines += chain_targets
    return "\n".join(lines)


def chain_report(chains: tuple[int, ...], timings: dict[str, harness.Timing]
                 ) -> tuple[list[str], list[str]]:
    """The chains' table (n, weights, article, and the slides and HTML of the longest) and
    their target lines: exponent against n, and the longest's three outputs within the limit."""
    longest = chains[-1]
    rows = ["Deep chains (`sb.render(sb.build_document(...), kind)` of mlp([1]*n) with a worked "
            "example, in-process, each call cold): CPU seconds", "",
            "| chain | weights | output | min (s) | median (s) |", "|---|---|---|---|---|"]
    for n in chains:
        t = timings[f"chain mlp([1]*{n}) notes"]
        rows.append(f"| mlp([1]*{n}) | {n - 1} | article | {t.min:.3f} | {t.median:.3f} |")
    for label, kind in CHAIN_KINDS.items():
        if label != "notes":
            t = timings[f"chain mlp([1]*{longest}) {label}"]
            rows.append(f"| mlp([1]*{longest}) | {longest - 1} | {kind} | {t.min:.3f} | "
                        f"{t.median:.3f} |")
    medians = [timings[f"chain mlp([1]*{n}) notes"].median for n in chains]
    k = harness.fitted_exponent(list(chains), medians)
    targets = [harness.target_line(
        k <= CHAIN_EXPONENT_LIMIT if len(chains) >= 3 else None,
        f"chain notes linear in n = {chains[0]}…{longest}: exponent {k:.2f} ≤ "
        f"{CHAIN_EXPONENT_LIMIT:g}")]
    for label in CHAIN_KINDS:
        t = timings[f"chain mlp([1]*{longest}) {label}"].median
        targets.append(harness.target_line(
            t < CHAIN_LIMIT_S if longest > 1000 else None,
            f"chain of {longest - 1} weights, {label} < {CHAIN_LIMIT_S:g} s: {t:.2f} s median"))
    return rows, targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 2 rounds")
    args = parser.parse_args(argv)
    print(f"### Notes time against size ({harness.blas_report()})\n")
    print(report(args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Every command at every documented maximum (issue 21): a spec at each limit of
docs/spec-format.md, run through each command as a fresh `python -m symbackprop` process.

Each cell is one run: the CPU time of its process (user + system, from getrusage of the
finished child, so the load of other processes does not count), its wall time beside, and how it
ended: `ok` (exit 0), `refused` (exit 2, one line naming the command's limit and the way out) or
`HANG` (killed by the guard). Nothing here may hang: a command answers at a limit or refuses it up
front, which is this section's target. tests/test_limits.py runs the same table in the slow set;
`make bench` prints it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402

GUARD = 600  # seconds: a hang guard, not a target

_DENSE = '{{ type = "dense", units = {units}, activation = "tanh" }}'


def _blocks(inputs: int, batch: int, units: list[int]) -> str:
    blocks = ", ".join(_DENSE.format(units=u) for u in units)
    return f'[network]\nkind = "blocks"\ninputs = {inputs}\nbatch = {batch}\nblocks = [{blocks}]\n'


def _nested(depth: int) -> str:
    inner = _DENSE.format(units=8)
    for _ in range(depth):
        inner = f'{{ type = "residual", blocks = [{inner}] }}'
    return inner


def _graph(parameters: int) -> str:
    """A chain z_k = z_{k-1} + w_k·x: 2·parameters + 3 names, near the 10 000-name limit."""
    nodes = ["{ name = \"z1\", expr = \"w1*x\" }"] + [
        f'{{ name = "z{k}", expr = "z{k - 1} + w{k}*x" }}' for k in range(2, parameters + 1)]
    names = ", ".join(f'"w{k}"' for k in range(1, parameters + 1))
    return ('[graph]\ninputs = ["x"]\ntargets = ["y"]\n'
            f"parameters = [{names}]\nnodes = [\n" + ",\n".join(nodes) + "\n]\n"
            f'loss = {{ name = "L", expr = "(y - z{parameters})^2 / 2" }}\n')


def _values(inputs: int, targets: int, weights: int) -> str:
    """[values] for a sequential MLP without biases, so that check and example run, not stop."""
    rows = [f"x{k} = {0.1 * (k % 7) - 0.3:.2f}" for k in range(1, inputs + 1)]
    rows += [f"y{k} = {1.0 if k == 1 else 0.0}" for k in range(1, targets + 1)]
    rows += [f"w{k} = {0.05 * (k % 11) - 0.25:.2f}" for k in range(1, weights + 1)]
    return "[values]\n" + "\n".join(rows) + "\n"


#: name -> (spec text, a parameter for --param, the limit it sits at)
LIMITS: dict[str, tuple[str, str, str]] = {
    "mlp-weights": ("[network]\nsizes = [300, 300, 33]\n", "w1", "99 900 of 100 000 weights"),
    "mlp-width": ("[network]\nsizes = [10000, 9, 1]\n", "w1", "10 000 units"),
    "mlp-depth": ("[network]\nsizes = [" + ", ".join(["2"] * 101) + "]\n" + _values(2, 2, 400),
                  "w1", "100 layers, with [values]"),
    "graph": (_graph(4998), "w1", "9 999 of 10 000 names"),
    "rnn": ('[network]\nkind = "rnn"\ninputs = 16\nhidden = 32\noutputs = 16\nsteps = 64\n',
            "U_11", "16 in, 32 hidden, 16 out, 64 steps"),
    "conv1d": ('[network]\nkind = "conv1d"\nlength = 256\nkernel = 16\nin_channels = 8\n'
               "out_channels = 3\noutputs = 16\n", "w_1,1,1", "92 544 of 100 000 products"),
    "conv2d": ('[network]\nkind = "conv2d"\nshape = [32, 32]\nkernel = [8, 8]\nin_channels = 2\n'
               "outputs = 16\n", "w_1,1,1", "80 000 products, 32×32, kernel 8×8"),
    "attention": ('[network]\nkind = "attention"\nkeys = 32\nd = 32\nd_v = 32\n'
                  "projections = true\nd_in = 32\n", "WQ_11", "32 keys, d = d_v = d_in = 32"),
    "blocks-wide": (_blocks(64, 1, [256, 256]), "W_11^[1]",
                    "81 920 of 100 000 weights and products"),
    "blocks-batch": (_blocks(64, 16, [64, 32]), "W_11^[1]",
                     "batch 16: 98 304 of 100 000 products"),
    "blocks-deep": ('[network]\nkind = "blocks"\ninputs = 8\nbatch = 16\nblocks = ['
                    + ", ".join([_nested(4)] * 32) + "]\n", "W_11^[1]",
                    "32 blocks, residuals 4 deep, batch 16"),
}

#: the commands the issue names, as arguments after the spec (--param's name filled in)
COMMANDS: list[tuple[str, ...]] = [
    ("notes",), ("grad",), ("grad", "--param", "{param}"), ("grad", "--form", "delta"),
    ("grad", "--code"), ("grad", "--matrix"), ("grad", "--latex"), ("check",), ("example",),
]
#: --quick (make bench's smoke test): one limit, two commands
QUICK = ("mlp-depth",)
QUICK_COMMANDS = [("grad", "--form", "delta"), ("check",)]


class Took(NamedTuple):
    """One run's CPU seconds (its process, user + system) and wall seconds."""

    cpu: float
    wall: float


def run(name: str, command: tuple[str, ...], folder: Path, guard: float = GUARD,
        ) -> tuple[Took, str, str]:
    """(time taken, outcome, stderr) of one command on the spec ``name``."""
    spec = folder / f"{name}.toml"
    if not spec.exists():
        spec.write_text(LIMITS[name][0], encoding="utf-8")
    args = [a.format(param=LIMITS[name][1]) for a in command]
    out = folder / f"{name}.out"
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    cpu, start = harness.children_cpu(), time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "symbackprop", args[0], str(spec), *args[1:],
                               "-o", str(out)], capture_output=True, text=True, timeout=guard,
                              env=env, check=False)
    except subprocess.TimeoutExpired:  # killed, and reaped: its CPU time counts as well
        return Took(harness.children_cpu() - cpu, time.perf_counter() - start), "HANG", ""
    took = Took(harness.children_cpu() - cpu, time.perf_counter() - start)
    outcome = {0: "ok", 2: "refused"}.get(done.returncode, f"exit {done.returncode}")
    if outcome == "refused" and done.stderr.count("\n") != 1:
        outcome = "refused in more than one line"
    return took, outcome, done.stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one limit, two commands: a smoke test")
    parser.add_argument("names", nargs="*", choices=[[], *LIMITS], metavar="NAME",
                        help=f"only these specs: {', '.join(LIMITS)}")
    args = parser.parse_args(argv)
    # This script imports no numpy; the commands it runs inherit one thread per library through
    # the environment (tests/test_limits.py imports this module and runs unpinned, on purpose).
    harness.pin_threads()
    names = args.names or (QUICK if args.quick else tuple(LIMITS))
    commands = QUICK_COMMANDS if args.quick else COMMANDS
    heads = [" ".join(c).replace("{param}", "P") for c in commands]
    lines = ["## Every command at each documented limit (bench/bench_limits.py)", "",
             "One run of each command in a new `python -m symbackprop` process, threads pinned. "
             "Each cell: the CPU time of that process (user + system), its wall time in "
             "parentheses, and how it ended (ok; refused: exit 2 in one line; HANG: stopped at "
             f"{GUARD} s wall).", "",
             "| spec (limit) | " + " | ".join(heads) + " |", "|---|" + "---|" * len(commands)]
    outcomes: list[tuple[str, Took, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            cells = []
            for command in commands:
                took, outcome, _ = run(name, command, Path(tmp))
                cells.append(f"{took.cpu:.1f} s ({took.wall:.1f} s) {outcome}")
                outcomes.append((f"{name} {' '.join(command)}", took, outcome))
                print(f"[bench_limits] {name} {' '.join(command)}: {cells[-1]}", file=sys.stderr)
            lines.append(f"| {name} ({LIMITS[name][2]}) | " + " | ".join(cells) + " |")
    print("\n".join([*lines, "", *targets(outcomes)]))
    return 0


def targets(outcomes: list[tuple[str, Took, str]]) -> list[str]:
    """Issue 21's target: every command answers at every limit or refuses it in one line."""
    bad = [f"{what}: {outcome}" for what, _, outcome in outcomes if outcome not in ("ok", "refused")]
    answered = sum(outcome == "ok" for _, _, outcome in outcomes)
    slowest = max(outcomes, key=lambda o: o[1].cpu)
    return [harness.target_line(not bad, f"every command at every documented limit answers or "
                                         f"refuses in one line: {len(outcomes) - len(bad)} of "
                                         f"{len(outcomes)} runs ({answered} answered)"
                                         + (f"; not: {', '.join(bad)}" if bad else "")),
            f"\nThe slowest run: {slowest[0]}, {slowest[1].cpu:.1f} s CPU ({slowest[1].wall:.1f} s "
            "wall, one run)."]


if __name__ == "__main__":
    sys.exit(main())

"""Symbolic targets (issues 15 and 23) and the scalar evaluator against hand-written numpy.

    python bench/bench_symbolic.py            # the rows of `make bench`'s symbolic section
    python bench/bench_symbolic.py --quick    # tiny sizes, 2 rounds: a smoke test of the script

Symbolic rows, each a fresh network per call (CPU time, threads pinned, rounds interleaved with
the start rotated, min and median; one untimed call of each first):
  - 128-128-128-1 graph build + sb.derive + every gradient in δ form (target < 2 s);
  - derive + every gradient in δ form of the same net, the build not counted (target < 2 s);
  - every ``d.delta(node).value`` of a 128-128-128-1 net, build and derive not counted (< 2 s);
  - derive + the scalar evaluator, MLPs of up to 50 nodes (worst; < 0.5 s);
  - general graphs of 10–12 nodes (random, seeded): derive + evaluator, every
    ``gradient(p, form="intermediate")`` and every ``delta(n).value`` (worst graph; < 0.5 s).

The scalar evaluator (``sb.derive(net).evaluator``) at 64-64-64-1, batch 4096, against
bench/handwritten.py's ``backprop(X, Y, W, b)`` (loss and mean gradients; the plain sigmoid):
  - ``evaluate(values, batch_mean=True)``: every node and δ per sample and every gradient's
    mean over the batch, by name, from 8 450 named values (target ≤ 3× hand-written, median);
  - ``{k: np.mean(v) for k, v in evaluate(values).gradients.items()}``: the per-sample
    gradients averaged by the caller, as bench.py's section b times it (shown, no target).
Both are checked equal to the hand-written gradients before any timing.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import harness  # noqa: E402

harness.pin_threads()  # before numpy (through symbackprop) reads its thread count

import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402
from handwritten import backprop  # noqa: E402

import symbackprop as sb  # noqa: E402


def general_graph(seed: int, n_nodes: int) -> sb.Graph:
    """A random general graph: each node a function of a few earlier symbols (seeded)."""
    rng = random.Random(seed)
    g = sb.Graph()
    symbols = [g.input("x1"), g.input("x2")]
    params = [g.parameter(f"w{k}") for k in range(1, 5)]
    y = g.target("y")
    pool = symbols + params
    unary = [sb.sigmoid, sp.tanh, sb.softplus, lambda e: e**2, sp.exp]
    for k in range(1, n_nodes):
        a, b, c = rng.sample(pool, 3)
        shape = rng.randrange(4)
        if shape == 0:
            expr = rng.choice(unary)(a * b + c)
        elif shape == 1:
            expr = a * rng.choice(unary)(b) + c
        elif shape == 2:
            expr = a / (1 + b**2) + rng.choice(params) * c
        else:
            expr = rng.choice(unary)(a) * rng.choice(unary)(b - c)
        pool.append(g.node(f"v{k}", expr))
    g.loss("L", (y - pool[-1]) ** 2 + (pool[-2] - pool[-3]) ** 2 / 2)
    return g


def _cpu(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def symbolic_jobs(quick: bool) -> list[tuple[str, object, float]]:
    """(label, job, target in CPU seconds); each job returns the CPU seconds of what it times."""
    wide = [8, 8, 8, 1] if quick else [128, 128, 128, 1]
    name = "-".join(map(str, wide))

    def build_derive_all():
        start = time.process_time()
        net = sb.mlp(wide, activation="sigmoid", loss="mse", bias=True)
        d = sb.derive(net)
        for p in net.parameters:
            d.gradient(p, form="delta")
        return time.process_time() - start

    def derive_all():
        net = sb.mlp(wide, activation="sigmoid", loss="mse", bias=True)
        start = time.process_time()
        d = sb.derive(net)
        for p in net.parameters:
            d.gradient(p, form="delta")
        return time.process_time() - start

    def every_delta():
        d = sb.derive(sb.mlp(wide))  # a fresh derivation: nothing cached from a past round
        return _cpu(lambda: [d.delta(v).value for v in d.graph.nodes])

    def small_evaluators():
        nets = [sb.mlp(s, activation="tanh") for s in ([4, 8, 8, 1], [3, 5, 5, 5, 1],
                                                       [2, 6, 6, 6, 1])]
        return max(_cpu(lambda net=net: sb.derive(net).evaluator) for net in nets)

    graphs = [(1, 10), (2, 11), (3, 12), (4, 12), (5, 10), (6, 11)]
    graphs = graphs[:2] if quick else graphs

    def general(kind):
        def job():
            worst = 0.0
            for seed, n in graphs:
                g = general_graph(seed, n)
                if kind == "evaluator":
                    worst = max(worst, _cpu(lambda g=g: sb.derive(g).evaluator))
                    continue
                d = sb.derive(g)
                if kind == "intermediate":
                    t = _cpu(lambda d=d: [d.gradient(p, form="intermediate")
                                          for p in d.graph.parameters])
                else:
                    t = _cpu(lambda d=d: [d.delta(v).value for v in d.graph.nodes])
                worst = max(worst, t)
            return worst
        return job

    return [
        (f"{name} graph build + derive + every δ form (bias)", build_derive_all, 2.0),
        (f"derive + every δ-form gradient, {name} (bias; build not counted)", derive_all, 2.0),
        (f"every d.delta(node).value of {name}", every_delta, 2.0),
        ("derive + scalar evaluator, MLPs of up to 50 nodes (worst)", small_evaluators, 0.5),
        ("derive + scalar evaluator, general graphs of 10–12 nodes (worst)",
         general("evaluator"), 0.5),
        ("every gradient(p, form='intermediate'), general 10–12 nodes (worst)",
         general("intermediate"), 0.5),
        ("every delta(n).value, general 10–12 nodes (worst)", general("delta"), 0.5),
    ]


def interleaved_own(jobs, rounds: int) -> dict[str, harness.Timing]:
    """harness.interleaved for jobs that time their own part (setup excluded): one untimed
    call each, then every job once per round, the order rotated by one each round."""
    names = [label for label, _, _ in jobs]
    by_name = {label: job for label, job, _ in jobs}
    for label in names:
        by_name[label]()
    timings = {label: harness.Timing() for label in names}
    for round_number in range(rounds):
        for label in harness.rotated(names, round_number):
            timings[label].samples.append(by_name[label]())
    return timings


# -- the scalar evaluator against hand-written numpy --------------------------------------------
def problem(sizes: list[int], batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, 1 / np.sqrt(a), (b, a)) for a, b in zip(sizes, sizes[1:],
                                                                      strict=False)]
    biases = [rng.normal(0, 0.1, b) for b in sizes[1:]]
    X = rng.normal(size=(sizes[0], batch))
    Y = rng.uniform(size=(sizes[-1], batch))
    return X, Y, weights, biases


def by_name(net, weights, biases) -> dict:
    """Per-layer weight matrices and bias vectors by the engine's parameter names."""
    out = {}
    for l in range(1, net.depth + 1):  # noqa: E741
        for i in range(1, net.sizes[l - 1] + 1):
            for j in range(1, net.sizes[l] + 1):
                out[net.weight(l, i, j).name] = weights[l - 1][j - 1, i - 1]
        for j in range(1, net.sizes[l] + 1):
            out[net.bias(l, j).name] = biases[l - 1][j - 1]
    return out


def named_values(net, X, Y, weights, biases) -> dict:
    values = {x.name: X[i] for i, x in enumerate(net.inputs)}
    values.update({t.name: Y[j] for j, t in enumerate(net.targets)})
    values.update(by_name(net, weights, biases))
    return values


def hand_by_name(net, hand) -> dict[str, float]:
    """The hand-written mean gradients by the engine's parameter names."""
    _, dW, db = hand
    return by_name(net, dW, db)


def scalar_against_hand(quick: bool, rounds: int):
    sizes, batch = ([8, 8, 8, 1], 64) if quick else ([64, 64, 64, 1], 4096)
    net = sb.mlp(sizes, activation="sigmoid", loss="mse", bias=True)
    build = _cpu(lambda: sb.derive(net).evaluator)
    ev = sb.derive(net).evaluator
    X, Y, W, B = problem(sizes, batch)
    values = named_values(net, X, Y, W, B)

    def hand():
        return backprop(X, Y, W, B)

    def scalar_mean():
        return ev.evaluate(values, batch_mean=True)

    def scalar_per_sample():
        return {k: np.mean(v) for k, v in ev.evaluate(values).gradients.items()}

    want = hand_by_name(net, hand())
    harness.same_answers(want, scalar_mean().gradients, rtol=1e-9, atol=1e-13,
                         who="scalar batch_mean")
    harness.same_answers(want, scalar_per_sample(), rtol=1e-9, atol=1e-13,
                         who="scalar per sample")
    assert abs(scalar_mean().loss - hand()[0]) <= 1e-10 * max(1.0, abs(hand()[0]))
    # The target first, in a process that has not yet made per-sample gradient arrays (their
    # hundreds of MB change what every later allocation costs, the hand-written code's too).
    target = harness.interleaved({"hand": hand, "mean": scalar_mean}, rounds=rounds)
    side = harness.interleaved({"hand": hand, "per sample": scalar_per_sample}, rounds=rounds)
    case = f"{'-'.join(map(str, sizes))}, batch {batch}"
    return case, build, ev.groups, target, side


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    rounds = 2 if args.quick else args.rounds
    load = os.getloadavg()[0]
    jobs = symbolic_jobs(args.quick)
    timings = interleaved_own(jobs, rounds)
    case, build, groups, target, side = scalar_against_hand(args.quick, 2 if args.quick else 7)
    load = max(load, os.getloadavg()[0])

    print(f"Symbolic targets and the scalar evaluator: CPU time, threads pinned, {rounds} "
          f"interleaved rounds (start rotated) after one untimed call; load average up to "
          f"{load:.2f} on {os.cpu_count()} cores; {harness.blas_report()}.")
    print()
    print("| symbolic | CPU min | CPU median | target (median) |")
    print("|---|---|---|---|")
    for label, _, limit in jobs:
        t = timings[label]
        print(f"| {label} | {t.min:.3f} s | {t.median:.3f} s | < {limit:g} s |")
    print()
    ratio = target["mean"].median / target["hand"].median
    side_ratio = side["per sample"].median / side["hand"].median
    print(f"Scalar evaluator at {case} ({groups} stacked groups; built in {build:.2f} s CPU), "
          "against bench/handwritten.py's backprop (loss and mean gradients):")
    print()
    print("| method | CPU min | CPU median | / hand-written (median) |")
    print("|---|---|---|---|")
    rows = [("hand-written numpy backprop", target["hand"], 1.0),
            ("scalar evaluate(values, batch_mean=True)", target["mean"], ratio),
            ("hand-written numpy backprop (again, beside the next row)", side["hand"], 1.0),
            ("scalar evaluate(values), then np.mean of each gradient", side["per sample"],
             side_ratio)]
    for label, t, r in rows:
        print(f"| {label} | {t.min * 1e3:.2f} ms | {t.median * 1e3:.2f} ms | {r:.2f} |")
    print()
    for label, _, limit in jobs:
        t = timings[label]
        print(harness.target_line(t.median < limit, f"{label}: {t.median:.2f} s CPU (median; "
                                  f"min {t.min:.2f} s) (target < {limit:g} s)"))
    print(harness.target_line(ratio <= 3.0, f"scalar evaluator / hand-written numpy at {case}: "
                              f"{ratio:.2f} (median; batch_mean=True, every gradient's batch "
                              f"mean by name) (target ≤ 3)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

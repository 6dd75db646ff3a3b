"""Symbolic targets of issue 15, timed as min and spread over interleaved rounds.

    python bench/bench_symbolic.py            # the rows of `make bench`'s symbolic table
    python bench/bench_symbolic.py --quick    # tiny sizes, a smoke test of the script

Rows:
  - every ``d.delta(node)`` of a 128-128-128-1 net (target < 2 s);
  - derive + every gradient in δ form, 128-128-128-1 (target < 2 s);
  - derive + the scalar evaluator, for MLPs of up to 50 nodes (target < 0.5 s, worst);
  - general graphs of 10–12 nodes (random, seeded): derive + evaluator, every
    ``gradient(p, form="intermediate")`` and every ``delta(n).value`` (worst graph).

Each round builds fresh objects (nothing is cached between rounds) and times every row once in
turn, so a burst of load from other processes hits all rows alike. Wall time is reported with
the CPU time of the same run beside it: on a loaded machine the CPU time is the steadier figure.
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

import sympy as sp  # noqa: E402

import symbackprop as sb  # noqa: E402


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


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


def rows(quick: bool) -> list[tuple[str, object, float]]:
    """(label, job, target in seconds) of every row."""
    wide = [8, 8, 8, 1] if quick else [128, 128, 128, 1]
    name = "-".join(map(str, wide))

    def every_delta():
        d = sb.derive(sb.mlp(wide))  # a fresh derivation: nothing cached from a past round
        start = time.perf_counter(), time.process_time()
        for v in d.graph.nodes:
            _ = d.delta(v).value
        return time.perf_counter() - start[0], time.process_time() - start[1]

    def derive_all():
        net = sb.mlp(wide, activation="sigmoid", loss="mse", bias=True)
        start = time.perf_counter(), time.process_time()
        d = sb.derive(net)
        for p in net.parameters:
            d.gradient(p, form="delta")
        return time.perf_counter() - start[0], time.process_time() - start[1]

    def small_evaluators():
        worst = (0.0, 0.0)
        for sizes in ([4, 8, 8, 1], [3, 5, 5, 5, 1], [2, 6, 6, 6, 1]):
            net = sb.mlp(sizes, activation="tanh")
            worst = max(worst, _timed(lambda net=net: sb.derive(net).evaluator))
        return worst

    graphs = [(s, n) for s, n in ((1, 10), (2, 11), (3, 12), (4, 12), (5, 10), (6, 11))]
    graphs = graphs[:2] if quick else graphs

    def general(kind):
        def job():
            worst = (0.0, 0.0)
            for seed, n in graphs:
                g = general_graph(seed, n)
                if kind == "evaluator":
                    t = _timed(lambda g=g: sb.derive(g).evaluator)
                else:
                    d = sb.derive(g)
                    if kind == "intermediate":
                        t = _timed(lambda d=d: [d.gradient(p, form="intermediate")
                                                for p in d.graph.parameters])
                    else:
                        t = _timed(lambda d=d: [d.delta(v).value for v in d.graph.nodes])
                worst = max(worst, t)
            return worst
        return job

    def own(job):  # a job timing itself returns (wall, cpu); others are timed whole
        def run():
            out = job()
            return out if isinstance(out, tuple) else None
        return run

    return [
        (f"every d.delta(node).value of {name}", own(every_delta), 2.0),
        (f"derive + every δ-form gradient, {name} (bias)", own(derive_all), 2.0),
        ("derive + scalar evaluator, MLPs of up to 50 nodes (worst)", own(small_evaluators), 0.5),
        ("derive + scalar evaluator, general graphs of 10–12 nodes (worst)",
         own(general("evaluator")), 0.5),
        ("every gradient(p, form='intermediate'), general 10–12 nodes (worst)",
         own(general("intermediate")), 0.5),
        ("every delta(n).value, general 10–12 nodes (worst)", own(general("delta")), 0.5),
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    table = rows(args.quick)
    rounds = 1 if args.quick else args.rounds
    walls: dict[str, list[float]] = {label: [] for label, _, _ in table}
    cpus: dict[str, list[float]] = {label: [] for label, _, _ in table}
    load = os.getloadavg()[0]
    for _ in range(rounds):
        for label, job, _ in table:
            wall, cpu = time.perf_counter(), time.process_time()
            own = job()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if isinstance(own, tuple):
                wall, cpu = own
            walls[label].append(wall)
            cpus[label].append(cpu)
    load = max(load, os.getloadavg()[0])
    print(f"load average up to {load:.2f} on {os.cpu_count()} cores; {rounds} interleaved "
          "rounds; min over rounds (spread = (max − min)/min); CPU time of the min round")
    print()
    print("| symbolic | wall (min) | spread | CPU | target |")
    print("|---|---|---|---|---|")
    for label, _, target in table:
        w = walls[label]
        best = min(range(len(w)), key=w.__getitem__)
        spread = (max(w) - w[best]) / w[best] if w[best] else 0.0
        verdict = "met" if w[best] < target else ("met in CPU time" if cpus[label][best] < target
                                                    else "NOT MET")
        print(f"| {label} | {w[best]:.3f} s | {spread:.0%} | {cpus[label][best]:.3f} s "
              f"| < {target:g} s: {verdict} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The MLP evaluator against its peers, cell by cell (issue 23, item 2).

    python bench/compare.py            # both nets x 6 batches x float64/float32, three runs
    python bench/compare.py --quick    # tiny sizes, 2 rounds, one run: a smoke test

Cells: 64-64-64-1 (sigmoid, mse, biases) and 784-256-10 (sigmoid hidden layer, softmax +
cross-entropy, biases) at batch 1, 16, 64, 256, 1024 and 4096, in float64 and float32. The
engine is ``sb.matrix_form(net).evaluator()`` called with the user's numpy arrays (backend
"auto": the arrays' own library, numpy's code). Its peers: hand-written numpy backprop
(bench/handwritten.py, the plain sigmoid), torch eager autograd and
``jax.jit(jax.value_and_grad(...))``, each given the same numbers in its own arrays.

The discipline is bench/harness.py's: threads pinned before numpy is imported, CPU time,
every contender's loss and gradients checked against the float64 hand-written backprop
before any timing, then 7 interleaved rounds (start rotated) per cell; three runs, each a
fresh interleaving over all cells. A cell's statistic is the median of the three runs'
medians ("mom"); it passes when the engine's mom is within 1.1x the fastest peer's. The
minimum over all rounds is shown beside it.

The engine's matrix products alone (W A, Wᵀ δ and δ Aᵀ per layer: the same shapes, dtype and
layout, into kept arrays as the engine's are; bench/blas_products.py) are timed in every cell's
rounds three times over: in numpy, in torch (torch.matmul into kept tensors, on its MKL) and in
one jax.jit'd program. A cell over 1.1x is a LIMIT, not a MISS, only where the engine with its
numpy products' time replaced by the faster peer library's time for the same products would be
within 1.1x of the fastest peer: (engine − numpy products + peer products) ≤ 1.1 × peer, every
term a mom of the same rounds. numpy's BLAS is then the whole miss, and the cell's row and target
line print the engine's ratio, both product times and the BLAS by name (numpy's with its OpenBLAS
kernel). Where numpy's OpenBLAS chose an AVX-512 kernel (it picks SkylakeX on AMD's Zen 4, where
its float32 GEMM is slow), the cells over 1.1x are measured again the same way, engine and peers,
in a child process whose OpenBLAS runs the AVX2 kernel made for the CPU's vendor
(OPENBLAS_CORETYPE=Zen or Haswell), the engine's code unchanged: a cell within 1.1x there is a
LIMIT too, its kernel the whole miss, and its line says so with both ratios. Otherwise the cell
is a MISS. Where the engine misses, a second table lists the products in each library beside the
whole call.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import harness  # noqa: E402

harness.pin_threads()  # before numpy, torch or jax is imported

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import numpy as np  # noqa: E402
from blas_products import (  # noqa: E402,F401
    AVX512_KERNELS,
    blas_names,
    cpu_kernel,
    gemm_shapes,
    library_products,
    openblas_kernel,
)
from handwritten import backprop, backprop_softmax  # noqa: E402

import symbackprop as sb  # noqa: E402

TARGET = 1.1
NETS = {"64-64-64-1": ([64, 64, 64, 1], False), "784-256-10": ([784, 256, 10], True)}
BATCHES = (1, 16, 64, 256, 1024, 4096)
DTYPES = ("float64", "float32")
ENGINE = "engine"
PEERS = ("hand numpy", "torch eager", "jax.jit")
FORWARD = "engine forward"
PRODUCTS = "products in "  # + a library: the engine's matrix products alone, in that library
PEER_LIBRARIES = ("torch", "jax")


def problem(sizes, batch, softmax, seed=0):
    """X (n_0, m), Y (n_L, m: one-hot for softmax), weights and biases, in float64."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(sizes[0], batch))
    Y = (np.eye(sizes[-1])[:, rng.integers(sizes[-1], size=batch)] if softmax
         else rng.uniform(size=(sizes[-1], batch)))
    W = [rng.normal(scale=1 / np.sqrt(a), size=(b, a)) for a, b in zip(sizes, sizes[1:], strict=False)]
    B = [rng.normal(scale=0.1, size=b) for b in sizes[1:]]
    return X, Y, W, B


def _answers(loss, dW, db) -> dict:
    out = {"loss": np.asarray(loss)}
    out.update({f"dW{k}": np.asarray(g) for k, g in enumerate(dW, 1)})
    out.update({f"db{k}": np.asarray(g).reshape(-1) for k, g in enumerate(db, 1)})
    return out


def _torch_peer(softmax):
    import torch

    torch.set_num_threads(1)

    def run(X, Y, W, B):
        ws = [w.detach().requires_grad_() for w in W]
        bs = [b.detach().requires_grad_() for b in B]
        a = X
        for k, (w, b) in enumerate(zip(ws, bs, strict=True)):
            z = w @ a + b[:, None]
            a = z if softmax and k == len(ws) - 1 else torch.sigmoid(z)
        loss = (-(Y * torch.log_softmax(a, 0)).sum() / X.shape[1] if softmax
                else ((Y - a) ** 2).mean())
        grads = torch.autograd.grad(loss, ws + bs)
        return loss.detach(), grads[:len(ws)], grads[len(ws):]

    return run, torch.from_numpy


def _jax_peer(softmax):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)  # float64 where given float64; float32 stays

    def loss(W, B, X, Y):
        a = X
        for k, (w, b) in enumerate(zip(W, B, strict=True)):
            z = w @ a + b[:, None]
            a = z if softmax and k == len(W) - 1 else jax.nn.sigmoid(z)
        if softmax:
            return -(Y * jax.nn.log_softmax(a, 0)).sum() / X.shape[1]
        return ((Y - a) ** 2).mean()

    value_and_grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))

    def run(X, Y, W, B):
        value, (dW, db) = jax.block_until_ready(value_and_grad(W, B, X, Y))
        return value, dW, db

    return run, jnp.asarray


def contenders(sizes, softmax):
    """name -> (run(X, Y, W, B) -> (loss, dW, db), convert(numpy array) -> the library's)."""
    activations = ["sigmoid"] * (len(sizes) - 2) + ["softmax" if softmax else "sigmoid"]
    form = sb.matrix_form(sizes, activations, "cross_entropy" if softmax else "mse", bias=True,
                          reduction="mean")
    engine = form.evaluator()  # backend "auto": numpy's code for numpy arrays

    def run_engine(X, Y, W, B):
        out = engine(X, Y, W, B)
        return out.loss, out.weight_gradients, out.bias_gradients

    hand = backprop_softmax if softmax else backprop
    out = {ENGINE: (run_engine, np.asarray), "hand numpy": (hand, np.asarray)}
    if importlib.util.find_spec("torch") is not None:
        out["torch eager"] = _torch_peer(softmax)
    if importlib.util.find_spec("jax") is not None:
        out["jax.jit"] = _jax_peer(softmax)
    return out, engine


@dataclass
class Cell:
    net: str
    batch: int
    dtype: str
    medians: dict = field(default_factory=dict)  # name -> [median of each run]
    minima: dict = field(default_factory=dict)   # name -> [min of each run]
    forward: list = field(default_factory=list)  # the engine's forward-only medians
    products: dict = field(default_factory=dict)  # library -> its products' medians, alone
    tuned: float | None = None  # engine / fastest peer, numpy's OpenBLAS on this CPU's kernel

    def mom(self, name) -> float:
        return statistics.median(self.medians[name])

    def fastest_peer(self) -> str | None:
        peers = [p for p in PEERS if p in self.medians]
        return min(peers, key=self.mom) if peers else None

    def ratio(self) -> float | None:
        peer = self.fastest_peer()
        return None if peer is None else self.mom(ENGINE) / self.mom(peer)

    def products_mom(self, library: str) -> float:
        return statistics.median(self.products[library])

    def peer_library(self) -> str | None:
        """Of the peers' libraries (torch, jax), the one whose products are the faster here."""
        libraries = [name for name in PEER_LIBRARIES if name in self.products]
        return min(libraries, key=self.products_mom) if libraries else None

    def swapped_ratio(self) -> float | None:
        """The engine with its numpy products' time replaced by the peer library's for the same
        products, over the fastest peer: what the engine would be on that library's BLAS."""
        peer, library = self.fastest_peer(), self.peer_library()
        if peer is None or library is None:
            return None
        return (self.mom(ENGINE) - self.products_mom("numpy")
                + self.products_mom(library)) / self.mom(peer)

    def verdict(self) -> bool | str | None:
        """PASS (True), LIMIT or MISS (False) by harness.against_limit; None without a peer."""
        peer, library = self.fastest_peer(), self.peer_library()
        if peer is None:
            return None
        if library is None:  # no other library to measure the products in: no LIMIT to claim
            return self.ratio() <= TARGET
        return harness.against_limit(self.mom(ENGINE), self.mom(peer), self.products_mom("numpy"),
                                     self.products_mom(library), TARGET, self.tuned)


def prepare(net, batch, dtype):
    """The cell's calls, each checked against the float64 hand-written backprop first."""
    sizes, softmax = NETS[net]
    X, Y, W, B = problem(sizes, batch, softmax)
    reference = _answers(*(backprop_softmax if softmax else backprop)(X, Y, W, B))
    methods, engine = contenders(sizes, softmax)
    tolerance = dict(rtol=1e-9, atol=1e-12) if dtype == "float64" else dict(rtol=2e-3, atol=2e-5)
    calls = {}
    for name, (run, convert) in methods.items():
        args = [convert(a.astype(dtype)) for a in (X, Y)]
        ws, bs = [convert(w.astype(dtype)) for w in W], [convert(b.astype(dtype)) for b in B]
        got = _answers(*run(*args, ws, bs))
        for key in got:
            if key != "loss" and got[key].dtype != np.dtype(dtype):
                raise SystemExit(f"{name} at {net}, {batch}, {dtype}: {key} is {got[key].dtype}")
        harness.same_answers(reference, got, **tolerance, who=f"{name} at {net}, {batch}, {dtype}")
        calls[name] = (lambda run=run, a=args, w=ws, b=bs: run(*a, w, b))
    Xd, Yd = X.astype(dtype), Y.astype(dtype)
    Wd, Bd = [w.astype(dtype) for w in W], [b.astype(dtype) for b in B]

    def forward():
        return engine.loss(Xd, Yd, Wd, Bd)

    return calls, forward, library_products(sizes, batch, dtype)


def other_kernel_cells(keys, rounds, runs, min_time, quick=False) -> tuple[str, list]:
    """(the child's kernel report, [(key, engine mom, fastest peer's mom)]) of the cells ``keys``
    measured again, as the cells themselves are (``runs`` runs of ``rounds`` interleaved rounds,
    engine and peers), in a child process whose numpy runs OpenBLAS's kernel for this CPU's
    vendor (OPENBLAS_CORETYPE, read when OpenBLAS loads), where numpy's OpenBLAS chose an AVX-512
    one; ('', []) elsewhere or if the run fails. The engine's code is the same: what changes is
    only the kernel its BLAS runs."""
    try:
        kernel = cpu_kernel(Path("/proc/cpuinfo").read_text(encoding="utf-8"))
    except OSError:
        kernel = None
    if kernel is None or not any(name in openblas_kernel() for name in AVX512_KERNELS):
        return "", []
    command = [sys.executable, str(Path(__file__).resolve()), "--cells",
               *[":".join(map(str, key)) for key in keys], "--rounds", str(rounds),
               "--runs", str(runs), "--min-time", str(min_time), *(["--quick"] if quick else [])]
    run = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800,
                         env={**os.environ, "OPENBLAS_CORETYPE": kernel})
    lines = run.stdout.splitlines()
    if run.returncode != 0 or not lines or f"OPENBLAS_CORETYPE={kernel}" not in lines[-1]:
        return "", []
    cells = [line.split() for line in lines[:-1]]
    return lines[-1], [((net, int(batch), dtype), float(engine), float(peer))
                    for net, batch, dtype, engine, peer in cells]


def _cells_only(cells: list[str], rounds: int, runs: int, min_time: float) -> int:
    """Print each cell's engine and fastest-peer medians of the runs' medians (CPU seconds), then
    the OpenBLAS kernel."""
    for text in cells:
        net, batch, dtype = text.split(":")
        calls = prepare(net, int(batch), dtype)[0]
        medians: dict = {}
        for _ in range(runs):
            for name, t in harness.interleaved(calls, rounds=rounds, min_time=min_time).items():
                medians.setdefault(name, []).append(t.median)
        mom = {name: statistics.median(m) for name, m in medians.items()}
        print(net, batch, dtype, mom[ENGINE], min(mom[name] for name in PEERS if name in mom))
    print(openblas_kernel())
    return 0


def _x(ratio: float) -> str:
    """A ratio in two decimals, three where two would round it onto the target (1.104 → 1.10
    would read as within 1.1).

    >>> _x(1.104), _x(1.2), _x(1.1)
    ('1.104', '1.20', '1.10')
    """
    return f"{ratio:.3f}" if round(ratio, 2) == TARGET and ratio != TARGET else f"{ratio:.2f}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}" if seconds < 0.01 else f"{seconds * 1e3:.1f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, 2 rounds, one run")
    ap.add_argument("--rounds", type=int, default=harness.ROUNDS)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batches", type=int, nargs="*", default=list(BATCHES))
    ap.add_argument("--nets", nargs="*", choices=list(NETS), default=list(NETS))
    ap.add_argument("--cells", nargs="+", metavar="NET:BATCH:DTYPE",
                    help="time only these cells' engine and peers, once (e.g. 64-64-64-1:4096:float32)")
    ap.add_argument("--min-time", type=float, default=0.05)
    args = ap.parse_args(argv)
    for net in set(NETS) - set(args.nets):
        del NETS[net]
    if args.quick:
        NETS.update({"64-64-64-1": ([8, 8, 8, 1], False), "784-256-10": ([20, 12, 4], True)})
    if args.cells:
        return _cells_only(args.cells, args.rounds, args.runs, args.min_time)
    if args.quick:
        batches, rounds, runs, min_time = (16,), 2, 1, 0.002
    else:
        batches, rounds, runs, min_time = args.batches, args.rounds, args.runs, args.min_time
    keys = [(net, b, d) for net in NETS for d in DTYPES for b in batches]
    cells = {key: Cell(*key) for key in keys}
    prepared = {key: prepare(*key) for key in keys}  # every answer checked before any timing
    for _ in range(runs):  # each run a fresh interleaving over every cell
        for key in keys:
            calls, forward, products = prepared[key]
            timings = harness.interleaved(
                {**calls, FORWARD: forward, **{PRODUCTS + lib: f for lib, f in products.items()}},
                rounds=rounds, min_time=min_time)
            cell = cells[key]
            for name, t in timings.items():
                if name == FORWARD:
                    cell.forward.append(t.median)
                elif name.startswith(PRODUCTS):
                    cell.products.setdefault(name[len(PRODUCTS):], []).append(t.median)
                else:
                    cell.medians.setdefault(name, []).append(t.median)
                    cell.minima.setdefault(name, []).append(t.min)

    missed = [key for key in keys if (cells[key].ratio() or 0) > TARGET]
    report, again = other_kernel_cells(missed, rounds, runs, min_time, args.quick) if missed \
        else ("", [])
    for key, engine, peer in again:
        cells[key].tuned = engine / peer
    names = [ENGINE, *[p for p in PEERS if p in cells[keys[0]].medians]]
    blas = blas_names()
    print(f"### The MLP evaluator against its peers ({'quick' if args.quick else 'full'} run)")
    print()
    print(f"CPU time per call in ms, one thread; {harness.blas_report()}"
          f"{'; ' + openblas_kernel() if openblas_kernel() else ''}. {runs} run(s) of "
          f"{rounds} interleaved rounds (start rotated); each entry is min / median of the runs' "
          f"medians (mom). Ratio: engine mom / fastest peer mom (target ≤ {TARGET}). Products: the "
          f"engine's matrix products alone (the same shapes, dtype and layout), timed in the same "
          f"rounds in numpy and in each peer's library (torch.matmul into kept tensors, one "
          f"jax.jit'd program; the faster of the two shown); swapped: the engine mom with its numpy "
          f"products' time replaced by that library's, over the fastest peer. A cell over {TARGET} "
          f"is a LIMIT where swapped is ≤ {TARGET}, or where the same cell measured again with "
          f"numpy's OpenBLAS on the kernel made for this CPU (below) is ≤ {TARGET}: numpy's BLAS is "
          f"then the whole miss. Else a MISS. "
          f"Load average at the end {os.getloadavg()[0]:.2f}.")
    print()
    print("| net | dtype | batch | " + " | ".join(f"{n} min / mom" for n in names)
          + " | fastest peer | ratio | numpy products | peer library products | swapped | verdict"
          " | grad / fwd |")
    print("|---|---|---|" + "---|" * (len(names) + 7))
    for key in keys:
        cell = cells[key]
        entries = [f"{_ms(min(cell.minima[n]))} / {_ms(cell.mom(n))}" for n in names]
        ratio, peer, library = cell.ratio(), cell.fastest_peer(), cell.peer_library()
        swapped = cell.swapped_ratio()
        grad_fwd = cell.mom(ENGINE) / statistics.median(cell.forward)
        print(f"| {cell.net} | {cell.dtype} | {cell.batch} | " + " | ".join(entries)
              + f" | {peer or '–'} | {'–' if ratio is None else _x(ratio)}"
              + f" | {_ms(cell.products_mom('numpy'))}"
              + f" | {'–' if library is None else f'{_ms(cell.products_mom(library))} ({library})'}"
              + f" | {'–' if swapped is None else f'{swapped:.2f}'} | {harness.verdict(cell.verdict())}"
              + f" | {grad_fwd:.2f} |")
    if missed:
        libraries = [lib for lib in ("numpy", *PEER_LIBRARIES) if lib in cells[missed[0]].products]
        print()
        print("Where the engine misses: its matrix products alone (mom, CPU ms; W A, Wᵀ δ and δ Aᵀ "
              "per layer, the same shapes) in each library, against its whole gradient call: "
              + "; ".join(f"{lib}: {blas[lib]}" for lib in libraries) + ".")
        print()
        print("| net | dtype | batch | engine | " + " | ".join(f"{lib} products" for lib in libraries)
              + " | engine − numpy products |")
        print("|---|---|---|---|" + "---|" * (len(libraries) + 1))
        for key in missed:
            cell = cells[key]
            print(f"| {cell.net} | {cell.dtype} | {cell.batch} | {_ms(cell.mom(ENGINE))} | "
                  + " | ".join(_ms(cell.products_mom(lib)) for lib in libraries)
                  + f" | {_ms(cell.mom(ENGINE) - cell.products_mom('numpy'))} |")
        if again:
            kernel = report.partition("OPENBLAS_CORETYPE=")[2].rstrip(")")
            print()
            print(f"The cells over {TARGET} measured again as above ({runs} run(s) of {rounds} "
                  f"interleaved rounds, engine and peers, median of the runs' medians), the "
                  f"engine's code unchanged, in a process started with OPENBLAS_CORETYPE={kernel} "
                  f"(numpy's OpenBLAS then runs its {report.partition(': ')[2].split()[0]} kernel "
                  f"set, made for this CPU's vendor): " + "; ".join(
                      f"with OpenBLAS's {kernel} kernel the engine is {_x(engine / peer)}× the "
                      f"fastest peer at {net} {dtype}, batch {batch}"
                      for (net, batch, dtype), engine, peer in again) + ".")
    print()
    for net in NETS:
        for dtype in DTYPES:
            group = [cells[k] for k in keys if k[0] == net and k[2] == dtype]
            ratios = [c.ratio() for c in group]
            if any(r is None for r in ratios):
                print(harness.target_line(None, f"{net} {dtype}: no peer installed"))
                continue
            worst = max(group, key=Cell.ratio)
            misses = [f"{c.batch} ({_x(c.ratio())})" for c in group if c.verdict() is False]
            limits = [f"{c.batch} ({_x(c.ratio())}; numpy's products {_ms(c.products_mom('numpy'))}"
                      f" ms on {blas['numpy']}, {c.peer_library()}'s "
                      f"{_ms(c.products_mom(c.peer_library()))} ms on {blas[c.peer_library()]}: "
                      f"{_x(c.swapped_ratio())} with those"
                      + (f"; {_x(c.tuned)} with OpenBLAS's kernel for this CPU" if c.tuned else "")
                      + ")"
                      for c in group if c.verdict() == harness.LIMIT]
            text = (f"{net} {dtype}: engine within {TARGET}× of the fastest peer at every batch "
                    f"(median of {runs} runs' medians; worst {_x(worst.ratio())} at {worst.batch})"
                    + (f"; over at {', '.join(misses)}" if misses else "")
                    + (f"; numpy's BLAS is the limit at {', '.join(limits)}" if limits else ""))
            print(harness.target_line(harness.worst_verdict([c.verdict() for c in group]), text))
    # issue 23's old section c: the sigmoid + mse net's gradient within 3x its forward pass
    # (784-256-10's batch-1 gradient adds a 256x784 outer product its forward pass has no
    # counterpart of; its ratio is in the table)
    mse_keys = [k for k in keys if not NETS[k[0]][1]]

    def grad_over_forward(key):
        return cells[key].mom(ENGINE) / statistics.median(cells[key].forward)

    worst = max(mse_keys, key=grad_over_forward)
    print(harness.target_line(grad_over_forward(worst) <= 3.0,
                              f"{worst[0]} engine gradient / forward-only ≤ 3 at every batch and "
                              f"dtype (worst {grad_over_forward(worst):.2f} at {worst[1]}, "
                              f"{worst[2]})"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

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

The engine's matrix products alone (W A, Wᵀ δ and δ Aᵀ per layer, the same numpy calls on the
same shapes and dtype, into kept arrays as the engine's are) are a contender of their own in
every cell's rounds. A cell the engine misses is a LIMIT, not a MISS, where those products'
mom alone is at least 1.1x the fastest peer's whole call: numpy's BLAS is then the measured
limit, and the table shows both figures. Where the engine misses, a second table times the same
products in numpy and in torch, so a miss can be read as BLAS time against elementwise time.
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
from handwritten import backprop, backprop_softmax  # noqa: E402

import symbackprop as sb  # noqa: E402

TARGET = 1.1
NETS = {"64-64-64-1": ([64, 64, 64, 1], False), "784-256-10": ([784, 256, 10], True)}
BATCHES = (1, 16, 64, 256, 1024, 4096)
DTYPES = ("float64", "float32")
ENGINE = "engine"
PEERS = ("hand numpy", "torch eager", "jax.jit")
FORWARD = "engine forward"
PRODUCTS = "engine products"  # the engine's matrix products alone: its BLAS floor


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
    products: list = field(default_factory=list)  # its matrix products' medians, alone

    def mom(self, name) -> float:
        return statistics.median(self.medians[name])

    def fastest_peer(self) -> str | None:
        peers = [p for p in PEERS if p in self.medians]
        return min(peers, key=self.mom) if peers else None

    def ratio(self) -> float | None:
        peer = self.fastest_peer()
        return None if peer is None else self.mom(ENGINE) / self.mom(peer)

    def products_ratio(self) -> float | None:
        """The engine's products alone (median of the runs' medians) over the fastest peer's."""
        peer = self.fastest_peer()
        return None if peer is None else statistics.median(self.products) / self.mom(peer)

    def verdict(self) -> bool | str | None:
        """PASS (True), LIMIT or MISS (False) by harness.against_limit; None without a peer."""
        ratio = self.ratio()
        return None if ratio is None else harness.against_limit(ratio, self.products_ratio(),
                                                                 TARGET)


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

    return calls, forward, engine_products(sizes, batch, dtype)


def gemm_shapes(sizes, batch):
    """The matrix products the engine's numpy code makes at this cell, as (kind, W or δ's
    shape, A or δ's shape): Z = W A per layer; δ Aᵀ per layer but at batch 1 (there an outer
    product without BLAS); Wᵀ δ below each layer of more than one unit (one unit is a
    broadcast)."""
    shapes = []
    for k in range(1, len(sizes)):
        shapes.append(("W A", (sizes[k], sizes[k - 1]), (sizes[k - 1], batch)))
        if batch > 1:
            shapes.append(("δ Aᵀ", (sizes[k], batch), (sizes[k - 1], batch)))
        if k > 1 and sizes[k] > 1:
            shapes.append(("Wᵀ δ", (sizes[k], sizes[k - 1]), (sizes[k], batch)))
    return shapes


def _kept_shape(kind, a, b):
    """The shape of the kept array a product writes into (None: a new array each call)."""
    return {"W A": (a[0], b[1]), "Wᵀ δ": (a[1], b[1])}.get(kind)


def _products(pairs, matmul, out):
    """The products of ``pairs`` as the engine calls them: W A and Wᵀ δ (a view of W) into
    ``out``'s kept arrays, δ Aᵀ a new array (a gradient the engine returns)."""
    def products():
        for (kind, a, b), kept in zip(pairs, out, strict=True):
            if kind == "W A":
                matmul(a, b, out=kept)
            elif kind == "Wᵀ δ":
                matmul(a.T, b, out=kept)
            else:
                a @ b.T
    return products


def engine_products(sizes, batch, dtype, seed=1):
    """One call of the engine's matrix products alone at this cell, in numpy: what the
    engine's whole call can be no faster than (its BLAS floor)."""
    rng = np.random.default_rng(seed)
    pairs = [(kind, rng.normal(size=a).astype(dtype), rng.normal(size=b).astype(dtype))
             for kind, a, b in gemm_shapes(sizes, batch)]
    out = [None if (shape := _kept_shape(kind, a.shape, b.shape)) is None
           else np.empty(shape, dtype) for kind, a, b in pairs]
    return _products(pairs, np.matmul, out)


def blas_only(sizes, batch, dtype, rounds):
    """Median CPU seconds of the cell's products alone: numpy's BLAS and torch's."""
    out = {"numpy": engine_products(sizes, batch, dtype)}
    if importlib.util.find_spec("torch") is not None:
        import torch

        rng = np.random.default_rng(1)
        pairs = [(kind, torch.from_numpy(rng.normal(size=a).astype(dtype)),
                  torch.from_numpy(rng.normal(size=b).astype(dtype)))
                 for kind, a, b in gemm_shapes(sizes, batch)]
        kept = [None if (shape := _kept_shape(kind, a.shape, b.shape)) is None
                else torch.empty(shape, dtype=a.dtype) for kind, a, b in pairs]
        out["torch"] = _products(pairs, torch.matmul, kept)
    timings = harness.interleaved(out, rounds=rounds)
    return {name: t.median for name, t in timings.items()}


def openblas_kernel() -> str:
    """The kernel set numpy's OpenBLAS chose for this CPU, as threadpoolctl reports it ('' where
    it cannot tell): OpenBLAS picks it once, at load, unless OPENBLAS_CORETYPE names one, and
    it decides how fast the products are (on this project's AMD EPYC, Zen 4, it picks SkylakeX,
    whose float32 GEMM measured 1.3x its own Haswell or Zen kernel's at 64 x 64 x 4096)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ""
    numpy_blas = [pool for pool in threadpool_info() if pool.get("internal_api") == "openblas"
                  and "numpy" in str(pool.get("filepath", ""))]
    if not numpy_blas:
        return ""
    chosen = numpy_blas[0].get("architecture") or "?"
    forced = os.environ.get("OPENBLAS_CORETYPE")
    return f"numpy's OpenBLAS kernel: {chosen}" + (f" (OPENBLAS_CORETYPE={forced})" if forced
                                                   else " (its own choice)")


#: OpenBLAS's AVX-512 kernel sets: a CPU that runs them runs its Haswell (AVX2 + FMA) set too
AVX512_KERNELS = ("SkylakeX", "Cooperlake", "SapphireRapids")
OTHER_KERNEL = "Haswell"


def other_kernel_products(sizes, batch, dtype, rounds) -> float | None:
    """Median CPU seconds of the same products in a process whose numpy runs OpenBLAS's Haswell
    kernel (OPENBLAS_CORETYPE, read when OpenBLAS loads), where numpy's OpenBLAS chose an
    AVX-512 one; None elsewhere (forcing an AVX2 kernel on an older CPU would crash it) or if
    the run fails. It says how much of a miss is OpenBLAS's choice of kernel for this CPU."""
    if not any(name in openblas_kernel() for name in AVX512_KERNELS):
        return None
    command = [sys.executable, str(Path(__file__).resolve()), "--products-only",
               ",".join(map(str, sizes)), str(batch), dtype, "--rounds", str(rounds)]
    run = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600,
                         env={**os.environ, "OPENBLAS_CORETYPE": OTHER_KERNEL})
    if run.returncode != 0 or OTHER_KERNEL not in run.stdout:
        return None
    return float(run.stdout.split()[0])


def _products_only(sizes: str, batch: int, dtype: str, rounds: int) -> int:
    """Print the median CPU seconds of the engine's products alone, then the OpenBLAS kernel."""
    products = engine_products([int(n) for n in sizes.split(",")], batch, dtype)
    timing = harness.interleaved({PRODUCTS: products}, rounds=rounds)[PRODUCTS]
    print(timing.median, openblas_kernel())
    return 0


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}" if seconds < 0.01 else f"{seconds * 1e3:.1f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, 2 rounds, one run")
    ap.add_argument("--rounds", type=int, default=harness.ROUNDS)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batches", type=int, nargs="*", default=list(BATCHES))
    ap.add_argument("--nets", nargs="*", choices=list(NETS), default=list(NETS))
    ap.add_argument("--products-only", nargs=3, metavar=("SIZES", "BATCH", "DTYPE"),
                    help="time only the engine's matrix products (e.g. 64,64,64,1 4096 float32)")
    args = ap.parse_args(argv)
    if args.products_only:
        sizes, batch, dtype = args.products_only
        return _products_only(sizes, int(batch), dtype, args.rounds)
    for net in set(NETS) - set(args.nets):
        del NETS[net]
    if args.quick:
        NETS.update({"64-64-64-1": ([8, 8, 8, 1], False), "784-256-10": ([20, 12, 4], True)})
        batches, rounds, runs, min_time = (16,), 2, 1, 0.002
    else:
        batches, rounds, runs, min_time = args.batches, args.rounds, args.runs, 0.05
    keys = [(net, b, d) for net in NETS for d in DTYPES for b in batches]
    cells = {key: Cell(*key) for key in keys}
    prepared = {key: prepare(*key) for key in keys}  # every answer checked before any timing
    for _ in range(runs):  # each run a fresh interleaving over every cell
        for key in keys:
            calls, forward, products = prepared[key]
            timings = harness.interleaved({**calls, FORWARD: forward, PRODUCTS: products},
                                          rounds=rounds, min_time=min_time)
            cell = cells[key]
            for name, t in timings.items():
                if name in (FORWARD, PRODUCTS):
                    (cell.forward if name == FORWARD else cell.products).append(t.median)
                    continue
                cell.medians.setdefault(name, []).append(t.median)
                cell.minima.setdefault(name, []).append(t.min)

    names = [ENGINE, *[p for p in PEERS if p in cells[keys[0]].medians]]
    print(f"### The MLP evaluator against its peers ({'quick' if args.quick else 'full'} run)")
    print()
    kernel = openblas_kernel()
    print(f"CPU time per call in ms, one thread; {harness.blas_report()}"
          f"{'; ' + kernel if kernel else ''}. {runs} run(s) of "
          f"{rounds} interleaved rounds (start rotated); each entry is min / median of the runs' "
          f"medians (mom). Ratio: engine mom / fastest peer mom (target ≤ {TARGET}). Products: the "
          f"engine's matrix products alone, timed in the same rounds (mom), and their ratio to the "
          f"fastest peer's whole call; a cell over {TARGET} is a LIMIT where that ratio is ≥ "
          f"{TARGET} too, else a MISS. Load average at the end {os.getloadavg()[0]:.2f}.")
    print()
    print("| net | dtype | batch | " + " | ".join(f"{n} min / mom" for n in names)
          + " | fastest peer | ratio | products mom | products / peer | verdict | grad / fwd |")
    print("|---|---|---|" + "---|" * (len(names) + 6))
    for key in keys:
        cell = cells[key]
        entries = [f"{_ms(min(cell.minima[n]))} / {_ms(cell.mom(n))}" for n in names]
        ratio, peer = cell.ratio(), cell.fastest_peer()
        floor = cell.products_ratio()
        grad_fwd = cell.mom(ENGINE) / statistics.median(cell.forward)
        print(f"| {cell.net} | {cell.dtype} | {cell.batch} | " + " | ".join(entries)
              + f" | {peer or '–'} | {'–' if ratio is None else f'{ratio:.2f}'}"
              + f" | {_ms(statistics.median(cell.products))}"
              + f" | {'–' if floor is None else f'{floor:.2f}'} | {harness.verdict(cell.verdict())}"
              + f" | {grad_fwd:.2f} |")
    missed = [key for key in keys if (cells[key].ratio() or 0) > TARGET]
    if missed:
        print()
        print("Where the engine misses: its matrix products alone (median CPU ms, the same shapes; "
              "W A, Wᵀ δ and δ Aᵀ per layer) against its whole gradient call; the last column "
              f"times numpy's in a process where OpenBLAS runs its {OTHER_KERNEL} kernel "
              "(OPENBLAS_CORETYPE), measured only where it chose an AVX-512 one.")
        print()
        print("| net | dtype | batch | engine | numpy BLAS | torch BLAS | engine − numpy BLAS | "
              f"numpy BLAS, {OTHER_KERNEL} kernel |")
        print("|---|---|---|---|---|---|---|---|")
        for key in missed:
            net, batch, dtype = key
            blas = blas_only(NETS[net][0], batch, dtype, rounds)
            other = other_kernel_products(NETS[net][0], batch, dtype, rounds)
            engine = cells[key].mom(ENGINE)
            torch_blas = _ms(blas["torch"]) if "torch" in blas else "–"
            print(f"| {net} | {dtype} | {batch} | {_ms(engine)} | {_ms(blas['numpy'])} | "
                  f"{torch_blas} | {_ms(engine - blas['numpy'])} | "
                  f"{'–' if other is None else _ms(other)} |")
    print()
    for net in NETS:
        for dtype in DTYPES:
            group = [cells[k] for k in keys if k[0] == net and k[2] == dtype]
            ratios = [c.ratio() for c in group]
            if any(r is None for r in ratios):
                print(harness.target_line(None, f"{net} {dtype}: no peer installed"))
                continue
            worst = max(group, key=Cell.ratio)
            misses = [f"{c.batch} ({c.ratio():.2f})" for c in group if c.verdict() is False]
            limits = [f"{c.batch} ({c.ratio():.2f}; its products alone "
                      f"{_ms(statistics.median(c.products))} ms, {c.products_ratio():.2f}× the "
                      f"{c.fastest_peer()}'s whole {_ms(c.mom(c.fastest_peer()))} ms)"
                      for c in group if c.verdict() == harness.LIMIT]
            text = (f"{net} {dtype}: engine within {TARGET}× of the fastest peer at every batch "
                    f"(median of {runs} runs' medians; worst {worst.ratio():.2f} at {worst.batch})"
                    + (f"; over at {', '.join(misses)}" if misses else "")
                    + (f"; at numpy's BLAS limit at {', '.join(limits)}" if limits else ""))
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

"""Side-by-side gradient timings, interleaved, one thread, float64: the engine against its peers.

    python bench/compare.py            # the nets of issue 15 at batch 1 to 4096
    python bench/compare.py --quick    # one small case, a smoke test of the script

Methodology (a loaded 2-core machine gave impossible figures when methods ran one after
another): every method is pinned to one thread (BLAS, torch, XLA), the methods are timed in
rounds, each round timing every method once in turn (so a burst of load hits all of them), and
each cell reports the minimum over rounds and the spread (max − min)/min. Times are CPU time of
this process (time.process_time), not wall time: on a shared machine wall time also counts the
time other processes held the core, which made one method's figures vary up to 5× from round to
round; with every library pinned to one thread, CPU time is the time the work takes. Gradients are checked
equal to the hand-written numpy backprop before anything is timed. Ratios are to that backprop.

The symbolic targets (every δ of a 128-128-128-1 net, evaluator construction) are timed by
bench/bench_symbolic.py.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: its BLAS reads these once
os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from handwritten import backprop  # noqa: E402

import symbackprop as sb  # noqa: E402


def _problem(sizes, batch, softmax, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(sizes[0], batch))
    if softmax:
        Y = np.eye(sizes[-1])[:, rng.integers(sizes[-1], size=batch)]
    else:
        Y = rng.uniform(size=(sizes[-1], batch))
    W = [rng.normal(scale=1 / np.sqrt(a), size=(b, a)) for a, b in zip(sizes, sizes[1:], strict=False)]
    B = [rng.normal(scale=0.1, size=b) for b in sizes[1:]]
    return X, Y, W, B


def _expit_backprop():
    if importlib.util.find_spec("scipy") is None:
        return None
    from scipy.special import expit

    def run(X, Y, W, B):
        acts = [X]
        for w, c in zip(W, B, strict=True):
            acts.append(expit(w @ acts[-1] + c[:, None]))
        out = acts[-1]
        delta = (2.0 / Y.size) * (out - Y) * out * (1.0 - out)
        dW = []
        for k in range(len(W) - 1, -1, -1):
            dW.append(delta @ acts[k].T)
            if k:
                a = acts[k]
                delta = (W[k].T @ delta) * a * (1.0 - a)
        return dW[::-1]

    return run


def _softmax_hand(X, Y, W, B):
    Z1 = W[0] @ X + B[0][:, None]
    A1 = 1 / (1 + np.exp(-Z1))
    Z2 = W[1] @ A1 + B[1][:, None]
    P = np.exp(Z2 - Z2.max(axis=0))
    P /= P.sum(axis=0)
    d2 = (P - Y) / X.shape[1]
    d1 = (W[1].T @ d2) * A1 * (1 - A1)
    return [d1 @ X.T, d2 @ A1.T]


def _torch_methods(sizes, softmax):
    if importlib.util.find_spec("torch") is None:
        return {}
    import torch

    torch.set_num_threads(1)

    def eager(X, Y, W, B):
        ws = [w.detach().requires_grad_() for w in W]
        a = X
        for k, (w, b) in enumerate(zip(ws, B, strict=True)):
            z = w @ a + b[:, None]
            a = z if softmax and k == len(ws) - 1 else torch.sigmoid(z)
        if softmax:
            loss = -(Y * torch.log_softmax(a, 0)).sum() / X.shape[1]
        else:
            loss = ((Y - a) ** 2).mean()
        return torch.autograd.grad(loss, ws)

    return {"torch eager": (eager, torch.tensor)}


def _jax_methods(sizes, softmax):
    if importlib.util.find_spec("jax") is None:
        return {}
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def loss(W, X, Y, B):
        a = X
        for k, (w, b) in enumerate(zip(W, B, strict=True)):
            z = w @ a + b[:, None]
            a = z if softmax and k == len(W) - 1 else jax.nn.sigmoid(z)
        if softmax:
            return -(Y * jax.nn.log_softmax(a, 0)).sum() / X.shape[1]
        return ((Y - a) ** 2).mean()

    grad = jax.jit(jax.grad(loss))

    def run(X, Y, W, B):
        out = grad(W, X, Y, B)
        jax.block_until_ready(out)
        return out

    return {"jax.jit": (lambda X, Y, W, B: run(X, Y, W, B), jnp.asarray)}


def methods_for(sizes, softmax):
    activations = ["sigmoid"] * (len(sizes) - 2) + ["softmax" if softmax else "sigmoid"]
    loss = "cross_entropy" if softmax else "mse"
    form = sb.matrix_form(sizes, activations, loss, bias=True, reduction="mean")
    numpy_engine = form.evaluator()
    out = {"hand numpy": ((lambda X, Y, W, B: _softmax_hand(X, Y, W, B)) if softmax
                          else (lambda X, Y, W, B: backprop(X, Y, W, B)[1]), np.asarray),
           "engine matrix (numpy)": (lambda X, Y, W, B: numpy_engine(X, Y, W, B).weight_gradients,
                                     np.asarray)}
    if importlib.util.find_spec("torch") is not None:
        torch_engine = form.evaluator("torch")
        import torch

        out["engine (torch backend)"] = (
            lambda X, Y, W, B: torch_engine(X, Y, W, B).weight_gradients, torch.tensor)
    out.update(_torch_methods(sizes, softmax))
    out.update(_jax_methods(sizes, softmax))
    expit = _expit_backprop()
    if expit is not None and not softmax:
        out["numpy + scipy expit"] = (expit, np.asarray)
    return out


def _args(convert, X, Y, W, B):
    return convert(X), convert(Y), [convert(w) for w in W], [convert(b) for b in B]


_clock = time.process_time  # CPU time of this process (see the module's docstring)


def compare(sizes, batch, softmax, rounds, budget):
    X, Y, W, B = _problem(sizes, batch, softmax)
    methods = methods_for(sizes, softmax)
    reference = backprop(X, Y, W, B)[1] if not softmax else _softmax_hand(X, Y, W, B)
    prepared = {}
    for name, (fn, convert) in methods.items():
        args = _args(convert, X, Y, W, B)
        got = [np.asarray(g) for g in fn(*args)]  # also the warm-up (jit compiles here)
        for a, b in zip(got, reference, strict=True):
            if not np.allclose(a, b, rtol=1e-7, atol=1e-12):
                raise SystemExit(f"{name} disagrees with the hand-written backprop at {sizes}")
        start = _clock()
        fn(*args)
        once = max(_clock() - start, 1e-7)
        prepared[name] = (fn, args, max(1, int(budget / once)))
    times = {name: [] for name in prepared}
    for _ in range(rounds):
        for name, (fn, args, number) in prepared.items():  # interleaved: one of each per round
            start = _clock()
            for _ in range(number):
                fn(*args)
            times[name].append((_clock() - start) / number)
    return {name: (min(ts), (max(ts) - min(ts)) / min(ts)) for name, ts in times.items()}


PEERS = ("torch eager", "jax.jit")
TARGET = 1.1  # the default evaluator within 1.1× of the fastest peer (issue 15)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args(argv)
    cases = [([8, 8, 1], 16, False)] if args.quick else [
        *[([64, 64, 64, 1], b, False) for b in (1, 16, 64, 256, 1024, 4096)],
        *[([784, 256, 10], b, True) for b in (1, 64, 4096)]]
    rounds, budget = (2, 0.005) if args.quick else (args.rounds, 0.05)
    names = ["engine matrix (numpy)", "engine (torch backend)", *PEERS, "numpy + scipy expit"]
    print(f"load average {os.getloadavg()[0]:.2f}; 1 thread; float64; {rounds} interleaved "
          "rounds; CPU time ratio to hand-written numpy, min over rounds (spread); the last column "
          f"is the default evaluator's time over the fastest of {' and '.join(PEERS)} "
          f"(target ≤ {TARGET})")
    print()
    print("| net, batch | hand numpy | " + " | ".join(names) + " | engine / fastest peer |")
    print("|---|---|" + "---|" * (len(names) + 1))
    verdicts = []
    for sizes, batch, softmax in cases:
        result = compare(sizes, batch, softmax, rounds, budget)
        hand = result["hand numpy"][0]
        cells = []
        for n in names:
            if n not in result:
                cells.append("–")
                continue
            t, spread = result[n]
            cells.append(f"{t / hand:.2f} ({spread:.0%})")
        label = "-".join(map(str, sizes)) + (" softmax+CE" if softmax else "") + f", {batch}"
        peers = [result[n][0] for n in PEERS if n in result]
        if peers:
            ratio = result["engine matrix (numpy)"][0] / min(peers)
            verdict = "met" if ratio <= TARGET else "NOT MET"
            verdicts.append((label, ratio, verdict))
            cells.append(f"{ratio:.2f} ({verdict})")
        else:
            cells.append("– (no peer installed)")
        print(f"| {label} | {hand * 1e6:.0f} µs | " + " | ".join(cells) + " |")
    print()
    if verdicts:
        met = sum(v == "met" for _, _, v in verdicts)
        print(f"Within {TARGET}× of the fastest peer: {met} of {len(verdicts)} cells"
              + ("" if met == len(verdicts) else
                 " (not met: " + ", ".join(f"{lbl} at {r:.2f}" for lbl, r, v in verdicts
                                           if v != "met") + ")"))
    else:
        print("Peers: neither torch nor jax is installed, so the target is not measured.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

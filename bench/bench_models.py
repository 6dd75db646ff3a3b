"""Benchmark rows for the models beyond the MLP (section e of bench.py).

For an RNN (T = 16, 8 hidden units; mse, and Goodfellow's softmax + cross-entropy over 4
classes) and a 1-D convolution over 64 inputs: the scalar derivation and its notes. For those,
attention with projections (16 keys) and a block network (dense, batch norm, residual dense +
layer norm, dense; a mini-batch of 64): the general form (derive +
check), then the batched evaluator generated from it (build, and one call at batch 64: loss and
every gradient) on numpy, torch and jax (jit) against torch eager autograd on torch's own
modules. Every backend's gradients are compared with torch's before anything is timed; then the
methods are timed interleaved, one call of each per round, torch and XLA on one thread, and
each cell reports the minimum over rounds and the spread (max − min)/min.
"""

from __future__ import annotations

import importlib.util
import os
import time

import numpy as np

import symbackprop as sb
from symbackprop.forms import models as forms

BATCH = 64


def _once(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _rnn_case(T: int, n_x: int, n_h: int, n_y: int, softmax: bool = False):
    """Goodfellow's RNN; ``softmax``: ŷ_t = softmax(o_t), cross-entropy, one-hot targets."""
    rng = np.random.default_rng(0)
    labels = rng.integers(n_y, size=(BATCH, T))
    data = {"x": rng.normal(size=(BATCH, T, n_x)),
            "y": np.eye(n_y)[labels] if softmax else rng.normal(size=(BATCH, T, n_y))}
    params = {"U": rng.normal(size=(n_h, n_x)) * 0.3, "W": rng.normal(size=(n_h, n_h)) * 0.3,
              "V": rng.normal(size=(n_y, n_h)), "b": rng.normal(size=n_h),
              "c": rng.normal(size=n_y)}

    def torch_step():
        import torch

        rnn = torch.nn.RNN(n_x, n_h, batch_first=True).double()
        with torch.no_grad():
            rnn.weight_ih_l0.copy_(torch.tensor(params["U"]))
            rnn.weight_hh_l0.copy_(torch.tensor(params["W"]))
            rnn.bias_ih_l0.copy_(torch.tensor(params["b"]))
            rnn.bias_hh_l0.zero_()
        V = torch.tensor(params["V"], requires_grad=True)
        c = torch.tensor(params["c"], requires_grad=True)
        x, y = torch.tensor(data["x"]), torch.tensor(data["y"])

        def step():
            rnn.zero_grad()
            V.grad = c.grad = None
            h, _ = rnn(x)
            if softmax:
                torch.nn.functional.cross_entropy(
                    (h @ V.T + c).reshape(-1, n_y), target, reduction="sum").div(BATCH).backward()
            else:
                ((h @ V.T + c - y) ** 2).mean(dim=2).sum(dim=1).mean().backward()
            return {"U": rnn.weight_ih_l0.grad, "W": rnn.weight_hh_l0.grad, "V": V.grad}
        target = torch.tensor(labels).reshape(-1)
        return step

    out = ("softmax", "cross_entropy") if softmax else ("identity", "mse")
    return (forms.rnn_form(*out), {"T": T, "n_x": n_x, "n_h": n_h, "n_y": n_y}, data, params,
            torch_step, sb.rnn(n_x, n_h, n_y, T, *out))


def _conv_case(n: int, K: int):
    rng = np.random.default_rng(1)
    data = {"x": rng.normal(size=(BATCH, n)), "y": rng.normal(size=BATCH)}
    params = {"w": rng.normal(size=K), "b": 0.1, "v": rng.normal(size=n - K + 1) * 0.2,
              "c": 0.0}

    def torch_step():
        import torch
        F = torch.nn.functional

        w = torch.tensor(params["w"][None, None], requires_grad=True)
        b = torch.tensor([params["b"]], dtype=torch.float64, requires_grad=True)
        v = torch.tensor(params["v"], requires_grad=True)
        x, y = torch.tensor(data["x"][:, None, :]), torch.tensor(data["y"])

        def step():
            w.grad = b.grad = v.grad = None
            a = torch.tanh(F.conv1d(x, w, b))[:, 0]
            ((a @ v + params["c"] - y) ** 2).mean().backward()
            return {"w": w.grad[0, 0], "v": v.grad}
        return step

    return (forms.conv1d_form("tanh"), {"n": n, "K": K}, data, params, torch_step,
            sb.conv1d(n, K, "tanh"))


def _channel_conv_case(n: int, K: int, c_in: int, c_out: int):
    rng = np.random.default_rng(4)
    data = {"x": rng.normal(size=(BATCH, c_in, n)), "y": rng.normal(size=BATCH)}
    params = {"w": rng.normal(size=(c_out, c_in, K)) / np.sqrt(c_in * K),
              "b": rng.normal(size=c_out) * 0.1,
              "v": rng.normal(size=(c_out, n - K + 1)) * 0.1, "c": 0.0}

    def torch_step():
        import torch
        F = torch.nn.functional

        w, b, v = (torch.tensor(params[k], requires_grad=True) for k in ("w", "b", "v"))
        x, y = torch.tensor(data["x"]), torch.tensor(data["y"])

        def step():
            w.grad = b.grad = v.grad = None
            a = torch.tanh(F.conv1d(x, w, b))
            (((a * v).sum(dim=(1, 2)) + params["c"] - y) ** 2).mean().backward()
            return {"w": w.grad, "b": b.grad, "v": v.grad}
        return step

    return (forms.conv1d_form("tanh", channels=True),
            {"n": n, "K": K, "C_in": c_in, "C_out": c_out}, data, params, torch_step, None)


def _attention_case(n: int, d: int, d_in: int):
    rng = np.random.default_rng(2)
    data = {"y": rng.normal(size=(BATCH, d)), "x": rng.normal(size=(BATCH, d_in)),
            "xc": rng.normal(size=(BATCH, n, d_in))}
    params = {w: rng.normal(size=(d, d_in)) / np.sqrt(d_in) for w in ("Q", "K", "V")}

    def torch_step():
        import torch
        F = torch.nn.functional

        W = {w: torch.tensor(params[w], requires_grad=True) for w in params}
        y, x, c = (torch.tensor(data[k]) for k in ("y", "x", "xc"))

        def step():
            for t in W.values():
                t.grad = None
            o = F.scaled_dot_product_attention(F.linear(x, W["Q"])[:, None], F.linear(c, W["K"]),
                                               F.linear(c, W["V"]))[:, 0]
            ((o - y) ** 2).mean(dim=1).mean().backward()
            return {w: t.grad for w, t in W.items()}
        return step

    return (forms.attention_form(projections=True), {"n": n, "d": d, "d_v": d, "d_in": d_in},
            data, params, torch_step, None)


def _network_case(n_0: int, n_1: int):
    from symbackprop.forms.blocks import network_form

    rng = np.random.default_rng(3)
    blocks = [sb.dense(n_1, "tanh"), sb.batch_norm(),
              sb.residual(sb.dense(n_1, "tanh"), sb.layer_norm()), sb.dense(1)]
    data = {"x": rng.normal(size=(1, BATCH, n_0)), "y": rng.normal(size=(1, BATCH, 1))}
    params = {"W1": rng.normal(size=(n_1, n_0)) / np.sqrt(n_0), "b1": rng.normal(size=n_1),
              "gamma2": rng.normal(size=n_1), "beta2": rng.normal(size=n_1),
              "W3": rng.normal(size=(n_1, n_1)) / np.sqrt(n_1), "b3": rng.normal(size=n_1),
              "gamma4": rng.normal(size=n_1), "beta4": rng.normal(size=n_1),
              "W6": rng.normal(size=(1, n_1)), "b6": rng.normal(size=1)}

    def torch_step():
        import torch
        F = torch.nn.functional

        P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
        x, y = torch.tensor(data["x"][0]), torch.tensor(data["y"][0])

        def step():
            for t in P.values():
                t.grad = None
            a = F.batch_norm(torch.tanh(F.linear(x, P["W1"], P["b1"])), None, None, P["gamma2"],
                             P["beta2"], training=True, eps=1e-5)
            r = a + F.layer_norm(torch.tanh(F.linear(a, P["W3"], P["b3"])), (n_1,),
                                 P["gamma4"], P["beta4"], eps=1e-5)
            ((F.linear(r, P["W6"], P["b6"]) - y) ** 2).mean().backward()
            return {k: t.grad for k, t in P.items()}
        return step

    return (network_form(blocks), {"m": BATCH, "n_0": n_0, "n_1": n_1, "n_6": 1}, data, params,
            torch_step, None)


def _interleaved(methods: dict, rounds: int, budget: float = 0.05) -> dict:
    """{name: (min seconds per call, spread)}: every round times each method once in turn, so
    that a burst of load on the shared machine hits all of them (as bench/compare.py does)."""
    prepared = {}
    for name, fn in methods.items():
        fn()  # warm-up: jit compiles here
        start = time.perf_counter()
        fn()
        prepared[name] = (fn, max(1, int(budget / max(time.perf_counter() - start, 1e-7))))
    times: dict[str, list[float]] = {name: [] for name in prepared}
    for _ in range(rounds):
        for name, (fn, number) in prepared.items():
            start = time.perf_counter()
            for _ in range(number):
                fn()
            times[name].append((time.perf_counter() - start) / number)
    return {name: (min(ts), (max(ts) - min(ts)) / min(ts)) for name, ts in times.items()}


def _pin_threads() -> None:
    """One thread for torch and XLA, as for every method of bench/compare.py."""
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                          "intra_op_parallelism_threads=1")  # read when jax is first imported
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(1)  # 2 shared cores: more threads only contend


def bench_models(quick: bool, Row, repeat: int = 5, notes_limit: float = 120.0):
    """Rows of section e and the facts its targets read."""
    rows, facts = [], {"models": {}}
    _pin_threads()
    have_torch = importlib.util.find_spec("torch") is not None
    backends = ["numpy"] + [b for b in ("torch", "jax") if importlib.util.find_spec(b)]
    cases = [("RNN T=16, 8 hidden", _rnn_case(16, 2, 8, 1)), ("conv1d length 64", _conv_case(64, 3)),
             ("conv1d length 64, 4 → 8 channels, kernel 5", _channel_conv_case(64, 5, 4, 8)),
             ("softmax RNN T=16, 8 hidden, 4 classes", _rnn_case(16, 2, 8, 4, softmax=True)),
             ("attention + projections, 16 keys, d = 8", _attention_case(16, 8, 8)),
             ("network dense-BN-residual(dense-LN)-dense, 16 wide", _network_case(4, 16))]
    if quick:
        cases = [("RNN T=3, 2 hidden", _rnn_case(3, 1, 2, 1)), ("conv1d length 8", _conv_case(8, 3))]
    rounds = max(2, repeat)
    for case, (form, sizes, data, params, torch_step, net) in cases:
        fact = facts["models"][case] = {}
        if net is not None:
            t_derive, d = _once(lambda net=net: sb.derive(net))
            rows.append(Row("e", case, "engine: derive (scalar, unrolled)", t_derive,
                            note=f"{len(net.nodes)} nodes"))
            fact["derive"] = t_derive
            values = {s.name: 0.1 for s in net.leaves}
            for group in net.one_hot_groups:  # softmax + cross-entropy: one-hot targets
                values.update({y.name: float(k == 0) for k, y in enumerate(group)})
            try:
                cpu = time.process_time()
                t_notes, tex = _once(lambda d=d, values=values: sb.render(
                    sb.worked_example(d, values), "article"))
                cpu = time.process_time() - cpu  # on a shared machine, what the wall time hides
                rows.append(Row("e", case, "notes (article LaTeX, verified)", t_notes,
                                note=f"{len(tex) // 1000} kB of LaTeX, {cpu:.2f} s CPU"))
                fact["notes"] = t_notes
            except ValueError as err:
                rows.append(Row("e", case, "notes (article LaTeX, verified)", None,
                                note=f"refused: {str(err).split(';')[0]}"))
        t_form, _ = _once(lambda form=form: form.verify())
        rows.append(Row("e", case, "general form: derive + check", t_form))
        methods, built = {}, {}
        reference = torch_step()() if have_torch else None
        for backend in backends:
            t_build, ev = _once(lambda form=form, sizes=sizes, b=backend: form.evaluator(sizes, b))
            t_first, out = _once(lambda ev=ev, a=data, p=params: ev(a, p))  # jax: jit here
            built[backend] = (t_build, t_first)
            if reference is None:  # no torch: the other backends are held to numpy's
                reference = {k: np.asarray(v) for k, v in out.gradients.items()}
            for name, g in reference.items():
                np.testing.assert_allclose(np.asarray(out.gradients[name]), np.asarray(g),
                                           rtol=1e-8, atol=1e-12)
            if backend == "jax":
                import jax

                methods[backend] = lambda ev=ev, a=data, p=params: jax.block_until_ready(
                    ev(a, p).gradients)
            else:
                methods[backend] = lambda ev=ev, a=data, p=params: ev(a, p)
        if have_torch:
            methods["torch eager"] = torch_step()
        timed = _interleaved(methods, rounds)
        base = timed["numpy"][0]
        label = f"{case}, batch {BATCH}"
        for backend in backends:
            t_build, t_first = built[backend]
            first = f", first call {t_first * 1000:.0f} ms (jit)" if backend == "jax" else ""
            rows.append(Row("e", label, f"engine: batched evaluator ({backend})",
                            timed[backend][0], timed[backend][0] / base,
                            note=f"built in {t_build * 1000:.0f} ms{first}; "
                                 f"spread {timed[backend][1]:.0%}"))
        fact["build"] = built["numpy"][0]
        if have_torch:
            t_torch, spread = timed["torch eager"]
            rows.append(Row("e", label, "torch eager autograd", t_torch, t_torch / base,
                            note=f"spread {spread:.0%}"))
            fact["vs_torch"] = base / t_torch
            fact["best_vs_torch"] = min(timed[b][0] for b in backends) / t_torch
        else:
            rows.append(Row("e", label, "torch eager autograd", None,
                            note="torch is not installed"))
    return rows, facts


def model_targets(facts: dict, check, human_time) -> None:
    """The issue's targets for section e: derive and notes < 5 s, evaluator ≤ 2× torch eager."""
    for case, fact in facts.get("models", {}).items():
        if "derive" in fact:  # the scalar rows (RNN and conv) of issue 12's derive/notes target
            check(fact["derive"] < 5.0,
                  f"{case}: derive {human_time(fact['derive'])} (target < 5 s)")
            notes = fact.get("notes")
            check(None if notes is None else notes < 5.0,
                  f"{case}: notes {human_time(notes)} (target < 5 s)")
        ratio = fact.get("vs_torch")
        best = fact.get("best_vs_torch")
        check(None if ratio is None else ratio <= 2.0,
              f"{case}, batch {BATCH}: evaluator (numpy) / torch eager = "
              f"{'—' if ratio is None else f'{ratio:.2f}'} (target ≤ 2)"
              + ("" if best is None else f"; fastest backend {best:.2f}"))

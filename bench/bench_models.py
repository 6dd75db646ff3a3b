"""Benchmark rows for the models beyond the MLP (section e of bench.py).

For an RNN (T = 16, 8 hidden units) and a 1-D convolution over 64 inputs: the scalar derivation
and its notes, then the batched evaluator generated from the general form (build, and one call
at batch 64: loss and every gradient) against torch eager autograd on torch's own modules. The
evaluator's gradients are compared with torch's before anything is timed.
"""

from __future__ import annotations

import importlib.util
import time

import numpy as np

import symbackprop as sb
from symbackprop.models import forms

BATCH = 64


def _once(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _rnn_case(T: int, n_x: int, n_h: int, n_y: int):
    rng = np.random.default_rng(0)
    data = {"x": rng.normal(size=(BATCH, T, n_x)), "y": rng.normal(size=(BATCH, T, n_y))}
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
            ((h @ V.T + c - y) ** 2).mean(dim=2).sum(dim=1).mean().backward()
            return {"U": rnn.weight_ih_l0.grad, "W": rnn.weight_hh_l0.grad, "V": V.grad}
        return step

    return (forms.rnn_form(), {"T": T, "n_x": n_x, "n_h": n_h, "n_y": n_y}, data, params,
            torch_step, sb.rnn(n_x, n_h, n_y, T))


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


def _best(fn, repeat: int) -> float:
    import timeit

    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=repeat, number=number)) / number


def bench_models(quick: bool, Row, repeat: int = 5, notes_limit: float = 120.0):
    """Rows of section e and the facts its targets read."""
    rows, facts = [], {"models": {}}
    have_torch = importlib.util.find_spec("torch") is not None
    if have_torch:
        import torch

        torch.set_num_threads(1)  # 2 shared cores: more threads only contend (and both sides get one)
    cases = [("RNN T=16, 8 hidden", _rnn_case(16, 2, 8, 1)), ("conv1d length 64", _conv_case(64, 3))]
    if quick:
        cases = [("RNN T=3, 2 hidden", _rnn_case(3, 1, 2, 1)), ("conv1d length 8", _conv_case(8, 3))]
    for case, (form, sizes, data, params, torch_step, net) in cases:
        fact = facts["models"][case] = {}
        t_derive, d = _once(lambda net=net: sb.derive(net))
        rows.append(Row("e", case, "engine: derive (scalar, unrolled)", t_derive,
                        note=f"{len(net.nodes)} nodes"))
        fact["derive"] = t_derive
        values = {s.name: 0.1 for s in net.leaves}
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
        t_build, ev = _once(lambda form=form, sizes=sizes: form.evaluator(sizes))
        out = ev(data, params)
        t_call = _best(lambda ev=ev, data=data, params=params: ev(data, params), repeat)
        rows.append(Row("e", f"{case}, batch {BATCH}", "engine: batched evaluator (numpy)",
                        t_call, 1.0, note=f"built in {t_build * 1000:.0f} ms"))
        fact["build"] = t_build
        if have_torch:
            step = torch_step()
            expected = step()
            for name, g in expected.items():
                np.testing.assert_allclose(np.asarray(out.gradients[name]), g.numpy(),
                                           rtol=1e-8, atol=1e-12)
            t_torch = _best(step, repeat)
            rows.append(Row("e", f"{case}, batch {BATCH}", "torch eager autograd", t_torch,
                            t_torch / t_call))
            ev_t = form.evaluator(sizes, "torch")
            t_call_t = _best(lambda ev_t=ev_t, data=data, params=params: ev_t(data, params),
                             repeat)
            rows.append(Row("e", f"{case}, batch {BATCH}", "engine: batched evaluator (torch)",
                            t_call_t, t_call_t / t_call))
            fact["vs_torch"] = t_call / t_torch
        else:
            rows.append(Row("e", f"{case}, batch {BATCH}", "torch eager autograd", None,
                            note="torch is not installed"))
    return rows, facts


def model_targets(facts: dict, check, human_time) -> None:
    """The issue's targets for section e: derive and notes < 5 s, evaluator ≤ 2× torch eager."""
    for case, fact in facts.get("models", {}).items():
        check(fact["derive"] < 5.0, f"{case}: derive {human_time(fact['derive'])} (target < 5 s)")
        notes = fact.get("notes")
        check(None if notes is None else notes < 5.0,
              f"{case}: notes {human_time(notes)} (target < 5 s)")
        ratio = fact.get("vs_torch")
        check(None if ratio is None else ratio <= 2.0,
              f"{case}, batch {BATCH}: evaluator / torch eager = "
              f"{'—' if ratio is None else f'{ratio:.2f}'} (target ≤ 2)")

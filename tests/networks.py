"""What tests in several packages share: seed 000's pass written out by hand, random values for
a network, the finite-difference check of a built model, and a general form's quantity arrays
filled from samples named as its scalar model names them."""

from __future__ import annotations

import math

import numpy as np

import symbackprop as sb


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def seed000_by_hand(v: dict[str, float]) -> dict[str, float]:
    """Seed 000's forward pass and ∂L/∂w5, ∂L/∂w1 written out with math (no engine code)."""
    z1 = v["w1"] * v["x1"] + v["w3"] * v["x2"]
    z2 = v["w2"] * v["x1"] + v["w4"] * v["x2"]
    h1, h2 = sig(z1), sig(z2)
    z3 = v["w5"] * h1 + v["w6"] * h2
    yhat = sig(z3)
    L = (v["y"] - yhat) ** 2
    dz3 = -2 * (v["y"] - yhat) * yhat * (1 - yhat)
    return dict(
        z1=z1, z2=z2, h1=h1, h2=h2, z3=z3, yhat=yhat, L=L,
        dw5=dz3 * h1, dw6=dz3 * h2, dw1=dz3 * v["w5"] * h1 * (1 - h1) * v["x1"],
    )


def random_values(net, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    values = {s.name: float(rng.uniform(-0.9, 0.9)) for s in net.leaves}
    return values


def assert_fd_ok(net, seed: int = 0) -> None:
    check = sb.check_gradients(sb.derive(net), random_values(net, seed), rtol=1e-5, atol=1e-7)
    assert check.ok, str(check)


def quantity_arrays(form, ev, lookup, samples):
    inputs, params = {}, {}
    for name, q in form.quantities.items():
        if q.kind not in ("input", "target", "parameter"):
            continue
        ranges = ev.ranges[name]
        shape = [hi - lo + 1 for lo, hi in ranges]

        def value(sample, ix, name=name, ranges=ranges):
            s = lookup(name, tuple(lo + i for (lo, _), i in zip(ranges, ix, strict=True)))
            return sample[s.name] if s is not None else 0.0  # y_t before T: no loss there
        if q.kind == "parameter":
            params[name] = np.array([value(samples[0], ix) for ix in np.ndindex(*shape)]
                                    ).reshape(shape)
        else:
            inputs[name] = np.array([[value(s, ix) for ix in np.ndindex(*shape)]
                                     for s in samples]).reshape([len(samples), *shape])
    return inputs, params


#: Issue 21's s103: a softmax saturated by keys of 1e215, where float64's step of 1e-6 in q_2
#: moved a score by 1e209 (check said WRONG for a gradient of 0).
ATTENTION_1E215 = """\
[network]
kind = "attention"
keys = 2
d = 3
loss = "sse"
projections = false
d_v = 1
[values]
y = 1.1982813219043256
q_1 = 1.0448239918900755e+164
q_2 = -8.050662108394966e-132
q_3 = 7.844255338165398e+51
"k_1,1" = -4.057368435219976e-299
"k_1,2" = -8.202832638370678e+215
"k_1,3" = -1.7577480962576921e-99
"k_2,1" = -6.715223969626566e-257
"k_2,2" = -4.433831355727567e-11
"k_2,3" = -2.7312343397605743e-220
v_1 = -2.229880679366471e+40
v_2 = -1.796759145870001e+119
"""



def net342() -> tuple[sb.Graph, dict, str]:
    """The 3-4-2 tanh/softmax net a new user writes from the docs: the graph, values, title."""
    net = sb.mlp([3, 4, 2], ["tanh", "softmax"], "cross_entropy", bias="threshold",
                 notation="layered")
    values = {p.name: round(0.1 * ((k % 5) - 2), 2) for k, p in enumerate(net.parameters)}
    values.update({"x_1^(0)": 0.5, "x_2^(0)": -0.2, "x_3^(0)": 0.1, "y_1": 1.0, "y_2": 0.0})
    return net, values, "A 3-4-2 network"


def square_of_a_product() -> tuple[sb.Graph, sb.WorkedExample]:
    """L = a², a = w x, at x = 1, w = 2: the smallest graph with a node a worked line defines."""
    g = sb.Graph("g")
    x, w = g.input("x"), g.parameter("w")
    g.node("a", w * x)
    g.loss("L", g.symbol("a") ** 2)
    return g, sb.worked_example(g, {"x": 1.0, "w": 2.0})

"""Property tests: every gradient of random networks against finite differences and against the
lambdified expanded symbolic gradient.

Networks are random MLPs (depth 1-4, widths 1-6, every activation, loss, bias mode and notation)
and random general graphs built with the Graph API (shared parameters, fan-out, residual sums,
products of nodes). Hypothesis draws the architecture and a seed; the numbers come from a numpy
generator with that seed: weights in [-1.5, 1.5], inputs in [-2, 2], targets fit for the loss.
The "ci" profile (tests/conftest.py) makes the examples reproducible.

At saturated logits (±20 to ±1000) a bce written by hand through hidden nodes and a softmax +
cross-entropy RNN are compared with torch in float64 (BCEWithLogits, CrossEntropy).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.builders.mlp import BIAS_MODES
from symbackprop.codegen.scalar import NUMPY_FUNCTIONS
from symbackprop.core import ops
from symbackprop.core.notation import NOTATIONS

#: Every elementwise activation of the op registry (an op added there is drawn here too).
ACTIVATIONS = [n for n in ops.ELEMENTWISE if n != "linear"]
LOSSES = ["mse", "sse", "half_sse", "bce", "cross_entropy"]
#: Above this many parameters the expanded symbolic gradients are not built (they grow with the
#: number of paths); finite differences still check every gradient.
SYMBOLIC_LIMIT = 30
RTOL = 1e-6


# -- numbers -----------------------------------------------------------------------------------------
def fd_atol(evaluation: sb.Evaluation) -> float:
    """Absolute tolerance of a central difference with step 1e-6: float64 rounding of the loss
    (relative 1e-16, of the size of the largest value it is computed from) divided by the step,
    with a margin of 100."""
    scale = max([1.0, abs(evaluation.loss)] + [abs(v) for v in evaluation.nodes.values()])
    return 1e-8 * scale


def fd_is_meaningful(evaluation: sb.Evaluation, probabilities=()) -> bool:
    """Finite differences need finite values of sane size. For bce, log(1 − ŷ) with ŷ within
    1e-6 of 1 has lost 10 of its 16 digits, so its differences are noise, not a reference:
    ``probabilities`` names such outputs."""
    values = [evaluation.loss, *evaluation.nodes.values()]
    if not all(np.isfinite(v) and abs(v) < 1e8 for v in values):
        return False
    return all(1e-6 < evaluation.nodes[name] < 1 - 1e-6 for name in probabilities)


def assert_matches_finite_differences(d: sb.Derivation, values: dict[str, float]) -> None:
    ev = d.evaluate(values)
    assert all(np.isfinite(g) for g in ev.gradients.values()), ev.gradients
    result = sb.check_gradients(d, values, rtol=RTOL, atol=fd_atol(ev))
    assert result.ok, str(result)
    for row in result.skipped:
        assert "kink" in row.skipped


def assert_matches_symbolic(d: sb.Derivation, values: dict[str, float]) -> None:
    """The evaluator's gradients (δ reuse) == the expanded symbolic ∂L/∂p, lambdified."""
    graph = d.graph
    ev = d.evaluate(values)
    args = [values[s.name] for s in graph.leaves]
    for p in graph.parameters:
        expr = d.gradient(p)
        assert not expr.has(sp.Derivative)
        assert expr.free_symbols <= set(graph.leaves)
        f = sp.lambdify(graph.leaves, expr, modules=[NUMPY_FUNCTIONS, "numpy"], cse=True)
        with np.errstate(all="ignore"):
            expected = float(f(*args))
        got = ev.gradients[p.name]
        scale = 1e-10 * max(1.0, abs(ev.loss), *(abs(v) for v in ev.nodes.values()))
        assert got == pytest.approx(expected, rel=1e-8, abs=scale), (p.name, expr)


# -- random MLPs -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MLPCase:
    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str
    bias: bool | str
    notation: str
    seed: int

    def probabilities(self, net: sb.MLP) -> list[str]:
        """The outputs whose log(1 − ŷ) the loss takes."""
        return [o.name for o in net.outputs] if self.loss == "bce" else []

    def build(self) -> sb.MLP:
        return sb.mlp(list(self.sizes), activation=list(self.activations), loss=self.loss,
                      bias=self.bias, notation=self.notation)

    def values(self, net: sb.MLP) -> dict[str, float]:
        rng = np.random.default_rng(self.seed)
        values = {p.name: float(rng.uniform(-1.5, 1.5)) for p in net.parameters}
        values.update({x.name: float(rng.uniform(-2.0, 2.0)) for x in net.inputs})
        targets = net.targets
        if self.loss == "cross_entropy":
            hot = int(rng.integers(len(targets)))
            values.update({t.name: float(k == hot) for k, t in enumerate(targets)})
        elif self.loss == "bce" or self.activations[-1] in ("sigmoid", "softmax"):
            values.update({t.name: float(rng.uniform(0.0, 1.0)) for t in targets})
        else:
            values.update({t.name: float(rng.uniform(-2.0, 2.0)) for t in targets})
        return values


@st.composite
def mlp_cases(draw, max_depth: int = 4, max_width: int = 6) -> MLPCase:
    depth = draw(st.integers(1, max_depth))
    sizes = draw(st.lists(st.integers(1, max_width), min_size=depth + 1, max_size=depth + 1))
    hidden = draw(st.lists(st.sampled_from(ACTIVATIONS), min_size=depth - 1, max_size=depth - 1))
    loss = draw(st.sampled_from(LOSSES))
    if loss == "cross_entropy":
        output = "softmax"
    elif loss == "bce":
        output = draw(st.sampled_from(["sigmoid", "softmax"]))
    else:
        output = draw(st.sampled_from([*ACTIVATIONS, "softmax"]))
    if output == "softmax":
        sizes[-1] = max(2, sizes[-1])  # a softmax over one unit is the constant 1
    return MLPCase(
        sizes=tuple(sizes),
        activations=(*hidden, output),
        loss=loss,
        bias=draw(st.sampled_from(BIAS_MODES)),
        notation=draw(st.sampled_from(sorted(NOTATIONS))),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


@settings(max_examples=40)
@given(case=mlp_cases())
@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_mlp_gradients_match_finite_differences_and_symbolic(case: MLPCase):
    net = case.build()
    d = sb.derive(net)
    values = case.values(net)
    assume(fd_is_meaningful(d.evaluate(values), case.probabilities(net)))
    assert_matches_finite_differences(d, values)
    if len(net.parameters) <= SYMBOLIC_LIMIT:
        assert_matches_symbolic(d, values)


@settings(max_examples=25)
@given(case=mlp_cases(max_depth=3, max_width=3))
@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_small_mlp_gradients_match_symbolic(case: MLPCase):
    # Small nets, so that the expanded symbolic gradient is compared in every example.
    net = case.build()
    d = sb.derive(net)
    values = case.values(net)
    assume(fd_is_meaningful(d.evaluate(values), case.probabilities(net)))
    assert_matches_symbolic(d, values)


def test_mlp_sampler_covers_every_option():
    # The strategy itself can produce every activation, loss, bias mode and notation.
    seen: dict[str, set] = {"act": set(), "loss": set(), "bias": set(), "notation": set()}

    @settings(max_examples=300, database=None)
    @given(case=mlp_cases(max_depth=3, max_width=2))
    def collect(case: MLPCase) -> None:
        seen["act"].update(case.activations)
        seen["loss"].add(case.loss)
        seen["bias"].add(case.bias)
        seen["notation"].add(case.notation)

    collect()
    assert seen["act"] >= {*ACTIVATIONS, "softmax"}
    assert seen["loss"] == set(LOSSES)
    assert seen["bias"] == set(BIAS_MODES)
    assert seen["notation"] == set(NOTATIONS)


@pytest.mark.slow
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize(("output", "loss"), [("identity", "mse"), ("softmax", "cross_entropy")])
def test_deepest_widest_mlps(activation: str, output: str, loss: str):
    # The largest nets the properties draw: depth 4, every layer 6 wide, one bias per unit.
    case = MLPCase((6, 6, 6, 6, 6), (activation,) * 3 + (output,), loss, True, "layered", 4)
    net = case.build()
    d = sb.derive(net)
    values = case.values(net)
    assert fd_is_meaningful(d.evaluate(values))
    assert len(net.parameters) == 4 * (36 + 6)
    assert_matches_finite_differences(d, values)


# -- random general graphs ----------------------------------------------------------------------------
GRAPH_ACTIVATIONS = {
    "sigmoid": sb.sigmoid,
    "tanh": sb.tanh,
    "relu": sb.relu,
    "leaky_relu": lambda x: sb.leaky_relu(x, sp.Rational(1, 10)),
    "softplus": sb.softplus,
    "gelu": sb.gelu,
    "gelu_erf": sb.gelu_erf,
    "silu": sb.silu,
    "identity": lambda x: x,
}
OPS = ["affine", "act", "residual", "product", "scale"]


@dataclass(frozen=True)
class GraphCase:
    n_inputs: int
    n_params: int
    ops: tuple[tuple[str, int, int, int, int, str], ...]
    extra: int
    seed: int

    def build(self) -> sb.Graph:
        g = sb.Graph(title="random graph")
        xs = [g.input(f"x{i}") for i in range(1, self.n_inputs + 1)]
        ps = [g.parameter(f"p{i}") for i in range(1, self.n_params + 1)]
        y = g.target("y")
        operands = list(xs)
        for k, (op, a, b, p, q, f) in enumerate(self.ops, start=1):
            A, B, P, Q, F = operands[a], operands[b], ps[p], ps[q], GRAPH_ACTIVATIONS[f]
            if op == "affine":  # a parameter may appear twice: shared weights
                expr = P * A + Q * B
            elif op == "act":
                expr = F(P * A + Q)
            elif op == "residual":  # h2 = h1 + f(h1)
                expr = A + F(P * A)
            elif op == "product":  # a product of nodes (a square when a == b)
                expr = A * B
            else:
                expr = P * F(A)
            operands.append(g.node(f"n{k}", expr))
        # The last node feeds the loss; another value feeds it too (fan-out when it is a node).
        g.loss("L", sp.Rational(1, 2) * (y - operands[-1]) ** 2
               + sp.Rational(1, 10) * operands[self.extra] ** 2)
        return g

    def values(self, g: sb.Graph) -> dict[str, float]:
        rng = np.random.default_rng(self.seed)
        values = {p.name: float(rng.uniform(-1.5, 1.5)) for p in g.parameters}
        values.update({x.name: float(rng.uniform(-2.0, 2.0)) for x in g.inputs})
        values["y"] = float(rng.uniform(-1.0, 1.0))
        return values


@st.composite
def graph_cases(draw) -> GraphCase:
    n_inputs = draw(st.integers(1, 3))
    n_params = draw(st.integers(1, 4))
    n_nodes = draw(st.integers(1, 6))
    ops = []
    for k in range(n_nodes):
        available = n_inputs + k
        ops.append((
            draw(st.sampled_from(OPS)),
            draw(st.integers(0, available - 1)),
            draw(st.integers(0, available - 1)),
            draw(st.integers(0, n_params - 1)),
            draw(st.integers(0, n_params - 1)),
            draw(st.sampled_from(sorted(GRAPH_ACTIVATIONS))),
        ))
    extra = draw(st.integers(0, n_inputs + n_nodes - 1))
    return GraphCase(n_inputs, n_params, tuple(ops), extra, draw(st.integers(0, 2**32 - 1)))


@settings(max_examples=60)
@given(case=graph_cases())
@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_general_graph_gradients(case: GraphCase):
    g = case.build()
    d = sb.derive(g)
    values = case.values(g)
    assume(fd_is_meaningful(d.evaluate(values)))
    assert_matches_finite_differences(d, values)
    assert_matches_symbolic(d, values)
    # the chain factorisation sums to the same gradient
    ev = d.evaluate(values)
    args = [values[s.name] for s in g.leaves]
    for p in g.parameters:
        chain = g.expand(d.chain(p).expr())
        f = sp.lambdify(g.leaves, chain, modules=[NUMPY_FUNCTIONS, "numpy"])
        scale = 1e-10 * max(1.0, abs(ev.loss), *(abs(v) for v in ev.nodes.values()))
        assert float(f(*args)) == pytest.approx(ev.gradients[p.name], rel=1e-8, abs=scale)


def test_graph_sampler_builds_shared_fan_out_residual_and_products():
    case = GraphCase(
        n_inputs=1, n_params=1,
        ops=(("affine", 0, 0, 0, 0, "tanh"), ("residual", 1, 1, 0, 0, "tanh"),
             ("product", 1, 2, 0, 0, "tanh")),
        extra=1, seed=0,
    )
    g = case.build()
    x, p = g.symbol("x1"), g.symbol("p1")
    n1, n2, n3 = (g.symbol(f"n{k}") for k in (1, 2, 3))
    assert g.expr(n1) == 2 * p * x  # p1 shared by both terms
    assert g.expr(n2) == n1 + sp.tanh(p * n1)
    assert g.expr(n3) == n1 * n2
    assert g.children(n1) == [n2, n3, g.loss_symbol]  # fan-out of three
    assert len(sb.derive(g).chain(p)) == 4


# -- saturated logits, against torch in float64 --------------------------------------------------
HIDDEN = {"tanh": (sb.tanh, "tanh"), "sigmoid": (sb.sigmoid, "sigmoid"), "identity": (None, None)}


def _bce_logit(lib, form, acts, x, w, hidden=None):
    """The logit of a bce by hand through hidden nodes h1, h2, h3 (``lib``: "sympy" or torch)."""
    def act(name, z):
        if name == "identity":
            return z
        return HIDDEN[name][0](z) if lib == "sympy" else getattr(lib, HIDDEN[name][1])(z)
    h1 = w[4] * x[1]
    h2 = act(acts[0], h1 * w[4] + w[4] * x[0] + w[5] * x[1])
    h3 = act(acts[1], h1 * w[3] + h2 * w[4] + w[0] * x[1] + w[2] * x[0])
    h1, h2, h3 = hidden or (h1, h2, h3)
    inner = {"sum": h1 * w[4] + h2 * w[4] + h3 * w[4] + w[4] * x[0],
             "product": h1 * h2 * h3 * w[0] * x[0],
             "shifted": w[1] * (h3 + x[0] + 1),
             "difference": h2 * w[2] - h2 * w[3]}[form]
    return (h1, h2, h3), inner


@functools.cache
def _bce_by_hand(form: str, acts: tuple[str, str], inline: bool) -> sb.Derivation:
    g = sb.Graph()
    x, y = [g.input("x1"), g.input("x2")], g.target("y")
    w = [g.parameter(f"w{i}") for i in range(1, 8)]
    hidden, _ = _bce_logit("sympy", form, acts, x, w)
    hs = [g.node(f"h{i}", h) for i, h in enumerate(hidden, 1)]
    z = w[6] * _bce_logit("sympy", form, acts, x, w, hidden=hs)[1]
    a = sb.sigmoid(z) if inline else g.node("a", sb.sigmoid(z))
    g.loss("L", -(y * sp.log(a) + (1 - y) * sp.log(1 - a)))
    return sb.derive(g)


saturated = st.tuples(st.sampled_from([-1.0, 1.0]),
                      st.sampled_from([50.0, 1000.0]) | st.floats(20.0, 1000.0))
small = st.floats(-1.0, 1.0).filter(lambda v: abs(v) > 0.05)


@settings(max_examples=40)
@given(form=st.sampled_from(["sum", "product", "shifted", "difference"]),
       acts=st.tuples(st.sampled_from(sorted(HIDDEN)), st.sampled_from(sorted(HIDDEN))),
       inline=st.booleans(), logit=saturated, target=st.sampled_from([0.0, 1.0, 0.25]),
       ws=st.lists(small, min_size=6, max_size=6), xs=st.tuples(small, small))
def test_bce_by_hand_at_saturated_logits_matches_torch(form, acts, inline, logit, target, ws, xs):
    torch = pytest.importorskip("torch")
    tx = torch.tensor(xs, dtype=torch.float64)
    inner = _bce_logit(torch, form, acts, tx, torch.tensor(ws, dtype=torch.float64))[1].item()
    assume(abs(inner) > 1e-3)
    w7 = logit[0] * logit[1] / inner  # the outer weight puts the logit exactly at ±20…±1000
    tw = torch.tensor([*ws, w7], dtype=torch.float64, requires_grad=True)
    z = tw[6] * _bce_logit(torch, form, acts, tx, tw)[1]
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        z, torch.tensor(target, dtype=torch.float64))
    loss.backward()
    values = dict(x1=xs[0], x2=xs[1], y=target, **{f"w{i}": v for i, v in enumerate([*ws, w7], 1)})
    ev = _bce_by_hand(form, acts, inline).evaluate(values)
    assert ev.loss == pytest.approx(loss.item(), rel=1e-9, abs=1e-12)
    assert [ev.gradients[f"w{i}"] for i in range(1, 8)] == pytest.approx(
        tw.grad.tolist(), rel=1e-8, abs=1e-10)


@functools.cache
def _softmax_rnn(classes: int, steps: int) -> sb.Derivation:
    return sb.derive(sb.rnn(1, 1, classes, steps=steps, output_activation="softmax",
                            loss="cross_entropy"))


@settings(max_examples=25)
@given(classes=st.integers(2, 3), steps=st.integers(1, 3), data=st.data())
def test_saturated_softmax_rnn_matches_torch(classes, steps, data):
    torch = pytest.importorskip("torch")
    c = [s * m for s, m in data.draw(st.lists(saturated, min_size=classes, max_size=classes))]
    V = data.draw(st.lists(small, min_size=classes, max_size=classes))
    U, W, b = data.draw(st.tuples(small, small, small))
    xs = data.draw(st.lists(small, min_size=steps, max_size=steps))
    labels = data.draw(st.lists(st.integers(0, classes - 1), min_size=steps, max_size=steps))
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
         for k, v in dict(U=U, W=W, b=b, V=V, c=c).items()}
    h, loss = torch.tensor(0.0, dtype=torch.float64), 0.0
    for step in range(steps):
        h = torch.tanh(t["U"] * xs[step] + t["W"] * h + t["b"])
        loss = loss + torch.nn.functional.cross_entropy(
            (t["c"] + t["V"] * h)[None], torch.tensor([labels[step]]), reduction="sum")
    loss.backward()
    values = dict(U=U, W=W, b=b, **{f"x_{i}": x for i, x in enumerate(xs, 1)},
                  **{f"V_{k}1": v for k, v in enumerate(V, 1)},
                  **{f"c_{k}": v for k, v in enumerate(c, 1)},
                  **{f"y_{s},{k}": float(labels[s - 1] == k - 1)
                     for s in range(1, steps + 1) for k in range(1, classes + 1)})
    ev = _softmax_rnn(classes, steps).evaluate(values)
    assert ev.loss == pytest.approx(loss.item(), rel=1e-9)
    want = {"U": t["U"].grad.item(), "W": t["W"].grad.item(), "b": t["b"].grad.item(),
            **{f"V_{k}1": g for k, g in enumerate(t["V"].grad.tolist(), 1)},
            **{f"c_{k}": g for k, g in enumerate(t["c"].grad.tolist(), 1)}}
    if steps == 1:  # W multiplies h_0 = 0 only: not a parameter of the one-step graph
        want.pop("W")
    assert {k: ev.gradients[k] for k in want} == pytest.approx(want, rel=1e-8, abs=1e-10)

"""Property tests: every gradient of random networks against finite differences and against the
lambdified expanded symbolic gradient.

Networks are random MLPs (depth 1-4, widths 1-6, every activation, loss, bias mode and notation)
and random general graphs built with the Graph API (shared parameters, fan-out, residual sums,
products of nodes). Hypothesis draws the architecture and a seed; the numbers come from a numpy
generator with that seed: weights in [-1.5, 1.5], inputs in [-2, 2], targets fit for the loss.
The "ci" profile (tests/conftest.py) makes the examples reproducible.
"""

from __future__ import annotations

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

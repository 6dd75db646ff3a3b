"""Standalone modules: they run in a fresh interpreter without symbackprop, and agree with it."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from functools import partial

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.codegen.export_matrix import matrix_module
from symbackprop.codegen.export_scalar import scalar_module
from symbackprop.core import ops

# Runs a generated file with symbackprop and sympy made unimportable: it must need numpy only.
_RUNNER = """
import json, runpy, sys
sys.modules["symbackprop"] = None
sys.modules["sympy"] = None
module = runpy.run_path(sys.argv[1])
args = json.loads(sys.argv[2])
"""


def _run(path, args: dict, call: str) -> dict:
    code = _RUNNER + call
    out = subprocess.run([sys.executable, "-c", code, str(path), json.dumps(args)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def colliding():
    """A graph whose names collide with everything generated code reads."""
    g = sb.Graph()
    x, y, e = g.input("x"), g.target("exp_"), g.parameter("e")
    sig = g.parameter("sigmoid_")
    a = g.node("dL_de", sb.sigmoid(sp.E * e * x + sig))
    g.loss("L", -(y * sp.log(a) + (1 - y) * sp.log(1 - a)))
    return sb.derive(g)


def test_the_numpy_module_runs_alone_and_agrees(tmp_path, colliding):
    path = tmp_path / "f.py"
    path.write_text(scalar_module(colliding), encoding="utf-8")
    values = {"x": 1.0, "exp_": 0.0, "e": 20.0, "sigmoid_": 0.5}  # saturated: σ(54.9)
    call = ("r = module['loss_and_gradients'](*[args[n] for n in module['LEAVES']])\n"
            "print(json.dumps({'loss': float(r.loss), **{k: float(v) for k, v in "
            "r.gradients.items()}}))")
    got = _run(path, values, call)
    want = colliding.evaluate(values)
    assert got["loss"] == pytest.approx(want.loss)
    assert {k: got[k] for k in want.gradients} == pytest.approx(want.gradients)
    assert got["e"] == pytest.approx(np.e * 1.0)  # (σ − y)·e·x, finite at saturation


def test_the_numpy_module_checks_that_arguments_broadcast(colliding):
    namespace: dict = {}
    exec(compile(scalar_module(colliding), "f.py", "exec"), namespace)  # our generated file
    with pytest.raises(ValueError):
        namespace["loss_and_gradients"](np.ones(3), 0.0, np.ones(2), 0.5)


def test_the_saved_matrix_module_runs_alone_with_1d_biases(tmp_path):
    # defect 6: with 1-D biases and m == n_1, W1 @ X + b1 broadcast b1 along the samples
    form = sb.matrix_form([2, 3, 3], ["sigmoid", "softmax"], "cross_entropy", bias=True)
    f = form.evaluator()
    path = tmp_path / "grad.py"
    f.save(path)
    assert "symbackprop" not in path.read_text(encoding="utf-8").split('"""', 2)[2]
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2, 3))
    Y = np.eye(3)
    W = [rng.normal(size=(3, 2)), rng.normal(size=(3, 3))]
    B = [rng.normal(size=3), rng.normal(size=3)]
    args = {"X": X.tolist(), "Y": Y.tolist(), "W": [w.tolist() for w in W],
            "B": [b.tolist() for b in B]}
    call = ("r = module['loss_and_gradients'](args['X'], args['Y'], args['W'], args['B'])\n"
            "print(json.dumps({'loss': r.loss, 'dW1': r.weight_gradients[0].tolist(),"
            " 'db1': r.bias_gradients[0].tolist()}))")
    got = _run(path, args, call)
    want = f(X, Y, W, B)
    assert got["loss"] == pytest.approx(want.loss)
    assert np.allclose(got["dW1"], want.weight_gradients[0])
    assert np.allclose(got["db1"], want.bias_gradients[0])
    namespace: dict = {}
    exec(compile(matrix_module(form), "grad.py", "exec"), namespace)  # our generated file
    with pytest.raises(ValueError, match="b1 must have shape"):
        namespace["loss_and_gradients"](X, Y, W, [np.ones((1, 3)), B[1]])
    with pytest.raises(ValueError, match="X must have shape"):
        namespace["loss_and_gradients"](X.T, Y, W, B)


def test_the_torch_function_backward_is_the_derived_one_and_equals_autograd(colliding):
    torch = pytest.importorskip("torch")
    namespace: dict = {}
    exec(compile(scalar_module(colliding, "torch"), "f.py", "exec"), namespace)  # generated
    values = {"x": [1.0, -0.5], "exp_": [1.0, 0.0], "e": 0.3, "sigmoid_": -0.2}
    leaves = [torch.tensor(values[n], dtype=torch.float64, requires_grad=n in ("e", "sigmoid_"))
              for n in namespace["LEAVES"]]
    loss = namespace["loss"](*leaves).sum()
    derived = torch.autograd.grad(loss, [leaves[2], leaves[3]])
    cls = next(v for k, v in namespace.items() if isinstance(v, type)
               and issubclass(v, torch.autograd.Function) and k != "Function")
    taped = torch.autograd.grad(_taped(cls, leaves).sum(), [leaves[2], leaves[3]])
    for a, b in zip(derived, taped, strict=True):
        assert torch.allclose(a, b)


class _Ctx:
    def save_for_backward(self, *tensors) -> None:
        pass


def _taped(cls, leaves):
    return cls.forward(_Ctx(), *leaves)  # the same forward lines, recorded by autograd


def test_the_jax_function_vjp_is_the_derived_one_and_equals_autodiff(colliding):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    namespace: dict = {}
    exec(compile(scalar_module(colliding, "jax"), "f.py", "exec"), namespace)  # generated
    args = (1.5, 1.0, 0.3, -0.2)
    derived = jax.grad(namespace["loss"], argnums=(2, 3))(*args)
    taped = jax.grad(namespace["_loss"].fun, argnums=(2, 3))(*args)
    assert np.allclose(derived, taped)


# -- the matrix form's torch and jax modules --------------------------------------------------------
_MATRIX_CASES = [
    ([3, 4, 3], ["sigmoid", "softmax"], "cross_entropy", True),
    ([3, 4, 1], ["relu", "sigmoid"], "bce", "shared"),
    ([3, 4, 3], ["tanh", "softmax"], "bce", "threshold"),
    ([3, 4, 2], ["softplus", "identity"], "mse", False),
]

# In the fresh interpreter: the derived gradients (loss(...) differentiated, so the backward is
# the module's _backward_pass), autograd's own gradients of the module's forward lines, and the
# same at saturated logits (±1000), where only a stable backward stays finite.
_AUTOGRAD_CALL = {
    "torch": """
import torch
out = {}
for k, case in enumerate(args["cases"]):
    m = runpy.run_path(case["path"])
    for label, scale in (("plain", 1.0), ("saturated", 1000.0)):
        X, Y = (torch.tensor(case[k], dtype=torch.float64) for k in "XY")
        ps = [(torch.tensor(w, dtype=torch.float64) * (scale if i == len(case["W"]) - 1 else 1.0))
              .requires_grad_() for i, w in enumerate(case["W"])]
        bs = None if case["B"] is None else [torch.tensor(b, dtype=torch.float64, requires_grad=True)
                                              for b in case["B"]]
        params = ps + (bs or [])
        derived = torch.autograd.grad(m["loss"](X, Y, ps, bs), params)
        taped = torch.autograd.grad(m["_forward_pass"](*m["_checked"](X, Y, ps, bs))[0], params)
        out[f"{k} {label}"] = {"derived": [g.tolist() for g in derived],
                               "taped": [g.tolist() for g in taped]}
print(json.dumps(out))
""",
    "jax": """
import jax, jax.numpy as jnp
import numpy as np
jax.config.update("jax_enable_x64", True)
out = {}
for k, case in enumerate(args["cases"]):
    m = runpy.run_path(case["path"])
    for label, scale in (("plain", 1.0), ("saturated", 1000.0)):
        X, Y = jnp.asarray(case["X"]), jnp.asarray(case["Y"])
        ps = [jnp.asarray(w) * (scale if i == len(case["W"]) - 1 else 1.0)
              for i, w in enumerate(case["W"])]
        bs = None if case["B"] is None else [jnp.asarray(b, dtype=jnp.float64) for b in case["B"]]
        derived = jax.jit(jax.grad(lambda ps, bs: m["loss"](X, Y, ps, bs), argnums=(0, 1)))(ps, bs)
        def taped_loss(ps, bs):
            return m["_forward_pass"](*m["_checked"](X, Y, ps, bs))[0]
        taped = jax.grad(taped_loss, argnums=(0, 1))(ps, bs)
        flat = lambda g: [np.asarray(a).tolist() for a in [*g[0], *(g[1] or [])]]
        out[f"{k} {label}"] = {"derived": flat(derived), "taped": flat(taped)}
print(json.dumps(out))
""",
}


@pytest.mark.slow  # a long run: make test-slow (CI runs it too)
@pytest.mark.parametrize("target", ["torch", "jax"])
def test_the_matrix_modules_backward_is_the_derived_one_and_equals_autograd(tmp_path, target):
    pytest.importorskip(target)
    cases = []
    for k, (sizes, acts, loss, bias) in enumerate(_MATRIX_CASES):
        form = sb.matrix_form(sizes, acts, loss, bias=bias)
        path = tmp_path / f"{target}_{k}.py"
        path.write_text(matrix_module(form, target), encoding="utf-8")
        head = path.read_text(encoding="utf-8").split('"""', 2)[2]
        assert "symbackprop" not in head and "\nimport numpy" not in head  # only its library
        rng = np.random.default_rng(k)
        X = rng.normal(size=(sizes[0], 5))
        Y = np.eye(sizes[-1])[:, rng.integers(sizes[-1], size=5)]
        W = [rng.normal(size=(b, a)) for a, b in zip(sizes, sizes[1:], strict=False)]
        B = None if not bias else [0.3, -0.2] if bias == "shared" \
            else [rng.normal(size=b).tolist() for b in sizes[1:]]
        cases.append({"path": str(path), "X": X.tolist(), "Y": Y.tolist(),
                      "W": [w.tolist() for w in W], "B": B})
        # the engine's own evaluator, at the plain point
        want = form.evaluator()(X, Y, W, B if bias in (False, "shared") else [np.array(b) for b in B])
        cases[-1]["want"] = [g.tolist() for g in want.weight_gradients]
    got = _run(cases[0]["path"], {"cases": cases}, _AUTOGRAD_CALL[target])
    for k, case in enumerate(cases):
        plain, saturated = got[f"{k} plain"], got[f"{k} saturated"]
        for a, b in zip(plain["derived"], plain["taped"], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        for a, b in zip(plain["derived"], case["want"], strict=False):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        # softmax + bce saturates to nan by its δ's division (the documented limit); the stable
        # forms (p − y, log σ and log softmax from logits) stay finite and equal autograd's
        if _MATRIX_CASES[k][2] != "bce" or _MATRIX_CASES[k][1][-1] != "softmax":
            for a, b in zip(saturated["derived"], saturated["taped"], strict=True):
                assert np.isfinite(a).all()
                np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_an_unknown_matrix_target_is_refused():
    with pytest.raises(ValueError, match="unknown target"):
        matrix_module(sb.matrix_form([2, 1]), "tensorflow")


# -- every exported module, over random networks with hostile names (issue 21) ---------------------
#: Names a module defines or its functions use, keywords the Graph API takes, soft keywords and
#: builtins the spec reader takes, and names the engine itself makes (dL_dw, delta_a, Loss_1).
HOSTILE = ["LossAndGradients", "Loss", "loss", "Result", "LEAVES", "PARAMETERS", "NamedTuple",
           "numpy", "torch", "jax", "jnp", "typing", "heaviside", "log_softmax", "sigmoid", "tanh",
           "loss_and_gradients", "ctx", "grad_output", "cotangent", "saved", "args", "kwargs",
           "np", "e", "match", "type", "print", "self", "lambda", "x^(1)", "w'", "dL_dw",
           "dL_dx", "delta_a", "L_1", "a_1", "Loss_1"]
_ACTIVATIONS = ["sigmoid", "tanh", "softplus", "silu", "gelu", "leaky_relu"]


@st.composite
def hostile_graphs(draw) -> tuple[sb.Derivation, dict[str, float]]:
    """A random chain of 1-3 nodes over 1-2 inputs, every name drawn from HOSTILE, with an mse
    loss or bce over a sigmoid; a parameter may be shared by two nodes."""
    n_in, depth = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    bce = draw(st.booleans())
    names = draw(st.permutations(HOSTILE))
    names = iter(names)
    g = sb.Graph()
    xs = [g.input(next(names)) for _ in range(n_in)]
    y = g.target(next(names))
    weights = [g.parameter(next(names)) for _ in range(depth)]
    bias = g.parameter(next(names))
    previous = xs
    for k, w in enumerate(weights):
        last = k == depth - 1
        act = "sigmoid" if last and bce else draw(st.sampled_from(_ACTIVATIONS))
        shared = bias if draw(st.booleans()) else 0
        node = g.node(next(names), ops.activation_op(act)(w * sum(previous) + shared))
        previous = [node]
    out = previous[0]
    loss = (-(y * sp.log(out) + (1 - y) * sp.log(1 - out)) if bce else (y - out) ** 2)
    g.loss(next(names), loss)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    values = {s.name: float(rng.uniform(-1.5, 1.5)) for s in g.leaves}
    values[y.name] = float(rng.uniform(0.0, 1.0))
    return sb.derive(g), values


def _shadowed(source: str) -> set[str]:
    """The module's top-level names that a function of it binds as its own local or argument,
    except in a public function whose body reads only its arguments and private (_) names: the
    signature of the leaves' names, which hands them on to the function of safe identifiers."""
    tree = ast.parse(source)
    top = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            top.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            top |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Assign):
            top |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    out = set()
    for f in ast.walk(tree):
        if not isinstance(f, ast.FunctionDef):
            continue
        local = {a.arg for a in [*f.args.args, *f.args.kwonlyargs]}
        local |= {n.id for n in ast.walk(f) if isinstance(n, ast.Name)
                  and isinstance(n.ctx, ast.Store)}
        read = {n.id for n in ast.walk(f) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        if all(n in local or n.startswith("_") for n in read):
            continue  # reads no module name it could have shadowed
        out |= top & local
    return out


def _module(source: str) -> dict:
    namespace: dict = {}
    exec(compile(source, "exported.py", "exec"), namespace)  # our generated file, as `python f.py`
    return namespace


def _approx(got, want) -> None:
    assert float(np.asarray(got)) == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.slow  # a long run: make test-slow (CI runs it too)
@settings(max_examples=25, deadline=None)
@given(case=hostile_graphs())
def test_every_scalar_module_agrees_with_the_engine_and_autograd_under_hostile_names(case):
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    d, values = case
    want = d.evaluate(values)
    for target in ("numpy", "torch", "jax"):
        source = scalar_module(d, target)
        assert not _shadowed(source), target
        m = _module(source)
        leaves = m["LEAVES"]
        assert leaves == [s.name for s in d.graph.leaves]
        by_position = m["loss_and_gradients"](*[values[n] for n in leaves])
        by_name = m["loss_and_gradients"](**values)  # the names in LEAVES, as keywords
        for r in (by_position, by_name):
            _approx(r.loss, want.loss)
            assert set(r.gradients) == set(want.gradients)
            for p, g in want.gradients.items():
                _approx(r.gradients[p], g)
        if target == "torch":
            args = [torch.tensor(values[n], dtype=torch.float64, requires_grad=True)
                    for n in leaves]
            derived = torch.autograd.grad(m["loss"](*args), args)
            # a leaf the loss does not read (an unused bias) has no tape: its gradient is 0
            taped = [0.0 if g is None else g for g in
                     torch.autograd.grad(_taped(m["Loss"], args), args, allow_unused=True)]
        elif target == "jax":
            every = tuple(range(len(leaves)))
            args = [values[n] for n in leaves]
            derived = jax.grad(m["loss"], argnums=every)(*args)
            taped = jax.grad(m["_loss"].fun, argnums=every)(*args)
        else:
            continue
        # every leaf, inputs and targets too: the derived backward pass against autodiff's
        for name, a, b in zip(leaves, derived, taped, strict=True):
            assert a is not None, name
            _approx(a, float(b))
            if name in want.gradients:
                _approx(a, want.gradients[name])


def test_a_parameter_named_like_the_torch_class_does_not_shadow_it():
    # the reproducer's graph: before, LossAndGradients.apply read the parameter, a tensor
    torch = pytest.importorskip("torch")
    spec = sb.parse_spec('[graph]\ninputs = ["x"]\ntargets = ["y"]\n'
                         'parameters = ["LossAndGradients", "Loss", "loss"]\n'
                         'nodes = [{ name = "a", expr = "sigmoid(LossAndGradients*x + Loss*loss)" }]\n'
                         'loss = { name = "L", expr = "(y - a)^2" }\n')
    d = sb.derive(spec.graph)
    m = _module(scalar_module(d, "torch"))
    values = {"x": 0.5, "y": 0.3, "LossAndGradients": 0.2, "Loss": 0.1, "loss": 0.7}
    args = {n: torch.tensor(v, dtype=torch.float64, requires_grad=True) for n, v in values.items()}
    m["loss"](**args).backward()
    want = d.evaluate(values).gradients
    for p in ("LossAndGradients", "Loss", "loss"):
        _approx(args[p].grad, want[p])


def test_the_numpy_module_takes_renamed_arguments_by_their_names_in_leaves(colliding):
    m = _module(scalar_module(colliding))
    assert "e_1" in m["_loss_and_gradients"].__code__.co_varnames  # renamed inside
    values = {"x": 1.0, "exp_": 0.0, "e": 0.3, "sigmoid_": 0.5}
    r = m["loss_and_gradients"](**values)
    want = colliding.evaluate(values)
    _approx(r.loss, want.loss)
    with pytest.raises(TypeError):
        m["loss_and_gradients"](**{**values, "e_1": 0.3})


def test_names_that_are_no_identifiers_are_taken_by_keyword_through_leaves():
    g = sb.Graph()
    x, y, w = g.input("x^(1)"), g.target("lambda"), g.parameter("w'")
    g.loss("L", (y - w * x) ** 2)
    d = sb.derive(g)
    values = {"x^(1)": 2.0, "lambda": 1.0, "w'": 0.25}
    for target in ("numpy", "torch", "jax"):
        if target != "numpy":
            pytest.importorskip(target)
        m = _module(scalar_module(d, target))
        r = m["loss_and_gradients"](**values)
        _approx(r.gradients["w'"], 2 * (0.25 * 2.0 - 1.0) * 2.0)
        assert float(np.asarray(m["loss_and_gradients"](2.0, 1.0, 0.25).loss)) == 0.25
        with pytest.raises(TypeError, match="missing arguments: w'"):
            m["loss_and_gradients"](**{"x^(1)": 2.0, "lambda": 1.0})
        with pytest.raises(TypeError, match="given twice"):
            m["loss_and_gradients"](2.0, **{"x^(1)": 2.0, "lambda": 1.0, "w'": 0.25})


def test_jax_and_torch_give_inputs_and_targets_their_true_gradient_not_zero():
    # before: jax returned 0 for dL/dx and dL/dy, torch None
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    d = sb.derive(sb.mlp([2, 1], activation="sigmoid", loss="mse", bias=False))
    values = {"x1": 0.5, "x2": 0.3, "y": 1.0, "w1": 0.7, "w2": 0.4}
    leaves = [s.name for s in d.graph.leaves]
    yhat = 1 / (1 + np.exp(-(0.7 * 0.5 + 0.4 * 0.3)))
    dz = -2 * (1.0 - yhat) * yhat * (1 - yhat)
    truth = {"x1": dz * 0.7, "x2": dz * 0.4, "y": 2 * (1.0 - yhat), "w1": dz * 0.5, "w2": dz * 0.3}
    m = _module(scalar_module(d, "jax"))
    grads = jax.grad(m["loss"], argnums=tuple(range(5)))(*[values[n] for n in leaves])
    for n, g in zip(leaves, grads, strict=True):
        _approx(g, truth[n])
    m = _module(scalar_module(d, "torch"))
    args = [torch.tensor(values[n], dtype=torch.float64, requires_grad=True) for n in leaves]
    m["loss"](*args).backward()
    for n, a in zip(leaves, args, strict=True):
        _approx(a.grad, truth[n])


def test_scalar_torch_loss_and_gradients_returns_a_result_and_says_where_the_loss_went():
    torch = pytest.importorskip("torch")
    m = _module(scalar_module(sb.derive(sb.mlp([2, 1])), "torch"))
    r = m["loss_and_gradients"](x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.4)
    assert isinstance(r.loss, torch.Tensor) and sorted(r.gradients) == ["w1", "w2"]
    with pytest.raises(TypeError, match=r"loss\(\.\.\.\) is the differentiable loss"):
        r.backward()


@pytest.mark.parametrize("name", ["loss", "Result", "LEAVES", "torch", "Loss", "_private", "class"])
def test_a_function_name_the_module_needs_is_refused(name):
    with pytest.raises(ValueError, match="taken by the module|not a public Python identifier"):
        scalar_module(sb.derive(sb.mlp([2, 1])), "torch", name=name)


def test_the_function_name_may_be_chosen():
    m = _module(scalar_module(sb.derive(sb.mlp([2, 1])), "numpy", name="grads"))
    assert sorted(m["grads"](x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.4).gradients) == ["w1", "w2"]


@st.composite
def matrix_cases(draw):
    depth = draw(st.integers(1, 2))
    sizes = [draw(st.integers(1, 3)) for _ in range(depth + 1)]
    head = draw(st.sampled_from(["mse", "bce", "cross_entropy"]))
    if head == "cross_entropy":
        sizes[-1] = max(sizes[-1], 2)
    output = {"mse": draw(st.sampled_from(_ACTIVATIONS)), "bce": "sigmoid",
              "cross_entropy": "softmax"}[head]
    activations = [draw(st.sampled_from(_ACTIVATIONS)) for _ in range(depth - 1)] + [output]
    bias = draw(st.sampled_from([False, True, "shared"]))
    return sizes, activations, head, bias, draw(st.integers(0, 2**16))


def _matrix_loss(loss, X, Y, weights, biases):
    return loss(X, Y, weights, biases)


@pytest.mark.slow  # a long run: make test-slow (CI runs it too)
@settings(max_examples=10, deadline=None)
@given(case=matrix_cases())
def test_every_matrix_module_returns_the_engines_result_and_loss_differentiates_to_it(case):
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    sizes, activations, head, bias, seed = case
    form = sb.matrix_form(sizes, activations, head, bias=bias)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(sizes[0], 3))
    Y = (np.eye(sizes[-1])[:, rng.integers(sizes[-1], size=3)] if head == "cross_entropy"
         else rng.uniform(size=(sizes[-1], 3)))
    W = [rng.normal(size=(b, a)) for a, b in zip(sizes, sizes[1:], strict=False)]
    B = (None if not bias else [0.3] * len(W) if bias == "shared"
         else [rng.normal(size=b) for b in sizes[1:]])
    want = form.evaluator()(X, Y, W, B)
    for target in ("numpy", "torch", "jax"):
        source = matrix_module(form, target)
        assert not _shadowed(source), target
        m = _module(source)
        r = m["loss_and_gradients"](X=X, Y=Y, weights=W, biases=B)
        _approx(r.loss, float(want.loss))
        for a, b in zip(r.weight_gradients, want.weight_gradients, strict=True):
            np.testing.assert_allclose(np.asarray(a), b, rtol=1e-9, atol=1e-12)
        if target == "torch":
            ps = [torch.tensor(w, requires_grad=True) for w in W]
            m["loss"](torch.tensor(X), torch.tensor(Y), ps, B).backward()
            got = [p.grad for p in ps]
        elif target == "jax":
            got = jax.grad(partial(_matrix_loss, m["loss"], X, Y, biases=B))(W)
        else:
            continue
        for a, b in zip(got, want.weight_gradients, strict=True):
            np.testing.assert_allclose(np.asarray(a), b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("target", ["torch", "jax"])
def test_the_matrix_loss_refuses_a_gradient_in_x_or_y_rather_than_give_none_or_zero(target):
    lib = pytest.importorskip(target)
    form = sb.matrix_form([2, 2, 1], bias=False)
    m = _module(matrix_module(form, target))
    X, Y, W = np.ones((2, 3)), np.ones((1, 3)) / 2, [np.ones((2, 2)), np.ones((1, 2))]
    for which in ("X", "Y"):
        with pytest.raises(ValueError, match="weights and biases only"):
            if target == "torch":
                x, y = lib.tensor(X, requires_grad=which == "X"), lib.tensor(Y, requires_grad=which == "Y")
                m["loss"](x, y, [lib.tensor(w, requires_grad=True) for w in W])
            elif which == "X":
                lib.grad(lambda x: m["loss"](x, Y, W))(X)  # noqa: B023 - called at once
            else:
                lib.grad(lambda y: m["loss"](X, y, W))(Y)  # noqa: B023 - called at once


@pytest.mark.parametrize("out, loss", [("sigmoid", "bce"), ("softmax", "cross_entropy")])
def test_input_and_target_gradients_stay_finite_at_saturated_logits(out, loss):
    # the targets' δ is taken from the logits as the loss is: -z, not -inf, at σ(±3000)
    torch = pytest.importorskip("torch")
    net = sb.mlp([1, 2 if out == "softmax" else 1], activation=out, loss=loss, bias=False)
    d = sb.derive(net)
    m = _module(scalar_module(d, "torch"))
    values = {s.name: 0.3 for s in d.graph.leaves}
    values.update({p.name: 10000.0 * (-1) ** k for k, p in enumerate(d.graph.parameters)})
    if out == "softmax":
        values.update({t.name: float(k == 0) for k, t in enumerate(d.graph.targets)})
    args = [torch.tensor(values[n], dtype=torch.float64, requires_grad=True) for n in m["LEAVES"]]
    derived = torch.autograd.grad(m["loss"](*args), args)
    taped = torch.autograd.grad(_taped(m["Loss"], args), args)  # the stable forward's autograd
    for a, b in zip(derived, taped, strict=True):
        assert torch.isfinite(a) and float(a) == pytest.approx(float(b), rel=1e-9, abs=1e-12)

"""Standalone modules: they run in a fresh interpreter without symbackprop, and agree with it."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.codegen.export_matrix import matrix_module
from symbackprop.codegen.export_scalar import scalar_module

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

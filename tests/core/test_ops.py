"""The op registry: each activation's rules hold, in one place, and every activation works
everywhere an activation works (scalar, matrix and general forms, every evaluator backend,
exported code), checked against finite differences and, where installed, torch and jax."""

from __future__ import annotations

import importlib
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.codegen.export_matrix import matrix_module
from symbackprop.codegen.export_scalar import scalar_module
from symbackprop.core import ops
from symbackprop.core.errors import UnavailableError
from symbackprop.core.ops import base
from symbackprop.forms import models as forms
from symbackprop.io.spec.expr import FUNCTIONS as SPEC_FUNCTIONS
from symbackprop.output.render import environment
from symbackprop.teaching.latexparse import FUNCTIONS as LATEX_FUNCTIONS

PACKAGE = Path(sb.__file__).resolve().parent
#: Every elementwise activation of the registry, each once (linear is the identity's other name).
ELEMENTWISE = [n for n in ops.ELEMENTWISE if n != "linear"]
#: The ones with a function of their own (the identity is no function).
FUNCTIONS = [n for n in ELEMENTWISE if ops.ACTIVATIONS[n].latex]
#: Every entry with a function: those, and the derivatives the notes write as functions (GELU′).
ENTRIES = {op.name: op for op in ops.FUNCTIONS if op.name != "softmax"}
POINTS = [-3.7, -1.2, -0.31, 0.45, 1.3, 2.9]


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


BACKENDS = ["numpy", "torch", "jax"]


def _backend(name: str) -> str:
    if name != "numpy" and not _installed(name):
        pytest.skip(f"{name} is not installed")
    if name == "jax":  # float64 arrays stay float64, as numpy's and torch's do
        importlib.import_module("jax").config.update("jax_enable_x64", True)
    return name


# -- each entry's rules ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(ENTRIES))
def test_textbook_derivative_equals_the_derivative_of_the_elementary_definition(name):
    op = ENTRIES[name]
    x = sp.Symbol("x", real=True)
    textbook = sp.diff(op(x), x)
    from_definition = sp.diff(op.elementary(x, *op.defaults), x)
    for point in POINTS:
        assert float(textbook.subs(x, point).evalf(30)) == pytest.approx(
            float(from_definition.subs(x, point).evalf(30)), rel=1e-12, abs=1e-15), point


@pytest.mark.parametrize("name", list(ENTRIES))
def test_value_at_floats_is_the_elementary_definition(name):
    op = ENTRIES[name]
    x = sp.Symbol("x", real=True)
    definition = op.elementary(x, *op.defaults)
    for point in POINTS:
        want = float(definition.subs(x, point).evalf(30))
        # 1 + tanh(u) cancels where GELU's tail is small: a float formula keeps about 12 digits
        assert op.scalar(point, *map(float, op.defaults)) == pytest.approx(want, rel=1e-11)
        assert float(op(sp.Float(point, 30)).evalf(30)) == pytest.approx(want, rel=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(ENTRIES))
def test_kernel_of_every_backend_computes_the_activation(name, backend):
    op = ENTRIES[name]
    kernel = op.load(_backend(backend))[name]
    lib = {"numpy": np, "torch": None, "jax": None}[backend]
    if backend == "torch":
        import torch as lib
    elif backend == "jax":
        import jax.numpy as lib
    x = np.array(POINTS + [-800.0, 800.0])
    args = [lib.asarray(x) if backend != "torch" else lib.tensor(x, dtype=lib.float64)]
    args += [float(a) for a in op.defaults]
    got = np.asarray(kernel(*args), dtype=float)
    want = [op.scalar(float(p), *map(float, op.defaults)) for p in x]
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-300)


@pytest.mark.parametrize("name", [n for n in FUNCTIONS if "scipy" in ops.ACTIVATIONS[n].kernels])
def test_scipy_fused_kernels_agree_with_the_numpy_kernels(name):
    pytest.importorskip("scipy")
    x = np.array(POINTS + [-800.0, 800.0, 0.0])
    np.testing.assert_allclose(ops.ACTIVATIONS[name].load("scipy")[name](x),
                               ops.ACTIVATIONS[name].load("numpy")[name](x), rtol=1e-14, atol=0)
    assert ops.namespace("numpy")[name] is not ops.namespace("scipy")[name]


def test_numpy_kernels_keep_float32():
    for name, f in ops.namespace("numpy").items():
        if name in ("softmax", "leaky_relu") or name.endswith("_into"):
            continue
        assert f(np.linspace(-2, 2, 5, dtype=np.float32)).dtype == np.float32, name


@pytest.mark.parametrize("target", BACKENDS)
@pytest.mark.parametrize("name", list(ENTRIES))
def test_exported_kernel_source_is_the_kernel_and_runs_on_its_own(name, target):
    op = ENTRIES[name]
    _backend(target)
    source = op.source(target)
    assert "noqa" not in source and "symbackprop" not in source
    imports = {"numpy": "import numpy", "torch": "import torch",
               "jax": "import jax\nimport jax.numpy as jnp"}[target]
    module: dict = {}
    exec(compile(imports + "\n" + source, f"<{name}.{target}>", "exec"), module)  # as exported
    x = np.array(POINTS)
    arg = x if target == "numpy" else module["torch"].tensor(x) if target == "torch" else \
        module["jnp"].asarray(x)
    extra = [float(a) for a in op.defaults]
    np.testing.assert_allclose(np.asarray(module[name](arg, *extra)),
                               np.asarray(op.load(target)[name](arg, *extra)), rtol=1e-15)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_latex_prints_the_registry_spelling_and_reads_back(name):
    op = ops.ACTIVATIONS[name]
    z = sp.Symbol("z")
    printed = sp.latex(op(z))
    assert printed.startswith(op.latex)
    assert LATEX_FUNCTIONS[op.latex](z) == op(z)


def test_exact_gelu_without_scipy_is_refused_in_one_line_for_numpy(monkeypatch):
    real = importlib.import_module

    def no_scipy(name, *args, **kwargs):
        if name.startswith("scipy"):
            raise ModuleNotFoundError(f"No module named {name!r}", name="scipy")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", no_scipy)
    base._load.cache_clear()
    try:
        assert "gelu_erf" not in ops.namespace("numpy") and "gelu" in ops.namespace("numpy")
        with pytest.raises(UnavailableError, match=r"^gelu_erf on numpy needs scipy, which is not"):
            ops.require("a = gelu_erf(z)", "numpy", ops.namespace("numpy"))
        form = forms.conv1d_form("gelu_erf")
        with pytest.raises(sb.SymbackpropError) as info:
            form.evaluator({"n": 5, "K": 2})
        assert "\n" not in str(info.value) and "scipy" in str(info.value)
    finally:
        base._load.cache_clear()


def test_an_activations_rules_are_spelled_out_in_its_registry_entry_alone():
    """No module outside ops/ writes an activation's LaTeX or a line of its kernels."""
    ours = sorted(p for p in PACKAGE.rglob("*.py") if "ops" not in p.relative_to(PACKAGE).parts)
    texts = {p: p.read_text(encoding="utf-8") for p in ours}
    found = []
    for op in ops.ACTIVATIONS.values():
        marks = {op.latex} if op.latex and op.latex.startswith(r"\operatorname") else set()
        for target in op.kernels:
            marks |= {line.strip() for line in op.source(target).splitlines()
                      if line.strip().startswith("return ") and "(" in line}
        for mark in marks:
            found += [f"{p.name}: {mark}" for p, text in texts.items() if mark in text]
    for t in (PACKAGE.parent / "templates").glob("*.j2"):  # prose names them by the registry
        found += [f"{t.name}: {m}" for m in re.findall(r'k == "(\w+)"', t.read_text("utf-8"))
                  if m in ops.ACTIVATIONS]
    assert found == []


def test_every_activation_is_a_spec_function_and_a_layer_choice():
    assert set(FUNCTIONS) <= set(SPEC_FUNCTIONS)
    assert set(ELEMENTWISE) | {"softmax", "linear"} == set(ops.LAYER_ACTIVATIONS)


# -- every activation, everywhere an activation works -------------------------------------------------
def _mlp_values(net, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    values = {s.name: float(rng.uniform(-1.5, 1.5)) for s in net.inputs}
    values |= {s.name: float(rng.uniform(0.1, 0.9)) for s in net.targets}
    values |= {s.name: float(rng.normal(scale=0.8)) for s in net.parameters}
    return values


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_scalar_form_gradients_match_finite_differences(name):
    net = sb.mlp([2, 3, 2], activation=[name, "sigmoid"], loss="mse", bias=True)
    d = sb.derive(net)
    check = sb.check_gradients(d, _mlp_values(net))
    assert check.ok, check.rows


def _matrix_problem(sizes, seed=3, batch=5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(sizes[0], batch))
    Y = rng.uniform(0.1, 0.9, size=(sizes[-1], batch))
    W = [rng.normal(size=(b, a)) * 0.8 for a, b in zip(sizes, sizes[1:], strict=False)]
    B = [rng.normal(size=b) for b in sizes[1:]]
    return X, Y, W, B


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_matrix_form_checks_and_its_evaluator_matches_finite_differences(name, backend):
    sizes = [3, 4, 2]
    form = sb.matrix_form(sizes, [name, "sigmoid"], "bce", bias=True)
    assert form.check().ok
    f = form.evaluator(backend=_backend(backend))
    X, Y, W, B = _matrix_problem(sizes)
    lib = {"numpy": np.asarray, "torch": lambda a: importlib.import_module("torch").from_numpy(a),
           "jax": lambda a: importlib.import_module("jax.numpy").asarray(a)}[backend]
    got = f(lib(X), lib(Y), [lib(w) for w in W], [lib(b) for b in B])
    numpy_f = form.evaluator(backend="numpy")
    eps = 1e-6
    for layer, w in enumerate(W):
        for index in [(0, 0), (w.shape[0] - 1, w.shape[1] - 1)]:
            up = [a.copy() for a in W]
            down = [a.copy() for a in W]
            up[layer][index] += eps
            down[layer][index] -= eps
            numeric = (numpy_f(X, Y, up, B).loss - numpy_f(X, Y, down, B).loss) / (2 * eps)
            assert float(np.asarray(got.weight_gradients[layer])[index]) == pytest.approx(
                numeric, rel=1e-6, abs=1e-9)


#: Each activation as torch.nn.functional computes it (torch's own code, not the registry's).
_TORCH_ACTIVATIONS = {
    "sigmoid": lambda F, a: F.sigmoid(a), "tanh": lambda F, a: F.tanh(a),
    "relu": lambda F, a: F.relu(a), "leaky_relu": lambda F, a: F.leaky_relu(a, 0.01),
    "softplus": lambda F, a: F.softplus(a), "gelu": lambda F, a: F.gelu(a, approximate="tanh"),
    "gelu_erf": lambda F, a: F.gelu(a), "silu": lambda F, a: F.silu(a),
    "identity": lambda F, a: a,
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_general_form_evaluator_matches_torch_autograd(name, backend):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    n, K, batch = 7, 3, 4
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(batch, n)), rng.normal(size=batch)
    P = {"w": rng.normal(size=K), "b": 0.3, "v": rng.normal(size=n - K + 1), "c": -0.2}
    out = forms.conv1d_form(name).evaluator({"n": n, "K": K}, _backend(backend))({"x": x, "y": y}, P)
    w = torch.tensor(P["w"][None, None], requires_grad=True)
    b = torch.tensor([P["b"]], requires_grad=True, dtype=torch.float64)
    a = F.conv1d(torch.tensor(x[:, None, :]), w, b)[:, 0]
    activated = _TORCH_ACTIVATIONS[name](F, a)
    loss = (activated @ torch.tensor(P["v"]) + P["c"] - torch.tensor(y)) ** 2
    loss.mean().backward()
    np.testing.assert_allclose(np.asarray(out.loss), loss.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(out.gradients["w"]), w.grad[0, 0].numpy(), rtol=1e-9,
                               atol=1e-13)
    np.testing.assert_allclose(np.asarray(out.gradients["b"]), b.grad.numpy()[0], rtol=1e-9)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_block_network_evaluator_matches_finite_differences(name):
    form = sb.general_form(sb.network(2, [sb.dense(3, name), sb.dense(1)]))
    ev = form.evaluator({"m": 3, "n_0": 2, "n_1": 3, "n_2": 1})
    rng = np.random.default_rng(2)
    params = {q.name: rng.normal(size=[hi - lo + 1 for lo, hi in ev.ranges[q.name]]) * 0.7
              for q in ev.qs.values() if q.kind == "parameter"}
    inputs = {q.name: rng.normal(size=[3, *[hi - lo + 1 for lo, hi in ev.ranges[q.name]]])
              for q in ev.qs.values() if q.kind in ("input", "target")}
    got = ev(inputs, params)
    eps = 1e-6
    for pname, p in params.items():
        index = (0,) * p.ndim
        up, down = dict(params), dict(params)
        up[pname], down[pname] = p.copy(), p.copy()
        up[pname][index] += eps
        down[pname][index] -= eps
        numeric = (np.mean(ev(inputs, up).loss) - np.mean(ev(inputs, down).loss)) / (2 * eps)
        assert float(np.asarray(got.gradients[pname])[index]) == pytest.approx(
            numeric, rel=1e-6, abs=1e-9), pname


@pytest.mark.parametrize("target", BACKENDS)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_exported_scalar_and_matrix_modules_agree_with_the_engine(name, target):
    _backend(target)
    net = sb.mlp([2, 2, 1], activation=[name, "sigmoid"], loss="mse", bias=True)
    d = sb.derive(net)
    values = _mlp_values(net, seed=1)
    want = d.evaluate(values)
    module: dict = {}
    exec(compile(scalar_module(d, target), "scalar.py", "exec"), module)  # as `python scalar.py`
    leaves = [values[n] for n in module["LEAVES"]]
    if target == "numpy":
        got = module["loss_and_gradients"](**values)
        assert float(got.loss) == pytest.approx(want.loss, rel=1e-12)
        for p, g in got.gradients.items():
            assert float(g) == pytest.approx(want.gradients[p], rel=1e-10, abs=1e-14)
    else:  # the loss, differentiated by the library through the derived backward pass
        names = module["LEAVES"]
        wanted = [k for k, n in enumerate(names) if n in want.gradients]
        if target == "torch":
            torch = importlib.import_module("torch")
            args = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in leaves]
            loss = module["loss"](*args)
            grads = torch.autograd.grad(loss, [args[k] for k in wanted])
        else:
            jax = importlib.import_module("jax")
            jax.config.update("jax_enable_x64", True)
            loss = module["loss"](*leaves)
            grads = jax.grad(module["loss"], argnums=tuple(wanted))(*leaves)
        assert float(np.asarray(loss.detach() if target == "torch" else loss)) == pytest.approx(
            want.loss, rel=1e-12)
        for k, g in zip(wanted, grads, strict=True):
            assert float(g) == pytest.approx(want.gradients[names[k]], rel=1e-10, abs=1e-14)
    form = sb.matrix_form([2, 2, 1], [name, "sigmoid"], "mse", bias=True)
    matrix: dict = {}
    exec(compile(matrix_module(form, target), "matrix.py", "exec"), matrix)
    X, Y, W, B = _matrix_problem([2, 2, 1])
    engine = form.evaluator(backend="numpy")(X, Y, W, B)
    if target != "numpy":
        lib = importlib.import_module("torch" if target == "torch" else "jax.numpy")
        X, Y = lib.asarray(X), lib.asarray(Y)
        W, B = [lib.asarray(w) for w in W], [lib.asarray(b) for b in B]
    exported = matrix["loss_and_gradients"](X, Y, W, B)
    assert float(exported.loss) == pytest.approx(float(engine.loss), rel=1e-12)
    for a, b in zip(exported.weight_gradients, engine.weight_gradients, strict=True):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", ["gelu", "silu", "gelu_erf"])
def test_notes_lint_clean_in_both_languages(name, tmp_path):
    net = sb.mlp([2, 2, 1], activation=[name, "sigmoid"], loss="mse", bias=False,
                 notation="sequential")
    d = sb.derive(net)
    ex = sb.worked_example(d, _mlp_values(net, seed=4), learning_rate=0.1, digits=3)
    for language in ("en", "ko"):
        tex = sb.render(ex, "article", language=language)
        assert ops.ACTIVATIONS[name].latex in tex
        result = sb.lint(tex, d)
        assert len(result.lines) > 10 and result.ok, [w.text for w in result.wrong]


def test_activation_names_are_translated_in_sentences():
    for language, want in (("en", "SiLU (swish)"), ("ko", "SiLU(스위시)")):
        env = environment(language=language)
        macro = env.from_string('<% import "_prose.j2" as p %><< p.activation("silu") >>')
        assert macro.render() == want
    assert math.isfinite(ops.ACTIVATIONS["gelu"].scalar(1e300))


@pytest.mark.parametrize("name", ["gelu", "silu", "gelu_erf"])
def test_grade_judges_a_hand_calculation_through_the_new_activations(name):
    net = sb.mlp([2, 2, 1], activation=[name, "sigmoid"], loss="mse", bias=False,
                 notation="sequential")
    d = sb.derive(net)
    values = _mlp_values(net, seed=4)
    right = d.evaluate(values).gradients["w1"]
    judged = sb.grade(d, values, {"dL/dw1": round(right, 4), "dL/dw2": 9.0})
    assert [c.ok for c in judged] == [True, False]


@pytest.mark.slow  # over 2 s: make test keeps within its 4 minutes
def test_the_command_line_checks_notes_and_exports_a_gelu_silu_spec(tmp_path):
    spec = tmp_path / "gelu.toml"
    spec.write_text('[network]\nsizes = [2, 2, 2, 1]\nactivation = ["gelu", "silu", "sigmoid"]\n'
                    'loss = "bce"\nbias = false\nnotation = "sequential"\n\n[values]\n'
                    'x1 = 0.5\nx2 = -0.3\ny = 1.0\nw1 = 0.7\nw2 = -0.3\nw3 = 0.4\nw4 = 0.6\n'
                    'w5 = -0.55\nw6 = 0.45\nw7 = 0.2\nw8 = -0.1\nw9 = 0.35\nw10 = 0.25\n',
                    encoding="utf-8")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "symbackprop", *args], capture_output=True,
                              text=True, cwd=tmp_path, timeout=120)

    checked = run("check", str(spec))
    assert checked.returncode == 0 and "all gradients agree" in checked.stdout, checked.stderr
    code = run("grad", str(spec), "--code")
    assert code.returncode == 0 and "def gelu_prime(x):" in code.stdout and "def silu(" in code.stdout
    notes = run("notes", str(spec), "--lang", "ko", "-o", str(tmp_path / "n.tex"), "-q")
    assert notes.returncode == 0, notes.stderr
    assert r"\operatorname{GELU}'" in (tmp_path / "n.tex").read_text(encoding="utf-8")
    bad = run("check", str(spec).replace("gelu.toml", "x.toml"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_without_scipy_an_exact_gelu_network_is_refused_in_one_line_everywhere(tmp_path):
    """Where scipy is missing, numpy has no erf: the scalar evaluator and the command line
    refuse a gelu_erf network in one line, before any number is printed."""
    script = tmp_path / "no_scipy.py"
    spec = tmp_path / "s.toml"
    spec.write_text('[network]\nsizes = [2, 2, 1]\nactivation = ["gelu_erf", "sigmoid"]\n'
                    'bias = false\n\n[values]\nx1 = 0.5\nx2 = 0.3\ny = 1.0\nw1 = 0.7\nw2 = 0.3\n'
                    'w3 = 0.4\nw4 = 0.6\nw5 = 0.55\nw6 = 0.45\n', encoding="utf-8")
    script.write_text(
        "import sys\n"
        "sys.modules['scipy'] = None  # as if scipy were not installed\n"
        "from symbackprop.cli import main\n"
        f"sys.exit(main(['check', {str(spec)!r}]))\n", encoding="utf-8")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "needs scipy" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("name", [n for n in FUNCTIONS if ops.ACTIVATIONS[n].prime])
def test_an_activations_prime_is_its_derivative(name):
    # the evaluators compute the prime where the notes print the textbook derivative
    op = ops.ACTIVATIONS[name]
    x = sp.Symbol("x", real=True)
    textbook = sp.diff(op(x), x)
    for point in [*POINTS, 0.0]:
        want = float(textbook.subs(x, point).evalf(30))
        assert float(op.prime(sp.Float(point, 30)).evalf(30)) == pytest.approx(want, rel=1e-13)
        assert op.prime.scalar(point) == pytest.approx(want, rel=1e-12)

"""Standalone modules: a derivation's forward and backward pass as code that runs on its own.

``scalar_module(d)`` writes a numpy module with one function returning a NamedTuple (loss,
nodes, gradients); ``target="torch"`` writes a ``torch.autograd.Function`` whose ``backward`` is
the derived δ code, ``target="jax"`` a ``jax.custom_vjp`` function. The lines are the scalar
evaluator's own (its stable forms: p − y, log σ and log softmax from logits) in the same
collision-free identifiers, so no user name can shadow a function the module calls. The
module imports only numpy, torch or jax.

>>> import symbackprop as sb
>>> source = scalar_module(sb.derive(sb.mlp([2, 1])))
>>> namespace = {}
>>> exec(compile(source, "f.py", "exec"), namespace)  # what `python f.py` would run
>>> r = namespace["loss_and_gradients"](x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.4)
>>> round(float(r.loss), 4), sorted(r.gradients)
(0.1479, ['w1', 'w2'])
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from ..core import ops

if TYPE_CHECKING:  # a derivation is read, never built, by the exporter
    from ..derivation.reverse import Derivation

__all__ = ["scalar_module", "helper_sources", "TARGETS"]

TARGETS = ("numpy", "torch", "jax")

_PREFIX = {"numpy": "numpy", "torch": "torch", "jax": "jnp"}
_IMPORTS = {"numpy": "import numpy", "torch": "import torch",
            "jax": "import jax\nimport jax.numpy as jnp"}


class _Printer(NumPyPrinter):
    """numpy-qualified code; the engine's functions are printed by name (defined in the module)."""

    def __init__(self) -> None:
        super().__init__({"fully_qualified_modules": True, "inline": True,
                          "allow_unknown_functions": True})

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        at_zero = expr.args[1] if len(expr.args) > 1 else sp.S.Half
        return f"heaviside({self._print(expr.args[0])}, {self._print(sp.Float(at_zero))})"

    def _print_erf(self, expr: sp.erf) -> str:  # the registry's kernel (numpy has no erf)
        return f"erf({self._print(expr.args[0])})"

    def _print(self, expr, **kwargs) -> str:
        # a constant such as √(2/π) (GELU's) is one float: torch.sqrt takes no plain number
        if isinstance(expr, sp.Expr) and expr.is_number and not expr.is_Rational and expr.is_real:
            return repr(float(expr))
        return super()._print(expr, **kwargs)


# The step and the stable loss helpers' source per target (the activations' kernels are the op
# registry's); a module carries only the helpers its code calls.
_HELPERS = {
    "numpy": {
        "heaviside": "def heaviside(x, at_zero):\n    return numpy.heaviside(x, at_zero)",
        "_logsumexp": ("def _logsumexp(zs):\n    top = numpy.maximum.reduce(zs)\n"
                       "    top = numpy.where(numpy.isfinite(top), top, 0.0)\n"
                       "    return top + numpy.log(sum(numpy.exp(z - top) for z in zs))"),
        "log_softmax": ("def log_softmax(k, *zs):\n    zs = numpy.broadcast_arrays(*zs)\n"
                        "    return zs[k - 1] - _logsumexp(zs)"),
    },
    "torch": {
        "heaviside": ("def heaviside(x, at_zero):\n"
                      "    return torch.heaviside(x, torch.full_like(x, at_zero))"),
        "_logsumexp": ("def _logsumexp(zs):\n"
                       "    return torch.logsumexp(torch.stack(torch.broadcast_tensors(*zs)), 0)"),
        "log_softmax": ("def log_softmax(k, *zs):\n    return torch.log_softmax("
                        "torch.stack(torch.broadcast_tensors(*zs)), 0)[k - 1]"),
    },
    "jax": {
        "heaviside": "def heaviside(x, at_zero):\n    return jnp.heaviside(x, at_zero)",
        "_logsumexp": ("def _logsumexp(zs):\n"
                       "    return jax.scipy.special.logsumexp(jnp.stack(jnp.broadcast_arrays(*zs)), 0)"),
        "log_softmax": ("def log_softmax(k, *zs):\n"
                        "    return jax.nn.log_softmax(jnp.stack(jnp.broadcast_arrays(*zs)), 0)[k - 1]"),
    },
}
for _target, _prefix in _PREFIX.items():
    _HELPERS[_target]["log_softmax_complement"] = (
        "def log_softmax_complement(k, *zs):\n"
        "    others = [z for i, z in enumerate(zs) if i != k - 1]\n"
        "    return _logsumexp(others) - _logsumexp(zs)")
    _HELPERS[_target]["softmax_ratio"] = (
        "def softmax_ratio(j, k, *zs):\n"
        "    others = [z for i, z in enumerate(zs) if i != k - 1]\n"
        f"    return {_prefix}.exp(zs[j - 1] - _logsumexp(others))")
_NEEDS = {"log_softmax": ["_logsumexp"],
          "log_softmax_complement": ["_logsumexp"], "softmax_ratio": ["_logsumexp"]}


def _lines(printer: _Printer, steps, prefix: str, indent: str = "    ") -> list[str]:
    out = []
    for name, expr in steps:
        text = _NUMPY.sub(prefix + ".", printer.doprint(expr))
        out.append(f"{indent}{name} = {text}")
    return out


_NUMPY = re.compile(r"(?<![.\w])numpy\.")


def helper_sources(names: set[str], target: str) -> list[str]:
    """The definitions a ``target`` module needs for the functions ``names`` it calls: the
    registry's kernels, then the step and the stable loss helpers, in a fixed order.

    >>> [text.splitlines()[0] for text in helper_sources({"relu", "heaviside"}, "jax")]
    ['def relu(x):', 'def heaviside(x, at_zero):']
    """
    used = [n for n in _HELPERS[target] if n in names]
    needed = {h for n in used for h in _NEEDS.get(n, [])}
    return ops.kernel_sources(names, target) + [
        text for n, text in _HELPERS[target].items() if n in needed or n in used]


def scalar_module(derivation: Derivation, target: str = "numpy",
                  name: str = "loss_and_gradients") -> str:
    """The source of a standalone module computing the loss and every gradient.

    ``numpy``: ``name(**leaves)`` returns ``Result(loss, nodes, gradients)`` (dicts by the
    graph's names). ``torch``: ``name(*leaves)`` is the loss as a ``torch.autograd.Function``
    whose backward is the derived one. ``jax``: the same as a ``jax.custom_vjp`` function.
    Leaves are passed in the graph's order (``LEAVES`` in the module lists them).
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; expected one of: {', '.join(TARGETS)}")
    if not name.isidentifier():
        raise ValueError(f"{name!r} is not a Python identifier")
    g = derivation.graph
    code = derivation.evaluator.code
    if name in {str(a) for a in code.args} or name in {"Result", "LEAVES", "PARAMETERS"}:
        raise ValueError(f"the function name {name!r} is taken by the module")
    printer = _Printer()
    prefix = _PREFIX[target]
    forward = _lines(printer, code.forward, prefix)
    backward = _lines(printer, code.backward + code.gradients, prefix)
    helpers = helper_sources(ops.called_names("\n".join(forward + backward)), target)
    args = [str(a) for a in code.args]
    leaves = [s.name for s in g.leaves]
    title = re.sub(r"[\r\n\"\\]", " ", g.title)
    head = [f'"""Generated by symbackprop: the loss of "{title}" and its gradients, derived by '
            "backpropagation.", "",
            f"Arguments, in order: {_argument_list(args, leaves)}.",
            f'Imports only {target}."""', "", _IMPORTS[target]]
    if target == "numpy":
        head.insert(-1, "from typing import NamedTuple\n")
    head += ["", f"LEAVES = {leaves!r}", f"PARAMETERS = {[p.name for p in g.parameters]!r}", ""]
    body = "\n\n\n".join(helpers)
    writer = {"numpy": _numpy_function, "torch": _torch_function, "jax": _jax_function}[target]
    text = writer(derivation, name, args, forward, backward)
    return "\n".join(head) + ("\n\n" + body + "\n" if body else "") + "\n\n" + text


def _argument_list(args: list[str], leaves: list[str]) -> str:
    # a renamed argument shows the graph's name beside it: e_1 (e)
    return ", ".join(a if a == n else f"{a} ({n})" for a, n in zip(args, leaves, strict=True))


def _numpy_function(d: Derivation, name, args, forward, backward) -> str:
    g = d.graph
    code = d.evaluator.code
    nodes = ", ".join(f"{v.name!r}: {a}" for v, (a, _) in zip(g.nodes, code.forward, strict=True))
    grads = ", ".join(f"{p.name!r}: {a}"
                      for p, (a, _) in zip(g.parameters, code.gradients, strict=True))
    convert = [f"    {a} = numpy.asarray({a}, dtype=numpy.float64)" for a in args]
    return "\n".join([
        "class Result(NamedTuple):",
        '    """The loss, every node\'s value and every parameter\'s gradient, by name."""',
        "",
        "    loss: numpy.ndarray",
        "    nodes: dict",
        "    gradients: dict",
        "",
        "",
        f"def {name}({', '.join(args)}):",
        '    """Forward pass, then the δ of every node and the gradient of every parameter."""',
        *convert,
        f"    numpy.broadcast_shapes({', '.join(f'{a}.shape' for a in args)})"
        "  # the arguments must broadcast together",
        "    with numpy.errstate(all='ignore'):",
        *["    " + line for line in forward + backward],
        f"    return Result({code.loss}, {{{nodes}}}, {{{grads}}})",
        "",
    ])


def _param_positions(d: Derivation) -> dict[int, str]:
    code = d.evaluator.code
    grads = {p: a for p, (a, _) in zip(d.graph.parameters, code.gradients, strict=True)}
    return {k: str(grads[s]) for k, s in enumerate(d.graph.leaves) if s in grads}


def _torch_function(d: Derivation, name, args, forward, backward) -> str:
    params = _param_positions(d)
    outs = [f"(grad_output * {params[k]}).sum_to_size({a}.shape)" if k in params else "None"
            for k, a in enumerate(args)]
    cls = "".join(part.capitalize() for part in name.split("_")) or "Loss"
    return "\n".join([
        f"class {cls}(torch.autograd.Function):",
        '    """The loss; its backward pass is the derived δ code, not autograd\'s tape.',
        "",
        "    Only parameters get gradients (None for inputs and targets).",
        '    """',
        "",
        "    @staticmethod",
        f"    def forward(ctx, {', '.join(args)}):",
        *["    " + line for line in forward],
        f"        ctx.save_for_backward({', '.join(args)})",
        f"        return {d.evaluator.code.loss}",
        "",
        "    @staticmethod",
        "    def backward(ctx, grad_output):",
        f"        {', '.join(args)}, = ctx.saved_tensors",
        *["    " + line for line in forward + backward],
        f"        return {', '.join(outs)}",
        "",
        "",
        f"def {name}({', '.join(args)}):",
        f'    """The loss at tensors {", ".join(args)}; .backward() runs the derived backward pass."""',
        f"    return {cls}.apply({', '.join(args)})",
        "",
    ])


def _jax_function(d: Derivation, name, args, forward, backward) -> str:
    params = _param_positions(d)
    outs = [f"_sum_to(cotangent * {params[k]}, {a})" if k in params else f"jnp.zeros_like({a})"
            for k, a in enumerate(args)]
    return "\n".join([
        "def _sum_to(x, like):",
        "    # The cotangent of a broadcast argument: summed back to the argument's shape.",
        "    x = jnp.broadcast_to(x, jnp.broadcast_shapes(jnp.shape(x), jnp.shape(like)))",
        "    lead = x.ndim - jnp.ndim(like)",
        "    x = x.sum(axis=tuple(range(lead)))",
        "    axes = tuple(i for i, n in enumerate(jnp.shape(like)) if n == 1 and x.shape[i] != 1)",
        "    return x.sum(axis=axes, keepdims=True) if axes else x",
        "",
        "",
        "@jax.custom_vjp",
        f"def {name}({', '.join(args)}):",
        '    """The loss; its vjp is the derived δ code (only parameters get nonzero cotangents)."""',
        *forward,
        f"    return {d.evaluator.code.loss}",
        "",
        "",
        f"def _{name}_forward({', '.join(args)}):",
        f"    return {name}({', '.join(args)}), ({', '.join(args)},)",
        "",
        "",
        f"def _{name}_backward(saved, cotangent):",
        f"    {', '.join(args)}, = saved",
        *forward,
        *backward,
        f"    return ({', '.join(outs)},)",
        "",
        "",
        f"{name}.defvjp(_{name}_forward, _{name}_backward)",
        "",
    ])


# -- the matrix form's batched module --------------------------------------------------------------

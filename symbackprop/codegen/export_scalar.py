"""Standalone modules: a derivation's forward and backward pass as code that runs on its own.

``scalar_module(d)`` writes a module for numpy, torch or jax. In every target
``loss_and_gradients(...)`` returns ``Result(loss, nodes, gradients)`` (dicts by the graph's
names) computed by the derived code, without any autodiff; torch and jax also have ``loss(...)``,
the loss alone, differentiable by their autodiff through the derived backward pass (a
``torch.autograd.Function``, a ``jax.custom_vjp`` function) with respect to every argument,
inputs and targets included. Arguments are taken in ``LEAVES`` order or by those names.

The lines are the scalar evaluator's own (its stable forms: p − y, log σ and log softmax from
logits). A user's name that equals a name the module defines (its classes, functions, imports,
helpers) is renamed inside the code (``export_lines.ScalarLines.avoiding``), so it can shadow
nothing. The module imports only numpy, torch or jax.

>>> import symbackprop as sb
>>> source = scalar_module(sb.derive(sb.mlp([2, 1])))
>>> namespace = {}
>>> exec(compile(source, "f.py", "exec"), namespace)  # what `python f.py` would run
>>> r = namespace["loss_and_gradients"](x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.4)
>>> round(float(r.loss), 4), sorted(r.gradients)
(0.1479, ['w1', 'w2'])
"""

from __future__ import annotations

import ast
import keyword
import re
from typing import TYPE_CHECKING

import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from ..core import ops
from .export_lines import ScalarLines
from .export_targets import LOCALS, Printed, module_functions

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
_HELPERS["numpy"]["masked"] = ("def masked(step, x):\n"
                               "    return numpy.where(step == 0, 0.0, step * x)[()]")
_HELPERS["torch"]["masked"] = ("def masked(step, x):\n"
                               "    return torch.where(step == 0, 0.0, step * x)")
_HELPERS["jax"]["masked"] = ("def masked(step, x):\n"
                             "    return jnp.where(step == 0, 0.0, step * x)")
_NEEDS = {"log_softmax": ["_logsumexp"],
          "log_softmax_complement": ["_logsumexp"], "softmax_ratio": ["_logsumexp"]}


def _lines(printer: _Printer, steps, prefix: str) -> list[str]:
    return [f"{name} = {_NUMPY.sub(prefix + '.', printer.doprint(expr))}" for name, expr in steps]


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

    Every target: ``name(...)`` returns ``Result(loss, nodes, gradients)`` (dicts by the graph's
    names) by the derived code. torch and jax: ``loss(...)`` is the loss, a
    ``torch.autograd.Function`` or a ``jax.custom_vjp`` function whose backward pass is the
    derived one, for every argument. Leaves are passed in the graph's order (``LEAVES`` in the
    module lists them) or by those names.
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; expected one of: {', '.join(TARGETS)}")
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        raise ValueError(f"{name!r} is not a public Python identifier")
    lines = ScalarLines.of(derivation)
    for _ in range(4):  # each round renames what clashed; the module's names rarely change
        source = _module(derivation, lines, target, name)
        defined = _module_names(source)
        if defined.count(name) > 1:
            raise ValueError(f"the function name {name!r} is taken by the module")
        avoided = lines.avoiding(set(defined) | LOCALS)
        if avoided is lines:
            return source
        lines = avoided
    raise AssertionError("the module's names kept changing")  # pragma: no cover


def _module_names(source: str) -> list[str]:
    # every name the module binds at its top level, once per binding
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names += [(a.asname or a.name).split(".")[0] for a in node.names]
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return names


def _module(d: Derivation, lines: ScalarLines, target: str, name: str) -> str:
    printer = _Printer()
    prefix = _PREFIX[target]

    def text(steps) -> list[str]:
        return _lines(printer, steps, prefix)

    printed = Printed(lines, text(lines.forward), text(lines.backward), text(lines.gradients()),
                      text(lines.leaf_gradients))
    called = printed.forward + printed.backward + printed.leaf_gradients
    helpers = helper_sources(ops.called_names("\n".join(called)), target)
    g = d.graph
    title = re.sub(r"[\r\n\"\\]", " ", g.title)
    public = [name] + (["loss"] if target != "numpy" else [])
    head = [f'"""Generated by symbackprop: the loss of "{title}" and its gradients, derived by '
            "backpropagation.", "",
            f"{', '.join(public)}: arguments in the order of LEAVES, or by those names.",
            f'Imports only {target}."""', "", "from typing import NamedTuple", "",
            _IMPORTS[target], "", f"LEAVES = {list(lines.leaves)!r}",
            f"PARAMETERS = {list(lines.parameters)!r}", ""]
    body = "\n\n\n".join(helpers)
    return ("\n".join(head) + ("\n\n" + body + "\n" if body else "") + "\n\n"
            + module_functions(printed, target, name, lines.leaves))

"""The functions of an exported scalar module, per target: numpy's ``loss_and_gradients``, and
torch's and jax's ``loss`` (differentiable through the derived backward pass) beside theirs.

Every public function takes the leaves by position or by their names in ``LEAVES`` and hands
them to a private function of the evaluator's identifiers; the lines come printed from
``export_scalar``.
"""

from __future__ import annotations

import keyword

from .export_lines import ScalarLines

__all__ = ["Printed", "signature", "module_functions", "LOCALS"]

#: Names the generated functions use as their own locals: a line's identifier must not be one.
LOCALS = frozenset({"ctx", "grad_output", "cotangent", "saved", "args", "kwargs"})

_ARGUMENTS = '''def _arguments(args, kwargs):
    # the leaves in LEAVES order, given by position or by their names in LEAVES
    if len(args) > len(LEAVES):
        raise TypeError(f"expected {len(LEAVES)} arguments, got {len(args)}")
    values = dict(zip(LEAVES, args))
    for key, value in kwargs.items():
        if key not in LEAVES:
            raise TypeError(f"unexpected argument {key!r}; the arguments are {LEAVES}")
        if key in values:
            raise TypeError(f"argument {key!r} given twice")
        values[key] = value
    missing = [n for n in LEAVES if n not in values]
    if missing:
        raise TypeError(f"missing arguments: {', '.join(missing)}")
    return [values[n] for n in LEAVES]'''

_RESULT = '''class Result(NamedTuple):
    """The loss, every node's value and every parameter's gradient, by the graph's names."""

    loss: object
    nodes: dict
    gradients: dict'''

# loss_and_gradients returned torch's differentiable loss before it returned a Result, as every
# module's does: code that still calls .backward() on it is told where the loss went
_NOT_DIFFERENTIABLE = '''

    def backward(self, *args, **kwargs):
        raise TypeError("loss_and_gradients(...) holds the derived gradients already; "
                        "loss(...) is the differentiable loss")'''


class Printed:
    """The printed steps of ``ScalarLines``: ``forward``, ``backward`` (the δs), ``gradients``
    (the parameters') and ``leaf_gradients`` (every leaf's), each ``name = code``."""

    def __init__(self, lines: ScalarLines, forward, backward, gradients, leaf_gradients) -> None:
        self.lines = lines
        self.forward, self.backward = list(forward), list(backward)
        self.gradients, self.leaf_gradients = list(gradients), list(leaf_gradients)
        self.args = [str(a) for a in lines.args]


def signature(leaves) -> tuple[str, str, list[str]]:
    """The public functions' parameters, how they pass them on, and the helper that needs.

    The leaves' own names when every one can be a parameter that shadows nothing (none starts
    with ``_``, as every name the public functions read does); otherwise ``*args, **kwargs``
    bound by ``LEAVES``.
    """
    if all(n.isidentifier() and not keyword.iskeyword(n) and not n.startswith("_")
           for n in leaves):
        return ", ".join(leaves), ", ".join(leaves), []
    return "*args, **kwargs", "*_arguments(args, kwargs)", [_ARGUMENTS]


def _indent(lines, depth: int) -> list[str]:
    return [" " * (4 * depth) + line for line in lines]


def _result(p: Printed) -> str:
    lines = p.lines
    nodes = ", ".join(f"{n!r}: {a}" for n, (a, _) in zip(lines.nodes, lines.forward, strict=True))
    grads = ", ".join(f"{n!r}: {a}"
                      for n, (a, _) in zip(lines.parameters, lines.gradients(), strict=True))
    return f"return Result({lines.loss}, {{{nodes}}}, {{{grads}}})"


def _public(name: str, core: str, sig: str, call: str, doc: str) -> list[str]:
    return [f"def {name}({sig}):", f'    """{doc}"""', f"    return {core}({call})"]


def module_functions(p: Printed, target: str, name: str, leaves) -> str:
    """The helpers, classes and functions of a ``target`` module, after its imports."""
    sig, call, helpers = signature(leaves)
    args = ", ".join(p.args)
    gradients_doc = ("The loss, every node and every parameter's gradient by the derived "
                     "backward pass, without autodiff.")
    core = f"_{name}"
    convert = {"numpy": "{0} = numpy.asarray({0}, dtype=numpy.float64)",
               "torch": "{0} = _tensor({0})", "jax": "{0} = jnp.asarray({0})"}[target]
    body = [
        f"def {core}({args}):",
        *_indent([convert.format(a) for a in p.args], 1),
    ]
    if target == "numpy":
        body += [f"    numpy.broadcast_shapes({', '.join(f'{a}.shape' for a in p.args)})"
                 "  # the arguments must broadcast together",
                 "    with numpy.errstate(all='ignore'):",
                 *_indent(p.forward + p.backward + p.gradients, 2),
                 "    " + _result(p)]
    else:
        block = "with torch.no_grad():" if target == "torch" else None
        steps = p.forward + p.backward + p.gradients
        body += ([f"    {block}", *_indent(steps, 2)] if block else _indent(steps, 1))
        body.append("    " + _result(p))
    parts = [*helpers, _RESULT + (_NOT_DIFFERENTIABLE if target == "torch" else "")]
    if target != "numpy":
        parts += _differentiable(p, target)
    parts += ["\n".join(body), "\n".join(_public(name, core, sig, call, gradients_doc))]
    if target != "numpy":
        doc = ("The loss; its gradient, in every argument, is the derived backward pass, "
               "not autodiff's tape.")
        parts.append("\n".join(_public("loss", "_loss", sig, call, doc)))
    return "\n\n\n".join(parts) + "\n"


def _differentiable(p: Printed, target: str) -> list[str]:
    args = ", ".join(p.args)
    loss = str(p.lines.loss)
    outs = [str(a) for a, _ in p.lines.leaf_gradients]
    if target == "torch":
        returns = ", ".join(f"_sum_to(grad_output * {g}, {a}) if ctx.needs_input_grad[{k}] else None"
                            for k, (g, a) in enumerate(zip(outs, p.args, strict=True)))
        return [
            "def _tensor(x):\n"
            "    return x if torch.is_tensor(x) else torch.as_tensor(x, dtype=torch.float64)",
            "def _sum_to(x, like):\n"
            "    # the gradient of a broadcast argument: summed back to the argument's shape\n"
            "    x = torch.as_tensor(x, dtype=like.dtype)\n"
            "    return x.expand(torch.broadcast_shapes(x.shape, like.shape))"
            ".sum_to_size(like.shape)",
            "\n".join([
                "class Loss(torch.autograd.Function):",
                '    """The loss; its backward pass is the derived δ code, not autograd\'s tape.',
                "",
                "    Every argument gets its gradient: parameters, inputs and targets.",
                '    """',
                "",
                "    @staticmethod",
                f"    def forward(ctx, {args}):",
                *_indent(p.forward, 2),
                f"        ctx.save_for_backward({args})",
                f"        return {loss}",
                "",
                "    @staticmethod",
                "    def backward(ctx, grad_output):",
                f"        {args}, = ctx.saved_tensors",
                *_indent(p.forward + p.backward + p.leaf_gradients, 2),
                f"        return {returns}",
            ]),
            "\n".join([f"def _loss({args}):",
                       *_indent([f"{a} = _tensor({a})" for a in p.args], 1),
                       f"    return Loss.apply({args})"]),
        ]
    returns = ", ".join(f"_sum_to(cotangent * {g}, {a})"
                        for g, a in zip(outs, p.args, strict=True))
    return [
        "def _sum_to(x, like):\n"
        "    # the cotangent of a broadcast argument: summed back to the argument's shape\n"
        "    x = jnp.asarray(x)\n"
        "    x = jnp.broadcast_to(x, jnp.broadcast_shapes(jnp.shape(x), jnp.shape(like)))\n"
        "    lead = x.ndim - jnp.ndim(like)\n"
        "    x = x.sum(axis=tuple(range(lead)))\n"
        "    axes = tuple(i for i, n in enumerate(jnp.shape(like)) if n == 1 and x.shape[i] != 1)\n"
        "    return x.sum(axis=axes, keepdims=True) if axes else x",
        "\n".join(["@jax.custom_vjp", f"def _loss({args}):",
                   '    """The loss; its vjp is the derived δ code, in every argument."""',
                   *_indent(p.forward, 1), f"    return {loss}"]),
        "\n".join([f"def _loss_forward({args}):",
                   f"    return _loss({args}), ({args},)"]),
        "\n".join(["def _loss_backward(saved, cotangent):", f"    {args}, = saved",
                   *_indent(p.forward + p.backward + p.leaf_gradients, 1),
                   f"    return ({returns},)"]),
        "_loss.defvjp(_loss_forward, _loss_backward)",
    ]

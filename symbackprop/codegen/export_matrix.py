"""Standalone modules of a matrix form: the batched forward and backward pass as code that runs
on its own, for numpy, torch or jax.

- ``numpy``: ``loss_and_gradients(X, Y, weights, biases)`` checks every shape and runs the
  generated ``gradients`` (the in-place code of :class:`symbackprop.codegen.matrix.BatchEvaluator`).
- ``torch``: ``loss(X, Y, weights, biases)`` is a ``torch.autograd.Function``; its ``backward``
  runs the derived δ code (``_backward_pass``), not autograd's tape.
- ``jax``: ``loss`` is a ``jax.custom_vjp`` function whose vjp is the same δ code.

``loss`` derives the weights' and biases' gradients; differentiated with respect to X or Y
it raises ValueError (torch: an X or Y that requires grad), never a silent zero or None.
Every target's ``loss_and_gradients`` returns ``Result(loss, weight_gradients,
bias_gradients)`` by the derived code without any autograd, as the scalar modules' returns
``Result(loss, nodes, gradients)``.
The code is the engine's stable one: a sigmoid or softmax output's loss is taken from the
logits (softplus, log-softmax), its δ^[L] is p − y (A ⊙ 1 1ᵀY − Y for targets that are not
one-hot). The module imports only its library (and typing).

>>> from symbackprop.forms.matrix import matrix_form
>>> source = matrix_module(matrix_form([2, 2, 1], bias=True), "torch")
>>> "class Loss(torch.autograd.Function)" in source, "symbackprop" in source.split('\"\"\"', 2)[2]
(True, False)
"""

from __future__ import annotations

from ..core import ops
from .export_scalar import TARGETS, helper_sources
from .matrix_code import generate, split_passes
from .matrix_numpy import numpy_helper_sources

__all__ = ["matrix_module"]


def _log1m_softmax(xp: str) -> str:
    return (
        "def log_softmax_complement_columns(z):\n"
        "    # log(1 - softmax) from the logits: logsumexp of the other rows minus that of all\n"
        "    n = z.shape[0]\n"
        f"    others = {xp}.where({xp}.eye(n, dtype=bool)[:, :, None], -{xp}.inf, z[None])\n"
        "    top = others.max(axis=1, keepdims=True)\n"
        f"    top = {xp}.where({xp}.isfinite(top), top, 0.0)\n"
        f"    rest = top[:, 0] + {xp}.log({xp}.exp(others - top).sum(axis=1))\n"
        f"    return rest - (z.max(axis=0) + {xp}.log({xp}.exp(z - z.max(axis=0)).sum(axis=0)))")


# The matrix form's own helpers' source per target (the activations' kernels are the op
# registry's, the step's export.py's, numpy's lean gradients' matrix_numpy.py's); a module
# carries only those its code calls.
_MATRIX_HELPERS = {
    "numpy": {
        "exp": "exp = numpy.exp",
        "sqrt": "sqrt = numpy.sqrt",
        "log": "log = numpy.log",
        "log_softmax_complement_columns": _log1m_softmax("numpy"),
        "softmax_columns": ("def softmax_columns(z):\n"
                            "    e = numpy.exp(z - z.max(axis=0, keepdims=True))\n"
                            "    return e / e.sum(axis=0, keepdims=True)"),
        "log_softmax_columns": ("def log_softmax_columns(z):\n"
                                "    shifted = z - z.max(axis=0, keepdims=True)\n"
                                "    return shifted - numpy.log(numpy.exp(shifted).sum(axis=0, "
                                "keepdims=True))"),
        "sample_sum": "def sample_sum(x):\n    return x.sum(axis=1, keepdims=True)",
        "unit_sum": "def unit_sum(x):\n    return x.sum(axis=0, keepdims=True)",
    },
    "torch": {
        "exp": "exp = torch.exp",
        "sqrt": "sqrt = torch.sqrt",
        "log": "log = torch.log",
        "log_softmax_complement_columns": (
            "def log_softmax_complement_columns(z):\n"
            "    # log(1 - softmax) from the logits: logsumexp of the other rows minus that of all\n"
            "    mask = torch.eye(z.shape[0], dtype=torch.bool)[:, :, None]\n"
            "    others = z[None].expand(z.shape[0], *z.shape).masked_fill(mask, -torch.inf)\n"
            "    return torch.logsumexp(others, dim=1) - torch.logsumexp(z, dim=0, keepdim=True)"),
        "softmax_columns": "def softmax_columns(z):\n    return torch.softmax(z, dim=0)",
        "log_softmax_columns": "def log_softmax_columns(z):\n    return torch.log_softmax(z, dim=0)",
        "sample_sum": "def sample_sum(x):\n    return x.sum(dim=1, keepdim=True)",
        "unit_sum": "def unit_sum(x):\n    return x.sum(dim=0, keepdim=True)",
    },
    "jax": {
        "exp": "exp = jnp.exp",
        "sqrt": "sqrt = jnp.sqrt",
        "log": "log = jnp.log",
        "log_softmax_complement_columns": _log1m_softmax("jnp"),
        "softmax_columns": "def softmax_columns(z):\n    return jax.nn.softmax(z, axis=0)",
        "log_softmax_columns": "def log_softmax_columns(z):\n    return jax.nn.log_softmax(z, axis=0)",
    },
}
_IMPORTS = {"numpy": ["import numpy"], "torch": ["import torch"],
            "jax": ["import jax", "import jax.numpy as jnp"]}
# How the shape check turns an argument into an array of the target, keeping a tensor's dtype.
_ARRAY = {"numpy": "numpy.asarray({}, dtype=numpy.float64)",
          "torch": "{0} if torch.is_tensor({0}) else torch.as_tensor({0}, dtype=torch.float64)",
          "jax": "jnp.asarray({})"}


def matrix_module(form, target: str = "numpy") -> str:
    """The source of a standalone module of a matrix form for ``target`` (numpy, torch or jax).

    Every target's ``loss_and_gradients(X, Y, weights, biases)`` checks every shape (a bias is
    (n_l,) or (n_l, 1), so it can never broadcast along the samples) and returns
    ``Result(loss, weight_gradients, bias_gradients)``. torch and jax also have ``loss(X, Y,
    weights, biases)``, differentiable by their autograd through the derived backward pass.
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; expected one of: {', '.join(TARGETS)}")

    source = generate(form, "numpy") if target == "numpy" else split_passes(form, target)
    names = ops.called_names(source)
    helpers = helper_sources(names, target) + [
        text for n, text in _MATRIX_HELPERS[target].items() if n in names]
    if target == "numpy":
        helpers += numpy_helper_sources(names)
    sizes = [int(s) for s in form.sizes]
    wrapper = {"numpy": _NUMPY_WRAPPER, "torch": _TORCH_WRAPPER, "jax": _JAX_WRAPPER}[target]
    return "\n".join([
        f'"""Generated by symbackprop from the matrix form of the {"-".join(map(str, sizes))} '
        f'network ({", ".join(form.activations)}; {form.loss_name} loss). Imports only {target}.',
        *_USAGE[target],
        '"""',
        "",
        "from typing import NamedTuple",
        "",
        *_IMPORTS[target],
        "",
        f"SIZES = {sizes!r}",
        f"BIAS = {form.bias_mode!r}",
        "",
        "",
        "\n\n\n".join(helpers),
        "",
        "",
        source.rstrip(),
        "",
        "",
        _fill_checked(_CHECKED, _ARRAY[target]),
        "",
        "",
        wrapper,
    ])


_USAGE = {
    "numpy": ["", "loss_and_gradients(X, Y, weights, biases) -> Result(loss, weight_gradients, "
                  "bias_gradients)"],
    "torch": ["", "loss(X, Y, weights, biases) is a torch.autograd.Function: .backward() runs the "
                  "derived", "backward pass. loss_and_gradients(...) gives the gradients without "
                  "autograd."],
    "jax": ["", "loss(X, Y, weights, biases) is a jax.custom_vjp function: jax.grad runs the "
                "derived", "backward pass. For float64, set jax.config.update('jax_enable_x64', "
                "True)."],
}

_CHECKED = '''def _checked(X, Y, weights, biases):
    """X, Y and the parameters as arrays, every shape checked; biases as columns."""
    depth = len(SIZES) - 1
    X = @X@
    if X.ndim != 2 or X.shape[0] != SIZES[0]:
        raise ValueError(f"X must have shape ({SIZES[0]}, m), one sample per column; got {tuple(X.shape)}")
    m = X.shape[1]
    args = [X]
    if Y is not None:
        Y = @Y@
        if tuple(Y.shape) != (SIZES[-1], m):
            raise ValueError(f"Y must have shape ({SIZES[-1]}, {m}); got {tuple(Y.shape)}")
        args.append(Y)
    if len(weights) != depth:
        raise ValueError(f"expected {depth} weight matrices, got {len(weights)}")
    for l, W in enumerate(weights, start=1):
        W = @W@
        if tuple(W.shape) != (SIZES[l], SIZES[l - 1]):
            raise ValueError(f"W{l} must have shape ({SIZES[l]}, {SIZES[l - 1]}); got {tuple(W.shape)}")
        args.append(W)
    if BIAS:
        if biases is None or len(biases) != depth:
            raise ValueError(f"expected {depth} biases")
        for l, b in enumerate(biases, start=1):
            b = @b@
            if BIAS == "shared":
                if len(b.reshape(-1)) != 1:
                    raise ValueError(f"b{l} is one shared number; got shape {tuple(b.shape)}")
                args.append(b.reshape(()))
            elif tuple(b.shape) in ((SIZES[l],), (SIZES[l], 1)):
                args.append(b.reshape(-1, 1))  # a column: (n,) would broadcast along samples
            else:
                raise ValueError(f"b{l} must have shape ({SIZES[l]},); got {tuple(b.shape)}")
    elif biases is not None:
        raise ValueError("this network has no biases")
    return args'''


def _fill_checked(template: str, array: str) -> str:
    for name in ("X", "Y", "W", "b"):
        template = template.replace(f"@{name}@", array.format(name))
    return template


_RESULT = '''class Result(NamedTuple):
    """The batch loss, dL/dW for every layer and dL/db (None without biases)."""

    loss: object
    weight_gradients: list
    bias_gradients: list | None
'''

_NUMPY_WRAPPER = _RESULT + '''

def loss_and_gradients(X, Y, weights, biases=None):
    """The loss of a batch and every gradient; X is (n_0, m), Y is (n_L, m), shapes checked."""
    with numpy.errstate(over="ignore", under="ignore"):
        loss_value, dW, db = gradients(*_checked(X, Y, weights, biases))
    if db is not None:
        db = [float(g.sum()) if BIAS == "shared" else g.reshape(-1) for g in db]
    return Result(loss_value, list(dW), db)
'''

# loss() of torch and jax refuses a gradient in X or Y: the δ code stops at δ^[1]
_NO_INPUT = '''_NO_INPUT_GRADIENT = ("this module derives the gradients of the weights and biases only; "
                      "pass X and Y as constants, not as arguments to differentiate")

'''

_TORCH_WRAPPER = _NO_INPUT + _RESULT + '''

def _fit(gradient, like):
    # back to the parameter's shape: a column bias's (n, 1), a shared bias's ()
    if gradient.numel() != like.numel():
        gradient = gradient.sum()
    return gradient.reshape(like.shape)


class Loss(torch.autograd.Function):
    """The batch loss; its backward pass is the derived δ code (_backward_pass), not autograd's
    tape. It derives the weights' and biases' gradients: loss() refuses an X or Y that
    requires grad rather than leave its gradient silently empty."""

    @staticmethod
    def forward(ctx, X, Y, *parameters):
        loss_value, saved = _forward_pass(X, Y, *parameters)
        ctx.count = len(parameters)
        ctx.save_for_backward(X, Y, *parameters, *saved)
        return loss_value

    @staticmethod
    def backward(ctx, grad_output):
        X, Y, *rest = ctx.saved_tensors
        parameters, saved = rest[:ctx.count], tuple(rest[ctx.count:])
        dW, db = _backward_pass(X, Y, *parameters, saved)
        gradients = [*dW, *(db or [])]
        return (None, None, *(_fit(grad_output * g, p) for g, p in zip(gradients, parameters)))


def loss(X, Y, weights, biases=None):
    """The batch loss as a tensor; .backward() fills each weight's and bias's .grad."""
    args = _checked(X, Y, weights, biases)
    if args[0].requires_grad or args[1].requires_grad:
        raise ValueError(_NO_INPUT_GRADIENT)
    return Loss.apply(*args)


def loss_and_gradients(X, Y, weights, biases=None):
    """The loss and every gradient by the derived backward pass, without autograd."""
    with torch.no_grad():
        args = _checked(X, Y, weights, biases)
        loss_value, saved = _forward_pass(*args)
        dW, db = _backward_pass(*args, saved)
    if db is not None:
        db = [g.sum() if BIAS == "shared" else g.reshape(-1) for g in db]
    return Result(loss_value, list(dW), db)
'''

_JAX_WRAPPER = _NO_INPUT + _RESULT + '''

def _fit(gradient, like):
    # back to the parameter's shape: a column bias's (n, 1), a shared bias's ()
    if gradient.size != jnp.size(like):
        gradient = gradient.sum()
    return gradient.reshape(jnp.shape(like))


@jax.custom_vjp
def _loss(X, Y, parameters):
    return _forward_pass(X, Y, *parameters)[0]


def _loss_forward(X, Y, parameters):
    # symbolic zeros tell which arguments are differentiated: X and Y never may be
    if X.perturbed or Y.perturbed:
        raise ValueError(_NO_INPUT_GRADIENT)
    X, Y, parameters = X.value, Y.value, tuple(p.value for p in parameters)
    loss_value, saved = _forward_pass(X, Y, *parameters)
    return loss_value, (X, Y, parameters, saved)


def _loss_backward(residuals, cotangent):
    # the derived δ code, for the weights and biases (X and Y are never perturbed)
    X, Y, parameters, saved = residuals
    dW, db = _backward_pass(X, Y, *parameters, saved)
    gradients = [*dW, *(db or [])]
    return (None, None, tuple(_fit(cotangent * g, p) for g, p in zip(gradients, parameters)))


_loss.defvjp(_loss_forward, _loss_backward, symbolic_zeros=True)


def loss(X, Y, weights, biases=None):
    """The batch loss; jax.grad of it (in weights and biases) runs the derived backward pass."""
    X, Y, *parameters = _checked(X, Y, weights, biases)
    return _loss(X, Y, tuple(parameters))


def loss_and_gradients(X, Y, weights, biases=None):
    """The loss and every gradient by the derived backward pass, without autodiff."""
    args = _checked(X, Y, weights, biases)
    loss_value, saved = _forward_pass(*args)
    dW, db = _backward_pass(*args, saved)
    if db is not None:
        db = [g.sum() if BIAS == "shared" else g.reshape(-1) for g in db]
    return Result(loss_value, list(dW), db)
'''

"""Array code from the matrix equations: the printer, and the program it prints.

:class:`MatrixCodePrinter` prints a matrix expression as a few array operations (``@``, ``*``
for ⊙, ``.T``); :func:`generate` prints a whole form as ``forward``, ``loss`` and
``gradients`` functions for one array library, and :func:`split_passes` as the separate
forward and backward passes an exported torch or jax module wraps.

>>> from symbackprop.forms.matrix import matrix_form
>>> "def gradients(X, Y, W1, W2)" in generate(matrix_form([2, 2, 1]))
True
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.printing.pycode import PythonCodePrinter

from ..core import functions, ops
from ..core.matrices import (
    A_ENTRY,
    Y_ENTRY,
    Z_ENTRY,
    ColumnLogSoftmax,
    ColumnLogSoftmaxComplement,
    ColumnSoftmax,
    to_matrix,
)
from ..printing.matrix_latex import MatrixPrinting

if TYPE_CHECKING:
    from ..forms.matrix import MatrixForm

__all__ = ["MatrixCodePrinter", "generate", "split_passes", "NUMPY_HELPERS", "numpy_helper_sources"]


class MatrixCodePrinter(MatrixPrinting, PythonCodePrinter):
    """Array code for the matrix equations: ``@`` for products, ``*`` for ⊙, ``.T``, and the
    all-ones products as sums over samples or units, or as broadcasting."""

    def __init__(self, numpy_methods: bool = False) -> None:
        super().__init__({"fully_qualified_modules": False, "allow_unknown_functions": True,
                          "inline": True})
        # numpy, jax and cupy arrays sum with .sum(axis=…, keepdims=True); torch spells it
        # differently, so other backends call the namespace's sample_sum / unit_sum.
        self.numpy_methods = numpy_methods

    def _sum(self, which: str, text: str) -> str:
        if not self.numpy_methods:
            return f"{which}({text})"
        axis = 1 if which == "sample_sum" else 0
        inner = text if text.isidentifier() else f"({text})"
        return f"{inner}.sum(axis={axis}, keepdims=True)"

    def _print_HadamardProduct(self, expr: sp.HadamardProduct, coeff=sp.S.One) -> str:
        # Scalars out front once: 2/n*((A - Y)*A*(1 - A)), not (2/n*(A - Y))*A*(1 - A).
        factors = []
        for a in expr.args:
            c, rest = a.as_coeff_mmul() if isinstance(a, sp.MatMul) else (sp.S.One, a)
            coeff *= c
            factors.append(rest)
        texts = [self._atom(f) for f in factors]
        steps = [t for t in texts if t.startswith("heaviside(")]
        rest = [t for t in texts if not t.startswith("heaviside(")]
        if steps and rest:
            # a step (relu′) zeroes its entries whatever overflowed behind them, as torch's
            # threshold_backward does: 0·inf would make nan of a gradient that is 0
            inner = "*".join(rest) if coeff == 1 else f"{self._print(coeff)}*({'*'.join(rest)})"
            return f"masked({'*'.join(steps)}, {inner})"
        text = "*".join(texts)
        return text if coeff == 1 else f"{self._print(coeff)}*({text})"

    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol) -> str:
        return "X" if expr.name == "A0" else expr.name

    def _print(self, expr, **kwargs) -> str:
        # a constant such as √(2/π) (GELU's) is one float in code, not a call on π
        if isinstance(expr, sp.Expr) and not isinstance(expr, sp.MatrixExpr) and expr.is_number \
                and not expr.is_Rational and expr.is_real:
            return repr(float(expr))
        return super()._print(expr, **kwargs)

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return expr.name

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        return f"heaviside({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def _print_OneMatrix(self, expr: sp.OneMatrix) -> str:
        return "1"

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        return f"{self._atom(expr.arg)}.T"

    def _atom(self, expr: sp.Basic) -> str:
        text = self._print(expr)
        atoms = (sp.MatrixSymbol, sp.OneMatrix, sp.Transpose, ElementwiseApplyFunction,
                 ColumnSoftmax)
        return text if isinstance(expr, atoms) else f"({text})"

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        coeff, matrices = expr.as_coeff_matrices()
        matrices = list(matrices)
        if len(matrices) == 1 and isinstance(matrices[0], sp.HadamardProduct):
            return self._print_HadamardProduct(matrices[0], coeff)
        if len(matrices) == 1 and isinstance(matrices[0], sp.OneMatrix):
            return self._print(coeff)  # a scalar times all-ones: numpy broadcasts the scalar
        wrap: list[str] = []
        # An all-ones factor in front sums over units (1ᵀ·M), behind it sums over samples
        # (M·1); what it repeats (1·M, M·1ᵀ, and the repetition in 1 1ᵀ·M) is broadcasting.
        if isinstance(matrices[0], sp.OneMatrix) and len(matrices) > 1:
            if matrices[0].shape[1] != 1:
                wrap.append("unit_sum")
            matrices = matrices[1:]
        if isinstance(matrices[-1], sp.OneMatrix) and len(matrices) > 1:
            if matrices[-1].shape[0] != 1:
                wrap.append("sample_sum")
            matrices = matrices[:-1]
        text = " @ ".join(self._atom(a) for a in matrices) if len(matrices) > 1 \
            else self._print(matrices[0])
        for fn in reversed(wrap):
            text = self._sum(fn, text)
        if coeff == 1:
            return text
        if coeff == -1:
            return f"-{self._atom_text(text, matrices)}"
        return f"{self._print(coeff)}*{self._atom_text(text, matrices)}"

    @staticmethod
    def _atom_text(text: str, matrices) -> str:
        simple = len(matrices) == 1 and isinstance(matrices[0], sp.MatrixSymbol)
        return text if simple or text.endswith(")") and text[0].isalpha() else f"({text})"


    def _print_HadamardPower(self, expr: sp.HadamardPower) -> str:
        return f"{self._atom(expr.base)}**{self._print(expr.exp)}"

    def _print_ColumnSoftmax(self, expr: ColumnSoftmax) -> str:
        return f"softmax_columns({self._print(expr.arg)})"

    def _print_ColumnLogSoftmax(self, expr: ColumnLogSoftmax) -> str:
        return f"log_softmax_columns({self._print(expr.arg)})"

    def _print_ColumnLogSoftmaxComplement(self, expr: ColumnLogSoftmaxComplement) -> str:
        return f"log_softmax_complement_columns({self._print(expr.arg)})"


def _stable_loss_entry(form: MatrixForm) -> sp.MatrixExpr:
    """The loss terms for code: logs of sigmoid and softmax outputs computed from the logits
    (as torch's BCEWithLogitsLoss and CrossEntropyLoss do), so Z = ±1000 gives finite numbers."""
    L = form.depth
    name = form.activations[-1]
    shape = (form.n[L], form.m)
    entry = form.entry_loss
    env = {Y_ENTRY: form.Y, A_ENTRY: form.A[L]}
    if name == "sigmoid":
        entry = entry.xreplace({sp.log(A_ENTRY): -functions.softplus(-Z_ENTRY),
                                sp.log(1 - A_ENTRY): -functions.softplus(Z_ENTRY)})
        env[Z_ENTRY] = form.Z[L]
    elif name == "softmax" and entry.has(sp.log(A_ENTRY), sp.log(1 - A_ENTRY)):
        logp, log1mp = sp.symbols("logp log1mp", real=True)
        entry = entry.xreplace({sp.log(A_ENTRY): logp, sp.log(1 - A_ENTRY): log1mp})
        env[logp] = ColumnLogSoftmax(form.Z[L])
        env[log1mp] = ColumnLogSoftmaxComplement(form.Z[L])
    return to_matrix(entry, env, shape)


@dataclass(frozen=True)
class _Program:
    """The generated code's parts: parameter names, then steps (name, expression, line)."""

    params: list[str]
    sizes: list
    forward: list
    loss: list
    backward: list
    returns: str


def _program(form: MatrixForm, p: MatrixCodePrinter, exported: bool = False) -> _Program:
    L = form.depth
    params = [f"W{l}" for l in range(1, L + 1)]
    if form.bias_mode:
        params += [f"b{l}" for l in range(1, L + 1)]
    sizes = [("m", None, "m = X.shape[1]"), (f"n_{L}", None, f"n_{L} = W{L}.shape[0]")]
    forward = [_step(p, eq.lhs, eq.rhs) for eq in form.forward]
    entry = _stable_loss_entry(form)
    # An exported torch or jax module keeps the loss an array (autograd and tracing need it).
    total = f"({p.doprint(entry)}).sum()" if exported else f"float(({p.doprint(entry)}).sum())"
    scale = form.batch_scale * form.unit_scale
    loss = [("L", None, f"L = {p.doprint(scale)}*{total}" if scale != 1 else f"L = {total}")]
    # The 1/m of a mean is applied once, to δ^[L] (every δ below is linear in it), rather than
    # to every gradient: the same numbers with 2L fewer array operations.
    r = form.batch_scale
    output, *hidden = form.deltas
    # The printed δ^[L] = A − Y of softmax + cross-entropy assumes one-hot columns; the code
    # computes the form that holds for any targets (2·one-hot, label smoothing, soft labels).
    backward = [_step(p, output.lhs, r * _with_prime(form, L, form.output_delta_for_any_targets()))]
    if r != 1:
        backward.insert(0, (None, None, f"# δ^[{L}] of the equations, times {p.doprint(r)}: "
                                        "see the gradients"))
    backward += [_step(p, eq.lhs, _with_prime(form, eq.layer, eq.rhs)) for eq in hidden]
    backward += [_step(p, eq.lhs, eq.rhs) for eq in form.gradient_equations(sp.S.One)]
    dW = ", ".join(f"dW{l}" for l in range(1, L + 1))
    db = ", ".join(f"db{l}" for l in range(1, L + 1))
    returns = f"[{dW}], " + (f"[{db}]" if form.bias_mode else "None")
    return _Program(params, sizes, forward, loss, backward, returns)


def _with_prime(form: MatrixForm, l: int, delta: sp.MatrixExpr) -> sp.MatrixExpr:
    """δ^[l] with f′(Z^[l]) from the registry's prime where the equation writes it in A^[l]:
    SiLU′ = A + σ(Z) ⊙ (1 − A) is 0 at Z = 1e17, A ⊙ (1 − A) at Z = 40 (as in codegen/scalar.py).
    Only where δ^[l] multiplies by all of the textbook form's factors and divides by nothing:
    an output δ that the loss cancels (bce's A − Y) is left as it is."""
    op = ops.ACTIVATIONS[form.activations[l - 1]]
    if op.prime is None or not isinstance(delta, sp.HadamardProduct) or any(
            isinstance(f, sp.HadamardPower) and f.exp.is_negative for f in delta.args):
        return delta
    fz = op(Z_ENTRY)
    textbook = to_matrix(sp.diff(fz, Z_ENTRY).xreplace({fz: A_ENTRY}),
                         {A_ENTRY: form.A[l], Z_ENTRY: form.Z[l]}, form.A[l].shape)
    rest = list(delta.args)
    for factor in textbook.args if isinstance(textbook, sp.HadamardProduct) else [textbook]:
        if factor not in rest:
            return delta
        rest.remove(factor)
    prime = to_matrix(op.prime.function(Z_ENTRY), {Z_ENTRY: form.Z[l]}, form.A[l].shape)
    return sp.HadamardProduct(*rest, prime) if rest else prime


def generate(form: MatrixForm, backend: str = "numpy") -> str:
    p = MatrixCodePrinter(numpy_methods=backend in ("numpy", "jax", "cupy"))
    code = _program(form, p)
    signature = ", ".join(["X", "Y", *code.params])
    fsig = ", ".join(["X", *code.params])
    # numpy runs the steps in place where the array is the function's own (a product's or a
    # sum's fresh result); the other backends get the equations line for line.
    body = _in_place if backend == "numpy" else _as_written
    lines = [
        f"def forward({fsig}):",
        '    """The output A^[L] of a batch X (one sample per column)."""',
        *body(p, code.forward, f"return A{form.depth}"),
        "",
        "",
        f"def loss({signature}):",
        '    """The batch loss: the forward pass only."""',
        *body(p, code.sizes + code.forward + code.loss, "return L"),
        "",
        "",
        f"def gradients({signature}):",
        '    """The batch loss and ∂L/∂W^[l], ∂L/∂b^[l] for every layer, by backpropagation."""',
        *(_lean if backend == "numpy" else list)(
            body(p, code.sizes + code.forward + code.loss + code.backward, f"return L, {code.returns}")),
        "",
    ]
    return "\n".join(lines)


def split_passes(form: MatrixForm, backend: str) -> str:
    """``_forward_pass`` (the loss and what the backward pass reads of it) and ``_backward_pass``
    (the derived δ and gradient lines), for exported torch and jax modules."""
    p = MatrixCodePrinter(numpy_methods=backend != "torch")
    code = _program(form, p, exported=True)
    forward_names = [name for name, _, _ in code.forward]
    read = set().union(*(_names(text) for _, _, text in code.backward))
    saved = [n for n in forward_names if n in read]
    signature = ", ".join(["X", "Y", *code.params])
    keep = ", ".join(saved) + ("," if len(saved) == 1 else "")
    return "\n".join([
        f"def _forward_pass({signature}):",
        '    """The forward pass and the loss; also the arrays the backward pass reads."""',
        *_as_written(p, code.sizes + code.forward + code.loss, f"return L, ({keep})"),
        "",
        "",
        f"def _backward_pass({signature}, saved):",
        '    """The derived backward pass: δ^[L], the δ recursion and the gradients."""',
        *([f"    {keep} = saved"] if saved else []),
        *_as_written(p, code.sizes + code.backward, f"return {code.returns}"),
        "",
    ])


def _step(p: MatrixCodePrinter, lhs: sp.Basic, rhs: sp.Basic) -> tuple[str, sp.Basic, str]:
    """One assignment: the name it binds, the expression, and the line as the equation reads."""
    name = p.doprint(lhs)
    return name, rhs, f"{name} = {p.doprint(rhs)}"


def _as_written(p: MatrixCodePrinter, steps, returns: str) -> list[str]:
    return [f"    {text}" for _, _, text in steps] + [f"    {returns}"]


def _names(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


def _in_place(p: MatrixCodePrinter, steps, returns: str) -> list[str]:
    """The steps with numpy's in-place operators where they save a temporary array.

    ``Z = W @ A + b`` becomes ``Z = W @ A; Z += b``; ``A = σ(Z)`` overwrites Z when no later
    line reads Z; ``δ = (Wᵀ δ') ⊙ A ⊙ (1 − A)`` becomes ``δ = Wᵀ @ δ'; δ *= A; δ *= 1 − A``.
    Only arrays the function itself has just made are written over, never an argument.
    """
    later: list[set[str]] = [set() for _ in steps]
    seen = _names(returns)
    for i in range(len(steps) - 1, -1, -1):
        later[i] = set(seen)
        seen |= _names(steps[i][2])
    out = []
    for (name, rhs, text), used_later in zip(steps, later, strict=True):
        fused = None if rhs is None else _fused(p, name, rhs, used_later)
        out += [f"    {line}" for line in (fused or [text])]
    return out + [f"    {returns}"]


# The activations whose numpy kernel has an in-place form (sigmoid_into, …), by the name code calls.
_INTO = {name[: -len("_into")]: name for name in ops.kernel_names("numpy") if name.endswith("_into")}


def _fresh(expr: sp.Basic) -> bool:
    """Whether printing ``expr`` makes a new array of the full shape (which may be written over):
    a product of two or more matrices, or a sum or difference of whole matrices."""
    if isinstance(expr, sp.MatMul):
        _, matrices = expr.as_coeff_matrices()
        return len(matrices) >= 2 and not any(isinstance(m, sp.OneMatrix) for m in matrices)
    if isinstance(expr, sp.MatAdd):
        return all(isinstance(a, sp.MatrixSymbol) or isinstance(a, sp.MatMul)
                   and len(a.as_coeff_matrices()[1]) == 1
                   and isinstance(a.as_coeff_matrices()[1][0], sp.MatrixSymbol) for a in expr.args)
    return False


def _fused(p: MatrixCodePrinter, name: str, rhs: sp.Basic, used_later: set[str]) -> list[str] | None:
    if name.startswith("dW") and isinstance(rhs, sp.MatMul) and len(rhs.args) == 2 \
            and isinstance(rhs.args[1], sp.Transpose):
        # δ Aᵀ of a single sample is an outer product, which BLAS's k = 1 GEMM does 3× slower
        # than einsum's (784-256-10 at batch 1: 240 µs against 71 µs; a broadcast δ * Aᵀ: 115).
        delta, factor = rhs.args
        text = p.doprint(rhs)
        return [f"{name} = {text} if m > 1 else outer({p.doprint(delta)}, {p.doprint(factor.arg)})"
                "  # one sample"]
    if isinstance(rhs, sp.MatAdd) and _fresh(rhs.args[0]) and not isinstance(rhs.args[0], sp.MatAdd):
        lines = [f"{name} = {p.doprint(rhs.args[0])}"]
        for term in rhs.args[1:]:
            text = p.doprint(term)
            lines.append(f"{name} -= {text[1:].lstrip()}" if text.startswith("-")
                         else f"{name} += {text}")
        return lines
    if isinstance(rhs, ElementwiseApplyFunction) and isinstance(rhs.expr, sp.MatrixSymbol):
        body = rhs.function.expr
        argument = p.doprint(rhs.expr)
        if isinstance(body, sp.Function) and body.args == rhs.function.variables \
                and body.func.__name__ in _INTO and argument not in used_later \
                and argument.startswith("Z"):
            return [f"{name} = {_INTO[body.func.__name__]}({argument})  # over {argument}"]
        return None
    coeff = sp.S.One
    if isinstance(rhs, sp.MatMul):
        coeff, matrices = rhs.as_coeff_matrices()
        if len(matrices) != 1 or not isinstance(matrices[0], sp.HadamardProduct):
            return None
        rhs = matrices[0]
    if not isinstance(rhs, sp.HadamardProduct):
        return None
    factors = []
    for f in rhs.args:  # scalars out front, as the printer writes them: c·(A − Y) ⊙ … → (A − Y) ⊙ …
        c, matrices = f.as_coeff_matrices() if isinstance(f, sp.MatMul) else (1, [f])
        coeff, f = (coeff * c, matrices[0]) if len(matrices) == 1 else (coeff, f)
        factors.append(f)
    lead = next((f for f in factors if _fresh(f)), None)
    if lead is None:
        return None
    factors.remove(lead)
    lines = [f"{name} = {p.doprint(lead)}"]
    for f in factors:
        text = p._atom(f) if not isinstance(f, sp.MatAdd) else p.doprint(f)
        # a step (relu′) zeroes its entries whatever overflowed behind them, as torch's
        # threshold_backward does: 0·inf would make nan of a gradient that is 0
        lines.append(f"{name} = masked({text}, {name})" if text.startswith("heaviside(")
                     else f"{name} *= {text}")
    if coeff != 1:
        lines.append(f"{name} *= {p.doprint(coeff)}")
    return lines


# -- the numpy gradients, leaner: measured per line at 64-64-64-1, batch 4096 ----------------------
def sigmoid_and_prime(z, bias=None):
    """σ(z + b) and σ′(z + b) from one exp, the latter written over z's own array.

    e = e^(−z−b), σ = 1/(1 + e) and σ′ = σ(z + b)σ(−z − b) = (e σ) σ: exact in both tails, where
    σ(1 − σ) rounds to 0 once σ rounds to 1. −(z + b) is one pass (numpy's broadcast bias add
    alone costs two and a half), and δ ⊙ σ′ is then one pass where the prime from z took seven.

    >>> a, p = sigmoid_and_prime(numpy.array([[0.0, 40.0, -1000.0]]))
    >>> a.tolist(), float(p[0, 0]), float(p[0, 2]), abs(p[0, 1] / numpy.exp(-40.0) - 1) < 1e-12
    ([[0.5, 1.0, 0.0]], 0.25, 0.0, np.True_)
    """
    if bias is None:
        numpy.negative(z, out=z)
    else:
        numpy.subtract(-bias, z, out=z)
    overflowed = False
    with numpy.errstate(over="raise"):
        try:
            numpy.exp(z, out=z)
        except FloatingPointError:  # z + b < −709 (float32: −88): numpy has written inf there
            overflowed = True
    a = z + 1.0
    numpy.reciprocal(a, out=a)  # 1/(1 + inf) = 0: σ's limit
    if overflowed:
        z[numpy.isinf(z)] = 0.0  # σ′ is 0 there too (below the smallest normal float), not inf·0
    z *= a
    z *= a
    return a, z


def sum_over_samples(d):
    """δ 1, the sum of each row over the samples, as a matrix-vector product: BLAS's gemv is
    1.3× (float64) to 2.5× (float32) faster than numpy's row sums at batch 4096.

    >>> sum_over_samples(numpy.array([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [[3.0], [7.0]]
    """
    return d @ numpy.ones((d.shape[1], 1), d.dtype) if d.shape[1] > 1 else d.copy()


#: The numpy gradients' own helpers, by the name the code calls (see :func:`_lean`).
NUMPY_HELPERS = {"sigmoid_and_prime": sigmoid_and_prime, "sum_over_samples": sum_over_samples}


def numpy_helper_sources(names) -> list[str]:
    """The source of each helper in ``names`` that the numpy gradients call, for an exported
    module (it imports numpy as ``numpy``, as these functions do)."""
    return [inspect.getsource(fn).rstrip() for name, fn in NUMPY_HELPERS.items() if name in names]


_SIGMOID = re.compile(r"    (A\d+) = sigmoid(?:_into)?\((Z\d+)\)(?:  #.*)?$")
_BIAS = re.compile(r"    (Z\d+) ([+-])= (.+)$")
_BACK_PRODUCT = re.compile(r"    (delta\d+) = (W\d+)\.T @ (delta\d+)$")
_ROW_SUMS = re.compile(r"([A-Za-z_]\w*)\.sum\(axis=1, keepdims=True\)")


def _lean(lines: list[str]) -> list[str]:
    """The numpy gradients' lines with the passes that measured slow taken out.

    - ``A = σ(Z)`` whose Z no later line reads but in σ′(Z) becomes ``A, P = sigmoid_and_prime(Z,
      b)``, with the bias line before it folded in, and σ′(Z) is read as P;
    - ``δ = Wᵀ @ δ'`` is a broadcast product where W has one row: a k = 1 GEMM is an outer product
      BLAS does 10× slower (64-64-64-1 at batch 4096: 311 µs against 30);
    - the sums over samples are ``sum_over_samples`` (gemv).
    """
    out = list(lines)
    for i, line in enumerate(lines):
        match = _SIGMOID.match(line)
        if not match:
            continue
        a, z = match.groups()
        prime, name = f"sigmoid_prime({z})", "P" + a[1:]
        later = out[i + 1:]
        if not any(prime in text for text in later) or any(
                z in _names(text.replace(prime, "")) for text in later):
            continue
        bias = _BIAS.match(out[i - 1])
        argument = z
        if bias and bias.group(1) == z and out[i - 2].startswith(f"    {z} = "):
            argument = f"{z}, {bias.group(3) if bias.group(2) == '+' else '-' + bias.group(3)}"
            out[i - 1] = None
        out[i] = f"    {a}, {name} = sigmoid_and_prime({argument})  # σ({z}) and σ′({z}), over {z}"
        out[i + 1:] = [text.replace(prime, name) for text in later]
    out = [line for line in out if line is not None]
    for i, line in enumerate(out):
        match = _BACK_PRODUCT.match(line)
        if match:
            delta, w, above = match.groups()
            out[i] = (f"    {delta} = {w}.T @ {above} if {w}.shape[0] > 1 else {w}.T * {above}"
                      "  # one unit above: an outer product")
        out[i] = _ROW_SUMS.sub(r"sum_over_samples(\1)", out[i])
    return out

"""Array code from the matrix equations: the printer, and the program it prints.

:class:`MatrixCodePrinter` prints a matrix expression as a few array operations (``@``, ``*``
for ⊙, ``.T``); :func:`generate` prints a whole form as ``forward``, ``loss`` and
``gradients`` functions for one array library, and :func:`split_passes` as the separate
forward and backward passes an exported torch or jax module wraps.

>>> from symbackprop.forms.matrix import matrix_form
>>> "def gradients(X, Y, W1, W2, work=fresh)" in generate(matrix_form([2, 2, 1]))
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

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
from .matrix_numpy import lean_gradients

if TYPE_CHECKING:
    from ..forms.matrix import MatrixForm

__all__ = ["MatrixCodePrinter", "generate", "split_passes"]


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
    gradient_lines = body(p, code.sizes + code.forward + code.loss + code.backward,
                          f"return L, {code.returns}")
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
        f"def gradients({signature}{', work=fresh' if backend == 'numpy' else ''}):",
        '    """The batch loss and ∂L/∂W^[l], ∂L/∂b^[l] for every layer, by backpropagation."""',
        *(lean_gradients(gradient_lines, ["X", "Y", *code.params]) if backend == "numpy"
          else gradient_lines),
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

"""Activations and losses as SymPy objects whose derivatives are already in textbook form.

Each activation is a ``sympy.Function`` whose ``fdiff`` is written in terms of the function
itself, so ``diff(sigmoid(z), z)`` is ``sigmoid(z)*(1 - sigmoid(z))`` and never the exp form.
That is what lets the engine later replace ``sigmoid(z3)`` by the node symbol ``yhat`` and print
``yhat*(1 - yhat)``, as lecture notes do.

>>> import sympy as sp
>>> z = sp.Symbol("z")
>>> sp.diff(sigmoid(z), z)
(1 - sigmoid(z))*sigmoid(z)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sympy as sp

__all__ = [
    "sigmoid",
    "relu",
    "leaky_relu",
    "softplus",
    "softmax",
    "tanh",
    "identity",
    "ACTIVATIONS",
    "LOSSES",
    "activation",
    "loss",
    "RELU_AT_ZERO",
]

tanh = sp.tanh  # SymPy's own tanh already differentiates to 1 - tanh(x)**2.

#: The subgradient used for ReLU at 0 (the same choice as PyTorch and JAX).
RELU_AT_ZERO = sp.Integer(0)


class sigmoid(sp.Function):  # noqa: N801 - named like SymPy's functions
    """The logistic function σ(x) = 1/(1 + e^(−x)), with σ′ = σ(1 − σ).

    >>> x = sp.Symbol("x")
    >>> sp.diff(sigmoid(x), x)
    (1 - sigmoid(x))*sigmoid(x)
    """

    is_real = True

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.S.Half

    def fdiff(self, argindex=1):
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sp.exp(-x))

    def _eval_evalf(self, prec):
        return self.rewrite(sp.exp)._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        body = rf"\sigma\left({printer._print(self.args[0])}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"


class softplus(sp.Function):  # noqa: N801
    """softplus(x) = log(1 + e^x), whose derivative is σ(x).

    >>> x = sp.Symbol("x")
    >>> sp.diff(softplus(x), x)
    sigmoid(x)
    """

    is_real = True

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _eval_rewrite_as_log(self, x, **kwargs):
        return sp.log(1 + sp.exp(x))

    def _eval_evalf(self, prec):
        return self.rewrite(sp.log)._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        body = rf"\operatorname{{softplus}}\left({printer._print(self.args[0])}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"


class relu(sp.Function):  # noqa: N801
    """relu(x) = max(0, x); its derivative is the step H(x) with H(0) = 0 (a subgradient).

    >>> x = sp.Symbol("x")
    >>> sp.diff(relu(x), x)
    Heaviside(x, 0)
    """

    is_real = True

    @classmethod
    def eval(cls, x):
        if x.is_number and x.is_real:
            return sp.Max(x, 0)

    def fdiff(self, argindex=1):
        return sp.Heaviside(self.args[0], RELU_AT_ZERO)

    def _eval_rewrite_as_Max(self, x, **kwargs):
        return sp.Max(x, 0)

    def _eval_evalf(self, prec):
        return self.rewrite(sp.Max)._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        body = rf"\operatorname{{ReLU}}\left({printer._print(self.args[0])}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"


class leaky_relu(sp.Function):  # noqa: N801
    """leaky_relu(x, a) = x for x > 0, a·x otherwise; derivative 1 or a (a at 0).

    >>> x = sp.Symbol("x")
    >>> sp.diff(leaky_relu(x, sp.Rational(1, 100)), x)
    99*Heaviside(x, 0)/100 + 1/100
    """

    is_real = True
    nargs = (1, 2)

    @classmethod
    def eval(cls, x, slope=None):
        if slope is None:
            return cls(x, sp.Rational(1, 100))
        if x.is_number and x.is_real:
            return x if x > 0 else slope * x

    def fdiff(self, argindex=1):
        x, slope = self.args
        step = sp.Heaviside(x, RELU_AT_ZERO)
        if argindex == 1:
            return slope + (1 - slope) * step
        return x * (1 - step)

    def _eval_rewrite_as_Piecewise(self, x, slope, **kwargs):
        return sp.Piecewise((x, x > 0), (slope * x, True))

    def _eval_evalf(self, prec):
        return self.rewrite(sp.Piecewise)._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        body = rf"\operatorname{{LReLU}}\left({printer._print(self.args[0])}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"


class softmax(sp.Function):  # noqa: N801
    """Component k of the softmax of (z1, …, zn): softmax(k, z1, …, zn) = e^(z_k) / Σ e^(z_j).

    Its derivative is written in terms of the softmax itself, ∂p_k/∂z_j = p_k(δ_kj − p_j).

    >>> z1, z2 = sp.symbols("z1 z2")
    >>> sp.diff(softmax(1, z1, z2), z2)
    -softmax(1, z1, z2)*softmax(2, z1, z2)
    """

    is_real = True

    @classmethod
    def eval(cls, k, *zs):
        if not (k.is_Integer and 1 <= int(k) <= len(zs)):
            raise ValueError(f"softmax index {k} is not in 1..{len(zs)}")

    def fdiff(self, argindex=1):
        k, *zs = self.args
        if argindex == 1:
            return sp.S.Zero  # the index is not a variable
        j = argindex - 1
        return self * (sp.KroneckerDelta(k, j) - softmax(j, *zs))

    def _eval_rewrite_as_exp(self, k, *zs, **kwargs):
        return sp.exp(zs[int(k) - 1]) / sp.Add(*[sp.exp(z) for z in zs])

    def _eval_evalf(self, prec):
        return self.rewrite(sp.exp)._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        k, *zs = self.args
        inner = ", ".join(printer._print(z) for z in zs)
        body = rf"\operatorname{{softmax}}_{{{int(k)}}}\left({inner}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"


def identity(x: sp.Expr) -> sp.Expr:
    """The identity activation (a linear output layer).

    >>> identity(sp.Symbol("z"))
    z
    """
    return x


#: Elementwise activations by name. softmax is a layer-wise activation, handled by the builder.
ACTIVATIONS: dict[str, Callable[[sp.Expr], sp.Expr]] = {
    "sigmoid": sigmoid,
    "tanh": tanh,
    "relu": relu,
    "leaky_relu": lambda x: leaky_relu(x, sp.Rational(1, 100)),
    "softplus": softplus,
    "identity": identity,
    "linear": identity,
}
LAYER_ACTIVATIONS = (*ACTIVATIONS, "softmax")


def activation(name: str, pre_activations: Sequence[sp.Expr]) -> list[sp.Expr]:
    """Apply the activation called ``name`` to a layer's pre-activations.

    >>> z1, z2 = sp.symbols("z1 z2")
    >>> activation("softmax", [z1, z2])
    [softmax(1, z1, z2), softmax(2, z1, z2)]
    """
    if name == "softmax":
        return [softmax(k, *pre_activations) for k in range(1, len(pre_activations) + 1)]
    try:
        f = ACTIVATIONS[name]
    except KeyError:
        known = ", ".join(LAYER_ACTIVATIONS)
        raise ValueError(f"unknown activation {name!r}; expected one of: {known}") from None
    return [f(z) for z in pre_activations]


def _mean(terms: list[sp.Expr]) -> sp.Expr:
    return sp.Rational(1, len(terms)) * sp.Add(*terms)


def mse(targets: Sequence[sp.Expr], outputs: Sequence[sp.Expr]) -> sp.Expr:
    """Mean over output units of (y − ŷ)², as in seed 000 (n = number of outputs)."""
    return _mean([(y - p) ** 2 for y, p in zip(targets, outputs, strict=True)])


def sse(targets: Sequence[sp.Expr], outputs: Sequence[sp.Expr]) -> sp.Expr:
    """Σ (y − ŷ)²."""
    return sp.Add(*[(y - p) ** 2 for y, p in zip(targets, outputs, strict=True)])


def half_sse(targets: Sequence[sp.Expr], outputs: Sequence[sp.Expr]) -> sp.Expr:
    """½ Σ (y − ŷ)², whose derivative is ŷ − y."""
    return sp.S.Half * sse(targets, outputs)


def bce(targets: Sequence[sp.Expr], outputs: Sequence[sp.Expr]) -> sp.Expr:
    """Mean over outputs of −[y log ŷ + (1 − y) log(1 − ŷ)]."""
    return _mean(
        [
            -(y * sp.log(p) + (1 - y) * sp.log(1 - p))
            for y, p in zip(targets, outputs, strict=True)
        ]
    )


def cross_entropy(targets: Sequence[sp.Expr], outputs: Sequence[sp.Expr]) -> sp.Expr:
    """−Σ_k y_k log p_k (with a softmax output and targets that sum to one)."""
    return -sp.Add(*[y * sp.log(p) for y, p in zip(targets, outputs, strict=True)])


LOSSES: dict[str, Callable[[Sequence[sp.Expr], Sequence[sp.Expr]], sp.Expr]] = {
    "mse": mse,
    "sse": sse,
    "half_sse": half_sse,
    "bce": bce,
    "cross_entropy": cross_entropy,
}


def loss(name: str, targets: Sequence[sp.Expr], outputs: Sequence[sp.Expr]) -> sp.Expr:
    """The loss called ``name`` between targets and outputs.

    >>> y, p = sp.symbols("y p")
    >>> loss("half_sse", [y], [p])
    (-p + y)**2/2
    """
    try:
        f = LOSSES[name]
    except KeyError:
        known = ", ".join(LOSSES)
        raise ValueError(f"unknown loss {name!r}; expected one of: {known}") from None
    return f(targets, outputs)

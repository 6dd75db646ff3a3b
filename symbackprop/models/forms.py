"""The general forms of the models, with symbolic sizes, each tied to its scalar builder.

Each function describes the model's forward pass once, as index families over symbolic ranges
(:class:`symbackprop.general.Quantity`); :class:`~symbackprop.general.GeneralForm` derives the
δs and gradients, and ``form.check(sizes)`` compares every entry with the scalar derivation of
the builder's graph at those sizes.

>>> form = rnn_form()
>>> print(form.equation("gradient", "W").latex().split(" = ")[1])
\\sum_{t=1}^{T} \\left(1 - h_{t,j}^{2}\\right) \\delta_{t,j} h_{t - 1,k}
>>> form.check({"T": 3, "n_x": 1, "n_h": 2, "n_y": 1}) < 1e-9
True
"""

from __future__ import annotations

import sympy as sp

from .. import functions
from ..general import GeneralForm, Quantity
from ..matrix import _entry_loss

__all__ = ["rnn_form", "conv1d_form"]

_ix = sp.symbols("t i j k m p q", integer=True)
t, i, j, k, m, p, q = _ix


def _size(name: str) -> sp.Symbol:
    return sp.Symbol(name, integer=True, positive=True)


def _entry_loss_of(loss: str, y: sp.Expr, yhat: sp.Expr, count: sp.Expr) -> sp.Expr:
    one, mean = _entry_loss(loss)
    e = one.xreplace({sp.Symbol("y", real=True): y, sp.Symbol("a", real=True): yhat})
    return e / count if mean else e


def _elementwise(name: str):
    if name not in functions.ACTIVATIONS:
        raise ValueError(f"the general form takes an elementwise activation, not {name!r}")
    return functions.ACTIVATIONS[name]


def _lookup(net):
    return lambda name, ix: net._sym.get((name, *ix))


def rnn_form(output_activation: str = "identity", loss: str = "mse", every_step: bool = True,
             bias: bool = True) -> GeneralForm:
    """BPTT for the Elman RNN of :func:`symbackprop.rnn`, for any T and sizes (h_0 = 0)."""
    from .rnn import rnn

    T, n_x, n_h, n_y = (_size(s) for s in ("T", "n_x", "n_h", "n_y"))
    f = _elementwise(output_activation)
    x = Quantity("x", "x", "input", (t, i), ((1, T), (1, n_x)))
    y = Quantity("y", "y", "target", (t, k), ((1, T), (1, n_y)))
    U = Quantity("U", "U", "parameter", (j, i), ((1, n_h), (1, n_x)))
    W = Quantity("W", "W", "parameter", (j, k), ((1, n_h), (1, n_h)))
    V = Quantity("V", "V", "parameter", (k, j), ((1, n_y), (1, n_h)))
    params = [U, W, V]
    pre = (sp.Sum(W.at(j, k) * sp.IndexedBase("h")[t - 1, k], (k, 1, n_h))
           + sp.Sum(U.at(j, i) * x.at(t, i), (i, 1, n_x)))
    out = sp.Sum(V.at(k, j) * sp.IndexedBase("h")[t, j], (j, 1, n_h))
    if bias:
        b = Quantity("b", "b", "parameter", (j,), ((1, n_h),))
        c = Quantity("c", "c", "parameter", (k,), ((1, n_y),))
        params += [b, c]
        pre, out = b.at(j) + pre, c.at(k) + out
    a = Quantity("a", "a", "node", (t, j), ((1, T), (1, n_h)), pre)
    h = Quantity("h", "h", "node", (t, j), ((1, T), (1, n_h)), sp.tanh(a.at(t, j)))
    o = Quantity("o", "o", "node", (t, k), ((1, T), (1, n_y)), out)
    yhat = Quantity("yhat", r"\hat{y}", "node", (t, k), ((1, T), (1, n_y)), f(o.at(t, k)))
    per_step = _entry_loss_of(loss, y.at(t, k), yhat.at(t, k), n_y)
    L = Quantity("L", "L", "loss", (), (), sp.Sum(per_step, (k, 1, n_y), (t, 1, T))
                 if every_step else sp.Sum(per_step.xreplace({t: T}), (k, 1, n_y)))

    def build(sizes):
        net = rnn(sizes["n_x"], sizes["n_h"], sizes["n_y"], sizes["T"], output_activation,
                  loss, every_step, bias)
        return net, _lookup(net)

    return GeneralForm("Elman RNN (BPTT)", [x, y, *params, a, h, o, yhat], L, ["h"],
                       {"T": T, "n_x": n_x, "n_h": n_h, "n_y": n_y}, build,
                       {"h": r"\delta"})


def conv1d_form(activation: str = "relu", output_activation: str = "identity",
                loss: str = "mse", bias: bool = True) -> GeneralForm:
    """The 1-D convolution of :func:`symbackprop.conv1d` with one output, for any n and K."""
    from .conv import conv1d

    n, K = _size("n"), _size("K")
    f, g = _elementwise(activation), _elementwise(output_activation)
    x = Quantity("x", "x", "input", (i,), ((1, n),))
    y = Quantity("y", "y", "target")
    w = Quantity("w", "w", "parameter", (k,), ((1, K),))
    v = Quantity("v", "v", "parameter", (i,), ((1, n - K + 1),))
    params = [w, v]
    pre = sp.Sum(w.at(k) * x.at(i + k - 1), (k, 1, K))
    head = sp.Sum(v.at(i) * sp.IndexedBase("a")[i], (i, 1, n - K + 1))
    if bias:
        b, c = Quantity("b", "b", "parameter"), Quantity("c", "c", "parameter")
        params = [w, b, v, c]
        pre, head = pre + b.at(), head + c.at()
    z = Quantity("z", "z", "node", (i,), ((1, n - K + 1),), pre)
    act = Quantity("a", "a", "node", (i,), ((1, n - K + 1),), f(z.at(i)))
    o = Quantity("o", "o", "node", (), (), head)
    yhat = Quantity("yhat", r"\hat{y}", "node", (), (), g(o.at()))
    L = Quantity("L", "L", "loss", (), (), _entry_loss_of(loss, y.at(), yhat.at(), 1))

    def build(sizes):
        net = conv1d(sizes["n"], sizes["K"], activation, 1, output_activation, loss, bias)
        return net, _lookup(net)

    return GeneralForm("1-D convolution", [x, y, *params, z, act, o, yhat], L, ["z"],
                       {"n": n, "K": K}, build, {"z": r"\delta"}, input_gradients=["x"])

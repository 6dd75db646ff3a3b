"""The general forms of the models, with symbolic sizes, each tied to its scalar builder.

Each function describes the model's forward pass once, as index families over symbolic ranges
(:class:`symbackprop.forms.general.Quantity`); :class:`~symbackprop.forms.general.GeneralForm` derives the
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

from ..builders.attention import Attention, attention
from ..builders.conv import Conv, conv1d, conv2d
from ..builders.norm import EPSILON, BatchNorm, LayerNorm, Network, batch_norm, layer_norm, network
from ..builders.rnn import RNN, rnn
from .blocks import network_form
from .general import GeneralForm, Quantity
from .pieces import (
    elementwise,
    entry_loss_of,
    one_hot,
    size_symbol,
    softmax_output,
    sums_to_zero,
    total,
)

__all__ = ["rnn_form", "conv1d_form", "conv2d_form", "attention_form", "layer_norm_form",
           "general_form"]

_ix = sp.symbols("t i j k m p q", integer=True)
t, i, j, k, m, p, q = _ix
# a convolution's channels: w_{m,ℓ,k} maps input channel ℓ to output channel (feature map) m,
# Goodfellow et al.'s letters (ch. 9); o and c already name the head's pre-activation and bias
o_, c_ = m, sp.Symbol("ell", integer=True)


def _lookup(net):
    return lambda name, ix: net._sym.get((name, *ix))


def rnn_form(output_activation: str = "identity", loss: str = "mse", every_step: bool = True,
             bias: bool = True) -> GeneralForm:
    """BPTT for the Elman RNN of :func:`symbackprop.rnn`, for any T and sizes (h_0 = 0)."""
    T, n_x, n_h, n_y = (size_symbol(s) for s in ("T", "n_x", "n_h", "n_y"))
    softmax = output_activation == "softmax"
    f = None if softmax else elementwise(output_activation)
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
    if softmax:
        heads = softmax_output(o, k)
    else:
        heads = [Quantity("yhat", r"\hat{y}", "node", (t, k), ((1, T), (1, n_y)),
                          f(o.at(t, k)))]
    yhat = heads[-1]
    per_step = entry_loss_of(loss, y.at(t, k), yhat.at(t, k), n_y)
    L = Quantity("L", "L", "loss", (), (), total(per_step, (k, 1, n_y), (t, 1, T))
                 if every_step else total(per_step.xreplace({t: T}), (k, 1, n_y)))

    def build(sizes):
        net = rnn(sizes["n_x"], sizes["n_h"], sizes["n_y"], sizes["T"], output_activation,
                  loss, every_step, bias)
        return net, _lookup(net)

    facts, assumed = one_hot(y, k) if softmax and loss == "cross_entropy" else (None, None)
    return GeneralForm("Elman RNN (BPTT)", [x, y, *params, a, h, o, *heads], L,
                       ["h", "o"] if softmax else ["h"],
                       {"T": T, "n_x": n_x, "n_h": n_h, "n_y": n_y}, build,
                       {"h": r"\delta", "o": r"\delta^{o}"}, facts=facts,
                       assumptions=[assumed] if assumed is not None else (), check_sizes=[
                           {"T": 3, "n_x": 2, "n_h": 2, "n_y": 2 if softmax else 1},
                           {"T": 2, "n_x": 1, "n_h": 3, "n_y": 3 if softmax else 2}])


def _head(outputs: bool, ranges, a_entry, a_ix, output_activation: str, loss: str,
          bias: bool):
    """The dense head of a convolution: ŷ = g(Σ v a + c), one output or n_y outputs (index r);
    a softmax head (over r) is written as its steps, and with cross-entropy uses Σ_r y_r = 1."""
    softmax = output_activation == "softmax"
    g = None if softmax else elementwise(output_activation)
    r = sp.Symbol("r", integer=True)
    n_y = size_symbol("n_y")
    out_ix, out_rng = ((r,), ((1, n_y),)) if outputs else ((), ())
    y = Quantity("y", "y", "target", out_ix, out_rng)
    v = Quantity("v", "v", "parameter", (*out_ix, *a_ix), (*out_rng, *ranges))
    head = sp.Sum(v.at(*out_ix, *a_ix) * a_entry, *[(ix, lo, hi) for ix, (lo, hi)
                                                    in zip(a_ix, ranges, strict=True)])
    params = [v]
    if bias:
        c = Quantity("c", "c", "parameter", out_ix, out_rng)
        params.append(c)
        head += c.at(*out_ix)
    o = Quantity("o", "o", "node", out_ix, out_rng, head)
    nodes = [o, *softmax_output(o, r)] if softmax else [
        o, Quantity("yhat", r"\hat{y}", "node", out_ix, out_rng, g(o.at(*out_ix)))]
    yhat = nodes[-1]
    entry = entry_loss_of(loss, y.at(*out_ix), yhat.at(*out_ix), n_y if outputs else 1)
    L = Quantity("L", "L", "loss", (), (), total(entry, (r, 1, n_y)) if outputs else entry)
    facts, assumed = one_hot(y, r) if softmax and loss == "cross_entropy" else (None, None)
    return y, params, nodes, L, ({"n_y": n_y} if outputs else {}), facts, assumed


def _conv_lookup(net, outputs: bool, channels: bool = False):
    """Quantity entries to the builder's symbols; one output is keyed without its index, and
    a network of one channel each (C_in = C_out = 1) without its channel indices."""
    head = {"y", "v", "c", "o", "yhat"}
    # where the channel indices sit in the channel form's entries
    chans = {"x": (0,), "w": (0, 1), "b": (0,), "z": (0,), "a": (0,),
             "v": (1,) if outputs else (0,)}

    def lookup(name, ix):
        if channels and not net.channels and name in chans:
            ix = tuple(v for n, v in enumerate(ix) if n not in chans[name])
        if outputs and name in head and net.n_out == 1:
            ix = ix[1:]
        return net._sym.get((name, *ix))
    return lookup


def _channels(channels: bool):
    """The channel form's index prefixes and sizes: (ℓ,) over C_in for an input entry, (m,)
    over C_out for a kernel's output; empty for the single-channel form."""
    if not channels:
        return (), (), (), (), {}
    C_in, C_out = size_symbol("C_in"), size_symbol("C_out")
    return (c_,), ((1, C_in),), (o_,), ((1, C_out),), {"C_in": C_in, "C_out": C_out}


def _conv_form(title: str, quantities: list[Quantity], L: Quantity, sizes: dict, build,
               checks: list[dict], channel_counts, channels: bool, softmax: bool, facts,
               assumed) -> GeneralForm:
    """A convolution's GeneralForm, the same for 1-D and 2-D: δ_i of the feature map is named,
    and δ^o of a softmax head (ŷ − y with cross-entropy); with channels each check size gets
    its (C_in, C_out) from ``channel_counts``."""
    if channels:
        checks = [{**c, "C_in": c_in, "C_out": c_out}
                  for c, (c_in, c_out) in zip(checks, channel_counts, strict=True)]
    return GeneralForm(title + (" with channels" if channels else ""), quantities, L,
                       ["z", "o"] if softmax else ["z"], sizes, build,
                       {"z": r"\delta", "o": r"\delta^{o}"}, input_gradients=["x"],
                       check_sizes=checks, facts=facts,
                       assumptions=() if assumed is None else [assumed])


def conv1d_form(activation: str = "relu", output_activation: str = "identity",
                loss: str = "mse", bias: bool = True, outputs: bool = False,
                channels: bool = False) -> GeneralForm:
    """The 1-D convolution of :func:`symbackprop.conv1d`, for any n and K; with
    ``outputs=True`` its head has n_y outputs ŷ_r (elementwise output activation). With
    ``channels=True``, C_in input channels and C_out kernels:
    z_{m,i} = Σ_ℓ Σ_k w_{m,ℓ,k} x_{ℓ,i+k−1} + b_m.

    >>> form = conv1d_form("tanh", channels=True)
    >>> print(form.equation("gradient", "w").latex())
    \\frac{\\partial L}{\\partial w_{m,\\ell,k}} = \\sum_{i=1}^{n - K + 1} \\delta_{m,i} x_{\\ell,i + k - 1}
    """
    n, K = size_symbol("n"), size_symbol("K")
    f = elementwise(activation)
    ci, ci_r, co, co_r, chans = _channels(channels)
    x = Quantity("x", "x", "input", (*ci, i), (*ci_r, (1, n)))
    w = Quantity("w", "w", "parameter", (*co, *ci, k), (*co_r, *ci_r, (1, K)))
    params = [w]
    pre = sp.Sum(w.at(*co, *ci, k) * x.at(*ci, i + k - 1),
                 *[(v, lo, hi) for v, (lo, hi) in zip(ci, ci_r, strict=True)], (k, 1, K))
    if bias:
        b = Quantity("b", "b", "parameter", co, co_r)
        params.append(b)
        pre = pre + b.at(*co)
    z = Quantity("z", "z", "node", (*co, i), (*co_r, (1, n - K + 1)), pre)
    act = Quantity("a", "a", "node", (*co, i), (*co_r, (1, n - K + 1)), f(z.at(*co, i)))
    outputs = outputs or output_activation == "softmax"  # a softmax is over the n_y outputs
    y, head, nodes, L, more, facts, assumed = _head(
        outputs, (*co_r, (1, n - K + 1)), act.at(*co, i), (*co, i), output_activation, loss,
        bias)

    def build(sizes):
        net = conv1d(sizes["n"], sizes["K"], activation, sizes.get("n_y", 1),
                     output_activation, loss, bias, in_channels=sizes.get("C_in", 1),
                     out_channels=sizes.get("C_out", 1))
        return net, _conv_lookup(net, outputs, channels)

    checks = [{"n": 5, "K": 3}, {"n": 4, "K": 1}]
    if outputs:
        checks = [{"n": 5, "K": 3, "n_y": 2}, {"n": 4, "K": 2, "n_y": 1}]
    if output_activation == "softmax":  # one output's softmax is 1: check over several
        checks[1]["n_y"] = 3
    return _conv_form("1-D convolution", [x, y, *params, *head, z, act, *nodes], L,
                      {"n": n, "K": K, **chans, **more}, build, checks, ((2, 3), (3, 1)),
                      channels, output_activation == "softmax", facts, assumed)


def conv2d_form(activation: str = "relu", output_activation: str = "identity",
                loss: str = "mse", bias: bool = True, outputs: bool = False,
                channels: bool = False) -> GeneralForm:
    """The small 2-D convolution of :func:`symbackprop.conv2d`, for any input H×W and kernel
    P×Q: z_{ij} = Σ_{p,q} w_{pq} x_{i+p−1, j+q−1} + b; ``outputs=True`` as in
    :func:`conv1d_form`; ``channels=True``:
    z_{m,i,j} = Σ_ℓ Σ_{p,q} w_{m,ℓ,p,q} x_{ℓ,i+p−1,j+q−1} + b_m."""
    H, Wd, P, Q = (size_symbol(s) for s in ("H", "W", "P", "Q"))
    f = elementwise(activation)
    ci, ci_r, co, co_r, chans = _channels(channels)
    out = (*co_r, (1, H - P + 1), (1, Wd - Q + 1))
    x = Quantity("x", "x", "input", (*ci, i, j), (*ci_r, (1, H), (1, Wd)))
    w = Quantity("w", "w", "parameter", (*co, *ci, p, q), (*co_r, *ci_r, (1, P), (1, Q)))
    params = [w]
    pre = sp.Sum(w.at(*co, *ci, p, q) * x.at(*ci, i + p - 1, j + q - 1),
                 *[(v, lo, hi) for v, (lo, hi) in zip(ci, ci_r, strict=True)],
                 (p, 1, P), (q, 1, Q))
    if bias:
        b = Quantity("b", "b", "parameter", co, co_r)
        params.append(b)
        pre = pre + b.at(*co)
    z = Quantity("z", "z", "node", (*co, i, j), out, pre)
    act = Quantity("a", "a", "node", (*co, i, j), out, f(z.at(*co, i, j)))
    outputs = outputs or output_activation == "softmax"
    y, head, nodes, L, more, facts, assumed = _head(outputs, out, act.at(*co, i, j),
                                                    (*co, i, j), output_activation, loss, bias)

    def build(sizes):
        net = conv2d((sizes["H"], sizes["W"]), (sizes["P"], sizes["Q"]), activation,
                     sizes.get("n_y", 1), output_activation, loss, bias,
                     in_channels=sizes.get("C_in", 1), out_channels=sizes.get("C_out", 1))
        return net, _conv_lookup(net, outputs, channels)

    checks = [{"H": 3, "W": 4, "P": 2, "Q": 2}, {"H": 2, "W": 3, "P": 1, "Q": 2}]
    if outputs:
        checks = [{**c, "n_y": n_y} for c, n_y in zip(checks, (2, 3), strict=True)]
    return _conv_form("2-D convolution", [x, y, *params, *head, z, act, *nodes], L,
                      {"H": H, "W": Wd, "P": P, "Q": Q, **chans, **more}, build, checks,
                      ((2, 2), (1, 3)), channels, output_activation == "softmax", facts,
                      assumed)


def attention_form(loss: str = "mse", projections: bool = False) -> GeneralForm:
    """One scaled dot-product head of :func:`symbackprop.attention`, for any n keys and d.

    The softmax is written as its two steps, e_j = exp(s_j), Z = Σ_j e_j, α_j = e_j/Z, so that
    reverse mode derives its Jacobian form ∂L/∂s_j = α_j (g_j − Σ_i α_i g_i) itself. With
    ``projections=True``, q = W^Q x, k_j = W^K c_j and v_j = W^V c_j are computed from the
    inputs x and c_j (of size d_in), and the gradients go to the three matrices.
    """
    n, d, d_v = size_symbol("n"), size_symbol("d"), size_symbol("d_v")
    sizes = {"n": n, "d": d, "d_v": d_v}
    if projections:
        d_in, l_ = size_symbol("d_in"), sp.Symbol("l", integer=True)
        sizes["d_in"] = d_in
        x = Quantity("x", "x", "input", (l_,), ((1, d_in),))
        xc = Quantity("xc", "c", "input", (j, l_), ((1, n), (1, d_in)))
        mats = [Quantity(w, f"W^{{{w}}}", "parameter", (i, l_), ((1, size), (1, d_in)))
                for w, size in (("Q", d), ("K", d), ("V", d_v))]
        qv = Quantity("q", "q", "node", (i,), ((1, d),),
                      sp.Sum(mats[0].at(i, l_) * x.at(l_), (l_, 1, d_in)))
        kv, vv = (Quantity(name, name, "node", (j, i), ((1, n), (1, size)),
                           sp.Sum(mat.at(i, l_) * xc.at(j, l_), (l_, 1, d_in)))
                  for name, mat, size in (("k", mats[1], d), ("v", mats[2], d_v)))
        leaves = [x, xc, *mats, qv, kv, vv]
    else:
        qv = Quantity("q", "q", "parameter", (i,), ((1, d),))
        kv = Quantity("k", "k", "parameter", (j, i), ((1, n), (1, d)))
        vv = Quantity("v", "v", "parameter", (j, i), ((1, n), (1, d_v)))
        leaves = [qv, kv, vv]
    y = Quantity("y", "y", "target", (i,), ((1, d_v),))
    s = Quantity("s", "s", "node", (j,), ((1, n),),
                 sp.Sum(qv.at(i) * kv.at(j, i), (i, 1, d)) / sp.sqrt(d))
    e = Quantity("e", "e", "node", (j,), ((1, n),), sp.exp(s.at(j)))
    Z = Quantity("Z", "Z", "node", (), (), sp.Sum(e.at(j), (j, 1, n)))
    alpha = Quantity("alpha", r"\alpha", "node", (j,), ((1, n),), e.at(j) / Z.at())
    o = Quantity("o", "o", "node", (i,), ((1, d_v),), sp.Sum(alpha.at(j) * vv.at(j, i),
                                                              (j, 1, n)))
    L = Quantity("L", "L", "loss", (), (),
                 sp.Sum(entry_loss_of(loss, y.at(i), o.at(i), d_v), (i, 1, d_v)))

    def build(sizes):
        net = attention(sizes["n"], sizes["d"], sizes["d_v"], loss, projections,
                        sizes.get("d_in"))
        return net, _lookup(net)

    checks = [{"n": 3, "d": 2, "d_v": 2}, {"n": 2, "d": 1, "d_v": 3}]
    if projections:
        checks = [{**c, "d_in": d_in} for c, d_in in zip(checks, (2, 3), strict=True)]
    return GeneralForm("scaled dot-product attention" + (" with projections" if projections
                                                         else ""),
                       [*leaves, y, s, e, Z, alpha, o], L,
                       ["alpha", "s"], sizes, build, {"alpha": "g", "s": r"\delta"},
                       check_sizes=checks)


def layer_norm_form(loss: str = "mse", over: str = "features") -> GeneralForm:
    """Layer norm over n features, with γ, β and a loss on its output, for any n::

        μ = (1/n) Σ_j x_j   c_j = x_j − μ   σ² = (1/n) Σ_j c_j²   σ = √(σ² + ε)
        x̂_j = c_j/σ         x̃_j = γ_j x̂_j + β_j

    ∂L/∂x_m comes out as the three-term δ, (1/σ)(g_m − (1/n) Σ_j g_j − x̂_m (1/n) Σ_j g_j x̂_j),
    with g_j = ∂L/∂x̂_j, once Σ_j x̂_j = 0 is used.

    ``over="batch"`` is batch norm of one feature over a batch of m samples (x_j is sample j,
    as Ioffe and Szegedy write x_i over the mini-batch; one γ and one β): the same derivation
    with n → m.
    """
    batch = over == "batch"
    if over not in ("features", "batch"):
        raise ValueError(f"over must be 'features' or 'batch', got {over!r}")
    n = size_symbol("m" if batch else "n")
    x = Quantity("x", "x", "input", (j,), ((1, n),))
    y = Quantity("y", "y", "target", (j,), ((1, n),))
    if batch:
        gamma = Quantity("gamma", r"\gamma", "parameter")
        beta = Quantity("beta", r"\beta", "parameter")
    else:
        gamma = Quantity("gamma", r"\gamma", "parameter", (j,), ((1, n),))
        beta = Quantity("beta", r"\beta", "parameter", (j,), ((1, n),))
    mu = Quantity("mu", r"\mu", "node", (), (), sp.Sum(x.at(j), (j, 1, n)) / n)
    c = Quantity("c", "c", "node", (j,), ((1, n),), x.at(j) - mu.at())
    var = Quantity("var", r"\sigma^{2}", "node", (), (), sp.Sum(c.at(j) ** 2, (j, 1, n)) / n)
    sigma = Quantity("sigma", r"\sigma", "node", (), (), sp.sqrt(var.at() + EPSILON))
    xhat = Quantity("xhat", r"\hat{x}", "node", (j,), ((1, n),), c.at(j) / sigma.at())
    xt = Quantity("xt", r"\tilde{x}", "node", (j,), ((1, n),),
                  gamma.at(*gamma.indices) * xhat.at(j) + beta.at(*beta.indices))
    L = Quantity("L", "L", "loss", (), (),
                 sp.Sum(entry_loss_of(loss, y.at(j), xt.at(j), n), (j, 1, n)))
    keys = {"x": "x_{}", "y": "y_{}", "gamma": "gamma_{}^[1]", "beta": "beta_{}^[1]",
            "mu": "mu^[1]", "var": "var^[1]", "xhat": "xhat_{}^[1]", "xt": "xt_{}^[1]"}
    if batch:  # one feature, sample j
        keys = {"x": "x_1^({})", "y": "y_1^({})", "gamma": "gamma_1^[1]", "beta": "beta_1^[1]",
                "mu": "mu_1^[1]", "var": "var_1^[1]", "xhat": "xhat_1^[1]({})",
                "xt": "xt_1^[1]({})"}

    def build(sizes):
        if batch:
            net = network(1, [batch_norm()], loss, batch=sizes["m"])
        else:
            net = network(sizes["n"], [layer_norm()], loss)

        def lookup(name, ix):
            if name not in keys:
                return None
            key = keys[name].format(*ix)
            return net.symbol(key) if key in net else None
        return net, lookup

    size = "m" if batch else "n"
    return GeneralForm("batch norm" if batch else "layer norm",
                       [x, y, gamma, beta, mu, c, var, sigma, xhat, xt], L,
                       # g̃ = ∂L/∂x̃ named as in the block network: ∂L/∂β = Σ_j g̃_j
                       ["xhat", "xt"], {size: n}, build, {"xhat": "g", "xt": r"\tilde{g}"},
                       facts=sums_to_zero("xhat", "c"), input_gradients=["x"],
                       check_sizes=[{size: 3}, {size: 2}])


def general_form(model) -> GeneralForm:
    """The general form of a built model: an RNN, a 1-D or 2-D convolution (one output or
    several), an attention head (with or without projections), or a block network (a single
    layer norm, or batch norm of one feature, keeps its own short form), with an elementwise
    or a softmax output (softmax + cross-entropy assumes one-hot targets: ``form.assumptions``).

    >>> import symbackprop as sb
    >>> form = sb.general_form(sb.rnn(1, 2, 1, steps=4))
    >>> form.title, sorted(form.sizes)
    ('Elman RNN (BPTT)', ['T', 'n_h', 'n_x', 'n_y'])
    """
    if isinstance(model, RNN):
        return rnn_form(model.output_activation, model.loss_name, model.every_step,
                        model.has_bias)
    if isinstance(model, Conv):
        make = conv1d_form if len(model.shape) == 1 else conv2d_form
        return make(model.activation, model.output_activation, model.loss_name, model.has_bias,
                    outputs=model.n_out > 1, channels=model.channels)
    if isinstance(model, Attention):
        return attention_form(model.loss_name, model.projections)
    if isinstance(model, Network) and model.batch == 1 and \
            model.blocks == (LayerNorm(True),):
        return layer_norm_form(model.loss_name)
    if isinstance(model, Network) and model.n_in == 1 and model.blocks == (BatchNorm(True),):
        return layer_norm_form(model.loss_name, over="batch")
    if isinstance(model, Network):
        return network_form(model.blocks, model.loss_name)
    raise ValueError(f"no general form is derived for {model.title!r}: the RNN, convolution, "
                     "attention and network builders' models have one")

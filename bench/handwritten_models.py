"""The models beyond the MLP written by hand, as a researcher would: the baselines of issue 23.

Each case is one of the engine's general-form models at the bench's sizes, with its data and
parameters in the engine's own layout (a leading batch axis on the inputs; W_{j,i} as
(out, in)) and the same loss, written twice by hand:

- in jax, ``jax.jit(jax.value_and_grad(loss))`` (``lax.scan`` for the recurrence, XLA's own
  convolution), the peer issue 23 holds the engine's evaluators to;
- in torch, eager autograd on torch's own modules (``nn.RNN``, ``conv1d``, ``batch_norm``,
  ``layer_norm``, ``scaled_dot_product_attention``), the independent reference.

Every loss is the engine's: the mean over the batch of each sample's loss, an mse the mean of
its outputs' squared errors (an RNN's summed over its T steps); a block network's batch is its
size m, one sample of the evaluator. So the hand-written gradients are the engine's
``BatchedEvaluator`` gradients, to 1e-10 in float64 (``check_gradients``).

>>> case = rnn_case(batch=2, steps=3, hidden=2)
>>> errors = check_gradients(case)
>>> sorted(errors), max(errors.values()) < 1e-10
(['jax', 'torch'], True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

import symbackprop as sb
from symbackprop.forms import models as forms
from symbackprop.forms.blocks import network_form

__all__ = ["ModelCase", "rnn_case", "channel_conv_case", "attention_case", "block_network_case",
           "MODEL_CASES", "jax_value_and_grad", "torch_value_and_grad", "engine_value_and_grad",
           "check_gradients", "relative_errors", "as_dtype"]

EPSILON = 1e-5  # the engine's ε of batch and layer norm (symbackprop.builders.norm.EPSILON)


@dataclass
class ModelCase:
    """One model at one batch: the engine's general form and sizes, its inputs (inputs and
    targets, batch axis first) and parameters as the evaluator takes them, and the same loss
    by hand: ``jax_loss(parameters, inputs)`` and ``torch_loss(parameters, inputs)`` return the
    batch-mean loss, a scalar."""

    name: str
    form: Callable[[], object]
    sizes: dict[str, int]
    inputs: dict[str, np.ndarray]
    parameters: dict[str, np.ndarray]
    jax_loss: Callable
    torch_loss: Callable
    batch: int


def as_dtype(arrays: Mapping[str, np.ndarray], dtype) -> dict[str, np.ndarray]:
    """Every array of ``arrays`` cast to ``dtype`` (numpy), e.g. the float32 run's copies."""
    return {k: np.asarray(v, dtype=dtype) for k, v in arrays.items()}


# -- the RNN ------------------------------------------------------------------------------------
def rnn_case(batch: int, steps: int = 16, inputs: int = 2, hidden: int = 8, outputs: int = 1,
             seed: int = 0) -> ModelCase:
    """Goodfellow's Elman RNN (sb.rnn, mse, identity output): h_t = tanh(b + W h_{t−1} + U x_t),
    h_0 = 0, o_t = c + V h_t, L = Σ_t (1/n_y) Σ_k (o_{t,k} − y_{t,k})², batch mean."""
    rng = np.random.default_rng(seed)
    data = {"x": rng.normal(size=(batch, steps, inputs)),
            "y": rng.normal(size=(batch, steps, outputs))}
    params = {"U": rng.normal(size=(hidden, inputs)) * 0.3,
              "W": rng.normal(size=(hidden, hidden)) * 0.3,
              "V": rng.normal(size=(outputs, hidden)), "b": rng.normal(size=hidden),
              "c": rng.normal(size=outputs)}

    def jax_loss(p, d):
        import jax
        import jax.numpy as jnp

        x = jnp.swapaxes(d["x"], 0, 1)  # (T, batch, n_x): scan runs over the leading axis
        drive = x @ p["U"].T + p["b"]  # every step's input term at once, outside the loop

        def step(h, drive_t):
            h = jnp.tanh(drive_t + h @ p["W"].T)
            return h, h
        h0 = jnp.zeros((x.shape[1], p["W"].shape[0]), dtype=x.dtype)
        _, hs = jax.lax.scan(step, h0, drive)  # (T, batch, n_h)
        o = hs @ p["V"].T + p["c"]
        return jnp.mean(jnp.sum(jnp.mean((o - jnp.swapaxes(d["y"], 0, 1)) ** 2, axis=2),
                                axis=0))

    def torch_loss(p, d):
        import torch

        x, y = d["x"], d["y"]
        # nn.RNN's own kernel: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh), b_hh = 0
        weights = {"weight_ih_l0": p["U"], "weight_hh_l0": p["W"], "bias_ih_l0": p["b"],
                   "bias_hh_l0": torch.zeros_like(p["b"])}
        module = _torch_rnn(x.shape[2], p["W"].shape[0], x.dtype)
        h, _ = torch.func.functional_call(module, weights, (x,))
        o = h @ p["V"].T + p["c"]
        return ((o - y) ** 2).mean(dim=2).sum(dim=1).mean()

    return ModelCase(f"RNN T={steps}, {hidden} hidden", lambda: forms.rnn_form("identity", "mse"),
                     {"T": steps, "n_x": inputs, "n_h": hidden, "n_y": outputs}, data, params,
                     jax_loss, torch_loss, batch)


_TORCH_RNNS: dict[tuple, object] = {}


def _torch_rnn(n_x: int, n_h: int, dtype):
    key = (n_x, n_h, dtype)
    if key not in _TORCH_RNNS:
        import torch

        _TORCH_RNNS[key] = torch.nn.RNN(n_x, n_h, batch_first=True, dtype=dtype)
    return _TORCH_RNNS[key]


# -- the channel convolution ----------------------------------------------------------------------
def channel_conv_case(batch: int, length: int = 64, kernel: int = 5, c_in: int = 4,
                      c_out: int = 8, seed: int = 4) -> ModelCase:
    """sb.conv1d with channels, tanh, one linear output, mse:
    z_{m,i} = b_m + Σ_ℓ Σ_k w_{m,ℓ,k} x_{ℓ,i+k−1}, ŷ = c + Σ_{m,i} v_{m,i} tanh(z_{m,i}),
    L = (ŷ − y)², batch mean."""
    rng = np.random.default_rng(seed)
    data = {"x": rng.normal(size=(batch, c_in, length)), "y": rng.normal(size=batch)}
    params = {"w": rng.normal(size=(c_out, c_in, kernel)) / np.sqrt(c_in * kernel),
              "b": rng.normal(size=c_out) * 0.1,
              "v": rng.normal(size=(c_out, length - kernel + 1)) * 0.1,
              "c": np.asarray(0.05)}

    def jax_loss(p, d):
        import jax
        import jax.numpy as jnp

        # cross-correlation, as the engine's z (and every deep-learning library's conv) reads
        z = jax.lax.conv_general_dilated(d["x"], p["w"], window_strides=(1,), padding="VALID",
                                         dimension_numbers=("NCH", "OIH", "NCH"))
        a = jnp.tanh(z + p["b"][:, None])
        out = jnp.sum(a * p["v"], axis=(1, 2)) + p["c"]
        return jnp.mean((out - d["y"]) ** 2)

    def torch_loss(p, d):
        import torch

        a = torch.tanh(torch.nn.functional.conv1d(d["x"], p["w"], p["b"]))
        out = (a * p["v"]).sum(dim=(1, 2)) + p["c"]
        return ((out - d["y"]) ** 2).mean()

    return ModelCase(f"conv1d length {length}, {c_in} → {c_out} channels, kernel {kernel}",
                     lambda: forms.conv1d_form("tanh", channels=True),
                     {"n": length, "K": kernel, "C_in": c_in, "C_out": c_out}, data, params,
                     jax_loss, torch_loss, batch)


# -- attention with projections ---------------------------------------------------------------------
def attention_case(batch: int, keys: int = 16, d: int = 8, d_in: int = 8,
                   seed: int = 2) -> ModelCase:
    """One scaled dot-product head with projections (sb.attention, mse): q = W^Q x,
    k_j = W^K c_j, v_j = W^V c_j, α = softmax_j(q·k_j/√d), o = Σ_j α_j v_j,
    L = (1/d_v) Σ_i (o_i − y_i)², batch mean."""
    rng = np.random.default_rng(seed)
    data = {"x": rng.normal(size=(batch, d_in)), "xc": rng.normal(size=(batch, keys, d_in)),
            "y": rng.normal(size=(batch, d))}
    params = {w: rng.normal(size=(d, d_in)) / np.sqrt(d_in) for w in ("Q", "K", "V")}
    scale = 1.0 / math.sqrt(d)

    def jax_loss(p, data):
        import jax
        import jax.numpy as jnp

        q = data["x"] @ p["Q"].T  # (batch, d)
        k = data["xc"] @ p["K"].T  # (batch, n, d)
        v = data["xc"] @ p["V"].T
        alpha = jax.nn.softmax(jnp.einsum("bd,bnd->bn", q, k) * scale, axis=-1)
        o = jnp.einsum("bn,bnd->bd", alpha, v)
        return jnp.mean(jnp.mean((o - data["y"]) ** 2, axis=1))

    def torch_loss(p, data):
        import torch
        F = torch.nn.functional

        o = F.scaled_dot_product_attention(F.linear(data["x"], p["Q"])[:, None],
                                           F.linear(data["xc"], p["K"]),
                                           F.linear(data["xc"], p["V"]))[:, 0]
        return ((o - data["y"]) ** 2).mean(dim=1).mean()

    return ModelCase(f"attention + projections, {keys} keys, d = {d}",
                     lambda: forms.attention_form(projections=True),
                     {"n": keys, "d": d, "d_v": d, "d_in": d_in}, data, params, jax_loss,
                     torch_loss, batch)


# -- the block network --------------------------------------------------------------------------------
NETWORK_BLOCKS = ("dense(n_1, tanh)", "batch_norm", "residual(dense(n_1, tanh), layer_norm)",
                  "dense(1)")


def block_network_case(batch: int, n_0: int = 4, n_1: int = 16, seed: int = 3) -> ModelCase:
    """sb.network(n_0, [dense(n_1, tanh), batch_norm(), residual(dense(n_1, tanh),
    layer_norm()), dense(1)], mse, batch=m): batch norm over the m samples (biased variance,
    ε = 1e-5), layer norm over the features, L = (1/m) Σ_s (ŷ_s − y_s)². The m samples are
    the form's size m: the evaluator sees one sample of shape (m, n_0)."""
    rng = np.random.default_rng(seed)
    data = {"x": rng.normal(size=(1, batch, n_0)), "y": rng.normal(size=(1, batch, 1))}
    params = {"W1": rng.normal(size=(n_1, n_0)) / np.sqrt(n_0), "b1": rng.normal(size=n_1),
              "gamma2": rng.normal(size=n_1), "beta2": rng.normal(size=n_1),
              "W3": rng.normal(size=(n_1, n_1)) / np.sqrt(n_1), "b3": rng.normal(size=n_1),
              "gamma4": rng.normal(size=n_1), "beta4": rng.normal(size=n_1),
              "W6": rng.normal(size=(1, n_1)), "b6": rng.normal(size=1)}

    def jax_loss(p, d):
        import jax.numpy as jnp

        def norm(a, axis, gamma, beta):
            mu = jnp.mean(a, axis=axis, keepdims=True)
            var = jnp.mean((a - mu) ** 2, axis=axis, keepdims=True)
            return gamma * (a - mu) / jnp.sqrt(var + EPSILON) + beta

        a = norm(jnp.tanh(d["x"][0] @ p["W1"].T + p["b1"]), 0, p["gamma2"], p["beta2"])
        r = a + norm(jnp.tanh(a @ p["W3"].T + p["b3"]), 1, p["gamma4"], p["beta4"])
        out = r @ p["W6"].T + p["b6"]
        return jnp.mean(jnp.mean((out - d["y"][0]) ** 2, axis=1))

    def torch_loss(p, d):
        import torch
        F = torch.nn.functional

        a = torch.tanh(F.linear(d["x"][0], p["W1"], p["b1"]))
        if a.shape[0] > 1:
            a = F.batch_norm(a, None, None, p["gamma2"], p["beta2"], training=True, eps=EPSILON)
        else:  # torch refuses a batch norm of one sample; the engine's is x̂ = 0, out = β
            a = p["gamma2"] * (a - a.mean(dim=0)) / math.sqrt(EPSILON) + p["beta2"]
        r = a + F.layer_norm(torch.tanh(F.linear(a, p["W3"], p["b3"])), (n_1,), p["gamma4"],
                             p["beta4"], eps=EPSILON)
        return ((F.linear(r, p["W6"], p["b6"]) - d["y"][0]) ** 2).mean(dim=1).mean()

    def form():
        return network_form([sb.dense(n_1, "tanh"), sb.batch_norm(),
                             sb.residual(sb.dense(n_1, "tanh"), sb.layer_norm()), sb.dense(1)])

    return ModelCase(f"network dense-BN-residual(dense-LN)-dense, {n_1} wide", form,
                     {"m": batch, "n_0": n_0, "n_1": n_1, "n_6": 1}, data, params, jax_loss,
                     torch_loss, batch)


MODEL_CASES: dict[str, Callable[..., ModelCase]] = {
    "rnn": rnn_case, "conv": channel_conv_case, "attention": attention_case,
    "network": block_network_case}


# -- value and gradient, three ways ------------------------------------------------------------------
def jax_value_and_grad(case: ModelCase) -> Callable:
    """``f(parameters, inputs) -> (loss, gradients)``: ``jax.jit(jax.value_and_grad(loss))``,
    compiled once per dtype and shape on first call. Call it inside x64 mode for float64."""
    import jax

    return jax.jit(jax.value_and_grad(case.jax_loss))


def torch_value_and_grad(case: ModelCase) -> Callable:
    """``f(parameters, inputs) -> (loss, gradients)`` by torch eager autograd; the parameters
    are leaf tensors (``requires_grad``), the inputs tensors, both of the dtype to run in."""
    import torch

    def run(parameters, inputs):
        names = list(parameters)
        loss = case.torch_loss(parameters, inputs)
        grads = torch.autograd.grad(loss, [parameters[n] for n in names])
        return loss, dict(zip(names, grads, strict=True))
    return run


def torch_arrays(case: ModelCase, dtype=np.float64):
    """(parameters as leaf tensors that require grad, inputs as tensors), in ``dtype``."""
    import torch

    params = {k: torch.tensor(np.asarray(v, dtype=dtype), requires_grad=True)
              for k, v in case.parameters.items()}
    return params, {k: torch.tensor(np.asarray(v, dtype=dtype)) for k, v in case.inputs.items()}


def engine_value_and_grad(case: ModelCase, backend: str = "numpy", evaluator=None) -> Callable:
    """``f(parameters, inputs) -> (loss, gradients)`` of the engine's BatchedEvaluator on
    ``backend``: the batch mean of its per-sample losses, and its (batch-mean) gradients of the
    parameters."""
    ev = evaluator if evaluator is not None else case.form().evaluator(case.sizes, backend)
    names = list(case.parameters)

    def run(parameters, inputs):
        out = ev(inputs, parameters)
        return out.loss.mean(), {n: out.gradients[n] for n in names}
    return run


def relative_errors(reference: Mapping[str, object], other: Mapping[str, object]) -> float:
    """The largest over arrays of max|other − reference| / max|reference| (a relative error
    that an entry near zero cannot inflate)."""
    worst = 0.0
    for name, want in reference.items():
        want = np.asarray(want, dtype=np.float64)
        got = np.asarray(other[name], dtype=np.float64)
        if got.shape != want.shape:
            raise AssertionError(f"{name}: shape {got.shape}, expected {want.shape}")
        scale = max(float(np.max(np.abs(want))), np.finfo(float).tiny)
        worst = max(worst, float(np.max(np.abs(got - want))) / scale)
    return worst


def check_gradients(case: ModelCase, tolerance: float = 1e-10) -> dict[str, float]:
    """Loss and gradients of the hand-written jax and torch models against the engine's
    numpy BatchedEvaluator, in float64: {peer: largest relative error}; AssertionError past
    ``tolerance``."""
    import jax

    loss, grads = engine_value_and_grad(case)(case.parameters, case.inputs)
    reference = {"loss": loss, **grads}
    with jax.enable_x64(True):
        j_loss, j_grads = jax_value_and_grad(case)(case.parameters, case.inputs)
    t_loss, t_grads = torch_value_and_grad(case)(*torch_arrays(case))
    errors = {"jax": relative_errors(reference, {"loss": j_loss, **j_grads}),
              "torch": relative_errors(reference, {"loss": t_loss.detach(),
                                                   **{k: g.detach() for k, g in
                                                      t_grads.items()}})}
    for peer, err in errors.items():
        if not err <= tolerance:
            raise AssertionError(f"{case.name}: hand-written {peer} differs from the engine by "
                                 f"{err:.3g} (relative; tolerance {tolerance:g})")
    return errors

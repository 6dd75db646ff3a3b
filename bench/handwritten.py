"""Backpropagation for a sigmoid MLP with biases and the mean squared error, written by hand in
numpy: the reference the engine's generated evaluator is timed against.

The loss is the engine's mse over a batch: the mean over output units and over samples of
(Y − A)². X is (n_0, m) with one sample per column; W[l] is (n_l, n_{l−1}) and b[l] is (n_l,).
"""

from __future__ import annotations

import numpy as np


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # The plainest correct sigmoid, as a researcher writes it: exp(-z) overflows to inf past
    # z < -709 and 1/(1+inf) is then 0, the right limit (numpy warns; the benchmarks' inputs
    # stay far from it). A slower "stable" form here would flatter the engine.
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def forward_loss(X, Y, W, b) -> float:
    a = X
    for w, c in zip(W, b, strict=True):
        a = _sigmoid(w @ a + c[:, None])
    return float(((Y - a) ** 2).mean())


def backprop(X, Y, W, b):
    """(loss, [dL/dW_l], [dL/db_l])."""
    acts = [X]
    for w, c in zip(W, b, strict=True):
        acts.append(_sigmoid(w @ acts[-1] + c[:, None]))
    out = acts[-1]
    loss = float(((Y - out) ** 2).mean())
    delta = (2.0 / Y.size) * (out - Y) * out * (1.0 - out)  # mean over units and samples
    return (loss, *_backward(W, acts, delta))


def _backward(W, acts, delta):
    """([dL/dW_l], [dL/db_l]) from the output layer's δ, through sigmoid hidden layers."""
    dW, db = [], []
    for k in range(len(W) - 1, -1, -1):
        dW.append(delta @ acts[k].T)
        db.append(delta.sum(axis=1))
        if k:
            a = acts[k]
            delta = (W[k].T @ delta) * a * (1.0 - a)
    return dW[::-1], db[::-1]


def _softmax_columns_log(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=0, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))


def backprop_softmax(X, Y, W, b):
    """(loss, [dL/dW_l], [dL/db_l]) of sigmoid hidden layers under a softmax output and the
    cross-entropy, mean over samples: the plainest correct form (log-softmax from the logits,
    δ^[L] = (P − Y)/m for one-hot Y, then the same recursion as :func:`backprop`)."""
    acts = [X]
    for w, c in zip(W[:-1], b[:-1], strict=True):
        acts.append(_sigmoid(w @ acts[-1] + c[:, None]))
    z = W[-1] @ acts[-1] + b[-1][:, None]
    log_p = _softmax_columns_log(z)
    m = X.shape[1]
    loss = float(-(Y * log_p).sum() / m)
    delta = (np.exp(log_p) - Y) / m
    return (loss, *_backward(W, acts, delta))

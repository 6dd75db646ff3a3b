"""The batched evaluator's generated code (codegen.py): its logs, its in-place kernels, its
backends and dtypes. The equations themselves are tested in test_matrix.py."""

from __future__ import annotations

import itertools
import re

import mpmath
import numpy as np
import pytest

import symbackprop as sb
from symbackprop import functions

OUTPUTS = ["sigmoid", "tanh", "relu", "softplus", "identity", "softmax"]


def _exact_softmax_bce(Z, Y) -> float:
    """The mean bce of softmax columns, in 50 digits."""
    with mpmath.workdps(50):
        total = mpmath.mpf(0)
        for z, y in zip(Z.T, Y.T, strict=True):
            s = sum(mpmath.exp(v) for v in z)
            for zk, yk in zip(z, y, strict=True):
                p = mpmath.exp(zk) / s
                total += -(yk * mpmath.log(p) + (1 - yk) * mpmath.log(1 - p))
        return float(total / Z.size)


def test_no_log_is_clamped_so_the_loss_is_the_one_the_gradient_differentiates():
    # Every log the matrix evaluator takes is of a sigmoid or softmax output, and each is taken
    # from the logits; a clamped log (torch's BCELoss: −100) would report a loss the gradient is
    # not the derivative of. No bare log(…) of an activation is left in any generated source.
    for output, loss in itertools.product(OUTPUTS, functions.LOSSES):
        try:
            f = sb.matrix_form([2, 3], [output], loss).evaluator()
        except sb.GraphError:
            continue
        assert not re.search(r"(?<![\w.])log\(", f.source), (output, loss)
        assert "-100" not in f.source


def test_softmax_bce_loss_at_saturation_is_exact_not_clamped():
    # p = 1 − 4e-18 rounds to 1.0: log(1 − p) from the probability would be log(0) (clamped to
    # −100 before); from the logits it is −40.2, and the loss agrees with 50-digit arithmetic.
    f = sb.matrix_form([1, 3], ["softmax"], "bce").evaluator()
    X = np.array([[1.0, 0.5]])
    W = [np.array([[40.0], [-3.0], [0.2]])]
    Y = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    want = _exact_softmax_bce(W[0] @ X, Y)
    assert f.loss(X, Y, W) == pytest.approx(want, rel=1e-13)
    with np.errstate(all="ignore"):  # its gradient is the documented limit (nan here)
        assert f(X, Y, W).loss == pytest.approx(want, rel=1e-13)

"""The losses: each defined once, with the catalog message that names it in a sentence.

A loss is a function of the targets and the outputs. Its numerically stable forms (log σ and
log softmax from the logits) belong to the output layer it meets, in the evaluators.

>>> import sympy as sp
>>> y, p = sp.symbols("y p")
>>> LOSSES["half_sse"].function([y], [p])
(-p + y)**2/2
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sympy as sp

from .base import N_

__all__ = ["Loss", "LOSSES", "mse", "sse", "half_sse", "bce", "cross_entropy"]


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


@dataclass(frozen=True, eq=False)
class Loss:
    """One loss: its name in specs and builders, its function, the message naming it, and what
    it asks of the output layer and of the targets."""

    name: str
    function: Callable[[Sequence[sp.Expr], Sequence[sp.Expr]], sp.Expr]
    prose: str
    #: The output activations it may follow (empty: any): a log of ŷ (and of 1 − ŷ) is real only
    #: for ŷ in (0, 1), so a cross-entropy over relu or identity outputs has no value.
    outputs: tuple[str, ...] = ()
    #: The output layer it needs, as its refusal says it.
    needs: str = ""
    #: Its targets are probabilities, from 0 to 1 (its minimum is at the target only then).
    probabilities: bool = False

    def output_problem(self, activation: str | None) -> str | None:
        """Why this loss cannot follow an output layer of ``activation`` (None: an output that
        no activation ends, such as a normalisation), or None when it can.

        >>> LOSSES["bce"].output_problem("relu")
        "loss 'bce' needs outputs in (0, 1): a sigmoid or softmax output layer"
        >>> LOSSES["mse"].output_problem(None) is None
        True
        """
        if self.outputs and activation not in self.outputs:
            return f"loss {self.name!r} needs {self.needs}"
        return None


#: Every loss by name, in the order error messages list them.
LOSSES: dict[str, Loss] = {loss.name: loss for loss in (
    Loss("mse", mse, N_("mean squared error")),
    Loss("sse", sse, N_("sum of squared errors")),
    Loss("half_sse", half_sse, N_("half sum of squared errors")),
    Loss("bce", bce, N_("binary cross-entropy"), outputs=("sigmoid", "softmax"),
         needs="outputs in (0, 1): a sigmoid or softmax output layer", probabilities=True),
    Loss("cross_entropy", cross_entropy, N_("cross-entropy"), outputs=("softmax",),
         needs="a softmax output layer (use 'bce' for sigmoid)", probabilities=True),
)}

"""A Graph's loss and gradients in 50 digits by mpmath: the reference for the float evaluators.

Every node is its elementary definition (the verifier's meaning of an activation: σ is
1/(1 + e^(−x)), a softmax e^(z_k)/Σ e^(z_j)) computed in mpmath, and each gradient is mpmath's
own numerical derivative of that loss at 50 digits, so the reference shares neither the engine's
derivatives nor its stable forms. At these digits 1 − p of a p within 1e-14 of 1 keeps 36 of
them, where float64 keeps 2.
"""

from __future__ import annotations

import mpmath
import sympy as sp

from symbackprop.check.verify import elementary

DIGITS = 50


def reference(graph, values: dict[str, float]) -> tuple[float, dict[str, float]]:
    """(loss, {parameter: ∂L/∂parameter}) at ``values``, each exact to ~30 digits, in floats."""
    leaves = list(graph.leaves)
    steps = []
    known = list(leaves)
    for v in graph.nodes:
        expr = elementary(graph.expr(v))
        steps.append(sp.lambdify(known, expr, modules="mpmath"))
        known.append(v)

    with mpmath.workdps(DIGITS):
        point = [mpmath.mpf(float(values[s.name])) for s in leaves]

        def loss(at):
            numbers = list(at)
            for f in steps:
                numbers.append(f(*numbers))
            return numbers[-1]

        def along(k):
            return lambda t: loss(point[:k] + [t] + point[k + 1:])

        total = loss(point)
        grads = {p.name: float(mpmath.diff(along(leaves.index(p)), point[leaves.index(p)]))
                 for p in graph.parameters}
        return float(total), grads

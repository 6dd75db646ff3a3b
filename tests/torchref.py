"""Torch autograd in float64 as the fuzz campaign's reference for a Graph's loss and gradients.

The graph's own equations are computed again with torch's functions (``torch.nn.functional``,
not the engine's torch kernels, so the reference shares no code with what it judges) and
differentiated by autograd. Where a textbook computes a log of a sigmoid or a softmax from the
probability, torch users take it from the logits (``logsigmoid``, ``log_softmax``, as
``binary_cross_entropy_with_logits`` does); so does the reference, so that a saturated head
has a finite reference that a nan from the engine can be held against.
"""

from __future__ import annotations

import math

import sympy as sp

from symbackprop.core import functions as fn


class Unsupported(Exception):
    """An expression the reference does not know how to compute."""


def reference(graph, values: dict[str, float]):
    """(loss, {parameter: gradient}) by torch autograd in float64 at ``values``; raises
    Unsupported for an expression it cannot compute or a kink it meets (relu at 0: torch's
    convention there need not be the engine's, and neither is wrong)."""
    import torch
    import torch.nn.functional as F

    leaves = {s: torch.tensor(float(values[s.name]), dtype=torch.float64,
                              requires_grad=s in graph.parameters) for s in graph.leaves}
    memo: dict = {}
    exprs = {s: graph.expr(s) for s in graph.nodes}

    def node(s):
        if s in leaves:
            return leaves[s]
        if s not in memo:
            memo[s] = walk(exprs[s])
        return memo[s]

    def logits(x):
        """A sigmoid's or softmax's argument when ``x`` is one (directly or as a node)."""
        e = exprs.get(x, x) if isinstance(x, sp.Symbol) else x
        if isinstance(e, fn.sigmoid):
            return "sigmoid", walk(e.args[0])
        if isinstance(e, fn.softmax):
            return "softmax", (int(e.args[0]) - 1, torch.stack([walk(z) for z in e.args[1:]]))
        return None

    def log(x):
        stable = logits(x)
        if stable and stable[0] == "sigmoid":
            return F.logsigmoid(stable[1])
        if stable:
            k, zs = stable[1]
            return torch.log_softmax(zs, 0)[k]
        if isinstance(x, sp.Add) and len(x.args) == 2 and sp.S.One in x.args:
            other = x.args[1] if x.args[0] == 1 else x.args[0]
            if isinstance(other, sp.Mul) and other.args[0] == -1 and len(other.args) == 2:
                stable = logits(other.args[1])
                if stable and stable[0] == "sigmoid":  # log(1 - σ(z)) = log σ(−z)
                    return F.logsigmoid(-stable[1])
                if stable:  # log(1 - p_k) = logsumexp of the other logits − logsumexp of all
                    k, zs = stable[1]
                    others = torch.cat([zs[:k], zs[k + 1:]])
                    return torch.logsumexp(others, 0) - torch.logsumexp(zs, 0)
        return torch.log(walk(x))

    kinks = []

    def kinked(e, x):
        """``x``; noted when ``e`` is evaluated at its kink, where conventions differ."""
        if isinstance(e, (fn.relu, fn.leaky_relu, sp.Abs)) and float(x) == 0:
            kinks.append(str(e))
        return x

    def walk(e):
        if isinstance(e, sp.Symbol):
            return node(e)
        if e.is_Number or e.is_NumberSymbol or isinstance(e, sp.Expr) and not e.free_symbols:
            return torch.tensor(float(e), dtype=torch.float64)
        if isinstance(e, sp.Add):
            out = walk(e.args[0])
            for a in e.args[1:]:
                out = out + walk(a)
            return out
        if isinstance(e, sp.Mul):
            out = walk(e.args[0])
            for a in e.args[1:]:
                out = out * walk(a)
            return out
        if isinstance(e, sp.Pow):
            base, exp = e.args
            if exp == sp.S.Half:
                return torch.sqrt(walk(base))
            if exp.is_Integer:
                return walk(base) ** int(exp)
            return walk(base) ** walk(exp)
        if isinstance(e, sp.log):
            return log(e.args[0])
        one = {sp.exp: torch.exp, sp.tanh: torch.tanh, sp.Abs: torch.abs,
               fn.sigmoid: torch.sigmoid, fn.relu: torch.relu, fn.silu: F.silu,
               fn.softplus: F.softplus,
               fn.gelu: lambda x: F.gelu(x, approximate="tanh"), fn.gelu_erf: F.gelu}
        for kind, f in one.items():
            if isinstance(e, kind) and len(e.args) == 1:
                return f(kinked(e, walk(e.args[0])))
        if isinstance(e, fn.leaky_relu):
            slope = float(e.args[1]) if len(e.args) > 1 else 0.01
            return F.leaky_relu(kinked(e, walk(e.args[0])), slope)
        if isinstance(e, fn.softmax):
            k = int(e.args[0]) - 1
            return torch.softmax(torch.stack([walk(z) for z in e.args[1:]]), 0)[k]
        raise Unsupported(f"{type(e).__name__}: {e}")

    loss = node(graph.loss_symbol)
    params = list(graph.parameters)
    if kinks:
        raise Unsupported(f"at a kink: {kinks[0]}")
    if not loss.requires_grad:  # a loss that no parameter reaches
        return float(loss.detach()), {p.name: 0.0 for p in params}
    grads = torch.autograd.grad(loss, [leaves[p] for p in params], allow_unused=True)
    return float(loss.detach()), {p.name: 0.0 if g is None else float(g)
                         for p, g in zip(params, grads, strict=True)}


def disagree(ours: float, theirs: float, scale: float) -> bool:
    """Whether a gradient of ours is wrong given torch's (both float64): a nan or infinity where
    torch is finite, or a difference beyond rounding. ``scale`` is the size of the largest value
    the two are computed from; rounding errors of a sum of such terms are of its size times
    float64's epsilon, so a margin of 1e-9 of it is far above rounding and far below a slip."""
    if not math.isfinite(theirs):
        return False  # torch overflowed: no reference
    if not math.isfinite(ours):
        return True
    return abs(ours - theirs) > 1e-6 * max(abs(ours), abs(theirs)) + 1e-9 * scale

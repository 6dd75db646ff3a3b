"""The lines of an exported scalar module: the evaluator's code, the gradients of inputs and
targets beside the parameters', all in identifiers that a module's own names never shadow.

The scalar evaluator already gives every symbol a collision-free identifier for lambdify's
namespace; a standalone module defines more names around the lines (its classes, its
functions, the helpers it carries), so ``ScalarLines.avoiding`` renames any identifier that
equals one of them, in every line at once.
"""

from __future__ import annotations

import builtins
import keyword
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import sympy as sp

from .stable import stable_loss

if TYPE_CHECKING:  # a derivation is read, never built, by the exporter
    from ..derivation.reverse import Derivation

__all__ = ["ScalarLines"]

Step = tuple[sp.Symbol, sp.Expr]


@dataclass(frozen=True)
class ScalarLines:
    """What a scalar module computes, as (identifier, expression) steps.

    ``args`` are the leaves' identifiers in ``leaves`` order; ``leaf_gradients`` holds one step
    per leaf, ∂L/∂leaf for inputs and targets as well as parameters (0 where the loss does not
    depend on it).
    """

    leaves: tuple[str, ...]
    parameters: tuple[str, ...]
    nodes: tuple[str, ...]
    args: tuple[sp.Symbol, ...]
    forward: tuple[Step, ...]
    backward: tuple[Step, ...]
    leaf_gradients: tuple[Step, ...]
    loss: sp.Symbol

    @classmethod
    def of(cls, derivation: Derivation) -> ScalarLines:
        """The evaluator's lines of ``derivation``, with the δ of every input and target added."""
        g = derivation.graph
        code = derivation.evaluator.code
        # the identifiers the evaluator chose: leaves, nodes, then the δ of each backward node
        # in the order its backward lines run
        ident: dict[sp.Symbol, sp.Symbol] = dict(zip(g.leaves, code.args, strict=True))
        ident |= {v: a for v, (a, _) in zip(g.nodes, code.forward, strict=True)}
        backward_nodes = [v for v in reversed(g.nodes)
                          if v in derivation.deltas and v != g.loss_symbol]
        ident |= {derivation.delta_symbols[v]: a
                  for v, (a, _) in zip(backward_nodes, code.backward, strict=True)}
        taken = {str(a) for a in ident.values()} | {str(a) for a, _ in code.gradients}
        grads = {p: step for p, step in zip(g.parameters, code.gradients, strict=True)}
        leaf_gradients = []
        for s, a in zip(g.leaves, code.args, strict=True):
            if s in grads:
                leaf_gradients.append(grads[s])
                continue
            name = _fresh(f"dL_d{a}", taken)
            taken.add(name)
            # a target's δ is the loss's derivative (−log ŷ + log(1 − ŷ) for bce): from the
            # logits, as the loss line is, so a saturated output gives −z, not −inf
            delta = stable_loss(g, derivation.deltas.get(s, sp.S.Zero))
            leaf_gradients.append((sp.Symbol(name, real=True), delta.xreplace(ident)))
        return cls(tuple(s.name for s in g.leaves), tuple(p.name for p in g.parameters),
                   tuple(v.name for v in g.nodes), tuple(code.args), tuple(code.forward),
                   tuple(code.backward), tuple(leaf_gradients), code.loss)

    def identifiers(self) -> set[str]:
        """Every identifier the lines assign or read as a variable."""
        steps = self.forward + self.backward + self.leaf_gradients
        return {str(a) for a in self.args} | {str(a) for a, _ in steps}

    def gradients(self) -> tuple[Step, ...]:
        """The parameters' gradient steps, in the graph's order of parameters."""
        return tuple(step for leaf, step in zip(self.leaves, self.leaf_gradients, strict=True)
                     if leaf in self.parameters)

    def avoiding(self, names: set[str]) -> ScalarLines:
        """The same lines with every identifier in ``names`` renamed (``LossAndGradients`` to
        ``LossAndGradients_1``), unique among all the others and ``names``."""
        own = self.identifiers()
        clash = own & names
        if not clash:
            return self
        taken = own | names | set(dir(builtins)) | set(keyword.kwlist)
        new: dict[sp.Symbol, sp.Symbol] = {}
        steps = self.forward + self.backward + self.leaf_gradients
        for a in (*self.args, *(a for a, _ in steps)):
            if str(a) in clash and a not in new:
                name = _fresh(str(a), taken)
                taken.add(name)
                new[a] = sp.Symbol(name, real=True)

        def move(part: tuple[Step, ...]) -> tuple[Step, ...]:
            return tuple((new.get(a, a), e.xreplace(new)) for a, e in part)

        return replace(self, args=tuple(new.get(a, a) for a in self.args),
                       forward=move(self.forward), backward=move(self.backward),
                       leaf_gradients=move(self.leaf_gradients),
                       loss=new.get(self.loss, self.loss))


def _fresh(base: str, taken: set[str]) -> str:
    name, k = base, 0
    while name in taken or keyword.iskeyword(name):
        k += 1
        name = f"{base}_{k}"
    return name

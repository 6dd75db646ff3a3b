"""The scalar form as a Form: the reverse-mode derivation, one equation per node and weight.

:func:`symbackprop.derive` gives the :class:`~symbackprop.derivation.reverse.Derivation`
itself, with its chains, δs and evaluator; :func:`scalar_form` gives the same derivation as
the Form protocol asks for it (forms/base.py), beside the matrix and general forms.

>>> import symbackprop as sb
>>> form = scalar_form(sb.mlp([2, 1]))
>>> form.equation("gradient", "w1").latex()
'\\\\frac{\\\\partial L}{\\\\partial w_{1}} = x_{1} \\\\delta_{z_{1}}'
>>> form.check().ok
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ..check.gradcheck import GradientCheck, check_gradients
from ..core.errors import CheckError
from ..core.graph import Graph
from ..derivation.reverse import Derivation, derive
from ..printing.latex import TexPrinter
from .base import Form

__all__ = ["ScalarForm", "ScalarEquation", "scalar_form"]


@dataclass(frozen=True)
class ScalarEquation:
    """One equation of the scalar form: ``lhs = rhs``, a node, the loss, a δ or a gradient."""

    kind: str
    name: str
    lhs: sp.Expr
    rhs: sp.Expr
    printer: TexPrinter = field(repr=False, compare=False)

    @property
    def stage(self) -> str:
        """forward, loss, delta or gradient (the scalar form's kinds are these)."""
        return self.kind

    def latex(self) -> str:
        return f"{self.printer(self.lhs)} = {self.printer(self.rhs)}"


class ScalarForm(Form):
    """A derivation's equations in node symbols: every node's definition, the loss, the δ of
    every node as a recursion over the next δs, and ∂L/∂w = δ · (∂node/∂w) for every weight."""

    kind = "scalar"

    def __init__(self, derivation: Derivation) -> None:
        self.derivation = derivation
        self.graph = derivation.graph
        self._equations: list[ScalarEquation] | None = None

    def equations(self) -> list[ScalarEquation]:
        if self._equations is None:
            d, g = self.derivation, self.graph
            t = TexPrinter(d)
            loss = g.loss_symbol
            out = [ScalarEquation("loss" if v == loss else "forward", v.name, v, g.expr(v), t)
                   for v in g.nodes]
            for v in g.nodes:
                if v != loss:
                    delta = d.delta(v)
                    out.append(ScalarEquation("delta", v.name, delta.symbol, delta.recursion, t))
            out += [ScalarEquation("gradient", p.name, sp.Derivative(loss, p),
                                   d.gradient(p, form="delta"), t) for p in g.parameters]
            self._equations = out
        return list(self._equations)

    def equation(self, kind: str, key: str) -> ScalarEquation:
        for eq in self.equations():
            if eq.kind == kind and eq.name == str(key):
                return eq
        raise KeyError(f"no {kind} equation for {key!r} in {self.graph.title}")

    def latex(self) -> list[str]:
        return [eq.latex() for eq in self.equations()]

    def check(self, sizes=None, *, seed: int = 0) -> GradientCheck:
        """Every gradient against central finite differences at random values (``seed``); a
        CheckError names the first that disagrees. The sizes are the graph's own."""
        _no_sizes(sizes)
        report = check_gradients(self.derivation, self.random_values(seed))
        wrong = [r for r in report.rows if not r.ok]
        if wrong:
            raise CheckError(f"{self.graph.title}: ∂L/∂{wrong[0].name}: the engine gives "
                             f"{wrong[0].engine}, finite differences {wrong[0].finite_difference}")
        return report

    def scalar_model(self, sizes=None) -> Graph:
        _no_sizes(sizes)
        return self.graph

    def random_values(self, seed: int = 0) -> dict[str, float]:
        """Every leaf at a random value in (−0.9, 0.9); one-hot targets one-hot."""
        rng = np.random.default_rng(seed)
        values = {s.name: float(rng.uniform(-0.9, 0.9)) for s in self.graph.leaves}
        for group in self.graph.one_hot_groups:
            hot = int(rng.integers(len(group)))
            values.update({s.name: float(n == hot) for n, s in enumerate(group)})
        return values

    def evaluator(self, sizes: Mapping[str, int] | None = None, backend: str = "numpy"):
        """The derivation's compiled numpy evaluator (the matrix and general forms run on
        torch and jax)."""
        _no_sizes(sizes)
        if backend != "numpy":
            raise ValueError(f"the scalar form's evaluator is numpy code, not {backend}; "
                             "the matrix and general forms' evaluators run on torch and jax")
        return self.derivation.evaluator

    def __repr__(self) -> str:
        return f"<ScalarForm of {self.graph.title}: {len(self.graph.parameters)} parameters>"


def _no_sizes(sizes) -> None:
    if sizes is not None:
        raise ValueError("a scalar form's sizes are its graph's: pass sizes=None")


def scalar_form(network: Graph | Derivation) -> ScalarForm:
    """The scalar form of a graph (derived here) or of a derivation.

    >>> import symbackprop as sb
    >>> scalar_form(sb.mlp([1, 1])).kind
    'scalar'
    """
    return ScalarForm(network if isinstance(network, Derivation) else derive(network))

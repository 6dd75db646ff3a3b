"""The Form protocol: one network's gradients written one way, scalar, matrix or general.

A form is built once and exposes its derived equations, like the methods of SymPy's
physics.mechanics: every form answers the same five questions.

- ``equations()``: every equation, forward pass first, each with ``kind`` (the form's own word:
  the matrix form says ``weight`` and ``bias``), ``stage`` (one of :data:`STAGES`), ``name``,
  ``lhs``, ``rhs`` and ``latex()``;
- ``equation(kind, key)``: one of them (the matrix form's key is a layer, the others' a name);
- ``latex()``: every equation as a line of LaTeX, checked first;
- ``check(sizes=None, *, seed=0)``: a :class:`~symbackprop.check.report.CheckReport`, or a
  :class:`~symbackprop.core.errors.CheckError` naming the first equation that disagrees;
- ``evaluator(sizes=None, backend=...)``: compiled code whose ``evaluate(values)`` gives the
  loss and every gradient by parameter name, at values named as ``scalar_model`` names them
  (a matrix form built from sizes alone has no names: build it from its network);
- ``scalar_model(sizes=None)``: the scalar network (a Graph) the equations describe at
  ``sizes``, whose leaves name the values.

Documents, exporters and tests that work on "a form" take a :class:`Form` and ask it these.

>>> import symbackprop as sb
>>> forms = [sb.scalar_form(sb.mlp([2, 1])), sb.matrix_form([2, 1]),
...          sb.general_form(sb.rnn(steps=2, inputs=1, hidden=1, outputs=1))]
>>> [f.kind for f in forms], all(isinstance(f, Form) for f in forms)
(['scalar', 'matrix', 'general'], True)
>>> sorted({eq.stage for eq in forms[0].equations()})
['delta', 'forward', 'gradient', 'loss']
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar

from ..printing.display import form_latex

__all__ = ["Form", "STAGES", "Equations"]

#: What an equation does in backpropagation, in the order the equations are listed.
STAGES = ("forward", "loss", "delta", "gradient")


class Equations(list):
    """A list of equations that may also be called, ``form.equations()``, as the protocol
    asks; the matrix form's ``equations`` was an attribute long before the protocol."""

    def __call__(self) -> Equations:
        return self


class Form(ABC):
    """One way of writing a network's gradients (see the module's docstring)."""

    #: "scalar", "matrix" or "general"
    kind: ClassVar[str]

    @abstractmethod
    def equations(self) -> list:
        """Every equation: forward pass, loss, δs, gradients."""

    @abstractmethod
    def equation(self, kind: str, key):
        """The equation of ``kind`` for ``key`` (a layer or a name)."""

    @abstractmethod
    def latex(self) -> list[str]:
        """Every equation as a line of LaTeX, checked first."""

    def _repr_latex_(self) -> str:
        """Jupyter shows every equation, one aligned line each, as the documents print it."""
        return form_latex(self)

    @abstractmethod
    def check(self, sizes=None, *, seed: int = 0):
        """Every equation compared with an independent computation: a CheckReport."""

    @abstractmethod
    def scalar_model(self, sizes=None):
        """The scalar network (a Graph) these equations describe at ``sizes``."""

    @abstractmethod
    def evaluator(self, sizes: Mapping[str, int] | None = None, backend: str = "numpy"):
        """Compiled code of the loss and gradients; ``evaluate(values)`` gives both."""

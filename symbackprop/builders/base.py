"""What every model builder shares: a Graph whose symbols carry textbook spellings and named δs.

Keys (the names used in value mappings and specs) are plain ASCII such as ``h_2,1``; their LaTeX
spellings are what a textbook prints, ``h_{2,1}``. A builder names the nodes whose δ the
textbook names (∂L/∂h_t for an RNN, ∂L/∂z_i for a convolution) and how that δ is spelled.

>>> m = Model("demo")
>>> x = m.add(m.input, "x_1", "x_{1}")
>>> m.latex_name(x)
'x_{1}'
>>> index(1, 2), index(1, 12), index()
('12', '1,12', '')
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from ..core import ops
from ..core.graph import Graph, GraphError

__all__ = ["Model", "index", "sub", "positive", "choice", "check_loss"]


def index(*ix: int) -> str:
    """Indices run together as textbooks write them (w_12), with commas once one reaches 10."""
    return ("".join if all(i < 10 for i in ix) else ",".join)(str(i) for i in ix)


def sub(stem: str, *ix: int, sep: bool = False) -> tuple[str, str]:
    """(key, LaTeX) of ``stem`` with subscripts; ``sep`` always puts a comma (h_{t,j}).

    >>> sub("h", 3, 2, sep=True)
    ('h_3,2', 'h_{3,2}')
    """
    if not ix:
        return stem, stem
    text = ",".join(str(i) for i in ix) if sep else index(*ix)
    return f"{stem}_{text}", f"{stem}_{{{text}}}"


def plural(count: int, noun: str) -> str:
    """``count noun`` with the noun agreeing (the English titles and messages of the engine).

    >>> plural(1, "input"), plural(4, "step"), plural(2, "hidden unit")
    ('1 input', '4 steps', '2 hidden units')
    """
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def positive(value, what: str, limit: int = 4096) -> int:
    """``value`` as a positive integer, else a GraphError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise GraphError(f"{what} must be a positive integer, got {value!r}")
    if value > limit:
        raise GraphError(f"{what} is {value}; the limit is {limit}")
    return value


def choice(value, what: str, allowed) -> str:
    if value not in allowed:
        raise GraphError(f"unknown {what} {value!r}; expected one of: {', '.join(allowed)}")
    return value


def check_loss(loss, output_activation: str | None, allowed=None, what: str = "loss") -> str:
    """``loss`` if it is one of ``allowed`` (every loss by default) and can follow an output
    layer of ``output_activation`` (None: the model's outputs end in no activation); else a
    GraphError. Every builder asks here, so a bce over relu outputs is refused for every kind.

    >>> check_loss("bce", "identity")
    Traceback (most recent call last):
    ...
    symbackprop.core.errors.GraphError: loss 'bce' needs outputs in (0, 1): a sigmoid or softmax output layer
    """  # noqa: E501
    choice(loss, what, tuple(allowed or ops.LOSSES))
    problem = ops.LOSSES[loss].output_problem(output_activation)
    if problem:
        raise GraphError(problem)
    return loss


class Model(Graph):
    """A Graph built by a model builder: textbook LaTeX names and the δs the textbook names."""

    #: What the documents title the model when the user gave no title: a ``heading_<kind>``
    #: macro of templates/_prose.j2 and its numbers, so the title is translated and pluralised.
    heading: tuple[str, dict] | None = None

    def __init__(self, title: str) -> None:
        super().__init__(title=title)
        self._named_deltas: dict[sp.Symbol, tuple[str, str | None]] = {}

    def add(self, kind: Callable, key: str, latex: str, expr=None) -> sp.Symbol:
        """Declare ``key`` with ``kind`` (self.input, self.node, …) and its LaTeX spelling."""
        if expr is None:
            return kind(key, latex=latex)
        return kind(key, expr, latex=latex)

    def name_delta(self, node: sp.Symbol, key: str, latex: str | None = None) -> None:
        """Name δ of ``node`` (∂L/∂node) in the notation; None spells it δ_{node}."""
        self._named_deltas[node] = (key, latex)

    @property
    def delta_nodes(self) -> list[sp.Symbol]:
        return list(self._named_deltas) or super().delta_nodes

    def delta_latex(self, node: sp.Symbol) -> str | None:
        return self._named_deltas.get(node, (None, None))[1]

    def delta_key(self, node: sp.Symbol) -> str | None:
        return self._named_deltas.get(node, (None, None))[0]

"""Notations: how a network's roles are spelled, as keys (plain strings) and as LaTeX.

A notation is data, not code: for each role a key pattern and a LaTeX pattern, written as
``str.format`` templates over a fixed set of index fields:

=====  ==========================================================================
field  meaning
=====  ==========================================================================
i      source unit (1-based) of a weight; the unit of an input
j      unit (1-based) within its layer; the destination unit of a weight
ij     ``i`` and ``j`` run together ("12"), or with a comma when one is ≥ 10
ji     ``j`` and ``i`` run together
l      layer (0 = inputs, 1 = first hidden layer, …, L = output layer)
lp1    l + 1
lm1    l − 1
n      running number of this role through the whole net (seed 000's w1…w6, z1…z3)
=====  ==========================================================================

>>> SEQUENTIAL.key("weight", i=1, j=2, l=1, n=2)
'w2'
>>> LAYERED.latex("weight", i=1, j=2, l=1, n=2)
'w_{12}^{(1)}'
"""

from __future__ import annotations

import functools
import string
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..printing.display import notation_markdown

__all__ = ["Notation", "NOTATIONS", "SEQUENTIAL", "LAYERED", "INDEXED", "MATRIX", "notation"]

ROLES = (
    "input",
    "pre",
    "act",
    "output",
    "output_single",
    "target",
    "target_single",
    "weight",
    "bias",
    "layer_bias",
    "loss",
    "delta",
)
FIELDS = frozenset({"i", "j", "ij", "ji", "l", "lp1", "lm1", "n"})


def _check_pattern(role: str, pattern: str) -> None:
    # Only plain field names: "{i}" is fine, "{i.__class__}" or "{0[1]}" is refused, so a
    # user-supplied notation can never reach attributes through str.format.
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as err:
        raise ValueError(f"notation pattern for {role!r} is malformed: {err}") from None
    for _text, name, spec, conv in parsed:
        if name is None:
            continue
        if name not in FIELDS or spec or conv:
            allowed = ", ".join(sorted(FIELDS))
            raise ValueError(
                f"notation pattern for {role!r} uses {{{name}}}; allowed fields: {allowed}"
            )


def _pair(a: int, b: int) -> str:
    return f"{a}{b}" if max(a, b) < 10 else f"{a},{b}"


@functools.lru_cache(maxsize=256)
def _fields_used(pattern: str) -> tuple[str, ...]:
    return tuple({name for _text, name, _spec, _conv in string.Formatter().parse(pattern)
                  if name is not None})


def _spell(pattern: str, index: Mapping[str, int]) -> str:
    # Only the fields the pattern uses are computed: a net's every weight is spelled, and
    # "w{n}" needs neither pair (ij, ji) of the eight.
    if not _INDICES.issuperset(index):
        unknown = ", ".join(sorted(set(index) - _INDICES))
        raise TypeError(f"unknown index {unknown}; a notation is indexed by i, j, l and n")
    used = _fields_used(pattern)
    if _INDICES.issuperset(used):
        return pattern.format(**{name: index.get(name, 0) for name in used})
    i, j, l, n = (index.get(name, 0) for name in "ijln")  # noqa: E741
    return pattern.format(i=i, j=j, l=l, n=n, ij=_pair(i, j), ji=_pair(j, i), lp1=l + 1,
                          lm1=l - 1)


_INDICES = frozenset("ijln")


@dataclass(frozen=True)
class Notation:
    """Key and LaTeX patterns for every role of an MLP.

    >>> SEQUENTIAL.key("pre", j=1, l=2, n=3), SEQUENTIAL.latex("output_single")
    ('z3', '\\\\hat{y}')
    """

    name: str
    keys: Mapping[str, str]
    latexes: Mapping[str, str]
    description: str = ""
    symbols: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for table in (self.keys, self.latexes):
            missing = [r for r in ROLES if r not in table]
            if missing:
                raise ValueError(f"notation {self.name!r} lacks roles: {', '.join(missing)}")
            for role, pattern in table.items():
                if role not in ROLES:
                    raise ValueError(f"notation {self.name!r} has unknown role {role!r}")
                if not isinstance(pattern, str):
                    raise ValueError(f"notation {self.name!r}: pattern for {role!r} is not text")
                _check_pattern(role, pattern)

    def latex_general(self, role: str, i: str = "i", j: str = "j", l: str = "l") -> str:  # noqa: E741
        """The LaTeX spelling with letters for indices, for general formulas (δ_j^(l) = …).

        >>> LAYERED.latex_general("weight", l="k")
        'w_{ij}^{(k)}'
        """
        fields = {
            "i": i, "j": j, "ij": i + j, "ji": j + i, "l": l, "n": j,
            "lp1": f"{l}+1", "lm1": f"{l}-1",
        }
        return self.latexes[role].format(**fields)

    def key(self, role: str, **index: int) -> str:
        """The key (plain name) of a role at an index."""
        return _spell(self.keys[role], index)

    def _repr_markdown_(self) -> str:
        """Jupyter shows each role's spelling, with letters for its indices."""
        return notation_markdown(self)

    def latex(self, role: str, **index: int) -> str:
        """The LaTeX spelling of a role at an index."""
        return _spell(self.latexes[role], index)

    @classmethod
    def from_mapping(cls, name: str, data: Mapping[str, object], base: Notation | None = None):
        """A notation from plain data, e.g. a ``[notation]`` table of a spec file.

        ``data`` has optional tables ``keys`` and ``latex`` that override ``base``'s patterns.

        >>> n = Notation.from_mapping("mine", {"latex": {"weight": "v_{{{ij}}}"}}, SEQUENTIAL)
        >>> n.latex("weight", i=1, j=2)
        'v_{12}'
        """
        base = base or SEQUENTIAL
        allowed = {"keys", "latex", "description"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"notation {name!r}: unknown entries {unknown}; expected {allowed}")
        keys = dict(base.keys)
        latexes = dict(base.latexes)
        for target, part in ((keys, "keys"), (latexes, "latex")):
            table = data.get(part, {})
            if not isinstance(table, Mapping):
                raise ValueError(f"notation {name!r}: {part!r} must be a table of role = pattern")
            target.update(table)
        description = data.get("description", base.description)
        if not isinstance(description, str):
            raise ValueError(f"notation {name!r}: description must be text")
        return cls(name, keys, latexes, description)


SEQUENTIAL = Notation(
    "sequential",
    keys={
        "input": "x{i}",
        "pre": "z{n}",
        "act": "h{n}",
        "output": "yhat{j}",
        "output_single": "yhat",
        "target": "y{j}",
        "target_single": "y",
        "weight": "w{n}",
        "bias": "b{n}",
        "layer_bias": "b{l}",
        "loss": "L",
        "delta": "delta_z{n}",
    },
    latexes={
        "input": "x_{{{i}}}",
        "pre": "z_{{{n}}}",
        "act": "h_{{{n}}}",
        "output": r"\hat{{y}}_{{{j}}}",
        "output_single": r"\hat{{y}}",
        "target": "y_{{{j}}}",
        "target_single": "y",
        "weight": "w_{{{n}}}",
        "bias": "b_{{{n}}}",
        "layer_bias": "b_{{{l}}}",
        "loss": "L",
        "delta": r"\delta_{{z_{{{n}}}}}",
    },
    description="seed 000: x1, x2; z1, z2, … and h1, h2, … numbered through the net; "
    "weights w1, w2, … layer by layer, source-major; output ŷ",
)

LAYERED = Notation(
    "layered",
    keys={
        "input": "x_{i}^(0)",
        "pre": "S_{j}^({l})",
        "act": "x_{j}^({l})",
        "output": "yhat_{j}",
        "output_single": "yhat",
        "target": "y_{j}",
        "target_single": "y",
        "weight": "w_{ij}^({l})",
        "bias": "b_{j}^({l})",
        "layer_bias": "b^({l})",
        "loss": "L",
        "delta": "delta_{j}^({l})",
    },
    latexes={
        "input": "x_{{{i}}}^{{(0)}}",
        "pre": "S_{{{j}}}^{{({l})}}",
        "act": "x_{{{j}}}^{{({l})}}",
        "output": r"\hat{{y}}_{{{j}}}",
        "output_single": r"\hat{{y}}",
        "target": "y_{{{j}}}",
        "target_single": "y",
        "weight": "w_{{{ij}}}^{{({l})}}",
        "bias": "b_{{{j}}}^{{({l})}}",
        "layer_bias": "b^{{({l})}}",
        "loss": "L",
        "delta": r"\delta_{{{j}}}^{{({l})}}",
    },
    description="seeds 001 and 002: S_j^(k) = Σ_i w_ij^(k) x_i^(k−1) (− b_j^(k)), "
    "x_j^(k) = φ(S_j^(k)), δ_j^(k) = ∂L/∂S_j^(k)",
)

INDEXED = Notation(
    "indexed",
    keys={
        "input": "h_{i}^(1)",
        "pre": "z_{j}^({l})",
        "act": "h_{j}^({lp1})",
        "output": "h_{j}^({lp1})",
        "output_single": "h_1^({lp1})",
        "target": "y_{j}",
        "target_single": "y",
        "weight": "w_{ji}^({l})",
        "bias": "b_{j}^({l})",
        "layer_bias": "b^({l})",
        "loss": "J",
        "delta": "delta_{j}^({l})",
    },
    latexes={
        "input": "h_{{{i}}}^{{(1)}}",
        "pre": "z_{{{j}}}^{{({l})}}",
        "act": "h_{{{j}}}^{{({lp1})}}",
        "output": "h_{{{j}}}^{{({lp1})}}",
        "output_single": "h_{{1}}^{{({lp1})}}",
        "target": "y_{{{j}}}",
        "target_single": "y",
        "weight": "w_{{{ji}}}^{{({l})}}",
        "bias": "b_{{{j}}}^{{({l})}}",
        "layer_bias": "b^{{({l})}}",
        "loss": "J",
        "delta": r"\delta_{{{j}}}^{{({l})}}",
    },
    description="seed 002: h^(1) is the input, z^(l) = W^(l) h^(l) + b^(l), "
    "h^(l+1) = f(z^(l)); w_ij^(l) goes from unit j to unit i; loss J",
)

MATRIX = Notation(
    "matrix",
    keys={
        "input": "x_{i}",
        "pre": "Z^[{l}]_{j}",
        "act": "A^[{l}]_{j}",
        "output": "Yhat_{j}",
        "output_single": "Yhat",
        "target": "Y_{j}",
        "target_single": "Y",
        "weight": "W^[{l}]_{ji}",
        "bias": "b^[{l}]_{j}",
        "layer_bias": "b^[{l}]",
        "loss": "L",
        "delta": "delta^[{l}]_{j}",
    },
    latexes={
        "input": "A^{{[0]}}_{{{i}}}",
        "pre": "Z^{{[{l}]}}_{{{j}}}",
        "act": "A^{{[{l}]}}_{{{j}}}",
        "output": r"\hat{{Y}}_{{{j}}}",
        "output_single": r"\hat{{Y}}",
        "target": "Y_{{{j}}}",
        "target_single": "Y",
        "weight": "W^{{[{l}]}}_{{{ji}}}",
        "bias": "b^{{[{l}]}}_{{{j}}}",
        "layer_bias": "b^{{[{l}]}}",
        "loss": "L",
        "delta": r"\delta^{{[{l}]}}_{{{j}}}",
    },
    description="seed 004: Z^[l] = W^[l] A^[l−1] + b^[l], A^[l] = σ(Z^[l]), "
    "δ^[l] = ∂L/∂Z^[l]; W^[l]_jk goes from unit k to unit j",
)

NOTATIONS: dict[str, Notation] = {
    n.name: n for n in (SEQUENTIAL, LAYERED, INDEXED, MATRIX)
}


def notation(which: str | Notation) -> Notation:
    """A notation by name (or itself).

    >>> notation("layered").name
    'layered'
    """
    if isinstance(which, Notation):
        return which
    try:
        return NOTATIONS[which]
    except (KeyError, TypeError):
        known = ", ".join(NOTATIONS)
        raise ValueError(f"unknown notation {which!r}; expected one of: {known}") from None

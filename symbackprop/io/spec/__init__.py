"""Spec files: a network described as TOML data, and the safe expression reader.

A spec file is data, never code. It is read with the standard library's ``tomllib``; the
expressions of a general graph (``expr = "w*x + b"``) are read by :func:`parse_expression`, a
small hand-written tokenizer and recursive-descent parser that knows numbers, the names the
spec declares, ``+ - * / ^ **``, parentheses and a fixed list of functions. Nothing is ever
passed to ``eval``, ``exec``, ``compile``, ``sympify`` or ``parse_expr``.

Every mistake is a :class:`SpecError` whose message is one line naming the file, the key and
what was expected, e.g. ``seed.toml: network.sizes[1]: expected a positive integer, got 0``.

The modules: reader.py reads the top level and [values], network.py the [network] table (models.py
its kinds other than an MLP), graph.py the [graph] table, through tables.py's typed access;
expr.py is the expression reader, spelling.py checks LaTeX spellings, and errors.py holds the
limits, SpecError and the helpers that word its messages.

>>> spec = parse_spec('''
... title = "tiny"
... [network]
... sizes = [1, 1]
... [values]
... x1 = 0.5
... ''')
>>> spec.title, [p.name for p in spec.graph.parameters], spec.values
('tiny', ['w1'], {'x1': 0.5})
"""


from .errors import (
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_EXPRESSION_CHARS,
    MAX_FILE_BYTES,
    MAX_NAME_CHARS,
    MAX_NUMBER,
    SpecError,
)
from .expr import FUNCTIONS, parse_expression
from .reader import Spec, load_spec, parse_spec
from .spelling import LATEX_COMMANDS, check_latex

__all__ = [
    "Spec",
    "SpecError",
    "load_spec",
    "parse_spec",
    "parse_expression",
    "check_latex",
    "FUNCTIONS",
    "LATEX_COMMANDS",
    "MAX_FILE_BYTES",
    "MAX_EXPRESSION_CHARS",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_NUMBER",
    "MAX_NAME_CHARS",
]

"""Reading a LaTeX document down to the sides of its equations, safely.

The document is refused as a whole when it is too large, nested too deep, or asks TeX to define,
expand or read anything but its own ``\\newcommand`` macros (which latexmacros expands, within
limits); then its math is found (environments, ``\\[…\\]``, ``$$…$$``, inline ``$…$``), each
line of it split into statements, and each statement into the sides of its chain ``a = b ≈ c``.
Reading a side into SymPy is latexparse's job.

>>> [s.text for s in split_chain(r"z_1 = x_1 w_1 = 0.35")]
['z_1', 'x_1 w_1', '0.35']
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import sympy as sp

from ..core.errors import SymbackpropError
from .latexmacros import FORBIDDEN, MacroError, expand_macros

__all__ = ["LatexError", "MathSpan", "Side", "check_document", "find_math", "statements",
           "split_chain", "MAX_DOCUMENT", "MAX_DEPTH", "MAX_EQUATIONS", "DISPLAY_ENVS",
           "RELATIONS", "SEPARATORS"]

MAX_DOCUMENT = 2_000_000
MAX_DEPTH = 60
MAX_EQUATIONS = 5000

DISPLAY_ENVS = ("equation", "equation*", "align", "align*", "gather", "gather*", "multline",
                "multline*", "eqnarray", "eqnarray*", "displaymath", "math", "flalign",
                "flalign*", "alignat", "alignat*")
RELATIONS = {"=": "=", r"\approx": "≈", "≈": "≈", r"\simeq": "≈", ":=": "="}
#: Top-level separators between statements on one line of math.
SEPARATORS = re.compile(r"\\(?:q?quad|text\s*\{[^{}]*\}|mbox\s*\{[^{}]*\}|Rightarrow|implies"
                        r"|iff|therefore|because|\\)(?![A-Za-z])")


class LatexError(SymbackpropError, ValueError):
    """The document cannot be read safely (refused as a whole, in one line)."""


@dataclass(frozen=True)
class MathSpan:
    """A piece of math and the line it starts on."""

    text: str
    line: int
    display: bool


@dataclass
class Side:
    """One side of an equation: its text, its SymPy form, and its written decimals."""

    text: str
    relation: str = "="
    expr: sp.Expr | None = None
    literals: dict[sp.Symbol, Decimal] = field(default_factory=dict)
    free: set[sp.Symbol] = field(default_factory=set)
    problem: tuple[str, str] = ()  # (reason code, what): see templates/lint.txt.j2


# -- the document ---------------------------------------------------------------------------------
def check_document(text: str) -> str:
    """Refuse a document that is too large, too deep, or asks TeX to define or read; return it
    with its own macros (``\\newcommand`` …) expanded, within the limits of latexmacros."""
    if len(text) > MAX_DOCUMENT:
        raise LatexError(f"the document is larger than {MAX_DOCUMENT} characters")
    if "^^" in text:
        raise LatexError("'^^' character codes are not read (they hide commands)")
    if "\0" in text:
        raise LatexError("the document holds a NUL character")
    for m in re.finditer(r"\\([A-Za-z@]+)", text):
        if m.group(1) in FORBIDDEN:
            line = text.count("\n", 0, m.start()) + 1
            raise LatexError(f"line {line}: \\{m.group(1)} is refused: lint reads the "
                             "mathematics and never defines, expands or inputs anything "
                             "but \\newcommand, \\renewcommand and \\DeclareMathOperator")
    _check_depth(text)
    stripped = _strip_comments(text)
    try:
        expanded = expand_macros(stripped)
    except MacroError as err:
        raise LatexError(str(err)) from None
    if expanded is not stripped:
        if len(expanded) > MAX_DOCUMENT:
            raise LatexError(f"the document with its macros expanded is larger than "
                             f"{MAX_DOCUMENT} characters")
        _check_depth(expanded, " once its macros are expanded")
    return expanded


def _check_depth(text: str, after: str = "") -> None:
    depth = deepest = 0
    for ch in text:
        if ch == "{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                raise LatexError(f"braces nested deeper than {MAX_DEPTH}{after}")
        elif ch == "}":
            depth = max(0, depth - 1)


def _strip_comments(text: str) -> str:
    return re.sub(r"(?<!\\)%[^\n]*", "", text)


def find_math(text: str) -> list[MathSpan]:
    """Displayed equations (environments, ``\\[…\\]``, ``$$…$$``) and inline ``$…$`` spans.

    >>> [(m.text, m.line) for m in find_math("a $x = 1$\\n\\\\[ y = 2 \\\\]")]
    [('x = 1', 1), (' y = 2 ', 2)]
    """
    text = _strip_comments(check_document(text))
    if text.count("$") + text.count("\\[") + text.count("\\begin") > 2 * MAX_EQUATIONS:
        raise LatexError(f"more than {MAX_EQUATIONS} pieces of mathematics: split the file")
    envs = "|".join(re.escape(e) for e in DISPLAY_ENVS)
    pattern = re.compile(
        r"\\begin\{(?P<env>" + envs + r")\}(?P<envbody>.*?)\\end\{(?P=env)\}"
        r"|\$\$(?P<dd>.*?)\$\$|\\\[(?P<br>.*?)\\\]|\\\((?P<pa>.*?)\\\)"
        r"|(?<!\\)\$(?P<d>[^$]*?)(?<!\\)\$", re.S)
    spans = []
    for m in pattern.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        if m.group("env"):
            body = m.group("envbody")
            spans.extend(_rows(body, line))
            continue
        body = next(g for g in (m.group("dd"), m.group("br"), m.group("pa"), m.group("d"))
                    if g is not None)
        line += _leading_lines(body)
        body = _TAGS.sub(" ", body)
        spans.append(MathSpan(body, line, m.group("d") is None and m.group("pa") is None))
    return spans


_TAGS = re.compile(r"\\(?:label|tag)\*?\{[^{}]*\}|\\(?:nonumber|notag)(?![A-Za-z])")


def _rows(body: str, line: int) -> Iterator[MathSpan]:
    """The rows of an align-like environment; a row that starts with a relation continues."""
    for row in re.split(r"\\\\(?:\[[^\]]*\])?", body):
        row_line = line + _leading_lines(row)
        line += row.count("\n")
        clean = _TAGS.sub(" ", row)
        clean = clean.replace("&", " ")
        if clean.strip():
            yield MathSpan(clean, row_line, True)


def _leading_lines(text: str) -> int:
    """Newlines before the first visible character (a span's text starts on a later line)."""
    stripped = text.lstrip()
    return text[:len(text) - len(stripped)].count("\n")


# -- statements and sides --------------------------------------------------------------------------
def _depths(text: str) -> list[int]:
    """The brace depth before each character (one pass)."""
    out, depth = [], 0
    for ch in text:
        out.append(depth)
        depth += 1 if ch == "{" else -1 if ch == "}" else 0
    return out


def statements(text: str) -> list[str]:
    """A line of math split at top-level ``\\quad``, ``\\text{…}``, ``\\\\`` and ``\\Rightarrow``."""
    depth = _depths(text)
    parts, last = [], 0
    for m in SEPARATORS.finditer(text):
        if depth[m.start()] == 0:
            parts.append(text[last:m.start()])
            last = m.end()
    parts.append(text[last:])
    return [p for p in parts if p.strip()]


def split_chain(text: str) -> list[Side]:
    """``a = b ≈ c`` into its sides; each side keeps the relation that precedes it."""
    text = text.strip().rstrip(".,;")
    depth = _depths(text)
    sides, last, relation, k = [], 0, "=", 0
    while k < len(text):
        rel = None
        if depth[k] == 0 and text[k] in "=:\\≈":
            rel = next((r for r in RELATIONS if text.startswith(r, k)), None)
            if rel == r"\approx" and text[k + 7:k + 8].isalpha():
                rel = None
        if rel is None:
            k += 1
            continue
        sides.append(Side(text[last:k].strip(), relation))
        relation = RELATIONS[rel]
        k += len(rel)
        last = k
    sides.append(Side(text[last:].strip(), relation))
    if sides[0].text.endswith(":"):
        sides[0].text = sides[0].text[:-1]
    return sides

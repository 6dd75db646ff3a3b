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
    steps: int = 0  # tokens the reader visited (a sum's body once per term): its work


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


def find_math(text: str, work: list[int] | None = None) -> list[MathSpan]:
    """Displayed equations (environments, ``\\[…\\]``, ``$$…$$``) and inline ``$…$`` spans.

    One pass: each delimiter's closing is looked for once from where the last search for it
    ended, so an unclosed ``\\(`` or ``\\begin{equation}`` costs nothing more than the text after
    it, once. ``work``, when given, is added the characters scanned (for the tests).

    >>> [(m.text, m.line) for m in find_math("a $x = 1$\\n\\\\[ y = 2 \\\\]")]
    [('x = 1', 1), (' y = 2 ', 2)]
    """
    text = _strip_comments(check_document(text))
    if text.count("$") + text.count("\\[") + text.count("\\(") + text.count("\\begin") > \
            2 * MAX_EQUATIONS:
        raise LatexError(f"more than {MAX_EQUATIONS} pieces of mathematics: split the file")
    spans: list[MathSpan] = []
    found = _Closings(text)
    lines = _Lines(text)
    for start, _end, body, kind in _math_pieces(text, found):
        line = lines.at(start)
        if kind == "env":
            spans.extend(_rows(body, line))
        else:
            line += _leading_lines(body)
            spans.append(MathSpan(_TAGS.sub(" ", body), line, kind == "display"))
        if len(spans) > MAX_EQUATIONS:  # rows of an align count as equations
            raise LatexError(f"more than {MAX_EQUATIONS} pieces of mathematics: split the file")
    if work is not None:
        work[0] += len(text) + found.scanned
    return spans


_OPENERS = re.compile(r"\\begin\{|\$|\\\[|\\\(")
_ENV = re.compile(r"\\begin\{(" + "|".join(re.escape(e) for e in DISPLAY_ENVS) + r")\}")


def _math_pieces(text: str, found: _Closings) -> Iterator[tuple[int, int, str, str]]:
    """(start, end, body, kind) of each piece of math, in order: what the regular expression
    ``\\begin{env}.*?\\end{env} | $$.*?$$ | \\[.*?\\] | \\(.*?\\) | $[^$]*?$`` finds, without
    its rescans."""
    k = 0
    while True:
        m = _OPENERS.search(text, k)
        if m is None:
            return
        i = m.start()
        piece = _piece_at(text, i, found)
        if piece is None:
            k = i + 1
            continue
        yield piece
        k = piece[1]


def _piece_at(text: str, i: int, found: _Closings) -> tuple[int, int, str, str] | None:
    if text.startswith("\\begin{", i):
        env = _ENV.match(text, i)
        if env is None:
            return None
        close = found.find(f"\\end{{{env.group(1)}}}", env.end())
        if close < 0:
            return None
        return i, close + len(env.group(1)) + 6, text[env.end():close], "env"
    if text.startswith("\\[", i) or text.startswith("\\(", i):
        closing = "\\]" if text[i + 1] == "[" else "\\)"
        close = found.find(closing, i + 2)
        if close < 0:
            return None
        return i, close + 2, text[i + 2:close], "display" if closing == "\\]" else "inline"
    if text.startswith("$$", i):
        close = found.find("$$", i + 2)
        if close >= 0:
            return i, close + 2, text[i + 2:close], "display"
    if i > 0 and text[i - 1] == "\\":  # \$ is a dollar sign
        return None
    close = found.find("$", i + 1)
    if close < 0 or text[close - 1] == "\\" and close - 1 > i:
        return None  # inline math holds no $, escaped or not
    return i, close + 1, text[i + 1:close], "inline"


class _Closings:
    """``text.find(closing, start)`` for starts that only grow, each stretch scanned once."""

    def __init__(self, text: str):
        self.text, self.last, self.scanned = text, {}, 0

    def find(self, closing: str, start: int) -> int:
        searched_from, at = self.last.get(closing, (None, None))
        if searched_from is not None and searched_from <= start and (at < 0 or at >= start):
            return at
        at = self.text.find(closing, start)
        self.scanned += (at if at >= 0 else len(self.text)) - start
        self.last[closing] = (start, at)
        return at


class _Lines:
    """The line of a position, counted on from the last position asked (positions grow)."""

    def __init__(self, text: str):
        self.text, self.pos, self.line = text, 0, 1

    def at(self, pos: int) -> int:
        self.line += self.text.count("\n", self.pos, pos)
        self.pos = pos
        return self.line


_TAGS = re.compile(r"\\(?:label|tag)\*?\{[^{}]*\}|\\(?:nonumber|notag)(?![A-Za-z])")


def _rows(body: str, line: int) -> Iterator[MathSpan]:
    """The rows of an align-like environment; a row that starts with a relation continues."""
    for row in _ROW_BREAK.split(body):
        row_line = line + _leading_lines(row)
        line += row.count("\n")
        clean = _TAGS.sub(" ", row)
        clean = clean.replace("&", " ")
        if clean.strip():
            yield MathSpan(clean, row_line, True)


# A row break with its optional spacing ``\\[2pt]``: the spacing is short, so that an unclosed
# ``[`` is not looked for to the end of the body at every row.
_ROW_BREAK = re.compile(r"\\\\(?:\[[^\]\n]{0,40}\])?")


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

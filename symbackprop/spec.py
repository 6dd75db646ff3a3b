"""Spec files: a network described as TOML data, and the safe expression reader.

A spec file is data, never code. It is read with the standard library's ``tomllib``; the
expressions of a general graph (``expr = "w*x + b"``) are read by :func:`parse_expression`, a
small hand-written tokenizer and recursive-descent parser that knows numbers, the names the
spec declares, ``+ - * / ^ **``, parentheses and a fixed list of functions. Nothing is ever
passed to ``eval``, ``exec``, ``compile``, ``sympify`` or ``parse_expr``.

Every mistake is a :class:`SpecError` whose message is one line naming the file, the key and
what was expected, e.g. ``seed.toml: network.sizes[1]: expected a positive integer, got 0``.

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

from __future__ import annotations

import difflib
import heapq
import json
import keyword
import math
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, NamedTuple

import sympy as sp

from . import functions
from .graph import Graph, GraphError
from .mlp import MLP, mlp
from .notation import NOTATIONS, ROLES, Notation

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

# -- limits ---------------------------------------------------------------------------------------
#: Spec files (and texts) larger than this are refused before they are parsed.
MAX_FILE_BYTES = 1_000_000
#: Longest expression text, in characters.
MAX_EXPRESSION_CHARS = 2000
#: Deepest nesting of parentheses, calls, signs and exponents in an expression.
MAX_DEPTH = 50
#: Largest magnitude of the exponent written after ``^`` or ``**``.
MAX_EXPONENT = 16
#: A power of a power may combine its exponents (``(x^16)^16`` is ``x^256``) up to this much.
MAX_COMBINED_EXPONENT = 256
#: Largest magnitude of a number written in an expression; non-zero numbers are at least
#: MIN_NUMBER in magnitude.
MAX_NUMBER = 10**12
MIN_NUMBER = Decimal("1e-30")
#: Longest name (the same limit as Graph's names).
MAX_NAME_CHARS = 64
MAX_LATEX_CHARS = 200
MAX_TEXT_CHARS = 500
MAX_NAMES = 10_000
MAX_LAYERS = 100
MAX_WIDTH = 10_000
MAX_WEIGHTS = 100_000
# A constant computed by a power (2^16, (1/3)^5, ...) must fit in this many bits.
_MAX_CONSTANT_BITS = 1024


class SpecError(ValueError):
    """A spec (or an expression) is malformed; the message is one line: file: key: reason.

    >>> str(SpecError("expected a positive integer, got 0", "seed.toml", "network.sizes[1]"))
    'seed.toml: network.sizes[1]: expected a positive integer, got 0'
    """

    def __init__(self, reason: str, source: str | None = None, key: str | None = None) -> None:
        self.reason = _one_line(reason)
        self.source = source
        self.key = key
        parts = [_one_line(source, 200) if source else "", _one_line(key, 80) if key else ""]
        super().__init__(": ".join([*(p for p in parts if p), self.reason]))


def _one_line(text: str, limit: int | None = None) -> str:
    """One printable line: a key may be the user's text (a newline, a NUL, 100 000 characters),
    so control characters are written as escapes and a long text is cut."""
    line = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in " ".join(str(text).split()))
    return line if limit is None or len(line) <= limit else line[: limit - 1] + "…"


# -- showing user data in messages ----------------------------------------------------------------
def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show(value: Any) -> str:
    """A short, one-line, TOML-like rendering of a value for an error message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(_clip(value), ensure_ascii=True)
    if isinstance(value, int | float):
        return _clip(repr(value))
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return _clip(str(value))


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime | date | time):
        return "a date/time"
    return type(value).__name__


def _got(value: Any) -> str:
    if isinstance(value, dict | list | datetime | date | time):
        return _type_name(value)
    return f"{_type_name(value)} {_show(value)}" if isinstance(value, str) else _show(value)


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(parent: str, child: str | int) -> str:
    if isinstance(child, int):
        return f"{parent}[{child}]"
    part = child if _BARE_KEY.match(child) else json.dumps(_clip(child), ensure_ascii=True)
    return f"{parent}.{part}" if parent else part


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1) if len(word) < 100 else []
    return f" (did you mean {close[0]!r}?)" if close else ""


def _listing(items, limit: int = 12) -> str:
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (f", … ({len(items)} in all)" if len(items) > limit else "")


# -- the safe expression reader -------------------------------------------------------------------
def _leaky_relu(x: sp.Expr, slope: sp.Expr | None = None) -> sp.Expr:
    return functions.leaky_relu(x) if slope is None else functions.leaky_relu(x, slope)


#: The functions an expression may call: name -> (function, least and most arguments).
FUNCTIONS: dict[str, tuple[Callable[..., sp.Expr], int, int]] = {
    "sigmoid": (functions.sigmoid, 1, 1),
    "tanh": (sp.tanh, 1, 1),
    "relu": (functions.relu, 1, 1),
    "leaky_relu": (_leaky_relu, 1, 2),
    "softplus": (functions.softplus, 1, 1),
    "exp": (sp.exp, 1, 1),
    "log": (sp.log, 1, 1),
    "sqrt": (sp.sqrt, 1, 1),
    "abs": (sp.Abs, 1, 1),
}

_SOFTMAX_WHY = (
    "softmax is not allowed in a graph expression: it is a function of a whole layer whose "
    "first argument is an index, not a value; use a [network] with activation = \"softmax\", "
    "or write it out, e.g. exp(z1) / (exp(z1) + exp(z2))"
)

_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

_PUNCTUATION = {
    "'": "strings are not allowed",
    '"': "strings are not allowed",
    "`": "strings are not allowed",
    "[": "brackets are not allowed (no lists, indexing or comprehensions)",
    "]": "brackets are not allowed (no lists, indexing or comprehensions)",
    "{": "braces are not allowed (no sets or dicts)",
    "}": "braces are not allowed (no sets or dicts)",
    "=": "'=' is not allowed: write only the right-hand side (no assignment or comparison)",
    ";": "';' is not allowed: write one expression only",
    ":": "':' is not allowed (no lambdas, slices or annotations)",
    "\\": "a backslash is not allowed: LaTeX spellings belong in latex = { ... }",
    ".": "'.' is not allowed here (no attribute access)",
    "#": "'#' is not allowed (no comments inside an expression)",
}
_UNICODE_HINTS = {
    "\u2212": "-", "\u2013": "-", "\u00b7": "*", "\u22c5": "*", "\u00d7": "*", "\u2217": "*",
    "\u00f7": "/", "\u00b2": "^2", "\u00b3": "^3", "\u03c3": "sigmoid(...)", "\u221a": "sqrt(...)",
}


class _Fail(Exception):
    def __init__(self, column: int, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


class _Token(NamedTuple):
    kind: str  # "num", "name", "op", "(", ")", ",", "end"
    text: str
    column: int  # 1-based
    value: sp.Expr | None = None


def _number(text: str, column: int) -> sp.Expr:
    # The token matched _NUMBER, so this is a plain finite decimal. Only context-free Decimal
    # operations are used: "1e999999999" must neither overflow nor be expanded.
    d = Decimal(text)
    if d and d.adjusted() > 12 or d.copy_abs() > MAX_NUMBER:
        raise _Fail(column, f"the number {_clip(text, 24)} is larger than 1e12 in magnitude")
    if d and (d.adjusted() < -31 or d.copy_abs() < MIN_NUMBER):
        raise _Fail(column, f"the number {_clip(text, 24)} is smaller than 1e-30 in magnitude")
    num, den = d.as_integer_ratio()
    return sp.Rational(num, den)  # exact: 0.5 is 1/2


def _tokens(text: str) -> Iterator[_Token]:
    """The tokens of ``text``, made one at a time so that errors come in reading order."""
    i, n = 0, len(text)
    while i < n:
        c, col = text[i], i + 1
        if c in " \t\r\n":
            i += 1
            continue
        if c == "\0":
            raise _Fail(col, "NUL byte")
        if ord(c) < 32 or ord(c) == 127:
            raise _Fail(col, f"control character U+{ord(c):04X}")
        if ord(c) > 127:
            hint = _UNICODE_HINTS.get(c)
            advice = f"; write {hint}" if hint else "; expressions are plain ASCII"
            raise _Fail(col, f"non-ASCII character {c!r} (U+{ord(c):04X}){advice}")
        if c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            m = _NUMBER.match(text, i)
            end = m.end()
            if end < n and (text[end].isalnum() or text[end] in "_."):
                bad = _clip(text[i : end + 1], 24)
                if text[end] == ".":
                    raise _Fail(col, f"malformed number {bad!r}")
                raise _Fail(col, f"{bad!r}: a number cannot run into a name; write * between them")
            yield _Token("num", m.group(), col, _number(m.group(), col))
            i = end
            continue
        if c.isalpha() or c == "_":
            m = _WORD.match(text, i)
            word = m.group()
            if len(word) > MAX_NAME_CHARS:
                raise _Fail(
                    col, f"name {_clip(word, 24)!r} is {len(word)} characters long; "
                    f"the limit is {MAX_NAME_CHARS}"
                )
            if word.startswith("_"):
                raise _Fail(col, f"name {word!r} is not allowed: names start with a letter")
            if keyword.iskeyword(word):
                raise _Fail(col, f"Python keyword {word!r} is not part of the expression language")
            if m.end() < n and text[m.end()] == ".":
                raise _Fail(m.end() + 1, f"'{word}.': attribute access is not allowed")
            yield _Token("name", word, col)
            i = m.end()
            continue
        if text.startswith("**", i):
            yield _Token("op", "^", col)
            i += 2
            continue
        if c in "+-*/^":
            yield _Token("op", c, col)
        elif c in "(),":
            yield _Token(c, c, col)
        elif c in _PUNCTUATION:
            raise _Fail(col, _PUNCTUATION[c])
        else:
            raise _Fail(col, f"character {c!r} is not allowed")
        i += 1
    yield _Token("end", "", n + 1)


def _bits(r: sp.Rational) -> int:
    return max(abs(int(r.p)).bit_length(), int(r.q).bit_length())


class _Parser:
    """Recursive descent over the token list; precedence from loose to tight:

    sum := term (('+' | '-') term)* ; term := unary (('*' | '/') unary)* ;
    unary := ('+' | '-') unary | power ; power := atom ('^' unary)? ; atom := number | name |
    function '(' sum (',' sum)* ')' | '(' sum ')'.  So -x^2 is -(x^2) and a^b^c is a^(b^c).
    """

    def __init__(self, text: str, names: Mapping[str, sp.Expr]) -> None:
        self.stream = _tokens(text)
        self.tok = next(self.stream)  # one token of lookahead
        self.names = names
        self.depth = 0

    def advance(self) -> _Token:
        tok = self.tok
        if tok.kind != "end":
            self.tok = next(self.stream)
        return tok

    def enter(self, column: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Fail(column, f"nesting is deeper than {MAX_DEPTH}")

    def parse(self) -> sp.Expr:
        if self.tok.kind == "end":
            raise _Fail(0, "the expression is empty")
        expr = self.sum()
        tok = self.tok
        if tok.kind != "end":
            raise _Fail(tok.column, f"unexpected {self.describe(tok)}: {self.after_operand(tok)}")
        return expr

    @staticmethod
    def describe(tok: _Token) -> str:
        if tok.kind == "end":
            return "end of the expression"
        if tok.kind == "name":
            return f"name {tok.text!r}"
        if tok.kind == "num":
            return f"number {_clip(tok.text, 24)}"
        return f"{tok.text!r}"

    @staticmethod
    def after_operand(tok: _Token) -> str:
        if tok.kind == ",":
            return "a comma is only allowed between the arguments of a function call"
        if tok.kind == "(":
            return "only the listed functions can be called; write * to multiply"
        if tok.kind == ")":
            return "no '(' is open here"
        return "expected an operator (+ - * / ^) or the end"

    def sum(self) -> sp.Expr:
        terms = [self.term()]
        while self.tok.kind == "op" and self.tok.text in "+-":
            op = self.advance()
            right = self.term()
            terms.append(right if op.text == "+" else -right)
        return sp.Add(*terms) if len(terms) > 1 else terms[0]

    def term(self) -> sp.Expr:
        factors = [self.unary()]
        while self.tok.kind == "op" and self.tok.text in "*/":
            op = self.advance()
            right = self.unary()
            if op.text == "/":
                if right == 0:
                    raise _Fail(op.column, "division by zero")
                right = sp.Pow(right, -1)
            factors.append(right)
        return sp.Mul(*factors) if len(factors) > 1 else factors[0]

    def unary(self) -> sp.Expr:
        tok = self.tok
        if tok.kind == "op" and tok.text in "+-":
            self.advance()
            self.enter(tok.column)
            operand = self.unary()
            self.depth -= 1
            return -operand if tok.text == "-" else operand
        return self.power()

    def power(self) -> sp.Expr:
        base = self.atom()
        if self.tok.kind == "op" and self.tok.text == "^":
            op = self.advance()
            self.enter(op.column)
            exponent = self.unary()
            self.depth -= 1
            return _power(base, exponent, op.column)
        return base

    def atom(self) -> sp.Expr:
        tok = self.advance()
        if tok.kind == "num":
            return tok.value
        if tok.kind == "name":
            if self.tok.kind == "(":
                return self.call(tok)
            if tok.text in self.names:
                value = self.names[tok.text]
                if not isinstance(value, sp.Expr):  # never hand text to SymPy (it would parse it)
                    raise TypeError(f"names[{tok.text!r}] must be a SymPy expression, got "
                                    f"{type(value).__name__}")
                return value
            if tok.text in FUNCTIONS:
                raise _Fail(tok.column, f"function {tok.text!r} needs its argument: {tok.text}(...)")
            if tok.text == "softmax":
                raise _Fail(tok.column, _SOFTMAX_WHY)
            raise _Fail(tok.column, f"undeclared name {tok.text!r}{_suggest(tok.text, self.names)}")
        if tok.kind == "(":
            self.enter(tok.column)
            if self.tok.kind == ")":
                raise _Fail(tok.column, "empty parentheses")
            inner = self.sum()
            self.close(tok)
            self.depth -= 1
            return inner
        if tok.kind == "end":
            raise _Fail(tok.column, "unexpected end of the expression: expected a number, a name "
                        "or '('")
        if tok.kind == ",":
            raise _Fail(tok.column, "a comma is only allowed between the arguments of a function"
                        " call")
        raise _Fail(tok.column, f"unexpected {self.describe(tok)}: expected a number, a name or "
                    "'('")

    def close(self, opening: _Token) -> None:
        tok = self.advance()
        if tok.kind != ")":
            if tok.kind == ",":
                raise _Fail(tok.column, "a comma is only allowed between the arguments of a "
                            "function call")
            if tok.kind == "end":
                raise _Fail(opening.column, "this '(' is never closed")
            raise _Fail(tok.column, f"unexpected {self.describe(tok)}: expected ')' (the '(' is"
                        f" at column {opening.column})")

    def call(self, name: _Token) -> sp.Expr:
        if name.text == "softmax":
            raise _Fail(name.column, _SOFTMAX_WHY)
        if name.text not in FUNCTIONS:
            allowed = ", ".join(FUNCTIONS)
            raise _Fail(
                name.column,
                f"unknown function {name.text!r}{_suggest(name.text, FUNCTIONS)}; "
                f"allowed: {allowed}",
            )
        f, least, most = FUNCTIONS[name.text]
        opening = self.advance()
        self.enter(opening.column)
        args: list[sp.Expr] = []
        if self.tok.kind != ")":
            args.append(self.sum())
            while self.tok.kind == ",":
                self.advance()
                args.append(self.sum())
        self.close(opening)
        self.depth -= 1
        if not least <= len(args) <= most:
            want = str(least) if least == most else f"{least} or {most}"
            raise _Fail(
                name.column, f"{name.text}() takes {want} argument{'s' if most > 1 else ''}, "
                f"got {len(args)}"
            )
        return f(*args)


def _power(base: sp.Expr, exponent: sp.Expr, column: int) -> sp.Expr:
    if not isinstance(exponent, sp.Rational):
        what = "an expression in " + ", ".join(sorted(s.name for s in exponent.free_symbols)) \
            if exponent.free_symbols else _clip(sp.sstr(exponent), 24)
        raise _Fail(column, f"the exponent must be a plain number of magnitude at most "
                    f"{MAX_EXPONENT}, got {what}")
    if abs(exponent) > MAX_EXPONENT:
        raise _Fail(column, f"the exponent {_clip(sp.sstr(exponent), 24)} is larger than "
                    f"{MAX_EXPONENT} in magnitude")
    if isinstance(base, sp.Rational):
        if base == 0 and exponent < 0:
            raise _Fail(column, "division by zero (0 to a negative power)")
        if base != 0 and abs(int(exponent.p)) * _bits(base) > _MAX_CONSTANT_BITS * int(exponent.q):
            raise _Fail(column, "the power is a constant too large to compute")
    result = sp.Pow(base, exponent)
    for part in result.args if isinstance(result, sp.Mul) else (result,):
        if (
            isinstance(part, sp.Pow)
            and isinstance(part.exp, sp.Rational)
            and abs(part.exp) > MAX_COMBINED_EXPONENT
        ):
            raise _Fail(column, f"powers of powers combine to the exponent {_clip(str(part.exp))}"
                        f"; the limit is {MAX_COMBINED_EXPONENT}")
        if isinstance(part, sp.Rational) and _bits(part) > _MAX_CONSTANT_BITS:
            raise _Fail(column, "the power is a constant too large to compute")
    return result


_NOT_FINITE = (sp.zoo, sp.oo, sp.S.NegativeInfinity, sp.nan, sp.I)


def _parse(text: object, names: Mapping[str, sp.Expr]) -> sp.Expr:
    if not isinstance(text, str):
        raise _Fail(0, f"expected an expression as a string, got {_type_name(text)}")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise _Fail(0, f"the expression is {len(text)} characters long; the limit is "
                    f"{MAX_EXPRESSION_CHARS}")
    expr = _Parser(text, names).parse()
    if not isinstance(expr, sp.Expr) or expr.has(*_NOT_FINITE):
        raise _Fail(0, "the expression is not finite and real (a division by zero, log(0), "
                    "sqrt of a negative number, ...)")
    return expr


def _fail_message(err: _Fail, text: object) -> str:
    if not err.column:
        return err.message
    snippet = text[err.column - 1 : err.column + 11] if isinstance(text, str) else ""
    at = f" near {_clip(snippet, 12)!r}" if snippet else ""
    return f"column {err.column}{at}: {err.message}"


def parse_expression(
    text: str, names: Mapping[str, sp.Symbol], *, where: str = "expression"
) -> sp.Expr:
    """Read ``text`` as a SymPy expression in the given names, safely (no eval of any kind).

    Grammar: numbers (``2``, ``0.5``, ``1e-3``; read exactly, so 0.5 is 1/2), the names in
    ``names``, ``+ - * /``, ``^`` or ``**`` (right-associative; the exponent a plain number of
    magnitude ≤ 16), unary signs, parentheses and calls to :data:`FUNCTIONS`. Anything else is
    a :class:`SpecError` saying what and at which column (``where`` starts the message).

    >>> x, w = sp.symbols("x w", real=True)
    >>> parse_expression("sigmoid(w*x + 1)^2 / 2", {"x": x, "w": w})
    sigmoid(w*x + 1)**2/2
    >>> parse_expression("__import__('os')", {"x": x})
    Traceback (most recent call last):
    ...
    symbackprop.spec.SpecError: expression: column 1 near "__import__('": name '__import__' is not allowed: names start with a letter
    """  # noqa: E501
    try:
        return _parse(text, names)
    except _Fail as err:
        raise SpecError(_fail_message(err, text), None, where) from None
    except RecursionError:  # cannot happen within MAX_DEPTH; kept as a last line of defence
        raise SpecError("the expression is nested too deeply", None, where) from None


# -- safe LaTeX spellings -------------------------------------------------------------------------
_GREEK = (
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu "
    "xi pi varpi rho varrho sigma varsigma tau upsilon phi varphi chi psi omega "
    "Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega"
)
#: The backslash commands a LaTeX spelling may use; every other command is refused.
LATEX_COMMANDS = frozenset(
    _GREEK.split()
    + (
        "hat bar tilde vec dot ddot check breve acute grave widehat widetilde overline underline "
        "mathbf mathrm mathit mathsf mathtt mathcal mathbb mathfrak boldsymbol operatorname "
        "ell partial nabla prime top ast star dagger cdot circ infty"
    ).split()
)
_LATEX_PLAIN = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _^{}()[],'+-*/.|"
)
_COMMAND = re.compile(r"\\([A-Za-z]+)")


def _latex_problem(text: object) -> str | None:
    if not isinstance(text, str):
        return f"expected a LaTeX spelling as a string, got {_got(text)}"
    if not text.strip():
        return "the LaTeX spelling is empty"
    if len(text) > MAX_LATEX_CHARS:
        return f"the LaTeX spelling is {len(text)} characters long; the limit is {MAX_LATEX_CHARS}"
    depth, i, n = 0, 0, len(text)
    while i < n:
        c, col = text[i], i + 1
        if c == "\\":
            m = _COMMAND.match(text, i)
            if not m:
                nxt = text[i + 1 : i + 2] or "end"
                return f"column {col}: '\\' followed by {nxt!r}; only named commands are allowed"
            if m.group(1) not in LATEX_COMMANDS:
                return (
                    f"column {col}: the command \\{_clip(m.group(1), 24)} is not allowed; "
                    f"allowed: Greek letters, \\hat, \\bar, \\tilde, \\mathbf, \\mathrm, …"
                )
            i = m.end()
            continue
        if c not in _LATEX_PLAIN:
            return f"column {col}: the character {c!r} is not allowed in a LaTeX spelling"
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                return f"column {col}: '}}' closes no '{{'"
        elif c in "_^":
            # '^^' would also be TeX's hex escape (^^5c is a backslash), so it is refused.
            if i + 1 >= n or text[i + 1] in "_^} ":
                return f"column {col}: {c!r} must be followed by what it puts {_SCRIPT[c]}"
        i += 1
    if depth:
        return f"{depth} '{{' not closed"
    return _double_script(text)


_SCRIPT = {"_": "below", "^": "above"}


def _double_script(text: str) -> str | None:
    """TeX stops with "Double subscript" on a_b_c (or x^2^3, x^2'): refuse it here instead."""
    words = {"_": "subscript", "^": "superscript"}
    # Per open group: the scripts the current atom has, and whether the group is a script's
    # argument (x_{…}), after which the atom goes on, or a nucleus of its own ({…}_1).
    stack: list[tuple[set[str], bool]] = [(set(), False)]
    after_script = False
    i = 0
    while i < len(text):
        c = text[i]
        scripts = stack[-1][0]
        if c in "_^":
            if c in scripts:
                return f"column {i + 1}: a second {words[c]} on one symbol"
            scripts.add(c)
            after_script = True
        elif c == "'" and not after_script:
            if "^" in scripts:
                return f"column {i + 1}: a prime after a superscript"
        elif c == "{":
            stack.append((set(), after_script))
            after_script = False
        elif c == "}":
            _inner, was_argument = stack.pop()
            if not was_argument:
                stack[-1][0].clear()  # the group was an atom: scripts may follow it afresh
        elif after_script:
            after_script = False  # one token is the script's whole argument
            if c == "\\":
                i = _COMMAND.match(text, i).end()
                continue
        elif c != " ":
            scripts.clear()  # a new atom
            if c == "\\":
                i = _COMMAND.match(text, i).end()
                continue
        i += 1
    return None


def check_latex(text: str, *, where: str = "latex") -> str:
    """Return ``text`` if it is a safe LaTeX spelling of a name, else raise :class:`SpecError`.

    Allowed: letters, digits, spaces, ``_ ^ { } ( ) [ ] , ' + - * / . |`` (braces balanced) and
    the commands in :data:`LATEX_COMMANDS` (Greek letters, accents, font commands).

    >>> check_latex(r"\\hat{y}_{1}")
    '\\\\hat{y}_{1}'
    >>> check_latex(r"\\input{a}")
    Traceback (most recent call last):
    ...
    symbackprop.spec.SpecError: latex: column 1: the command \\input is not allowed; allowed: Greek letters, \\hat, \\bar, \\tilde, \\mathbf, \\mathrm, …
    """  # noqa: E501
    problem = _latex_problem(text)
    if problem:
        raise SpecError(problem, None, where)
    return text


# -- the spec ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spec:
    """A loaded spec: the graph, the numbers for a worked example and the document's metadata.

    ``values`` maps leaf names (inputs, targets, parameters) to numbers and may be partial;
    ``notation`` is a preset's name, a :class:`Notation` for ``notation = "custom"``, or None
    for a general ``[graph]``. ``rounding`` is ``"display"``, ``"by_hand"`` or None.
    """

    graph: Graph
    values: dict[str, float]
    learning_rate: float | None
    digits: int | None
    title: str
    author: str
    notation: str | Notation | None
    source: str
    rounding: str | None = None
    language: str = "en"  # the document's language (symbackprop.i18n.LANGUAGES)
    only: list[str] | None = None  # parameters whose whole chain the notes write out

    @property
    def kind(self) -> str:
        """``"network"`` (an MLP from ``[network]``) or ``"graph"`` (a general ``[graph]``)."""
        return "network" if isinstance(self.graph, MLP) else "graph"

    @property
    def missing_values(self) -> list[str]:
        """The leaves that ``values`` does not give, in declaration order."""
        return [s.name for s in self.graph.leaves if s.name not in self.values]


class _Reader:
    """Typed access to the TOML data, every failure a SpecError naming the file and key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, key: str, reason: str) -> SpecError:
        return SpecError(reason, self.source, key or None)

    def table(self, value: Any, key: str, allowed: tuple[str, ...], required=()) -> dict:
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table, got {_got(value)}")
        for name in value:
            if name not in allowed:
                where = f"[{key}]" if key else "the top level"
                raise self.error(
                    _key(key, name),
                    f"unknown key{_suggest(name, allowed)}; expected one of: "
                    f"{', '.join(allowed)} in {where}",
                )
        for name in required:
            if name not in value:
                raise self.error(key, f"missing key {name!r}")
        return value

    def text(self, value: Any, key: str, limit: int = MAX_TEXT_CHARS) -> str:
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {_got(value)}")
        if len(value) > limit:
            raise self.error(key, f"the text is {len(value)} characters long; the limit is {limit}")
        if any(ord(c) < 32 and c not in "\t\n" or ord(c) == 127 for c in value):
            raise self.error(key, "control characters are not allowed")
        return value

    def choice(self, value: Any, key: str, choices, what: str) -> str:
        if not isinstance(value, str):
            raise self.error(key, f"expected {what} as a string, got {_got(value)}")
        if value not in choices:
            raise self.error(
                key, f"unknown {what} {_show(value)}{_suggest(value, choices)}; expected one "
                f"of: {', '.join(choices)}"
            )
        return value

    def number(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"expected a number, got {_got(value)}")
        if not math.isfinite(value):
            raise self.error(key, f"expected a finite number, got {_show(value)}")
        return float(value)

    def array(self, value: Any, key: str, limit: int = MAX_NAMES) -> list:
        if not isinstance(value, list):
            raise self.error(key, f"expected an array, got {_got(value)}")
        if len(value) > limit:
            raise self.error(key, f"{len(value)} entries; the limit is {limit}")
        return value


_TOP_KEYS = ("title", "author", "language", "only", "network", "graph", "notation", "values",
             "training")


def parse_spec(text: str, source: str = "<spec>") -> Spec:
    """Read a spec from TOML text; ``source`` names it in error messages.

    >>> spec = parse_spec('''
    ... [graph]
    ... inputs = ["x"]
    ... targets = ["y"]
    ... parameters = ["w"]
    ... nodes = [{ name = "a", expr = "sigmoid(w*x)" }]
    ... loss = { name = "L", expr = "(y - a)^2 / 2" }
    ... ''', "tiny.toml")
    >>> spec.graph.expr(spec.graph.symbol("L"))
    (-a + y)**2/2
    >>> parse_spec('[network]\\nsizes = [2, 0, 1]', "seed.toml")
    Traceback (most recent call last):
    ...
    symbackprop.spec.SpecError: seed.toml: network.sizes[1]: expected a positive integer, got 0
    """
    source = str(source)
    r = _Reader(source)
    if not isinstance(text, str):
        raise r.error("", f"expected the spec as text, got {_type_name(text)}")
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "replace")) > MAX_FILE_BYTES:
        raise r.error("", f"the spec is larger than {MAX_FILE_BYTES} bytes; refused")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise r.error("", f"invalid TOML: {err}") from None
    except RecursionError:
        raise r.error("", "invalid TOML: arrays or tables are nested too deeply") from None
    return _build(data, r)


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Read a spec file (TOML, UTF-8, at most 1 MB).

    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "tiny.toml"
    >>> _ = p.write_text('[network]\\nsizes = [1, 1]\\n')
    >>> load_spec(p).graph.title
    'MLP 1-1'
    """
    source = os.fspath(path)
    r = _Reader(str(source))
    try:
        size = os.stat(source).st_size
        if size > MAX_FILE_BYTES:
            raise r.error("", f"the file is {size} bytes; specs larger than {MAX_FILE_BYTES} "
                          "bytes are refused")
        with open(source, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise r.error("", f"cannot read the file: {err.strerror or err}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise r.error("", f"specs larger than {MAX_FILE_BYTES} bytes are refused")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise r.error("", f"the file is not UTF-8 (byte {err.start})") from None
    return parse_spec(text, str(source))


def _build(data: dict, r: _Reader) -> Spec:
    r.table(data, "", _TOP_KEYS)
    if ("network" in data) == ("graph" in data):
        raise r.error("", "a spec needs exactly one of the tables [network] or [graph]")
    title = r.text(data["title"], "title") if "title" in data else None
    author = r.text(data["author"], "author") if "author" in data else ""
    if "network" in data:
        graph, notation_used = _network(data, r, title)
    else:
        if "notation" in data:
            raise r.error("notation", "a [notation] table belongs to a [network] spec; a [graph] "
                          "spells its names with latex = { ... }")
        graph, notation_used = _graph(r.table(data["graph"], "graph", _GRAPH_KEYS), r, title), None
    try:
        graph.validate()
    except GraphError as err:
        raise r.error("network" if "network" in data else "graph", str(err)) from None
    values = _values(data.get("values", {}), graph, r)
    learning_rate = digits = rounding = None
    if "training" in data:
        t = r.table(data["training"], "training", ("learning_rate", "digits", "rounding"))
        if "learning_rate" in t:
            learning_rate = r.number(t["learning_rate"], "training.learning_rate")
            if learning_rate <= 0:
                raise r.error("training.learning_rate",
                              f"expected a positive number, got {_show(t['learning_rate'])}")
        if "digits" in t:
            d = t["digits"]
            if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 15:
                raise r.error("training.digits", f"expected an integer from 0 to 15, got {_got(d)}")
            digits = d
        if "rounding" in t:
            rounding = r.choice(t["rounding"], "training.rounding", ("display", "by_hand"),
                                "rounding")
    from .i18n import LANGUAGES

    language = r.choice(data["language"], "language", LANGUAGES, "language") \
        if "language" in data else "en"
    only = None
    if "only" in data:
        names = {p.name for p in graph.parameters}
        only = [r.choice(x, f"only[{k}]", sorted(names), "parameter")
                for k, x in enumerate(r.array(data["only"], "only"))]
    return Spec(
        language=language,
        only=only,
        graph=graph,
        values=values,
        learning_rate=learning_rate,
        digits=digits,
        title=title if title is not None else graph.title,
        author=author,
        notation=notation_used,
        source=r.source,
        rounding=rounding,
    )


# -- [network] --------------------------------------------------------------------------------------
_NETWORK_KEYS = ("sizes", "activation", "loss", "bias", "notation", "latex")
_NOTATION_KEYS = ("base", "name", "keys", "latex", "description")
_BIAS = {True: True, False: False, "threshold": "threshold", "shared": "shared"}


def _network(data: dict, r: _Reader, title: str | None) -> tuple[MLP, str | Notation]:
    net = r.table(data["network"], "network", _NETWORK_KEYS, required=("sizes",))
    sizes = r.array(net["sizes"], "network.sizes", MAX_LAYERS + 1)
    if len(sizes) < 2:
        raise r.error("network.sizes", "expected at least an input and an output layer, e.g. "
                      "[2, 2, 1]")
    for k, s in enumerate(sizes):
        if isinstance(s, bool) or not isinstance(s, int) or s < 1:
            raise r.error(_key("network.sizes", k), f"expected a positive integer, got {_got(s)}")
        if s > MAX_WIDTH:
            raise r.error(_key("network.sizes", k), f"{s} units; the limit is {MAX_WIDTH}")
    weights = sum(a * b for a, b in zip(sizes, sizes[1:], strict=False))
    if weights > MAX_WEIGHTS:
        raise r.error("network.sizes", f"{weights} weights; the limit is {MAX_WEIGHTS}")
    depth = len(sizes) - 1
    act = net.get("activation", "sigmoid")
    if isinstance(act, list):
        if len(act) != depth:
            raise r.error("network.activation", f"{len(act)} activations given for {depth} "
                          "layers; give one name or one per layer")
        for k, a in enumerate(act):
            r.choice(a, _key("network.activation", k), functions.LAYER_ACTIVATIONS, "activation")
        activation: str | list[str] = list(act)
    else:
        activation = r.choice(act, "network.activation", functions.LAYER_ACTIVATIONS, "activation")
    loss = r.choice(net.get("loss", "mse"), "network.loss", tuple(functions.LOSSES), "loss")
    bias = net.get("bias", False)
    if not isinstance(bias, bool | str) or bias not in _BIAS:
        raise r.error("network.bias", f'expected true, false, "threshold" or "shared", got '
                      f"{_got(bias)}")
    which = r.choice(net.get("notation", "sequential"), "network.notation",
                     (*NOTATIONS, "custom"), "notation")
    if which == "custom":
        if "notation" not in data:
            raise r.error("network.notation", 'notation = "custom" needs a [notation] table')
        notation_used: str | Notation = _custom_notation(data["notation"], r)
    else:
        if "notation" in data:
            raise r.error("notation", 'a [notation] table needs network.notation = "custom"')
        notation_used = which
    try:
        graph = mlp(sizes, activation, loss, _BIAS[bias], notation_used, title)
    except (GraphError, ValueError) as err:
        where = "notation" if which == "custom" else "network"
        raise r.error(where, str(err)) from None
    if "latex" in net:
        for name, spelling in _latex_table(net["latex"], "network.latex", r).items():
            if name not in graph:
                raise r.error(_key("network.latex", name), f"unknown name {_show(name)}"
                              f"{_suggest(name, [s.name for s in graph.symbols])}")
            graph.set_latex(graph.symbol(name), spelling)
    return graph, notation_used


def _custom_notation(value: Any, r: _Reader) -> Notation:
    table = r.table(value, "notation", _NOTATION_KEYS)
    base = NOTATIONS[r.choice(table.get("base", "sequential"), "notation.base",
                              tuple(NOTATIONS), "notation")]
    name = r.text(table.get("name", "custom"), "notation.name", 64)
    plain: dict[str, object] = {}
    for part in ("keys", "latex"):
        if part in table:
            patterns = r.table(table[part], f"notation.{part}", ROLES)
            for role, pattern in patterns.items():
                r.text(pattern, _key(f"notation.{part}", role), MAX_LATEX_CHARS)
            plain[part] = patterns
    if "description" in table:
        plain["description"] = r.text(table["description"], "notation.description")
    try:
        result = Notation.from_mapping(name, plain, base)
    except ValueError as err:
        raise r.error("notation", str(err)) from None
    for role in ROLES:  # every spelling the notation can produce goes into LaTeX unescaped
        where = _key("notation.latex", role)
        try:
            sample = result.latex(role, i=1, j=2, l=1, n=3)
        except (KeyError, IndexError, ValueError) as err:
            raise r.error(where, f"the pattern cannot be filled in: {err}") from None
        problem = _latex_problem(sample)
        if problem:
            raise r.error(where, f"{problem} (in {_show(sample)})")
    return result


def _latex_table(value: Any, key: str, r: _Reader) -> dict[str, str]:
    if not isinstance(value, dict):
        raise r.error(key, f"expected a table of name = LaTeX spelling, got {_got(value)}")
    if len(value) > MAX_NAMES:
        raise r.error(key, f"{len(value)} entries; the limit is {MAX_NAMES}")
    for name, spelling in value.items():
        problem = _latex_problem(spelling)
        if problem:
            raise r.error(_key(key, name), problem)
    return value


# -- [graph] ----------------------------------------------------------------------------------------
_GRAPH_KEYS = ("inputs", "targets", "parameters", "nodes", "loss", "one_hot", "latex")
_KIND_WORD = {"inputs": "an input", "targets": "a target", "parameters": "a parameter",
              "nodes": "a node", "loss": "the loss"}


def _graph(g: dict, r: _Reader, title: str | None) -> Graph:
    for key in ("parameters", "loss"):
        if key not in g:
            raise r.error("graph", f"missing key {key!r}")
    declared: dict[str, str] = {}  # name -> the key where it was declared
    kinds: dict[str, str] = {}

    def declare(name: Any, key: str, kind: str) -> str:
        if not isinstance(name, str):
            raise r.error(key, f"expected a name as a string, got {_got(name)}")
        if len(name) > MAX_NAME_CHARS:
            raise r.error(key, f"the name is {len(name)} characters long; the limit is "
                          f"{MAX_NAME_CHARS}")
        if not _IDENTIFIER.match(name):
            raise r.error(key, f"invalid name {_show(name)}: use a letter, then letters, digits "
                          "or _ (spell it with latex = { ... })")
        if keyword.iskeyword(name):
            raise r.error(key, f"{_show(name)} is a Python keyword; choose another name")
        if name in FUNCTIONS or name == "softmax":
            raise r.error(key, f"{_show(name)} is the name of a function; choose another name")
        if name in declared:
            raise r.error(key, f"{_show(name)} is already declared as {_KIND_WORD[kinds[name]]} "
                          f"({declared[name]})")
        declared[name], kinds[name] = key, kind
        return name

    leaves: dict[str, list[str]] = {}
    for kind in ("inputs", "targets", "parameters"):
        items = r.array(g.get(kind, []), f"graph.{kind}")
        leaves[kind] = [declare(n, _key(f"graph.{kind}", k), kind) for k, n in enumerate(items)]
    if not leaves["parameters"]:
        raise r.error("graph.parameters", "expected at least one parameter")

    entries: list[tuple[str, str, str, str | None]] = []  # (name, expr text, key, latex)
    for k, node in enumerate(r.array(g.get("nodes", []), "graph.nodes")):
        key = _key("graph.nodes", k)
        node = r.table(node, key, ("name", "expr", "latex"), required=("name", "expr"))
        entries.append(_entry(node, key, r, declare, "nodes"))
    loss = _entry(r.table(g["loss"], "graph.loss", ("name", "expr", "latex"),
                          required=("name", "expr")), "graph.loss", r, declare, "loss")

    symbols = {name: sp.Symbol(name, real=True) for name in declared}
    exprs: dict[str, sp.Expr] = {}
    for name, text, key, _latex in [*entries, loss]:
        try:
            exprs[name] = _parse(text, symbols)
        except _Fail as err:
            raise r.error(_key(key, "expr"), _fail_message(err, text)) from None
    loss_symbol = symbols[loss[0]]
    for name, _text, key, _latex in entries:
        if loss_symbol in exprs[name].free_symbols:
            raise r.error(_key(key, "expr"), f"uses the loss {_show(loss[0])}; the loss is the "
                          "last node and feeds no other")
    if loss_symbol in exprs[loss[0]].free_symbols:
        raise r.error("graph.loss.expr", "the loss uses itself")
    order = _topological(entries, exprs, symbols, r)

    latex = {name: spelling for name, _t, _k, spelling in [*entries, loss] if spelling}
    if "latex" in g:
        for name, spelling in _latex_table(g["latex"], "graph.latex", r).items():
            if name not in declared:
                raise r.error(_key("graph.latex", name), f"unknown name {_show(name)}"
                              f"{_suggest(name, declared)}")
            if name in latex:
                raise r.error(_key("graph.latex", name), "a LaTeX spelling is already given "
                              f"in {declared[name]}")
            latex[name] = spelling

    graph = Graph(title=title or "graph")
    try:
        for kind, method in (("inputs", graph.input), ("targets", graph.target),
                             ("parameters", graph.parameter)):
            for name in leaves[kind]:
                method(name, latex=latex.get(name))
        for name in order:
            graph.node(name, exprs[name], latex=latex.get(name))
        graph.loss(loss[0], exprs[loss[0]], latex=latex.get(loss[0]))
    except GraphError as err:
        raise r.error("graph", str(err)) from None
    if "one_hot" in g:
        group = r.array(g["one_hot"], "graph.one_hot")
        if len(group) < 2:
            raise r.error("graph.one_hot", "expected at least two targets")
        for k, name in enumerate(group):
            key = _key("graph.one_hot", k)
            if not isinstance(name, str) or kinds.get(name) != "targets":
                raise r.error(key, f"expected the name of a target, got {_got(name)}")
            if name in group[:k]:
                raise r.error(key, f"{_show(name)} is listed twice")
        graph.targets_sum_to_one([graph.symbol(n) for n in group])
    return graph


def _entry(node: dict, key: str, r: _Reader, declare, kind: str):
    name = declare(node["name"], _key(key, "name"), kind)
    text = node["expr"]
    if not isinstance(text, str):
        raise r.error(_key(key, "expr"), f"expected an expression as a string, got {_got(text)}")
    spelling = node.get("latex")
    if spelling is not None:
        problem = _latex_problem(spelling)
        if problem:
            raise r.error(_key(key, "latex"), problem)
    return name, text, key, spelling


def _topological(entries, exprs, symbols, r: _Reader) -> list[str]:
    """Node names ordered so that each comes after the nodes it uses (file order otherwise)."""
    index = {name: k for k, (name, *_rest) in enumerate(entries)}
    uses = {
        name: {s.name for s in exprs[name].free_symbols if s.name in index} for name in index
    }
    users: dict[str, list[str]] = {name: [] for name in index}
    for name, deps in uses.items():
        for dep in deps:
            users[dep].append(name)
    waiting = {name: len(deps) for name, deps in uses.items()}
    ready = [k for k, (name, *_rest) in enumerate(entries) if not waiting[name]]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = entries[heapq.heappop(ready)][0]
        order.append(name)
        for user in users[name]:
            waiting[user] -= 1
            if not waiting[user]:
                heapq.heappush(ready, index[user])
    if len(order) < len(entries):
        left = {name for name in index if waiting[name]}
        start = min(left, key=index.__getitem__)
        path, seen = [start], {start: 0}
        while True:
            nxt = min((d for d in uses[path[-1]] if d in left), key=index.__getitem__)
            if nxt in seen:
                cycle = [*path[seen[nxt]:], nxt]
                break
            seen[nxt] = len(path)
            path.append(nxt)
        first = entries[index[cycle[0]]][2]
        raise r.error(_key(first, "expr"), "the nodes form a cycle (each uses the next): "
                      + " -> ".join(cycle))
    return order


# -- [values] ---------------------------------------------------------------------------------------
def _values(value: Any, graph: Graph, r: _Reader) -> dict[str, float]:
    table = r.table(value, "values", tuple(value) if isinstance(value, dict) else ())
    leaves = {s.name for s in graph.leaves}
    out: dict[str, float] = {}
    for name, v in table.items():
        key = _key("values", name)
        if name not in graph:
            raise r.error(key, f"unknown name {_show(name)}{_suggest(name, leaves)}; expected "
                          f"one of: {_listing(s.name for s in graph.leaves)}")
        if name not in leaves:
            raise r.error(key, f"{_show(name)} is computed by the graph; give values only for "
                          "inputs, targets and parameters")
        out[name] = r.number(v, key)
    for group in graph.one_hot_groups:
        names = [s.name for s in group]
        if all(n in out for n in names):
            total = sum(out[n] for n in names)
            if abs(total - 1) > 1e-9:
                raise r.error("values", f"the one-hot targets {', '.join(names)} must sum to 1, "
                              f"got {total:g}")
    return out

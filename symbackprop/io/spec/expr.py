"""The safe expression reader: a tokenizer and recursive-descent parser, never eval.

It knows numbers, the names the caller declares, ``+ - * / ^ **``, parentheses and a fixed list of
functions (:data:`FUNCTIONS`). Nothing is ever passed to ``eval``, ``exec``, ``compile``,
``sympify`` or ``parse_expr``.
"""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import NamedTuple

import sympy as sp

from ...core import ops
from .errors import (
    MAX_COMBINED_EXPONENT,
    MAX_CONSTANT_BITS,
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_EXPRESSION_CHARS,
    MAX_NAME_CHARS,
    MAX_NUMBER,
    MIN_NUMBER,
    SpecError,
    clip,
    suggest,
    type_name,
)

# -- the safe expression reader -------------------------------------------------------------------
#: The functions an expression may call: name -> (function, least and most arguments). The
#: elementwise activations are the op registry's (leaky_relu may be given its slope).
FUNCTIONS: dict[str, tuple[Callable[..., sp.Expr], int, int]] = {
    **{name: (op, 1, 1 + len(op.defaults)) for name, op in ops.ACTIVATIONS.items()
       if op.latex and name != "softmax"},
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


class ParseFailure(Exception):
    """A mistake at a column of an expression (0: the whole text); the reader that caught it
    words it as a SpecError naming its own file and key (see :func:`failure_message`)."""

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
        raise ParseFailure(column, f"the number {clip(text, 24)} is larger than 1e12 in magnitude")
    if d and (d.adjusted() < -31 or d.copy_abs() < MIN_NUMBER):
        raise ParseFailure(column, f"the number {clip(text, 24)} is smaller than 1e-30 in magnitude")
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
            raise ParseFailure(col, "NUL byte")
        if ord(c) < 32 or ord(c) == 127:
            raise ParseFailure(col, f"control character U+{ord(c):04X}")
        if ord(c) > 127:
            hint = _UNICODE_HINTS.get(c)
            advice = f"; write {hint}" if hint else "; expressions are plain ASCII"
            raise ParseFailure(col, f"non-ASCII character {c!r} (U+{ord(c):04X}){advice}")
        if c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            m = _NUMBER.match(text, i)
            end = m.end()
            if end < n and (text[end].isalnum() or text[end] in "_."):
                bad = clip(text[i : end + 1], 24)
                if text[end] == ".":
                    raise ParseFailure(col, f"malformed number {bad!r}")
                raise ParseFailure(col, f"{bad!r}: a number cannot run into a name; write * between them")
            yield _Token("num", m.group(), col, _number(m.group(), col))
            i = end
            continue
        if c.isalpha() or c == "_":
            m = _WORD.match(text, i)
            word = m.group()
            if len(word) > MAX_NAME_CHARS:
                raise ParseFailure(
                    col, f"name {clip(word, 24)!r} is {len(word)} characters long; "
                    f"the limit is {MAX_NAME_CHARS}"
                )
            if word.startswith("_"):
                raise ParseFailure(col, f"name {word!r} is not allowed: names start with a letter")
            if keyword.iskeyword(word):
                raise ParseFailure(col, f"Python keyword {word!r} is not part of the expression language")
            if m.end() < n and text[m.end()] == ".":
                raise ParseFailure(m.end() + 1, f"'{word}.': attribute access is not allowed")
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
            raise ParseFailure(col, _PUNCTUATION[c])
        else:
            raise ParseFailure(col, f"character {c!r} is not allowed")
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
            raise ParseFailure(column, f"nesting is deeper than {MAX_DEPTH}")

    def parse(self) -> sp.Expr:
        if self.tok.kind == "end":
            raise ParseFailure(0, "the expression is empty")
        expr = self.sum()
        tok = self.tok
        if tok.kind != "end":
            raise ParseFailure(tok.column, f"unexpected {self.describe(tok)}: {self.after_operand(tok)}")
        return expr

    @staticmethod
    def describe(tok: _Token) -> str:
        if tok.kind == "end":
            return "end of the expression"
        if tok.kind == "name":
            return f"name {tok.text!r}"
        if tok.kind == "num":
            return f"number {clip(tok.text, 24)}"
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
        return _bounded(sp.Add(*terms), terms[0]) if len(terms) > 1 else terms[0]

    def term(self) -> sp.Expr:
        factors = [self.unary()]
        while self.tok.kind == "op" and self.tok.text in "*/":
            op = self.advance()
            right = self.unary()
            if op.text == "/":
                if right == 0:
                    raise ParseFailure(op.column, "division by zero")
                right = sp.Pow(right, -1)
            factors.append(right)
        return _bounded(sp.Mul(*factors), factors[0]) if len(factors) > 1 else factors[0]

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
                raise ParseFailure(tok.column, f"function {tok.text!r} needs its argument: {tok.text}(...)")
            if tok.text == "softmax":
                raise ParseFailure(tok.column, _SOFTMAX_WHY)
            raise ParseFailure(tok.column, f"undeclared name {tok.text!r}{suggest(tok.text, self.names)}")
        if tok.kind == "(":
            self.enter(tok.column)
            if self.tok.kind == ")":
                raise ParseFailure(tok.column, "empty parentheses")
            inner = self.sum()
            self.close(tok)
            self.depth -= 1
            return inner
        if tok.kind == "end":
            raise ParseFailure(tok.column, "unexpected end of the expression: expected a number, a name "
                               "or '('")
        if tok.kind == ",":
            raise ParseFailure(tok.column, "a comma is only allowed between the arguments of a function"
                               " call")
        raise ParseFailure(tok.column, f"unexpected {self.describe(tok)}: expected a number, a name or "
                           "'('")

    def close(self, opening: _Token) -> None:
        tok = self.advance()
        if tok.kind != ")":
            if tok.kind == ",":
                raise ParseFailure(tok.column, "a comma is only allowed between the arguments of a "
                                   "function call")
            if tok.kind == "end":
                raise ParseFailure(opening.column, "this '(' is never closed")
            raise ParseFailure(tok.column, f"unexpected {self.describe(tok)}: expected ')' (the '(' is"
                               f" at column {opening.column})")

    def call(self, name: _Token) -> sp.Expr:
        if name.text == "softmax":
            raise ParseFailure(name.column, _SOFTMAX_WHY)
        if name.text not in FUNCTIONS:
            allowed = ", ".join(FUNCTIONS)
            raise ParseFailure(
                name.column,
                f"unknown function {name.text!r}{suggest(name.text, FUNCTIONS)}; "
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
            raise ParseFailure(
                name.column, f"{name.text}() takes {want} argument{'s' if most > 1 else ''}, "
                f"got {len(args)}"
            )
        for arg in args:  # before SymPy sees them: exp(exp(1e6)) would keep it busy for minutes
            _bounded(arg, name)
        return _bounded(f(*args), name)


#: The float meaning of a constant's parts, by SymPy class: constants are computed in floats
#: (cheap, bounded) before SymPy is given them to keep.
_CONSTANT = {
    sp.Add: lambda *xs: math.fsum(xs),
    sp.Mul: lambda *xs: math.prod(xs),
    sp.Pow: lambda b, e: b ** e,
    sp.exp: math.exp,
    sp.log: math.log,
    sp.Abs: abs,
    **{op.function: op.scalar for op in ops.FUNCTIONS},
}


def _constant(expr: sp.Expr) -> float:
    """The value of a constant expression as a float; ParseFailure if it is not finite and real."""
    if expr.is_Rational:
        return int(expr.p) / int(expr.q)
    if expr.is_NumberSymbol or expr.is_Float:
        return float(expr)
    f = _CONSTANT.get(expr.func)
    if f is None:
        if expr.has(*_NOT_FINITE):
            raise ValueError("not finite and real")
        raise ParseFailure(0, f"the constant {clip(sp.sstr(expr), 40)} cannot be computed")
    x = f(*(_constant(a) for a in expr.args))  # ValueError, OverflowError: caught by _bounded
    if isinstance(x, complex) or not math.isfinite(x):
        raise ValueError("not finite and real")
    return x


def _bounded(expr: sp.Expr, where: object) -> sp.Expr:
    """``expr``, if it is not a constant or a finite real one of magnitude at most MAX_NUMBER.

    Every constant, written or computed (powers, functions of numbers), stays within the limit
    for written numbers: SymPy and numpy then evaluate it quickly and exactly as a float.
    """
    if expr.free_symbols or not isinstance(expr, sp.Expr):
        return expr
    column = where.column if isinstance(where, _Token) else 0
    try:
        value = _constant(expr)
    except (ValueError, OverflowError, ZeroDivisionError, TypeError):
        raise ParseFailure(column, f"the constant {clip(sp.sstr(expr), 40)} is not finite and "
                           "real (log or sqrt of a negative number, an overflow, ...)") from None
    if abs(value) > MAX_NUMBER:
        raise ParseFailure(column, f"the constant {clip(sp.sstr(expr), 40)} is about {value:.3g}; "
                           f"constants are at most 1e12 in magnitude")
    return expr


def _power(base: sp.Expr, exponent: sp.Expr, column: int) -> sp.Expr:
    if not isinstance(exponent, sp.Rational):
        what = "an expression in " + ", ".join(sorted(s.name for s in exponent.free_symbols)) \
            if exponent.free_symbols else clip(sp.sstr(exponent), 24)
        raise ParseFailure(column, f"the exponent must be a plain number of magnitude at most "
                           f"{MAX_EXPONENT}, got {what}")
    if abs(exponent) > MAX_EXPONENT:
        raise ParseFailure(column, f"the exponent {clip(sp.sstr(exponent), 24)} is larger than "
                           f"{MAX_EXPONENT} in magnitude")
    if isinstance(base, sp.Rational):
        if base == 0 and exponent < 0:
            raise ParseFailure(column, "division by zero (0 to a negative power)")
        if base != 0 and abs(int(exponent.p)) * _bits(base) > MAX_CONSTANT_BITS * int(exponent.q):
            raise ParseFailure(column, "the power is a constant too large to compute")
    if not base.free_symbols:
        _bounded(base, None)
        if base.is_negative and not exponent.is_integer:  # (-2)^(1/3) is complex in SymPy
            raise ParseFailure(column, f"a negative constant to the fractional power "
                               f"{clip(sp.sstr(exponent), 24)} is not a real number")
    result = sp.Pow(base, exponent)
    if not result.free_symbols:
        try:
            _bounded(result, None)
        except ParseFailure as err:
            raise ParseFailure(column, err.message) from None
    for part in result.args if isinstance(result, sp.Mul) else (result,):
        if (
            isinstance(part, sp.Pow)
            and isinstance(part.exp, sp.Rational)
            and abs(part.exp) > MAX_COMBINED_EXPONENT
        ):
            raise ParseFailure(column, f"powers of powers combine to the exponent {clip(str(part.exp))}"
                               f"; the limit is {MAX_COMBINED_EXPONENT}")
        if isinstance(part, sp.Rational) and _bits(part) > MAX_CONSTANT_BITS:
            raise ParseFailure(column, "the power is a constant too large to compute")
    return result


_NOT_FINITE = (sp.zoo, sp.oo, sp.S.NegativeInfinity, sp.nan, sp.I)


def parse_text(text: object, names: Mapping[str, sp.Expr]) -> sp.Expr:
    """:func:`parse_expression` without the SpecError: a mistake is a :class:`ParseFailure`."""
    if not isinstance(text, str):
        raise ParseFailure(0, f"expected an expression as a string, got {type_name(text)}")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ParseFailure(0, f"the expression is {len(text)} characters long; the limit is "
                           f"{MAX_EXPRESSION_CHARS}")
    expr = _Parser(text, names).parse()
    if not isinstance(expr, sp.Expr) or expr.has(*_NOT_FINITE):
        raise ParseFailure(0, "the expression is not finite and real (a division by zero, log(0), "
                           "sqrt of a negative number, ...)")
    return expr


def failure_message(err: ParseFailure, text: object) -> str:
    """The reason a SpecError gives for ``err``: its column and the text there, then what."""
    if not err.column:
        return err.message
    snippet = text[err.column - 1 : err.column + 11] if isinstance(text, str) else ""
    at = f" near {clip(snippet, 12)!r}" if snippet else ""
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
        return parse_text(text, names)
    except ParseFailure as err:
        raise SpecError(failure_message(err, text), None, where) from None
    except RecursionError:  # cannot happen within MAX_DEPTH; kept as a last line of defence
        raise SpecError("the expression is nested too deeply", None, where) from None


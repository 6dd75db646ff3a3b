"""Reading one side of an equation of a LaTeX derivation into SymPy, safely.

This is a small recursive-descent reader of the LaTeX subset derivations use (numbers, names with
sub- and superscripts, + − · × /, \\frac, powers, parentheses, σ tanh exp log sech, ∂A/∂B and
d/dx, \\sum with numeric bounds). It builds SymPy objects directly: no text reaches sympify,
parse_expr, eval or exec, nothing is expanded, no file is read. Anything it does not know makes
that one side "not checked". Sizes and nesting are bounded, so every refusal takes milliseconds.

Finding the math in a document and splitting it into sides is latexdocument's job (a document
that defines or reads anything is refused there, as a whole); its names are re-exported here,
where lint and grade have always found them.

>>> names = {"z_1": sp.Symbol("z1"), "w_1": sp.Symbol("w1"), "x_1": sp.Symbol("x1")}
>>> side = parse_side(r"x_{1} w_{1} + \\frac{1}{2}", names.get)
>>> side.expr
w1*x1 + 1/2
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable
from decimal import Decimal

import sympy as sp

from ..core.ops import ACTIVATIONS
from .latexdocument import (
    DISPLAY_ENVS,
    MAX_DEPTH,
    MAX_DOCUMENT,
    MAX_EQUATIONS,
    RELATIONS,
    SEPARATORS,
    LatexError,
    MathSpan,
    Side,
    check_document,
    find_math,
    split_chain,
    statements,
)
from .latexmacros import FORBIDDEN
from .latextokens import UNICODE, canonical, tokens

__all__ = ["LatexError", "Unsupported", "MathSpan", "Side", "find_math", "split_chain",
           "parse_side", "tree_size", "canonical", "tokens", "UNICODE", "LEARNING_RATE", "Updated",
           # moved to latexdocument and latexmacros, still importable from here
           "check_document", "statements", "MAX_DOCUMENT", "MAX_EQUATIONS", "DISPLAY_ENVS",
           "RELATIONS", "SEPARATORS", "FORBIDDEN"]

MAX_SIDE = 4000
#: Terms of one sum, and of sums nested in one another (their counts multiplied): a nested sum
#: is read once per term of every sum around it.
MAX_SUM_TERMS = 64
MAX_EXPONENT = 64
#: Digits of an exact number a power may make (9^{64}^{64} is computed exactly otherwise).
MAX_DIGITS = 400
#: Derivatives taken of one expression, nested (σ′′′ is 3): each multiplies its size.
MAX_ORDER = 3
#: Nodes of an expression differentiated symbolically, counted before the work.
MAX_DIFF_SIZE = 200
#: Nodes of a side written out as a tree: σ'(σ'(…)) shares its argument, but printing,
#: differentiating and evaluating it go through every copy (counted over the shared form).
MAX_TREE = 5000
#: Written decimals in one side: each is a variable of its uncertainty, so the checker's work
#: grows with their number times the side's size.
MAX_NUMBERS = 64

IGNORED = frozenset("left right big Big bigg Bigg bigl bigr Bigl Bigr , ; : ! quad qquad "
                    "displaystyle textstyle limits nonumber notag cdotp".split())
DECORATIONS = frozenset("hat bar tilde vec mathbf boldsymbol mathrm mathit bm widehat "
                        "check dot mathcal".split())
GREEK = frozenset("alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa "
                  "lambda mu nu xi pi rho sigma tau upsilon phi varphi chi psi omega Gamma Delta "
                  "Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split())
FUNCTIONS = {**{op.latex: op for op in ACTIVATIONS.values() if op.latex and op.name != "softmax"},
             r"\exp": sp.exp, r"\log": sp.log,
             r"\ln": sp.log, r"\sech": sp.sech, r"\cosh": sp.cosh, r"\sinh": sp.sinh,
             r"\operatorname{sech}": sp.sech, r"\mathrm{sech}": sp.sech}

#: The learning rate (η or α), a constant of the spec.
LEARNING_RATE = sp.Symbol("learning_rate", real=True)


class Updated(sp.Symbol):
    """``p'``: a parameter after the update step (the left side of ``w_5 = w_5 - η …``)."""


class Unsupported(ValueError):
    """One side uses something this reader does not know: it is listed as not checked.

    Its args are (reason code, what): the sentence lives in templates/lint.txt.j2.
    """


# -- the expression reader -------------------------------------------------------------------------
Resolver = Callable[[str], "sp.Expr | None"]


def parse_side(text: str, resolve: Resolver, index: dict[str, int] | None = None) -> Side:
    """One side into SymPy; ``resolve`` maps a canonical spelling to a symbol (or None).

    Decimal numbers become symbols in ``Side.literals`` (their written value), so that a checker
    can tell how precise a side claims to be.
    """
    side = Side(text)
    if len(text) > MAX_SIDE:
        side.problem = ("too_long", str(MAX_SIDE))
        return side
    try:
        reader = _Reader(tokens(text), resolve, side, index or {})
        side.expr = reader.whole()
        if tree_size(side.expr, MAX_TREE) > MAX_TREE:
            raise Unsupported("too_large", str(MAX_TREE))
    except Unsupported as err:
        side.expr, side.problem = None, err.args
    except RecursionError:
        side.expr, side.problem = None, ("nested", "")
    except (TypeError, ArithmeticError, AttributeError, IndexError, ValueError):
        # SymPy refusing a combination (a derivative of a number, 0^-1 …): not read, not checked
        side.expr, side.problem = None, ("cannot_read", text[:40])
    return side


class _Reader:
    """Reads the tokens ``toks[k:end]``; a group (a fraction's numerator, a sum's term) is read
    by a copy of the reader over its range, so no token list is copied or scanned twice."""

    def __init__(self, toks: list[str], resolve: Resolver, side: Side, index: dict[str, int]):
        # Spacing and sizing commands carry no mathematics; a plain comma or ! still does.
        self.toks = [t for t in toks if not (t.startswith("\\") and t[1:] in IGNORED)
                     and t not in (r"\ ", "~")]
        self.closing = _closing_braces(self.toks)
        self.k, self.end = 0, len(self.toks)
        self.resolve, self.side, self.index, self.depth = resolve, side, index, 0
        self.terms = 1  # the product of the term counts of the sums around this reader
        self.order = 0  # the derivatives taken around what this reader reads

    def peek(self, ahead: int = 0) -> str:
        k = self.k + ahead
        return self.toks[k] if k < self.end else ""

    def span(self) -> tuple[int, int]:
        """The range of the group at the cursor (braced or one token); the cursor after it."""
        k = self.k
        self.side.steps += 1
        if k >= self.end:
            return k, k
        if self.toks[k] != "{":
            self.k = k + 1
            return k, k + 1
        close = self.closing[k]
        if not k < close < self.end:
            raise Unsupported("expected", "}")
        self.k = close + 1
        return k + 1, close

    def group(self) -> list[str]:
        """The tokens of the group at the cursor, read as text (a name's subscript, bounds)."""
        start, stop = self.span()
        self.side.steps += stop - start
        return self.toks[start:stop]

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if expected is not None and tok != expected:
            raise Unsupported("expected", expected)
        self.k += 1
        self.side.steps += 1
        return tok

    def expression(self) -> sp.Expr:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise Unsupported("nested", "")
        terms = []
        sign = 1
        if self.peek() in "+-" and self.peek():
            sign = -1 if self.take() == "-" else 1
        terms.append(sign * self.term())
        while self.peek() in ("+", "-", r"\pm") and self.peek():
            op = self.take()
            if op == r"\pm":
                raise Unsupported("plus_minus", "")
            terms.append((-1 if op == "-" else 1) * self.term())
        self.depth -= 1
        return sp.Add(*terms)

    def term(self) -> sp.Expr:
        factors = [self.power()]
        while True:
            tok = self.peek()
            if tok in (r"\cdot", r"\times", "*", r"\ast"):
                self.take()
                factors.append(self.power())
            elif tok == "/":
                self.take()
                factors.append(1 / self.power())
            elif tok and tok not in ("+", "-", ")", "]", "}", r"\right", "=", r"\pm", "|", ",", "&"):
                factors.append(self.power())  # juxtaposition
            else:
                return sp.Mul(*factors)

    def power(self) -> sp.Expr:
        base = self.atom()
        while self.peek() == "^":
            self.take()
            exponent = self.group_expression()
            if exponent.is_Number and abs(exponent) > MAX_EXPONENT:
                raise Unsupported("cannot_read", "^")
            if base.is_Rational and exponent.is_Number and _digits(base) * abs(
                    float(exponent)) > MAX_DIGITS:  # a tower of powers, each exponent small
                raise Unsupported("number_too_long", "^")
            base = sp.Pow(base, exponent)
        if self.peek() == "!":
            raise Unsupported("cannot_read", "!")
        return base

    def group_expression(self) -> sp.Expr:
        if self.peek() == "{":
            self.take()
            inner = self.expression()
            self.take("}")
            return inner
        if self.peek() == "-":
            self.take()
            return -self.atom()
        return self.atom()

    def atom(self) -> sp.Expr:  # noqa: C901 - one branch per kind of atom, read in order
        tok = self.peek()
        if not tok:
            raise Unsupported("ends_early", "")
        if re.fullmatch(r"\d+\.\d*|\.\d+", tok):
            if len(self.side.literals) >= MAX_NUMBERS:
                raise Unsupported("numbers", str(MAX_NUMBERS))
            self.take()
            value = Decimal(tok)
            symbol = sp.Dummy(f"n{len(self.side.literals)}")
            self.side.literals[symbol] = value
            return symbol
        if tok.isdigit():
            self.take()
            if len(tok) > 12:
                raise Unsupported("number_too_long", tok[:20])
            return sp.Integer(int(tok))
        if tok in ("(", r"\left", "[", "{"):
            return self.parenthesised()
        if tok in (r"\frac", r"\dfrac", r"\tfrac"):
            return self.fraction()
        if tok == r"\sqrt":
            self.take()
            return sp.sqrt(self.deeper(self.group_expression))
        if tok == r"\sum":
            return self.sum()
        return self.name()

    def parenthesised(self) -> sp.Expr:
        if self.peek() == r"\left":
            self.take()
        opening = self.take()
        closing = {"(": ")", "[": "]", "{": "}"}.get(opening)
        if closing is None:
            raise Unsupported("cannot_read", opening)
        inner = self.expression()
        if self.peek() == r"\right":
            self.take()
        self.take(closing)
        return inner

    def fraction(self) -> sp.Expr:
        self.take()
        num, den = self.span(), self.span()
        derivative = _derivative_parts(self.toks, num, den)
        if derivative is not None:
            of, wrt = derivative
            variable = self.sub_reader(*wrt).name()
            self.order += 1
            try:
                if self.order > MAX_ORDER:
                    raise Unsupported("derivatives", str(MAX_ORDER))
                operand = self.sub_reader(*of).expression() if of[0] < of[1] else self.deeper(
                    self.power)
            finally:
                self.order -= 1
            if operand.is_Symbol:  # ∂L/∂w_5: the total derivative, worked out by the checker
                return sp.Derivative(operand, variable, evaluate=False)
            # Sized before it is taken; a derivative of a derivative is taken one at a time
            # (for a free variable here, for the network's by the checker, as SymPy nests them).
            _check_diff_size(operand)
            if any(isinstance(a, sp.Derivative) and not a.expr.is_Symbol
                   for a in operand.atoms(sp.Derivative)):
                _check_diff_size(operand, MAX_DIFF_SIZE // 8)
            if variable in self.side.free:
                return sp.diff(operand, variable)
            return sp.Derivative(operand, variable, evaluate=False)
        return self.sub_reader(*num).whole() / self.sub_reader(*den).whole()

    def deeper(self, read: Callable[[], sp.Expr]) -> sp.Expr:
        """``read()`` one level deeper (\\sqrt\\sqrt…, d/dx d/dx … nest without braces)."""
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise Unsupported("nested", "")
            return read()
        finally:
            self.depth -= 1

    def sub_reader(self, start: int, end: int) -> _Reader:
        """A reader of ``toks[start:end]``, one level deeper."""
        reader = copy.copy(self)
        reader.k, reader.end, reader.depth = start, end, self.depth + 1
        if reader.depth > MAX_DEPTH:
            raise Unsupported("nested", "")
        return reader

    def whole(self) -> sp.Expr:
        expr = self.expression()
        if self.k != self.end:
            raise Unsupported("cannot_read", "".join(self.toks[self.k:min(self.k + 4, self.end)]))
        return expr

    def sum(self) -> sp.Expr:
        self.take()
        bounds = {}
        for mark in ("_", "^"):
            if self.peek() == mark:
                self.take()
                bounds[mark] = "".join(self.group())
        m = re.fullmatch(r"([a-z])=(\d+)", bounds.get("_", ""))
        top = bounds.get("^", "")
        if not m or not top.isdigit():
            raise Unsupported("sum_bounds", "")
        if len(m.group(2)) > 12 or len(top) > 12:
            raise Unsupported("number_too_long", max(m.group(2), top, key=len)[:20])
        var, lo, hi = m.group(1), int(m.group(2)), int(top)
        if hi < lo:
            raise Unsupported("sum_empty", f"{lo} > {hi}")
        count = hi - lo + 1
        if self.terms * count > MAX_SUM_TERMS:  # checked before a term is read
            raise Unsupported("sum_terms", str(MAX_SUM_TERMS))
        start = end = self.k
        terms = []
        for value in range(lo, hi + 1):  # each term read again, its index a number
            reader = self.sub_reader(start, self.end)
            reader.index, reader.terms = {**self.index, var: value}, self.terms * count
            terms.append(reader.term())
            end = reader.k
        self.k = end
        return sp.Add(*terms)

    def name(self) -> sp.Expr:
        tok = self.take()
        if tok.startswith("\\") and tok[1:] in DECORATIONS or tok in (r"\operatorname",):
            tok = tok + "{" + "".join(self.group()) + "}"
        elif tok.startswith("\\") and tok[1:] not in GREEK and tok not in FUNCTIONS and tok not in (
                r"\partial",):
            raise Unsupported("unknown_command", tok)
        elif not (tok.startswith("\\") or tok.isalpha()):
            raise Unsupported("cannot_read", tok)
        sub = sup = ""
        primes = 0
        while self.peek() in ("_", "^", "'"):
            at = self.k
            mark = self.take()
            if mark == "'":
                primes += 1
                continue
            text = "".join(str(self.index.get(t, t)) if len(t) == 1 else t for t in self.group())
            if mark == "_" and not sub:
                sub = text
            elif mark == "^" and not sup:
                if self.resolve(_spell(tok, sub, text)) is None and (
                        _is_power(text) or tok == "e" and not sub):  # e^{s_1} is exp(s_1)
                    self.k = at  # a power: leave it to power()
                    break
                sup = text
            else:
                self.k = at
                break
        spelling = _spell(tok, sub, sup)
        function = FUNCTIONS.get(tok) or FUNCTIONS.get(spelling)
        if function is None and self.resolve(spelling + "()") is not None:
            function = self.resolve(spelling + "()")
        if function is not None and not sub and self.peek() in ("(", r"\left", "{"):
            if primes + self.order > MAX_ORDER:  # each prime multiplies the size
                raise Unsupported("derivatives", str(MAX_ORDER))
            argument = self.parenthesised()
            return _prime(function, argument, primes) if primes else function(argument)
        resolved = self.resolve(spelling + "'" * primes)
        if resolved is None and primes:
            base = self.resolve(spelling)
            if base is not None and base.is_Symbol:
                resolved = Updated(base.name + "'", real=True)
        if resolved is not None:
            return resolved
        if tok == "e" and not sub and not primes:
            return sp.E
        if tok in (r"\eta", r"\alpha") and not sub:
            return LEARNING_RATE
        if len(tok) == 1 and tok.isalpha() and self.peek() in ("(", r"\left"):
            raise Unsupported("unknown_function", spelling)  # f(u): a function not defined here
        if len(tok) == 1 and tok.isalpha() and not sub and not sup and not primes:
            free = sp.Symbol(f"free_{tok}", real=True)
            self.side.free.add(free)
            return free
        raise Unsupported("unknown_symbol", spelling)


def _spell(tok: str, sub: str, sup: str) -> str:
    return canonical(tok + (f"_{{{sub}}}" if sub else "") + (f"^{{{sup}}}" if sup else ""))


def _is_power(text: str) -> bool:
    return bool(re.fullmatch(r"-?\d+|-?[a-z]|\\top|T|\{.*\}", text)) and text not in ("T", r"\top")


def _prime(function, argument: sp.Expr, order: int = 1) -> sp.Expr:
    """The ``order``-th derivative of ``function`` at ``argument`` (taken at a plain variable,
    so that its size does not depend on the argument's)."""
    x, derivative = _derivative_at(function, order)
    return derivative.xreplace({x: argument})


@functools.lru_cache(maxsize=256)
def _derivative_at(function, order: int) -> tuple[sp.Dummy, sp.Expr]:
    x = sp.Dummy("x")
    return x, sp.diff(function(x), x, order)


def tree_size(expr: sp.Basic, limit: int) -> int:
    """The number of nodes of ``expr`` written out as a tree (a shared argument counted once
    per use), worked out once per distinct node; stops counting past ``limit``."""
    sizes: dict[sp.Basic, int] = {}
    todo = [expr]
    while todo:
        node = todo[-1]
        if node in sizes:
            todo.pop()
            continue
        missing = [a for a in node.args if a not in sizes]
        if missing:
            todo.extend(missing)
            continue
        todo.pop()
        sizes[node] = min(limit + 1, 1 + sum(sizes[a] for a in node.args))
    return sizes[expr]


def _digits(number: sp.Rational) -> float:
    """Decimal digits of a rational's numerator or denominator, whichever is longer."""
    return max(abs(number.p).bit_length(), abs(number.q).bit_length()) * 0.30103 + 1


def _check_diff_size(expr: sp.Expr, limit: int = MAX_DIFF_SIZE) -> None:
    """Refuse to differentiate an expression of more than ``limit`` nodes (counted up to the
    limit, so the count costs no more than the limit)."""
    for count, _node in enumerate(sp.preorder_traversal(expr), start=1):
        if count > limit:
            raise Unsupported("too_large", str(limit))


Span = tuple[int, int]


def _derivative_parts(toks: list[str], num: Span, den: Span) -> tuple[Span, Span] | None:
    """(numerator after ∂/d, denominator after ∂/d), as token ranges, when a fraction is a
    derivative: both start with the same ∂ or d, and something follows the denominator's."""
    (n0, n1), (d0, d1) = num, den
    if not (n0 < n1 and d0 + 1 < d1 and toks[n0] in (r"\partial", "d") and toks[d0] == toks[n0]):
        return None
    return (n0 + 1, n1), (d0 + 1, d1)


def _closing_braces(toks: list[str]) -> list[int]:
    """For each ``{`` the index of its ``}`` (-1: never closed); one pass, for every group."""
    closing, open_at = [-1] * len(toks), []
    for k, tok in enumerate(toks):
        if tok == "{":
            open_at.append(k)
        elif tok == "}" and open_at:
            closing[open_at.pop()] = k
    return closing

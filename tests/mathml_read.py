"""Reading the MathML the HTML notes carry back into SymPy expressions (a test helper).

The HTML's ``alttext`` can be right while the MathML a browser draws is empty or wrong; reading
the MathML itself back (its tokens, fractions, scripts, sums and function applications) and
comparing the expression with the engine's is what catches that. It reads the subset
:mod:`symbackprop.printing.mathml` emits for our equations and refuses anything else
(:class:`ReadError`), so an unexpected element fails a test rather than passing unread.

Identifiers are looked up, not guessed: ``Names`` maps the MathML of each symbol's LaTeX
spelling (as the documents print it) to the symbol, and of each function's to the function.
Expressions are built with SymPy's constructors only; no text is parsed by SymPy.

>>> import sympy as sp
>>> x, y = sp.symbols("x y")
>>> names = Names({x: "x_{1}", y: r"\\hat{y}"})
>>> read(tex_to_mathml(r"\\frac{x_{1}}{2} - \\hat{y}^{2}"), names)
x/2 - y**2
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from fractions import Fraction

import sympy as sp

from symbackprop.printing.mathml import FUNCTION_APPLICATION, MATHML_NS, tex_to_mathml

__all__ = ["Names", "ReadError", "read", "content", "key", "tex_to_mathml"]

_NS = "{" + MATHML_NS + "}"
_MINUS = ("-", "\u2212")
_TIMES = ("\u22c5", "\u00b7", "\u00d7", "*", "\u2062")
_OPEN, _CLOSE = "([", ")]"
_SKIP = ("mspace", "mphantom")


class ReadError(ValueError):
    """MathML outside the subset the reader knows, or an identifier it was not told about."""


def _tag(e: ET.Element) -> str:
    return e.tag.removeprefix(_NS)


def _unwrap(e: ET.Element) -> ET.Element:
    # a row holding one element is that element
    while _tag(e) in ("mrow", "mstyle") and len(e) == 1 and not (e.text or "").strip():
        e = e[0]
    return e


def key(e: ET.Element) -> tuple:
    """An element's structure and text, attributes aside but for its font: what makes two
    spellings of a name the same."""
    e = _unwrap(e)
    return (_tag(e), (e.text or "").strip(), e.get("mathvariant"), tuple(key(c) for c in e))


def content(mathml: str) -> ET.Element:
    """The content of a ``<math>`` string as one row."""
    root = ET.fromstring(mathml)
    row = ET.Element(_NS + "mrow")
    row.extend(list(root))
    return row


class Names:
    """Symbols and functions by the MathML of their LaTeX spellings.

    ``symbols``: symbol -> its LaTeX (a TexPrinter's ``names``); ``functions``: LaTeX of a
    function's name -> a callable building the SymPy expression (``\\sigma`` -> sigmoid).
    """

    def __init__(self, symbols: Mapping[sp.Basic, str],
                 functions: Mapping[str, Callable[..., sp.Expr]] | None = None) -> None:
        self.symbols: dict[tuple, sp.Basic] = {}
        for symbol, tex in symbols.items():
            k = key(content(tex_to_mathml(tex)))
            if k in self.symbols and self.symbols[k] != symbol:
                raise ReadError(f"two symbols print as {tex!r}")
            self.symbols[k] = symbol
        self.functions = {key(content(tex_to_mathml(tex))): f for tex, f in (functions or {}).items()}
        self.functions.update({key(content(tex_to_mathml("\\" + n))): f for n, f in _ELEMENTARY.items()})

    def index(self, e: ET.Element) -> sp.Symbol:
        """A summation index: a known symbol, or a fresh one named by its letters."""
        return self.symbols.get(key(e)) or sp.Symbol("".join(e.itertext()).strip(), integer=True)


_ELEMENTARY: dict[str, Callable[..., sp.Expr]] = {
    "exp": sp.exp, "log": sp.log, "tanh": sp.tanh, "sinh": sp.sinh, "cosh": sp.cosh,
    "sin": sp.sin, "cos": sp.cos,
}


class _Function:
    def __init__(self, build: Callable[..., sp.Expr]) -> None:
        self.build = build


class _Sum:
    def __init__(self, index: sp.Symbol, low: sp.Expr, high: sp.Expr | None) -> None:
        self.index, self.low, self.high = index, low, high


def read(mathml: str | ET.Element, names: Names) -> sp.Expr:
    """The expression a MathML string (or element) writes."""
    row = content(mathml) if isinstance(mathml, str) else mathml
    return _Row(_items(row, names), names).whole()


def _items(e: ET.Element, names: Names | None = None) -> list[ET.Element]:
    """The elements of a row, rows and styles opened (but a row that is a name, σ′), spaces
    dropped."""
    out: list[ET.Element] = []
    for child in e:
        tag = _tag(child)
        if tag in _SKIP:
            continue
        named = names is not None and (key(child) in names.symbols or key(child) in names.functions)
        if tag in ("mrow", "mstyle") and not _fenced(child) and not named:
            out.extend(_items(child, names))
        else:
            out.append(child)
    return out


def _fenced(e: ET.Element) -> bool:
    return (_tag(e) == "mrow" and len(e) >= 2 and _tag(e[0]) == "mo" and _tag(e[-1]) == "mo"
            and (e[0].text or "") in _OPEN and (e[-1].text or "") in _CLOSE)


def _mo(e: ET.Element | None, texts: str | tuple) -> bool:
    return e is not None and _tag(e) == "mo" and (e.text or "").strip() in texts


class _Row:
    """A recursive-descent reader of one row: sums of products of powers and applications."""

    def __init__(self, items: list[ET.Element], names: Names) -> None:
        self.items, self.names, self.k = items, names, 0

    def peek(self) -> ET.Element | None:
        return self.items[self.k] if self.k < len(self.items) else None

    def take(self) -> ET.Element:
        e = self.peek()
        if e is None:
            raise ReadError("the row ends where an operand was expected")
        self.k += 1
        return e

    def whole(self) -> sp.Expr:
        if not self.items:
            raise ReadError("an empty row")
        value = self.sum()
        if self.peek() is not None:
            raise ReadError(f"unread after the expression: {ET.tostring(self.peek(), 'unicode')[:80]}")
        return value

    def sum(self) -> sp.Expr:
        value = self.product()
        while _mo(self.peek(), ("+", *_MINUS)):
            sign = -1 if self.take().text.strip() in _MINUS else 1
            value = value + sign * self.product()
        return value

    def product(self) -> sp.Expr:
        if _mo(self.peek(), _MINUS):
            self.take()
            return -self.product()
        factors = [self.factor()]
        while True:
            nxt = self.peek()
            if nxt is None or (_tag(nxt) == "mo" and (nxt.text or "").strip() not in _TIMES + tuple(_OPEN)):
                break
            if _mo(nxt, _TIMES):
                self.take()
            factors.append(self.factor())
        out = sp.Integer(1)
        for f in factors:
            out = out * f
        return out

    def factor(self) -> sp.Expr:
        e = self.take()
        if _mo(e, tuple(_OPEN)):
            inner = self.until_close()
            return inner
        value = _element(e, self.names)
        if isinstance(value, _Function):
            if _mo(self.peek(), FUNCTION_APPLICATION):
                self.take()
            return value.build(*self.arguments())
        if isinstance(value, _Sum):
            body = self.product()
            return sp.Sum(body, (value.index, value.low, value.high))
        return value

    def arguments(self) -> list[sp.Expr]:
        """A function's arguments: a bracketed list split at its commas, or one factor."""
        nxt = self.peek()
        if nxt is not None and _fenced(nxt):
            self.take()
            items = _items(nxt, self.names)[1:-1]
        elif _mo(nxt, tuple(_OPEN)):
            start, depth = self.k + 1, 0
            while True:
                e = self.take()
                depth += 1 if _mo(e, tuple(_OPEN)) else -1 if _mo(e, tuple(_CLOSE)) else 0
                if depth == 0:
                    break
            items = self.items[start:self.k - 1]
        else:
            return [self.factor()]
        args, start, depth = [], 0, 0
        for n, e in enumerate([*items, None]):
            depth += 1 if _mo(e, tuple(_OPEN)) else -1 if _mo(e, tuple(_CLOSE)) else 0
            if e is None or (depth == 0 and _mo(e, ",")):
                args.append(_Row(items[start:n], self.names).whole())
                start = n + 1
        return args

    def until_close(self) -> sp.Expr:
        start, depth = self.k, 1
        while depth:
            e = self.take()
            depth += 1 if _mo(e, tuple(_OPEN)) else -1 if _mo(e, tuple(_CLOSE)) else 0
        return _Row(self.items[start:self.k - 1], self.names).whole()


def _element(e: ET.Element, names: Names):
    """One element as an expression, a function to apply or a sum to open."""
    e = _unwrap(e)
    k = key(e)
    if k in names.symbols:
        return names.symbols[k]
    if k in names.functions:
        return _Function(names.functions[k])
    tag, text = _tag(e), (e.text or "").strip()
    if tag == "mn":
        fraction = Fraction(text)
        return sp.Rational(fraction.numerator, fraction.denominator)
    if tag == "mi" and text == "e":
        return sp.E
    if tag == "mrow":
        items = _items(e, names)
        if _fenced(e):
            items = items[1:-1]
        return _Row(items, names).whole()
    if tag == "mfrac":
        num, den = e
        if _partial(num) and _partial(den):
            return sp.Derivative(_row(num, names, skip=1), _row(den, names, skip=1))
        return _row(num, names) / _row(den, names)
    if tag == "msqrt":
        return sp.sqrt(_row(e, names))
    if tag in ("msubsup", "munderover", "msub", "munder") and _mo(_unwrap(e[0]), "\u2211"):
        low = _row(e[1], names, sum_index=True)
        high = _row(e[2], names) if len(e) > 2 else None
        return _Sum(*low, high)
    if tag == "msub" and key(e[0]) in names.functions:  # softmax_k: the k-th of a function
        build, index = names.functions[key(e[0])], _row(e[1], names)
        return _Function(lambda *args: build(index, *args))
    if tag == "msubsup":
        base = ET.Element(_NS + "msub")
        base.extend([e[0], e[1]])
        return _power(_element(base, names), e[2], names)
    if tag == "msup":
        return _power(_element(e[0], names), e[1], names)
    raise ReadError(f"cannot read {ET.tostring(e, 'unicode')[:120]}")


def _power(base, exponent: ET.Element, names: Names) -> sp.Expr:
    if isinstance(base, (_Function, _Sum)):
        raise ReadError("a power of a function name or a sum sign")
    return sp.Pow(base, _row(exponent, names))


def _partial(e: ET.Element) -> bool:
    items = _items(e) if _tag(e) == "mrow" else [e]
    return bool(items) and _mo(items[0], "\u2202")


def _row(e: ET.Element, names: Names, skip: int = 0, sum_index: bool = False):
    # msqrt and mtd hold an inferred row, as mrow does
    items = _items(e, names) if _tag(e) in ("mrow", "msqrt", "mtd", "mstyle") else [e]
    items = items[skip:]
    if sum_index:  # i = 1 below a sum: the index and its lower bound
        if len(items) < 3 or not _mo(items[1], "="):
            raise ReadError("a sum without i = low below it")
        return names.index(items[0]), _Row(items[2:], names).whole()
    return _Row(items, names).whole()

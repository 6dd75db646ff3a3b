"""How the notes write a formula out: a long sum across lines, a layer's indices as letters.

>>> layer_letters(-1, "i")["l"], layer_letters(0)["lp1"]
('l-1', 'l+1')
"""

from __future__ import annotations

from collections.abc import Callable

from ..printing.latex import Tex, TexPrinter
from .layout import width

__all__ = ["MAX_LINE", "TERMS_PER_LINE", "SUM_WIDTH", "broken", "broken_sum", "balanced",
           "layer_letters"]

#: A formula longer than this (in LaTeX characters) would run off the page: it is left out.
MAX_LINE = 160
#: Sums with more terms than this are broken across lines.
TERMS_PER_LINE = 4
#: A node's defining sum wider than this (in em) is broken across lines: with its left-hand
#: side it then fits a slide's row as well as a page's.
SUM_WIDTH = 30.0


def broken(terms: list[str], tex: TexPrinter) -> list[Tex]:
    """Printed terms as one line, or as many lines as keep each within MAX_LINE (of LaTeX, a
    fair proxy for width); at most TERMS_PER_LINE terms to a line.

    >>> broken(["a", "-b"], TexPrinter.__new__(TexPrinter))
    ['a - b']
    """
    whole = tex.terms(terms)
    if len(whole) <= MAX_LINE:
        return [whole]
    return balanced(terms, tex, lambda chunk: len(chunk) <= TERMS_PER_LINE
                    and len(tex.terms(chunk)) <= MAX_LINE)


def broken_sum(terms: list[str], tex: TexPrinter, limit: float = SUM_WIDTH) -> list[Tex]:
    """Printed terms on one line if it is at most ``limit`` em wide, else on as few balanced
    lines as keep each within it.

    >>> broken_sum(["a", "b", "c"], TexPrinter.__new__(TexPrinter), limit=3.0)
    ['a + b', '+ c']
    """
    return balanced(terms, tex, lambda chunk: width(tex.terms(chunk)) <= limit)


def balanced(terms: list[str], tex: TexPrinter, fits: Callable[[list[str]], bool]) -> list[Tex]:
    """The terms on the fewest lines that each ``fits``, as even as can be (the longer lines
    first), so that a sum never ends on a lone ``+ b`` under three full lines; every line after
    the first opens with its sign.

    >>> balanced(list("abcde"), TexPrinter.__new__(TexPrinter), lambda c: len(c) <= 4)
    ['a + b + c', '+ d + e']
    """
    for count in range(1, len(terms) + 1):
        size, extra = divmod(len(terms), count)
        cuts = [k * size + min(k, extra) for k in range(count + 1)]
        chunks = [terms[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
        if all(fits(chunk) for chunk in chunks):
            break
    lines = [tex.terms(chunk) for chunk in chunks]
    return [Tex(x if not k or x.startswith("-") else "+ " + x) for k, x in enumerate(lines)]


def _layer(offset: int) -> str:
    """``l``, ``l+1`` or ``l-1``: a layer index written as a textbook writes it."""
    return "l" if offset == 0 else f"l{offset:+d}"


def layer_letters(offset: int, unit: str = "i") -> dict[str, str]:
    """Notation fields for layer l+offset with the unit letter ``unit`` (never ``l-1+1``)."""
    return {"i": unit, "j": unit, "ij": unit, "ji": unit, "l": _layer(offset), "n": unit,
            "lp1": _layer(offset + 1), "lm1": _layer(offset - 1)}

"""How the notes write a formula out: a long sum across lines, a layer's indices as letters.

>>> layer_letters(-1, "i")["l"], layer_letters(0)["lp1"]
('l-1', 'l+1')
"""

from __future__ import annotations

from ..printing.latex import Tex, TexPrinter

__all__ = ["MAX_LINE", "TERMS_PER_LINE", "broken", "layer_letters"]

#: A formula longer than this (in LaTeX characters) would run off the page: it is left out.
MAX_LINE = 160
#: Sums with more terms than this are broken across lines.
TERMS_PER_LINE = 4


def broken(terms: list[str], tex: TexPrinter) -> list[Tex]:
    """Printed terms as one line, or as many lines as keep each within MAX_LINE (of LaTeX, a
    fair proxy for width); at most TERMS_PER_LINE terms to a line.

    >>> broken(["a", "-b"], TexPrinter.__new__(TexPrinter))
    ['a - b']
    """
    whole = tex.terms(terms)
    if len(whole) <= MAX_LINE:
        return [whole]
    chunks: list[list[str]] = [[]]
    for term in terms:
        if chunks[-1] and (len(chunks[-1]) == TERMS_PER_LINE
                           or len(tex.terms([*chunks[-1], term])) > MAX_LINE):
            chunks.append([])
        chunks[-1].append(term)
    lines = [tex.terms(chunk) for chunk in chunks]
    return [Tex(x if not k or x.startswith("-") else "+ " + x) for k, x in enumerate(lines)]


def _layer(offset: int) -> str:
    """``l``, ``l+1`` or ``l-1``: a layer index written as a textbook writes it."""
    return "l" if offset == 0 else f"l{offset:+d}"


def layer_letters(offset: int, unit: str = "i") -> dict[str, str]:
    """Notation fields for layer l+offset with the unit letter ``unit`` (never ``l-1+1``)."""
    return {"i": unit, "j": unit, "ij": unit, "ji": unit, "l": _layer(offset), "n": unit,
            "lp1": _layer(offset + 1), "lm1": _layer(offset - 1)}

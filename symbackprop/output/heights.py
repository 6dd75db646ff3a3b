"""How tall a slide's content prints: estimates in points, so frames are planned before TeX.

Calibrated against beamer's 16:9 frame at 11 pt: each kind of row measured in an ``align*``,
each planned frame of the gallery's decks measured as a box. Heights are at the deck's
``\\small``; the smaller sizes a section too long for its frames is set in scale them. The
PDF tests read TeX's log for any frame that still overflows.

>>> row_height([r"\\frac{\\partial L}{\\partial w}"]) > row_height(["a^{2}"]) > row_height(["a"])
True
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..document import layout

__all__ = ["Size", "NORMAL", "SMALL", "SMALLER", "SIZES", "FRAME_HEIGHT", "row_height",
           "prose_height"]

#: The height a [t] frame's body holds under its title, in pt at ``\small`` (TeX fills 211 pt),
#: less a margin for the estimates' error.
FRAME_HEIGHT = 196.0


@dataclass(frozen=True)
class Size:
    """One of the deck's type sizes: its LaTeX switch, the widest row of equations and the
    text width in its own em, and its heights as a share of ``\\small``'s."""

    command: str
    row_limit: float
    text_width: float
    scale: float


#: The deck's size, and the smaller ones a long section is set in (beamer at 11 pt: 10, 9 and
#: 8 pt type; the text is 398 pt wide, 39.8 em of ``\small``, 44.2 of ``\footnotesize``,
#: 49.7 of ``\scriptsize``).
NORMAL = Size(r"\small", 36.0, 39.8, 1.0)
SMALL = Size(r"\footnotesize", 40.0, 44.2, 0.92)
SMALLER = Size(r"\scriptsize", 45.0, 49.7, 0.88)
SIZES = (NORMAL, SMALL, SMALLER)

# Row heights in pt at \small, in an align* with its \jot (measured over the gallery's rows):
# the baseline skip; a power or index; delimiters grown around a power; a fraction; a sum
# with limits or a fraction of scripted symbols; a sum under stacked limits.
_PLAIN, _SCRIPTED, _GROWN_ROW, _FRACTION_ROW, _TALL, _STACKED = 15.0, 17.0, 22.0, 28.0, 34.0, 43.0
# Delimiters grown around a fraction, a fraction inside a fraction, and both.
_AROUND_FRACTION, _FRACTION_IN_FRACTION, _BOTH = 56.0, 60.0, 90.0
_PROSE_LINE = 12.0  # \small's baseline skip
_PROSE_EM = {"latin": 0.45, "wide": 1.0, "space": 0.3}
_BRACED = r"\{((?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*)\}"
_FRACTION = re.compile(r"\\[dt]?frac" + _BRACED + _BRACED)
_LIMITS = re.compile(r"\\(?:sum|prod)_\{[^{}]*\}\^")
_NESTED_POWER = re.compile(r"\\left[(\[][^$]*\\left[(\[][^$]*\\right[)\]]\^")
_GROWN = re.compile(r"\\left[(\[][^()]*\^")
_DELIMITED_FRACTION = re.compile(r"\\left[(\[]\s*\\frac")


def row_height(texts: list[str]) -> float:
    """The height of one align row holding ``texts``, in pt at ``\\small``."""
    s = " ".join(texts)
    fractions = _FRACTION.findall(s)
    delimited = bool(_DELIMITED_FRACTION.search(s))
    nested = any(r"\frac" in top + bottom for top, bottom in fractions)
    if delimited or nested:
        return _BOTH if delimited and nested else \
            _AROUND_FRACTION if delimited else _FRACTION_IN_FRACTION
    if r"\substack" in s or any(r"\sqrt" in bottom or r"\left" in bottom
                                  for _, bottom in fractions):
        return _STACKED
    if _LIMITS.search(s) or any("^" in top or ("^" in bottom and "_" in bottom)
                                 for top, bottom in fractions):
        return _TALL
    if fractions or r"\sum_" in s or r"\prod_" in s or _NESTED_POWER.search(s):
        return _FRACTION_ROW
    if _GROWN.search(s):
        return _GROWN_ROW
    if "^" in s or "_{" in s or r"\hat" in s or r"\bigl" in s or r"\left" in s:
        return _SCRIPTED
    return _PLAIN


def prose_height(text: str, size: Size = NORMAL) -> float:
    """A paragraph's height in pt: its words' estimated width over the frame's, line by line
    (inline math by :func:`layout.width`, Hangul a full em).

    >>> prose_height("word " * 40) > prose_height("word")
    True
    """
    em = 0.0
    for k, piece in enumerate(re.split(r"\$([^$]*)\$", text)):
        if k % 2:
            em += layout.width(piece)
            continue
        for ch in piece:
            em += _PROSE_EM["space"] if ch.isspace() else \
                _PROSE_EM["wide"] if ord(ch) > 0x2E80 else _PROSE_EM["latin"]
    lines = max(1, math.ceil(em / size.text_width))
    tall = 3.0 * lines if r"\frac" in text else 0.0
    return (lines * _PROSE_LINE + tall) * size.scale

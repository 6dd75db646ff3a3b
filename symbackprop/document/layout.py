"""How wide a formula prints, estimated from its LaTeX, so that short equations can share a row.

The estimate is in em of the surrounding font, calibrated against TeX's own widths for the
formulas the notes print (within about 10 %, on the wide side). It decides only where rows
break; the PDF tests read TeX's log for any line that would still overflow.

>>> round(width(r"\\frac{\\partial L}{\\partial w_{5}} = 0.615"), 1) < 8
True
"""

from __future__ import annotations

import functools
import re

from ..printing.latex import Tex
from .model import Equation, Equations

__all__ = ["width", "rows", "one_row", "pack", "grid_columns", "TEXT_WIDTH", "ROW_LIMIT",
           "ROW_GAP", "RELATION"]

#: The article's text width in em at 11 pt (16.6 cm).
TEXT_WIDTH = 42.0
#: The widest row the packing fills: the text width less a margin for the estimate's error.
ROW_LIMIT = 39.0
#: Space between two equations sharing a row (``\qquad`` and the alignment's gap).
ROW_GAP = 3.0
#: A relation with its spaces (`` = ``).
RELATION = 1.6

_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[{}^_]|[^\\{}^_]")
# Wide glyphs, by command; other commands print one ordinary symbol.
_COMMANDS = {"left": 0.12, "right": 0.12, "bigl": 0.0, "bigr": 0.0, "Bigl": 0.0, "Bigr": 0.0,
             "cdot": 0.8, "qquad": 2.0, "quad": 1.0, ",": 0.17, ";": 0.28, "!": -0.17,
             "partial": 0.6, "sum": 1.1, "prod": 1.0, "log": 1.3, "exp": 1.5, "tanh": 2.0,
             "operatorname": 0.0, "mathrm": 0.0, "mathbf": 0.0, "hat": 0.0, "bar": 0.0,
             "tilde": 0.0, "approx": 1.6, "odot": 1.3, "top": 0.8, "infty": 1.0,
             "eta": 0.5, "sigma": 0.6, "delta": 0.5, "alpha": 0.6, "lambda": 0.6}
_CHARS = {"=": RELATION, "+": 1.4, "-": 1.4, "(": 0.45, ")": 0.45, "[": 0.3, "]": 0.3,
          ",": 0.45, ".": 0.28, " ": 0.0, "'": 0.3, "|": 0.3}


@functools.lru_cache(maxsize=1 << 16)
def width(tex: str) -> float:
    """Estimated printed width of inline/display math ``tex``, in em."""
    # kept by text: the packing and the templates ask for the same formulas' widths again
    # (5,769 asks for 2,109 formulas in a 16-layer net's notes; a 1000-weight chain's deck,
    # planned at each size, 113,000 for 19,000, which 8,192 kept ones turned into misses)
    tokens = _TOKEN.findall(tex)
    total, _ = _group(tokens, 0, until_close=False)
    return total


def _group(tokens: list[str], k: int, until_close: bool) -> tuple[float, int]:
    total = 0.0
    scripts: list[float] = []  # a sub- and superscript stack: the wider one counts
    while k < len(tokens):
        tok = tokens[k]
        if tok == "}" and until_close:
            return total + max(scripts, default=0.0), k + 1
        if tok in ("^", "_"):
            w, k = _argument(tokens, k + 1)
            scripts.append(0.7 * w)
            continue
        total += max(scripts, default=0.0)
        scripts = []
        if tok == "{":
            w, k = _group(tokens, k + 1, until_close=True)
            total += w
        elif tok == r"\frac":
            num, k = _argument(tokens, k + 1)
            den, k = _argument(tokens, k)
            total += max(num, den) + 0.3
        elif tok.startswith("\\"):
            total += _COMMANDS.get(tok[1:], 0.7)
            k += 1
        elif tok == "-" and _unary(tokens, k):
            total += 0.8
            k += 1
        else:
            total += _CHARS.get(tok, 0.52 if tok.isdigit() else 0.72 if tok.isupper() else 0.55)
            k += 1
    return total + max(scripts, default=0.0), k


def _unary(tokens: list[str], k: int) -> bool:
    """A minus sign with nothing to subtract from (at the start, after "(", "=" or ",")."""
    before = next((t for t in reversed(tokens[:k]) if t.strip()), None)
    return before is None or before in ("(", "=", ",", "{", r"\left", r"\approx")


def _argument(tokens: list[str], k: int) -> tuple[float, int]:
    if k < len(tokens) and tokens[k] == "{":
        return _group(tokens, k + 1, until_close=True)
    if k < len(tokens):
        return _group([tokens[k]], 0, until_close=False)[0], k + 1
    return 0.0, k


def rows(eq: Equation, limit: float = ROW_LIMIT, lhs_width: float | None = None) -> list[list]:
    """``eq``'s steps packed into as few rows as fit ``limit`` em: each row a list of
    (relation, line), relation None for a broken sum's continuation. Rows fill from the end,
    so the result stays with the numbers that give it (lhs = formula, then = numbers = value);
    a step broken over several lines keeps its own rows.

    >>> from symbackprop.document.model import Step
    >>> eq = Equation("x", Tex("y"), [Step([Tex("a b")]), Step([Tex("2")])])
    >>> [[line for _, line in row] for row in rows(eq)]
    [['a b', '2']]
    """
    left = width(eq.lhs) if lhs_width is None else lhs_width
    items = []  # (relation, text, width, whether it may share a row)
    for step in eq.steps:
        for n, line in enumerate(step.lines):
            last = n == len(step.lines) - 1
            text = Tex(f"{line} \\qquad {step.note}") if step.note and last else line
            items.append((step.relation if n == 0 else None, text, width(text) + RELATION,
                          len(step.lines) == 1))
    out: list[list] = []
    used = limit + 1.0
    for relation, text, w, shares in reversed(items):
        if not (out and shares and out[0][0][2] and used + w <= limit):
            out.insert(0, [])
            used = left
        out[0].insert(0, (relation, text, shares))
        used += w
    return [[(relation, text) for relation, text, _ in row] for row in out]


def one_row(eq: Equation) -> float | None:
    """The width of ``eq`` on a single row (lhs = a = b …), or None if a step is broken."""
    if any(len(step.lines) != 1 or step.note for step in eq.steps):
        return None
    return width(eq.lhs) + sum(width(step.lines[0]) + RELATION for step in eq.steps)


def pack(equations: list[Equation], limit: float = ROW_LIMIT, reorder: bool = False,
         kinds: list | None = None) -> list[Equations]:
    """Consecutive equations that fit a half (or third) row set side by side, the rest each
    on as few rows as fit: a worked example's many short lines take a table's room.
    ``reorder``: the order does not matter (a list of values), so the short ones go first.
    ``kinds`` (one per equation): a row never mixes two kinds (weighted sums and activations).

    >>> from symbackprop.document.model import Step
    >>> short = [Equation(str(k), Tex("a"), [Step([Tex("1")])]) for k in range(4)]
    >>> [(b.columns, len(b.equations)) for b in pack(short)]
    [(3, 4)]
    """
    def columns(eq: Equation) -> int:
        w = one_row(eq)
        if w is None or w > (limit - ROW_GAP) / 2:
            return 1
        return 3 if w <= (limit - 2 * ROW_GAP) / 3 else 2

    kind_of = {id(eq): k for eq, k in
               zip(equations, kinds or [None] * len(equations), strict=True)}
    if reorder:
        equations = sorted(equations, key=lambda eq: columns(eq) == 1)
    blocks: list[Equations] = []
    run: list[Equation] = []

    def flush() -> None:
        width = min(map(columns, run), default=1)
        if len(run) > 1 and blocks and blocks[-1].columns == width:
            # Another kind in the same grid: one display, a new row.
            blocks[-1].breaks.append(len(blocks[-1].equations))
            blocks[-1].equations.extend(run)
        elif len(run) > 1:
            blocks.append(Equations(list(run), columns=width, compact=True))
        elif run and blocks and blocks[-1].columns == 1:
            blocks[-1].equations.extend(run)  # one display, not two a paragraph apart
        elif run:
            blocks.append(Equations(list(run), compact=True))
        run.clear()

    for eq in equations:
        if columns(eq) > 1:
            if run and kind_of[id(run[-1])] != kind_of[id(eq)]:
                flush()
            run.append(eq)
            continue
        flush()
        if blocks and blocks[-1].columns == 1:
            blocks[-1].equations.append(eq)
        else:
            blocks.append(Equations([eq], compact=True))
    flush()
    return blocks


def grid_columns(equations: list[Equation], limit: float = ROW_LIMIT, most: int = 3,
                 gap: float = ROW_GAP) -> int:
    """How many of ``equations`` (each ``lhs = its first step``) fit side by side in ``limit``
    em, at most ``most``: a grid of local derivatives as wide as the page allows, no wider.

    >>> from symbackprop.document.model import Step
    >>> short = [Equation(str(k), Tex("a"), [Step([Tex("1")])]) for k in range(9)]
    >>> grid_columns(short), grid_columns(short, limit=12.0)
    (3, 2)
    """
    widest = max(width(eq.lhs) + RELATION + width(eq.steps[0].lines[0]) for eq in equations)
    return max(1, min(most, len(equations), int((limit + gap) // (widest + gap))))

"""LaTeX math as tokens, and a name's spelling without its braces, spaces and styling.

The reader (latexparse) reads a side token by token; the symbol table (spellings) and grade's
claim keys compare names by their :func:`canonical` spelling, so that ``w_{5}``, ``w_5`` and
``w_{ 5 }`` are one name.

>>> tokens(r"\\frac{x_1}{2} + 0.5σ")
['\\\\frac', '{', 'x', '_', '1', '}', '{', '2', '}', '+', '0.5', '\\\\sigma']
"""

from __future__ import annotations

import re

__all__ = ["UNICODE", "tokens", "canonical"]

UNICODE = {"ŷ": r"\hat{y}", "σ": r"\sigma", "η": r"\eta", "δ": r"\delta", "∂": r"\partial",
           "·": r"\cdot", "×": r"\times", "−": "-", "′": "'", "≈": r"\approx", "α": r"\alpha"}

_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|\d+\.\d*|\.\d+|\d+|[A-Za-z]|\S", re.S)


def tokens(text: str) -> list[str]:
    """``text`` as LaTeX tokens: control words, numbers, letters, single characters."""
    for u, latex in UNICODE.items():
        text = text.replace(u, f" {latex} ")
    return _TOKEN.findall(text)


def canonical(spelling: str) -> str:
    """A name's spelling with braces, spaces and styling removed: ``w_{5}`` → ``w_5``.

    >>> canonical(r"\\hat{y}_{1}"), canonical(r"W^{[1]}_{11}"), canonical(r"x_1^{(0)}")
    ('\\\\hat{y}_1', 'W_11^[1]', 'x_1^(0)')
    """
    toks = [t for t in tokens(spelling) if t not in (r"\,", r"\;", r"\!", r"\ ")]
    base, sub, sup, k = [], "", "", 0
    while k < len(toks) and toks[k] not in "_^":
        base.append(toks[k])
        k += 1
    last = "_"
    while k < len(toks):
        mark = toks[k]
        k += 1
        if mark in "_^":
            group, k = _group(toks, k)
            last = mark
        else:  # plain text after a subscript (``delta_z3``): it continues that subscript
            group = [mark]
        text = "".join(t for t in group if t not in "{}")
        if last == "_":
            sub += text
        else:
            sup += text
    head = "".join(base).replace(" ", "")
    head = re.sub(r"\\(mathbf|boldsymbol|bm|mathrm|mathit)\{?([^{}]*)\}?", r"\2", head)
    head = re.sub(r"\\(hat|bar|tilde|vec|widehat|check|dot)([A-Za-z])$", r"\\\1{\2}", head)
    return head + (f"_{sub}" if sub else "") + (f"^{sup}" if sup else "")


def _group(toks: list[str], k: int) -> tuple[list[str], int]:
    """The tokens of one group starting at k (braced or a single token)."""
    if k >= len(toks):
        return [], k
    if toks[k] != "{":
        return [toks[k]], k + 1
    depth, start = 0, k
    while k < len(toks):
        depth += {"{": 1, "}": -1}.get(toks[k], 0)
        k += 1
        if depth == 0:
            break
    return toks[start + 1:k - 1], k

"""Limits of a spec, SpecError, and the message helpers every part of the reader words its
errors with (``clip``, ``show``, ``got``, ``subkey``, ``suggest``...), so that all say the same."""

from __future__ import annotations

import difflib
import json
import re
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from ...core.errors import SymbackpropError

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
#: A constant computed by a power (2^16, (1/3)^5, ...) must fit in this many bits.
MAX_CONSTANT_BITS = 1024


class SpecError(SymbackpropError, ValueError):
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
def clip(text: str, limit: int = 40) -> str:
    """``text``, cut to ``limit`` characters with an ellipsis: user text may be any length."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show(value: Any) -> str:
    """A short, one-line, TOML-like rendering of a value for an error message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(clip(value), ensure_ascii=True)
    if isinstance(value, int | float):
        return clip(repr(value))
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return clip(str(value))


def type_name(value: Any) -> str:
    """What a TOML value is, in words: ``"an integer"``, ``"a table"``, ``"a date/time"``."""
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


def got(value: Any) -> str:
    """What a message says after "got": the kind and, for a scalar, the value itself.

    >>> got(0), got("x"), got([1])
    ('0', 'a string "x"', 'an array')
    """
    if isinstance(value, dict | list | datetime | date | time):
        return type_name(value)
    return f"{type_name(value)} {show(value)}" if isinstance(value, str) else show(value)


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def subkey(parent: str, child: str | int) -> str:
    """The key of ``child`` inside ``parent`` as a message names it (quoted if not a bare key).

    >>> subkey("network.sizes", 1), subkey("values", "x1"), subkey("values", "a b")
    ('network.sizes[1]', 'values.x1', 'values."a b"')
    """
    if isinstance(child, int):
        return f"{parent}[{child}]"
    part = child if _BARE_KEY.match(child) else json.dumps(clip(child), ensure_ascii=True)
    return f"{parent}.{part}" if parent else part


def suggest(word: str, choices) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices`` to a misspelt ``word``, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1) if len(word) < 100 else []
    return f" (did you mean {close[0]!r}?)" if close else ""


def listing(items, limit: int = 12) -> str:
    """The first ``limit`` items, comma-separated, and how many there are if that is not all."""
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (f", … ({len(items)} in all)" if len(items) > limit else "")


SpecError.__module__ = "symbackprop.spec"  # users catch and see it as symbackprop.spec.SpecError

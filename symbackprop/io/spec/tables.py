"""Typed access to a spec's TOML tables: each value checked as it is read, each failure a
SpecError naming the file and the key. The readers of [network], [graph] and the top level share
it."""

from __future__ import annotations

import math
from typing import Any

from ...printing.latex import untypesettable
from .errors import MAX_NAMES, MAX_TEXT_CHARS, SpecError, got, show, subkey, suggest
from .spelling import latex_problem


class TableReader:
    """Typed access to the TOML data, every failure a SpecError naming the file and key.

    >>> TableReader("seed.toml").number("0.1", "training.learning_rate")
    Traceback (most recent call last):
    ...
    symbackprop.spec.SpecError: seed.toml: training.learning_rate: expected a number, got a string "0.1"
    """  # noqa: E501

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, key: str, reason: str) -> SpecError:
        """The SpecError for ``key`` (the empty key: the file as a whole)."""
        return SpecError(reason, self.source, key or None)

    def table(self, value: Any, key: str, allowed: tuple[str, ...], required=()) -> dict:
        """``value`` if it is a table of only the ``allowed`` keys, with the ``required`` ones."""
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table, got {got(value)}")
        for name in value:
            if name not in allowed:
                where = f"[{key}]" if key else "the top level"
                raise self.error(
                    subkey(key, name),
                    f"unknown key{suggest(name, allowed)}; expected one of: "
                    f"{', '.join(allowed)} in {where}",
                )
        for name in required:
            if name not in value:
                raise self.error(key, f"missing key {name!r}")
        return value

    def text(self, value: Any, key: str, limit: int = MAX_TEXT_CHARS) -> str:
        """``value`` if it is a string of at most ``limit`` characters, without control characters."""
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {got(value)}")
        if len(value) > limit:
            raise self.error(key, f"the text is {len(value)} characters long; the limit is {limit}")
        if any(ord(c) < 32 and c not in "\t\n" or ord(c) == 127 for c in value):
            raise self.error(key, "control characters are not allowed")
        return value

    def prose(self, value: Any, key: str, language: str = "en") -> str:
        """Text that documents print (a title): refused up front if TeX cannot typeset it."""
        text = self.text(value, key)
        bad = untypesettable(text, language)
        if bad:
            raise self.error(key, f"the character {bad} cannot be typeset in the documents")
        return text

    def choice(self, value: Any, key: str, choices, what: str) -> str:
        """``value`` if it is one of the strings ``choices`` (``what`` names them in the message)."""
        if not isinstance(value, str):
            raise self.error(key, f"expected {what} as a string, got {got(value)}")
        if value not in choices:
            raise self.error(
                key, f"unknown {what} {show(value)}{suggest(value, choices)}; expected one "
                f"of: {', '.join(choices)}"
            )
        return value

    def number(self, value: Any, key: str) -> float:
        """``value`` as a float, if it is a finite integer or float (a boolean is not)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"expected a number, got {got(value)}")
        if not math.isfinite(value):
            raise self.error(key, f"expected a finite number, got {show(value)}")
        return float(value)

    def array(self, value: Any, key: str, limit: int = MAX_NAMES) -> list:
        """``value`` if it is an array of at most ``limit`` entries."""
        if not isinstance(value, list):
            raise self.error(key, f"expected an array, got {got(value)}")
        if len(value) > limit:
            raise self.error(key, f"{len(value)} entries; the limit is {limit}")
        return value


def latex_table(value: Any, key: str, r: TableReader) -> dict[str, str]:
    """A ``latex = { name = "spelling" }`` table, every spelling safe (its names are the
    caller's to check: a [network] and a [graph] know different ones)."""
    if not isinstance(value, dict):
        raise r.error(key, f"expected a table of name = LaTeX spelling, got {got(value)}")
    if len(value) > MAX_NAMES:
        raise r.error(key, f"{len(value)} entries; the limit is {MAX_NAMES}")
    for name, spelling in value.items():
        problem = latex_problem(spelling)
        if problem:
            raise r.error(subkey(key, name), problem)
    return value

"""LaTeX converted once per shape of its numbers: a deep net's formulas repeat a few shapes
(w_{1} … w_{1000}, every σ(z_{k})), and a converter that reads a number only as a number
(latex2mathml's ``<mn>``) gives the same text for each, but for its numbers.

A formula's numbers, where the converter reads each one whole, are replaced by codes (the
k-th number 7170kkkk, a decimal 7170kkkk.5); the shape is converted once and each code put
back. A formula whose commands are not all in the caller's safe set, or whose codes do not
each come back once, is converted as it stands.

>>> calls = []
>>> def convert(tex, display):
...     calls.append(tex)
...     return f"<mn>{tex}</mn>"
>>> shapes = NumberShapes(convert, frozenset())
>>> shapes("12", False), shapes("3.5", False), shapes("7", False)
('<mn>12</mn>', '<mn>3.5</mn>', '<mn>7</mn>')
>>> calls
['71700000', '71700000.5']
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["NumberShapes"]

_COMMAND_NAME = re.compile(r"\\([A-Za-z]+)")
#: A number where latex2mathml's tokenizer reads one whole (its ``number``): not the one
#: digit after _ or ^, a dimension (4pt), a dotted run, or \frac's bare argument.
_NUMBER = re.compile(r"(?<![\d._^])\d+(?:\.\d+)?(?![\d.])"
                     r"(?!\s*(?:in|mm|cm|pt|em|ex|pc|bp|dd|cc|sp|mu))")
_BARE_FRACTION = re.compile(r"\\[cdt]?frac\s*[.\d]")
_CODE = re.compile(r"(?<![\d.])7170(\d{4})(\.5)?(?![\d.])")
#: Kept conversions per cache before it starts again (a bound on memory, not a tuning knob).
_KEPT = 1 << 16


class NumberShapes:
    """``convert(tex, display)`` kept per formula, and computed once per shape of numbers
    where every command of the formula is in ``safe`` (ones whose output owes nothing to
    the numbers beside them)."""

    def __init__(self, convert: Callable[[str, bool], str], safe: frozenset[str]) -> None:
        self._convert, self._safe = convert, safe
        self._texts: dict[tuple[str, bool], str] = {}
        self._shapes: dict[tuple[str, bool], str] = {}

    def forget(self) -> None:
        """Empty both caches (a benchmark's cold start)."""
        self._texts.clear()
        self._shapes.clear()

    def __call__(self, tex: str, display: bool) -> str:
        key = (tex, display)
        if key not in self._texts:
            if len(self._texts) > _KEPT:
                self._texts.clear()
            self._texts[key] = self._by_shape(tex, display)
        return self._texts[key]

    def _by_shape(self, tex: str, display: bool) -> str:
        numbers = _NUMBER.findall(tex)
        if not numbers or len(numbers) > 9999 or _BARE_FRACTION.search(tex) \
                or not set(_COMMAND_NAME.findall(tex)) <= self._safe:
            return self._convert(tex, display)
        count = iter(range(len(numbers)))
        shape = _NUMBER.sub(
            lambda m: f"7170{next(count):04d}" + (".5" if "." in m.group() else ""), tex)
        if (shape, display) not in self._shapes:
            if len(self._shapes) > _KEPT:
                self._shapes.clear()
            self._shapes[shape, display] = self._convert(shape, display)
        seen: list[int] = []

        def back(m: re.Match) -> str:
            k = int(m.group(1))
            if k >= len(numbers) or bool(m.group(2)) != ("." in numbers[k]):
                seen.append(-1)
                return m.group()
            seen.append(k)
            return numbers[k]

        out = _CODE.sub(back, self._shapes[shape, display])
        # each number back once, where the converter put its code: else the shape hid
        # something (a code split, styled or dropped), and the formula goes as it stands
        return out if sorted(seen) == list(range(len(numbers))) else self._convert(tex, display)

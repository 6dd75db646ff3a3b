"""The lock before ``exec``: generated code may use only the names its generator writes.

No user text reaches the equations the generators print (names are W1, delta2, a quantity's
identifier from a builder, never a spec's key), so this is a second lock behind the first: the
matrix evaluator and the general form's batched evaluator both pass their source through it
before they compile it.

>>> assert_engine_made("def f(A):\\n    return A", {"def", "return", "f", "A"})
>>> assert_engine_made("def f(A):\\n    return os", {"def", "return", "f", "A"})
Traceback (most recent call last):
RuntimeError: generated code uses an unexpected name 'os'
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Set

__all__ = ["assert_engine_made"]


def assert_engine_made(source: str, allowed: Set[str], generated: re.Pattern | None = None,
                       *, attributes: bool = False, identifier_strings: bool = False) -> None:
    """Refuse ``source`` if it names anything outside ``allowed`` (or matching ``generated``);
    ``attributes``: a name after a dot is the namespace's own and passes;
    ``identifier_strings``: every string literal must be an identifier (a quantity's key)."""
    previous = None
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        after_dot, previous = previous == ".", tok.string
        if tok.type == tokenize.NAME and tok.string not in allowed \
                and not (attributes and after_dot) \
                and not (generated is not None and generated.fullmatch(tok.string)):
            raise RuntimeError(f"generated code uses an unexpected name {tok.string!r}")
        if identifier_strings and tok.type == tokenize.STRING \
                and not tok.string[1:-1].isidentifier():
            raise RuntimeError(f"generated code uses an unexpected string {tok.string}")

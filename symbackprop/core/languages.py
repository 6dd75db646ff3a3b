"""The languages documents are written in (their catalogs live in output/locales).

>>> check_language("ko")
'ko'
"""

from __future__ import annotations

__all__ = ["LANGUAGES", "check_language"]

#: The languages that ship, English first (the templates' own language).
LANGUAGES: tuple[str, ...] = ("en", "ko")


def check_language(language: str) -> str:
    """``language`` if it ships, else a one-line ValueError naming the ones that do.

    >>> check_language("ko")
    'ko'
    """
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; expected one of: {', '.join(LANGUAGES)}")
    return language

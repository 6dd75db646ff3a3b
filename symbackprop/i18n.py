"""Languages of the documents: gettext catalogs for the prose that the templates say.

Every sentence a document prints lives in a jinja2 template, inside ``<% trans %>`` or
``_()``; a language is a compiled catalog ``locales/<lang>/LC_MESSAGES/symbackprop.mo``.
English is the templates' own text. Adding a language is adding a catalog (docs/templates.md):
nothing in the engine changes.

>>> translations("ko").gettext("The network")
'신경망'
>>> translations("en").gettext("The network")
'The network'
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path

__all__ = ["LANGUAGES", "DOMAIN", "translations", "locale_dir", "check_language"]

#: The languages that ship, English first (the templates' own language).
LANGUAGES: tuple[str, ...] = ("en", "ko")
DOMAIN = "symbackprop"


def locale_dir() -> Path:
    """The folder holding ``<lang>/LC_MESSAGES/symbackprop.mo``."""
    return Path(__file__).resolve().parent / "locales"


def check_language(language: str) -> str:
    """``language`` if it ships, else a one-line ValueError naming the ones that do.

    >>> check_language("ko")
    'ko'
    """
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; expected one of: {', '.join(LANGUAGES)}")
    return language


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The catalog for ``language`` (``en``: the templates' text as written)."""
    check_language(language)
    try:
        return gettext.translation(DOMAIN, localedir=str(locale_dir()), languages=[language])
    except OSError:
        raise ValueError(f"the catalog for language {language!r} is missing from "
                         f"{locale_dir()}") from None

"""The documents' catalogs: gettext translations of the prose the templates say.

Every sentence a document prints lives in a jinja2 template, inside ``<% trans %>`` or
``_()``; a language is a compiled catalog ``output/locales/<lang>/LC_MESSAGES/symbackprop.mo``,
shipped as a package resource. English is the templates' own text. Adding a language is adding
a catalog (docs/templates.md): nothing in the engine changes.

>>> translations("ko").gettext("The network")
'신경망'
>>> translations("en").gettext("The network")
'The network'
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path

from ..core.languages import check_language

__all__ = ["DOMAIN", "translations", "locale_dir"]

DOMAIN = "symbackprop"


def locale_dir() -> Path:
    """The folder holding ``<lang>/LC_MESSAGES/symbackprop.mo``."""
    return Path(__file__).resolve().parent / "locales"


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The catalog for ``language`` (``en``: the templates' text as written)."""
    check_language(language)
    try:
        return gettext.translation(DOMAIN, localedir=str(locale_dir()), languages=[language])
    except OSError:
        raise ValueError(f"the catalog for language {language!r} is missing from "
                         f"{locale_dir()}") from None

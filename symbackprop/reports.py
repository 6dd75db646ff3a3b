"""Text reports (grade, lint) and quiz text rendered from templates, with gettext hooks.

Every sentence lives in templates/*.txt.j2 or *.xml.j2 inside ``_()`` / ``{% trans %}``; this
module only builds the environment. ``language`` is passed down so that a catalog can be wired
in (``symbackprop.i18n.translations``) without touching the callers; until then English.

>>> text("_slips.txt.j2", "en", macro="slip_text", args=("sign", {}))
'a sign'
"""

from __future__ import annotations

from functools import lru_cache

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from .render import template_dir

__all__ = ["environment", "render_text", "text"]


@lru_cache(maxsize=8)
def environment(language: str = "en", xml: bool = False) -> jinja2.Environment:
    """A sandboxed environment with ``jinja2.ext.i18n``; XML templates are escaped for XML."""
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=xml,
    )
    translations = None
    try:  # the documents helper's catalogs, where present
        from .i18n import translations as _catalog  # type: ignore[import-not-found]

        translations = _catalog(language)
    except (ImportError, LookupError, OSError):
        translations = None
    if translations is not None:
        env.install_gettext_translations(translations, newstyle=True)
    else:
        env.install_null_translations(newstyle=True)
    return env


def render_text(template: str, language: str = "en", **context) -> str:
    """Render one of our text or XML templates."""
    return environment(language, template.endswith(".xml.j2")).get_template(template).render(
        **context)


def text(template: str, language: str = "en", *, macro: str, args: tuple = ()) -> str:
    """One macro of a template as a string (a slip's name as a phrase, for example)."""
    module = environment(language).get_template(template).make_module()
    return str(getattr(module, macro)(*args)).strip()

"""Text reports (grade, lint) and quiz text rendered from templates, with gettext hooks.

Every sentence lives in templates/*.txt.j2 or *.xml.j2 inside ``_()`` / ``{% trans %}``; this
module only builds the environment. ``language`` is passed down so that a catalog can be wired
in (``symbackprop.output.i18n.translations``) without touching the callers; until then English.

>>> text("_slips.txt.j2", "en", macro="slip_text", args=("sign", {}))
'a sign'
"""

from __future__ import annotations

import html
from functools import lru_cache

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from .render import template_dir

__all__ = ["environment", "latex_environment", "render_text", "text"]


@lru_cache(maxsize=8)
def environment(language: str = "en") -> jinja2.Environment:
    """A sandboxed environment with ``jinja2.ext.i18n`` and an ``html`` escaping filter.

    Text reports are plain; the Moodle template passes every value through ``|html`` (its
    question texts are HTML inside XML).
    """
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=False,
    )
    env.filters["html"] = lambda value: html.escape(str(value), quote=True)
    _install(env, language)
    return env


def latex_environment(language: str = "en", templates=None) -> jinja2.Environment:
    """render.py's LaTeX environment (its delimiters and escaping) with ``jinja2.ext.i18n``."""
    from ..printing.latex import Tex
    from .render import environment as tex_environment

    env = tex_environment(templates=templates)
    env.add_extension("jinja2.ext.i18n")
    env.filters["tex"] = Tex  # LaTeX the engine printed: passed through unescaped
    _install(env, language)
    return env


def _install(env: jinja2.Environment, language: str) -> None:
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


def render_text(template: str, language: str = "en", **context) -> str:
    """Render one of our text or XML templates."""
    return environment(language).get_template(template).render(**context)


def text(template: str, language: str = "en", *, macro: str, args: tuple = ()) -> str:
    """One macro of a template as a string (a slip's name as a phrase, for example)."""
    module = environment(language).get_template(template).make_module()
    return str(getattr(module, macro)(*args)).strip()

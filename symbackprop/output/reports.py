"""Text reports (grade, lint), the Moodle quiz and the quiz key, rendered from templates.

Every sentence lives in templates/*.txt.j2, *.xml.j2 or *.tex.j2 inside ``_()`` /
``trans`` blocks, translated by the catalog of the ``language`` each function is given; the
environments come from the one factory, :func:`.environment.template_environment`.

>>> text("_slips.txt.j2", "en", macro="slip_text", args=("sign", {}))
'a sign'
"""

from __future__ import annotations

import html
from functools import lru_cache
from pathlib import Path

import jinja2

from ..printing.latex import Tex
from .environment import STANDARD_DELIMITERS, template_environment
from .render import environment as document_environment

__all__ = ["text_environment", "latex_environment", "render_text", "text"]


@lru_cache(maxsize=8)
def text_environment(language: str = "en") -> jinja2.Environment:
    """The text and XML templates' environment (jinja2's own delimiters, values printed as
    given) with an ``html`` escaping filter: the Moodle template passes every value through
    ``|html`` (its question texts are HTML inside XML)."""
    env = template_environment(language, delimiters=STANDARD_DELIMITERS)
    env.filters["html"] = lambda value: html.escape(str(value), quote=True)
    return env


def latex_environment(language: str = "en",
                      templates: str | Path | None = None) -> jinja2.Environment:
    """The documents' LaTeX environment (render.environment) with a ``tex`` filter that marks
    LaTeX the engine printed, to pass it through unescaped."""
    env = document_environment(templates=templates, language=language)
    env.filters["tex"] = Tex
    return env


def render_text(template: str, language: str = "en", **context) -> str:
    """Render one of our text or XML templates."""
    return text_environment(language).get_template(template).render(**context)


def text(template: str, language: str = "en", *, macro: str, args: tuple = ()) -> str:
    """One macro of a template as a string (a slip's name as a phrase, for example)."""
    module = text_environment(language).get_template(template).make_module()
    return str(getattr(module, macro)(*args)).strip()

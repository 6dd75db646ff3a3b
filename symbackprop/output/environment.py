"""The one factory of the jinja2 environments that every template we ship is rendered in.

Two template families live in ``templates/``. The documents (notes, slides, Markdown, exercise
sheets) and the quiz key are LaTeX or Markdown written with LaTeX-safe delimiters (``<< var >>``,
``<% block %>``, ``<# comment #>``) so that TeX's braces stay braces, and every value they print
is escaped for their format unless it is engine-made math (:class:`~symbackprop.printing.latex.Tex`).
The reports (lint, grade) and the Moodle quiz are text and XML in jinja2's own delimiters,
printed as given. Both are sandboxed, refuse undefined names, and speak their language's catalog
through jinja2's i18n extension (``_()`` and ``trans`` blocks).

>>> env = template_environment("ko")
>>> env.from_string("{{ _('The network') }}").render()
'신경망'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from ..core.errors import RenderError
from ..printing.latex import Tex, widths_latex
from .i18n import translations, with_particles

__all__ = ["Delimiters", "LATEX_SAFE_DELIMITERS", "STANDARD_DELIMITERS", "template_dir",
           "template_environment"]


@dataclass(frozen=True)
class Delimiters:
    """The (start, end) strings of a template family's blocks, variables and comments."""

    block: tuple[str, str]
    variable: tuple[str, str]
    comment: tuple[str, str]


#: The documents' and the quiz key's: none of them means anything to TeX.
LATEX_SAFE_DELIMITERS = Delimiters(("<%", "%>"), ("<<", ">>"), ("<#", "#>"))
#: jinja2's own, for the text reports and the Moodle XML.
STANDARD_DELIMITERS = Delimiters(("{%", "%}"), ("{{", "}}"), ("{#", "#}"))


def template_dir() -> Path:
    """Our templates, a resource of this package (symbackprop/output/templates)."""
    here = Path(__file__).resolve().parent / "templates"
    if (here / "article.tex.j2").is_file():
        return here
    raise RenderError(f"symbackprop's templates are missing (looked in {here})")


def template_environment(language: str = "en", *,
                         delimiters: Delimiters = STANDARD_DELIMITERS,
                         escape: Callable[[str], str] | None = None,
                         templates: str | Path | None = None,
                         math: Callable[[str], str] | None = None) -> jinja2.Environment:
    """A sandboxed environment over our templates (a user's ``templates`` folder searched
    first), speaking ``language``'s catalog, with the template family's ``delimiters``.

    ``escape`` (for LaTeX, Markdown or HTML) is applied to every printed value but Tex and
    macro output, and makes the filters ``m``, ``mlist`` and ``mathtext`` that put values into
    a translated sentence; without it values print as given. ``math`` prints inline math
    (default ``$…$``; HTML gives MathML), and with it a Tex printed as it stands is printed so
    too (LaTeX prints Tex as it is, inside its own displays).
    """
    folders = [str(template_dir())]
    if templates is not None:
        user = Path(templates)
        if not user.is_dir():
            raise RenderError(f"template folder {str(user)!r} does not exist")
        folders.insert(0, str(user))
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(folders),
        block_start_string=delimiters.block[0], block_end_string=delimiters.block[1],
        variable_start_string=delimiters.variable[0], variable_end_string=delimiters.variable[1],
        comment_start_string=delimiters.comment[0], comment_end_string=delimiters.comment[1],
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined, autoescape=escape is not None,
        finalize=None if escape is None else _finalizer(escape, math),
        extensions=["jinja2.ext.i18n", "jinja2.ext.do"],
    )
    env.install_gettext_translations(translations(language), newstyle=True)
    for name in ("gettext", "ngettext"):  # 을(를) in a Korean message: 을 or 를 by the word before
        env.globals[name] = with_particles(env.globals[name])
    env.globals["language"] = language
    if escape is not None:
        _install_math_filters(env, escape, math or _dollars)
    return env


def _dollars(tex: str) -> str:
    return f"${tex}$"


def _finalizer(escape: Callable[[str], str],
               math: Callable[[str], str] | None) -> Callable[[object], Markup]:
    # Autoescape is on so that macro output comes back as Markup; finalize then escapes every
    # other value for the output format itself (LaTeX's or Markdown's escaping, not HTML's,
    # unless the format is HTML) by returning Markup.
    def finalize(value: object) -> Markup:
        if isinstance(value, Markup):
            return value
        if isinstance(value, Tex):
            return Markup(value if math is None else math(value))
        return Markup(escape("" if value is None else str(value)))

    return finalize


def _install_math_filters(env: jinja2.Environment, escape: Callable[[str], str],
                          inline: Callable[[str], str]) -> None:
    # Values entering a translated sentence must already be Markup (gettext's % would escape
    # them for HTML): math becomes inline math, text is escaped for the output format.
    def math(value) -> Markup:
        return Markup(inline(value)) if isinstance(value, Tex) else Markup(escape(str(value)))

    def math_list(values) -> Markup:
        return Markup(", ").join(math(v) for v in values)

    env.filters["m"] = math
    env.filters["mlist"] = math_list
    env.filters["mathtext"] = lambda v: Markup(inline(str(v)))
    env.filters["widths"] = widths_latex  # a list of layer widths, long runs braced

"""Turning a Document into text with jinja2, and LaTeX into PDF.

The documents' jinja2 environment (made by :mod:`.environment`, as every other) uses LaTeX-safe
delimiters (``<< var >>``, ``<% block %>``, ``<# comment #>``) so that TeX's braces stay braces,
and escapes every printed value unless it is engine-made math
(:class:`~symbackprop.printing.latex.Tex`). A user's template folder is searched before ours, so
any template can be overridden by a file of the same name.

>>> import symbackprop as sb
>>> tex = sb.render(sb.derive(sb.mlp([2, 2, 1])), kind="article", title="50% & more")
>>> r"50\\% \\& more" in tex
True
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import jinja2

from ..check.worked import WorkedExample, worked_example
from ..core import ops
from ..core.errors import RenderError
from ..core.graph import Graph
from ..core.languages import check_language
from ..derivation.reverse import Derivation, derive
from ..document import Document, build_document, layout
from ..printing.latex import Tex, escape_latex, escape_markdown
from . import deck
from .environment import LATEX_SAFE_DELIMITERS, template_dir, template_environment
from .html import html_environment, html_frames

__all__ = ["render", "compile_pdf", "environment", "template_dir", "have_tex", "RenderError",
           "section_title", "paragraph_text", "tex_engine",
           "KINDS", "HTML_KINDS"]

KINDS = {
    "article": "article.tex.j2",
    "slides": "slides.tex.j2",
    "fragment": "fragment.tex.j2",
    "markdown": "notes.md.j2",
    "html": "notes.html.j2",
    "html-slides": "slides.html.j2",
}
#: The kinds that are one self-contained HTML page (output/html.py).
HTML_KINDS = ("html", "html-slides")


def _relation(r: str) -> str:
    return Tex("=" if r == "=" else r)


def environment(markdown: bool = False, templates: str | Path | None = None,
                language: str = "en", html: bool = False) -> jinja2.Environment:
    """The documents' jinja2 environment (:func:`.environment.template_environment` with
    LaTeX-safe delimiters, escaping for LaTeX, Markdown or, with ``html``, HTML with MathML
    (:func:`.html.html_environment`), user folder first, ``language``'s catalog) and the
    filters the document templates use."""
    if html:
        env = html_environment(language, templates)
    else:
        env = template_environment(language, delimiters=LATEX_SAFE_DELIMITERS,
                                   escape=escape_markdown if markdown else escape_latex,
                                   templates=templates)
    env.tests["tex"] = lambda v: isinstance(v, Tex)
    env.filters["relation"] = _relation
    env.filters["width"] = layout.width
    env.filters["rows"] = layout.rows
    env.globals["row_limit"] = layout.ROW_LIMIT
    # an activation's name in a sentence: the registry's message, which the catalog translates
    env.filters["activation_prose"] = lambda k: ops.ACTIVATIONS[k].prose \
        if k in ops.ACTIVATIONS else k
    env.filters["loss_prose"] = lambda k: ops.LOSSES[k].prose if k in ops.LOSSES else k
    return env


@functools.lru_cache(maxsize=8)
def _our_environment(markdown: bool, language: str, html: bool = False) -> jinja2.Environment:
    # Our own templates' environment, made once per process: jinja2 compiles each template
    # once per environment, and compiling the article's was 0.4 s of every render (its
    # loader still reloads a template whose file changed).
    return environment(markdown=markdown, language=language, html=html)


def render(
    obj: Derivation | Graph | WorkedExample | Document,
    kind: str = "article",
    *,
    values: Mapping | None = None,
    learning_rate: float = 0.1,
    digits: int = 3,
    rounding: str = "display",
    title: str | None = None,
    author: str = "",
    templates: str | Path | None = None,
    appendix: bool = True,
    contrast: bool = False,
    matrix: bool | None = None,
    only: list[str] | None = None,
    full: bool = False,
    abstract: bool = True,
    language: str = "en",
) -> str:
    """Render notes as LaTeX (``article``, ``slides``, ``fragment``), ``markdown``, or one
    self-contained HTML page: ``html`` (the notes), ``html-slides`` (the deck).

    ``obj`` is a graph, a derivation, a worked example (its numbers are included) or a built
    Document. With ``values`` a worked example is added. ``language`` is ``"en"`` or ``"ko"``
    (see :data:`symbackprop.output.i18n.LANGUAGES`); ``only`` names the parameters whose whole chain
    is written out, ``full`` writes out every one.

    >>> import symbackprop as sb
    >>> md = sb.render(sb.mlp([1, 1]), kind="markdown")
    >>> md.splitlines()[0].endswith("multilayer perceptron")
    True
    """
    if kind not in KINDS:
        raise RenderError(f"unknown kind {kind!r}; expected one of: {', '.join(KINDS)}")
    if isinstance(obj, Document):
        doc = obj
    else:
        example = obj if isinstance(obj, WorkedExample) else None
        d = example.derivation if example else (obj if isinstance(obj, Derivation) else derive(obj))
        if example is None and values is not None:
            example = worked_example(d, values, learning_rate=learning_rate, digits=digits,
                                     rounding=rounding)
        doc = build_document(d, example, title=title, author=author, appendix=appendix,
                             contrast=contrast, matrix=matrix, only=only, full=full,
                             abstract=abstract, language=language)
    language = doc.language if isinstance(obj, Document) else language
    html = kind in HTML_KINDS
    env = (_our_environment(kind == "markdown", language, html) if templates is None else
           environment(markdown=kind == "markdown", templates=templates, language=language,
                       html=html))
    wanted = [s.key for s in doc.sections if s.key != "network"]
    if isinstance(obj, WorkedExample) and kind == "fragment":
        wanted = ["worked"]
    template = env.get_template(KINDS[kind])
    frames = []
    if kind in ("slides", "html-slides"):
        # The HTML deck is planned from the LaTeX sentences, as beamer's: one slide per frame.
        latex = env if kind == "slides" else (
            _our_environment(False, language) if templates is None
            else environment(templates=templates, language=language))
        sentence = latex.from_string('<% import "_prose.j2" as P %><< P[p.key](p.args) >>')
        frames = deck.plan(doc, lambda p: " ".join(sentence.render(p=p).split()))
    if html:
        frames = html_frames(doc, frames)
    return template.render(doc=doc, frames=frames, wanted=wanted)


def have_tex() -> bool:
    """Whether latexmk or pdflatex is on PATH."""
    return bool(shutil.which("latexmk") or shutil.which("pdflatex"))


#: The TeX engine of each language that needs another than pdflatex. Korean does not: kotex
#: typesets Hangul under pdflatex in ko.TeX's Nanum Type 1 fonts, with beamer and hyperref
#: (xelatex's hyperref driver needs a font, pzdr, that a minimal TeX lacks).
ENGINES: dict[str, str] = {}


def tex_engine(tex: str, language: str | None = None) -> str:
    """pdflatex, or the engine the language needs (also read from ``% !TEX program = …``).

    >>> tex_engine("", "ko"), tex_engine("% !TEX program = xelatex"), tex_engine("")
    ('pdflatex', 'xelatex', 'pdflatex')
    """
    if language is not None:
        return ENGINES.get(check_language(language), "pdflatex")
    first = tex.lstrip().split("\n", 1)[0]
    if first.startswith("% !TEX program ="):
        return "xelatex" if first.split("=", 1)[1].strip() == "xelatex" else "pdflatex"
    return "pdflatex"


def compile_pdf(tex: str, output: str | Path, timeout: float = 180,
                language: str | None = None, log: str | Path | None = None) -> Path:
    """Compile LaTeX to ``output`` with latexmk (or the engine twice), shell escape off.

    The engine is the language's (see ENGINES; pdflatex for English and Korean), else the one a
    ``% !TEX program`` first line names. The PDF is written to a temporary folder and moved into place
    only when it is complete. ``log``: where to keep TeX's log (to read its warnings).
    """
    output = Path(output)
    engine = tex_engine(tex, language)
    with tempfile.TemporaryDirectory(prefix="symbackprop-") as tmp:
        src = Path(tmp) / "notes.tex"
        src.write_text(tex, encoding="utf-8")
        flags = ["-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape"]
        mode = "-pdfxe" if engine == "xelatex" else "-pdf"
        if shutil.which("latexmk"):
            commands = [["latexmk", mode, "-quiet", *flags, "notes.tex"]]
        elif shutil.which(engine):
            commands = [[engine, *flags, "notes.tex"]] * 2
        else:
            raise RenderError(f"no TeX found: install latexmk or {engine} to make PDFs")
        env = {**os.environ, "openout_any": "p", "shell_escape": "f"}
        for cmd in commands:
            try:
                run = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True,
                                     timeout=timeout, env=env, stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                raise RenderError(f"{cmd[0]} took longer than {timeout:.0f} s") from None
            if run.returncode != 0:
                log = Path(tmp) / "notes.log"
                text = log.read_text(errors="replace") if log.exists() else run.stdout
                errors = [ln for ln in text.splitlines() if ln.startswith("!")]
                first = errors[0] if errors else (text.strip().splitlines() or ["?"])[-1]
                raise RenderError(f"{cmd[0]} failed: {first}")
        if output.is_dir():
            raise RenderError(f"{output} is a directory; give a file name")
        output.parent.mkdir(parents=True, exist_ok=True)
        # A fresh name (mkstemp opens with O_EXCL, so a planted link is never followed), moved
        # into place only when complete, and removed on any failure.
        fd, partial = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write((Path(tmp) / "notes.pdf").read_bytes())
            os.chmod(partial, 0o644)
            os.replace(partial, output)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        if log is not None:
            shutil.copyfile(Path(tmp) / "notes.log", log)
    return output


def _say(source: str, language: str, **context) -> str:
    env = environment(language=language)
    return env.from_string('<% import "_prose.j2" as P %>' + source).render(**context).strip()


def section_title(section, language: str = "en") -> str:
    """A section's title as the documents print it (LaTeX-escaped text with inline math).

    >>> import symbackprop as sb
    >>> doc = sb.build_document(sb.derive(sb.mlp([1, 1])))
    >>> section_title(doc.sections[0]), section_title(doc.sections[0], "ko")
    ('The network', '신경망')
    """
    return _say('<< P["title_" ~ s.key](s.args) >>', language, s=section)


def paragraph_text(paragraph, language: str = "en") -> str:
    """A paragraph's sentence as the documents print it (LaTeX, math in ``$…$``)."""
    return " ".join(_say("<< P[p.key](p.args) >>", language, p=paragraph).split())

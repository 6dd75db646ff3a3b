"""Turning a Document into text with jinja2, and LaTeX into PDF.

The jinja2 environment uses LaTeX-safe delimiters (``<< var >>``, ``<% block %>``,
``<# comment #>``) so that TeX's braces stay braces, and escapes every printed value unless it
is engine-made math (:class:`~symbackprop.latex.Tex`). A user's template folder is searched
before ours, so any template can be overridden by a file of the same name.

>>> import symbackprop as sb
>>> tex = sb.render(sb.derive(sb.mlp([2, 2, 1])), kind="article", title="50% & more")
>>> r"50\\% \\& more" in tex
True
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from .derive import Derivation, derive
from .document import Document, Equations, Figure, Paragraph, build_document
from .graph import Graph
from .latex import Tex, escape_latex, escape_markdown
from .numeric import WorkedExample, worked_example

__all__ = ["render", "compile_pdf", "environment", "template_dir", "have_tex", "RenderError",
           "KINDS"]

KINDS = {
    "article": "article.tex.j2",
    "slides": "slides.tex.j2",
    "fragment": "fragment.tex.j2",
    "markdown": "notes.md.j2",
}


class RenderError(RuntimeError):
    """Rendering or compiling failed."""


def template_dir() -> Path:
    """Our templates: inside the installed package, or templates/ next to a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "article.tex.j2").is_file():
            return candidate
    raise RenderError(f"symbackprop's templates are missing (looked in {here})")


def _relation(r: str) -> str:
    return Tex("=" if r == "=" else r)


def environment(markdown: bool = False, templates: str | Path | None = None) -> jinja2.Environment:
    """The jinja2 environment: LaTeX-safe delimiters, escaping by default, user folder first."""
    folders = [str(template_dir())]
    if templates is not None:
        user = Path(templates)
        if not user.is_dir():
            raise RenderError(f"template folder {str(user)!r} does not exist")
        folders.insert(0, str(user))
    escape = escape_markdown if markdown else escape_latex

    # Autoescape is on so that macro output comes back as Markup; finalize then escapes every
    # other value for LaTeX (or Markdown), never for HTML, by returning Markup itself.
    def finalize(value):
        if isinstance(value, Markup):
            return value
        if isinstance(value, Tex):
            return Markup(value)
        return Markup(escape("" if value is None else str(value)))

    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(folders),
        block_start_string="<%", block_end_string="%>",
        variable_start_string="<<", variable_end_string=">>",
        comment_start_string="<#", comment_end_string="#>",
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined, autoescape=True, finalize=finalize,
    )
    env.tests["tex"] = lambda v: isinstance(v, Tex)
    env.filters["relation"] = _relation
    return env


def _frames(doc: Document) -> list[dict]:
    """One frame per equation (and one per figure), with the prose that leads up to it."""
    frames: list[dict] = []

    def walk(title: str, section) -> None:
        pending: list[Paragraph] = []
        for b in section.blocks:
            if isinstance(b, Paragraph):
                pending.append(b)
            elif isinstance(b, Figure):
                frames.append({"title": title, "figure": b, "paragraphs": pending,
                               "equation": None})
                pending = []
            elif isinstance(b, Equations):
                for k, chunk in enumerate(_chunks(b.equations)):
                    frames.append({"title": title, "figure": None,
                                   "paragraphs": pending if k == 0 else [],
                                   "equation": Equations(chunk)})
                pending = []
        if pending:
            frames.append({"title": title, "figure": None, "paragraphs": pending,
                           "equation": None})
        for sub in section.subsections:
            walk(f"{title}: {sub.title}" if len(title) < 30 else sub.title, sub)

    for section in doc.sections:
        walk(section.title, section)
    return frames


def _chunks(equations: list, budget: int = 7) -> list[list]:
    """Group equations into slides: a long derivation alone, short ones a few to a slide."""
    chunks: list[list] = []
    used = budget
    for eq in equations:
        size = 1 + sum(len(step.lines) for step in eq.steps)
        if used + size > budget:
            chunks.append([])
            used = 0
        chunks[-1].append(eq)
        used += size
    return chunks


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
) -> str:
    """Render notes as LaTeX (``article``, ``slides``, ``fragment``) or ``markdown``.

    ``obj`` is a graph, a derivation, a worked example (its numbers are included) or a built
    Document. With ``values`` a worked example is added.

    >>> import symbackprop as sb
    >>> md = sb.render(sb.mlp([1, 1]), kind="markdown")
    >>> md.startswith("# MLP 1-1")
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
                             contrast=contrast, matrix=matrix)
    env = environment(markdown=kind == "markdown", templates=templates)
    wanted = [s.title for s in doc.sections if s.title != "The network"]
    if isinstance(obj, WorkedExample) and kind == "fragment":
        wanted = ["A worked example"]
    template = env.get_template(KINDS[kind])
    return template.render(doc=doc, frames=_frames(doc) if kind == "slides" else [],
                           wanted=wanted)


def have_tex() -> bool:
    """Whether latexmk or pdflatex is on PATH."""
    return bool(shutil.which("latexmk") or shutil.which("pdflatex"))


def compile_pdf(tex: str, output: str | Path, timeout: float = 180) -> Path:
    """Compile LaTeX to ``output`` with latexmk (or pdflatex twice), shell escape off.

    The PDF is written to a temporary folder and moved into place only when it is complete.
    """
    output = Path(output)
    with tempfile.TemporaryDirectory(prefix="symbackprop-") as tmp:
        src = Path(tmp) / "notes.tex"
        src.write_text(tex, encoding="utf-8")
        flags = ["-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape"]
        if shutil.which("latexmk"):
            commands = [["latexmk", "-pdf", "-quiet", *flags, "notes.tex"]]
        elif shutil.which("pdflatex"):
            commands = [["pdflatex", *flags, "notes.tex"]] * 2
        else:
            raise RenderError("no TeX found: install latexmk or pdflatex to make PDFs")
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
    return output

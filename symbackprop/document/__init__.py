"""The Document: a plain data model of what the notes say, every equation verified.

:func:`build_document` turns a Derivation (and optionally a WorkedExample) into sections of
prose and equations. Each equation's sides are checked by :mod:`symbackprop.check.verify` as it is
added; a failure stops the build with the equation's name. Everything here is strings (math as
:class:`~symbackprop.printing.latex.Tex`) and message keys, so templates never see SymPy and the engine
holds no sentence: one function per section (network, forward, locals, deltas, gradients, worked,
appendix), each given the document's :class:`~.context.DocumentContext`; the words are in
templates/_prose.j2 and the catalogs.

>>> import symbackprop as sb
>>> doc = build_document(sb.derive(sb.mlp([2, 2, 1])))
>>> doc.checked > 20, doc.sections[0].key
(True, 'network')
"""

from __future__ import annotations

from collections.abc import Iterable

from ..check.worked import WorkedExample
from ..core.languages import check_language
from ..derivation.reverse import Derivation
from . import layout
from .appendix import appendix_section, contrast_section
from .context import DocumentContext
from .deltas import deltas_section
from .formulas import MAX_LINE, TERMS_PER_LINE
from .forward import forward_section
from .general import model_form_section
from .gradients import (
    MAX_SHOWN_PATHS,
    descent_section,
    gradients_section,
    matrix_section,
    mlp_general_section,
)
from .locals import locals_section
from .model import METHODS, Document, Equation, Equations, Figure, Paragraph, Section, Step
from .network import abstract_paragraph, network_section
from .options import DocumentOptions
from .tikz import tikz_network
from .worked import worked_section

__all__ = [
    "Document",
    "Section",
    "Paragraph",
    "Equations",
    "Equation",
    "Step",
    "Figure",
    "METHODS",
    "build_document",
    "tikz_network",
    "layout",
    "DocumentContext",
    "DocumentOptions",
    "MAX_LINE",
    "MAX_NOTES_PARAMETERS",
    "MAX_SHOWN_PATHS",
    "TERMS_PER_LINE",
]

#: Notes write several equations per parameter (about 10 ms each): above this many parameters
#: they would run to hundreds of pages, and the matrix form says the same in a dozen lines.
MAX_NOTES_PARAMETERS = 1000


def build_document(
    derivation: Derivation,
    example: WorkedExample | None = None,
    *,
    title: str | None = None,
    author: str = "",
    appendix: bool = True,
    contrast: bool = False,
    matrix: bool | None = None,
    only: Iterable[str] | None = None,
    full: bool = False,
    abstract: bool = True,
    language: str = "en",
) -> Document:
    """The notes for a derivation (and a worked example), every equation verified.

    ``only`` names the parameters whose whole chain is written out; by default every one for a
    net up to seed 000's size, else one representative weight per layer (``full``: all).

    >>> import symbackprop as sb
    >>> doc = build_document(sb.derive(sb.mlp([1, 1])), title="Tiny")
    >>> doc.title
    'Tiny'
    """
    check_language(language)
    n = len(derivation.graph.parameters)
    if n > MAX_NOTES_PARAMETERS:
        raise ValueError(
            f"the network has {n} parameters; notes write equations for every one and are "
            f"readable up to {MAX_NOTES_PARAMETERS}: for a network this size use the matrix "
            "form (symbackprop grad SPEC --matrix, or sb.matrix_form(net))"
        )
    if only is not None:
        names = {p.name for p in derivation.graph.parameters}
        only = tuple(only)
        unknown = [o for o in only if o not in names]
        if unknown:
            raise ValueError(f"only: no parameter named {unknown[0]!r}; the parameters are "
                             f"{', '.join(sorted(names))}")
    options = DocumentOptions(title=title, author=author, appendix=appendix, contrast=contrast,
                              matrix=matrix, only=only, full=full, abstract=abstract,
                              language=language)
    return _compose(DocumentContext(derivation, example, options))


def _compose(ctx: DocumentContext) -> Document:
    """The sections in the order the notes read, each built from ``ctx`` (an optional one
    gives None), and the document around them."""
    options, g, net = ctx.options, ctx.graph, ctx.mlp
    # A model's general form comes first, its unrolled instance after it.
    sections = [network_section(ctx), model_form_section(ctx), forward_section(ctx),
                locals_section(ctx), deltas_section(ctx), gradients_section(ctx),
                mlp_general_section(ctx)]
    if net and (options.matrix or options.matrix is None and net.notation.name == "matrix"):
        sections.append(matrix_section(ctx))
    sections.append(descent_section(ctx))
    if ctx.example is not None:
        sections.append(worked_section(ctx))
    if options.contrast:
        sections.append(contrast_section(ctx))
    if options.appendix:
        appendix = appendix_section(ctx)
        if appendix.subsections:  # no activation to derive (identity units only)
            sections.append(appendix)
    sections = [s for s in sections if s is not None]
    abstract = abstract_paragraph(ctx, sections) if options.abstract else None
    return Document(options.title or g.title, options.author,
                    getattr(getattr(g, "notation", None), "name", "custom"), sections,
                    sum(ctx.methods.values()), dict(sorted(ctx.methods.items())), abstract,
                    options.language, None if options.title else getattr(g, "heading", None))

"""The Document: a plain data model of what the notes say, every equation verified.

:func:`build_document` turns a Derivation (and optionally a WorkedExample) into sections of
prose and equations. Each equation's sides are checked by :mod:`symbackprop.check.verify` as it is
added; a failure stops the build with the equation's name. Everything here is strings (math as
:class:`~symbackprop.printing.latex.Tex`) and message keys, so templates never see SymPy and the engine
holds no sentence: one builder per section (network, forward, locals, deltas, gradients, worked,
appendix), the words in templates/_prose.j2 and the catalogs.

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
from .appendix import AppendixSection
from .base import MAX_LINE, MAX_NOTES_PARAMETERS, MAX_SHOWN_PATHS, TERMS_PER_LINE, Base
from .deltas import DeltasSection
from .forward import ForwardSection
from .general import ModelFormSection
from .gradients import GradientsSection
from .locals import LocalsSection
from .model import METHODS, Document, Equation, Equations, Figure, Paragraph, Section, Step
from .network import NetworkSection, tikz_network
from .worked import WorkedSection

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
    "MAX_LINE",
    "MAX_NOTES_PARAMETERS",
    "MAX_SHOWN_PATHS",
    "TERMS_PER_LINE",
]

class _Builder(NetworkSection, ModelFormSection, ForwardSection, LocalsSection, DeltasSection,
               GradientsSection, WorkedSection, AppendixSection, Base):
    def build(self) -> Document:
        sections = [self.network(), self.forward(), self.locals_(), self.deltas(),
                    self.gradients(), self.updates()]
        model_form = self.model_form()
        if model_form:  # a model's general form first, its unrolled instance after it
            sections.insert(1, model_form)
        general = self.general_form()
        if general:
            sections.insert(5, general)
        wants_matrix = self.options.get("matrix")
        if self.mlp and (wants_matrix or wants_matrix is None and self.mlp.notation.name == "matrix"):
            sections.insert(len(sections) - 1, self.matrix_form())  # before gradient descent
        if self.example is not None:
            sections.append(self.worked())
        if self.options.get("contrast"):
            sections.append(self.contrast())
        if self.options.get("appendix", True):
            appendix = self.appendix()
            if appendix.subsections:
                sections.append(appendix)
        checked = sum(self.methods.values())
        abstract = self.abstract() if self.options.get("abstract", True) else None
        return Document(self.options.get("title") or self.g.title, self.options.get("author", ""),
                        getattr(getattr(self.g, "notation", None), "name", "custom"), sections,
                        checked, dict(sorted(self.methods.items())), abstract,
                        self.options.get("language", "en"),
                        None if self.options.get("title") else getattr(self.g, "heading", None))


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
        only = list(only)
        unknown = [o for o in only if o not in names]
        if unknown:
            raise ValueError(f"only: no parameter named {unknown[0]!r}; the parameters are "
                             f"{', '.join(sorted(names))}")
    options = {"title": title, "author": author, "appendix": appendix, "contrast": contrast,
               "matrix": matrix, "only": only, "full": full, "abstract": abstract,
               "language": language}
    return _Builder(derivation, example, options).build()

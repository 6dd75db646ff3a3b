"""The Document's data: sections of prose and verified equations, all as prepared strings.

Prose is data: a :class:`Paragraph` names the sentence it says (``key``, a macro in
``templates/_prose.j2``) and carries only what varies in it (``args``: math as
:class:`~symbackprop.printing.latex.Tex`, counts, choices). The words themselves, in every language, live in
the templates and the message catalogs, so the engine holds no sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..printing.display import document_markdown
from ..printing.latex import Tex

if TYPE_CHECKING:
    from .drawings.scene import Scene

__all__ = ["Step", "Equation", "Paragraph", "Equations", "Figure", "Section", "Document",
           "METHODS", "MAX_ALIGN_ROWS"]

#: How an equation was checked, weakest last; templates say each in words.
METHODS = ("identical", "symbolic", "numeric", "numbers", "matrix")


@dataclass
class Step:
    """One ``= rhs`` of a chained equation; ``lines`` breaks a long sum across lines."""

    lines: list[Tex]
    relation: str = "="
    note: Tex | None = None  # a short justification printed after the step


@dataclass
class Equation:
    label: str
    lhs: Tex
    steps: list[Step]
    check: str = ""  # one of METHODS
    #: For a chain: per path, the edges of the network drawing (pairs of TikZ node names) whose
    #: local derivatives the path multiplies (slides highlight them one overlay at a time).
    paths: list[list[tuple[str, str]]] = field(default_factory=list)
    #: For a δ: the drawing's node (TikZ name) whose error signal it is, which the HTML page
    #: lights while the equation is hovered or focused; None when it has none.
    node: str | None = None


@dataclass
class Paragraph:
    """A sentence of the notes: ``key`` names it, ``args`` fill it (Tex, numbers, choice keys)."""

    key: str
    args: dict[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "paragraph"


#: A block of equations taller than this many rows is typeset as one align* per equation
#: (per parameter), side-by-side rows in aligns of this many: TeX holds a whole align in memory
#: twice, and a 20-20-20-1 net's gradients in one align exceeded its capacity.
MAX_ALIGN_ROWS = 200


@dataclass
class Equations:
    equations: list[Equation]
    title: str = ""
    columns: int = 1  # >1: short equations side by side
    #: Each equation on as few rows as fit (document/layout.py), not one row per step.
    compact: bool = False
    kind: ClassVar[str] = "equations"

    #: Where a new row starts besides every ``columns`` equations (indices into equations):
    #: two kinds of equation (sums, activations) share a display but never a row.
    breaks: list[int] = field(default_factory=list)

    @property
    def rows(self) -> list[list[Equation]]:
        out: list[list[Equation]] = []
        for k, eq in enumerate(self.equations):
            if not out or len(out[-1]) == self.columns or k in self.breaks:
                out.append([])
            out[-1].append(eq)
        return out

    @property
    def line_count(self) -> int:
        """Rows the block takes typeset in one column (every step's lines)."""
        return sum(len(step.lines) for eq in self.equations for step in eq.steps)

    @property
    def split(self) -> bool:
        """Too tall for one align*: the templates close and reopen it (see MAX_ALIGN_ROWS)."""
        # counted only as far as the limit: the templates ask once per equation, and counting
        # every line each time was quadratic (12 s of a 64-step RNN's notes)
        total = 0
        for eq in self.equations:
            for step in eq.steps:
                total += len(step.lines)
                if total > MAX_ALIGN_ROWS:
                    return True
        return False

    @property
    def max_rows(self) -> int:
        return MAX_ALIGN_ROWS


@dataclass
class Figure:
    tikz: Tex
    caption: Paragraph
    wide: bool = False  # wider than 2.2 times its height: fit to the width, else to the height
    #: TikZ node names by graph symbol name (a weight: its edge's two ends), for highlighting.
    nodes: dict[str, str | tuple[str, str] | dict] = field(default_factory=dict)
    #: For slides: the drawing with the backward pass stepping over it as overlays (an RNN's
    #: BPTT step by step, a kernel window position by position), or None.
    walked: Tex | None = None
    #: The drawing's geometry, which the TikZ was emitted from and the HTML page emits as SVG
    #: (``drawings.svg.scene_svg``); None where a Figure is made by hand.
    scene: Scene | None = None
    kind: ClassVar[str] = "figure"


@dataclass
class Section:
    """``key`` names the section (its title is the template's ``title_<key>``, filled by args)."""

    key: str
    args: dict[str, Any] = field(default_factory=dict)
    blocks: list = field(default_factory=list)
    subsections: list[Section] = field(default_factory=list)

    def find(self, key: str) -> Section:
        """The first section below this one (or itself) with this key."""
        for s in self.walk():
            if s.key == key:
                return s
        raise KeyError(key)

    def walk(self):
        yield self
        for sub in self.subsections:
            yield from sub.walk()


@dataclass
class Document:
    title: str
    author: str
    notation: str
    sections: list[Section]
    checked: int
    methods: dict[str, int]  # METHODS key -> how many equations were checked that way
    #: What the abstract says about the network (a Paragraph), or None for no abstract.
    abstract: Paragraph | None = None
    language: str = "en"
    #: A model's default title as a ``heading_<kind>`` macro and its numbers (the templates
    #: translate it), or None: the title is ``title`` as it stands.
    heading: tuple[str, dict] | None = None

    @property
    def equations(self) -> list[Equation]:
        out: list[Equation] = []
        for s in self.sections:
            for sub in s.walk():
                for b in sub.blocks:
                    if isinstance(b, Equations):
                        out.extend(b.equations)
        return out

    def _repr_markdown_(self) -> str:
        """Jupyter shows the title and the checked equations, as the notes print them."""
        return document_markdown(self)

    def section(self, key: str) -> Section:
        """The first section (at any depth) with this key."""
        for s in self.sections:
            for sub in s.walk():
                if sub.key == key:
                    return sub
        raise KeyError(key)

    @property
    def keys(self) -> list[str]:
        return [s.key for s in self.sections]

"""The documents' LaTeX as MathML, for the HTML notes and slides.

The Document holds every equation as prepared LaTeX (:class:`~symbackprop.printing.latex.Tex`),
the strings the LaTeX notes print; converting exactly those strings is what makes the HTML and
the PDF carry the same equations. The conversion is latex2mathml's; this module rewrites the
few macros it lacks or gets wrong before it reads them (``_REWRITES``), repairs its tree after
(``_repair``), and serialises the tree as XML itself. Every ``<math>`` keeps its LaTeX as its
text alternative (``alttext``), which screen readers and copy-paste fall back on.

>>> print(tex_to_mathml(r"\\hat{y}")[49:])
display="inline" alttext="\\hat{y}"><mover accent="true"><mi>y</mi><mo>^</mo></mover></math>
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from xml.etree.ElementTree import Element, SubElement, tostring

from latex2mathml.converter import convert_to_element

__all__ = ["tex_to_mathml", "equation_mathml", "aligned_latex", "MATHML_NS"]

MATHML_NS = "http://www.w3.org/1998/Math/MathML"

#: Macros latex2mathml does not know (or misreads), each as a spelling it reads the same way.
#: Text-mode escapes come from user names escaped for LaTeX (printing.latex.escape_latex).
_REWRITES: dict[str, str] = {
    r"\textbackslash{}": r"\backslash ",
    r"\textasciicircum{}": r"\text{^}",
    r"\textasciitilde{}": r"\text{~}",
    r"\textless{}": "<",
    r"\textgreater{}": ">",
    r"\textbar{}": "|",
    r"\ldots{}": r"\ldots ",
}
_REWRITE_RE = re.compile("|".join(re.escape(k) for k in sorted(_REWRITES, key=len, reverse=True)))

#: latex2mathml writes characters as numeric references inside element text and unescapes the
#: whole serialised string, which would turn a user's ``<`` into markup: we decode them here and
#: let ElementTree escape what needs it.
_CHARREF = re.compile(r"&#x([0-9A-Fa-f]+);")


#: What decides whether a string has alignment marks of its own: environments open and close,
#: ``\\`` and ``&`` mark rows and columns, and an escaped ``\&`` or any other command is skipped.
_ALIGN_TOKEN = re.compile(r"\\(begin|end)\{[^}]*\}|\\\\|\\.|&")


def _top_level_alignment(tex: str) -> bool:
    depth = 0
    for m in _ALIGN_TOKEN.finditer(tex):
        if m.group(1) == "begin":
            depth += 1
        elif m.group(1) == "end":
            depth -= 1
        elif depth == 0 and m.group() in ("&", "\\\\"):
            return True
    return False


def _prepare(tex: str) -> str:
    tex = _REWRITE_RE.sub(lambda m: _REWRITES[m.group()], tex)
    # latex2mathml reads & and \\ only inside an environment (outside, & becomes an identifier):
    # rows of our own become an alignment as TeX's aligned would set them
    if _top_level_alignment(tex):
        tex = f"\\begin{{split}}{tex}\\end{{split}}"
    return tex


def _decode(text: str | None) -> str | None:
    if text is None:
        return None
    return _CHARREF.sub(lambda m: chr(int(m.group(1), 16)), text)


def _repair(element: Element) -> None:
    """Decode character references and drop the redundant one-child ``<mrow>`` wrappers."""
    element.text = _decode(element.text)
    element.tail = _decode(element.tail)
    for child in element:
        _repair(child)
    # an mrow that is the only child of an mrow, or of a script's slot, groups nothing
    for k, child in enumerate(list(element)):
        if child.tag == "mrow" and not child.attrib and len(child) == 1 and not (child.text or "").strip():
            inner = child[0]
            inner.tail = child.tail
            element.remove(child)
            element.insert(k, inner)


def _converted(tex: str) -> Element:
    """The repaired MathML of ``tex`` as the children of one ``<mrow>``."""
    math = convert_to_element(_prepare(tex))
    row = math[0]
    _repair(row)
    return row


def _math(display: bool, alttext: str) -> Element:
    attrib = {"xmlns": MATHML_NS, "display": "block" if display else "inline", "alttext": alttext}
    return Element("math", attrib)


def _serialise(math: Element) -> str:
    # short_empty_elements keeps <mspace/> compact; ElementTree escapes &, <, > and quotes
    return tostring(math, encoding="unicode", short_empty_elements=True)


def _append(parent: Element, row: Element) -> None:
    """Put ``row``'s content into ``parent``: its children, or itself if it holds several."""
    parent.extend(list(row))


def tex_to_mathml(tex: str, *, display: bool = False) -> str:
    """One ``<math>`` element for the LaTeX ``tex``, the LaTeX kept as its ``alttext``.

    >>> tex_to_mathml("x_{1}", display=True)[49:]
    'display="block" alttext="x_{1}"><msub><mi>x</mi><mn>1</mn></msub></math>'
    """
    math = _math(display, str(tex))
    _append(math, _converted(str(tex)))
    return _serialise(math)


def _relation(relation: str) -> str:
    # the Markdown template's ``relation`` filter: the engine's relations are LaTeX already
    return relation


def aligned_latex(lhs: str, steps: Sequence[Sequence]) -> str:
    """The aligned LaTeX of an equation, as the Markdown notes print it between ``$$``.

    ``steps``: per step ``(relation, lines)`` or ``(relation, lines, note)``.

    >>> print(aligned_latex("y", [("=", ["a", "b"]), ("=", ["c"], r"\\text{ok}")]))
    \\begin{aligned}
    y &= a \\\\
     &\\qquad b \\\\
     &= c \\qquad \\text{ok}
    \\end{aligned}
    """
    rows: list[str] = []
    for relation, lines, note in (_step(s) for s in steps):
        for k, line in enumerate(lines):
            lead = f"{lhs} " if not rows else " "
            rows.append(f"{lead}&{_relation(relation)} {line}" if k == 0 else f" &\\qquad {line}")
        if note:
            rows[-1] += f" \\qquad {note}"
    return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


def _step(step: Sequence) -> tuple[str, list[str], str | None]:
    relation, lines, *rest = step
    return str(relation), [str(line) for line in lines], (str(rest[0]) if rest and rest[0] else None)


def _cell(tr: Element, tex: str | None, align: str) -> None:
    # MathML Core (Chromium) ignores columnalign: each cell says its alignment in CSS too
    td = SubElement(tr, "mtd", {"style": f"text-align:{align}"} if align != "center" else {})
    if tex is not None:
        _append(td, _converted(tex))


def equation_mathml(lhs: str, steps: Sequence[Sequence]) -> str:
    """One display ``<math>`` holding an equation as an aligned ``<mtable>``.

    Rows are lhs | relation | first line of a step, then a row per continued line (indented as
    the LaTeX's ``\\qquad``); a step's note follows its last line. ``alttext`` is
    :func:`aligned_latex`, the LaTeX the Markdown notes print.

    >>> m = equation_mathml("y", [("=", ["a + b"])])
    >>> m.count("<mtr>"), 'alttext="\\\\begin{aligned}' in m
    (1, True)
    """
    math = _math(True, aligned_latex(lhs, steps))
    table = SubElement(math, "mtable", {"displaystyle": "true", "columnalign": "right center left"})
    first = True
    for relation, lines, note in (_step(s) for s in steps):
        for k, line in enumerate(lines):
            tex = line if not (note and k == len(lines) - 1) else f"{line} \\qquad {note}"
            tr = SubElement(table, "mtr")
            _cell(tr, lhs if first else None, "right")
            _cell(tr, relation if k == 0 else None, "center")
            _cell(tr, tex if k == 0 else f"\\qquad {tex}", "left")
            first = False
    return _serialise(math)

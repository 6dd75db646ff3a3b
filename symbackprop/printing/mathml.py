"""The documents' LaTeX as MathML, for the HTML notes and slides.

The Document holds every equation as prepared LaTeX (:class:`~symbackprop.printing.latex.Tex`),
the strings the LaTeX notes print; converting exactly those strings is what makes the HTML and
the PDF carry the same equations. The conversion is latex2mathml's. This module rewrites, before
it reads them, the few constructs it gets wrong (``_prepare``: a name in ``\\mathrm``,
``\\mathit`` or ``\\operatorname`` becomes one identifier, alignment outside an environment, the
text-mode escapes of user names), repairs its tree after (``_repair``: characters, accents,
function application, fonts, primes, brackets and signs as MathML Core sets them, which is what
Chromium draws) and serialises the tree as XML itself. Every ``<math>`` keeps its LaTeX as its
text alternative (``alttext``).

>>> print(tex_to_mathml(r"\\hat{y}")[49:])
display="inline" alttext="\\hat{y}"><mover accent="true"><mi>y</mi><mo>^</mo></mover></math>
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from xml.etree.ElementTree import Element, tostring

from latex2mathml.commands import FUNCTIONS
from latex2mathml.converter import convert_to_element
from latex2mathml.symbols_parser import convert_symbol

from .numbered import NumberShapes

__all__ = ["tex_to_mathml", "equation_mathml", "aligned_latex", "forget_mathml", "MATHML_NS",
           "FUNCTION_APPLICATION"]

MATHML_NS = "http://www.w3.org/1998/Math/MathML"
#: The invisible operator between a function's name and its argument (MathML's ⁡): screen
#: readers say "sigma of z" rather than "sigma times z".
FUNCTION_APPLICATION = "\u2061"

#: Text-mode escapes (printing.latex.escape_latex writes them into user names, such as a
#: ``\\mathit{w\\_1}``) and the characters they stand for.
_TEXT_ESCAPES: dict[str, str] = {
    r"\textbackslash{}": "\\", r"\textasciicircum{}": "^", r"\textasciitilde{}": "~",
    r"\textless{}": "<", r"\textgreater{}": ">", r"\textbar{}": "|", r"\ldots{}": "…",
    r"\_": "_", r"\{": "{", r"\}": "}", r"\$": "$", r"\&": "&", r"\#": "#", r"\%": "%",
}
_TEXT_ESCAPE_RE = re.compile("|".join(re.escape(k) for k in sorted(_TEXT_ESCAPES, key=len, reverse=True)))
#: escape_latex writes a math character of a user's name as ``\\ensuremath{\\sigma}``.
_ENSUREMATH = re.compile(r"\\ensuremath\{(\\[A-Za-z]+|[^{}\\]|\^\{T\})\}")
_MATH_CHARACTERS = {"-": "−", "'": "′", "^{T}": "ᵀ"}

#: Macros latex2mathml misreads, each as a spelling it reads as TeX does. ``aligned`` it does not
#: know (its & would become an identifier): ``split`` is the same two-column alignment.
_REWRITES: dict[str, str] = {
    r"\begin{aligned}": r"\begin{split}",
    r"\end{aligned}": r"\end{split}",
    r"\ldots{}": r"\ldots ",
    r"\ensuremath": "",  # in math already: \ensuremath{x} is the group {x}
    **{k: rf"\text{{{v}}}" for k, v in _TEXT_ESCAPES.items() if k.startswith(r"\text")},
}
_REWRITE_RE = re.compile("|".join(re.escape(k) for k in sorted(_REWRITES, key=len, reverse=True)))

#: A name set in one font: ``\\mathrm{out}`` and ``\\operatorname{name}`` are one upright
#: identifier and ``\\mathit{w\\_11}`` one italic one, where latex2mathml would make a row of
#: letters (and lose \\mathrm's upright on a single letter, and make an operator of the name).
_NAMED = re.compile(r"\\(mathrm|mathit|operatorname)\{((?:[^{}\\]|\\[_{}$&#%]|\\text[a-z]+\{\}"
                    r"|\\ldots\{\}|\\ensuremath\{(?:\\[A-Za-z]+|[^{}\\]|\^\{T\})\})*)\}")
#: Private-use characters that hold a name's place through latex2mathml (``\\text{⟨n⟩}``): no
#: document contains them (escape_latex drops what is not printable).
_HOLD, _HOLD_END = "\ue000", "\ue001"
_HELD = re.compile(f"{_HOLD}(\\d+){_HOLD_END}")

#: What decides whether a string has alignment marks of its own: groups and environments open
#: and close, ``\\\\`` and ``&`` mark rows and columns, an escaped ``\\&`` or other command is skipped.
_ALIGN_TOKEN = re.compile(r"\\(begin|end)\{[^}]*\}|\\\\|\\.|[{}&]")

#: latex2mathml writes characters as numeric references inside element text and unescapes the
#: whole serialised string, which would turn a user's ``<`` into markup: we decode them here and
#: let ElementTree escape what needs it.
_CHARREF = re.compile(r"&#x([0-9A-Fa-f]+);")

#: Marks over a letter that TeX sets as accents (close to the letter), which latex2mathml leaves
#: without mover's accent="true" (MathML Core then sets them as far as a limit).
_ACCENTS = frozenset("~¯→˙¨ˇ˘´`^˜")
_FUNCTION_NAMES = frozenset(f[1:] for f in FUNCTIONS)
_SCRIPTS = frozenset(("msub", "msup", "msubsup"))
_LIMITS = frozenset(("munder", "mover", "munderover"))
_PRIMES = frozenset("′″‴")
#: What makes a bracketed group taller than a line, so that TeX's \left( grows around it. A
#: script does not: TeX's bracket grows barely, and Chromium sets a stretched one apart from it.
_TALL = frozenset(("mfrac", "msqrt", "mroot", "mtable", "munder", "munderover"))


#: MathML Core (what Chromium draws) reads mathvariant only as "normal" on a single letter: a
#: bold, double-struck or bold-italic token is written in the Unicode mathematical alphabets
#: instead (\\mathbb{1} -> 𝟙, \\boldsymbol{\\delta} -> 𝜹), which every engine draws.
_ALPHABETS = {
    "bold": "BOLD", "italic": "ITALIC", "bold-italic": "BOLD ITALIC",
    "double-struck": "DOUBLE-STRUCK", "script": "SCRIPT", "bold-script": "BOLD SCRIPT",
    "fraktur": "FRAKTUR", "bold-fraktur": "BOLD FRAKTUR", "sans-serif": "SANS-SERIF",
    "bold-sans-serif": "SANS-SERIF BOLD", "sans-serif-italic": "SANS-SERIF ITALIC",
    "monospace": "MONOSPACE",
}
#: The letters Unicode had before the mathematical alphabets (their places there are holes).
_LETTERLIKE = {("ITALIC", "h"): "ℎ",
               **{("DOUBLE-STRUCK", c): v for c, v in zip("CHNPQRZ", "ℂℍℕℙℚℝℤ", strict=True)}}
_LETTER_NAME = re.compile(r"(?:LATIN|GREEK) (CAPITAL|SMALL) LETTER (\w+)|DIGIT (\w+)")


def _in_alphabet(ch: str, alphabet: str) -> str | None:
    """``ch`` in a mathematical alphabet (``BOLD``), or None where Unicode has none."""
    if (alphabet, ch) in _LETTERLIKE:
        return _LETTERLIKE[alphabet, ch]
    m = _LETTER_NAME.fullmatch(unicodedata.name(ch, ""))
    if not m:
        return None
    name = f"{m.group(1)} {m.group(2)}" if m.group(1) else f"DIGIT {m.group(3)}"
    try:
        return unicodedata.lookup(f"MATHEMATICAL {alphabet} {name}")
    except KeyError:
        return None


def _styled(element: Element) -> None:
    """A token's mathvariant written into its characters (signs and the digits an alphabet
    lacks stay as they are)."""
    alphabet = _ALPHABETS.get(element.get("mathvariant", ""))
    if alphabet is None or not element.text:
        return
    element.text = "".join(_in_alphabet(ch, alphabet) or ch for ch in element.text)
    del element.attrib["mathvariant"]


def _top_level_alignment(tex: str) -> bool:
    depth = 0
    for m in _ALIGN_TOKEN.finditer(tex):
        token = m.group()
        if m.group(1) == "begin" or token == "{":
            depth += 1
        elif m.group(1) == "end" or token == "}":
            depth -= 1
        elif depth == 0 and token in ("&", "\\\\"):
            return True
    return False


#: An operator name with a subscript inside its argument (``\\operatorname{NAME_{sub}}``, as the
#: registry's exact GELU), which latex2mathml drops: the subscript goes outside, upright.
_NAMED_SUBSCRIPT = re.compile(r"\\operatorname\{([A-Za-z]+)_\{([A-Za-z0-9]+)\}\}")


def _prepare(tex: str, held: list[tuple[str, str]]) -> str:
    """``tex`` as latex2mathml should read it; the names it holds back go into ``held``."""
    tex = _NAMED_SUBSCRIPT.sub(r"\\operatorname{\1}_{\\mathrm{\2}}", tex)
    if _HOLD not in tex and _HOLD_END not in tex:
        def hold(m: re.Match) -> str:
            text = _ENSUREMATH.sub(_math_character, m.group(2))
            if "\\ensuremath" in text:
                return m.group()  # a command of no one character: latex2mathml reads it
            held.append((m.group(1), _TEXT_ESCAPE_RE.sub(lambda e: _TEXT_ESCAPES[e.group()], text)))
            return rf"\text{{{_HOLD}{len(held) - 1}{_HOLD_END}}}"

        tex = _NAMED.sub(hold, tex)
    tex = _REWRITE_RE.sub(lambda m: _REWRITES[m.group()], tex)
    # latex2mathml reads & and \\ only inside an environment (outside, & becomes an identifier):
    # rows of our own become an alignment as TeX's aligned would set them
    if _top_level_alignment(tex):
        tex = f"\\begin{{split}}{tex}\\end{{split}}"
    return tex


def _math_character(m: re.Match) -> str:
    """The character of ``\\ensuremath{\\sigma}`` (σ); the match itself if it has none."""
    if not m.group(1).startswith("\\"):
        return _MATH_CHARACTERS.get(m.group(1), m.group(1))
    code = convert_symbol(m.group(1))
    return chr(int(code, 16)) if code else m.group()


def _decode(text: str | None) -> str | None:
    if text is None:
        return None
    return _CHARREF.sub(lambda m: chr(int(m.group(1), 16)), text)


def _name(kind: str, text: str) -> Element:
    """The identifier a held-back name stands for."""
    mi = Element("mi")
    mi.text = text
    # one letter is italic in MathML unless told; several are upright unless told
    if kind == "mathit" and len(text) > 1:
        mi.set("mathvariant", "italic")
        _styled(mi)  # its letters in math italic; digits and signs have no italic and stay
    elif kind != "mathit" and len(text) == 1:
        mi.set("mathvariant", "normal")
    if kind == "operatorname":
        mi.set("data-function", "")  # a marker for _apply, removed there
    return mi


def _repair(element: Element, held: list[tuple[str, str]]) -> None:
    """Decode characters, put held names back, drop one-child ``<mrow>`` wrappers, then set
    fonts, primes, brackets, accents, function names, cells and signs as TeX sets them."""
    element.text = _decode(element.text)
    element.tail = _decode(element.tail)
    _styled(element)
    for child in [c for c in element if c.tag == "mo" and not c.text and c.get("fence") == "true"]:
        element.remove(child)  # \left. and \right. draw nothing and are nothing to read
    for k, child in enumerate(list(element)):
        _repair(child, held)
        if child.tag == "mtext" and child.text and _HELD.fullmatch(child.text):
            kind, text = held[int(_HELD.fullmatch(child.text).group(1))]
            name = _name(kind, text)
            name.tail = child.tail
            element.remove(child)
            element.insert(k, name)
        elif child.tag == "mrow" and not child.attrib and len(child) == 1 and not (child.text or "").strip():
            # an mrow around one element groups nothing
            inner = child[0]
            inner.tail = child.tail
            element.remove(child)
            element.insert(k, inner)
    if element.tag in ("msup", "msubsup") and _primes(element[-1]):
        _prime_beside(element)
    if element.tag == "mrow" and len(element) >= 2 and element[0].get("form") == "prefix" \
            and element[-1].get("form") == "postfix":
        _fences(element)
    if element.tag == "mover" and len(element) == 2 and element[1].tag == "mo" \
            and element[1].text in _ACCENTS:
        element.set("accent", "true")
    if element.tag == "mo" and element.text and element.text.isalpha() and len(element.text) > 1:
        element.tag = "mi"  # \max, \min: names of functions, upright as multi-letter identifiers
        element.set("data-function", "")
    if element.tag == "mtd" and element.get("columnalign") in ("left", "right"):
        # MathML Core (Chromium) ignores columnalign: the cell says it in CSS too
        element.set("style", f"text-align:{element.get('columnalign')}")
    _signs(element)
    _apply(element)


#: After these a sign is a sign, not a subtraction: "(−0.4", "= −2", "· −1".
_BEFORE_PREFIX = frozenset("([{=≈<>≤≥≠≔,+−·⋅×⊙:")


def _signs(row: Element) -> None:
    """Mark a minus (or plus) that opens a group or follows an operator as prefix: TeX sets
    it close to its operand, and MathML Core would set it as a binary operator (a row's first
    element needs no mark, Core infers it)."""
    for prev, mo in zip(row, row[1:], strict=False):
        if mo.tag == "mo" and mo.text in ("−", "+") and prev.tag == "mo" \
                and (prev.text or "") in _BEFORE_PREFIX and "form" not in mo.attrib:
            mo.set("form", "prefix")


def _fences(row: Element) -> None:
    """A \\left( … \\right) row's brackets as MathML Core reads them, in fewer bytes."""
    for mo in (row[0], row[-1]):
        # Core has no fence attribute, and a row's first and last operator are its prefix and
        # postfix without being told
        mo.attrib.pop("fence", None)
        mo.attrib.pop("form", None)
        if not _tall(row):
            # around one line's height \left( is TeX's plain (, which Chromium sets closer
            # unstretched
            mo.set("stretchy", "false")


def _primes(element: Element) -> bool:
    return element.tag in ("mi", "mo") and bool(element.text) and set(element.text) <= _PRIMES


def _prime_beside(script: Element) -> None:
    """σ′ as σ followed by ′, not ′ as a superscript: the prime character is a raised glyph
    already, which a superscript shrinks to a speck where no math font is installed."""
    prime = script[-1]
    script.remove(prime)
    prime.tag = "mo"
    if script.tag == "msubsup":  # h_t' : the prime after the subscript
        base = Element("msub")
        base.extend(list(script))
        for child in list(script):
            script.remove(child)
        script.append(base)
    script.tag = "mrow"
    script.append(prime)


def _tall(row: Element) -> bool:
    return any(e.tag in _TALL or (e.tag == "mover" and e.get("accent") != "true") for e in row.iter())


def _apply(row: Element) -> None:
    """Insert function application after each function name that an argument follows."""
    if row.tag in _SCRIPTS or row.tag in _LIMITS:
        return  # a name in a script applies to nothing there; its script's row decides
    k = 0
    while k < len(row):
        child = row[k]
        primed = child.tag == "mrow" and len(child) == 2 and _primes(child[-1])  # σ′, h_t′
        name = child[0] if (child.tag in _SCRIPTS or primed) and len(child) else child
        name = name[0] if name.tag in _SCRIPTS and len(name) else name
        function = name.tag == "mi" and ("data-function" in name.attrib or name.text in _FUNCTION_NAMES)
        nxt = row[k + 1] if k + 1 < len(row) else None
        if function and nxt is not None and _argument(nxt):
            mo = Element("mo")
            mo.text = FUNCTION_APPLICATION
            mo.tail, child.tail = child.tail, None
            row.insert(k + 1, mo)
            if k and row[k - 1].tag not in ("mo", "mspace"):
                # TeX's thin space between a factor and a function's name: y \log p
                row.insert(k, Element("mspace", {"width": "0.1667em"}))
                k += 1
            k += 1
        k += 1


def _argument(element: Element) -> bool:
    # what a function name applies to: an operand or an opening bracket, not an operator
    return element.tag != "mo" or (element.text or "") in "([{|"


def _converted(tex: str, display: bool = False) -> Element:
    """The repaired MathML of ``tex`` as the children of one ``<mrow>``."""
    if not tex.strip():
        return Element("mrow")  # latex2mathml refuses nothing to read; an empty cell is empty
    held: list[tuple[str, str]] = []
    math = convert_to_element(_prepare(tex, held), display="block" if display else "inline")
    row = math[0]
    _repair(row, held)
    for element in row.iter():
        element.attrib.pop("data-function", None)
    return row


def _math(display: bool, alttext: str) -> Element:
    attrib = {"xmlns": MATHML_NS, "display": "block" if display else "inline", "alttext": alttext}
    return Element("math", attrib)


def _serialise(math: Element) -> str:
    # ElementTree escapes &, <, > and quotes; empty elements print as <mspace />, which HTML's
    # parser reads as closed inside <math>
    return tostring(math, encoding="unicode", short_empty_elements=True)


#: A private-use character (no document holds one, see _HOLD) that marks, in a serialised
#: element, where a converted fragment goes.
_SPLICE = "\ue002"
#: Commands whose MathML owes nothing to the numbers beside them (a name in a font, whose
#: length decides its style, or \\sqrt[n] is converted as it stands).
_SHAPE_SAFE = frozenset((
    "partial frac left right cdot cdots qquad quad approx sum prod log exp tanh odot top times "
    "leq geq neq infty hat tilde bar to bigl bigr alpha beta gamma delta epsilon eta theta "
    "lambda mu nu pi rho sigma tau phi chi psi omega ell").split())


def forget_mathml() -> None:
    """Empty the converted fragments (a benchmark's cold start)."""
    _FRAGMENTS.forget()


def _fragment(tex: str, display: bool) -> str:
    """``tex``'s MathML elements serialised, as a formula or a cell holds them (a large
    operator first set without its space): converted once per formula, and once per shape of
    its numbers where they allow (w_{1} … w_{1000} are one conversion, where converting each
    was most of a deep net's HTML)."""
    return _FRAGMENTS(tex, display)


def _converted_text(tex: str, display: bool) -> str:
    row = _converted(tex, display)
    _no_space_before(row)
    return "".join(_serialise(element) for element in row)


_FRAGMENTS = NumberShapes(_converted_text, _SHAPE_SAFE)


def _tags(element: Element) -> tuple[str, str, str]:
    """``element``'s start tag, end tag and empty form as ElementTree writes them (a table
    is written as strings around its cells' fragments, each converted once)."""
    element.text = _SPLICE
    start, end = _serialise(element).rsplit(_SPLICE, 1)  # an alttext's own comes before
    element.text = None
    return start, end, _serialise(element)


def _element(tags: tuple[str, str, str], inner: str) -> str:
    start, end, empty = tags
    return start + inner + end if inner else empty


def tex_to_mathml(tex: str, *, display: bool = False, by_shape: bool = True) -> str:
    """One ``<math>`` element for the LaTeX ``tex``, the LaTeX kept as its ``alttext``.
    ``by_shape=False``: converted as it stands, kept nowhere (what the shapes are checked
    against).

    >>> tex_to_mathml("x_{1}", display=True)[49:]
    'display="block" alttext="x_{1}"><msub><mi>x</mi><mn>1</mn></msub></math>'
    """
    fragment = _fragment(str(tex), display) if by_shape else _converted_text(str(tex), display)
    return _element(_tags(_math(display, str(tex))), fragment)


def aligned_latex(lhs: str, steps: Sequence) -> str:
    """The aligned LaTeX of an equation, as the Markdown notes print it between ``$$``.

    ``steps``: per step ``(relation, lines)``, ``(relation, lines, note)`` or a Document's
    ``Step`` (read by its attributes).

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
            rows.append(f"{lead}&{relation} {line}" if k == 0 else f" &\\qquad {line}")
        if note:
            rows[-1] += f" \\qquad {note}"
    return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


def _step(step) -> tuple[str, list[str], str | None]:
    # a Document's Step is read by its attributes, as printers read our objects
    if hasattr(step, "lines"):
        step = (step.relation, step.lines, step.note)
    relation, lines, *rest = step
    return str(relation), [str(line) for line in lines], (str(rest[0]) if rest and rest[0] else None)


#: Each column's CSS. MathML Core (Chromium) ignores columnalign, so a cell says its alignment
#: in CSS. An operator alone in a cell gets no spacing of its own, and cells' padding is wider
#: than TeX's: the relation's cell has TeX's thick space (5/18 em) each side, its neighbours none
#: on that side. An empty cell needs neither.
_COLUMNS = ("text-align:right;padding-right:0", "padding-left:.2778em;padding-right:.2778em",
            "text-align:left;padding-left:0")
_CELLS = tuple(_tags(Element("mtd", {"style": style})) for style in _COLUMNS)
_TABLE = _tags(Element("mtable", {"displaystyle": "true", "columnalign": "right center left"}))
_NO_CELL = _serialise(Element("mtd"))


def _cell(tex: str | None, column: int) -> str:
    if tex is None:
        return _NO_CELL
    return _element(_CELLS[column], _fragment(tex, True))


_LARGE = frozenset("∑∏∐⋂⋃∫")


def _no_space_before(row: Element) -> None:
    """A large operator that opens a formula or a cell gets no space before it, as in TeX (Core
    gives ∑ a thin space each side wherever it stands)."""
    core = row[0] if len(row) else None
    while core is not None and (core.tag in _SCRIPTS or core.tag in _LIMITS) and len(core):
        core = core[0]
    if core is not None and core.tag == "mo" and core.text in _LARGE:
        core.set("lspace", "0")


def equation_mathml(lhs: str, steps: Sequence) -> str:
    """One display ``<math>`` holding an equation as an aligned ``<mtable>``.

    Rows are lhs | relation | first line of a step, then a row per continued line (indented as
    the LaTeX's ``\\qquad``); a step's note follows its last line. ``alttext`` is
    :func:`aligned_latex`, the LaTeX the Markdown notes print.

    >>> m = equation_mathml("y", [("=", ["a + b"])])
    >>> m.count("<mtr>"), 'alttext="\\\\begin{aligned}' in m
    (1, True)
    """
    rows = []
    first = True
    for relation, lines, note in (_step(s) for s in steps):
        for k, line in enumerate(lines):
            tex = line if not (note and k == len(lines) - 1) else f"{line} \\qquad {note}"
            rows.append("<mtr>" + _cell(lhs if first else None, 0)
                        + _cell(relation if k == 0 else None, 1)
                        + _cell(tex if k == 0 else f"\\qquad {tex}", 2) + "</mtr>")
            first = False
    table = _element(_TABLE, "".join(rows))
    return _element(_tags(_math(True, aligned_latex(lhs, steps))), table)

"""Slides: a Document cut into beamer frames, planned before TeX sees it.

A frame per figure; the chains of the gradients stepped through beside the drawing; every
other section cut into as few frames as hold it (heights estimated by :mod:`.heights`),
balanced so that none is nearly empty. An equation moves to the next frame whole, and one
taller than a frame goes on under its own left-hand side; a table of one-symbol results
(∂z/∂w = x) is set smaller, in as many columns as fit. A deck over MAX_FRAMES frames first
lets a one-frame section share the frame before it, then leaves to the notes what
:mod:`.shorten` lists, step by step, and only then sets its longest sections smaller.

>>> import symbackprop as sb
>>> doc = sb.build_document(sb.derive(sb.mlp([2, 2, 1])))
>>> frames = plan(doc, lambda p: "")
>>> 3 < len(frames) < MAX_FRAMES
True
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ..document import Document, Equation, Equations, Paragraph, Section, Step, layout
from ..printing.latex import Tex
from .heights import FRAME_HEIGHT, SIZES, Size, prose_height, row_height
from .shorten import SHORTER

__all__ = ["plan", "walkable", "slashed", "MAX_FRAMES", "DENSE_ROW_LIMIT", "DENSE_GAP", "MAX_DENSE_COLUMNS",
           "SHORT_RESULT", "OVERLAY_LINES", "OVERLAY_WIDTH"]

#: The most frames a deck has, its title frame included, while smaller type can bring it there.
MAX_FRAMES = 20
#: A table of short results: the widest row in em of ``\footnotesize`` (the text is 44.2 em),
#: the gap between its columns (``\quad`` and amsmath's least alignment gap), and at most
#: this many columns.
DENSE_ROW_LIMIT = 42.0
DENSE_GAP = 2.3
MAX_DENSE_COLUMNS = 6
#: A result at most this wide (in em) is short: one symbol, signed, with its indices.
SHORT_RESULT = 3.5
#: Lines of equations beside the drawing on one overlay frame, and the longest line that fits
#: in the column beside it (in printed symbols, roughly: commands and braces do not count).
OVERLAY_LINES = 6
OVERLAY_WIDTH = 32
#: The most chains walked through beside the drawing (the gallery's decks walk up to 6): each
#: overlay frame repeats the drawing, so walking every layer's chain of a deep net made its
#: deck quadratic in the depth. The chains after these stay in their section's frames.
MAX_WALKED = 12

_UNPRINTED = re.compile(r"\\[A-Za-z]+|[{}^_ ]")
_DENSE_SCALE = 0.88   # a short table's fraction rows at \footnotesize
_EQUATION_GAP = 4.0   # \\[4pt] between two equations of a block
_GRID_GAP = 2.0       # \\[2pt] between two rows of a grid
_DISPLAY = 8.0        # the display's skips above and below
_HEADING = 16.0       # \medskip and a bold line
#: What a frame that takes in a lone line may hold past FRAME_HEIGHT, in pt (of the margin
#: FRAME_HEIGHT leaves under TeX's 211 pt).
_SLACK = 8.0
#: An equation at most this share of a frame is never split across two.
_GLUED = 0.45


@dataclass
class _Unit:
    """Something a frame holds whole: a heading, a paragraph, an equation or a grid row."""

    height: float
    heading: Section | None = None
    paragraph: Paragraph | None = None
    equations: list[Equation] = field(default_factory=list)
    block: Equations | None = None  # the block (or regridded block) its equations come from
    dense: bool = False
    opens: bool = False  # the first of its block: its height counts the display's skips
    source: Equation | None = None  # the equation a packed row comes from
    row: list | None = None  # that row: (relation, line) pairs, relation None inside a sum
    #: It goes where the unit above it goes: a short equation's rows, a long one's second and
    #: last, a block's second, a short table's rows.
    glued: bool = False


_PARTIAL = re.compile(r"\\frac\{(\\partial [^{}]*(?:\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}[^{}]*)*)\}"
                      r"\{(\\partial [^{}]*(?:\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}[^{}]*)*)\}")


def slashed(lhs: str) -> Tex:
    """A derivative ``∂a/∂b`` written on one line, as a table of short results prints it
    (a fraction would make every row twice as tall); any other left-hand side as it is.

    >>> print(slashed(r"\\frac{\\partial z_{1}}{\\partial w_{1}}"))
    \\partial z_{1} / \\partial w_{1}
    """
    m = _PARTIAL.fullmatch(lhs.strip())
    return Tex(f"{m.group(1)} / {m.group(2)}" if m else lhs)


def _is_short_table(block: Equations) -> bool:
    """A block of many one-line results no wider than a symbol (∂z/∂w = x)."""
    eqs = block.equations
    return len(eqs) > 4 and all(
        len(eq.steps) == 1 and len(eq.steps[0].lines) == 1 and not eq.steps[0].note
        and layout.width(eq.steps[0].lines[0]) <= SHORT_RESULT for eq in eqs)


def _grid_columns(block: Equations, limit: float, most: int, gap: float) -> int:
    """As many columns as fit ``limit`` em (a compact grid's cells hold every step)."""
    if block.compact:
        widest = max(layout.width(eq.lhs) + sum(layout.RELATION + layout.width(s.lines[0])
                                                for s in eq.steps) for eq in block.equations)
        return max(1, min(most, len(block.equations), int((limit + gap) // (widest + gap))))
    return layout.grid_columns(block.equations, limit, most, gap)


def _grid_units(block: Equations, size: Size) -> list[_Unit]:
    dense = _is_short_table(block)
    if dense:
        block = Equations([Equation(eq.label, slashed(eq.lhs), eq.steps, eq.check, eq.paths)
                           for eq in block.equations], block.title, block.columns, block.compact)
    columns = _grid_columns(block, DENSE_ROW_LIMIT, MAX_DENSE_COLUMNS, DENSE_GAP) if dense \
        else _grid_columns(block, size.row_limit, 3, layout.ROW_GAP)
    grid = Equations(block.equations, block.title, columns, block.compact,
                     breaks=list(block.breaks))
    scale = min(_DENSE_SCALE, size.scale) if dense else size.scale
    units = []
    for row in grid.rows:
        texts = [t for eq in row for t in (eq.lhs, *(s.lines[0] for s in eq.steps))]
        units.append(_Unit((row_height(texts) + _GRID_GAP) * scale, equations=list(row),
                           block=grid, dense=dense, glued=dense and bool(units)))
    if sum(u.height for u in units) > _GLUED * FRAME_HEIGHT:
        for unit in units:
            unit.glued = False  # a tall table may go on over two frames, row by row
    return units


def _column_units(block: Equations, size: Size) -> list[_Unit]:
    """A row of equations each: a frame may end inside a long equation, and the next goes on
    under its left-hand side; a short equation's rows stay together."""
    lhs_width = max(layout.width(eq.lhs) for eq in block.equations)
    units = []
    for eq in block.equations:
        rows = layout.rows(eq, limit=size.row_limit, lhs_width=lhs_width)
        heights = [row_height([eq.lhs if k == 0 else "", *(line for _, line in row)])
                   * size.scale for k, row in enumerate(rows)]
        heights[-1] += _EQUATION_GAP * size.scale
        short = sum(heights) <= _GLUED * FRAME_HEIGHT
        # A long equation goes on over frames, but never leaves its first row alone at the
        # foot of one, nor its last alone at the top of the next.
        units.extend(_Unit(height, block=block, source=eq, row=row,
                           glued=k > 0 and (short or k in (1, len(rows) - 1)))
                     for k, (height, row) in enumerate(zip(heights, rows, strict=True)))
    return units


def _equation(eq: Equation, rows: list[list]) -> Equation:
    """``eq`` with only ``rows`` of its packed rows, under its own left-hand side: each step
    equals it, so ``lhs = a later step`` is as true as the whole chain. A broken sum that
    starts on this frame's first row goes on from ``⋯``, the terms above summed in it."""
    steps: list[Step] = []
    for row in rows:
        for relation, line in row:
            if relation is None and steps:
                steps[-1].lines.append(line)
            elif relation is None:
                first = line.removeprefix("+ ")
                joint = " " if first.startswith("-") else " + "
                steps.append(Step([Tex(r"\cdots" + joint + first)]))
            else:
                steps.append(Step([line], relation))
    return Equation(eq.label, eq.lhs, steps, eq.check, eq.paths)


def _units(body: list[dict], say: Callable[[Paragraph], str], size: Size) -> list[_Unit]:
    units: list[_Unit] = []
    for item in body:
        if item["heading"] is not None:
            units.append(_Unit(_HEADING * size.scale, heading=item["heading"]))
            continue
        b = item["block"]
        if b.kind == "paragraph":
            units.append(_Unit(prose_height(say(b), size), paragraph=b))
        elif b.kind == "equations" and b.equations:
            made = _grid_units(b, size) if b.columns > 1 or _is_short_table(b) \
                else _column_units(b, size)
            made[0].height += _DISPLAY * size.scale
            made[0].opens = True
            # A block never starts with one row alone at the foot of a frame.
            for unit in made[1:2]:
                unit.glued = True
            units.extend(made)
    while units and units[-1].heading is not None:
        units.pop()  # a heading whose equations all went beside the drawing
    return units


def _fill(units: list[_Unit], cap: float) -> list[list[_Unit]]:
    """Units into frames of at most ``cap`` pt, in order. Words never end a frame (a heading
    or a sentence goes with what it introduces), and glued rows move with the row above."""
    frames: list[list[_Unit]] = [[]]
    used = 0.0
    for unit in units:
        height = _height(unit, first=not frames[-1])
        if frames[-1] and used + height > cap:
            moved = []
            follows = unit
            while frames[-1] and (follows.glued or frames[-1][-1].heading is not None
                                  or frames[-1][-1].paragraph is not None):
                follows = frames[-1].pop()
                moved.insert(0, follows)
            frames.append(moved)
            used = _frame_height(moved)
            height = _height(unit, first=not moved)
        frames[-1].append(unit)
        used += height
    return [f for f in frames if f]


def _height(unit: _Unit, first: bool) -> float:
    """A unit's height where it stands: a block's row that opens a frame opens a display."""
    math = unit.equations or unit.row is not None
    return unit.height + (_DISPLAY if first and math and not unit.opens else 0.0)


def _frame_height(frame: list[_Unit]) -> float:
    return sum(_height(u, first=k == 0) for k, u in enumerate(frame))


def _balanced(units: list[_Unit]) -> list[list[_Unit]]:
    """As few frames as hold the units, filled evenly: the lowest cap that needs no more
    frames than the full one (so no frame is left with a lone line when the rest could share)."""
    count = len(_fill(units, FRAME_HEIGHT))
    low, high = max(u.height for u in units) / 2, FRAME_HEIGHT
    for _ in range(24):
        mid = (low + high) / 2
        if len(_fill(units, mid)) <= count:
            high = mid
        else:
            low = mid
    return _fill(units, high)


def _items(frame: list[_Unit]) -> list[dict]:
    """A frame's units as the template's items; rows of one block set as one display, the
    rows of one equation as one equation."""
    items: list[dict] = []
    for unit in frame:
        if unit.heading is not None:
            items.append({"heading": unit.heading, "block": None, "dense": False})
        elif unit.paragraph is not None:
            items.append({"heading": None, "block": unit.paragraph, "dense": False})
        else:
            if not (items and items[-1].get("source") is unit.block):
                items.append({"heading": None, "source": unit.block, "dense": unit.dense,
                              "parts": []})
            parts = items[-1]["parts"]
            if unit.row is None:
                parts.extend([eq, None] for eq in unit.equations)
            elif parts and parts[-1][0] is unit.source:
                parts[-1][1].append(unit.row)
            else:
                parts.append([unit.source, [unit.row]])
    for item in items:
        block = item.pop("source", None)
        if block is None:
            continue
        eqs = [eq if rows is None else _equation(eq, rows) for eq, rows in item.pop("parts")]
        item["block"] = Equations(eqs, block.title, block.columns, block.compact)
        if block.columns > 1 and block.breaks:
            # The kinds' row breaks, counted from this frame's first equation.
            first = block.equations.index(eqs[0])
            item["block"].breaks = [k - first for k in block.breaks if 0 < k - first < len(eqs)]
    return items


def walkable(eq: Equation) -> bool:
    """Whether a chain fits beside the drawing (a longer one stays in the section's frames)."""
    lines = [line for step in eq.steps for line in step.lines]
    return bool(eq.paths) and len(lines) <= OVERLAY_LINES and \
        max(len(_UNPRINTED.sub("", line)) for line in lines) <= OVERLAY_WIDTH


def _walked(doc: Document) -> set[int]:
    """The equations (by id) walked through beside the drawing: the first MAX_WALKED
    walkable ones, in the deck's order."""
    found = (eq for section in doc.sections for sub in section.walk() for b in sub.blocks
             if b.kind == "equations" for eq in b.equations if walkable(eq))
    return {id(eq) for eq in itertools.islice(found, MAX_WALKED)}


def _walkthrough(section: Section, figure, walked: set[int]) -> list[dict]:
    """Overlay frames for the chains of ``section`` in ``walked``: the drawing beside the
    equations, and on overlay k the path whose factors line k multiplies drawn in red on the
    network."""
    frames: list[dict] = []
    for sub in section.walk():
        for b in sub.blocks:
            if b.kind != "equations":
                continue
            for eq in b.equations:
                if id(eq) not in walked:
                    continue
                rows = sum(len(step.lines) for step in eq.steps)
                if not frames or frames[-1]["rows"] + rows > OVERLAY_LINES or \
                        frames[-1]["heading"] is not sub:
                    frames.append({"section": section, "heading": sub if sub is not section
                                   else None, "equations": [], "rows": 0, "highlights": [],
                                   "figure": None, "walk": True, "body": []})
                frame = frames[-1]
                first = len(frame["highlights"]) + 1
                steps = []
                for n, step in enumerate(eq.steps):
                    if n < 2 and len(step.lines) == len(eq.paths):
                        lines = [Tex(rf"\alert<{first + k}>{{{line}}}")
                                 for k, line in enumerate(step.lines)]
                        step = Step(lines, step.relation, step.note)
                    steps.append(step)
                frame["equations"].append(Equation(eq.label, eq.lhs, steps, eq.check))
                frame["highlights"] += eq.paths
                frame["rows"] += rows
    for frame in frames:
        drawn = []
        for k, edges in enumerate(frame["highlights"], start=1):
            lines = "".join(rf"\draw[->, red!80!black, line width=1.6pt] ({a}) -- ({b}); "
                            for a, b in edges)
            drawn.append(rf"\only<{k}>{{{lines}}}")
        frame["tikz"] = Tex(figure.tikz.replace(r"\end{tikzpicture}",
                                                "\n".join(drawn) + "\n" + r"\end{tikzpicture}"))
        frame["block"] = Equations(frame["equations"])
    return frames


_ROMAN = ["", "", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"]


def _section_frames(section: Section, body: list[dict], say: Callable[[Paragraph], str],
                    size: Size) -> list[dict]:
    units = _units(body, say, size)
    if not units:
        return []
    return [{"section": section, "figure": None, "body": _items(frame), "size": size,
             "height": _frame_height(frame),
             "part": _ROMAN[k + 1] if k + 1 < len(_ROMAN) else str(k + 1)}
            for k, frame in enumerate(_no_lone_lines(_balanced(units)))]


def _no_lone_lines(frames: list[list[_Unit]]) -> list[list[_Unit]]:
    """A frame of one line (a row of equations, under its heading) joins a neighbour, which
    may then spend the estimates' margin (a lone line is worse than a full frame)."""
    k = 0
    while len(frames) > 1 and k < len(frames):
        if sum(u.heading is None for u in frames[k]) <= 1:
            for other in (k - 1, k + 1):
                if 0 <= other < len(frames) and _frame_height(
                        frames[min(k, other)] + frames[max(k, other)]) <= FRAME_HEIGHT + _SLACK:
                    low = min(k, other)
                    frames[low:low + 2] = [frames[low] + frames[low + 1]]
                    break
        k += 1
    return frames


def _segments(doc: Document) -> list[dict]:
    """The deck in order: frames made whole (a figure, the walk through the chains) and each
    section's body (its headings, paragraphs and blocks) to be cut into frames."""
    segments: list[dict] = []
    pending: list[dict] = []
    figure = next((b for s in doc.sections for b in s.blocks if b.kind == "figure"), None)
    walked = _walked(doc) if figure is not None else set()

    def items(section, depth: int) -> list[dict]:
        out = [{"heading": section, "block": None}] if depth else []
        for b in section.blocks:
            if b.kind == "figure":
                segments.append({"frame": {"section": section, "figure": b, "body": []}})
            elif b.kind == "equations" and any(id(e) in walked for e in b.equations):
                rest = [e for e in b.equations if id(e) not in walked]
                if rest:
                    out.append({"heading": None, "block": Equations(rest, b.title, b.columns)})
            else:
                out.append({"heading": None, "block": b})
        for sub in section.subsections:
            out += items(sub, depth + 1)
        return out

    for section in doc.sections:
        body = items(section, 0)
        walk = _walkthrough(section, figure, walked) if figure is not None else []
        if walk:
            # The words first, then the walk through the chains, then what is left.
            words = [i for i in body if i["block"] is not None and i["block"].kind == "paragraph"]
            walk[0]["body"] = pending + words  # said above the first chain, not alone
            segments.extend({"frame": frame} for frame in walk)
            segments.append({"section": section, "body": [i for i in body if i not in words]})
            pending = []
            continue
        figures = [s["frame"] for s in segments if "frame" in s and s["frame"]["section"] is section]
        if all(i["block"] is None or i["block"].kind == "paragraph" for i in body) and figures:
            # The words about a figure go under it, on its frame (the drawing shrinks to
            # leave them room), rather than crowd the next section's frame.
            figures[-1]["body"] = figures[-1]["body"] + body
            continue
        segments.append({"section": section, "body": pending + body})
        pending = []
    if pending:
        segments.append({"section": doc.sections[-1], "body": pending})
    return segments


def _build(segments: list[dict], say: Callable[[Paragraph], str], sizes: dict[int, int],
           share: bool, made_before: dict | None = None) -> tuple[list[dict], dict[int, int]]:
    """The frames of ``segments`` (segment k in ``SIZES[sizes[k]]``, else the deck's size),
    and how many each took. ``share``: a section of one frame joins the frame before it,
    under its title as a heading, where it fits. ``made_before`` keeps a section's frames at
    a size across the plan's rebuilds (a deep net's deck is rebuilt a dozen times while its
    sections shrink, and cutting each anew was most of its time)."""
    frames: list[dict] = []
    counts: dict[int, int] = {}
    made_before = {} if made_before is None else made_before
    for k, segment in enumerate(segments):
        if "frame" in segment:
            frames.append(segment["frame"])
            continue
        size = SIZES[sizes.get(k, 0)]
        # by identity: the segments (and their blocks) live as long as the plan
        key = (id(segment["section"]), tuple((id(i["block"]), id(i["heading"]))
                                             for i in segment["body"]), sizes.get(k, 0))
        if key not in made_before:
            made_before[key] = _section_frames(segment["section"], segment["body"], say, size)
        made = [dict(frame) for frame in made_before[key]]  # sharing below edits a frame
        before = frames[-1] if frames else None
        if share and len(made) == 1 and before is not None and before.get("size") is size \
                and before["height"] + _HEADING + made[0]["height"] <= FRAME_HEIGHT:
            before["body"] = [*before["body"], {"heading": segment["section"], "block": None,
                                                "dense": False}, *made[0]["body"]]
            before["height"] += _HEADING + made[0]["height"]
            continue
        counts[k] = len(made)
        frames.extend(made)
    return frames, counts


def plan(doc: Document, say: Callable[[Paragraph], str]) -> list[dict]:
    """The deck's frames after its title, in order: each a dict the slides template reads
    (``figure``: a drawing's frame; ``walk``: chains beside the drawing; else ``body``, the
    headings, paragraphs and equation blocks of one frame, ``size`` its type size and
    ``part`` its numeral when a section goes on over several frames). ``say`` gives a
    paragraph's text, whose length sets its height. Over MAX_FRAMES, one-frame sections
    share, then the section with the most frames is set a size smaller, until it fits."""
    segments = _segments(doc)
    sizes: dict[int, int] = {}
    made: dict = {}
    frames, counts = _build(segments, say, sizes, share=False, made_before=made)
    if len(frames) + 1 > MAX_FRAMES:
        frames, counts = _build(segments, say, sizes, share=True, made_before=made)
    kept = [segments]  # every list of segments the cache's keys name stays alive
    for shorter in SHORTER:
        if len(frames) + 1 <= MAX_FRAMES:
            break
        cut = shorter(segments, doc)
        if cut is not segments:
            segments = cut
            kept.append(cut)
            frames, counts = _build(segments, say, sizes, share=True, made_before=made)
    while len(frames) + 1 > MAX_FRAMES:
        longest = [(n, k) for k, n in counts.items() if n > 1 and sizes.get(k, 0) + 1 < len(SIZES)]
        if not longest:
            break
        k = max(longest)[1]
        sizes[k] = sizes.get(k, 0) + 1
        frames, counts = _build(segments, say, sizes, share=True, made_before=made)
    return frames

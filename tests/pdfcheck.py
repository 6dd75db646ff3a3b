"""Reading compiled documents as a reader would: TeX's log, the words on each page and where
they sit (poppler's pdftotext), so that overflow, collisions and stray ASCII are caught."""

from __future__ import annotations

import re
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

#: Wider than this, an overfull line is visible on the page.
HBOX_TOLERANCE_PT = 5.0
#: Notation that should have been typeset as math.
ASCII_NOTATION = ("^(", "^[", "_ij^", "_{", "^{", "\\")


def overfull(log: str) -> list[str]:
    """The log's Overfull \\vbox lines and Overfull \\hbox lines over the tolerance."""
    bad = []
    for m in re.finditer(r"Overfull \\([hv])box \(([0-9.]+)pt too (?:wide|high)\)[^\n]*", log):
        if m.group(1) == "v" or float(m.group(2)) > HBOX_TOLERANCE_PT:
            bad.append(m.group(0))
    return bad


@dataclass(frozen=True)
class Word:
    page: int
    text: str
    x0: float
    y0: float
    x1: float
    y1: float

    def overlap(self, other: Word) -> float:
        """The shared area as a share of the smaller word's area."""
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        if w <= 0 or h <= 0:
            return 0.0
        small = min((self.x1 - self.x0) * (self.y1 - self.y0),
                    (other.x1 - other.x0) * (other.y1 - other.y0))
        return w * h / small if small > 0 else 0.0


_PAGE_OR_WORD = re.compile(r'<page |<word xMin="([-0-9.]+)" yMin="([-0-9.]+)" '
                           r'xMax="([-0-9.]+)" yMax="([-0-9.]+)">([^<]*)</word>')


def words(pdf: Path) -> list[Word]:
    """Every word of the PDF with its box (pdftotext -bbox-layout; read by pattern, since a
    symbol font's word may not be well-formed XML)."""
    out = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True,
                         check=True).stdout.decode("utf-8", "replace")
    found, page = [], 0
    for m in _PAGE_OR_WORD.finditer(out):
        if m.group(0).startswith("<page"):
            page += 1
        else:
            found.append(Word(page, m.group(5), *(float(m.group(k)) for k in range(1, 5))))
    return found


#: Glyphs whose box reaches past the ink that neighbours it by design: a radical's box covers
#: the rule over its argument, a big operator's its limits ("i=1" under a side-set ∑ in a
#: numerator meets the √ of the denominator under the fraction bar).
GROWN_GLYPHS = {"√", "∑", "∏", "∫"}


def collisions(pdf: Path, share: float = 0.35) -> list[tuple[Word, Word]]:
    """Pairs of words on a page whose boxes overlap by more than ``share`` of the smaller
    (a radical or big operator alone aside: see GROWN_GLYPHS).

    Sub- and superscripts touch their base a little; labels printed over each other
    overlap much more.
    """
    by_page: dict[int, list[Word]] = {}
    for w in words(pdf):
        by_page.setdefault(w.page, []).append(w)
    hits = []
    for page in by_page.values():
        page.sort(key=lambda w: w.x0)
        for i, a in enumerate(page):
            for b in page[i + 1:]:
                if b.x0 >= a.x1:
                    break
                if a.overlap(b) > share and not ({a.text, b.text} & GROWN_GLYPHS):
                    hits.append((a, b))
    return hits


def text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          check=True, text=True).stdout


#: Words of mathematics that read like English in a PDF's text layer.
MATH_WORDS = {"log", "exp", "tanh", "sin", "cos", "softmax", "max", "min", "sum"}


def english_runs(text: str, ignore: str = "") -> list[str]:
    """Runs of three or more English words of three letters or more (math names aside):
    prose a Korean document left untranslated. ``ignore``'s lines (the user's title) are
    found wherever the page broke them, at a space or after a hyphen."""
    text = text.replace("\u2019", "'")  # TeX sets the title's ' as a right quote
    for phrase in filter(None, ignore.split("\n")):
        words = [re.escape(w).replace("-", r"-\s*") for w in phrase.split()]
        text = re.sub(r"\s+".join(words), " ", text)
    runs = re.finditer(r"\b[A-Za-z]{3,}(?:[ ,.;:()]+[A-Za-z]{3,}){2,}\b", text)
    return [m.group(0) for m in runs
            if sum(w.lower() not in MATH_WORDS for w in re.findall("[A-Za-z]+", m.group(0))) >= 3]


def frames(pdf: Path) -> int:
    """A beamer deck's frames, the overlays of one frame counted once: beamer labels each
    page with its frame's number, so the last page's label is the count (read from the
    PDF's /PageLabels, which poppler does not list)."""
    data = pdf.read_bytes()
    streams = [data] + [_inflate(m.group(1)) for m in
                        re.finditer(rb"stream\r?\n(.*?)endstream", data, flags=re.S)]
    for text in streams:
        start = text.find(b"/PageLabels")
        if start < 0:
            start = text.find(b"PageLabels<<")
        if start >= 0:
            nums = text[start:text.index(b"]", start)]
            labels = [_pdf_string(m.group(1)) for m in re.finditer(rb"/P\((.*?)\)>>", nums)]
            return max(int(label) for label in labels if label.isdigit())
    raise ValueError(f"{pdf} has no page labels (not a beamer deck?)")


def _inflate(raw: bytes) -> bytes:
    try:
        return zlib.decompress(raw)
    except zlib.error:
        return b""


def _pdf_string(raw: bytes) -> str:
    """A PDF literal string (octal escapes, UTF-16 with its byte-order mark) as text."""
    data = re.sub(rb"\\([0-7]{1,3})", lambda m: bytes([int(m.group(1), 8)]), raw)
    return data[2:].decode("utf-16-be") if data.startswith(b"\xfe\xff") else data.decode("latin-1")

"""Reading a rendered HTML page back, for the HTML tests: its headings, its displayed
equations' LaTeX alternatives and linking attributes, its slides, and every URL it names.

A page is parsed with the standard library's HTMLParser (no browser): what the tests check is
the page's structure and text, which the browser tests (test_html_browser.py) then look at.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

__all__ = ["Page", "read_page", "markdown_equations", "markdown_headings"]

_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")


@dataclass
class Page:
    lang: str = ""
    headings: list[tuple[int, str]] = field(default_factory=list)  # (level, text without math)
    equations: list[dict] = field(default_factory=list)  # alttext, edges, node
    slides: list[dict] = field(default_factory=list)  # id, classes, roledescription
    urls: list[tuple[str, str, str]] = field(default_factory=list)  # (tag, attribute, value)
    scripts: int = 0
    svg_edges: list[tuple[str, str]] = field(default_factory=list)
    svg_nodes: list[str] = field(default_factory=list)
    descriptions: list[str] = field(default_factory=list)
    text: str = ""  # the visible text, math left out


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._heading: list | None = None
        self._math_depth = 0
        self._equation: dict | None = None
        self._desc: list[str] | None = None
        self._skip = 0  # inside <script>, <style>, <title>
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.page.lang = a.get("lang", "")
        for name in ("src", "href", "action", "data", "poster", "srcset"):
            if name in a:
                self.page.urls.append((tag, name, a[name] or ""))
        if tag in ("script", "style", "title"):
            self._skip += 1
            self.page.scripts += tag == "script"
        if tag == "desc":
            self._desc = []
        if tag in _HEADINGS:
            self._heading = [int(tag[1]), []]
        classes = (a.get("class") or "").split()
        if tag == "div" and "equation" in classes:
            self._equation = {"edges": json.loads(a["data-edges"]) if "data-edges" in a else [],
                              "node": a.get("data-node"), "tabindex": a.get("tabindex"),
                              "alttext": None}
            self.page.equations.append(self._equation)
        if tag == "math":
            if self._math_depth == 0 and self._equation is not None and \
                    a.get("display") == "block" and self._equation["alttext"] is None:
                self._equation["alttext"] = a.get("alttext")
            self._math_depth += 1
        if tag == "section" and "slide" in classes:
            self.page.slides.append({"id": a.get("id"), "classes": classes,
                                     "role": a.get("aria-roledescription")})
        if tag == "path" and "edge" in classes and "data-from" in a:
            self.page.svg_edges.append((a["data-from"], a["data-to"]))
        if tag == "g" and "node" in classes and "data-node" in a:
            self.page.svg_nodes.append(a["data-node"])

    def handle_endtag(self, tag):
        if tag in ("script", "style", "title"):
            self._skip -= 1
        if tag == "desc" and self._desc is not None:
            self.page.descriptions.append(" ".join("".join(self._desc).split()))
            self._desc = None
        if tag == "math":
            self._math_depth -= 1
        if tag in _HEADINGS and self._heading is not None:
            self.page.headings.append((self._heading[0], " ".join("".join(self._heading[1]).split())))
            self._heading = None
        if tag == "div" and self._equation is not None and self._math_depth == 0:
            self._equation = None

    def handle_data(self, data):
        if self._desc is not None:
            self._desc.append(data)
            return
        if self._skip or self._math_depth:
            return
        if self._heading is not None:
            self._heading[1].append(data)
        self._text.append(data)


def read_page(html: str) -> Page:
    """The page's structure, read back."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    reader.page.text = " ".join("".join(reader._text).split())
    return reader.page


_ALIGNED = re.compile(r"\$\$\n(\\begin\{aligned\}.*?\\end\{aligned\})\n\$\$", re.S)
_INLINE = re.compile(r"\$[^$]*\$")


def markdown_equations(markdown: str) -> list[str]:
    """The aligned LaTeX of every displayed equation the Markdown notes print, white space
    collapsed (the templates' line breaks differ, the LaTeX does not)."""
    return [" ".join(m.split()) for m in _ALIGNED.findall(markdown)]


def markdown_headings(markdown: str) -> list[tuple[int, str]]:
    """Every heading of the Markdown notes: (level, text without its inline math)."""
    out = []
    for line in markdown.splitlines():
        m = re.match(r"(#{1,6}) (.*)$", line)
        if m:
            out.append((len(m.group(1)), " ".join(_INLINE.sub("", m.group(2)).split())))
    return out

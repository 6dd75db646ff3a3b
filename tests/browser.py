"""The real-browser harness of the HTML tests: Debian's chromium driven by Playwright, and checks.

One `Chromium` is launched per test session (tests/conftest.py's ``chromium`` fixture); each page
opens in a fresh context at a viewport (``NOTES_VIEWPORTS``, ``DECK_VIEWPORT``), light or dark,
with every console error, page error and request that leaves ``file://`` recorded. Each check
takes the open `View` and returns a list of problems (an empty list passes), so a test can
gather them all before it asserts and say everything that is wrong at once::

    with chromium.open(path, width=375) as view:
        assert horizontal_overflow(view) == []

The checks of a deck walked slide by slide are in tests/browser_deck.py.

Playwright's Python package drives the executable SYMBACKPROP_CHROMIUM names, else ``chromium``
on PATH (.ci/install-browser.sh installs Debian's); nothing downloads a browser. Screenshots go
to SYMBACKPROP_ARTEFACTS, else tests/artefacts/ (gitignored), made when first written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_ENV = "SYMBACKPROP_CHROMIUM"
ARTEFACTS_ENV = "SYMBACKPROP_ARTEFACTS"
#: The notes are read on a laptop and on a phone; a deck is shown on a 16:9 projector.
NOTES_VIEWPORTS = {"1024": (1024, 768), "375": (375, 812)}
DECK_VIEWPORT = (1280, 720)
#: Schemes a self-contained page may load: itself, and what it carries inline.
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
#: How long (ms) the page's script may take to answer a key before it counts as a miss: the
#: handlers are synchronous, so this only absorbs a busy machine.
SETTLE_MS = 1500


def chromium_executable() -> str | None:
    """The chromium to drive: SYMBACKPROP_CHROMIUM, else ``chromium`` on PATH; None if neither.

    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {CHROMIUM_ENV: "/nowhere/chromium"}):
    ...     chromium_executable() is None
    True
    """
    named = os.environ.get(CHROMIUM_ENV)
    if named:
        return named if Path(named).is_file() else None
    return shutil.which("chromium")


def missing() -> str | None:
    """One line naming what the browser tests lack (a skip reason), or None when all is there.

    Each reason says "not installed", which tests/conftest.py turns into a failure under CI=true.

    >>> missing() is None or "not installed" in missing()
    True
    """
    if chromium_executable() is None:
        return (f"chromium is not installed (.ci/install-browser.sh installs it; or set {CHROMIUM_ENV})")
    for module, package in (("playwright", "playwright"), ("axe_playwright_python", "axe-playwright-python")):
        try:
            __import__(module)
        except ImportError:
            return f"{package} is not installed (pip install -e '.[test]')"
    return None


def artefacts_dir() -> Path:
    """Where screenshots are kept: SYMBACKPROP_ARTEFACTS, else tests/artefacts/; made if missing.

    >>> artefacts_dir().is_dir()
    True
    """
    folder = Path(os.environ.get(ARTEFACTS_ENV) or Path(__file__).parent / "artefacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class View:
    """One page open in its own browser context, with what it logged and tried to load."""

    page: object
    context: object
    url: str
    console: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        """Save a PNG named `name` among the artefacts and return its path."""
        path = artefacts_dir() / f"{re.sub(r'[^A-Za-z0-9._-]+', '-', name)}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def close(self) -> None:
        self.context.close()

    def __enter__(self) -> View:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Chromium:
    """Debian's chromium under Playwright, launched once and closed with `close`."""

    def __init__(self, executable: str | None = None):
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        # --no-sandbox: CI runs as root in a container, where chromium's sandbox cannot start.
        self.browser = self._playwright.chromium.launch(
            executable_path=executable or chromium_executable(), args=["--no-sandbox"])

    def open(self, path: Path, *, width: int = 1024, height: int = 768, dark: bool = False,
             fragment: str = "") -> View:
        """Open the file at `path` (``#fragment`` appended when given) at a viewport and scheme."""
        context = self.browser.new_context(viewport={"width": width, "height": height},
                                           color_scheme="dark" if dark else "light")
        url = Path(path).resolve().as_uri()
        view = View(page=None, context=context, url=url)

        def route(request_route) -> None:
            target = request_route.request.url
            if target.startswith(LOCAL_SCHEMES):
                request_route.continue_()
            else:
                # Recorded and refused: a page that needs the network must fail offline here too.
                view.external.append(target)
                request_route.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on("console", lambda m: view.console.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: view.console.append(f"page error: {e}"))
        view.page = page
        page.goto(url + (f"#{fragment}" if fragment else ""), wait_until="load")
        return view

    def close(self) -> None:
        self.browser.close()
        self._playwright.stop()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- checks: each returns a list of problems, one sentence each ----------------------------------

def console_errors(view: View) -> list[str]:
    """Every console error and uncaught page error the page has logged so far."""
    return [f"console: {text}" for text in view.console]


def external_urls(view: View) -> list[str]:
    """Every request that left file:// (each was refused, so the page was seen offline)."""
    return [f"loads {url}" for url in view.external]


_EMPTY_MATH = """scope => [...document.querySelectorAll(scope + ' math')].flatMap(m => {
  const r = m.getBoundingClientRect(), what = (m.getAttribute('alttext') || m.textContent).slice(0, 60);
  const out = [];
  if (r.width < 1 || r.height < 1) out.push(`<math> has an empty box (${r.width}x${r.height}): ${what}`);
  if (m.querySelector('merror')) out.push(`<math> holds an <merror>: ${what}`);
  if (!m.textContent.trim()) out.push(`<math> has no content: ${what}`);
  return out;
})"""


def empty_math(view: View, scope: str = ":root") -> list[str]:
    """Each ``<math>`` under `scope` without a box, without content, or holding an ``<merror>``."""
    return view.page.evaluate(_EMPTY_MATH, scope)


# A label's box is what it shows: a foreignObject is sized by its width and height attributes,
# which may be generous, so its content's box (clipped to the foreignObject) stands for it.
_LABEL_BOXES = """scope => [...document.querySelectorAll(scope + ' svg g.label')].map((g, i) => {
  let r = g.getBoundingClientRect();
  const fo = g.querySelector('foreignObject'), inner = fo && fo.firstElementChild;
  if (inner) {
    const f = fo.getBoundingClientRect();
    const parts = [...inner.querySelectorAll('*')].map(e => e.getBoundingClientRect())
      .filter(b => b.width > 0 && b.height > 0);
    const c = parts.length ? parts : [inner.getBoundingClientRect()];
    r = {left: Math.max(f.left, Math.min(...c.map(b => b.left))),
         right: Math.min(f.right, Math.max(...c.map(b => b.right))),
         top: Math.max(f.top, Math.min(...c.map(b => b.top))),
         bottom: Math.min(f.bottom, Math.max(...c.map(b => b.bottom)))};
  }
  return {i, svg: [...document.querySelectorAll('svg')].indexOf(g.closest('svg')),
          text: (g.textContent || '').trim().slice(0, 30),
          left: r.left, right: r.right, top: r.top, bottom: r.bottom};
})"""


def label_overlaps(view: View, scope: str = ":root", tolerance: float = 0.5) -> list[str]:
    """Each pair of ``svg g.label`` in one drawing whose boxes overlap by more than `tolerance` px."""
    boxes = [b for b in view.page.evaluate(_LABEL_BOXES, scope)
             if b["right"] - b["left"] > 0 and b["bottom"] - b["top"] > 0]
    problems = []
    for n, a in enumerate(boxes):
        for b in boxes[n + 1:]:
            wide = min(a["right"], b["right"]) - max(a["left"], b["left"])
            high = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
            if a["svg"] == b["svg"] and wide > tolerance and high > tolerance:
                problems.append(f"labels {a['text']!r} and {b['text']!r} overlap by "
                                f"{wide:.1f}x{high:.1f} px")
    return problems


# Names the outermost elements past the window's right edge (not those inside a box that
# scrolls or clips them, which is where a wide equation belongs), so the failure says what to fix.
_OVERFLOW = """() => {
  const d = document.documentElement, width = d.clientWidth;
  if (d.scrollWidth <= width) return [];
  const clipped = e => { for (let a = e.parentElement; a && a !== document.body; a = a.parentElement)
    if (getComputedStyle(a).overflowX !== 'visible') return true; return false; };
  const past = e => e.getBoundingClientRect().right > width + 1;
  const wide = [...document.body.querySelectorAll('*')]
    .filter(e => past(e) && !clipped(e) && (e.parentElement === document.body || !past(e.parentElement)))
    .slice(0, 5).map(e => `<${e.tagName.toLowerCase()}${e.id ? ' id=' + e.id : ''}` +
      `${typeof e.className === 'string' && e.className ? ' class=' + e.className : ''}>` +
      ` reaches ${Math.round(e.getBoundingClientRect().right)} px`);
  return [`the page is ${d.scrollWidth} px wide in a ${width} px window` +
          (wide.length ? ': ' + wide.join('; ') : '')];
}"""


def horizontal_overflow(view: View) -> list[str]:
    """The page scrolling sideways (document scrollWidth over clientWidth), naming the widest."""
    return view.page.evaluate(_OVERFLOW)


def axe_serious(view: View, scope: str | None = None) -> list[str]:
    """axe-core's violations of impact serious or critical (under `scope`, a CSS selector).

    The inside of each ``<math>`` is left out: a page of equations holds thousands of MathML
    tokens, whose colour contrast axe takes ~20 s to visit and then mostly cannot decide
    ("partially obscured" by their own block); `math_contrast` judges them instead.
    """
    from axe_playwright_python.sync_playwright import Axe

    context: dict = {"exclude": [["math"]]}
    if scope:
        context["include"] = [[scope]]
    results = Axe().run(view.page, context=context)
    return [f"axe {v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(" ".join(node["target"]) for node in v["nodes"][:3])
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


# WCAG 2's contrast of each <math> (and of any token coloured apart from it) against the first
# opaque background behind it; the page's canvas counts as white, as axe assumes.
_MATH_CONTRAST = """scope => {
  const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b]
    .map(v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = e => {
    for (; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const m of document.querySelectorAll(scope + ' math')) {
    const own = getComputedStyle(m).color;
    for (const e of [m, ...m.querySelectorAll('*')]) {
      const color = getComputedStyle(e).color;
      if (e !== m && color === own) continue;
      const [a, b] = [lum(rgb(color)), lum(background(e))];
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      if (ratio < 4.5) out.push(`contrast ${ratio.toFixed(2)} (${color} on rgb(${background(e)})): ` +
        (m.getAttribute('alttext') || m.textContent).replace(/\\s+/g, ' ').slice(0, 50));
    }
  }
  return [...new Set(out)];
}"""


def math_contrast(view: View, scope: str = ":root") -> list[str]:
    """Each ``<math>`` (or token coloured apart) under 4.5:1 contrast with the background behind it."""
    return view.page.evaluate(_MATH_CONTRAST, scope)


# Read after the next animation frame, so a page that updates the drawing in one still counts.
_LIT = """async scope => {
  await new Promise(done => requestAnimationFrame(done));
  return {edges: [...new Set([...document.querySelectorAll(scope + ' svg .edge.lit')]
            .map(e => JSON.stringify([e.dataset.from, e.dataset.to])))].map(s => JSON.parse(s)),
          nodes: [...new Set([...document.querySelectorAll(scope + ' svg .node.lit')]
            .map(n => n.dataset.node))]};
}"""

# A point of the window over no equation (the mouse rests there between hovers), or null.
_PARKING = """() => {
  for (const y of [0, innerHeight - 1, innerHeight >> 1]) for (const x of [0, innerWidth - 1]) {
    const e = document.elementFromPoint(x, y);
    if (!e || !e.closest('.equation')) return [x, y];
  }
  return null;
}"""


def _lit(view: View, scope: str) -> tuple[set, set]:
    state = view.page.evaluate(_LIT, scope)
    return {tuple(e) for e in state["edges"]}, set(state["nodes"])


def _leave(view: View) -> None:
    """Blur the focused element and move the mouse off every equation."""
    view.page.evaluate("() => document.activeElement && document.activeElement.blur()")
    spot = view.page.evaluate(_PARKING)
    if spot:
        view.page.mouse.move(*spot)


def hover_lights(view: View, scope: str = ":root") -> list[str]:
    """Each linked equation that, focused or hovered, does not light exactly its own edges.

    An equation's ``data-edges`` must light the same set of ``svg .edge.lit`` (by data-from,
    data-to), its ``data-node`` that node, something must light, and leaving it (blur, or the
    mouse moving off) must restore what was lit before. Between the two the mouse rests off
    every equation, as a keyboard user's does.
    """
    page = view.page
    equations = page.locator(f"{scope} .equation[data-edges], {scope} .equation[data-node]")
    if equations.count() and not page.locator(f"{scope} figure.drawing svg").count():
        return [f"{equations.count()} linked equations and no figure.drawing svg to light"]
    problems = []
    _leave(view)
    baseline = _lit(view, scope)
    for n in range(equations.count()):
        equation = equations.nth(n)
        edges = {tuple(e) for e in json.loads(equation.get_attribute("data-edges") or "[]")}
        node = equation.get_attribute("data-node")
        alttext = equation.locator("math").first.get_attribute("alttext") or f"equation {n}"
        name = " ".join(alttext.split())[:60]
        if not edges and not node:
            problems.append(f"{name}: data-edges names no edge and no data-node")
            continue
        for how in ("focus", "hover"):
            if how == "focus":
                equation.focus()
            else:
                equation.hover()
            lit_edges, lit_nodes = _lit(view, scope)
            if not lit_edges and not lit_nodes:
                problems.append(f"{name}: {how} lights nothing")
            elif lit_edges != edges:
                problems.append(f"{name}: {how} lights edges {sorted(lit_edges)}, "
                                f"data-edges says {sorted(edges)}")
            if node and node not in lit_nodes:
                problems.append(f"{name}: {how} leaves node {node} unlit")
            _leave(view)
            if _lit(view, scope) != baseline:
                problems.append(f"{name}: leaving its {how} leaves the drawing lit")
    return problems


_HEADINGS = """() => {
  const levels = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')]
    .filter(h => !h.closest('[hidden], [aria-hidden="true"]'))
    .map(h => [Number(h.tagName[1]), h.textContent.trim()]);
  const out = [], ones = levels.filter(([l]) => l === 1).length;
  if (ones !== 1) out.push(`${ones} <h1> elements, not one`);
  levels.forEach(([l, text], n) => { if (n && l > levels[n - 1][0] + 1)
    out.push(`<h${l}> ${text.slice(0, 40)} follows an <h${levels[n - 1][0]}>`); });
  if (levels.length && levels[0][0] !== 1) out.push(`the first heading is an <h${levels[0][0]}>`);
  return out;
}"""


def heading_order(view: View) -> list[str]:
    """Headings out of order: not exactly one h1, the first not h1, or a level skipped going down."""
    return view.page.evaluate(_HEADINGS)

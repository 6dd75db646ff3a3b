"""The deck checks of the browser harness: a deck walked with the keyboard, slide by slide.

A deck (``<section class="slide">``, one ``.current`` at a time) is walked as a lecturer walks
it, with the keys; each check returns a list of problems, like tests/browser.py's::

    with chromium.open(deck, width=1280, height=720) as view:
        assert browser_deck.deck_walk(view) == []
        assert browser_deck.per_slide(view, browser.empty_math, browser_deck.fits_window) == []
"""

from __future__ import annotations

from collections.abc import Iterator

from browser import SETTLE_MS, View

_DECK_STATE = """() => {
  const slides = [...document.querySelectorAll('.slide')], w = innerWidth, h = innerHeight;
  const shown = slides.filter(s => { const r = s.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.right > 0 && r.bottom > 0 && r.left < w && r.top < h; });
  return {current: [...document.querySelectorAll('.slide.current')].map(s => s.id),
          shown: shown.map(s => s.id), hash: location.hash};
}"""


def slide_ids(view: View) -> list[str]:
    """The deck's slides' ids in document order."""
    return view.page.evaluate("() => [...document.querySelectorAll('.slide')].map(s => s.id)")


def _press_to(view: View, key: str, want: str, settle_ms: int = SETTLE_MS) -> str | None:
    """Press `key`, wait for slide `want` to be current; a problem sentence if it never is."""
    view.page.keyboard.press(key)
    try:
        view.page.wait_for_function(
            "id => { const c = document.querySelectorAll('.slide.current');"
            " return c.length === 1 && c[0].id === id && location.hash === '#' + id; }",
            arg=want, timeout=settle_ms)
    except Exception:  # playwright's TimeoutError: what the page shows instead is the problem
        state = view.page.evaluate(_DECK_STATE)
        return (f"{key}: expected {want} current and #{want}, found current {state['current']}, "
                f"hash {state['hash']!r}")
    state = view.page.evaluate(_DECK_STATE)
    if state["shown"] != [want]:
        return f"{key}: {want} is current but the window shows {state['shown']}"
    return None


def deck_walk(view: View, settle_ms: int = SETTLE_MS) -> list[str]:
    """The keyboard walks the deck: Home, ArrowRight, PageDown, ArrowLeft, PageUp, space, End.

    After each key exactly one slide is ``.current``, it is the only one on screen and
    location.hash names it; the ends hold; a fresh load of ``#slide-…`` opens that slide.
    """
    ids = slide_ids(view)
    if not ids:
        return ["the deck has no .slide"]
    last = len(ids) - 1

    def at(k: int) -> str:
        return ids[max(0, min(k, last))]

    steps = [("Home", 0), ("ArrowRight", 1), ("PageDown", 2), ("ArrowLeft", 1), ("PageUp", 0),
             ("Space", 1), ("End", last), ("ArrowRight", last), ("Home", 0), ("ArrowLeft", 0)]
    problems = [p for key, k in steps if (p := _press_to(view, key, at(k), settle_ms))]
    target = at(1)
    view.page.goto("about:blank")
    view.page.goto(f"{view.url}#{target}", wait_until="load")
    current = view.page.evaluate(_DECK_STATE)["current"]
    if current != [target]:
        problems.append(f"opening #{target} shows {current}")
    return problems


def each_slide(view: View) -> Iterator[tuple[str, str | None]]:
    """Walk the deck with the keyboard from Home: (slide id, problem reaching it or None)."""
    ids = slide_ids(view)
    for n, ident in enumerate(ids):
        yield ident, _press_to(view, "Home" if n == 0 else "ArrowRight", ident)


_FITS = """scope => {
  const s = document.querySelector(scope), r = s.getBoundingClientRect(), out = [];
  if (r.left < -1 || r.top < -1 || r.right > innerWidth + 1 || r.bottom > innerHeight + 1)
    out.push(`the slide spans ${Math.round(r.width)}x${Math.round(r.height)} px` +
             ` at ${Math.round(r.left)},${Math.round(r.top)}`);
  if (s.scrollHeight > s.clientHeight + 1 || s.scrollWidth > s.clientWidth + 1)
    out.push(`its content is ${s.scrollWidth}x${s.scrollHeight} px in ${s.clientWidth}x${s.clientHeight}`);
  for (const e of s.querySelectorAll('.equation'))
    if (e.scrollWidth > e.clientWidth + 1)
      out.push(`an equation needs ${e.scrollWidth} px in ${e.clientWidth}: ` +
               (e.querySelector('math')?.getAttribute('alttext') || '').replace(/\\s+/g, ' ').slice(0, 50));
  const d = document.documentElement;
  if (d.scrollHeight > innerHeight + 1 || d.scrollWidth > innerWidth + 1)
    out.push(`the deck's page scrolls (${d.scrollWidth}x${d.scrollHeight})`);
  return out;
}"""


def fits_window(view: View, scope: str) -> list[str]:
    """The slide `scope` (shown) sticking out of the window, scrolling, or scrolling an equation."""
    return view.page.evaluate(_FITS, scope)


def per_slide(view: View, *checks, shoot: str = "") -> list[str]:
    """Each `check(view, scope)` on each slide in turn, while it is the one shown (so laid out).

    Problems are prefixed with the slide's id; with `shoot`, each slide is also kept as a
    screenshot named ``shoot-slide-N``.
    """
    problems = []
    for ident, missed in each_slide(view):
        if missed:
            return problems + [f"cannot reach {ident}: {missed}"]
        problems += [f"{ident}: {p}" for check in checks for p in check(view, f"#{ident}")]
        if shoot:
            view.screenshot(f"{shoot}-{ident}", full_page=False)
    return problems


def slide_fits(view: View) -> list[str]:
    """Each slide whose content does not fit the window (1280x720): no scrolling, none cut off."""
    return per_slide(view, fits_window)


_PRINTED = """() => [...document.querySelectorAll('.slide')].flatMap((s, n, all) => {
  const r = s.getBoundingClientRect(), style = getComputedStyle(s), out = [];
  if (r.width < 1 || r.height < 1) out.push(`${s.id} is not printed`);
  if (n < all.length - 1 && !['page', 'always'].includes(style.breakAfter) &&
      !['page', 'always'].includes(getComputedStyle(all[n + 1]).breakBefore))
    out.push(`${s.id} does not end its printed page (break-after ${style.breakAfter})`);
  return out;
})"""


def deck_prints(view: View) -> list[str]:
    """Printed (print media emulated), every slide shows, each on a page of its own."""
    view.page.emulate_media(media="print")
    try:
        return view.page.evaluate(_PRINTED)
    finally:
        view.page.emulate_media(media="screen")

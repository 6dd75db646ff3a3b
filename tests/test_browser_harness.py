"""The browser harness (tests/browser.py) on tiny pages written here: each check passes a page
built to the HTML contract and reports the page built to break it, so no check can pass blind."""

from __future__ import annotations

import browser
import browser_deck
import pytest

pytestmark = pytest.mark.usefixtures("chromium")

MATH = ('<math xmlns="http://www.w3.org/1998/Math/MathML" display="block" alttext="a = b + c">'
        "<mi>a</mi><mo>=</mo><mi>b</mi><mo>+</mo><mi>c</mi></math>")

STYLE = """<style>
body { margin: 0; font-family: sans-serif; color: #111; background: #fff; }
.equation { overflow-x: auto; }
.edge { stroke: #555; } .edge.lit { stroke: #b00; stroke-width: 3; }
@media (prefers-color-scheme: dark) { body { color: #eee; background: #111; } }
</style>"""

# Lights what the focused or hovered equation names; `every` lights the whole drawing instead,
# the bug hover_lights must catch.
LINK_SCRIPT = """<script>
const every = %s;
const off = () => document.querySelectorAll('.lit').forEach(e => e.classList.remove('lit'));
const on = eq => {
  off();
  const edges = every ? [...document.querySelectorAll('.edge')].map(e => [e.dataset.from, e.dataset.to])
                      : JSON.parse(eq.dataset.edges || '[]');
  for (const [a, b] of edges)
    document.querySelectorAll(`.edge[data-from="${a}"][data-to="${b}"]`).forEach(e => e.classList.add('lit'));
  if (eq.dataset.node)
    document.querySelectorAll(`.node[data-node="${eq.dataset.node}"]`).forEach(n => n.classList.add('lit'));
};
for (const eq of document.querySelectorAll('.equation')) {
  eq.addEventListener('focus', () => on(eq)); eq.addEventListener('mouseenter', () => on(eq));
  eq.addEventListener('blur', off); eq.addEventListener('mouseleave', off);
}
</script>"""


def drawing(label_x2: int = 120) -> str:
    """A three-edge drawing with two labels, the second at `label_x2` (40 overlaps the first)."""
    label = ('<g class="label"><foreignObject x="{x}" y="5" width="60" height="30">'
             '<math xmlns="http://www.w3.org/1998/Math/MathML"><mi>{n}</mi></math>'
             "</foreignObject></g>")
    return (
        '<figure class="drawing"><svg role="img" aria-labelledby="d-title d-desc" width="300" '
        'height="120" viewBox="0 0 300 120"><title id="d-title">A net</title>'
        '<desc id="d-desc">x feeds h, h feeds y, y feeds L.</desc>'
        '<path class="edge" data-from="x" data-to="h" d="M10 60 L100 60"/>'
        '<path class="edge" data-from="h" data-to="y" d="M100 60 L200 60"/>'
        '<path class="edge" data-from="y" data-to="L" d="M200 60 L290 60"/>'
        '<g class="node" data-node="h"><circle cx="100" cy="60" r="8"/></g>'
        '<g class="node" data-node="y"><circle cx="200" cy="60" r="8"/></g>'
        + label.format(x=30, n="w") + label.format(x=label_x2, n="v")
        + '<g class="label"><text x="250" y="100">L</text></g></svg></figure>')


def page(body: str, *, lang: str = "en", head: str = "", heading: str = "<h1>Fixture</h1>") -> str:
    """A whole page around `body`, with the contract's landmarks."""
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Fixture</title>{STYLE}{head}</head><body><main>{heading}{body}</main>"
            "</body></html>")


def equation(edges: str, node: str = "") -> str:
    node_attr = f' data-node="{node}"' if node else ""
    return f"<div class=\"equation\" tabindex=\"0\" data-edges='{edges}'{node_attr}>{MATH}</div>"


GOOD_NOTES = page(f"<section id=\"net\"><h2>Net</h2>{drawing()}"
                  + equation('[["x","h"],["h","y"]]') + equation('[["y","L"]]', node="y")
                  + "</section>" + LINK_SCRIPT % "false")


@pytest.fixture
def open_page(chromium, tmp_path):
    """Write `html` to a file and open it; every view is closed after the test."""
    views = []

    def opener(html: str, **kwargs) -> browser.View:
        path = tmp_path / f"page{len(views)}.html"
        path.write_text(html, encoding="utf-8")
        views.append(chromium.open(path, **kwargs))
        return views[-1]

    yield opener
    for view in views:
        view.close()


def test_a_page_built_to_the_contract_passes_every_notes_check(open_page):
    view = open_page(GOOD_NOTES, width=375, height=812)
    found = {check.__name__: check(view) for check in (
        browser.console_errors, browser.external_urls, browser.empty_math, browser.label_overlaps,
        browser.horizontal_overflow, browser.axe_serious, browser.hover_lights)}
    assert found == {name: [] for name in found}


def test_console_errors_catch_a_logged_error_and_an_uncaught_exception(open_page):
    view = open_page(page("<script>console.error('drawing missing'); null.lights();</script>"))
    problems = browser.console_errors(view)
    assert any("drawing missing" in p for p in problems)
    assert any(p.startswith("console: page error") for p in problems)


def test_external_urls_record_a_request_to_another_host(open_page):
    view = open_page(page('<img alt="a" src="http://example.invalid/figure.png">'
                          "<script>fetch('https://example.invalid/font.woff2').catch(() => 0)</script>"))
    view.page.wait_for_load_state("networkidle")
    assert sorted(browser.external_urls(view)) == ["loads http://example.invalid/figure.png",
                                                   "loads https://example.invalid/font.woff2"]


def test_horizontal_overflow_names_what_sticks_out_at_375_px(open_page):
    view = open_page(page('<div id="wide" style="width: 600px">too wide</div>'), width=375)
    [problem] = browser.horizontal_overflow(view)
    assert "375 px window" in problem and "id=wide" in problem


def test_horizontal_overflow_passes_a_wide_equation_that_scrolls_in_its_box(open_page):
    wide = MATH.replace("<mi>c</mi>", "<mi>c</mi><mo>+</mo><mi>c</mi>" * 60)
    view = open_page(page(f'<div class="equation" tabindex="0">{wide}</div>'), width=375)
    assert view.page.evaluate("document.querySelector('.equation').scrollWidth") > 375
    assert browser.horizontal_overflow(view) == []


def test_empty_math_reports_a_math_without_a_box_or_content_or_with_an_merror(open_page):
    view = open_page(page(MATH + '<math alttext="hidden" style="display: none"><mi>x</mi></math>'
                          '<math alttext="nothing"></math>'
                          '<math alttext="broken"><merror><mtext>\\frac</mtext></merror></math>'))
    problems = browser.empty_math(view)
    assert [p.split(": ")[-1] for p in problems] == ["hidden", "nothing", "nothing", "broken"]


def test_label_overlaps_reports_two_labels_drawn_on_one_another(open_page):
    view = open_page(page(drawing(label_x2=40)))
    assert browser.label_overlaps(view) != []
    assert "'w' and 'v'" in browser.label_overlaps(view)[0]


def test_axe_serious_finds_an_image_without_alt(open_page):
    view = open_page(page('<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'))
    assert any(p.startswith("axe image-alt (critical)") for p in browser.axe_serious(view))


def test_math_contrast_reports_a_faint_token_in_light_and_dark(open_page):
    faint = page(MATH.replace("<mi>b</mi>", '<mi style="color: #ccc">b</mi>'))
    assert browser.math_contrast(open_page(GOOD_NOTES)) == []
    assert browser.math_contrast(open_page(GOOD_NOTES, dark=True)) == []
    [light] = browser.math_contrast(open_page(faint))
    assert light.startswith("contrast 1.6") and "rgb(204, 204, 204) on rgb(255,255,255)" in light
    dark_page = GOOD_NOTES.replace("body { color: #eee;", "body { color: #333;")
    assert browser.math_contrast(open_page(dark_page, dark=True)) != []


def test_hover_lights_reports_an_equation_that_lights_the_whole_drawing(open_page):
    view = open_page(GOOD_NOTES.replace(LINK_SCRIPT % "false", LINK_SCRIPT % "true"))
    problems = browser.hover_lights(view)
    assert any("focus lights edges" in p for p in problems)
    assert any("hover lights edges" in p for p in problems)


def test_hover_lights_reports_a_drawing_that_never_lights(open_page):
    view = open_page(GOOD_NOTES.replace(LINK_SCRIPT % "false", ""))
    problems = browser.hover_lights(view)
    assert sum("lights nothing" in p for p in problems) == 4  # two equations, focus and hover


# The notes' own rule: the equation under the mouse wins over the focused one.
HOVER_WINS = """<script>
let hovered = null, focused = null;
const update = () => {
  document.querySelectorAll('.lit').forEach(e => e.classList.remove('lit'));
  const eq = hovered || focused;
  if (!eq) return;
  for (const [a, b] of JSON.parse(eq.dataset.edges || '[]'))
    document.querySelector(`.edge[data-from="${a}"][data-to="${b}"]`).classList.add('lit');
};
for (const eq of document.querySelectorAll('.equation')) {
  eq.addEventListener('mouseenter', () => { hovered = eq; update(); });
  eq.addEventListener('mouseleave', () => { hovered = null; update(); });
  eq.addEventListener('focus', () => { focused = eq; update(); });
  eq.addEventListener('blur', () => { focused = null; requestAnimationFrame(update); });
}
</script>"""


def test_hover_lights_passes_a_page_where_hover_wins_and_blur_waits_a_frame(open_page):
    view = open_page(GOOD_NOTES.replace(LINK_SCRIPT % "false", HOVER_WINS).replace(
        equation('[["y","L"]]', node="y"), equation('[["y","L"]]')))
    assert browser.hover_lights(view) == []


def test_hover_lights_reports_a_drawing_left_lit_after_blur(open_page):
    sticky = GOOD_NOTES.replace("eq.addEventListener('blur', off);", "")
    problems = browser.hover_lights(open_page(sticky))
    assert problems and all(p.endswith("leaving its focus leaves the drawing lit") for p in problems)


def test_hover_lights_reports_linked_equations_with_no_drawing_beside_them(open_page):
    view = open_page(GOOD_NOTES.replace(drawing(), ""))
    assert browser.hover_lights(view) == ["2 linked equations and no figure.drawing svg to light"]


def test_dark_mode_emulation_reaches_the_page(open_page):
    view = open_page(GOOD_NOTES, dark=True)
    assert view.page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    assert view.page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(17, 17, 17)"


def test_screenshots_are_kept_among_the_artefacts(open_page, tmp_path, monkeypatch):
    monkeypatch.setenv(browser.ARTEFACTS_ENV, str(tmp_path / "shots"))
    shot = open_page(GOOD_NOTES).screenshot("fixture notes/1024")
    assert shot == tmp_path / "shots" / "fixture-notes-1024.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_missing_chromium_is_a_one_line_skip_that_ci_fails(monkeypatch, tmp_path):
    monkeypatch.setenv(browser.CHROMIUM_ENV, str(tmp_path / "no-chromium"))
    reason = browser.missing()
    assert reason.startswith("chromium is not installed") and "\n" not in reason


DECK_SCRIPT = """<script>
const slides = [...document.querySelectorAll('.slide')];
const keys = {ArrowRight: 1, PageDown: %d, ' ': 1, ArrowLeft: -1, PageUp: %d};
let at = 0;
const show = k => {
  at = Math.max(0, Math.min(k, slides.length - 1));
  slides.forEach((s, j) => s.classList.toggle('current', j === at));
  if (location.hash !== '#' + slides[at].id) location.hash = slides[at].id;
};
addEventListener('keydown', e => {
  if (e.key in keys) show(at + keys[e.key]);
  else if (e.key === 'Home') show(0);
  else if (e.key === 'End') show(slides.length - 1);
  else return;
  e.preventDefault();
});
addEventListener('hashchange', () => show(slides.findIndex(s => '#' + s.id === location.hash)));
show(Math.max(0, slides.findIndex(s => '#' + s.id === location.hash)));
</script>"""

DECK_STYLE = ("<style>.slide { display: none; box-sizing: border-box; width: 100vw; height: 100vh;"
              " overflow: hidden; padding: 2rem; } .slide.current { display: block; }"
              " @media print { .slide { display: block; break-after: page; } }</style>")


def deck(*contents: str, page_keys: bool = True) -> str:
    """A deck of one slide per content; without `page_keys` it ignores Page Up and Page Down."""
    slides = "".join(f'<section class="slide" id="slide-{n}" aria-roledescription="slide">'
                     f"<h{min(n, 2)}>Slide {n}</h{min(n, 2)}>{c}</section>"
                     for n, c in enumerate(contents, 1))
    step = 1 if page_keys else 0
    return page(slides + DECK_SCRIPT % (step, -step), head=DECK_STYLE, heading="")


def test_deck_walk_passes_a_deck_the_keyboard_walks(open_page):
    view = open_page(deck("one", "two", "three", "four"), width=1280, height=720)
    assert browser_deck.deck_walk(view) == []


def test_deck_walk_reports_keys_the_deck_ignores(open_page):
    view = open_page(deck("one", "two", "three", "four", page_keys=False), width=1280, height=720)
    problems = browser_deck.deck_walk(view, settle_ms=300)  # each miss waits this long
    assert any(p.startswith("PageDown: expected slide-3 current") for p in problems)
    assert not any(p.startswith(("Home", "End")) for p in problems)


def test_deck_walk_reports_slides_all_shown_at_once(open_page):
    shown = deck("one", "two").replace("display: none;", "").replace("100vh", "40vh")
    problems = browser_deck.deck_walk(open_page(shown, width=1280, height=720), settle_ms=300)
    assert any("the window shows ['slide-1', 'slide-2']" in p for p in problems)


def test_slide_fits_reports_a_slide_taller_than_the_window(open_page):
    view = open_page(deck("short", '<div style="height: 2000px">tall</div>', "short"),
                     width=1280, height=720)
    problems = browser_deck.slide_fits(view)
    assert len(problems) == 1 and problems[0].startswith("slide-2: its content is")


def test_per_slide_checks_and_shoots_each_slide_as_it_is_shown(open_page, tmp_path, monkeypatch):
    monkeypatch.setenv(browser.ARTEFACTS_ENV, str(tmp_path / "shots"))
    view = open_page(deck(MATH, '<math alttext="empty"></math>', MATH), width=1280, height=720)
    problems = browser_deck.per_slide(view, browser.empty_math, shoot="deck")
    assert sorted(p.name for p in (tmp_path / "shots").iterdir()) == [
        "deck-slide-1.png", "deck-slide-2.png", "deck-slide-3.png"]
    assert "slide-2: <math> has no content: empty" in problems
    assert all(p.startswith("slide-2: ") for p in problems)
    assert browser_deck.slide_fits(view) == []


def test_deck_prints_passes_a_deck_printing_a_slide_a_page(open_page):
    view = open_page(deck("one", "two", "three"), width=1280, height=720)
    assert browser_deck.deck_prints(view) == []
    assert view.page.evaluate("matchMedia('print').matches") is False  # screen again after


def test_deck_prints_reports_a_deck_that_prints_only_its_current_slide(open_page):
    unprinted = deck("one", "two", "three").replace(" @media print { .slide { display: block; "
                                                    "break-after: page; } }", "")
    problems = browser_deck.deck_prints(open_page(unprinted, width=1280, height=720))
    assert "slide-2 is not printed" in problems and "slide-3 is not printed" in problems
    assert "slide-1 does not end its printed page (break-after auto)" in problems


def test_heading_order_passes_the_fixture_and_reports_a_skipped_level_and_two_h1(open_page):
    assert browser.heading_order(open_page(GOOD_NOTES)) == []
    problems = browser.heading_order(open_page(page("<h3>Deep</h3><h1>Again</h1>")))
    assert problems == ["2 <h1> elements, not one", "<h3> Deep follows an <h1>"]

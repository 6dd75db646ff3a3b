"""Every gallery spec's HTML notes and deck, in English and Korean, opened in Debian's chromium.

Each page is made once, through the command line a lecturer types (``symbackprop notes SPEC
--html``, ``--slides --html``, ``--lang ko``), and put through every check of tests/browser.py:
the notes at 1024 and 375 px and in dark mode, the deck at 1280x720 slide by slide, walked with
the keyboard and printed. One test per page gathers every problem before it asserts, so a
failure lists all that is wrong with the page. Screenshots are kept (tests/artefacts/).

make test opens seed 000 (both languages, notes and deck) and the RNN's notes; the rest of the
gallery is marked slow (make test-slow, CI).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import browser
import browser_deck
import pytest

GALLERY = Path(__file__).resolve().parents[2] / "docs" / "examples"
SPECS = sorted(p for p in GALLERY.glob("*.toml") if not p.stem.endswith("-claims"))
LANGUAGES = ("en", "ko")
#: The pages make test opens; every other (spec, language, kind) is slow.
FAST = {("seed000", "en", "notes"), ("seed000", "ko", "notes"), ("seed000", "en", "slides"),
        ("seed000", "ko", "slides"), ("model-rnn", "en", "notes")}


def cases(kind: str) -> list:
    """(spec, language) for `kind`, the pages outside FAST marked slow."""
    return [pytest.param(spec, lang, id=f"{spec.stem}-{lang}",
                         marks=[] if (spec.stem, lang, kind) in FAST else [pytest.mark.slow])
            for spec in SPECS for lang in LANGUAGES]


def make_page(spec: Path, language: str, kind: str, folder: Path) -> Path:
    """The page the command line writes for `spec` (kind "notes" or "slides"), in `folder`."""
    out = folder / f"{spec.stem}-{language}-{kind}.html"
    command = [sys.executable, "-m", "symbackprop", "notes", str(spec), "--html", "--lang", language,
               "-q", "-o", str(out)] + (["--slides"] if kind == "slides" else [])
    done = subprocess.run(command, capture_output=True, text=True, cwd=folder)
    assert done.returncode == 0, f"{' '.join(command[1:])} failed: {done.stderr.strip()}"
    return out


def lang_matches(view: browser.View, language: str) -> list[str]:
    found = view.page.evaluate("document.documentElement.lang")
    return [] if found == language else [f'<html lang="{found}">, asked for {language}']


def gather(problems: list[str], where: str, check, *args, **kwargs) -> None:
    """Run `check(*args, **kwargs)`, adding its problems to `problems` as ``where: check: problem``."""
    problems += [f"{where}: {check.__name__}: {p}" for p in check(*args, **kwargs)]


@pytest.mark.parametrize(("spec", "language"), cases("notes"))
def test_notes_page_passes_every_browser_check(chromium, spec, language, tmp_path):
    page = make_page(spec, language, "notes", tmp_path)
    name = f"{spec.stem}-{language}-notes"
    problems: list[str] = []
    for width_name, (width, height) in browser.NOTES_VIEWPORTS.items():
        with chromium.open(page, width=width, height=height) as view:
            where = f"{width_name} px"
            view.screenshot(f"{name}-{width_name}")  # before any check scrolls or lights it
            view.screenshot(f"{name}-{width_name}-top", full_page=False)
            for check in (browser.empty_math, browser.label_overlaps, browser.horizontal_overflow,
                          browser.axe_serious, browser.math_contrast, browser.hover_lights):
                gather(problems, where, check, view)
            if width_name == "1024":  # the same at every width
                gather(problems, where, browser.heading_order, view)
                gather(problems, where, lang_matches, view, language)
                linked = view.page.locator(".equation[data-edges]")
                if linked.count():  # the last gradient, focused: its paths lit on the drawing
                    linked.last.focus()
                    view.screenshot(f"{name}-{width_name}-lit", full_page=False)
            gather(problems, where, browser.console_errors, view)
            gather(problems, where, browser.external_urls, view)
    with chromium.open(page, dark=True) as view:
        view.screenshot(f"{name}-dark-top", full_page=False)
        gather(problems, "dark", browser.axe_serious, view)  # colour contrast in dark mode too
        gather(problems, "dark", browser.math_contrast, view)
        gather(problems, "dark", browser.console_errors, view)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("spec", "language"), cases("slides"))
def test_deck_passes_every_browser_check(chromium, spec, language, tmp_path):
    page = make_page(spec, language, "slides", tmp_path)
    name = f"{spec.stem}-{language}-deck"
    problems: list[str] = []
    width, height = browser.DECK_VIEWPORT
    with chromium.open(page, width=width, height=height) as view:
        where = f"{width}x{height}"
        gather(problems, where, lang_matches, view, language)
        gather(problems, where, browser.axe_serious, view)  # the first slide and the controls
        gather(problems, where, browser_deck.deck_walk, view)
        gather(problems, where, browser_deck.per_slide, view, browser.empty_math, browser.label_overlaps,
               browser.hover_lights, browser.math_contrast, browser_deck.fits_window, shoot=name)
        gather(problems, where, browser_deck.deck_prints, view)
        view.page.emulate_media(media="print")
        gather(problems, "printed", browser.axe_serious, view)  # every slide at once
        view.page.emulate_media(media="screen")
        gather(problems, where, browser.console_errors, view)
        gather(problems, where, browser.external_urls, view)
    with chromium.open(page, width=width, height=height, dark=True) as view:
        gather(problems, "dark", browser.axe_serious, view)
        gather(problems, "dark", browser_deck.per_slide, view, browser.math_contrast, shoot=f"{name}-dark")
        gather(problems, "dark", browser.console_errors, view)
    assert not problems, "\n".join(problems)

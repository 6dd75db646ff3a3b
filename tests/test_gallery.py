"""The gallery in docs/examples/ is kept current: each committed .tex is what the spec renders now."""

from pathlib import Path

import pytest

from symbackprop.cli import main as cli

GALLERY = Path(__file__).resolve().parent.parent / "docs" / "examples"
SPECS = sorted(GALLERY.glob("seed[0-9][0-9][0-9].toml"))


def test_there_is_a_spec_per_seed():
    assert [s.stem for s in SPECS] == ["seed000", "seed001", "seed002", "seed003", "seed004"]


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.stem)
def test_committed_notes_are_current(spec, language, tmp_path):
    fresh = tmp_path / "notes.tex"
    assert cli(["notes", str(spec), "--lang", language, "-o", str(fresh), "-q"]) == 0
    stem = spec.stem + ("" if language == "en" else "-" + language)
    committed = spec.with_name(stem + ".tex")
    assert committed.exists(), f"run `make gallery`: {committed.name} is missing"
    assert fresh.read_bytes() == committed.read_bytes(), f"run `make gallery`: {committed.name} is stale"
    assert spec.with_name(stem + "-page1.png").exists()

"""Regenerate the gallery: for each seedNNN.toml, its notes in English (seedNNN.tex) and
Korean (seedNNN-ko.tex), and a PNG of each one's first page; for each model-*.toml (an RNN, a
convolution, attention, normalisation), a PNG of its notes' first page.

Run with `make gallery` (`python docs/examples/make_gallery.py models` for the models alone).
tests/test_gallery.py fails when a committed .tex is out of date.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _first_page(cli, spec: Path, language: str, png: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        pdf = Path(tmp) / "notes.pdf"
        if cli(["notes", str(spec), "--lang", language, "--pdf", "-o", str(pdf), "-q"]) != 0:
            return 1
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile",
                        str(pdf), str(png)], check=True)
    return 0


def main(argv: list[str]) -> int:
    from symbackprop.cli import main as cli

    specs = sorted(HERE.glob("seed[0-9][0-9][0-9].toml")) if "models" not in argv else []
    tex_found = shutil.which("pdftoppm") and (shutil.which("latexmk") or shutil.which("pdflatex"))
    for spec in specs:
        made = []
        for language, suffix in (("en", ""), ("ko", "-ko")):
            stem = spec.stem + suffix
            tex = spec.with_name(stem + ".tex")
            if cli(["notes", str(spec), "--lang", language, "-o", str(tex), "-q"]) != 0:
                return 1
            made.append(tex.name)
            if tex_found:
                png = spec.with_name(stem + "-page1")
                if _first_page(cli, spec, language, png):
                    return 1
                made.append(png.name + ".png")
        print(f"{spec.name}: " + ", ".join(made))
    # The models' notes open with their general form; their first pages show the gallery.
    for spec in sorted(HERE.glob("model-*.toml")) if tex_found else []:
        png = spec.with_name(spec.stem + "-page1")
        if _first_page(cli, spec, "en", png):
            return 1
        print(f"{spec.name}: {png.name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

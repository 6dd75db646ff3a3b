"""Regenerate the gallery: for each seedNNN.toml, its notes in English (seedNNN.tex) and
Korean (seedNNN-ko.tex), and a PNG of each one's first page.

Run with `make gallery`. tests/test_gallery.py fails when a committed .tex is out of date.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    from symbackprop.cli import main as cli

    specs = sorted(HERE.glob("seed[0-9][0-9][0-9].toml"))
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
                with tempfile.TemporaryDirectory() as tmp:
                    pdf = Path(tmp) / "notes.pdf"
                    if cli(["notes", str(spec), "--lang", language, "--pdf", "-o", str(pdf),
                            "-q"]) != 0:
                        return 1
                    png = spec.with_name(stem + "-page1")
                    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1",
                                    "-singlefile", str(pdf), str(png)], check=True)
                made.append(png.name + ".png")
        print(f"{spec.name}: " + ", ".join(made))
    return 0


if __name__ == "__main__":
    sys.exit(main())

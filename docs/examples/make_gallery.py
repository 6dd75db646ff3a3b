"""Regenerate the gallery: for each seedNNN.toml, its notes (.tex) and a PNG of page 1.

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
    for spec in specs:
        tex = spec.with_suffix(".tex")
        if cli(["notes", str(spec), "-o", str(tex), "-q"]) != 0:
            return 1
        if shutil.which("pdftoppm") and (shutil.which("latexmk") or shutil.which("pdflatex")):
            with tempfile.TemporaryDirectory() as tmp:
                pdf = Path(tmp) / "notes.pdf"
                if cli(["notes", str(spec), "--pdf", "-o", str(pdf), "-q"]) != 0:
                    return 1
                png = spec.with_name(spec.stem + "-page1")
                subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1",
                                "-singlefile", str(pdf), str(png)], check=True)
        print(f"{spec.name}: {tex.name}" + (", " + spec.stem + "-page1.png"
                                            if shutil.which("pdftoppm") else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

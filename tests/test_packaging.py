"""The wheel carries the templates and the console script, and works installed (not from the repo)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
from texutil import REPO

pytestmark = pytest.mark.slow

TEMPLATES = ["article.tex.j2", "slides.tex.j2", "fragment.tex.j2", "notes.md.j2", "_macros.tex.j2",
             "_prose.j2", "notes.html.j2", "slides.html.j2", "_html.j2"]
#: What an HTML page inlines: without them an installed package's page has no style or script.
STATIC = ["page.css", "notes.js", "deck.js"]
OFFLINE_HINTS = ("No matching distribution found", "Could not find a version", "NewConnectionError",
                 "Temporary failure in name resolution", "Network is unreachable")


def clean_env() -> dict[str, str]:
    """The environment without anything that would import the package from the checkout."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(REPO)],
        cwd=out, env=clean_env(), capture_output=True, text=True, timeout=600, check=False,
    )
    if build.returncode != 0:
        log = build.stdout + build.stderr
        if any(hint in log for hint in OFFLINE_HINTS):
            pytest.skip("cannot download the build backend (hatchling) from PyPI: offline")
        pytest.fail(f"pip wheel failed:\n{log[-4000:]}")
    wheels = list(out.glob("symbackprop-*.whl"))
    assert len(wheels) == 1, list(out.iterdir())
    return wheels[0]


def test_wheel_carries_the_templates(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for t in TEMPLATES:
            assert f"symbackprop/output/templates/{t}" in names, sorted(names)
        # the packaged templates are the repository's, byte for byte
        for t in TEMPLATES:
            packaged = z.read(f"symbackprop/output/templates/{t}")
            assert packaged == (REPO / "symbackprop/output/templates" / t).read_bytes()
        assert "symbackprop/__init__.py" in names and "symbackprop/cli/main.py" in names
        for name in STATIC:
            assert z.read(f"symbackprop/output/static/{name}") == \
                (REPO / "symbackprop/output/static" / name).read_bytes()
        # and the compiled catalogs, so that an installed package speaks Korean
        assert "symbackprop/output/locales/ko/LC_MESSAGES/symbackprop.mo" in names
        assert not any(n.startswith("tests/") for n in names)


def test_wheel_declares_the_console_script(wheel):
    with zipfile.ZipFile(wheel) as z:
        entry = [n for n in z.namelist() if n.endswith(".dist-info/entry_points.txt")]
        assert len(entry) == 1
        text = z.read(entry[0]).decode()
    lines = [ln.strip() for ln in text.splitlines()]
    assert "[console_scripts]" in lines
    assert "symbackprop = symbackprop.cli:main" in lines


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment (system site-packages for sympy/numpy/jinja2) with the wheel."""
    root = tmp_path_factory.mktemp("venv")
    env_dir = root / "env"
    venv.EnvBuilder(system_site_packages=True, with_pip=True, symlinks=os.name != "nt").create(env_dir)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
        cwd=root, env=clean_env(), capture_output=True, text=True, timeout=600, check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    # The run-time dependencies (sympy, numpy, jinja2, latex2mathml) from the test's own
    # environment, whatever the base Python has: a path in a .pth file is not itself scanned
    # for .pth files, so the checkout's editable install there cannot shadow the wheel.
    site = next((env_dir / "lib").glob("python*/site-packages"))
    (site / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env_dir


def test_installed_package_finds_its_own_templates(installed, tmp_path):
    python = installed / "bin" / "python"
    probe = subprocess.run(
        [str(python), "-c",
         "import symbackprop; from symbackprop.output.render import template_dir; "
         "print(symbackprop.__file__); print(template_dir())"],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=120, check=False,
    )
    assert probe.returncode == 0, probe.stderr
    module, templates = (Path(x) for x in probe.stdout.splitlines())
    assert module.resolve().is_relative_to(installed.resolve())
    assert templates.resolve().is_relative_to(installed.resolve())
    assert not templates.resolve().is_relative_to(REPO)


def test_installed_console_script_runs_the_demo(installed, tmp_path):
    script = installed / "bin" / "symbackprop"
    assert script.is_file()
    result = subprocess.run(
        [str(script), "demo", "-o", "OUT", "--no-pdf"],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "dL/dw5 = -0.100" in result.stdout and "updated w5 = 0.560" in result.stdout
    out = tmp_path / "OUT"
    assert sorted(p.name for p in out.iterdir()) == ["seed000-slides.tex", "seed000.md",
                                                     "seed000.tex"]
    assert (out / "seed000.tex").read_text(encoding="utf-8").startswith(r"\documentclass")


def test_installed_console_script_writes_a_self_contained_html_page(installed, tmp_path):
    script = installed / "bin" / "symbackprop"
    spec = REPO / "docs/examples/seed000.toml"
    result = subprocess.run(
        [str(script), "notes", str(spec), "--html", "-o", "notes.html"],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "notes.html").read_text(encoding="utf-8")
    # the installed package's style sheet and scripts are inlined, as the repository's are
    css = (REPO / "symbackprop/output/static/page.css").read_text(encoding="utf-8")
    assert "<math" in page and "<svg" in page and css.splitlines()[-1] in page

"""``symbackprop notes SPEC --html`` (and ``--slides --html``), run as a user runs it: a
subprocess in a folder outside the repository, writing one self-contained page."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from htmlpage import read_page
from texutil import REPO, SEED000_VALUES

SPEC = """\
title = "Nets <script>alert('x')</script> & \\"quotes\\""
author = "O'Neil & <b>Co</b>"

[network]
sizes = [2, 2, 1]
activation = "sigmoid"
loss = "mse"
bias = false
notation = "sequential"

[values]
""" + "".join(f"{name} = {value}\n" for name, value in SEED000_VALUES.items())

_NAMESPACE = re.compile(r'xmlns(?::\w+)?="[^"]*"')


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    assert not Path(cwd).resolve().is_relative_to(REPO), "run the CLI outside the repository"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.pop("PYTHONHASHSEED", None)  # each run its own hash seed: the bytes must not depend on it
    script = shutil.which("symbackprop")
    command = [script] if script else [sys.executable, "-m", "symbackprop"]
    return subprocess.run([*command, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=600, check=False)


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("html-cli")
    path = folder / "net.toml"
    path.write_text(SPEC, encoding="utf-8")
    return path


@pytest.mark.parametrize(("flags", "language"), [
    ((), "en"), (("--slides",), "en"), (("--lang", "ko"), "ko"), (("--slides", "--lang", "ko"), "ko")])
def test_notes_html_writes_one_self_contained_page(spec, flags, language):
    out = spec.parent / f"page-{'-'.join(flags) or 'notes'}.html"
    result = _run("notes", str(spec), "--html", *flags, "-o", str(out), "-q", cwd=spec.parent)
    assert result.returncode == 0, result.stderr
    html = out.read_text(encoding="utf-8")
    page = read_page(html)
    assert html.startswith("<!DOCTYPE html>") and page.lang == language
    assert "http" not in _NAMESPACE.sub("", html)
    assert all(attr == "href" and value.startswith("#") for _, attr, value in page.urls)
    assert page.equations and all(e["alttext"] for e in page.equations)
    assert ("--slides" in flags) == bool(page.slides)


def test_user_text_from_the_spec_is_escaped(spec):
    result = _run("notes", str(spec), "--html", cwd=spec.parent)
    assert result.returncode == 0, result.stderr
    html = result.stdout  # no -o: the page goes to stdout
    assert "<script>alert" not in html and "<b>Co</b>" not in html
    assert "Nets &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;quotes&#34;" in html
    page = read_page(html)
    assert page.headings[0] == (1, "Nets <script>alert('x')</script> & \"quotes\"")
    assert page.scripts == 1


@pytest.mark.parametrize("flags", [(), ("--slides",)])
def test_two_runs_write_the_same_bytes(spec, flags):
    pages = []
    for k in range(2):
        out = spec.parent / f"same-{k}-{len(flags)}.html"
        result = _run("notes", str(spec), "--html", *flags, "-o", str(out), "-q", cwd=spec.parent)
        assert result.returncode == 0, result.stderr
        pages.append(out.read_bytes())
    assert pages[0] == pages[1]


@pytest.mark.parametrize("flags", [("--markdown",), ("--fragment",), ("--pdf",)])
def test_html_with_another_format_is_refused_in_one_line(spec, flags):
    result = _run("notes", str(spec), "--html", *flags, "-o", str(spec.parent / "x.pdf"),
                  cwd=spec.parent)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--html" in result.stderr
    assert "Traceback" not in result.stderr

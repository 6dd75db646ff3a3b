"""The tutorial's Python blocks run as written, in order, in one namespace (as a reader pastes)."""

from __future__ import annotations

import re

import pytest
from texutil import REPO

BLOCKS = re.findall(r"```python\n(.*?)```", (REPO / "docs" / "tutorial.md").read_text(
    encoding="utf-8"), re.S)


def test_the_tutorial_has_python_blocks():
    assert len(BLOCKS) >= 5


def test_every_python_block_of_the_tutorial_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the blocks write notes.pdf and mnist_gradients.py here
    namespace: dict = {}
    for k, block in enumerate(BLOCKS):
        try:
            exec(compile(block, f"docs/tutorial.md, python block {k + 1}", "exec"), namespace)  # our docs
        except Exception as err:  # pragma: no cover - the message names the block
            pytest.fail(f"python block {k + 1} of the tutorial fails: {err!r}\n{block}")
    assert (tmp_path / "mnist_gradients.py").exists()
    assert namespace["report"].ok

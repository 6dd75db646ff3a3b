"""`make bench`'s orchestration (bench/bench.py, bench/runner.py, bench/bench_limits.py, the
Makefile target): sections run in processes of their own, every target line reaches the summary,
one section re-measured is spliced in place, a crash is a nonzero exit. Timings are not judged."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import re
import subprocess
import sys

import pytest
from texutil import REPO

sys.path.insert(0, str(REPO / "bench"))

import runner  # noqa: E402

BENCH = REPO / "bench" / "bench.py"


def _script(folder, name: str, body: str):
    path = folder / f"{name}.py"
    path.write_text(body, encoding="utf-8")
    return runner.Section(name, path)


def _sections(tmp_path, fast_verdict: str = "PASS"):
    return [
        _script(tmp_path, "fast", "import sys\nprint('## fast\\n\\n| case | min | median |')\n"
                f"print('- {fast_verdict}: fast thing: 1 ms (target < 2 ms)')\n"
                "print('- NOT MEASURED: fast thing on a GPU: none here')\n"
                "print('working', file=sys.stderr)\n"),
        _script(tmp_path, "boom", "print('## boom\\n- PASS: measured before the crash')\n"
                "raise RuntimeError('the section broke')\n"),
        _script(tmp_path, "quiet", "print('## quiet: a table, no targets')\n"),
        runner.Section("absent", tmp_path / "absent.py"),
    ]


def _targets(text: str) -> list[str]:
    return [line for line in text.splitlines() if runner.TARGET.match(line)]


def _summary(text: str) -> str:
    return runner.SUMMARY.search(text)[0]


def test_every_target_line_of_every_section_reaches_the_summary_and_a_crash_exits_nonzero(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner, "libraries", lambda: "numpy (not probed in this test)")
    out = tmp_path / "results.md"
    code = runner.orchestrate(_sections(tmp_path), False, out, dt.datetime.now(dt.UTC),
                              lambda message: None)
    assert code == 1  # boom crashed
    text = out.read_text(encoding="utf-8")
    blocks = runner.blocks_of(text)
    assert list(blocks) == ["fast", "boom", "quiet", "absent"]
    summary = _summary(text)
    for name, block in blocks.items():
        assert _targets(block), name  # every section says something, even one that printed none
        for line in _targets(block):
            assert line in summary.splitlines(), line
    assert "## Summary: 6 targets, 2 PASS, 0 LIMIT, 1 MISS, 3 NOT MEASURED" in summary
    assert "- MISS: section boom crashed (exit 1): RuntimeError: the section broke" in summary
    assert "quiet.py printed no target lines" in summary and "absent.py does not exist" in summary
    assert "Traceback" in blocks["boom"]  # the crash's stderr is kept in the results
    for needle in ("# symbackprop benchmark", "Machine: ", "cores", "Load average (1, 5, 15 min)",
                   "numpy (not probed in this test)", "CPU (the child's)"):
        assert needle in text, needle
    printed = capsys.readouterr().out
    assert printed.rstrip().endswith(_targets(summary)[-1])  # the summary is printed last


def test_the_summary_counts_a_limit_apart_from_pass_and_miss():
    blocks = {"compare": "| table |\n- LIMIT: 784-256-10 float32: at numpy's BLAS limit\n"
                         "- PASS: 64-64-64-1 float64\n- MISS: 64-64-64-1 float32\n",
              "models": "- LIMIT: another floor\n- LIMITED: not a target line\n"}
    text = runner.summary(blocks)
    assert text.splitlines()[0] == "## Summary: 4 targets, 1 PASS, 2 LIMIT, 1 MISS, 0 NOT MEASURED"
    assert "- LIMIT: 784-256-10 float32: at numpy's BLAS limit" in text.splitlines()
    assert "LIMITED" not in text


def test_one_section_re_measured_is_spliced_in_place_and_the_summary_rebuilt(tmp_path,
                                                                             monkeypatch):
    monkeypatch.setattr(runner, "libraries", lambda: "numpy")
    out = tmp_path / "results.md"
    runner.orchestrate(_sections(tmp_path, "MISS"), False, out, dt.datetime.now(dt.UTC),
                       lambda message: None)
    before = out.read_text(encoding="utf-8")
    fast = _sections(tmp_path, "PASS")[0]  # the same script, now passing
    new = _script(tmp_path, "later", "print('## later\\n- PASS: a section added afterwards')\n")
    assert runner.splice([fast, new], False, out, lambda message: None) == 0
    after = out.read_text(encoding="utf-8")
    old_blocks, new_blocks = runner.blocks_of(before), runner.blocks_of(after)
    assert list(new_blocks) == ["fast", "boom", "quiet", "absent", "later"]
    for name in ("boom", "quiet", "absent"):  # kept as measured
        assert new_blocks[name] == old_blocks[name]
    assert after.split("<!-- section")[0] == before.split("<!-- section")[0]  # the header too
    assert "- MISS: fast thing" not in after and "- PASS: fast thing" in _summary(after)
    assert "re-measured alone" in new_blocks["fast"]
    assert "- PASS: a section added afterwards" in _summary(after)
    assert after.index("<!-- section later") < after.index("<!-- summary -->")


def test_only_refuses_a_results_file_without_sections(tmp_path):
    out = tmp_path / "results.md"
    out.write_text("# nothing measured yet\n", encoding="utf-8")
    run = subprocess.run([sys.executable, str(BENCH), "--only", "limits", "--output", str(out)],
                         capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path)
    assert run.returncode == 2 and "run the full bench first" in run.stderr
    assert out.read_text(encoding="utf-8") == "# nothing measured yet\n"  # nothing lost


def test_a_section_past_its_guard_is_stopped_and_reported(tmp_path):
    slow = _script(tmp_path, "slow", "import time\nprint('- PASS: early', flush=True)\n"
                   "time.sleep(60)\n")
    text, crashed = runner.run(slow, False, lambda message: None, guard=1.0)
    assert crashed and "- MISS: section slow crashed (timed out)" in text


def _limits():
    spec = importlib.util.spec_from_file_location("bench_limits", REPO / "bench" / "bench_limits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_limits_passes_only_when_every_command_answers_or_refuses():
    limits = _limits()
    took = limits.Took(cpu=1.0, wall=2.0)
    good = [("mlp grad", took, "ok"), ("rnn notes", took, "refused")]
    assert limits.targets(good)[0].startswith("- PASS: every command")
    bad = limits.targets([*good, ("conv check", took, "HANG"), ("graph grad", took, "exit 1")])
    assert bad[0].startswith("- MISS: ") and "conv check: HANG, graph grad: exit 1" in bad[0]


def _make(tmp_path, *args):
    env = {**os.environ, "MAKEFLAGS": ""}
    out = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(REPO),
                          f"BENCH_VENV={tmp_path / 'venv'}", *args], capture_output=True, text=True,
                         check=True, env=env).stdout
    return "\n".join(line.rstrip() for line in out.splitlines())


def test_make_bench_installs_the_peers_into_its_own_environment_once(tmp_path):
    first = _make(tmp_path, "bench")
    venv = re.escape(str(tmp_path / "venv"))
    assert re.search(rf"-m venv {venv}\n", first)
    install = next(line for line in first.splitlines() if "pip install" in line and "-e" in line)
    assert "'torch==2.13.0'" in install and "'jax[cpu]'" in install and "threadpoolctl" in install
    assert "--no-cache-dir" not in first  # pip keeps its downloads
    assert first.endswith(f"{tmp_path / 'venv'}/bin/python bench/bench.py")
    (tmp_path / "venv").mkdir()
    stamp = tmp_path / "venv" / ".installed"
    stamp.touch()
    later = (REPO / "pyproject.toml").stat().st_mtime + 10
    os.utime(stamp, (later, later))
    second = _make(tmp_path, "bench")  # the stamp is newer than pyproject.toml: nothing installed
    assert "pip" not in second and "venv" not in second.replace(str(tmp_path / "venv"), "")
    assert second.strip() == f"{tmp_path / 'venv'}/bin/python bench/bench.py"


@pytest.mark.slow  # every section at its smallest: a minute or two on two busy cores
def test_quick_bench_runs_every_section_and_summarises_each_target_line(tmp_path):
    out = tmp_path / "results.md"
    run = subprocess.run([sys.executable, str(BENCH), "--quick", "--output", str(out)],
                         capture_output=True, text=True, timeout=1800, check=False, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    text = out.read_text(encoding="utf-8")
    blocks = runner.blocks_of(text)
    assert list(blocks) == ["a", "d", *runner.SCRIPTS]
    summary = _summary(text)
    for name, block in blocks.items():
        assert _targets(block), name
        for line in _targets(block):
            assert line in summary.splitlines(), (name, line)
    assert "## a) Deriving every gradient" in blocks["a"] and "CPU median" in blocks["a"]
    assert "naive: diff of expanded loss" in blocks["a"] and "matrix form" in blocks["a"]
    assert "first in a new process" in blocks["d"] and "again (warm caches)" in blocks["d"]
    assert "| mlp-depth (100 layers" in blocks["limits"]
    assert "numpy " in text.split("<!-- section")[0]  # the BLAS line of the header
    assert run.stdout.rstrip().endswith(_targets(summary)[-1])

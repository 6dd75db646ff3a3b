"""How `make bench` runs its sections and keeps bench/results.md (bench/bench.py is the command).

Each section is a script run with this same python in a process of its own (so its
``harness.pin_threads()`` precedes every numpy, torch and jax import). Its Markdown goes into the
results file between two markers, ``<!-- section NAME -->`` and ``<!-- /section NAME -->``, with
a line saying the exact command, when it ran, its wall and CPU time and the load around it. The
summary at the end is rebuilt from the sections' target lines every time the file is written, so
re-running one section (``--only``) updates the summary too.

>>> summary({"a": "x\\n- PASS: fast (target < 1 s)\\n", "b": "- MISS: slow"}).splitlines()[0]
'## Summary: 2 targets, 1 PASS, 0 LIMIT, 1 MISS, 0 NOT MEASURED'
"""

from __future__ import annotations

import collections
import datetime as dt
import importlib.metadata
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import harness

HERE = Path(__file__).resolve().parent
#: the section scripts of bench/, in the order a full run takes them (after bench.py's a and d)
SCRIPTS = {"compare": "compare.py", "models": "bench_models.py", "symbolic": "bench_symbolic.py",
           "notes": "bench_notes.py", "limits": "bench_limits.py"}
TARGET = re.compile(r"^- (PASS|LIMIT|MISS|NOT MEASURED): ")
#: counted apart: LIMIT is a miss at a measured library limit (harness.against_limit), not a PASS
VERDICTS = ("PASS", "LIMIT", "MISS", "NOT MEASURED")
#: wall seconds one section may take before it is stopped and reported as crashed
GUARD = {False: 45 * 60.0, True: 10 * 60.0}
BLOCK = re.compile(r"<!-- section (?P<name>[\w.-]+) -->\n.*?<!-- /section (?P=name) -->\n", re.S)
SUMMARY = re.compile(r"<!-- summary -->\n.*?<!-- /summary -->\n", re.S)


@dataclass(frozen=True)
class Section:
    """A section script and the arguments it is run with (``--quick`` is added for a quick run)."""

    name: str
    script: Path
    args: tuple[str, ...] = ()


def shown(path: str | Path) -> str:
    """A path as the reader would type it: relative to the current folder where it is inside."""
    try:  # absolute(), not resolve(): a venv's python is a symlink out of the venv
        return str(Path(path).absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _tee(stream, into: collections.deque, echo) -> None:
    for line in stream:
        into.append(line)
        if echo is not None:
            echo.write(line)
            echo.flush()


def run(section: Section, quick: bool, log: Callable[[str], None],
        guard: float | None = None) -> tuple[str, bool]:
    """(the section's block for the results file, whether it crashed or timed out)."""
    command = [shown(sys.executable), shown(section.script), *section.args,
               *(["--quick"] if quick else [])]
    meta = f"_Section {section.name}: `{shlex.join(command)}`"
    if not section.script.exists():
        log(f"section {section.name}: {shown(section.script)} is missing")
        return block(section.name, [f"## {section.name}", "", harness.target_line(
            None, f"section {section.name}: {shown(section.script)} does not exist"),
            "", meta + ", not run._"]), False
    log(f"section {section.name}: {shlex.join(command)}")
    before, when = load(), dt.datetime.now(dt.UTC)
    cpu, wall = harness.children_cpu(), time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(section.script), *command[2:]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own group: a timeout stops it whole
    out: collections.deque = collections.deque()
    err: collections.deque = collections.deque(maxlen=15)
    readers = [threading.Thread(target=_tee, args=(proc.stdout, out, None)),
               threading.Thread(target=_tee, args=(proc.stderr, err, sys.stderr))]
    for reader in readers:
        reader.start()
    limit, timed_out = guard or GUARD[quick], False
    try:
        code = proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        code, timed_out = proc.wait(), True
        err.append(f"stopped after {limit:.0f} s wall\n")
    for reader in readers:
        reader.join()
    wall, cpu = time.perf_counter() - wall, harness.children_cpu() - cpu
    lines = "".join(out).rstrip().splitlines()
    crashed = code != 0
    if crashed:
        what = "timed out" if timed_out else f"exit {code}"
        last = next((line.strip() for line in reversed(err) if line.strip()), "no message")
        lines += ["", f"The section stopped ({what}); the end of its stderr:", "", "```",
                  *(line.rstrip("\n") for line in err), "```", "",
                  harness.target_line(False, f"section {section.name} crashed ({what}): {last}")]
    elif not any(TARGET.match(line) for line in lines):
        lines += ["", harness.target_line(None, f"section {section.name}: "
                                          f"{shown(section.script)} printed no target lines")]
    lines += ["", f"{meta}, run {when:%Y-%m-%d %H:%M} UTC in a process of its own: {wall:.1f} s "
                  f"wall, {cpu:.1f} s CPU (the child's); load average (1, 5, 15 min) {before} "
                  f"before, {load()} after._"]
    log(f"section {section.name}: {'crashed' if crashed else 'done'} in {wall:.0f} s")
    return block(section.name, lines), crashed


def block(name: str, lines: Sequence[str]) -> str:
    return "\n".join([f"<!-- section {name} -->", *lines, f"<!-- /section {name} -->"]) + "\n"


def summary(blocks: dict[str, str]) -> str:
    """Every target line of every section, grouped by section, with the counts first."""
    found = {name: [line for line in text.splitlines() if TARGET.match(line)]
             for name, text in blocks.items()}
    counts = collections.Counter(TARGET.match(line)[1] for lines in found.values()
                                 for line in lines)
    total = sum(counts.values())
    out = [f"## Summary: {total} targets, "
           + ", ".join(f"{counts[v]} {v}" for v in VERDICTS)]
    for name, lines in found.items():
        out += ["", f"**{name}**", *lines]
    return "\n".join(out) + "\n"


def blocks_of(text: str) -> dict[str, str]:
    return {m["name"]: m[0] for m in BLOCK.finditer(text)}


def with_summary(text: str) -> str:
    """``text`` with its summary rebuilt from its sections (added at the end if it had none)."""
    fresh = "<!-- summary -->\n" + summary(blocks_of(text)) + "<!-- /summary -->\n"
    if SUMMARY.search(text):
        return SUMMARY.sub(lambda _: fresh, text)
    return text.rstrip("\n") + "\n\n" + fresh


BLAS_PROBE = """
import importlib.util, sys
sys.path.insert(0, {here!r})
import harness
harness.pin_threads()
import numpy
for name in ("torch", "jax"):
    if importlib.util.find_spec(name) is not None:
        __import__(name)
print(harness.blas_report())
"""


def libraries() -> str:
    """numpy's, torch's and jax's versions and BLAS, as a pinned process of this python sees them."""
    probe = subprocess.run([sys.executable, "-c", BLAS_PROBE.format(here=str(HERE))],
                           capture_output=True, text=True, check=False, timeout=600)
    last = (probe.stderr.strip().splitlines() or ["no message"])[-1]
    return probe.stdout.strip() or f"not reported (the probe failed: {last})"


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in
                   Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores; "
            f"Python {platform.python_version()}, sympy {importlib.metadata.version('sympy')}")


def orchestrate(sections: Sequence[Section], quick: bool, output: Path, started: dt.datetime,
                log: Callable[[str], None]) -> int:
    """Run every section, write the results file, print the summary; 1 if a section crashed."""
    before = load()
    libs = libraries()
    blocks, crashed = [], False
    for section in sections:
        text, failed = run(section, quick, log)
        crashed |= failed
        blocks.append(text)
        print(text, flush=True)
    took = (dt.datetime.now(dt.UTC) - started).total_seconds()
    command = shlex.join([shown(sys.executable), *sys.argv])
    head = [f"# symbackprop benchmark{' (quick)' if quick else ''}", "",
            f"Measured {started:%Y-%m-%d %H:%M} UTC by `{command}` in {took / 60:.1f} minutes.  ",
            f"Machine: {machine()}.  ",
            f"Libraries and their BLAS, in a process pinned as every section pins itself: {libs}.  ",
            f"Load average (1, 5, 15 min): {before} before the run, {load()} after it.", "",
            "Every figure is CPU time with every library on one thread (bench/harness.py); each "
            "table says its statistic (min and median over interleaved rounds, or of runs in "
            "fresh processes). Each section ran in a process of its own; the line under it says "
            "how.", ""]
    text = with_summary("\n".join(head) + "\n" + "\n".join(blocks))
    output.write_text(text, encoding="utf-8")
    print(SUMMARY.search(text)[0].split("\n", 1)[1].rsplit("<!--", 1)[0])
    log(f"written to {output}")
    return 1 if crashed else 0


def splice(sections: Sequence[Section], quick: bool, output: Path,
           log: Callable[[str], None]) -> int:
    """Re-run ``sections`` and put their blocks into ``output`` in place of the old ones (new
    sections go before the summary); every other section stays as measured."""
    text = output.read_text(encoding="utf-8") if output.exists() else ""
    if not blocks_of(text):
        log(f"{output} has no sections to update: run the full bench first")
        return 2
    crashed = False
    for section in sections:
        new, failed = run(section, quick, log)
        new = new.replace(f"_Section {section.name}: ",
                          f"_Section {section.name}, re-measured alone (bench.py --only): ", 1)
        crashed |= failed
        print(new, flush=True)
        old = blocks_of(text).get(section.name)
        if old is not None:
            text = text.replace(old, new)
        elif SUMMARY.search(text):
            at = SUMMARY.search(text).start()
            text = text[:at] + new + "\n" + text[at:]
        else:
            text = text.rstrip("\n") + "\n\n" + new
    text = with_summary(text)
    output.write_text(text, encoding="utf-8")
    print(SUMMARY.search(text)[0].split("\n", 1)[1].rsplit("<!--", 1)[0])
    log(f"{', '.join(s.name for s in sections)} updated in {output}")
    return 1 if crashed else 0

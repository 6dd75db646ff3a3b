"""The fuzz campaign: random specs of every model kind through the command line, each inside a
hang guard, every gradient held against torch autograd in float64.

Run it as a script for a large campaign (tests/test_fuzz.py runs a small one in the slow set):

    nice -n 19 python tests/fuzzing.py --count 10000 --seed 21 --jobs 2

Specs come from tests/fuzzspecs.py, a pure function of (seed, index). Each runs in a worker
process that calls the CLI's ``main`` in-process with stdout and stderr captured (a process per
command would spend its time importing SymPy); the parent hands each worker one spec at a time
and kills and replaces a worker whose command (or drawing of a spec) has not answered within
the timeout, counted in the worker's CPU seconds, which records a hang.
A spec fails when a command raises (a traceback), exits with anything but 0, 1 or 2, prints more
than one line on stderr (or a refusal with none), writes its output while refusing, exits 1 (check
disagreeing, or a derived equation failing its own check in example or notes: a wrong verdict on
a right engine, or an engine defect), or when the engine's loss or gradients disagree with
torch's (tests/torchref.py).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: The classes of failure, each a reason for the slow test to fail.
FAILURES = ("traceback", "exit code", "hang", "worker died", "multi-line", "silent refusal",
            "written on refusal", "mismatch", "check disagrees", "self-check failed")


# -- the worker: one spec at a time, in-process ----------------------------------------------------
def _run_cli(argv: list[str]) -> tuple[int | None, str, str, str | None]:
    """(exit code, stdout, stderr, traceback or None) of one command, as a user would see it."""
    from symbackprop.cli import main as cli

    out, err = io.StringIO(), io.StringIO()
    trace = None
    code: int | None = None
    with warnings.catch_warnings(), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        try:
            code = cli(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 2
        except BaseException:  # noqa: BLE001 - the point: anything escaping is a traceback
            trace = traceback.format_exc()
    return code, out.getvalue(), err.getvalue(), trace


def commands(index: int, spec: Path, folder: Path, notes_every: int, code_every: int):
    """The commands run on spec number ``index``, with the file each writes (or None)."""
    runs = [(["check", str(spec)], None), (["grad", str(spec)], None),
            (["example", str(spec)], None)]
    flavour = index // 7 % 4  # spread over the kinds (index % 7 chooses the kind)
    if flavour == 1:
        runs.append((["grad", str(spec), "--latex", "--form", "delta"], None))
    elif flavour == 2:
        runs.append((["example", str(spec), "--latex"], None))
    if code_every and index % code_every == 0:
        target = ("numpy", "torch", "jax")[index // code_every % 3]
        runs.append((["grad", str(spec), "--code", "--target", target, "-o",
                      str(folder / "m.py")], folder / "m.py"))
    if notes_every and index % notes_every == 0:
        runs.append((["notes", str(spec), "-q", "-o", str(folder / "n.tex")], folder / "n.tex"))
    return runs


def judge(argv, written, code, err, trace, stdout) -> list[tuple[str, str]]:
    """The failures one command's outcome shows."""
    what = " ".join(argv[:1] + argv[2:])
    if trace:
        return [("traceback", f"{what}: {trace.strip().splitlines()[-1]}\n{trace}")]
    found = []
    if "Traceback" in err or "Traceback" in stdout:
        found.append(("traceback", f"{what}: printed a traceback: {err[-300:]}"))
    if code not in (0, 1, 2):
        found.append(("exit code", f"{what}: exit {code}"))
    if err.count("\n") > 1 or (err and not err.endswith("\n")) or "Warning" in err:
        found.append(("multi-line", f"{what}: exit {code}, stderr {err[:600]!r}"))
    if code == 2 and not err.strip():
        found.append(("silent refusal", f"{what}: exit 2 with nothing on stderr"))
    if code == 2 and written is not None and written.exists():
        found.append(("written on refusal", f"{what}: exit 2 but wrote {written.name}"))
    return found


def compare_with_torch(spec_path: Path) -> tuple[str, list[tuple[str, str]], int]:
    """(what happened, failures, gradients compared) for the engine's evaluator against torch."""
    from torchref import Unsupported, disagree, reference

    import symbackprop as sb
    from symbackprop.io.spec import load_spec

    spec = load_spec(spec_path)
    graph, values = spec.graph, dict(spec.values)
    if not all(s.name in values and math.isfinite(values[s.name]) for s in graph.leaves):
        return "no values", [], 0
    try:
        theirs_loss, theirs = reference(graph, values)
    except Unsupported as err:
        return f"unsupported: {err}"[:80], [], 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import numpy as np

        with np.errstate(all="ignore"):
            ev = sb.derive(graph).evaluate(values)
    numbers = [abs(v) for v in (*values.values(), *map(float, ev.nodes.values()))
               if math.isfinite(v)]
    scale = max([1.0, *numbers])
    failures, compared = [], 0
    if math.isfinite(theirs_loss) and disagree(float(ev.loss), theirs_loss, scale):
        failures.append(("mismatch", f"loss: ours {float(ev.loss)!r}, torch {theirs_loss!r}"))
    for name, t in theirs.items():
        ours = float(ev.gradients[name])
        compared += math.isfinite(t)
        if disagree(ours, t, scale):
            failures.append(("mismatch", f"dL/d{name}: ours {ours!r}, torch {t!r} "
                             f"(scale {scale:.3g})"))
    return ("compared" if compared else "torch not finite"), failures, compared


def run_spec(seed: int, index: int, folder: Path, notes_every: int, code_every: int,
             announce) -> dict:
    """Draw spec ``index`` of campaign ``seed``, run its commands and compare; a result row."""
    from fuzzspecs import draw_spec

    from symbackprop.io.spec import parse_spec

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = draw_spec(seed, index, parse_spec)
    announce({"start": index, "text": spec.text, "name": spec.name})
    path = folder / "s.toml"
    path.write_text(spec.text, encoding="utf-8")
    failures, codes = [], {}
    for argv, written in commands(index, path, folder, notes_every, code_every):
        if written is not None and written.exists():
            written.unlink()
        announce({"command": " ".join(argv[:1] + argv[2:])})
        code, stdout, err, trace = _run_cli(argv)
        codes[" ".join(argv[:1] + argv[2:4])] = code
        failures += judge(argv, written, code, err, trace, stdout)
    torch = "not run"
    compared = 0
    if codes.get("check") in (0, 1) and _have_torch():
        announce({"command": "evaluate and compare with torch"})
        try:
            torch, found, compared = compare_with_torch(path)
            failures += found
        except Exception:  # noqa: BLE001 - the engine's evaluator raising is a finding
            failures.append(("traceback", "evaluate at the spec's values: "
                             + traceback.format_exc()))
    return {"index": index, "name": spec.name, "kind": spec.kind, "bad": spec.bad,
            "regime": spec.regime, "text": spec.text, "codes": codes, "torch": torch,
            "compared": compared, "failures": failures,
            "seconds": round(time.perf_counter() - started, 3)}


def _have_torch() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def worker(notes_every: int, code_every: int) -> None:
    """Answer "seed index" lines on stdin with JSON rows on the original stdout. The index
    named by the environment's FUZZ_BLOCK_AT blocks in a read that never returns: how the
    tests see the hang guard work."""
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # nothing the engine prints at the fd level may garble the channel

    def announce(row: dict) -> None:
        channel.write(json.dumps(row) + "\n")

    # Imports first, so that a spec's CPU time, which the hang guard counts, is its own.
    import fuzzspecs  # noqa: F401
    import torchref  # noqa: F401

    import symbackprop.cli  # noqa: F401
    if _have_torch():
        import torch  # noqa: F401
    announce({"ready": True})
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        for line in sys.stdin:
            seed, index = map(int, line.split())
            if str(index) == os.environ.get("FUZZ_BLOCK_AT"):
                os.read(os.pipe()[0], 1)
            folder = Path(tmp) / str(index)
            folder.mkdir()
            try:
                announce(run_spec(seed, index, folder, notes_every, code_every, announce))
            except Exception:  # noqa: BLE001 - drawing the spec itself failed
                announce({"index": index, "name": f"seed {seed} spec {index}", "text": "",
                          "failures": [("traceback", "while reading the drawn spec: "
                                        + traceback.format_exc())], "codes": {}})
            for f in folder.iterdir():
                f.unlink()
            folder.rmdir()


# -- the parent: workers, hang guard, summary -------------------------------------------------------
@dataclass
class Summary:
    """What a campaign found: counts by class and the failing specs."""

    seed: int
    count: int = 0
    seconds: float = 0.0
    kinds: Counter = field(default_factory=Counter)
    bad: int = 0
    codes: Counter = field(default_factory=Counter)
    torch: Counter = field(default_factory=Counter)
    compared: int = 0
    failures: list = field(default_factory=list)  # (class, name, text, detail)

    def add(self, row: dict) -> None:
        self.count += 1
        self.kinds[row.get("kind", "?")] += 1
        self.bad += bool(row.get("bad"))
        for command, code in row.get("codes", {}).items():
            self.codes[f"{command.split()[0]} exit {code}"] += 1
        self.torch[row.get("torch", "not run").split(":")[0]] += 1
        self.compared += row.get("compared", 0)
        for cls, detail in row["failures"]:
            self.failures.append((cls, row["name"], row["text"], detail))
        # Exit 1 is a verdict against the engine: check's disagreement (judged in high precision
        # where float differences cannot be trusted), or a derived equation failing its own
        # check in example or notes. On the engine's own right answers either is a wrong
        # verdict, and a right verdict is an engine defect: a failure both ways.
        for command, code in row.get("codes", {}).items():
            if code == 1:
                cls = "check disagrees" if command == "check" else "self-check failed"
                self.failures.append((cls, row["name"], row["text"], f"{command}: exit 1"))

    def by_class(self, found: list | None = None) -> dict[str, list]:
        out: dict[str, list] = {}
        for f in self.failures if found is None else found:
            out.setdefault(f[0], []).append(f)
        return out

    def report(self) -> str:
        """The campaign in words: counts, then the shortest failing spec of each class."""
        lines = [f"fuzz campaign: seed {self.seed}, {self.count} specs in {self.seconds:.0f} s",
                 "  kinds: " + ", ".join(f"{k} {n}" for k, n in sorted(self.kinds.items())),
                 f"  with a bad field: {self.bad}",
                 "  exit codes: " + ", ".join(f"{k}: {n}" for k, n in sorted(self.codes.items())),
                 "  torch: " + ", ".join(f"{k} {n}" for k, n in sorted(self.torch.items()))
                 + f"; {self.compared} gradients compared"]
        for title, found in (("failures", self.failures),):
            classes = self.by_class(found)
            lines.append(f"  {title}: " + (", ".join(f"{c} {len(v)}" for c, v in
                                                      classes.items()) or "none"))
            for cls, found_ in classes.items():
                _, name, text, detail = min(found_, key=lambda f: (len(f[2]), f[1]))
                lines += [f"--- {cls} ({len(found_)}): shortest: {name}",
                          detail.rstrip()[:3000], text.rstrip()]
        return "\n".join(lines)


class _Worker:
    def __init__(self, notes_every: int, code_every: int, log: Path):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(ROOT), str(HERE), os.environ.get("PYTHONPATH", "")]))
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker",
             "--notes-every", str(notes_every), "--code-every", str(code_every)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
            bufsize=1, env=env, cwd=str(ROOT))
        self.buffer = b""
        self.ready = False
        self.command = ""
        self.index: int | None = None
        self.started: dict | None = None
        self.began = self.cpu_began = 0.0
        self.done = 0

    def cpu(self) -> float:
        """The worker's CPU seconds so far (0 where /proc cannot tell)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def give(self, seed: int, index: int) -> None:
        self.index, self.started, self.command = index, None, "drawing the spec"
        self.clock()
        self.proc.stdin.write(f"{seed} {index}\n")
        self.proc.stdin.flush()

    def clock(self) -> None:
        """Start the hang guard's clock (for each spec and each of its commands)."""
        self.began, self.cpu_began = time.monotonic(), self.cpu()

    def hung(self, timeout: float) -> bool:
        """Whether the spec has had ``timeout`` seconds of CPU (so a busy machine, where a
        niced campaign waits for its turn, is not taken for a hang), or ten times that of
        waiting (a hang that does not compute: a blocked read)."""
        waited = time.monotonic() - self.began
        if waited < timeout:
            return False
        used = self.cpu() - self.cpu_began
        return used >= timeout or waited >= 10 * timeout or used < 0.1 and waited >= 3 * timeout

    def read(self) -> list[str] | None:
        """The complete lines the worker has written so far; None at its end."""
        chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
        if not chunk:
            return None
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        return [line.decode("utf-8") for line in lines]

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.proc.stdin.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()


class _Idle:
    """The place of a worker that has nothing more to do."""

    ready, index = True, None

    def stop(self) -> None:
        pass


def campaign(seed: int, count: int, *, jobs: int = 2, timeout: float = 60.0,
             notes_every: int = 5, code_every: int = 3, start: int = 0, progress=None,
             recycle: int = 400, rows=None) -> Summary:
    """Run specs ``start`` .. ``start + count - 1`` of campaign ``seed``; a Summary. An
    interrupt (SIGINT) ends it early with the specs done so far; ``rows`` gets each result."""
    summary = Summary(seed)
    began = time.monotonic()
    todo = list(range(start, start + count))[::-1]
    with tempfile.TemporaryDirectory(prefix="fuzz-logs-") as logs:
        def fresh(k: int) -> _Worker:
            return _Worker(notes_every, code_every, Path(logs) / f"worker{k}.log")

        workers = [fresh(k) for k in range(max(1, min(jobs, count)))]
        try:
            while any(w.index is not None or not w.ready for w in workers):
                waiting = [w for w in workers if w.index is not None or not w.ready]
                ready, _, _ = select.select([w.proc.stdout for w in waiting], [], [], 1.0)
                for k, w in enumerate(workers):
                    if w.index is None and w.ready:
                        continue
                    row = None
                    if w.proc.stdout in ready:
                        lines = w.read()
                        if lines is None:
                            row = _lost(w, seed, "worker died", Path(logs) / f"worker{k}.log")
                        for line in lines or ():
                            message = json.loads(line)
                            if "ready" in message:
                                w.ready = True
                                if todo:
                                    w.give(seed, todo.pop())
                            elif "start" in message:
                                w.started = message
                            elif "command" in message:
                                w.command = message["command"]
                                w.clock()
                            else:
                                row = message
                    elif w.index is not None and w.hung(timeout):
                        row = _lost(w, seed, "hang", None, timeout)
                    if row is None:
                        continue
                    if w.index is None:  # a worker that died before its first spec
                        raise RuntimeError(row["failures"][0][1])
                    summary.add(row)
                    if rows:
                        rows(row)
                    w.index = None
                    w.done += 1
                    if row.get("lost") or w.done >= recycle or not todo:
                        w.stop()
                        workers[k] = w = fresh(k) if todo else _Idle()
                    elif todo:
                        w.give(seed, todo.pop())
                    if progress and summary.count % 100 == 0:
                        progress(f"{summary.count} specs, {time.monotonic() - began:.0f} s, "
                                 f"failures: {dict(Counter(f[0] for f in summary.failures))}")
        except KeyboardInterrupt:
            if progress:
                progress(f"interrupted after {summary.count} specs")
        finally:
            for w in workers:
                w.stop()
    summary.seconds = time.monotonic() - began
    return summary


def _lost(w: _Worker, seed: int, cls: str, log: Path | None, timeout: float = 0.0) -> dict:
    """The row of a spec whose worker hung or died: its text from the worker's announcement
    (or, if it never got that far, the spec's structure drawn again without values)."""
    from fuzzspecs import draw_spec

    started = w.started or {}
    drawn = draw_spec(seed, w.index)
    text = started.get("text") or drawn.text
    name = started.get("name") or f"seed {seed} spec {w.index} (while drawing its values)"
    if cls == "hang":
        detail = f"{w.command}: no answer after {timeout:.0f} s of CPU"
    else:
        w.log.flush()
        detail = "worker died: " + (log.read_text(errors="replace")[-2000:] if log else "")
    return {"index": w.index, "name": name, "kind": drawn.kind, "text": text, "codes": {},
            "torch": "not run",
            "failures": [(cls, detail)], "lost": True}


def main(argv: list[str] | None = None) -> int:
    """The campaign as a command; exit 1 when anything failed."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=300)
    p.add_argument("--seed", type=int, default=21)
    p.add_argument("--start", type=int, default=0, help="first spec index (to resume)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--timeout", type=float, default=60.0,
                   help="CPU seconds per command before it counts as a hang")
    p.add_argument("--notes-every", type=int, default=5, help="run notes on every Nth spec")
    p.add_argument("--code-every", type=int, default=3, help="run grad --code on every Nth")
    p.add_argument("--json", metavar="FILE", help="also write every spec's result as JSON lines")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.notes_every, args.code_every)
        return 0
    # A campaign in the background ignores SIGINT; SIGTERM ends it early, with its report.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(open(args.json, "w", encoding="utf-8")) if args.json else None

        def keep(row: dict) -> None:
            out.write(json.dumps(row) + "\n")
            out.flush()

        summary = campaign(args.seed, args.count, jobs=args.jobs, timeout=args.timeout,
                           notes_every=args.notes_every, code_every=args.code_every,
                           start=args.start, rows=keep if out else None,
                           progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(summary.report())
    return 1 if summary.failures else 0


if __name__ == "__main__":
    sys.exit(main())

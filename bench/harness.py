"""How every section of `make bench` times its contenders, in one place, so no section can flatter.

The rules, each enforced here and tested in tests/bench/test_harness.py:

- **threads pinned.** ``pin_threads()`` runs before numpy, torch or jax is imported (each reads
  its thread count once): BLAS, OpenMP, torch and XLA all on one thread, so CPU time is the
  time the work takes and no library wins by using the second core;
- **CPU time**, ``time.process_time``: on a shared machine wall time also counts the turns other
  processes held the core;
- **interleaved rounds, start rotated.** Each round times every contender once, in an order
  rotated by one each round, so a burst of load, a warm cache or a frequency step favours
  nobody;
- **min and median** over the rounds, both reported; a claim says which it used;
- **equal answers first.** ``same_answers`` compares every contender's loss and gradients
  with the reference's before any of them is timed: a fast wrong answer is not measured.

>>> pin_threads()
>>> t = interleaved({"sum": lambda: sum(range(100)), "len": lambda: len(range(100))}, rounds=3,
...                 min_time=0.001)
>>> sorted(t), len(t["sum"].samples)
(['len', 'sum'], 3)
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS")
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
ROUNDS = 7


def pin_threads() -> None:
    """One thread for every library: the environment before numpy, torch and jax read it, and
    torch's own setting if torch is imported already. Call it first in a benchmark script."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    os.environ["XLA_FLAGS"] = XLA_ONE_THREAD
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # refused once parallel work has started; intra-op is what counts
            pass


def threads_pinned() -> bool:
    """True when every library this process has imported runs one thread."""
    if any(os.environ.get(name) != "1" for name in THREAD_VARIABLES):
        return False
    if "torch" in sys.modules and sys.modules["torch"].get_num_threads() != 1:
        return False
    return "jax" not in sys.modules or os.environ.get("XLA_FLAGS") == XLA_ONE_THREAD


@dataclass
class Timing:
    """CPU seconds per call, one sample per round."""

    samples: list[float] = field(default_factory=list)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def calls_per_sample(fn: Callable[[], object], min_time: float = 0.05,
                     clock: Callable[[], float] = time.process_time) -> int:
    """How many calls make one sample last at least ``min_time`` CPU seconds (1, 2, 5, 10, …)."""
    number = 1
    while True:
        start = clock()
        for _ in range(number):
            fn()
        if clock() - start >= min_time or number >= 10**6:
            return number
        number = _next_number(number)


def _next_number(number: int) -> int:
    # 1, 2, 5, 10, 20, 50, … as timeit's autorange counts
    digits = 10 ** (len(str(number)) - 1)
    lead = number // digits
    return {1: 2, 2: 5, 5: 10}[lead] * digits


def rotated(names: Sequence[str], round_number: int) -> list[str]:
    """``names`` in the order round ``round_number`` times them: the start moves by one each round."""
    k = round_number % len(names) if names else 0
    return [*names[k:], *names[:k]]


def interleaved(contenders: Mapping[str, Callable[[], object]], rounds: int = ROUNDS,
                min_time: float = 0.05,
                clock: Callable[[], float] = time.process_time) -> dict[str, Timing]:
    """Time every contender once per round, the order rotated each round; CPU seconds per call.

    Each contender is called once first (a compile, a cache fill) and its calls per sample are
    fixed before round one, so every round does the same work."""
    names = list(contenders)
    for name in names:
        contenders[name]()
    numbers = {name: calls_per_sample(contenders[name], min_time) for name in names}
    timings = {name: Timing() for name in names}
    for round_number in range(rounds):
        for name in rotated(names, round_number):
            fn, number = contenders[name], numbers[name]
            start = clock()
            for _ in range(number):
                fn()
            timings[name].samples.append((clock() - start) / number)
    return timings


def once(fn: Callable[[], object], clock: Callable[[], float] = time.process_time
         ) -> tuple[float, object]:
    """(CPU seconds, result) of one call: for work that cannot be repeated cheaply."""
    start = clock()
    out = fn()
    return clock() - start, out


def children_cpu() -> float:
    """CPU seconds (user + system) of every child process this one has waited for so far: the
    difference around ``subprocess.run`` is the child's CPU time, whatever else ran meanwhile."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def same_answers(reference: Mapping[str, object], other: Mapping[str, object], *,
                 rtol: float = 1e-10, atol: float = 1e-12, who: str = "") -> None:
    """Raise AssertionError unless ``other`` has every array of ``reference``, equal within
    ``rtol``/``atol`` (numpy's allclose on float64 copies)."""
    import numpy as np

    for name, want in reference.items():
        if name not in other:
            raise AssertionError(f"{who}: no {name}")
        got = np.asarray(other[name], dtype=np.float64)
        want = np.asarray(want, dtype=np.float64)
        if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=atol):
            err = float(np.max(np.abs(got - want))) if got.shape == want.shape else math.inf
            raise AssertionError(f"{who}: {name} differs from the reference (max error {err:.3g})")


def fitted_exponent(sizes: Sequence[float], seconds: Sequence[float]) -> float:
    """The slope of log(seconds) against log(size) by least squares: time ∝ size^slope.

    >>> round(fitted_exponent([1, 2, 4, 8], [3, 6, 12, 24]), 6)
    1.0
    """
    xs = [math.log(s) for s in sizes]
    ys = [math.log(t) for t in seconds]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return (sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
            / sum((x - mx) ** 2 for x in xs))


#: A target missed only because the engine's library is slower at the same calls than the peer's
#: library: a measured limit, counted apart from PASS and MISS.
LIMIT = "LIMIT"


def verdict(ok: bool | str | None) -> str:
    """PASS, MISS, NOT MEASURED (None: the contender is not installed), or LIMIT (``ok`` is
    :data:`LIMIT`, as :func:`against_limit` returns it)."""
    if ok == LIMIT:
        return LIMIT
    return "NOT MEASURED" if ok is None else "PASS" if ok else "MISS"


def target_line(ok: bool | str | None, text: str) -> str:
    """One line of `make bench`'s targets list."""
    return f"- {verdict(ok)}: {text}"


def against_limit(engine: float, peer: float, own_calls: float, peer_calls: float,
                  target: float, tuned: float | None = None) -> bool | str:
    """The engine's time against the fastest peer's, judged with the library calls it makes.

    ``own_calls`` is the time of the library calls the engine makes (its BLAS products) and
    ``peer_calls`` the same calls (shapes, dtype, layout) in the peer's library, all timed in the
    same rounds. True (PASS) where ``engine <= target × peer``; over it, :data:`LIMIT` only where
    the engine with its own calls' time replaced by the peer library's,
    ``engine − own_calls + peer_calls``, would be within the target: the whole miss is then the
    library's. ``tuned``, where measured, is the engine's ratio to the fastest peer with its own
    library set up for the machine (numpy's OpenBLAS running the kernel made for this CPU, the
    engine's code unchanged, engine and peers timed again in the same rounds); within the target
    it too makes the miss the library's. Otherwise False (MISS): the engine's own code loses time
    a faster library would not give back.

    >>> against_limit(1.05, 1.0, 0.5, 0.4, 1.1)  # within 1.1x: PASS
    True
    >>> against_limit(1.2, 1.0, 0.6, 0.45, 1.1)  # 1.2 − 0.6 + 0.45 = 1.05 ≤ 1.1: LIMIT
    'LIMIT'
    >>> against_limit(1.2, 1.0, 0.6, 0.55, 1.1)  # 1.2 − 0.6 + 0.55 = 1.15 > 1.1: MISS
    False
    >>> against_limit(1.2, 1.0, 0.6, 0.55, 1.1, tuned=1.04)  # passes on its BLAS's right kernel
    'LIMIT'
    >>> against_limit(1.2, 1.0, 0.6, 0.55, 1.1, tuned=1.12)
    False
    """
    if engine <= target * peer:
        return True
    if engine - own_calls + peer_calls <= target * peer:
        return LIMIT
    return LIMIT if tuned is not None and tuned <= target else False


def worst_verdict(oks: Sequence[bool | str | None]) -> bool | str | None:
    """One verdict for several cells: MISS if any missed, else NOT MEASURED if any was not
    measured, else LIMIT if any is at a limit, else PASS.

    >>> worst_verdict([True, LIMIT, True]), worst_verdict([LIMIT, False]), worst_verdict([True])
    ('LIMIT', False, True)
    """
    verdicts = [verdict(ok) for ok in oks]
    for name, ok in (("MISS", False), ("NOT MEASURED", None), (LIMIT, LIMIT)):
        if name in verdicts:
            return ok
    return True


def blas_report() -> str:
    """Which BLAS each imported library runs, as their own configuration reports it."""
    parts = []
    if "numpy" in sys.modules:
        np = sys.modules["numpy"]
        try:
            config = np.show_config(mode="dicts")
            blas = config["Build Dependencies"]["blas"]
            parts.append(f"numpy {np.__version__}: {blas.get('name')} {blas.get('version', '')}"
                         .strip())
        except Exception:  # noqa: BLE001 - older numpy: say we could not tell
            parts.append(f"numpy {np.__version__}: BLAS not reported")
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        show = torch.__config__.show()
        blas = next((line.split("=", 1)[1] for line in show.replace(",", "\n").splitlines()
                     if "BLAS_INFO" in line), "not reported")
        parts.append(f"torch {torch.__version__}: {blas.strip()}")
    if "jax" in sys.modules:
        jax = sys.modules["jax"]
        parts.append(f"jax {jax.__version__}: XLA's own CPU kernels (Eigen)")
    pools = _thread_pools()
    if pools:
        parts.append(f"threads in use (threadpoolctl): {pools}")
    return "; ".join(parts)


def _thread_pools() -> str:
    """Each native thread pool loaded in this process with its thread count, where threadpoolctl
    is installed (make bench's environment has it): what pinning achieved, not what was asked."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ""
    return ", ".join(f"{pool.get('internal_api')} {pool.get('version') or ''} "
                     f"{pool.get('num_threads')} thread(s)".replace("  ", " ")
                     for pool in threadpool_info())

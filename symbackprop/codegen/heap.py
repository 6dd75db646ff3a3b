"""glibc's heap set as its own adaptive rule leaves it in a busy process, for the numpy
evaluators' calls on a batch.

A numpy call of a general form's evaluator, or of the scalar evaluator on a batch, makes a few
dozen arrays of 128 KiB to 10 MiB and frees them when its result is dropped. In a process
that has freed no larger array, glibc's adaptive thresholds stay near their starting values
(arrays over 128 KiB mapped, the heap's top trimmed past twice the largest freed one), so
every call hands its arrays back to the kernel and the next one faults them in again,
zeroed. The RNN (T = 16, 8 hidden) at batch 1024 faulted about 2,300 pages a call: 7.0 ms,
against 2.4 ms where they stay; the scalar evaluator at 64-64-64-1, batch 4096, 3,000 pages:
15.7 ms against 9.8 ms. glibc raises both thresholds by itself once a 32 MiB array is freed
(a dataset loaded, a torch or jax program run), so the same call was fast or slow by what the
process had done before.

``keep_freed_arrays`` sets both once, to that adaptive rule's ceiling (map only arrays over
32 MiB; trim only past 64 MiB free at the top), so the evaluators are as fast in a fresh
script as in a busy one. It leaves them alone off glibc and where the user has set glibc's own
malloc variables (``MALLOC_TRIM_THRESHOLD_`` and the rest, or ``GLIBC_TUNABLES``): set one to
keep glibc's defaults, e.g. ``MALLOC_TRIM_THRESHOLD_=131072``.

>>> keep_freed_arrays() in (True, False)
True
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
from collections.abc import Mapping

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_arrays", "user_tunes_malloc"]

#: glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit, the ceiling of its adaptive mmap threshold;
#: its adaptive trim threshold is twice the mmap threshold
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters, from glibc's malloc.h
_USER_SETTINGS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_",
                  "MALLOC_MMAP_MAX_", "MALLOC_ARENA_MAX")


def user_tunes_malloc(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment sets glibc's malloc itself (then the evaluator leaves it).

    >>> user_tunes_malloc({"MALLOC_TRIM_THRESHOLD_": "131072"}), user_tunes_malloc({})
    (True, False)
    >>> user_tunes_malloc({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"})
    True
    """
    return any(name in environ for name in _USER_SETTINGS) or \
        "glibc.malloc." in environ.get("GLIBC_TUNABLES", "")


@functools.cache
def keep_freed_arrays() -> bool:
    """Set glibc's mmap and trim thresholds to their adaptive ceilings, once per process;
    whether they were set (False off glibc, or where the user tunes malloc)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or user_tunes_malloc():
        return False
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; the mmap threshold first, as glibc's adaptive rule moves it
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
        bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))

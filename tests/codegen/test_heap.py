"""glibc's heap as codegen/heap.py sets it: a numpy call's arrays stay for the next call, unless
the user tunes malloc; counted in page faults (the kernel's own count), never in time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from symbackprop.codegen.heap import user_tunes_malloc

REPO = Path(__file__).resolve().parents[2]

# A user's plain script: numpy and symbackprop only, each call's result dropped at once. It
# prints the minor page faults per call once the first calls have set the heap up.
SETUP = {
    "general form's evaluator": """
form = sb.general_form(sb.rnn(2, 8, 1, steps=16))
ev = form.evaluator({"T": 16, "n_h": 8, "n_x": 2, "n_y": 1}, "numpy")
inputs = {"x": rng.normal(size=(1024, 16, 2)), "y": rng.normal(size=(1024, 16, 1))}
params = {"U": rng.normal(size=(8, 2)), "W": rng.normal(size=(8, 8)) / 3,
          "b": rng.normal(size=8), "V": rng.normal(size=(1, 8)), "c": rng.normal(size=1)}
call = lambda: ev(inputs, params)
""",
    "scalar evaluator": """
net = sb.mlp([16, 16, 1], activation="sigmoid", loss="mse", bias=True)
ev = sb.derive(net).evaluator
values = {s.name: rng.normal(size=8192) for s in net.inputs + net.targets}
values.update({p.name: 0.3 for p in net.parameters})
call = lambda: ev.evaluate(values, batch_mean=True)
""",
}
COUNT = """
import json, resource
import numpy as np
import symbackprop as sb
rng = np.random.default_rng(0)
{setup}
for _ in range(5):
    call()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    call()
print(json.dumps((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20))
"""


def faults_per_call(evaluator: str, **settings: str) -> float:
    env = {k: v for k, v in os.environ.items() if not user_tunes_malloc({k: v})}
    env.update(settings, PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", COUNT.format(setup=SETUP[evaluator])], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


needs_glibc = pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc only")


@needs_glibc
@pytest.mark.parametrize("evaluator", SETUP)
def test_a_numpy_call_reuses_the_last_calls_memory_in_a_fresh_process(evaluator):
    # before: about 2,300 (RNN) and 1,500 (MLP) faults a call, 6-9 MiB handed back and taken again
    assert faults_per_call(evaluator) < 50


@needs_glibc
@pytest.mark.parametrize("evaluator", SETUP)
def test_malloc_is_left_alone_where_the_user_sets_it(evaluator):
    assert faults_per_call(evaluator, MALLOC_TRIM_THRESHOLD_="131072") > 500


def test_glibc_settings_of_the_user_are_recognised():
    assert user_tunes_malloc({"MALLOC_ARENA_MAX": "2"})
    assert user_tunes_malloc({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=4096"})
    assert not user_tunes_malloc({"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2", "PATH": "/bin"})

"""bench/compare.py, the MLP evaluator against its peers: it runs and prints its table and its
target lines, and checks every contender's answers before timing (timings are not judged here)."""

from __future__ import annotations

import subprocess
import sys

from texutil import REPO

COMPARE = REPO / "bench" / "compare.py"


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False, cwd=REPO / "bench")


def test_quick_run_prints_every_cell_and_a_target_line_per_net_and_dtype():
    run = subprocess.run([sys.executable, str(COMPARE), "--quick"], capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert out.startswith("### The MLP evaluator against its peers (quick run)")
    assert "| net | dtype | batch | engine min / mom | hand numpy min / mom |" in out
    rows = [line for line in out.splitlines() if line.startswith(("| 64-64-64-1 |",
                                                                   "| 784-256-10 |"))]
    assert {tuple(r.split(" | ")[1:3]) for r in rows} >= {
        ("float64", "16"), ("float32", "16")}
    targets = [line for line in out.splitlines() if line.startswith("- ")]
    assert all(t.startswith(("- PASS: ", "- LIMIT: ", "- MISS: ", "- NOT MEASURED: "))
               for t in targets)
    for row in [r for r in rows if " / " in r]:  # each cell of the main table says its
        # verdict, beside its products' ratio to the peer
        assert row.split(" | ")[-2] in ("PASS", "LIMIT", "MISS", "NOT MEASURED"), row
    for net in ("64-64-64-1", "784-256-10"):
        for dtype in ("float64", "float32"):
            assert sum(t.split(": ", 1)[1].startswith(f"{net} {dtype}: ") for t in targets) == 1
    assert any("gradient / forward-only ≤ 3" in t for t in targets)


def test_the_cells_run_under_the_harness_discipline():
    # threads pinned before numpy is imported, and each contender's loss and every gradient
    # compared with the float64 hand-written backprop before any timing, in the cell's dtype
    run = _python(
        "import compare, harness, numpy\n"
        "assert harness.threads_pinned()\n"
        "calls, forward, products = compare.prepare('64-64-64-1', 3, 'float32')\n"
        "assert set(calls) >= {'engine', 'hand numpy'}, calls\n"
        "assert 'numpy' in products, products\n"
        "for run in products.values():\n"
        "    run()\n"
        "print('ok')\n")
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


def test_the_products_alone_are_the_engines_blas_calls_at_each_shape():
    # Z = W A per layer; δ Aᵀ per layer but at batch 1 (an outer product there, not BLAS);
    # Wᵀ δ under each layer of more than one unit (under one unit it is a broadcast)
    run = _python(
        "import compare\n"
        "print(compare.gemm_shapes([64, 64, 64, 1], 8))\n"
        "print(compare.gemm_shapes([784, 256, 10], 1))\n")
    assert run.returncode == 0, run.stderr
    deep, one = run.stdout.splitlines()
    assert deep == str([("W A", (64, 64), (64, 8)), ("δ Aᵀ", (64, 8), (64, 8)),
                        ("W A", (64, 64), (64, 8)), ("δ Aᵀ", (64, 8), (64, 8)),
                        ("Wᵀ δ", (64, 64), (64, 8)),
                        ("W A", (1, 64), (64, 8)), ("δ Aᵀ", (1, 8), (64, 8))])
    assert one == str([("W A", (256, 784), (784, 1)), ("W A", (10, 256), (256, 1)),
                       ("Wᵀ δ", (10, 256), (10, 1))])


def test_a_cell_is_a_limit_only_where_the_peer_librarys_products_would_bring_it_within():
    # the engine 1.2x its fastest peer (12 ms against jax.jit's 10), 6 ms of it numpy's
    # products: torch's 4.5 ms for the same products would make it 1.05x (LIMIT); at 5.5 ms
    # (jax's 7 ms slower still) 1.15x (MISS); within 1.1x it is a PASS whatever the products
    run = _python(
        "import compare\n"
        "for torch in (0.0045, 0.0055):\n"
        "    cell = compare.Cell('784-256-10', 4096, 'float32')\n"
        "    cell.medians = {'engine': [0.012] * 3, 'jax.jit': [0.01] * 3, 'torch eager': [0.02] * 3}\n"
        "    cell.products = {'numpy': [0.006] * 3, 'torch': [torch] * 3, 'jax': [0.007] * 3}\n"
        "    print(cell.fastest_peer(), cell.peer_library(), round(cell.swapped_ratio(), 3),\n"
        "          cell.verdict())\n"
        "cell.medians['engine'] = [0.0105] * 3\n"
        "print(cell.verdict())\n"
        "del cell.products['torch'], cell.products['jax']\n"
        "cell.medians['engine'] = [0.012] * 3\n"
        "print(cell.peer_library(), cell.verdict())\n")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["jax.jit torch 1.05 LIMIT", "jax.jit torch 1.15 False",
                                       "True", "None False"]


def test_a_miss_within_the_target_on_numpys_right_blas_kernel_is_a_limit():
    # the swap leaves 1.15x (a MISS), but the same cell measured again with numpy's OpenBLAS on
    # the kernel made for this CPU reads 1.04x: the kernel is the whole miss; at 1.12x there it
    # stays a MISS, and a cell within the target stays a PASS whatever it reads there
    run = _python(
        "import compare\n"
        "cell = compare.Cell('64-64-64-1', 4096, 'float32')\n"
        "cell.medians = {'engine': [0.012] * 3, 'jax.jit': [0.01] * 3}\n"
        "cell.products = {'numpy': [0.006] * 3, 'torch': [0.0055] * 3}\n"
        "for tuned in (None, 1.04, 1.12):\n"
        "    cell.tuned = tuned\n"
        "    print(cell.verdict())\n"
        "cell.medians['engine'], cell.tuned = [0.0105] * 3, 1.5\n"
        "print(cell.verdict())\n")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["False", "LIMIT", "False", "True"]


def test_the_products_are_the_same_calls_in_each_library():
    # numpy's, torch's and jax's products at one cell give the same numbers: the same
    # operands, shapes and layout, so a LIMIT compares like with like
    run = _python(
        "import numpy, blas_products as bp\n"
        "import torch, jax, jax.numpy as jnp\n"
        "jax.config.update('jax_enable_x64', True)  # as the jax peer and its products run\n"
        "pairs = [bp.operand_pairs([6, 5, 3], 4, 'float64', c) for c in (numpy.asarray, torch.from_numpy,\n"
        "                                                       jnp.asarray)]\n"
        "for (kind, a, b), (_, ta, tb), (_, ja, jb) in zip(*pairs):\n"
        "    assert numpy.array_equal(a, ta.numpy()) and numpy.array_equal(b, numpy.asarray(jb))\n"
        "fns = bp.library_products([6, 5, 3], 4, 'float64')\n"
        "print(sorted(fns))\n"
        "for run in fns.values():\n"
        "    run()\n")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[0] == "['jax', 'numpy', 'torch']"


def test_a_contender_with_a_wrong_gradient_is_refused_before_timing():
    run = _python(
        "import compare\n"
        "original = compare.contenders\n"
        "def broken(sizes, softmax):\n"
        "    methods, engine = original(sizes, softmax)\n"
        "    run, convert = methods['engine']\n"
        "    def wrong(X, Y, W, B):\n"
        "        loss, dW, db = run(X, Y, W, B)\n"
        "        return loss, [g * 1.001 for g in dW], db\n"
        "    methods['engine'] = (wrong, convert)\n"
        "    return methods, engine\n"
        "compare.contenders = broken\n"
        "compare.prepare('64-64-64-1', 4, 'float64')\n")
    assert run.returncode != 0
    assert "engine at 64-64-64-1, 4, float64: dW1 differs from the reference" in run.stderr


def test_the_kernel_note_runs_its_cells_in_a_child_only_over_an_avx512_kernel():
    # --cells prints each cell's engine and fastest-peer medians, then the OpenBLAS kernel; the
    # child with the CPU vendor's AVX2 kernel runs only where OpenBLAS chose an AVX-512 one (a
    # CPU without AVX2 would crash on it), so elsewhere there is no note rather than a wrong one
    run = subprocess.run([sys.executable, str(COMPARE), "--quick", "--cells",
                          "64-64-64-1:16:float32", "--rounds", "2", "--runs", "2",
                          "--min-time", "0.001"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    net, batch, dtype, engine, peer = run.stdout.splitlines()[0].split()
    assert (net, batch, dtype) == ("64-64-64-1", "16", "float32")
    assert float(engine) > 0 and float(peer) > 0
    run = _python(
        "import compare\n"
        "compare.openblas_kernel = lambda: \"numpy's OpenBLAS kernel: Zen (its own choice)\"\n"
        "print(compare.other_kernel_cells([('64-64-64-1', 16, 'float32')], 2, 1, 0.001, True))\n")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "('', [])"
    assert compare_cpu_kernel("vendor_id : GenuineIntel\nflags : avx2 fma") == "Haswell"
    assert compare_cpu_kernel("vendor_id : HygonGenuine\nflags : avx2") == "Zen"
    assert compare_cpu_kernel("vendor_id : AuthenticAMD\nflags : avx fma") is None


def compare_cpu_kernel(cpuinfo):
    run = _python(f"import blas_products\nprint(blas_products.cpu_kernel({cpuinfo!r}))\n")
    assert run.returncode == 0, run.stderr
    out = run.stdout.strip()
    return None if out == "None" else out

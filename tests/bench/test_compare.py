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
        "products()\n"
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


def test_a_cell_is_a_limit_only_where_its_products_alone_are_over_the_target():
    # the engine 1.2x its fastest peer in both cells; only the one whose products alone take
    # 1.15x the peer's whole call is a LIMIT: products at 0.8x leave the miss a MISS
    run = _python(
        "import compare\n"
        "for products in (0.0115, 0.008):\n"
        "    cell = compare.Cell('784-256-10', 4096, 'float32')\n"
        "    cell.medians = {'engine': [0.012] * 3, 'jax.jit': [0.01] * 3, 'torch eager': [0.02] * 3}\n"
        "    cell.products = [products] * 3\n"
        "    print(cell.fastest_peer(), round(cell.products_ratio(), 3), cell.verdict())\n"
        "cell.medians['engine'] = [0.0105] * 3\n"
        "print(cell.verdict())\n")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["jax.jit 1.15 LIMIT", "jax.jit 0.8 False", "True"]


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


def test_the_products_alone_run_by_themselves_and_another_kernel_only_over_an_avx512_one():
    # --products-only prints the median CPU seconds of the engine's products and the kernel;
    # OPENBLAS_CORETYPE=Haswell is forced only where OpenBLAS chose an AVX-512 kernel (a CPU
    # without AVX2 would crash on it), so elsewhere there is no figure rather than a wrong one
    run = subprocess.run([sys.executable, str(COMPARE), "--products-only", "8,8,1", "16",
                          "float32", "--rounds", "2"], capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    assert float(run.stdout.split()[0]) > 0
    run = _python(
        "import compare\n"
        "compare.openblas_kernel = lambda: \"numpy's OpenBLAS kernel: Zen (its own choice)\"\n"
        "print(compare.other_kernel_products([8, 8, 1], 16, 'float32', 2))\n"
        "compare.openblas_kernel = lambda: ''\n"
        "print(compare.other_kernel_products([8, 8, 1], 16, 'float32', 2))\n")
    assert run.returncode == 0 and run.stdout.split() == ["None", "None"], run.stderr

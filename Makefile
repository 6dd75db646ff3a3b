# Every target sets up its own virtual environment first, so a fresh clone needs only Python 3.11.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow test-all lint bench gallery clean setup

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/symbackprop demo -o demo

# Two workers: the suite is CPU-bound and this project's machines have two cores.
# make test leaves out the tests marked slow (every document kind of the whole gallery compiled
# in both languages, the wheel built and installed, the long property runs); make test-slow runs
# just those, and CI runs both.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m slow

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

# ruff, and the layers contract of docs/design.md (make test runs it too, in test_architecture.py)
lint: $(STAMP)
	$(BIN)/ruff check symbackprop tests bench
	$(BIN)/lint-imports

# make bench compares the engine with torch and jax, so it installs them into an environment of its
# own (.venv-bench), once: the stamp is newer than pyproject.toml on the second run, which installs
# nothing. torch 2.13.0 is the CPU build this machine kind keeps on disk (a plain 'torch' would
# fetch a CUDA build of several GB); pip keeps its downloads in its cache (jax and jaxlib are
# ~600 MB). threadpoolctl lets the results say how many threads each BLAS actually ran.
BENCH_VENV  ?= .venv-bench
BENCH_BIN   := $(BENCH_VENV)/bin
BENCH_STAMP := $(BENCH_VENV)/.installed
BENCH_PEERS ?= 'torch==2.13.0' 'jax[cpu]' threadpoolctl

$(BENCH_STAMP): pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_BIN)/python -m pip install --quiet --upgrade pip
	$(BENCH_BIN)/python -m pip install --quiet -e '.[fast]' $(BENCH_PEERS)
	touch $(BENCH_STAMP)

# One run of every section (bench/bench.py: under 30 minutes), written to bench/results.md with
# one PASS/MISS summary at the end; BENCH_ARGS=--quick for the smoke test.
bench: $(BENCH_STAMP)
	$(BENCH_BIN)/python bench/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(BENCH_VENV) build dist demo *.egg-info .pytest_cache .ruff_cache .hypothesis

gallery: $(STAMP)
	$(BIN)/python docs/examples/make_gallery.py

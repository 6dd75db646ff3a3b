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

bench: $(STAMP)
	$(BIN)/python bench/bench.py

clean:
	rm -rf $(VENV) build dist demo *.egg-info .pytest_cache .ruff_cache .hypothesis

gallery: $(STAMP)
	$(BIN)/python docs/examples/make_gallery.py

# Two entry points do all set-up on a fresh machine (see README):
#   make demo   - runs the seed README flow against the embedded local emulator
#   make test   - runs the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench bench-bulk clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/evervault-local demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy --strict evervault

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

bench-bulk: $(STAMP)
	$(BIN)/python benchmarks/bulk.py

clean:
	rm -rf $(VENV) .interop-venv .pytest_cache .mypy_cache .ruff_cache

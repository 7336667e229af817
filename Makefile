# Two entry points do all set-up on a fresh machine (see README):
#   make demo   - runs the seed README flow against the embedded local emulator
#   make test   - runs the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

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

# The anchors build their own cached virtualenvs; the Rust attestation bindings read the
# wall clock, so they run under Debian's faketime (installed here when missing and possible).
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet 'matplotlib>=3.7'
	command -v faketime >/dev/null || (apt-get update -qq && apt-get install -y -qq faketime) || \
		echo "faketime is not installed: the attestation rows will be skipped"
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .interop-venv .bench-venv .bench-attest-venv .pytest_cache .mypy_cache .ruff_cache

# Two entry points do all set-up on a fresh machine (see README):
#   make demo   - starts a throwaway local emulator and walks through the README's SDK calls
#   make test   - runs the whole test suite (what CI runs: .ci/run)
#   make soak   - the long soak, fault, kill -9 and fuzz runs (MINUTES=10), one summary table
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: demo test lint bench bench-bulk conformance soak clean

# editable_mode=compat: a plain path entry (.pth) instead of setuptools' import hook, so type
# checkers (mypy, pyright) in other projects using this virtualenv find the package and its
# py.typed, and new modules are importable without reinstalling.
$(STAMP): pyproject.toml
	@echo "==> creating the virtualenv $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> upgrading pip"
	$(PIP) install --upgrade pip
	@echo "==> installing evervault-sdk with every extra (editable; about a minute the first time)"
	$(PIP) install --config-settings editable_mode=compat -e '.[all,test]'
	touch $(STAMP)
	@echo "==> done: run 'source $(VENV)/bin/activate' to put evervault and evervault-local on PATH"

demo: $(STAMP)
	$(BIN)/evervault-local demo

test: $(STAMP)
	$(BIN)/python -m pytest

# ruff; mypy --strict over the package, the scripts and the benchmarks (the tests are not
# type-checked: pytest fixtures and hypothesis strategies are typed dynamically); the
# import-layer contract in pyproject.toml ([tool.importlinter]); no import cycle in the package,
# lazy imports included (the layers contract cannot see cycles inside one layer).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy --strict evervault
	MYPYPATH=scripts $(BIN)/mypy --strict --explicit-package-bases scripts benchmarks
	$(BIN)/lint-imports
	$(BIN)/python scripts/check_import_cycles.py

# The anchors build their own cached virtualenvs; the Rust attestation bindings read the
# wall clock, so they run under Debian's faketime (installed here when missing and possible).
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet 'matplotlib>=3.7'
	command -v faketime >/dev/null || (apt-get update -qq && apt-get install -y -qq faketime) || \
		echo "faketime is not installed: the attestation rows will be skipped"
	$(BIN)/python benchmarks/run.py

conformance: $(STAMP)
	$(BIN)/python scripts/conformance.py

MINUTES ?= 10
soak: $(STAMP)
	$(PIP) install --quiet --config-settings editable_mode=compat -e '.[all,test,fuzz]'
	$(BIN)/python -m hardening --minutes $(MINUTES)

bench-bulk: $(STAMP)
	$(BIN)/python benchmarks/bulk.py

clean:
	rm -rf $(VENV) .interop-venv .bench-venv .bench-attest-venv .pytest_cache .mypy_cache .ruff_cache \
		conformance/adapters/node/node_modules

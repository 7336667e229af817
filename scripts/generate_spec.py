#!/usr/bin/env python3
"""Write the conformance vectors in ``spec/`` from fixed, independent inputs.

Run from the repository root::

    python3 scripts/generate_spec.py           # (re)write spec/*.json
    python3 scripts/generate_spec.py --check   # fail if spec/*.json differ from a fresh run

This file is a thin entry point; the generator lives in ``scripts/spec_generator/``
(fixed inputs, the independent reference implementation, the domain cross-check, one
builder per vector file, and the command). ``build_all`` and ``render`` are re-exported
for tests/spec.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from spec_generator.cli import build_all, main, render

__all__ = ["build_all", "main", "render"]

if __name__ == "__main__":
    raise SystemExit(main())

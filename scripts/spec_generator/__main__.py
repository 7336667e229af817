"""``python -m spec_generator`` (from ``scripts/``) is the same command as ``scripts/generate_spec.py``."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())

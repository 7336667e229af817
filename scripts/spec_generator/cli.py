"""Write the conformance vectors in ``spec/`` from fixed, independent inputs.

Run from the repository root::

    python3 scripts/generate_spec.py           # (re)write spec/*.json
    python3 scripts/generate_spec.py --check   # fail if spec/*.json differ from a fresh run
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .builders import build_all
from .builders.common import Json

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = REPO_ROOT / "spec"

__all__ = ["SPEC_DIR", "build_all", "main", "render"]


def render(document: Json) -> str:
    """A vector file's exact text: two-space JSON, UTF-8 kept as is, a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with spec/ instead of writing")
    args = parser.parse_args(argv)
    documents = build_all()
    stale = []
    for name, document in documents.items():
        path = SPEC_DIR / name
        text = render(document)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python3 scripts/generate_spec.py", file=sys.stderr)
        return 1
    return 0

"""The ``evervault`` command. Each subcommand group registers itself on the parser.

Exit codes: 0 success, 1 a negative verdict (e.g. ``invalid: ...``), 2 a usage or I/O error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from evervault.cli import UsageError, attest, bulk


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evervault", description="Evervault SDK command-line tools.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    attest.register(commands)
    bulk.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``evervault`` console script and ``python -m evervault``."""
    arguments = build_parser().parse_args(argv)
    try:
        return int(arguments.handler(arguments))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

"""What the commands print: plain for people at a terminal, stable for scripts.

On a terminal JSON is indented; otherwise (a pipe, a file) it is one compact line and
nothing decorative (no progress, no summaries) is printed. ``--json`` always gives the
compact form.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO


def add_json_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as one line of JSON")


def stdout_is_terminal() -> bool:
    return _is_terminal(sys.stdout)


def interactive() -> bool:
    """Both streams on a terminal: a person is watching, so progress and summaries help."""
    return _is_terminal(sys.stdout) and _is_terminal(sys.stderr)


def _is_terminal(stream: TextIO | None) -> bool:
    return stream is not None and stream.isatty()  # None: the process started with it closed


def print_json(value: Any, *, compact: bool = False) -> None:
    if compact or not stdout_is_terminal():
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(value, ensure_ascii=False, indent=2)
    print(text)


def print_value(value: Any, *, as_json: bool) -> None:
    """A string as itself (one line), anything else, or any value under ``--json``, as JSON."""
    if isinstance(value, str) and not as_json:
        print(value)
    else:
        print_json(value, compact=True)


def note(message: str) -> None:
    """A line for a person at a terminal (stderr); nothing when the output goes to a script."""
    if interactive():
        print(message, file=sys.stderr)

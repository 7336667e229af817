"""The ``evervault`` command. Each subcommand group is a module with ``register(commands)``.

Exit status: 0 success; 1 a failure (an API or decryption error, an ``invalid`` attestation
verdict); 2 a usage or input error; 130 interrupted; 141 stdout closed early (``| head``),
as for a process ended by SIGPIPE. Errors are one ``error: ...`` line on stderr, never a
traceback, and never contain the API key.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from types import ModuleType
from typing import Any, NoReturn

from evervault.cli import UsageError, redaction
from evervault.domain.errors import EvervaultError
from evervault.services.version import DISTRIBUTION_NAME

# Modules of evervault.cli, each with ``register(commands)``, in the order ``--help`` lists
# them. Adding a subcommand group is adding its module's name here.
COMMAND_GROUPS: tuple[str, ...] = ("values", "functions", "tokens", "attest", "bulk")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 128 + 13  # 128 + SIGPIPE, what a shell reports for `yes | head -1`

Handler = Callable[[argparse.Namespace], int]


class CommandLineParser(argparse.ArgumentParser):
    """Reports argument errors by raising, so :func:`main` prints them redacted and returns 2.

    Abbreviated options are off: ``--api-k KEY`` must not slip past the redaction.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise ArgumentsRejected(self, message)


class ArgumentsRejected(Exception):
    """An argument error, carrying the (sub)parser whose usage line goes with it."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


def version_text() -> str:
    """``evervault <version>`` from the installed package's metadata."""
    try:
        return f"evervault {metadata.version(DISTRIBUTION_NAME)}"
    except metadata.PackageNotFoundError:  # imported from a checkout that was never installed
        return "evervault (version unknown: the evervault-sdk package metadata is not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = CommandLineParser(
        prog="evervault",
        description="Evervault from the shell: encrypt, decrypt, run Functions, create tokens, attest.",
        epilog=(
            "Credentials come from EV_APP_ID and EV_API_KEY (and EV_API_URL etc., as for the SDK). "
            "Exit status: 0 ok, 1 failure, 2 usage error."
        ),
    )
    parser.add_argument("--version", action="version", version=version_text())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_GROUPS:
        group: ModuleType = importlib.import_module(f"evervault.cli.{name}")
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``evervault`` console script and ``python -m evervault``."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    redact = redaction.Redactor.for_command_line(arguments, os.environ)
    try:
        code = _parse_and_run(arguments, redact)
        if sys.stdout is not None:  # None when started with stdout closed (`>&-`)
            sys.stdout.flush()  # a closed pipe must surface here, inside the handler below
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        _print_error("interrupted", redact)
        return EXIT_INTERRUPTED
    return code


def _parse_and_run(arguments: list[str], redact: redaction.Redactor) -> int:
    parser = build_parser()
    try:
        namespace = parser.parse_args(arguments)
    except ArgumentsRejected as rejected:
        rejected.parser.print_usage(sys.stderr)
        _print_error(rejected.message, redact)
        return EXIT_USAGE
    except SystemExit as exit_request:  # --help and --version
        return exit_request.code if isinstance(exit_request.code, int) else EXIT_OK
    handler: Handler = namespace.handler
    try:
        return int(handler(namespace))
    except UsageError as exc:
        _print_error(str(exc), redact)
        return EXIT_USAGE
    except EvervaultError as exc:
        _print_error(str(exc), redact)
        return EXIT_FAILURE
    except BrokenPipeError:
        raise
    except OSError as exc:  # e.g. the disk filled up while writing --out
        where = f": {exc.filename}" if exc.filename else ""
        _print_error(f"{exc.strerror or exc}{where}", redact)
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - a bug: one redacted line, not a traceback with secrets
        _print_error(f"unexpected {type(exc).__name__}: {exc}", redact)
        return EXIT_FAILURE


def _print_error(message: str, redact: redaction.Redactor) -> None:
    first_line = redact(message).strip().splitlines() or [""]
    with contextlib.suppress(BrokenPipeError, ValueError):  # stderr closed too: nothing to tell
        print(f"error: {first_line[0]}", file=sys.stderr)


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real stdout descriptor (e.g. captured in-process)
        pass


if __name__ == "__main__":
    raise SystemExit(main())

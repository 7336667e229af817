"""``evervault run FUNCTION [PAYLOAD]``: run a Function and print its run as JSON.

PAYLOAD is JSON (usually encrypted with ``evervault encrypt -``), ``-`` reads it from
stdin, and without it the payload is ``{}``. A Function that fails exits with status 1
and its error message on stderr.
"""

from __future__ import annotations

import argparse
from typing import Any

from evervault.cli import UsageError
from evervault.cli.credentials import add_credential_options, open_client
from evervault.cli.output import add_json_option, print_json
from evervault.cli.values import STDIN, read_document, read_stdin

DESCRIPTION = """Run a Function and print its run as JSON.

PAYLOAD is JSON (usually encrypted: evervault encrypt - < plain.json), - reads it from
stdin, and without it the payload is {}. A Function that fails exits with status 1 and its
error message on stderr."""


def register(commands: Any) -> None:
    parser = commands.add_parser("run", help="run a Function", description=DESCRIPTION)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("function", metavar="FUNCTION", help="the Function's name")
    add_payload_argument(parser)
    parser.add_argument("--async", dest="run_async", action="store_true", help="schedule, do not wait")
    parser.add_argument("--function-version", type=int, metavar="N", help="run this version")
    add_json_option(parser, "the run")
    add_credential_options(parser)
    parser.set_defaults(handler=run_function)


def add_payload_argument(parser: argparse.ArgumentParser, *, default: str | None = "{}") -> None:
    where = "" if default is None else f" (default {default})"
    parser.add_argument(
        "payload",
        nargs="?" if default is not None else None,
        default=default,
        metavar="PAYLOAD",
        help=f"JSON, or a bare ev:... string; - reads it from stdin{where}",
    )


def payload_from(text: str) -> Any:
    """PAYLOAD (or stdin for ``-``) as JSON, or as the one ``ev:...`` string it holds."""
    source, where = (read_stdin(), "stdin") if text == STDIN else (text, "PAYLOAD")
    return read_document(source, where, bare_ciphertext=True)[0]


def run_function(arguments: argparse.Namespace) -> int:
    options: dict[str, Any] = {"async": arguments.run_async}
    if arguments.function_version is not None:
        if arguments.function_version < 0:
            raise UsageError(f"--function-version must be 0 or more, got {arguments.function_version}")
        options["version"] = arguments.function_version
    payload = payload_from(arguments.payload)
    with open_client(arguments) as client:
        outcome = client.run(arguments.function, payload, options)
    print_json(outcome, compact=arguments.json)
    return 0

"""``evervault encrypt`` and ``evervault decrypt``: a value, a JSON document, or a file.

evervault encrypt 'VALUE'                  # a string; prints its ev:... ciphertext
echo '{"cvc": 123}' | evervault encrypt -  # JSON (stdin): every value encrypted, types kept
evervault encrypt --json-input 123         # VALUE is JSON: a number stays a number
evervault encrypt --in FILE --out FILE     # a file of any size to %EVENC, streaming
evervault decrypt 'ev:...'                 # a string back as itself, other types as JSON
... | evervault decrypt -                  # JSON (or one bare ev:... line) from stdin
evervault decrypt --in FILE.evenc --out FILE
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from evervault.bootstrap.clients import Client
from evervault.cli import UsageError, files
from evervault.cli.credentials import add_credential_options, open_client
from evervault.cli.output import add_json_option, note, print_json, print_value

STDIN = "-"


def register(commands: Any) -> None:
    encrypt = commands.add_parser(
        "encrypt", help="encrypt a value, a JSON document or a file", description=_usage("encrypt")
    )
    _add_input_options(encrypt, "plaintext")
    encrypt.add_argument("--role", help="data role the ciphertext carries (not for files)")
    encrypt.set_defaults(handler=run_encrypt)

    decrypt = commands.add_parser(
        "decrypt", help="decrypt through the API (values, JSON, files)", description=_usage("decrypt")
    )
    _add_input_options(decrypt, "ciphertext")
    decrypt.set_defaults(handler=run_decrypt)


def _usage(command: str) -> str:
    lines = [
        line.strip()
        for line in (__doc__ or "").splitlines()
        if f"evervault {command}" in line and not line.startswith("``")
    ]
    return "examples:\n  " + "\n  ".join(lines)


def _add_input_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("value", nargs="?", metavar="VALUE", help=f"the {what}; - reads JSON from stdin")
    parser.add_argument(
        "--json-input", action="store_true", help="VALUE is JSON (without VALUE: read JSON from stdin)"
    )
    parser.add_argument("--in", dest="input_file", metavar="FILE", help="a file instead (- for stdin)")
    parser.add_argument("--out", dest="output_file", metavar="FILE", help="where --in goes (- for stdout)")
    add_json_option(parser, "the result")
    add_credential_options(parser)


def run_encrypt(arguments: argparse.Namespace) -> int:
    if arguments.input_file is not None:
        if arguments.role is not None:
            raise UsageError("files cannot carry a data role; drop --role or encrypt a value instead")
        return _file(arguments, files.encrypt_file, "encrypted")
    value, is_json = _value(arguments, bare_ciphertext=False)
    with open_client(arguments) as client:
        encrypted = client.encrypt(value, arguments.role)
    _print(encrypted, is_json=is_json, as_json=arguments.json)
    return 0


def run_decrypt(arguments: argparse.Namespace) -> int:
    if arguments.input_file is not None:
        return _file(arguments, files.decrypt_file, "decrypted")
    value, is_json = _value(arguments, bare_ciphertext=True)
    with open_client(arguments) as client:
        decrypted = client.decrypt(value)
    _print(decrypted, is_json=is_json, as_json=arguments.json)
    return 0


def _print(result: Any, *, is_json: bool, as_json: bool) -> None:
    if is_json:
        print_json(result, compact=as_json)
    else:
        print_value(result, as_json=as_json)


def _value(arguments: argparse.Namespace, *, bare_ciphertext: bool) -> tuple[Any, bool]:
    """The value to process and whether it came as JSON (then the result is printed as JSON)."""
    if arguments.output_file is not None:
        raise UsageError("--out goes with --in FILE")
    if arguments.value in (None, STDIN):
        if arguments.value is None and not arguments.json_input:
            raise UsageError("give a VALUE, - (JSON from stdin) or --in FILE")
        return read_document(read_stdin(), "stdin", bare_ciphertext=bare_ciphertext)
    if arguments.json_input:
        return read_document(arguments.value, "VALUE", bare_ciphertext=False)
    return arguments.value, False


def read_stdin() -> str:
    """Standard input as UTF-8 (JSON's encoding), whatever the locale says."""
    try:
        return sys.stdin.buffer.read().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"stdin is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def read_document(text: str, where: str, *, bare_ciphertext: bool) -> tuple[Any, bool]:
    """``(value, True)`` for JSON; with ``bare_ciphertext`` a lone ``ev:...`` line is ``(it, False)``.

    The bare form lets ``evervault encrypt VALUE | evervault decrypt -`` work as written.
    """
    try:
        return json.loads(text), True
    except ValueError as exc:
        candidate = text.strip()
        if bare_ciphertext and candidate.startswith("ev:") and not any(c.isspace() for c in candidate):
            return candidate, False
        raise UsageError(f"{where} is not valid JSON ({exc})") from None


FileOperation = Callable[[Client, str, str], files.FileResult]


def _file(arguments: argparse.Namespace, operation: FileOperation, verb: str) -> int:
    if arguments.value is not None or arguments.json_input:
        raise UsageError("--in FILE replaces VALUE and --json-input; give only one input")
    if arguments.output_file is None:
        raise UsageError("--in FILE needs --out FILE (- for stdout)")
    if arguments.json and arguments.output_file == files.STANDARD_STREAM:
        raise UsageError("--json prints a summary to stdout, so it needs --out FILE, not -")
    with open_client(arguments) as client:
        result = operation(client, arguments.input_file, arguments.output_file)
    if arguments.json:
        print_json(result.to_json(), compact=True)
    elif arguments.output_file != files.STANDARD_STREAM:
        note(f"{verb} {result.source} -> {result.destination} ({result.bytes_written} bytes)")
    return 0

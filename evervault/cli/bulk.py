"""``evervault bulk``: encrypt or decrypt columns of CSV, JSONL and Parquet files.

    evervault bulk encrypt --in FILE --out FILE --columns a,b[,c] [--role R] [--workers N]
    evervault bulk decrypt --in FILE --out FILE --columns a,b[,c] [--concurrency N]

Columns are CSV header names, JSON paths for JSONL (``user.card``) and column names or
struct paths for Parquet. Encryption fetches the app's public keys once and encrypts on
all cores in worker processes that receive only those public keys. Both commands resume
an interrupted run when started again with the same arguments. A progress bar (rows,
rows/s, ETA) is drawn on stderr when it is a terminal; otherwise nothing is printed on
success. Exit status: 0 ok, 1 failure, 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from evervault.cli import UsageError
from evervault.domain.curves import Curve
from evervault.domain.errors import EvervaultError, InvalidArgumentError, InvalidRoleError
from evervault.domain.metadata import validate_role

APP_ID_VARIABLE = "EV_APP_ID"
API_KEY_VARIABLE = "EV_API_KEY"


def register(commands: Any) -> None:
    """Add the ``bulk`` group to the top-level subparsers."""
    bulk = commands.add_parser("bulk", help="encrypt/decrypt columns of CSV, JSONL and Parquet files")
    actions = bulk.add_subparsers(dest="bulk_command", required=True, metavar="ACTION")
    encrypt = actions.add_parser("encrypt", help="encrypt columns on all cores (resumable)")
    _add_file_options(encrypt)
    encrypt.add_argument("--role", help="data role attached to every encrypted value")
    encrypt.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    encrypt.add_argument(
        "--curve", choices=["secp256k1", "p256"], default="secp256k1", help="encryption curve"
    )
    encrypt.set_defaults(handler=run_encrypt)
    decrypt = actions.add_parser("decrypt", help="decrypt columns through the API (resumable)")
    _add_file_options(decrypt)
    decrypt.add_argument("--concurrency", type=int, default=4, help="API requests in flight (default 4)")
    decrypt.set_defaults(handler=run_decrypt)


def _add_file_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--in", dest="input", required=True, metavar="FILE", help="input file")
    parser.add_argument("--out", dest="output", required=True, metavar="FILE", help="output file")
    parser.add_argument("--columns", required=True, help="comma-separated column names or JSON paths")
    parser.add_argument("--format", choices=["csv", "jsonl", "parquet"], help="default: from the extension")
    parser.add_argument(
        "--chunk-rows", type=int, default=None, help="rows per resumable chunk (default: ~4 MiB of input)"
    )
    parser.add_argument("--app-id", help=f"the app's ID (default: ${APP_ID_VARIABLE})")
    parser.add_argument("--api-key", help=f"avoid: visible in `ps`; export {API_KEY_VARIABLE} instead")


def _bulk_module() -> Any:
    try:
        import evervault.bulk
    except ImportError as exc:
        raise UsageError(
            f"evervault bulk needs the bulk extra ({exc.name} is missing): pip install 'evervault-sdk[bulk]'"
        ) from None
    return evervault.bulk


def run_encrypt(arguments: argparse.Namespace) -> int:
    bulk = _bulk_module()

    role = _role(arguments.role)
    if arguments.workers is not None and arguments.workers < 1:
        raise UsageError("--workers must be at least 1")
    curve = Curve.P256 if arguments.curve == "p256" else Curve.SECP256K1
    try:
        with _client(arguments, curve) as client:
            spec = bulk.KeySpec.from_client(client, role)  # the only API call: public keys
        result = bulk.encrypt_file(
            arguments.input,
            arguments.output,
            arguments.columns,
            spec,
            workers=arguments.workers,
            progress=True,
            notice=_notice,
            **_chunking(arguments),
        )
    except (InvalidArgumentError, InvalidRoleError) as exc:
        raise UsageError(str(exc)) from None
    except (EvervaultError, OSError) as exc:
        return _failed(exc)
    _summary("encrypted", result.rows, result.resumed_chunks)
    return 0


def run_decrypt(arguments: argparse.Namespace) -> int:
    bulk = _bulk_module()

    if arguments.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    try:
        with _client(arguments, Curve.SECP256K1) as client:
            result = bulk.decrypt_file(
                arguments.input,
                arguments.output,
                arguments.columns,
                client.decrypt,
                app_id=client.app_id,
                concurrency=arguments.concurrency,
                progress=True,
                notice=_notice,
                **_chunking(arguments),
            )
    except InvalidArgumentError as exc:
        raise UsageError(str(exc)) from None
    except (EvervaultError, OSError) as exc:
        return _failed(exc)
    _summary("decrypted", result.rows, result.resumed_chunks)
    return 0


def _client(arguments: argparse.Namespace, curve: Curve) -> Any:
    from evervault.bootstrap.clients import Client

    app_id = arguments.app_id or os.environ.get(APP_ID_VARIABLE, "")
    api_key = arguments.api_key or os.environ.get(API_KEY_VARIABLE, "")
    if not app_id.strip():
        raise UsageError(f"no app ID: export {APP_ID_VARIABLE}=<app id> (or pass --app-id)")
    if not api_key.strip():
        raise UsageError(f"no API key: export {API_KEY_VARIABLE}=<api key>")
    try:
        return Client(app_id, api_key, retry=True, curve=curve)
    except EvervaultError as exc:
        raise UsageError(str(exc)) from None


def _role(role: str | None) -> str | None:
    if role is None:
        return None
    try:
        return validate_role(role)
    except InvalidRoleError as exc:
        raise UsageError(str(exc)) from None


def _chunking(arguments: argparse.Namespace) -> dict[str, Any]:
    rows = arguments.chunk_rows
    if rows is None:
        return {"file_format": arguments.format}
    if rows < 1:
        raise UsageError("--chunk-rows must be at least 1")
    return {"file_format": arguments.format, "chunk_rows": rows}


def _failed(exc: EvervaultError | OSError) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 1


def _notice(message: str) -> None:
    if sys.stderr.isatty():
        print(f"note: {message}", file=sys.stderr)


def _summary(action: str, rows: int, resumed_chunks: int) -> None:
    if sys.stderr.isatty():
        resumed = f" ({resumed_chunks} chunk(s) from the earlier run)" if resumed_chunks else ""
        print(f"{action} {rows} rows{resumed}", file=sys.stderr)

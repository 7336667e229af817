"""``evervault-local``: run the local Evervault emulator (``serve``) or the README flow (``demo``).

``serve`` prints exactly one JSON line on stdout, then serves until SIGINT/SIGTERM::

    {"api_url": "http://127.0.0.1:PORT/", "app_id": "app_...", "api_key": "ev:key:...",
     "ca_url": "http://127.0.0.1:PORT/ca.crt", "data_dir": "...", "run_url": "...", "functions": [...]}

Use ``api_url`` as ``EV_API_URL`` and ``ca_url`` as ``EV_CERT_HOSTNAME``. The data
directory holds the app's private keys: keep it to keep old ciphertexts decryptable;
losing it is the only way to lose them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence

from evervault.domain.attestation.hosts import ENCLAVES_HOST, GA_CAGES_HOST, SEED_CAGES_HOST
from evervault.domain.errors import EvervaultError
from evervault.local.functions import DEFAULT_TIMEOUT_SECONDS, load_functions_file, parse_function_option
from evervault.local.runner import DEFAULT_HOST, EmulatorOptions, start_emulator
from evervault.local.server import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_POLL_INTERVAL_SECONDS,
)

EXIT_USAGE = 2
MAX_PORT = 65535


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=arguments.log_level.upper(), format="evervault-local: %(levelname)s %(message)s"
    )
    try:
        if arguments.command == "serve":
            return asyncio.run(serve(serve_options(arguments)))
        from evervault.local.demo import run_demo

        return run_demo()
    except EvervaultError as error:
        print(f"evervault-local: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evervault-local",
        description="A local Evervault API emulator for offline development and tests.",
    )
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="serve the emulated API until SIGINT/SIGTERM")
    _add_serve_arguments(serve_parser)
    commands.add_parser("demo", help="start an emulator and run the README flow against it with this SDK")
    return parser


def _add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument(
        "--data-dir",
        help="state directory (app id, API keys, private keys); default: a new temporary directory. "
        "Losing it loses the keys and every ciphertext encrypted with them.",
    )
    parser.add_argument(
        "--function",
        action="append",
        default=[],
        metavar="NAME=MODULE:CALLABLE",
        help="register a Function (repeatable); saved in the data directory",
    )
    parser.add_argument(
        "--functions-file", help='JSON file {"functions": {"name": {"target": ..., "timeoutSeconds": ...}}}'
    )
    parser.add_argument(
        "--function-timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        help=f"seconds a Function run may take (default {DEFAULT_TIMEOUT_SECONDS:g})",
    )
    parser.add_argument(
        "--no-sample-functions", action="store_true", help="do not register the samples hello/fail/sleep"
    )
    parser.add_argument(
        "--unsafe-echo-function",
        action="store_true",
        help="also register the sample Function 'echo', which returns its DECRYPTED input: any key "
        "that may run Functions or mint run tokens can then read any ciphertext's plaintext "
        "(tests only)",
    )
    parser.add_argument(
        "--relay-destination",
        action="append",
        default=None,
        metavar="HOST",
        help="an Outbound Relay destination (repeatable); replaces the saved list",
    )
    parser.add_argument(
        "--relay-poll-interval",
        type=float,
        default=DEFAULT_POLL_INTERVAL_SECONDS,
        help="X-Poll-Interval seconds sent with the relay configuration",
    )
    parser.add_argument("--no-relay", action="store_true", help="do not start the Outbound Relay proxy")
    parser.add_argument(
        "--relay-allow-any-destination",
        action="store_true",
        help="let the relay proxy tunnel (untouched) to hosts that are not relay destinations; "
        "default: 403. Metadata, link-local and the emulator's own addresses stay refused",
    )
    parser.add_argument(
        "--relay-upstream-ca",
        "--upstream-ca",  # the spelling of the issue that specified the option
        dest="relay_upstream_ca",
        metavar="PEM_FILE",
        help="extra CA bundle the relay proxy trusts for destinations (e.g. a test server's CA)",
    )
    parser.add_argument(
        "--enclave",
        metavar="NAME",
        help="also run an enclave simulator named NAME for this app (test PKI; printed as enclave_url)",
    )
    parser.add_argument(
        "--enclave-host-suffix",
        default=SEED_CAGES_HOST,
        choices=[SEED_CAGES_HOST, GA_CAGES_HOST, ENCLAVES_HOST],
        help=f"host suffix of the simulated enclave (default {SEED_CAGES_HOST})",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help=f"largest request body accepted, else 413 (default {DEFAULT_MAX_BODY_BYTES})",
    )
    parser.add_argument(
        "--max-file-bytes",
        type=int,
        default=DEFAULT_MAX_FILE_BYTES,
        help="largest %%EVENC file accepted by POST /decrypt, spooled to disk, else 413 "
        f"(default {DEFAULT_MAX_FILE_BYTES})",
    )


def serve_options(arguments: argparse.Namespace) -> EmulatorOptions:
    # Function targets name the user's modules: import them from the current directory
    # too, as `python -m` would (a console script's sys.path does not include it).
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    functions = [parse_function_option(spec) for spec in arguments.function]
    if arguments.functions_file:
        functions = [*load_functions_file(arguments.functions_file), *functions]
    relay = arguments.relay_destination
    if not 0 <= arguments.port <= MAX_PORT:
        raise EvervaultError(f"--port must be 0 (any free port) to {MAX_PORT}, got {arguments.port}.")
    return EmulatorOptions(
        host=arguments.host,
        port=arguments.port,
        data_dir=arguments.data_dir,
        functions=tuple(functions),
        function_timeout=_positive("--function-timeout", arguments.function_timeout),
        sample_functions=not arguments.no_sample_functions,
        unsafe_echo_function=arguments.unsafe_echo_function,
        relay_destinations=None if relay is None else tuple(relay),
        max_body_bytes=int(_positive("--max-body-bytes", arguments.max_body_bytes)),
        max_file_bytes=int(_positive("--max-file-bytes", arguments.max_file_bytes)),
        relay_poll_interval=_positive("--relay-poll-interval", arguments.relay_poll_interval),
        relay_proxy=not arguments.no_relay,
        relay_upstream_ca_file=arguments.relay_upstream_ca,
        relay_allow_any_destination=arguments.relay_allow_any_destination,
        enclave_name=arguments.enclave,
        enclave_host_suffix=arguments.enclave_host_suffix,
    )


def _positive(option: str, value: float) -> float:
    if not value > 0:
        raise EvervaultError(f"{option} must be greater than 0, got {value}.")
    return value


async def serve(options: EmulatorOptions) -> int:
    """Serve until SIGINT or SIGTERM; print the JSON line once listening."""
    running = await start_emulator(options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(json.dumps(running.info.to_json()), flush=True)
    try:
        await stop.wait()
    finally:
        await running.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

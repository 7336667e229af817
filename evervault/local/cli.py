"""``evervault-local``: run the local Evervault emulator (``serve``) or the README flow (``demo``).

``serve`` listens on 127.0.0.1:7710 (``--port 0``: a free port; the relay proxy takes the
next port, ``--relay-port``), prints exactly one JSON line on stdout, then serves until
SIGINT/SIGTERM::

    {"api_url": "http://127.0.0.1:7710/", "app_id": "app_...", "api_key": "ev:key:...",
     "ca_url": "http://127.0.0.1:7710/ca.crt", "data_dir": "...", "run_url": "...", "functions": [...]}

``--print env`` prints one shell line instead (``export EV_API_URL=... EV_APP_ID=...``).
Use ``api_url`` as ``EV_API_URL`` and ``ca_url`` as ``EV_CERT_HOSTNAME``. The data
directory holds the app's private keys: keep it to keep old ciphertexts decryptable;
losing it is the only way to lose them. ``--log-level info`` logs one line per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shlex
import signal
import sys
from collections.abc import Sequence
from typing import Any

from evervault.domain.attestation.hosts import ENCLAVES_HOST, GA_CAGES_HOST, SEED_CAGES_HOST
from evervault.domain.errors import EvervaultError
from evervault.local.connection_limits import (
    DEFAULT_ACCEPT_ERROR_LOG_INTERVAL_SECONDS,
    DEFAULT_HEADER_TIMEOUT_SECONDS,
    DEFAULT_KEEPALIVE_TIMEOUT_SECONDS,
    DEFAULT_MAX_CONNECTIONS,
    ConnectionLimits,
)
from evervault.local.decrypt_pool import default_workers
from evervault.local.functions import DEFAULT_TIMEOUT_SECONDS, load_functions_file, parse_function_option
from evervault.local.pki import DEFAULT_LEAF_CACHE_SIZE
from evervault.local.relay_proxy import ProxyLimits
from evervault.local.runner import DEFAULT_HOST, DEFAULT_PORT, EmulatorInfo, EmulatorOptions, start_emulator
from evervault.local.server import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_POLL_INTERVAL_SECONDS,
)
from evervault.local.serving_file import read_serving_file, remove_serving_file, write_serving_file
from evervault.services.version import SDK_VERSION

EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left
MAX_PORT = 65535
PRINT_FORMATS = ("json", "env")
PORT_VARIABLE = "EVERVAULT_LOCAL_PORT"  # overrides the default port (e.g. 0 in CI jobs side by side)


def _default_port() -> int:
    value = os.environ.get(PORT_VARIABLE, "").strip()
    if not value:
        return DEFAULT_PORT
    if not value.isdigit() or int(value) > MAX_PORT:
        raise EvervaultError(f"{PORT_VARIABLE} must be a port number 0-{MAX_PORT}, got {value!r}.")
    return int(value)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=arguments.log_level.upper(), format="evervault-local: %(levelname)s %(message)s"
    )
    try:
        if arguments.command == "serve":
            return asyncio.run(serve(serve_options(arguments), print_format=arguments.print_format))
        if arguments.command == "env":
            return print_settings(arguments.data_dir, arguments.wait, arguments.print_format)
        if arguments.command == "conformance":
            from evervault.local.conformance import cli as conformance_cli

            return conformance_cli.run(arguments)
        from evervault.local.demo import run_demo

        return run_demo()
    except EvervaultError as error:
        print(f"evervault-local: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        # The reader went away (`evervault-local demo | head -3`): stop quietly. Later writes
        # (the interpreter's final flush included) go to /dev/null instead of raising again.
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evervault-local",
        description="A local Evervault API emulator for offline development and tests.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {SDK_VERSION}")
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="info: also one access-log line per request on stderr (default warning)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="serve the emulated API until SIGINT/SIGTERM")
    _add_serve_arguments(serve_parser)
    commands.add_parser("demo", help="start an emulator and run the README flow against it with this SDK")
    env_parser = commands.add_parser(
        "env", help="print the settings of the emulator serving --data-dir (for eval in a shell)"
    )
    env_parser.add_argument("--data-dir", required=True, help="the --data-dir the emulator serves")
    env_parser.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS", help="wait this long for it to start"
    )
    env_parser.add_argument("--print", dest="print_format", choices=PRINT_FORMATS, default="env")
    from evervault.local.conformance.cli import add_parser as add_conformance_parser

    add_conformance_parser(commands)
    return parser


def _add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port of the API (default {DEFAULT_PORT}, or ${PORT_VARIABLE}); 0 picks a free one",
    )
    parser.add_argument(
        "--relay-port",
        type=int,
        default=None,
        help="port of the Outbound Relay proxy (default: --port + 1, or a free one with --port 0)",
    )
    parser.add_argument(
        "--print",
        dest="print_format",
        choices=PRINT_FORMATS,
        default="json",
        help="what to print once listening: one JSON line (default) or one shell 'export' line",
    )
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
        "--upstream-ca",  # a shorter alias, kept for scripts that already use it
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
    _add_limit_arguments(parser)


def _add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    limits = parser.add_argument_group("limits", "resource limits (see the README's Limits table)")
    limits.add_argument(
        "--header-timeout",
        type=float,
        default=DEFAULT_HEADER_TIMEOUT_SECONDS,
        help="seconds a new connection has to send its request line and headers "
        f"(default {DEFAULT_HEADER_TIMEOUT_SECONDS:g})",
    )
    limits.add_argument(
        "--keepalive-timeout",
        type=float,
        default=DEFAULT_KEEPALIVE_TIMEOUT_SECONDS,
        help="seconds an idle kept-alive connection stays open "
        f"(default {DEFAULT_KEEPALIVE_TIMEOUT_SECONDS:g})",
    )
    limits.add_argument(
        "--max-connections",
        type=int,
        default=DEFAULT_MAX_CONNECTIONS,
        help="open API connections; beyond it a client gets 503 at once (default "
        f"{DEFAULT_MAX_CONNECTIONS}, at most half the open-file limit)",
    )
    limits.add_argument(
        "--accept-error-log-interval",
        type=float,
        default=DEFAULT_ACCEPT_ERROR_LOG_INTERVAL_SECONDS,
        help="failed accept() calls (e.g. out of file descriptors) are logged once per this many "
        f"seconds, with a count (default {DEFAULT_ACCEPT_ERROR_LOG_INTERVAL_SECONDS:g})",
    )
    limits.add_argument(
        "--decrypt-workers",
        type=int,
        default=None,
        help="processes that decrypt large documents off the event loop; 0 decrypts everything "
        f"inline (default: one per CPU, here {default_workers()})",
    )
    relay = ProxyLimits()
    limits.add_argument(
        "--relay-auth-timeout",
        type=float,
        default=relay.auth_timeout,
        help="seconds a relay client has to send an authenticated CONNECT, TLS handshake included "
        f"(default {relay.auth_timeout:g})",
    )
    limits.add_argument(
        "--relay-max-pending",
        type=int,
        default=relay.max_pending,
        help="relay clients not yet authenticated; beyond it the oldest is dropped "
        f"(default {relay.max_pending})",
    )
    limits.add_argument(
        "--relay-max-connections",
        type=int,
        default=relay.max_connections,
        help=f"authenticated relay tunnels; beyond it 503 (default {relay.max_connections})",
    )
    limits.add_argument(
        "--relay-idle-timeout",
        type=float,
        default=relay.idle_timeout,
        help=f"seconds a relay tunnel may stay silent (default {relay.idle_timeout:g})",
    )
    limits.add_argument(
        "--relay-leaf-cache-size",
        type=int,
        default=DEFAULT_LEAF_CACHE_SIZE,
        help="leaf certificates the relay keeps in memory, least recently used evicted "
        f"(default {DEFAULT_LEAF_CACHE_SIZE})",
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
    if arguments.port is None:
        arguments.port = _default_port()
    if not 0 <= arguments.port <= MAX_PORT:
        raise EvervaultError(f"--port must be 0 (any free port) to {MAX_PORT}, got {arguments.port}.")
    relay_port = arguments.relay_port
    if relay_port is None:
        relay_port = arguments.port + 1 if 0 < arguments.port < MAX_PORT else 0
    if not 0 <= relay_port <= MAX_PORT:
        raise EvervaultError(f"--relay-port must be 0 (any free port) to {MAX_PORT}, got {relay_port}.")
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
        relay_port=relay_port,
        relay_upstream_ca_file=arguments.relay_upstream_ca,
        relay_allow_any_destination=arguments.relay_allow_any_destination,
        enclave_name=arguments.enclave,
        enclave_host_suffix=arguments.enclave_host_suffix,
        connection_limits=ConnectionLimits(
            header_timeout=_positive("--header-timeout", arguments.header_timeout),
            keepalive_timeout=_positive("--keepalive-timeout", arguments.keepalive_timeout),
            max_connections=int(_positive("--max-connections", arguments.max_connections)),
            accept_error_log_interval=_positive(
                "--accept-error-log-interval", arguments.accept_error_log_interval
            ),
        ),
        relay_limits=ProxyLimits(
            auth_timeout=_positive("--relay-auth-timeout", arguments.relay_auth_timeout),
            max_pending=int(_positive("--relay-max-pending", arguments.relay_max_pending)),
            max_connections=int(_positive("--relay-max-connections", arguments.relay_max_connections)),
            idle_timeout=_positive("--relay-idle-timeout", arguments.relay_idle_timeout),
        ),
        relay_leaf_cache_size=int(_positive("--relay-leaf-cache-size", arguments.relay_leaf_cache_size)),
        decrypt_workers=_workers(arguments.decrypt_workers),
    )


def _workers(value: int | None) -> int | None:
    if value is not None and value < 0:
        raise EvervaultError(f"--decrypt-workers must be 0 (inline) or more, got {value}.")
    return value


def _positive(option: str, value: float) -> float:
    if not value > 0:
        raise EvervaultError(f"{option} must be greater than 0, got {value}.")
    return value


async def serve(options: EmulatorOptions, print_format: str = "json") -> int:
    """Serve until SIGINT or SIGTERM; print the JSON (or ``export``) line once listening."""
    running = await start_emulator(options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    data_dir = running.info.data_dir
    try:
        write_serving_file(data_dir, running.info.to_json())
        print(startup_line(running.info, print_format), flush=True)
        await stop.wait()
    finally:
        remove_serving_file(data_dir)
        await running.stop()
    return 0


def print_settings(data_dir: str, wait_seconds: float, print_format: str) -> int:
    """``evervault-local env``: the running emulator's line, as ``serve`` printed it."""
    settings = read_serving_file(data_dir, wait_seconds)
    settings.pop("pid", None)
    print(startup_line(EmulatorInfo.from_json(settings), print_format), flush=True)
    return 0


def startup_line(info: EmulatorInfo, print_format: str) -> str:
    """The line ``serve`` prints: JSON, or ``export NAME=value ...`` for a POSIX shell."""
    if print_format == "env":
        return "export " + " ".join(f"{name}={shlex.quote(value)}" for name, value in shell_variables(info))
    return json.dumps(info.to_json())


def shell_variables(info: EmulatorInfo) -> list[tuple[str, str]]:
    """``EV_*`` for SDKs (plus app id and key), and how to reach an ``--enclave`` simulator."""
    variables = [
        ("EV_API_URL", info.api_url),
        ("EV_APP_ID", info.app_id),
        ("EV_API_KEY", info.api_key),
        ("EV_CERT_HOSTNAME", info.ca_url),
    ]
    if info.relay_url is not None:
        variables.append(("EV_TUNNEL_HOSTNAME", info.relay_url))
    if info.enclave is not None:
        variables.extend(_enclave_variables(info.enclave))
    return variables


def _enclave_variables(enclave: dict[str, Any]) -> list[tuple[str, str]]:
    prefix = "EVERVAULT_LOCAL_ENCLAVE_"
    return [
        (prefix + "URL", str(enclave["url"])),
        (prefix + "ADDRESS", str(enclave["address"])),
        (prefix + "CA_BUNDLE", str(enclave["ca_bundle"])),
        (prefix + "TRUST_ROOT", str(enclave["trust_root"])),
        (prefix + "PCRS", json.dumps(enclave["expected_pcrs"])),
    ]


if __name__ == "__main__":
    raise SystemExit(main())

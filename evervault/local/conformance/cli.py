"""``evervault-local conformance --sdk CMD``: run the conformance suite against an SDK's adapter.

Prints a table of checks (pass / fail / finding per curve) or, with ``--json``, one JSON
document; exits 1 if any check failed (findings alone do not fail the run).
"""

from __future__ import annotations

import argparse
import json
import sys

from evervault.domain.errors import EvervaultError
from evervault.local.conformance.process import DEFAULT_TIMEOUT_SECONDS
from evervault.local.conformance.session import CURVE_NAMES, SuiteOptions, run_suite

EXIT_FAILED = 1


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "conformance",
        help="run the conformance suite against another SDK through its adapter (see conformance/README.md)",
    )
    parser.add_argument(
        "--sdk", required=True, metavar="CMD", help='the adapter command, e.g. "node adapter.js"'
    )
    parser.add_argument("--curve", choices=[*CURVE_NAMES, "both"], default="both", help="curves to test")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document (for CI) instead of a table"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        help=f"seconds to wait for each adapter answer (default {DEFAULT_TIMEOUT_SECONDS:g})",
    )
    parser.add_argument(
        "--rotation-wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="also probe concurrent encrypts after waiting SECONDS for the SDK's key to rotate "
        "(e.g. 17 for SDKs with a 15-s key window; default 0: skip this slow probe)",
    )


def run(arguments: argparse.Namespace) -> int:
    if not arguments.timeout > 0:
        raise EvervaultError(f"--timeout must be greater than 0, got {arguments.timeout}.")
    if arguments.rotation_wait < 0:
        raise EvervaultError(f"--rotation-wait must be 0 (skip) or more, got {arguments.rotation_wait}.")
    curves = tuple(CURVE_NAMES) if arguments.curve == "both" else (arguments.curve,)
    options = SuiteOptions(
        command=arguments.sdk,
        curves=curves,
        timeout_seconds=arguments.timeout,
        rotation_wait_seconds=arguments.rotation_wait,
    )
    report = run_suite(options)
    if arguments.json:
        json.dump(report.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(report.render())
    return EXIT_FAILED if report.failed else 0

"""Run the conformance suite against each shipped adapter and print their tables.

    make conformance            # or: .venv/bin/python scripts/conformance.py [--json]

Prepares what each adapter needs (the published SDK's ``.interop-venv``, ``npm ci`` for the
Node adapter), then runs ``evervault-local conformance`` for this SDK, the published Python
SDK and the Node SDK. An adapter whose runtime or registry is missing is reported as
skipped with the reason. Exit status 1 if any check failed (findings do not fail).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evervault.local.conformance.session import SuiteOptions, run_suite
from tests.support.conformance_adapters import (
    AdapterUnavailableError,
    node_command,
    published_python_command,
    this_sdk_command,
)

SHIPPED: list[tuple[str, Callable[[], str]]] = [
    ("this SDK (python)", this_sdk_command),
    ("published Python SDK", published_python_command),
    ("Node SDK", node_command),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document with every report")
    arguments = parser.parse_args()
    failed = False
    documents = []
    for name, command_for in SHIPPED:
        try:
            command = command_for()
        except AdapterUnavailableError as error:
            print(f"### {name}: skipped\n\n{error}\n", file=sys.stderr if arguments.json else sys.stdout)
            documents.append({"adapter": name, "skipped": str(error)})
            continue
        report = run_suite(SuiteOptions(command=command))
        failed = failed or report.failed
        if arguments.json:
            documents.append({"adapter": name, **report.to_json()})
        else:
            print(report.render() + "\n", flush=True)
    if arguments.json:
        json.dump(documents, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

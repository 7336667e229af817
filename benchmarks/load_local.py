"""Decrypt throughput of the local emulator with 1 and 16 concurrent clients (loopback only).

Starts ``python -m evervault.local serve`` in its own process (fresh temporary data
directory, no relay), encrypts a few sample documents with this SDK, then drives
``POST decrypt`` with :func:`evervault.local.loadgen.decrypt_load` and prints one line
per concurrency level: requests/second, correct/wrong/error/lost counts.

    python benchmarks/load_local.py [--requests 3000] [--concurrency 1 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from evervault.local.loadgen import LoadResult, decrypt_load, make_sample  # noqa: E402
from evervault.services.client import Client  # noqa: E402

DOCUMENT = {"name": "Ada Lovelace", "card": "4242424242424242", "cvv": 123, "amount": 19.99, "vip": True}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="evervault-load-") as data_dir:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "evervault.local",
                "serve",
                "--port",
                "0",
                "--data-dir",
                data_dir,
                "--no-relay",
            ],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            line = json.loads(server.stdout.readline() if server.stdout else "")
            results = asyncio.run(_measure(line, arguments.requests, arguments.concurrency))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    for result in results:
        print(result.summary())
    failed = any(r.wrong or r.errors or r.lost for r in results)
    return 1 if failed else 0


async def _measure(line: dict[str, str], requests: int, levels: list[int]) -> list[LoadResult]:
    with Client(line["app_id"], line["api_key"], base_url=line["api_url"]) as client:
        samples = [make_sample(client.encrypt({**DOCUMENT, "n": n}), {**DOCUMENT, "n": n}) for n in range(16)]
    results = []
    for concurrency in levels:
        # A short warm-up so connection set-up and first-use caches are not measured.
        await decrypt_load(
            line["api_url"],
            line["app_id"],
            line["api_key"],
            samples,
            total_requests=50,
            concurrency=concurrency,
        )
        results.append(
            await decrypt_load(
                line["api_url"],
                line["app_id"],
                line["api_key"],
                samples,
                total_requests=requests,
                concurrency=concurrency,
            )
        )
    return results


if __name__ == "__main__":
    raise SystemExit(main())

"""Decrypt throughput of the local emulator: one decryption worker against the pool (loopback only).

Starts ``python -m evervault.local serve`` in its own process, once with
``--decrypt-workers 1`` (the anchor) and once with the default pool (one worker per
CPU), over the same data directory. 16 concurrent clients decrypt documents whose
values were each encrypted by a different session (a distinct ephemeral key per
value, so every value costs a key derivation; no document is sent twice, so no
worker's derived-key cache helps). Meanwhile ``/_local/health`` is polled every
10 ms. Prints one table with requests/s, health p99, the ratio and the targets::

    python benchmarks/load_local.py [--requests 240] [--values 16] [--concurrency 16]

The machine may be shared: only the ratio measured in one run carries over.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from evervault.adapters.system import default_encryptor  # noqa: E402
from evervault.domain.curves import Curve, compressed_point  # noqa: E402
from evervault.local.decrypt_pool import default_workers  # noqa: E402
from evervault.local.loadgen import LoadResult, Sample, decrypt_load, make_sample  # noqa: E402
from evervault.local.state import LocalState  # noqa: E402

WARM_UP_REQUESTS = 32
HEALTH_INTERVAL_SECONDS = 0.01
TARGET_RATIO = 1.6
TARGET_HEALTH_P99_MS = 100.0


@dataclass(frozen=True)
class Run:
    label: str
    load: LoadResult
    health_p99_ms: float
    health_polls: int
    cores_used: float = float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=240, help="measured requests per configuration")
    parser.add_argument("--values", type=int, default=16, help="values (distinct keys) per document")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON (for make bench)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="evervault-load-") as data_dir:
        count = WARM_UP_REQUESTS + arguments.requests
        print(f"encrypting {count} documents of {arguments.values} values, one session each ...", flush=True)
        samples = _samples(LocalState.load_or_create(data_dir), count, arguments.values)
        warm_up, measured = samples[:WARM_UP_REQUESTS], samples[WARM_UP_REQUESTS:]
        runs = [
            _run(data_dir, "1 worker (anchor)", ["--decrypt-workers", "1"], warm_up, measured, arguments),
            _run(data_dir, f"pool ({default_workers()} workers)", [], warm_up, measured, arguments),
        ]
    _print_table(runs, arguments)
    if arguments.json:
        Path(arguments.json).write_text(json.dumps([_figures(run) for run in runs], indent=2) + "\n")
    failed = any(run.load.wrong or run.load.errors or run.load.lost for run in runs)
    return 1 if failed else 0


def _figures(run: Run) -> dict[str, object]:
    load = run.load
    return {
        "label": run.label,
        "requests_per_second": load.requests_per_second,
        "health_p99_ms": run.health_p99_ms,
        "health_polls": run.health_polls,
        "cores_used": run.cores_used,
        "sent": load.sent,
        "correct": load.responses,
        "wrong": load.wrong,
        "errors": load.errors,
    }


def _samples(state: LocalState, count: int, values: int) -> list[Sample]:
    """Documents of ``values`` values, every value from its own session (a distinct ephemeral key)."""
    # P-256: secp256k1 derivations cost the emulator more, but make this set-up several times longer.
    public = compressed_point(state.private_keys[Curve.P256].public_key())
    encryptor = default_encryptor(Curve.P256, public, rotation_seconds=0)
    samples = []
    for n in range(count):
        plain = {f"field{i}": f"value {n}-{i}" for i in range(values)}
        encrypted = {key: encryptor.encrypt(value) for key, value in plain.items()}
        samples.append(make_sample(encrypted, plain))
    return samples


def _run(
    data_dir: str,
    label: str,
    options: list[str],
    warm_up: list[Sample],
    measured: list[Sample],
    arguments: argparse.Namespace,
) -> Run:
    command = [
        sys.executable,
        "-m",
        "evervault.local",
        "serve",
        "--port",
        "0",
        "--data-dir",
        data_dir,
        "--no-relay",
        *options,
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    # CPU time of the emulator and its workers (reaped children count once they exit):
    # on a shared machine it shows whether the pool got a second core at all.
    cpu_before, started = _children_cpu_seconds(), time.perf_counter()
    server = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = json.loads(server.stdout.readline() if server.stdout else "")
        run = asyncio.run(_measure(label, line, warm_up, measured, arguments))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    cores = (_children_cpu_seconds() - cpu_before) / (time.perf_counter() - started)
    return dataclasses.replace(run, cores_used=cores)


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _measure(
    label: str,
    line: dict[str, str],
    warm_up: list[Sample],
    measured: list[Sample],
    arguments: argparse.Namespace,
) -> Run:
    credentials = (line["api_url"], line["app_id"], line["api_key"])
    # The warm-up starts the worker processes; its documents are not reused.
    await decrypt_load(*credentials, warm_up, total_requests=len(warm_up), concurrency=arguments.concurrency)
    stop = asyncio.Event()
    poller = asyncio.create_task(_poll_health(line["api_url"] + "_local/health", stop))
    requests = min(arguments.requests, len(measured))
    load = await decrypt_load(
        *credentials, measured, total_requests=requests, concurrency=arguments.concurrency
    )
    stop.set()
    latencies = await poller
    latencies.sort()
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000 if latencies else float("nan")
    return Run(label, load, p99, len(latencies))


async def _poll_health(url: str, stop: asyncio.Event) -> list[float]:
    latencies: list[float] = []
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            started = time.perf_counter()
            async with session.get(url) as response:
                await response.read()
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(HEALTH_INTERVAL_SECONDS)
    return latencies


def _print_table(runs: list[Run], arguments: argparse.Namespace) -> None:
    anchor, pool = runs
    ratio = pool.load.requests_per_second / anchor.load.requests_per_second
    print()
    print(
        f"emulator decrypt, {arguments.concurrency} clients, documents of {arguments.values} values "
        f"with distinct ephemeral keys (P-256), {os.cpu_count()} CPUs"
    )
    print(
        f"| {'configuration':<22} | {'decrypt req/s':>13} | {'health p99':>10} | {'polls':>5} "
        "| cores used | outcome |"
    )
    print(f"|{'-' * 24}|{'-' * 15}|{'-' * 12}|{'-' * 7}|------------|---------|")
    for run in runs:
        load = run.load
        outcome = f"{load.responses}/{load.sent} ok"
        print(
            f"| {run.label:<22} | {load.requests_per_second:>13.1f} | {run.health_p99_ms:>7.1f} ms "
            f"| {run.health_polls:>5} | {run.cores_used:>10.2f} | {outcome} |"
        )
    ratio_verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    worst_p99 = max(run.health_p99_ms for run in runs)
    p99_verdict = "met" if worst_p99 <= TARGET_HEALTH_P99_MS else "NOT met"
    print(f"pool / 1 worker: {ratio:.2f}x (target >= {TARGET_RATIO}x: {ratio_verdict})")
    print(f"health p99, worst run: {worst_p99:.1f} ms (target <= {TARGET_HEALTH_P99_MS:g} ms: {p99_verdict})")
    print(
        "cores used: CPU seconds of the emulator and its workers per wall-clock second (start-up "
        "included); below the CPU count, other processes had the rest of the machine."
    )


if __name__ == "__main__":
    raise SystemExit(main())

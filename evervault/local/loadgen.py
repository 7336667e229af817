"""A bounded, loopback-only decrypt load generator for the emulator.

``concurrency`` clients (coroutines sharing one connection pool of that size) send
``total_requests`` ``POST decrypt`` requests between them, each checking that the
answer is exactly the expected plaintext. Nothing is retried: every request is
counted once as a correct response, a wrong answer, or an error, so
``responses + wrong + errors == sent`` shows that no response was lost.
Used by ``benchmarks/load_local.py`` and the emulator's load test.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from evervault.domain.errors import ConfigurationError

MAX_REQUESTS = 1_000_000
MAX_CONCURRENCY = 256


@dataclass(frozen=True)
class Sample:
    """One request body (``{"data": encrypted}``) and the exact answer it must get."""

    body: bytes
    expected: Any


@dataclass(frozen=True)
class LoadResult:
    concurrency: int
    sent: int
    responses: int
    wrong: int
    errors: int
    seconds: float

    @property
    def requests_per_second(self) -> float:
        return self.responses / self.seconds if self.seconds > 0 else 0.0

    @property
    def lost(self) -> int:
        return self.sent - self.responses - self.wrong - self.errors

    def summary(self) -> str:
        return (
            f"{self.concurrency:>3} client(s): {self.requests_per_second:8.0f} decrypt req/s "
            f"({self.responses}/{self.sent} correct, {self.wrong} wrong, {self.errors} errors, "
            f"{self.lost} lost, {self.seconds:.2f} s)"
        )


def make_sample(encrypted: Any, expected: Any) -> Sample:
    return Sample(json.dumps({"data": encrypted}).encode("utf-8"), {"data": expected})


async def decrypt_load(
    api_url: str,
    app_id: str,
    api_key: str,
    samples: Sequence[Sample],
    *,
    total_requests: int,
    concurrency: int,
    request_timeout: float = 30.0,
) -> LoadResult:
    """Send ``total_requests`` decrypts with ``concurrency`` clients; count every outcome."""
    _check_bounds(api_url, samples, total_requests, concurrency)
    credentials = base64.b64encode(f"{app_id}:{api_key}".encode()).decode("ascii")
    headers = {"Authorization": f"Basic {credentials}", "Content-Type": "application/json"}
    counters = _Counters()
    next_index = iter(range(total_requests))
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=request_timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as session:

        async def client() -> None:
            for index in next_index:  # a shared iterator: each index is taken exactly once
                await _one_request(session, api_url + "decrypt", samples[index % len(samples)], counters)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return LoadResult(
        concurrency, counters.sent, counters.responses, counters.wrong, counters.errors, elapsed
    )


class _Counters:
    def __init__(self) -> None:
        self.sent = self.responses = self.wrong = self.errors = 0


async def _one_request(session: aiohttp.ClientSession, url: str, sample: Sample, counters: _Counters) -> None:
    counters.sent += 1
    try:
        async with session.post(url, data=sample.body) as response:
            body = await response.read()
            status = response.status
    except (aiohttp.ClientError, asyncio.TimeoutError):
        counters.errors += 1
        return
    if status == 200 and json.loads(body) == sample.expected:
        counters.responses += 1
    else:
        counters.wrong += 1


def _check_bounds(api_url: str, samples: Sequence[Sample], total_requests: int, concurrency: int) -> None:
    host = urlsplit(api_url).hostname or ""
    if not _is_loopback(host):
        raise ConfigurationError(f"The load generator only targets loopback addresses, not {host!r}.")
    if not samples:
        raise ConfigurationError("The load generator needs at least one sample.")
    if not 0 < total_requests <= MAX_REQUESTS or not 0 < concurrency <= MAX_CONCURRENCY:
        raise ConfigurationError(
            f"Load bounds: 1..{MAX_REQUESTS} requests and 1..{MAX_CONCURRENCY} clients "
            f"(got {total_requests} and {concurrency})."
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

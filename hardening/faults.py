"""The fault matrix: every client operation against every misbehaviour of the fault server.

For :class:`~evervault.Client` and :class:`~evervault.AsyncClient` and each operation
(decrypt, Function run, client-side decrypt token, run token, app-key fetch), one call
against one mode of :mod:`hardening.fault_server` must:

* end in an :class:`~evervault.errors.EvervaultError` (any other exception is a defect);
* end within its time budget: one request timeout per attempt plus the retry policy's
  total time, with slack for a loaded machine;
* leave no thread and no socket behind once the client is closed (``threading.enumerate``
  and the sockets in ``/proc/self/fd`` before and after);
* never repeat a POST that the server may have processed: the server counts what it read.
  Only 429, or 503 with ``Retry-After``, prove a POST was not processed.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evervault.bootstrap.clients import AsyncClient, Client
from evervault.domain.errors import EvervaultError
from evervault.services.retry import RetryPolicy
from hardening.fault_server import MODES

APP_ID = "app_fault0000000"
API_KEY = "ev:key:1:key_fault:Zm9v:fault-secret"
REFUSED = "refused"
ALL_MODES = (REFUSED, *MODES)
OPERATIONS = ("decrypt", "run", "client-side-token", "run-token", "key-fetch")
CLIENTS = ("Client", "AsyncClient")
POSTS = frozenset({"decrypt", "run", "client-side-token", "run-token"})
# The answers that prove a POST was refused before processing (see evervault/services/retry.py).
NOT_PROCESSED = frozenset({"429", "429-retry-after", "503-retry-after"})
SLACK_SECONDS = 5.0
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class FaultSettings:
    timeout: float = 0.5
    policy: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.2, max_total_time=2.0)
    )

    @property
    def budget(self) -> float:
        return (self.policy.max_retries + 1) * self.timeout + self.policy.max_total_time + SLACK_SECONDS


@dataclass
class FaultOutcome:
    client: str
    operation: str
    mode: str
    error: str = ""
    seconds: float = 0.0
    requests: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class FaultServerProcess:
    """The fault server in a child process, so it owns none of our threads or sockets."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "hardening.fault_server"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self._process.stdout is not None
        self.port = int(self._process.stdout.readline())
        self._cases = itertools.count()

    def prefix(self, mode: str) -> str:
        return f"{mode}-c{next(self._cases)}"

    def count(self, prefix: str) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", f"/_counts/{prefix}")
            count: int = json.loads(connection.getresponse().read())["count"]
            return count
        finally:
            connection.close()

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)
        if self._process.stdout is not None:
            self._process.stdout.close()


@contextlib.contextmanager
def fault_server() -> Iterator[FaultServerProcess]:
    server = FaultServerProcess()
    try:
        yield server
    finally:
        server.close()


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def open_sockets() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:"):
                found.add(f"{fd}:{target}")
    return found


def live_threads() -> set[threading.Thread]:
    return set(threading.enumerate())


SyncCall = Callable[[Client], object]
AsyncCall = Callable[[AsyncClient], Awaitable[object]]

SYNC_CALLS: dict[str, SyncCall] = {
    "decrypt": lambda client: client.decrypt({"card": "ev:not-really"}),
    "run": lambda client: client.run("fault-function", {"a": 1}),
    "client-side-token": lambda client: client.create_client_side_decrypt_token({"a": 1}),
    "run-token": lambda client: client.create_run_token("fault-function", {"a": 1}),
    "key-fetch": lambda client: client.encrypt("needs the app keys"),
}

ASYNC_CALLS: dict[str, AsyncCall] = {
    "decrypt": lambda client: client.decrypt({"card": "ev:not-really"}),
    "run": lambda client: client.run("fault-function", {"a": 1}),
    "client-side-token": lambda client: client.create_client_side_decrypt_token({"a": 1}),
    "run-token": lambda client: client.create_run_token("fault-function", {"a": 1}),
    "key-fetch": lambda client: client.encrypt("needs the app keys"),
}


def run_case(
    server: FaultServerProcess, client_kind: str, operation: str, mode: str, settings: FaultSettings
) -> FaultOutcome:
    outcome = FaultOutcome(client_kind, operation, mode)
    prefix = server.prefix(mode)
    port = closed_port() if mode == REFUSED else server.port
    options: dict[str, Any] = {
        "base_url": f"http://127.0.0.1:{port}/{prefix}/",
        "request_timeout": settings.timeout,
        "retry": settings.policy,
        "environ": {},
    }
    threads_before, sockets_before = live_threads(), open_sockets()
    started = time.monotonic()
    error: BaseException | None = None
    try:
        if client_kind == "Client":
            with Client(APP_ID, API_KEY, **options) as client:
                SYNC_CALLS[operation](client)
        else:
            asyncio.run(_async_case(operation, options))
    except BaseException as raised:  # judged below: only EvervaultError is a pass
        error = raised
    outcome.seconds = time.monotonic() - started
    outcome.error = type(error).__name__ if error is not None else "none"
    judge_error(outcome, error)
    if outcome.seconds > settings.budget:
        outcome.problems.append(f"took {outcome.seconds:.1f} s, budget {settings.budget:.1f} s")
    judge_leaks(outcome, threads_before, sockets_before)
    outcome.requests = 0 if mode == REFUSED else server.count(prefix)
    judge_requests(outcome, settings.policy.max_retries)
    return outcome


async def _async_case(operation: str, options: dict[str, Any]) -> None:
    async with AsyncClient(APP_ID, API_KEY, **options) as client:
        await ASYNC_CALLS[operation](client)


def judge_error(outcome: FaultOutcome, error: BaseException | None) -> None:
    if error is None:
        outcome.problems.append("the call succeeded against a misbehaving server")
    elif not isinstance(error, EvervaultError):
        outcome.problems.append(f"untyped error {type(error).__name__}: {str(error)[:120]}")


def judge_leaks(
    outcome: FaultOutcome, threads_before: set[threading.Thread], sockets_before: set[str]
) -> None:
    deadline = time.monotonic() + 2.0  # a thread that is finishing gets a moment to end
    while True:
        threads = {thread for thread in live_threads() - threads_before if thread.is_alive()}
        sockets = open_sockets() - sockets_before
        if (not threads and not sockets) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if threads:
        outcome.problems.append(f"threads left behind: {sorted(thread.name for thread in threads)}")
    if sockets:
        outcome.problems.append(f"{len(sockets)} socket(s) left open")


def judge_requests(outcome: FaultOutcome, max_retries: int) -> None:
    if outcome.mode == REFUSED:
        return
    allowed = max_retries + 1
    if outcome.client == "AsyncClient" and outcome.operation not in POSTS:
        # aiohttp re-sends an idempotent request once when the server drops the connection
        # before answering (RFC 9112 section 9.3.1); it never does so for a POST.
        allowed *= 2
    if outcome.operation in POSTS and outcome.mode not in NOT_PROCESSED:
        allowed = 1  # the server may have processed it: a repeat could run it twice
    if not 1 <= outcome.requests <= allowed:
        outcome.problems.append(f"the server received {outcome.requests} requests (allowed 1..{allowed})")


def run_matrix(
    settings: FaultSettings | None = None,
    modes: tuple[str, ...] = ALL_MODES,
    operations: tuple[str, ...] = OPERATIONS,
    clients: tuple[str, ...] = CLIENTS,
) -> list[FaultOutcome]:
    settings = settings or FaultSettings()
    with fault_server() as server:
        return [
            run_case(server, client_kind, operation, mode, settings)
            for client_kind in clients
            for operation in operations
            for mode in modes
        ]

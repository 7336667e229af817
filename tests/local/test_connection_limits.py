"""Connection limits of the emulator's API: header timeout, keep-alive timeout, connection cap.

Real emulators on 127.0.0.1 and raw sockets (a slow client is something no HTTP
library sends on purpose). Every wait is bounded by a generous socket timeout, never
asserted as a duration: the machine running the tests may be loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from evervault.local.connection_limits import (
    AcceptErrorFilter,
    AcceptErrorLog,
    ConnectionGate,
    ConnectionLimits,
    GuardedConnection,
    effective_max_connections,
)
from evervault.local.runner import BackgroundEmulator, EmulatorInfo, EmulatorOptions
from tests.local.serve_process import REPO_ROOT, child_env

GENEROUS = 30.0  # seconds a socket waits before the test fails instead of hanging
HEALTH = b"GET /_local/health HTTP/1.1\r\nHost: localhost\r\n\r\n"


@contextmanager
def emulator(**limits: float) -> Iterator[EmulatorInfo]:
    options = EmulatorOptions(
        relay_proxy=False,
        sample_functions=False,
        connection_limits=ConnectionLimits(**limits),  # type: ignore[arg-type]
    )
    with BackgroundEmulator(options) as info:
        yield info


def connect(info: EmulatorInfo) -> socket.socket:
    url = urlsplit(info.api_url)
    sock = socket.create_connection((url.hostname, url.port), timeout=GENEROUS)
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return status, headers, body


def wait_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (fails after GENEROUS s)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_half_a_request_line_is_closed_after_the_header_timeout() -> None:
    with emulator(header_timeout=0.5, keepalive_timeout=60.0) as info, connect(info) as slow:
        slow.sendall(b"GET /_local/he")
        # Closed by the header timeout, long before the keep-alive timeout (60 s) or ours (30 s).
        assert wait_closed(slow) == b""
        with connect(info) as prompt:  # the server itself is fine
            prompt.sendall(HEALTH)
            assert read_response(prompt)[0] == 200


def test_a_complete_head_cancels_the_header_deadline() -> None:
    with emulator(header_timeout=0.5, keepalive_timeout=60.0) as info, connect(info) as sock:
        sock.sendall(HEALTH)
        assert read_response(sock)[0] == 200
        # Past the header timeout the kept-alive connection still serves.
        sock.settimeout(1.5)
        with pytest.raises(TimeoutError):
            sock.recv(1)
        sock.settimeout(GENEROUS)
        sock.sendall(HEALTH)
        assert read_response(sock)[0] == 200


def test_a_partial_second_request_is_closed_by_the_keepalive_timeout() -> None:
    with emulator(header_timeout=60.0, keepalive_timeout=0.5) as info, connect(info) as sock:
        sock.sendall(HEALTH)
        assert read_response(sock)[0] == 200
        sock.sendall(b"GET /_local/health HTTP/1.1\r\nHost: loc")
        assert wait_closed(sock) == b""


def test_connections_beyond_the_cap_get_a_fast_503_while_health_answers() -> None:
    cap = 6
    with emulator(max_connections=cap, header_timeout=60.0) as info, ExitStack() as stack:
        keeper = stack.enter_context(connect(info))
        keeper.sendall(HEALTH)
        assert read_response(keeper)[0] == 200
        for _ in range(cap - 1):  # idle clients fill the remaining slots
            stack.enter_context(connect(info)).sendall(b"GET /")
        for _ in range(20):
            with connect(info) as refused:
                refused.settimeout(5.0)  # "fast": no hang until a timeout frees a slot
                refused.sendall(HEALTH)
                status, headers, body = read_response(refused)
                assert status == 503
                assert headers["content-type"] == "application/problem+json"
                assert headers["retry-after"] == "1"
                problem = json.loads(body)
                assert problem["status"] == 503 and problem["code"] == "service-unavailable"
                assert "--max-connections" in problem["detail"]
        keeper.sendall(HEALTH)  # the event loop never stalled: the admitted client is served
        status, _, body = read_response(keeper)
        assert status == 200 and json.loads(body)["status"] == "ok"


async def test_refusals_are_logged_once_per_interval_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    gate = ConnectionGate(
        web.Server(_never_called), ConnectionLimits(accept_error_log_interval=10.0), 0, clock
    )
    with caplog.at_level(logging.WARNING, logger="evervault.local"):
        for _ in range(20):
            assert not isinstance(gate(), GuardedConnection)  # refused: the cap is 0
        clock.now = 10.0
        gate()
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert "503 to 1 connection(s)" in lines[0] and "503 to 20 connection(s)" in lines[1]
    assert gate.refused == 21


async def _never_called(_request: web.BaseRequest) -> web.StreamResponse:
    raise AssertionError("no request reaches a refused connection")


def test_a_slot_is_free_again_once_its_connection_closes() -> None:
    with emulator(max_connections=1, header_timeout=60.0) as info:
        for _ in range(5):
            with connect(info) as sock:
                sock.sendall(HEALTH.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
                assert read_response(sock)[0] == 200
                assert wait_closed(sock) == b""


def test_the_cap_leaves_half_the_open_file_limit_for_everything_else() -> None:
    assert effective_max_connections(512, 1024) == 512
    assert effective_max_connections(512, 256) == 128
    assert effective_max_connections(512, None) == 512
    assert effective_max_connections(512, 1) == 1


# --- accept errors (EMFILE) ---------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_accept_errors_are_logged_once_per_interval_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    log = AcceptErrorLog(10.0, "Test server", clock)
    emfile = OSError(errno.EMFILE, "Too many open files")
    with caplog.at_level(logging.WARNING, logger="evervault.local"):
        for _ in range(10_000):
            log.record(emfile)
        clock.now = 5.0
        log.flush()  # the interval has not passed: nothing more yet
        assert len(caplog.records) == 1
        clock.now = 10.0
        log.flush()
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert "failed 1 time(s)" in lines[0] and "EMFILE" in lines[0]
    assert "failed 9999 time(s)" in lines[1]
    assert all(record.exc_info is None for record in caplog.records)  # no tracebacks
    assert log.total == 10_000


def test_the_loop_filter_rate_limits_resource_errors_and_passes_on_the_rest() -> None:
    loop = asyncio.new_event_loop()
    seen: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        accept_errors = AcceptErrorFilter(loop, 60.0)
        accept_errors.install()
        emfile = OSError(errno.EMFILE, "Too many open files")
        for _ in range(1000):
            context = {"message": "socket.accept() out of system resource", "exception": emfile}
            loop.call_exception_handler(context)
        loop.call_exception_handler({"message": "something else", "exception": ValueError("x")})
        assert accept_errors.log.total == 1000
        assert [context["message"] for context in seen] == ["something else"]
        accept_errors.uninstall()
        assert loop.get_exception_handler() is not accept_errors
    finally:
        loop.close()


def test_running_out_of_file_descriptors_logs_a_few_lines_not_a_traceback_flood(tmp_path: Path) -> None:
    limit = 128  # the emulator process's open-file limit; the flood is several times larger
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evervault.local",
            "serve",
            "--no-relay",
            "--no-sample-functions",
            "--data-dir",
            str(tmp_path / "d"),
            "--header-timeout",
            "30",
            "--accept-error-log-interval",
            "60",
        ],
        cwd=REPO_ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)),
    )
    try:
        line = json.loads(process.stdout.readline() if process.stdout else "")
        url = urlsplit(line["api_url"])
        address = (url.hostname, url.port)
        with ExitStack() as stack:
            for _ in range(4 * limit):
                sock = stack.enter_context(socket.socket())
                sock.settimeout(2.0)
                with contextlib.suppress(OSError):  # beyond the backlog, connects may time out
                    sock.connect(address)
            time.sleep(2.0)  # let the server fail a few accept() rounds
        # Every flood connection closed: the emulator serves again.
        for attempt in range(60):
            try:
                with socket.create_connection(address, timeout=GENEROUS) as sock:
                    sock.sendall(HEALTH)
                    status = read_response(sock)[0]
                break
            except (OSError, AssertionError):
                if attempt == 59:
                    raise
                time.sleep(0.5)
        assert status == 200
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=GENEROUS)
    failures = [text for text in stderr.splitlines() if "accept() failed" in text]
    assert 1 <= len(failures) <= 3, stderr[-2000:]
    assert "EMFILE" in failures[0]
    assert "Traceback" not in stderr
    assert "at most 64 connections" in stderr  # the cap was lowered to fit the file limit


# --- serve options --------------------------------------------------------------------------------


def test_serve_options_set_every_limit() -> None:
    from evervault.local.cli import build_parser, serve_options

    arguments = build_parser().parse_args(
        ["serve", "--header-timeout", "3", "--keepalive-timeout", "7", "--max-connections", "99",
         "--accept-error-log-interval", "30", "--decrypt-workers", "0", "--relay-auth-timeout", "2",
         "--relay-max-pending", "11", "--relay-max-connections", "12", "--relay-idle-timeout", "13",
         "--relay-leaf-cache-size", "14"]
    )  # fmt: skip
    options = serve_options(arguments)
    assert options.connection_limits == ConnectionLimits(3.0, 7.0, 99, 30.0)
    assert options.decrypt_workers == 0
    relay = options.relay_limits
    assert (relay.auth_timeout, relay.max_pending, relay.max_connections, relay.idle_timeout) == (
        2.0,
        11,
        12,
        13.0,
    )
    assert options.relay_leaf_cache_size == 14
    defaults = serve_options(build_parser().parse_args(["serve"]))
    assert defaults.connection_limits == ConnectionLimits()
    assert defaults.decrypt_workers is None  # one per CPU


@pytest.mark.parametrize(
    "option", ["--header-timeout=0", "--max-connections=0", "--decrypt-workers=-1", "--relay-auth-timeout=-1"]
)
def test_unusable_limits_are_usage_errors(option: str) -> None:
    from evervault.local.cli import main

    assert main(["serve", "--no-relay", option]) == 2

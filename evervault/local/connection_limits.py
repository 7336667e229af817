"""Connection limits of the emulator's HTTP API: what aiohttp does not bound by itself.

* **Header timeout.** aiohttp waits for a request head as long as its keep-alive timeout
  allows; a client sending half a request line would hold its connection (and a file
  descriptor) that long. :class:`GuardedConnection` wraps aiohttp's own protocol object
  and closes the connection unless the first request's line and headers arrive within
  ``header_timeout`` seconds. Later requests on a kept-alive connection are bounded by
  aiohttp's keep-alive timeout, which also closes a connection holding a partial head.
* **Connection cap.** Beyond ``max_connections`` open connections a new client gets an
  immediate ``503`` Problem JSON (``Retry-After: 1``) and is closed: a fast answer, never
  a hang in the accept backlog.
* **Accept errors.** When the process runs out of file descriptors, asyncio logs every
  failed ``accept()`` with a traceback (hundreds of thousands of lines under a flood).
  :class:`AcceptErrorLog` replaces that with one line per interval carrying a count.

:class:`LimitedSite` is the aiohttp site that serves through these limits.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from evervault.domain.errors import ConfigurationError

logger = logging.getLogger("evervault.local")

DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0
DEFAULT_KEEPALIVE_TIMEOUT_SECONDS = 15.0
DEFAULT_MAX_CONNECTIONS = 512
DEFAULT_ACCEPT_ERROR_LOG_INTERVAL_SECONDS = 10.0
# A refused client gets this long to send its request (so closing does not reset the
# connection before it read the 503), then it is closed regardless.
REFUSAL_LINGER_SECONDS = 1.0
# Errors of accept() that mean "out of resources", as asyncio classifies them.
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


@dataclass(frozen=True)
class ConnectionLimits:
    """The API server's connection limits (``serve`` options of the same names)."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT_SECONDS
    keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT_SECONDS
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    accept_error_log_interval: float = DEFAULT_ACCEPT_ERROR_LOG_INTERVAL_SECONDS

    def __post_init__(self) -> None:
        for name in ("header_timeout", "keepalive_timeout", "accept_error_log_interval"):
            if not getattr(self, name) > 0:
                raise ConfigurationError(f"{name} must be greater than 0 seconds.")
        if self.max_connections < 1:
            raise ConfigurationError("max_connections must be at least 1.")


class ConnectionGate:
    """The protocol factory of the API's listening socket: admits, guards or refuses."""

    def __init__(
        self,
        server: web.Server,
        limits: ConnectionLimits,
        max_connections: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._server = server
        self._limits = limits
        self.max_connections = max_connections
        self.open_connections = 0
        self.refused = 0
        self._refusal = _refusal_bytes(max_connections)
        self._clock = clock
        self._refusals_logged_at: float | None = None
        self._refused_unlogged = 0

    def __call__(self) -> asyncio.Protocol:
        if self.open_connections >= self.max_connections:
            self.refused += 1
            self._log_refusal()
            return _Refusal(self._refusal)
        self.open_connections += 1
        return GuardedConnection(self._server(), self._limits.header_timeout, self._closed)

    def _closed(self) -> None:
        self.open_connections -= 1

    def _log_refusal(self) -> None:
        """One warning per interval (the same as for accept errors), with the count since the last."""
        self._refused_unlogged += 1
        now = self._clock()
        last = self._refusals_logged_at
        if last is not None and now - last < self._limits.accept_error_log_interval:
            return
        logger.warning(
            "Emulator API: answered 503 to %d connection(s) beyond --max-connections %d.",
            self._refused_unlogged,
            self.max_connections,
        )
        self._refusals_logged_at, self._refused_unlogged = now, 0


class GuardedConnection(asyncio.Protocol):
    """aiohttp's protocol for one connection, closed if its first request head is late.

    aiohttp counts the request heads it has parsed (``_request_count``); the deadline
    is cancelled as soon as that count moves, i.e. once the line and every header
    arrived. The body is the handler's business (and bounded by the body size limits).
    """

    def __init__(
        self, inner: web.RequestHandler, header_timeout: float, on_close: Callable[[], None]
    ) -> None:
        self._inner = inner
        self._header_timeout = header_timeout
        self._on_close: Callable[[], None] | None = on_close
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self._header_timeout, self._header_timeout_passed)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)
        if self._deadline is not None and _heads_parsed(self._inner) > 0:
            self._deadline.cancel()
            self._deadline = None

    def eof_received(self) -> bool | None:
        self._inner.eof_received()
        return None  # as aiohttp: the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self._on_close is not None:
            self._on_close()
            self._on_close = None
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def _header_timeout_passed(self) -> None:
        self._deadline = None
        if _heads_parsed(self._inner) == 0:
            logger.debug("Closing a connection whose request head did not arrive in time")
            self._inner.force_close()


def _heads_parsed(handler: web.RequestHandler) -> int:
    count: int = handler._request_count  # aiohttp has no public hook for this
    return count


class _Refusal(asyncio.Protocol):
    """Answers ``503`` at once, reads the request (if any) so closing is clean, and closes."""

    def __init__(self, response: bytes) -> None:
        self._response = response
        self._transport: asyncio.Transport | None = None
        self._linger: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(self._response)
        self._linger = asyncio.get_running_loop().call_later(REFUSAL_LINGER_SECONDS, self._close)

    def data_received(self, data: bytes) -> None:
        self._close()

    def eof_received(self) -> bool | None:
        self._close()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
        self._transport = None

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _refusal_bytes(max_connections: int) -> bytes:
    body = json.dumps(
        {
            "status": 503,
            "code": "service-unavailable",
            "title": "Service Unavailable",
            "detail": (
                f"The emulator already serves its maximum of {max_connections} connections "
                "(serve --max-connections); retry shortly."
            ),
        }
    ).encode("utf-8")
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/problem+json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Retry-After: 1\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class LimitedSite(web.BaseSite):
    """A TCP site whose connections pass through a :class:`ConnectionGate`."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, gate_factory: GateFactory) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._gate_factory = gate_factory
        self.gate: ConnectionGate | None = None

    @property
    def name(self) -> str:
        shown = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{shown}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        self.gate = self._gate_factory(server)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self.gate, self._host, self._port, backlog=self._backlog)


GateFactory = Callable[[web.Server], ConnectionGate]


class AcceptErrorLog:
    """Logs failed ``accept()`` calls at most once per ``interval``, with a count (thread-safe).

    The first error is logged at once; later ones within the interval are counted and
    reported by the next line (or by :meth:`flush`, which a server calls periodically).
    """

    def __init__(self, interval: float, what: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._what = what
        self._clock = clock
        self._lock = threading.Lock()
        self._last_logged: float | None = None
        self._suppressed = 0
        self._last_error = ""
        self.total = 0

    def record(self, error: OSError) -> None:
        with self._lock:
            self.total += 1
            self._last_error = _describe(error)
            now = self._clock()
            if self._last_logged is not None and now - self._last_logged < self._interval:
                self._suppressed += 1
                return
            count, self._suppressed, self._last_logged = self._suppressed + 1, 0, now
        self._log(count)

    def flush(self) -> None:
        """Report errors counted since the last line, once the interval has passed."""
        with self._lock:
            if not self._suppressed or self._last_logged is None:
                return
            if self._clock() - self._last_logged < self._interval:
                return
            count, self._suppressed, self._last_logged = self._suppressed, 0, self._clock()
        self._log(count)

    def _log(self, count: int) -> None:
        logger.warning(
            "%s: accept() failed %d time(s) (%s); still serving, retrying. Raise the open-file "
            "limit (ulimit -n) or lower the connection caps if this persists.",
            self._what,
            count,
            self._last_error,
        )


def _describe(error: OSError) -> str:
    name = errno.errorcode.get(error.errno or 0, "error")
    return f"{name}: {error.strerror or type(error).__name__}"


def resource_error(context: dict[str, Any]) -> OSError | None:
    """The out-of-resources error (e.g. EMFILE) an asyncio exception-handler ``context`` reports.

    asyncio reports a failing ``accept()`` this way; any other report of the same errors
    is just as repetitive under a flood, so all of them are rate-limited alike.
    """
    exception = context.get("exception")
    if isinstance(exception, OSError) and exception.errno in RESOURCE_ERRNOS:
        return exception
    return None


def is_stale_accept_retry(context: dict[str, Any]) -> bool:
    """asyncio's retry of ``accept()`` after an EMFILE firing on a server closed meanwhile.

    After a failed ``accept()`` asyncio re-arms the listening socket a second later from
    a timer; if the server stopped in between, that timer meets a closed socket and
    raises ``ValueError`` (fd -1) or ``OSError``. Nothing is wrong then: the server is gone.
    """
    handle = context.get("handle")
    callback = getattr(handle, "_callback", None)
    return getattr(callback, "__name__", "") == "_start_serving" and isinstance(
        context.get("exception"), (ValueError, OSError)
    )


class StaleAcceptRetryFilter:
    """What stays installed after the emulator stops: drops only stale accept retries."""

    def __init__(self, previous: Any) -> None:
        self._previous = previous

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if is_stale_accept_retry(context):
            logger.debug("A pending accept() retry met the stopped server; ignored.")
        elif self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)


class AcceptErrorFilter:
    """An event-loop exception handler that rate-limits accept errors and passes on the rest."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self._loop = loop
        # Everything that is not an out-of-resources error goes here (and it stays installed
        # after uninstall(), for accept() retries still pending then).
        self._passthrough = StaleAcceptRetryFilter(loop.get_exception_handler())
        self.log = AcceptErrorLog(interval, "Emulator API")
        self._flusher: asyncio.TimerHandle | None = None
        self._interval = interval

    def install(self) -> None:
        self._loop.set_exception_handler(self)
        self._schedule_flush()

    def uninstall(self) -> None:
        if self._loop.get_exception_handler() is self:
            # An accept() retry may still be pending for up to a second: keep dropping those.
            self._loop.set_exception_handler(self._passthrough)
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        self.log.flush()

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = resource_error(context)
        if error is not None:
            self.log.record(error)
        else:
            self._passthrough(loop, context)

    def _schedule_flush(self) -> None:
        self.log.flush()
        self._flusher = self._loop.call_later(self._interval, self._schedule_flush)


def effective_max_connections(requested: int, open_file_limit: int | None) -> int:
    """``requested``, or less when the open-file limit could not hold that many.

    Half the descriptors stay for everything else (the relay, spooled files, workers),
    so a full server refuses with 503 instead of failing in ``accept()``.
    """
    if open_file_limit is None or open_file_limit <= 0:
        return requested
    return max(1, min(requested, open_file_limit // 2))


def open_file_limit() -> int | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)

"""The default blocking transport, over a pooled ``urllib3.PoolManager``.

TLS is verified against the certifi bundle unless another CA file or SSL
context is given; redirects are never followed and urllib3's own retries are
off (retrying is a service-layer decision, see :mod:`evervault.services.retry`).

``request.timeout`` is a deadline for the whole exchange. urllib3's timeouts apply to
each socket operation, so a server trickling one byte per second would hold a call for
as long as it liked; the transport's own pools therefore read and write through
:class:`_DeadlineSocket`, which gives every socket operation only the time left before
the calling thread's deadline. (A caller-supplied ``pool_manager`` keeps urllib3's
per-operation timeouts.)
"""

from __future__ import annotations

import email.errors
import http.client
import io
import socket
import ssl
import threading
import time
from typing import Any

import certifi
import urllib3
from urllib3 import exceptions as u3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from evervault.adapters.exception_map import (
    ExceptionTable,
    caught_classes,
    connect_failed,
    connection_failed,
    timed_out,
    tls_failed,
    translate,
)
from evervault.domain.errors import TransportError
from evervault.ports.http import Headers, HttpRequest, HttpResponse

DEFAULT_POOL_SIZE = 10


class Urllib3Transport:
    """An :class:`~evervault.ports.http.HttpTransport` backed by one pooled ``PoolManager``.

    The pool is thread-safe, so one transport may be shared by many threads.
    """

    def __init__(
        self,
        pool_manager: urllib3.PoolManager | None = None,
        *,
        ca_certs: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> None:
        self._pool = pool_manager or _verified_pool_manager(ca_certs, ssl_context, pool_size)

    def send(self, request: HttpRequest) -> HttpResponse:
        _deadline.at = time.monotonic() + request.timeout
        try:
            raw = self._pool.request(
                request.method,
                request.url,
                body=request.body,
                headers=dict(request.headers),
                timeout=urllib3.Timeout(total=request.timeout),
                redirect=False,
                retries=False,
                preload_content=True,
                decode_content=True,
            )
        except caught_classes(EXCEPTION_TABLE) as error:
            raise _transport_error(request, error) from error
        finally:
            _deadline.at = None
        return HttpResponse(
            status=raw.status,
            headers=Headers(raw.headers.items()),
            body=raw.data or b"",
        )

    def close(self) -> None:
        self._pool.clear()

    def __repr__(self) -> str:
        return "Urllib3Transport()"


def _verified_pool_manager(
    ca_certs: str | None, ssl_context: ssl.SSLContext | None, pool_size: int
) -> urllib3.PoolManager:
    options: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED", "maxsize": pool_size}
    if ssl_context is not None:
        options["ssl_context"] = ssl_context
    else:
        options["ca_certs"] = ca_certs or certifi.where()
    manager = urllib3.PoolManager(**options)
    manager.pool_classes_by_scheme = {"http": _DeadlineHTTPPool, "https": _DeadlineHTTPSPool}
    return manager


class _Deadline(threading.local):
    """The monotonic deadline of the request the current thread is sending, if any."""

    at: float | None = None


_deadline = _Deadline()


class _DeadlineSocket:
    """A connected socket whose operations end at the current thread's request deadline.

    Every read and write first lowers the socket timeout to the time left, so a response
    that trickles in (each read succeeding just in time) still ends at the deadline with
    ``TimeoutError``, which urllib3 reports as a read timeout.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def _limit(self) -> None:
        deadline = _deadline.at
        if deadline is None:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request deadline has passed")
        current = self._sock.gettimeout()
        self._sock.settimeout(remaining if current is None else min(current, remaining))

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._limit()
        return self._sock.recv_into(buffer, nbytes, flags)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self._limit()
        return self._sock.recv(bufsize, flags)

    def send(self, data: Any, flags: int = 0) -> int:
        self._limit()
        return self._sock.send(data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._limit()
        self._sock.sendall(data, flags)

    def makefile(self, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        # http.client reads the response through makefile("rb"): route its reads through us.
        if mode != "rb":
            return self._sock.makefile(mode, *args, **kwargs)  # type: ignore[call-overload]
        self._sock._io_refs += 1  # type: ignore[attr-defined]  # what socket.makefile does
        return io.BufferedReader(socket.SocketIO(self, "rb"))  # type: ignore[arg-type]


class _DeadlineHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        self.sock = _DeadlineSocket(self.sock)


class _DeadlineHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        self.sock = _DeadlineSocket(self.sock)


class _DeadlineHTTPPool(HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


# The outcome per urllib3 exception class; the first matching row wins.
EXCEPTION_TABLE: ExceptionTable = (
    # NewConnectionError and NameResolutionError subclass ConnectTimeoutError in urllib3 2,
    # so one row covers DNS failures, refused connections and connect timeouts: nothing
    # was sent in any case.
    ((u3.ConnectTimeoutError,), connect_failed),
    # What is left of TimeoutError is ReadTimeoutError: sent, no answer in time.
    ((u3.TimeoutError,), timed_out),
    ((u3.SSLError,), tls_failed),
    # Resets, protocol and decode errors, proxy and pool errors: possibly processed.
    ((u3.HTTPError,), connection_failed),
)

# Classes of urllib3.exceptions (with their subclasses) that ``send`` cannot raise, so
# the table has no row for them; the completeness test accepts exactly these.
NOT_RAISED_BY_TRANSPORT: frozenset[type[BaseException]] = frozenset(
    {
        # Warnings (InsecureRequestWarning, SystemTimeWarning, ...) go through
        # warnings.warn; they only raise when the application's filter says so, and then
        # they must reach the application unchanged.
        u3.HTTPWarning,
        # Raised when a ProxyManager cannot do TLS inside TLS (no ssl module, or an
        # SSLContext without wrap_bio): a proxy configuration error. The pools this
        # transport builds never tunnel TLS through a proxy; a caller-supplied
        # ProxyManager gets urllib3's own error, as it configured.
        u3.ProxySchemeUnsupported,
        # http.client's IncompleteRead, re-exported under an alias: urllib3 re-raises it
        # as its own ProtocolError / IncompleteRead (HTTPError rows) before it leaves.
        http.client.IncompleteRead,
        # email.errors.MessageDefect, re-exported for HeaderParsingError's annotations only.
        email.errors.MessageDefect,
    }
)


def _transport_error(request: HttpRequest, error: BaseException) -> TransportError:
    """Translate a urllib3 failure into the port's error vocabulary."""
    cause: BaseException = error
    if isinstance(error, u3.MaxRetryError) and isinstance(error.reason, u3.HTTPError):
        # Only reached with a caller-supplied pool configured to retry.
        cause = error.reason
    return translate(EXCEPTION_TABLE, request, cause)

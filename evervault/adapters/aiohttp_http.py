"""The asyncio transport, over an ``aiohttp.ClientSession``.

``aiohttp`` is an optional dependency (extra ``evervault-sdk[aiohttp]``): it is
imported only when a transport is first used, so importing this module never
fails. TLS is verified against the certifi bundle unless another CA file or SSL
context is given; redirects are never followed.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from typing import TYPE_CHECKING, Any

import certifi

from evervault.adapters.exception_map import (
    ExceptionTable,
    caught_classes,
    connect_failed,
    connection_failed,
    timed_out,
    tls_failed,
    translate,
)
from evervault.domain.errors import ConfigurationError, TransportError
from evervault.ports.http import Headers, HttpRequest, HttpResponse

if TYPE_CHECKING:
    import aiohttp

DEFAULT_POOL_SIZE = 10


def _import_aiohttp() -> Any:
    try:
        import aiohttp
    except ImportError as error:
        raise ConfigurationError(
            "The asyncio client needs aiohttp: install it with "
            "`pip install 'evervault-sdk[aiohttp]'` or pass another transport."
        ) from error
    return aiohttp


class AiohttpTransport:
    """An :class:`~evervault.ports.http.AsyncHttpTransport` backed by one ``ClientSession``.

    Pass ``session`` to reuse an application's session (it is then not closed by
    :meth:`close`); otherwise one is created lazily inside the running event loop.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        ca_certs: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> None:
        self._session = session
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._owns_session = session is None
        self._ca_certs = ca_certs
        self._ssl_context = ssl_context
        self._pool_size = pool_size

    async def send(self, request: HttpRequest) -> HttpResponse:
        aiohttp = _import_aiohttp()
        session = self._ensure_session(aiohttp)
        try:
            async with session.request(
                request.method,
                request.url,
                data=request.body,
                headers=dict(request.headers),
                timeout=aiohttp.ClientTimeout(total=request.timeout),
                allow_redirects=False,
            ) as raw:
                body = await raw.read()
                return HttpResponse(status=raw.status, headers=Headers(raw.headers.items()), body=body)
        except caught_classes(exception_table(aiohttp)) as error:
            raise _transport_error(aiohttp, request, error) from error

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    def __repr__(self) -> str:
        return "AiohttpTransport()"

    def _ensure_session(self, aiohttp: Any) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is not None and self._owns_session and self._session_loop is not loop:
            if not self._session.closed:
                # aiohttp sessions are bound to the loop that created it and cannot be
                # closed from another one; silently replacing it would leak its sockets.
                raise ConfigurationError(
                    "This async client's connection pool belongs to another event loop. "
                    "Use `async with AsyncClient(...)` inside each asyncio.run(), or "
                    "`await client.close()` before the loop ends."
                )
            self._session = None
        if self._session is None:
            context = self._ssl_context or ssl.create_default_context(
                cafile=self._ca_certs or certifi.where()
            )
            connector = aiohttp.TCPConnector(ssl=context, limit=self._pool_size)
            self._session = aiohttp.ClientSession(connector=connector)
            self._session_loop = loop
            self._owns_session = True
        return self._session


def _transport_error(aiohttp: Any, request: HttpRequest, error: BaseException) -> TransportError:
    """Translate an aiohttp failure into the port's error vocabulary."""
    return translate(exception_table(aiohttp), request, error)


@functools.cache
def exception_table(aiohttp: Any) -> ExceptionTable:
    """The outcome per aiohttp exception class (aiohttp is imported lazily); first match wins."""
    # ConnectionTimeoutError exists from aiohttp 3.10; older versions report a plain timeout.
    connect_timeout = _classes(aiohttp, "ConnectionTimeoutError")
    return (
        # Before ClientConnectorError, which ClientSSLError subclasses.
        ((aiohttp.ClientSSLError,), tls_failed),
        # DNS, refused, connect timeout (a ServerTimeoutError, so before that row): nothing sent.
        ((aiohttp.ClientConnectorError, *connect_timeout), connect_failed),
        # asyncio's TimeoutError ends a ClientTimeout(total=...); ServerTimeoutError a socket read.
        ((asyncio.TimeoutError, aiohttp.ServerTimeoutError), timed_out),
        # Disconnects, resets, payload and response errors: possibly processed.
        ((aiohttp.ClientError,), connection_failed),
    )


def not_raised_by_transport(aiohttp: Any) -> frozenset[type[BaseException]]:
    """Classes of aiohttp.client_exceptions (with subclasses) that ``send`` cannot raise.

    The completeness test accepts exactly these as having no row in the table.
    """
    # Raised by ClientWebSocketResponse.receive_*() only (aiohttp 3.11+); this transport
    # speaks HTTP.
    websocket_only = _classes(aiohttp, "WSMessageTypeError")
    return frozenset(websocket_only)


def _classes(aiohttp: Any, *names: str) -> tuple[type[BaseException], ...]:
    """The named exception classes this aiohttp version has (newer ones may be missing)."""
    return tuple(getattr(aiohttp, name) for name in names if hasattr(aiohttp, name))

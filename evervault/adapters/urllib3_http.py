"""The default blocking transport, over a pooled ``urllib3.PoolManager``.

TLS is verified against the certifi bundle unless another CA file or SSL
context is given; redirects are never followed and urllib3's own retries are
off (retrying is a service-layer decision, see :mod:`evervault.services.retry`).
"""

from __future__ import annotations

import ssl
from typing import Any

import certifi
import urllib3
from urllib3 import exceptions as u3

from evervault.domain.errors import ConnectError, RequestTimeoutError, TransportError
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
        except u3.HTTPError as error:
            raise _transport_error(request, error) from error
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
    return urllib3.PoolManager(**options)


def _transport_error(request: HttpRequest, error: u3.HTTPError) -> TransportError:
    """Translate a urllib3 failure into the port's error vocabulary."""
    if isinstance(error, u3.MaxRetryError) and isinstance(error.reason, u3.HTTPError):
        # Only reached with a caller-supplied pool configured to retry.
        error = error.reason
    where = f"{request.method} {_without_query(request.url)}"
    # NewConnectionError subclasses ConnectTimeoutError in urllib3 2, so one check covers
    # DNS failures, refused connections and connect timeouts: nothing was sent in any case.
    if isinstance(error, u3.ConnectTimeoutError):
        return ConnectError(
            f"Could not connect for {where} ({type(error).__name__}); nothing was sent. "
            "Check the network and the configured URL (EV_API_URL)."
        )
    if isinstance(error, u3.TimeoutError):
        return RequestTimeoutError(
            f"No response to {where} within {request.timeout} s. "
            "Retry later or raise request_timeout."
        )
    if isinstance(error, u3.SSLError):
        return TransportError(
            f"TLS failed for {where}: {error}. Check the server certificate and the CA bundle."
        )
    return TransportError(
        f"The connection failed during {where} ({type(error).__name__}). "
        "The request may or may not have been processed; check before repeating it."
    )


def _without_query(url: str) -> str:
    return url.split("?", 1)[0]

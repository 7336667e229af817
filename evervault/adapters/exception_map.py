"""Library exceptions to the port's error vocabulary, declared as ordered tables.

Each HTTP adapter declares one :data:`ExceptionTable`: rows of (library exception
classes, factory of our error). The first row with a matching class decides, so a
subclass that needs another outcome than its base sits in an earlier row (httpx's
``map_httpcore_exceptions`` is the model). The adapter catches exactly the classes in
its table, and a completeness test per adapter enumerates the library's exception
module so that a class nobody decided about fails the build instead of escaping as a
raw library exception.

The factories word the messages once for every adapter: what failed, for which
request (without its query string, which may carry identifiers), and whether the
request may have reached the server, because that decides whether repeating it is safe.
"""

from __future__ import annotations

from collections.abc import Callable

from evervault.domain.errors import ConnectError, RequestTimeoutError, TransportError
from evervault.ports.http import HttpRequest

ErrorFactory = Callable[[HttpRequest, BaseException], TransportError]
"""Builds our error for one request from the library exception it failed with."""

ExceptionTable = tuple[tuple[tuple[type[BaseException], ...], ErrorFactory], ...]
"""Ordered rows of (library exception classes, factory); the first matching row wins."""


def caught_classes(table: ExceptionTable) -> tuple[type[BaseException], ...]:
    """Every class a table has a row for: what the adapter's ``except`` clause catches."""
    return tuple(cls for classes, _factory in table for cls in classes)


def translate(table: ExceptionTable, request: HttpRequest, error: BaseException) -> TransportError:
    """Our error for ``error``, from the first row of ``table`` that matches it."""
    for classes, factory in table:
        if isinstance(error, classes):
            return factory(request, error)
    # Only reachable if an adapter catches more than its table lists.
    return connection_failed(request, error)


def factory_for(table: ExceptionTable, cls: type[BaseException]) -> ErrorFactory | None:
    """The factory the table applies to instances of ``cls`` (``None``: not covered)."""
    for classes, factory in table:
        if issubclass(cls, classes):
            return factory
    return None


def connect_failed(request: HttpRequest, error: BaseException) -> TransportError:
    """DNS failure, refused connection or connect timeout: nothing was sent."""
    return ConnectError(
        f"Could not connect for {_where(request)} ({type(error).__name__}); nothing was sent. "
        "Check the network and the configured URL (EV_API_URL)."
    )


def timed_out(request: HttpRequest, error: BaseException) -> TransportError:
    """Connected and sent, but no (complete) response within the request's timeout."""
    return RequestTimeoutError(
        f"No response to {_where(request)} within {request.timeout} s. Retry later or raise request_timeout."
    )


def tls_failed(request: HttpRequest, error: BaseException) -> TransportError:
    """The TLS handshake or certificate verification failed."""
    return TransportError(
        f"TLS failed for {_where(request)}: {error}. Check the server certificate and the CA bundle."
    )


def connection_failed(request: HttpRequest, error: BaseException) -> TransportError:
    """Any other failure after connecting: the request may have been processed."""
    return TransportError(
        f"The connection failed during {_where(request)} ({type(error).__name__}). "
        "The request may or may not have been processed; check before repeating it."
    )


def _where(request: HttpRequest) -> str:
    return f"{request.method} {request.url.split('?', 1)[0]}"

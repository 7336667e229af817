"""Every exception class a transport's library exports has a decided outcome.

Each HTTP adapter maps library exceptions to our errors with an ordered table
(:mod:`evervault.adapters.exception_map`). These tests enumerate the library's
exception module, so a class added by a library upgrade fails here until someone
decides what it becomes, instead of escaping to the application as a raw library error.
"""

from __future__ import annotations

import asyncio
import inspect
import types

import aiohttp
import aiohttp.client_exceptions
import pytest
import urllib3.exceptions as u3

from evervault import ConnectError, RequestTimeoutError, TransportError
from evervault.adapters import aiohttp_http, urllib3_http
from evervault.adapters.exception_map import ExceptionTable, factory_for, translate
from evervault.ports.http import HttpRequest

REQUEST = HttpRequest("POST", "https://api.example.test/encrypt?secret=query", timeout=7.5)

URLLIB3_TABLE = urllib3_http.EXCEPTION_TABLE
URLLIB3_NOT_RAISED = urllib3_http.NOT_RAISED_BY_TRANSPORT
AIOHTTP_TABLE = aiohttp_http.exception_table(aiohttp)
AIOHTTP_NOT_RAISED = aiohttp_http.not_raised_by_transport(aiohttp)


def exported_exceptions(module: types.ModuleType) -> list[type[BaseException]]:
    """Every exception class reachable as an attribute of ``module`` (aliases included)."""
    members = inspect.getmembers(module, lambda obj: inspect.isclass(obj) and issubclass(obj, BaseException))
    return sorted({cls for _name, cls in members}, key=lambda cls: cls.__qualname__)


def outcome(table: ExceptionTable, cls: type[BaseException]) -> type[TransportError]:
    """The class of our error that the table makes out of an instance of ``cls``."""
    factory = factory_for(table, cls)
    assert factory is not None, f"{cls.__qualname__} has no row"
    error = factory(REQUEST, Exception("boom"))
    assert "secret=query" not in str(error)  # the query string never reaches a message
    return type(error)


def is_tls_error(table: ExceptionTable, cls: type[BaseException]) -> bool:
    factory = factory_for(table, cls)
    return factory is not None and str(factory(REQUEST, Exception("boom"))).startswith("TLS failed")


CASES = [
    pytest.param(URLLIB3_TABLE, URLLIB3_NOT_RAISED, cls, id=f"urllib3-{cls.__module__}.{cls.__qualname__}")
    for cls in exported_exceptions(u3)
] + [
    pytest.param(AIOHTTP_TABLE, AIOHTTP_NOT_RAISED, cls, id=f"aiohttp-{cls.__module__}.{cls.__qualname__}")
    for cls in exported_exceptions(aiohttp.client_exceptions)
]


@pytest.mark.parametrize(("table", "not_raised", "cls"), CASES)
def test_every_library_exception_is_mapped_or_declared_not_raised(
    table: ExceptionTable, not_raised: frozenset[type[BaseException]], cls: type[BaseException]
) -> None:
    mapped = factory_for(table, cls) is not None
    declared = issubclass(cls, tuple(not_raised))
    assert mapped or declared, f"{cls.__qualname__}: add a table row or a NOT_RAISED_BY_TRANSPORT entry"
    # A subclass of a declared class may still be mapped (urllib3's IncompleteRead is also
    # http.client's); listing a class the table catches would be a contradiction.
    assert not (mapped and cls in not_raised), f"{cls.__qualname__} is both mapped and listed not raised"


@pytest.mark.parametrize(
    ("table", "not_raised", "module"),
    [
        pytest.param(URLLIB3_TABLE, URLLIB3_NOT_RAISED, u3, id="urllib3"),
        pytest.param(AIOHTTP_TABLE, AIOHTTP_NOT_RAISED, aiohttp.client_exceptions, id="aiohttp"),
    ],
)
def test_not_raised_entries_are_exported_and_rows_are_reachable(
    table: ExceptionTable, not_raised: frozenset[type[BaseException]], module: types.ModuleType
) -> None:
    exported = set(exported_exceptions(module))
    assert not_raised <= exported, "a NOT_RAISED_BY_TRANSPORT entry the library no longer exports"
    earlier: list[type[BaseException]] = []
    for classes, _factory in table:
        for cls in classes:
            shadowing = [base for base in earlier if issubclass(cls, base)]
            assert not shadowing, f"{cls.__qualname__} is unreachable behind {shadowing}"
        earlier.extend(classes)


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (u3.NameResolutionError, ConnectError),
        (u3.NewConnectionError, ConnectError),
        (u3.ConnectTimeoutError, ConnectError),
        (u3.ReadTimeoutError, RequestTimeoutError),
        (u3.SSLError, TransportError),
        (u3.ProtocolError, TransportError),
        (u3.DecodeError, TransportError),
        (u3.MaxRetryError, TransportError),
    ],
)
def test_urllib3_outcomes(cls: type[BaseException], expected: type[TransportError]) -> None:
    assert outcome(URLLIB3_TABLE, cls) is expected
    assert is_tls_error(URLLIB3_TABLE, cls) == (cls is u3.SSLError)


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (aiohttp.ClientConnectorCertificateError, TransportError),
        (aiohttp.ClientConnectorSSLError, TransportError),
        (aiohttp.ClientConnectorDNSError, ConnectError),
        (aiohttp.ClientConnectorError, ConnectError),
        (aiohttp.ConnectionTimeoutError, ConnectError),
        (aiohttp.SocketTimeoutError, RequestTimeoutError),
        (asyncio.TimeoutError, RequestTimeoutError),
        (aiohttp.ServerDisconnectedError, TransportError),
        (aiohttp.ClientPayloadError, TransportError),
    ],
)
def test_aiohttp_outcomes(cls: type[BaseException], expected: type[TransportError]) -> None:
    assert outcome(AIOHTTP_TABLE, cls) is expected
    assert is_tls_error(AIOHTTP_TABLE, cls) == issubclass(cls, aiohttp.ClientSSLError)


def test_urllib3_retry_wrapper_is_judged_by_its_reason() -> None:
    """A caller-supplied retrying pool wraps the real failure in MaxRetryError."""
    reason = u3.NewConnectionError(None, "refused")  # type: ignore[arg-type]
    wrapped = u3.MaxRetryError(None, REQUEST.url, reason)  # type: ignore[arg-type]
    error = urllib3_http._transport_error(REQUEST, wrapped)
    assert type(error) is ConnectError
    expected = "Could not connect for POST https://api.example.test/encrypt (NewConnectionError)"
    assert str(error).startswith(expected)


def test_unlisted_exception_falls_back_to_the_possibly_processed_error() -> None:
    error = translate(URLLIB3_TABLE, REQUEST, RuntimeError("odd"))
    assert type(error) is TransportError
    assert "may or may not have been processed" in str(error)

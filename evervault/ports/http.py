"""The HTTP port: plain request/response values and the transport protocols.

Services build an :class:`HttpRequest`, hand it to whichever transport was plugged
in (urllib3, aiohttp, an in-memory one in tests) and read an :class:`HttpResponse`.
Nothing here knows about a particular HTTP library.

Transport contract (every adapter follows it):

* exactly one attempt per ``send``: no retries, no redirects followed;
* any status code is a normal response (mapping statuses to errors is the
  service layer's job);
* network failures raise :class:`~evervault.domain.errors.ConnectError` when no
  byte of the request was sent (DNS, refused, connect timeout),
  :class:`~evervault.domain.errors.RequestTimeoutError` when the response did
  not arrive in time, and :class:`~evervault.domain.errors.TransportError`
  otherwise; never a library-specific exception;
* compressed bodies (``Content-Encoding: gzip``/``deflate``) are decoded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from evervault.domain.defaults import DEFAULT_REQUEST_TIMEOUT

HeaderInput = Mapping[str, str] | Iterable[tuple[str, str]]


class Headers(Mapping[str, str]):
    """Immutable HTTP headers with case-insensitive lookup that keep their original spelling.

    Repeated names are joined with ``", "`` (RFC 9110 section 5.3) except that
    iteration yields each distinct name once, spelled as first seen.
    """

    __slots__ = ("_items",)

    def __init__(self, headers: HeaderInput | None = None) -> None:
        pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
        merged: dict[str, tuple[str, str]] = {}
        for name, value in pairs:
            key = name.lower()
            if key in merged:
                first_name, previous = merged[key]
                merged[key] = (first_name, f"{previous}, {value}")
            else:
                merged[key] = (name, value)
        self._items = merged

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return dict(self.lower_items()) == dict(Headers(other).lower_items())

    def __hash__(self) -> int:
        return hash(frozenset(self.lower_items()))

    def __repr__(self) -> str:
        # Header values may carry credentials, so only the names are shown.
        return f"Headers(names={list(self)!r})"

    def lower_items(self) -> Iterator[tuple[str, str]]:
        """``(lower-case name, value)`` pairs."""
        return ((key, value) for key, (_, value) in self._items.items())


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request, fully built: the transport sends it as is."""

    method: str
    url: str
    headers: Headers = field(default_factory=Headers)
    body: bytes | None = None
    timeout: float = DEFAULT_REQUEST_TIMEOUT

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            object.__setattr__(self, "headers", Headers(self.headers))

    def __repr__(self) -> str:
        # Never print header values (credentials) or the body (plaintext).
        size = "none" if self.body is None else f"{len(self.body)} bytes"
        return f"HttpRequest({self.method} {self.url}, body={size}, timeout={self.timeout})"


@dataclass(frozen=True)
class HttpResponse:
    """One HTTP response with its body fully read."""

    status: int
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            object.__setattr__(self, "headers", Headers(self.headers))

    def __repr__(self) -> str:
        return f"HttpResponse(status={self.status}, body={len(self.body)} bytes)"

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any case), or ``None`` when absent."""
        return self.headers.get(name)

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300


class HttpTransport(Protocol):
    """Sends one request and returns its response (blocking)."""

    def send(self, request: HttpRequest) -> HttpResponse: ...

    def close(self) -> None: ...


class AsyncHttpTransport(Protocol):
    """Sends one request and returns its response (asyncio)."""

    async def send(self, request: HttpRequest) -> HttpResponse: ...

    async def close(self) -> None: ...

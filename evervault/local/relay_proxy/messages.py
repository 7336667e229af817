"""HTTP/1.1 with h11 over a blocking :class:`~.streams.Stream`: reading requests, sending answers.

The proxy's own answers (400, 403, 405, 407, 413, 502, 503) are short plain-text responses
after which the connection is closed; each says what was wrong and what to do.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import h11

from evervault.domain.relay import Endpoint
from evervault.local.relay_proxy.streams import READ_CHUNK, Stream
from evervault.local.relay_targets import RefusedTarget

logger = logging.getLogger("evervault.local.relay")

PROXY_REALM = b'Basic realm="Evervault Relay"'

NO_DECRYPT = (
    "This API key does not have the 'decrypt' permission, which relaying to a decryption "
    "destination needs; use a key that may decrypt."
)


class BodyTooLarge(Exception):
    """The request body exceeded :attr:`ProxyLimits.max_body_bytes`."""


def next_event(connection: h11.Connection, stream: Stream) -> Any:
    """The next h11 event, reading from ``stream`` as long as h11 needs data."""
    while True:
        event = connection.next_event()
        if event is not h11.NEED_DATA:
            return event
        connection.receive_data(stream.recv(READ_CHUNK))


def send(connection: h11.Connection, stream: Stream, event: Any) -> None:
    """Serialise ``event`` with h11 and write it to ``stream``."""
    data = connection.send(event)
    if data:
        stream.sendall(data)


def read_request_head(connection: h11.Connection, stream: Stream) -> h11.Request | None:
    """The next request's head, or ``None`` when the client closed the connection."""
    try:
        event = next_event(connection, stream)
    except (OSError, ssl.SSLError):
        return None
    if isinstance(event, h11.Request):
        return event
    if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
        return None
    raise h11.RemoteProtocolError(f"unexpected {type(event).__name__}")


def read_body(connection: h11.Connection, stream: Stream, limit: int) -> bytes:
    """The whole request body (:class:`BodyTooLarge` beyond ``limit`` bytes)."""
    if connection.they_are_waiting_for_100_continue:
        send(connection, stream, h11.InformationalResponse(status_code=100, headers=[]))
    chunks: list[bytes] = []
    size = 0
    while True:
        event = next_event(connection, stream)
        if isinstance(event, h11.Data):
            size += len(event.data)
            if size > limit:
                raise BodyTooLarge
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            return b"".join(chunks)
        else:
            raise h11.RemoteProtocolError("the request ended before its body")


def finish_request(connection: h11.Connection, stream: Stream) -> bool:
    """Consume the (empty) rest of a CONNECT request; ``False`` if the client went away."""
    try:
        event = next_event(connection, stream)
    except h11.RemoteProtocolError:
        send_error(connection, stream, 400, "Malformed CONNECT request.")
        return False
    return isinstance(event, h11.EndOfMessage)


def send_error(
    connection: h11.Connection,
    stream: Stream,
    status: int,
    message: str,
    extra: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """A short plain-text error, then the connection is closed (if a response can still be sent)."""
    if connection.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    body = (message + "\n").encode("utf-8")
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *extra,
    ]
    try:
        reason = HTTPStatus(status).phrase.encode("ascii")
        send(connection, stream, h11.Response(status_code=status, headers=headers, reason=reason))
        send(connection, stream, h11.Data(data=body))
        send(connection, stream, h11.EndOfMessage())
    except (OSError, h11.LocalProtocolError) as error:
        logger.debug("Relay proxy: could not send a %d response (%s)", status, type(error).__name__)


def send_proxy_auth_required(connection: h11.Connection, stream: Stream) -> None:
    send_error(
        connection,
        stream,
        407,
        "Proxy-Authorization must carry the app's API key (raw, or Basic <app id>:<api key>).",
        [(b"proxy-authenticate", PROXY_REALM)],
    )


def send_busy(connection: h11.Connection, stream: Stream, max_connections: int) -> None:
    send_error(
        connection,
        stream,
        503,
        f"The relay already serves its maximum of {max_connections} authenticated connections "
        "(serve --relay-max-connections); retry shortly.",
        [(b"retry-after", b"1")],
    )


def send_refused(
    connection: h11.Connection, stream: Stream, endpoint: Endpoint, refused: RefusedTarget
) -> None:
    logger.info("Relay proxy: refused %s:%d (%s)", endpoint.host, endpoint.port, refused)
    send_error(connection, stream, 403, str(refused))


def unreachable(endpoint: Endpoint, error: BaseException) -> str:
    """The 502 message for a destination the proxy could not reach (or verify)."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS to {endpoint.host} failed certificate verification ({error.verify_message})."
    return f"The relay could not reach {endpoint.host}:{endpoint.port} ({type(error).__name__})."

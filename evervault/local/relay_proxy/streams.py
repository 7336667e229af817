"""Byte streams of the relay proxy: the ``Stream`` protocol, TLS over memory BIOs, the raw pump.

An intercepted tunnel carries the app's inner TLS inside the TLS connection it opened to
the proxy; :mod:`ssl` cannot wrap an ``SSLSocket`` in a second one, so :class:`TlsStream`
runs the inner layer on memory BIOs over any :class:`Stream`. A tunnel to a host that is
not a destination is copied untouched both ways by :func:`pump`.
"""

from __future__ import annotations

import functools
import selectors
import socket
import ssl
from collections.abc import Callable
from typing import Any, Protocol

READ_CHUNK = 65536


class Stream(Protocol):
    """A blocking byte stream: a socket, a TLS socket, or TLS layered inside a tunnel."""

    def recv(self, size: int) -> bytes: ...

    def sendall(self, data: bytes) -> None: ...


class PrefixedStream:
    """A stream that first yields bytes already read past the end of the ``CONNECT``."""

    def __init__(self, prefix: bytes, stream: Stream) -> None:
        self._prefix = prefix
        self._stream = stream

    def recv(self, size: int) -> bytes:
        if self._prefix:
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        return self._stream.recv(size)

    def sendall(self, data: bytes) -> None:
        self._stream.sendall(data)


class TlsStream:
    """TLS over any :class:`Stream` (here: inside the app's TLS connection to the proxy).

    :mod:`ssl` cannot wrap an ``SSLSocket`` in a second ``SSLSocket``, so the inner layer
    runs on memory BIOs.
    """

    def __init__(self, transport: Stream, context: ssl.SSLContext, *, server_side: bool) -> None:
        self._transport = transport
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=server_side)
        self._eof = False

    def handshake(self) -> None:
        self._run(self._tls.do_handshake)

    def recv(self, size: int) -> bytes:
        try:
            data: bytes = self._run(functools.partial(self._tls.read, size))
            return data
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return b""

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self._run(functools.partial(self._tls.write, view))
            view = view[written:]

    def close(self) -> None:
        """Send our close_notify (best effort); the peer's is not waited for."""
        try:
            self._tls.unwrap()
        except ssl.SSLWantReadError:
            pass  # the close_notify is written; reading the peer's would only wait
        except (ssl.SSLError, ValueError):
            return
        try:
            self._flush()
        except OSError:
            return

    def _run(self, operation: Callable[[], Any]) -> Any:
        while True:
            try:
                result = operation()
            except ssl.SSLWantReadError:
                self._flush()
                if self._eof:
                    raise ssl.SSLEOFError("the tunnel closed in the middle of a TLS record") from None
                data = self._transport.recv(READ_CHUNK)
                if data:
                    self._incoming.write(data)
                else:
                    self._eof = True
                    self._incoming.write_eof()
                continue
            self._flush()
            return result

    def _flush(self) -> None:
        pending = self._outgoing.read()
        if pending:
            self._transport.sendall(pending)


def pump(client: ssl.SSLSocket, upstream: socket.socket, idle_timeout: float) -> None:
    """Copy bytes both ways until either side closes or nothing moves for ``idle_timeout``."""
    peers: dict[Any, tuple[Any, Any]] = {client: (client, upstream), upstream: (upstream, client)}
    with selectors.DefaultSelector() as selector:
        selector.register(client, selectors.EVENT_READ)
        selector.register(upstream, selectors.EVENT_READ)
        while True:
            # TLS may already hold decrypted bytes the socket no longer signals as readable.
            ready: list[Any]
            if client.pending():
                ready = [client]
            else:
                ready = [key.fileobj for key, _ in selector.select(idle_timeout)]
            if not ready:
                return
            for source in ready:
                src, dst = peers[source]
                data = src.recv(READ_CHUNK)
                if not data:
                    return
                dst.sendall(data)


def shutdown(sock: socket.socket) -> None:
    """Shut ``sock`` down both ways (a thread blocked on it returns); errors are ignored."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        return

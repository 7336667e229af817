"""Real loopback servers for the relay tests: an HTTPS echo server and a recording proxy."""

from __future__ import annotations

import json
import selectors
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import h11
import trustme
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

API_KEY = "ev:key:1:key_test:ti6aDz:relay-secret-value"
# A valid key of the app without the decrypt permission (say, one scoped to create-tokens).
NO_DECRYPT_KEY = "ev:key:1:key_nodecrypt:ti6aDz:another-secret"
APP_ID = "app_1234abcd5678"


def echo_handler(request: Request) -> Response:
    """Answer with what arrived: the body as text and the headers."""
    body = {"body": request.get_data(as_text=True), "headers": dict(request.headers)}
    return Response(json.dumps(body), content_type="application/json")


@contextmanager
def running_echo_server(ca: trustme.CA | None) -> Iterator[HTTPServer]:
    """An echo server on 127.0.0.1 (HTTPS with a ``localhost``/``127.0.0.1`` leaf when ``ca``)."""
    context = None
    if ca is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.expect_request("/echo").respond_with_handler(echo_handler)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


def echo_url(server: HTTPServer, host: str = "localhost", scheme: str = "https") -> str:
    return f"{scheme}://{host}:{server.port}/echo"


@dataclass
class SeenConnect:
    target: str
    headers: dict[str, str] = field(default_factory=dict)


class RecordingTunnelProxy:
    """A plain-HTTP ``CONNECT`` proxy standing for the caller's own proxy; records each CONNECT."""

    def __init__(self) -> None:
        self.seen: list[SeenConnect] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def close(self) -> None:
        self._stop.set()
        self._acceptor.join()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(10)
        with client:
            conn = h11.Connection(h11.SERVER)
            request = _next(conn, client)
            _next(conn, client)  # EndOfMessage
            assert isinstance(request, h11.Request)
            headers = {name.decode(): value.decode() for name, value in request.headers}
            self.seen.append(SeenConnect(request.target.decode(), headers))
            host, _, port = request.target.decode().rpartition(":")
            with socket.create_connection((host, int(port)), timeout=10) as upstream:
                client.sendall(conn.send(h11.Response(status_code=200, headers=[])) or b"")
                _pump(client, upstream)


def _next(conn: h11.Connection, sock: socket.socket) -> Any:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(sock.recv(65536))


def _pump(first: socket.socket, second: socket.socket) -> None:
    with selectors.DefaultSelector() as selector:
        selector.register(first, selectors.EVENT_READ, second)
        selector.register(second, selectors.EVENT_READ, first)
        while True:
            events = selector.select(10)
            if not events:
                return
            for key, _ in events:
                try:
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
                except OSError:
                    return

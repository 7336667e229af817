"""The emulator's Outbound Relay: a TLS-intercepting HTTPS forward proxy (wire-format 7.6).

An app connects over TLS (the proxy presents a :class:`~evervault.local.pki.LocalCA`
leaf for its own address) and sends ``CONNECT host:port``:

* for a configured destination domain the proxy answers ``200``, terminates the app's
  inner TLS with a leaf issued for ``host``, reads each HTTP/1.1 request with h11,
  decrypts every ev-string in its headers and body, forwards it to the real
  destination over verified TLS and streams the response back;
* any other destination is tunnelled untouched (raw bytes both ways).

Credentials: ``Proxy-Authorization`` holds the raw API key or ``Basic app:key``. When it
is on the ``CONNECT`` it is checked there (407 if wrong). Some SDKs send it only inside
the tunnel; for destination domains the proxy then checks it on every inner request,
before anything is forwarded, and strips it. A tunnel to a non-destination host can only
be authorised on the ``CONNECT``.

The server is thread-based (one daemon thread per connection, bounded), so it runs next
to an asyncio application such as the emulator's aiohttp server. Bad input gets a 4xx
answer and the connection is closed; nothing a client sends can stop the server.

Limits (:class:`ProxyLimits`): a client must be authenticated within ``auth_timeout``
seconds of connecting (TLS handshake and ``CONNECT`` included; with credentials only
inside the tunnel, its first inner request) or it is dropped. Unauthenticated clients
have their own ``max_pending`` slots; when they are full the oldest one is dropped, so
idle connections can never keep an authenticated client out. Authenticated tunnels
hold one of ``max_connections`` slots; beyond it a client gets a ``503`` at once. A
leaf certificate for the requested host is issued only after authentication; a
tunnel still waiting for credentials sees the certificate of the configured
destination it matched (``*.example.com`` for a wildcard), so unauthenticated clients
cannot make the CA issue a leaf per random host name.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import selectors
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol

import h11

from evervault.domain.decryption import Decryptor
from evervault.domain.errors import ConfigurationError, InvalidArgumentError
from evervault.domain.relay import DomainRule, Endpoint, RelayPolicy, normalise_host
from evervault.local.connection_limits import RESOURCE_ERRNOS, AcceptErrorLog
from evervault.local.pki import LocalCA
from evervault.local.relay_decryption import HOP_BY_HOP, decrypt_request, header_value

logger = logging.getLogger("evervault.local.relay")

READ_CHUNK = 65536
PROXY_REALM = b'Basic realm="Evervault Relay"'


@dataclass(frozen=True)
class ProxyLimits:
    """Bounds that keep one client from exhausting the emulator."""

    max_connections: int = 64  # authenticated tunnels
    max_pending: int = 64  # connections not yet authenticated (the oldest is dropped beyond)
    auth_timeout: float = 5.0  # from accept to an authenticated CONNECT (or first inner request)
    max_header_bytes: int = 64 * 1024
    max_body_bytes: int = 16 * 1024 * 1024
    handshake_timeout: float = 10.0
    idle_timeout: float = 60.0
    upstream_connect_timeout: float = 10.0
    upstream_read_timeout: float = 60.0
    accept_error_log_interval: float = 10.0

    def __post_init__(self) -> None:
        if self.max_connections < 1 or self.max_pending < 1:
            raise ConfigurationError("The relay needs at least one connection slot of each kind.")
        if not self.auth_timeout > 0 or not self.idle_timeout > 0:
            raise ConfigurationError("The relay's timeouts must be greater than 0 seconds.")


# The accept loop wakes this often to drop clients past their authentication deadline.
_SWEEP_INTERVAL = 0.1
# After accept() ran out of resources (EMFILE...), wait this long before the next try.
_ACCEPT_RETRY_DELAY = 0.1


class ClientConnection:
    """One accepted client: its current socket (raw, then TLS) and authentication deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.authenticated = False

    def drop(self) -> None:
        """Shut the socket down, so the worker blocked on it returns."""
        _shutdown(self.sock)


RequestDecryption = Callable[[list[tuple[bytes, bytes]], bytes], tuple[list[tuple[bytes, bytes]], bytes]]


class Stream(Protocol):
    """A blocking byte stream: a socket, a TLS socket, or TLS layered inside a tunnel."""

    def recv(self, size: int) -> bytes: ...

    def sendall(self, data: bytes) -> None: ...


class RelayProxy:
    """The relay proxy the emulator runs; ``start()`` returns its ``https://`` URL."""

    def __init__(
        self,
        *,
        decryptor: Decryptor,
        authorize: Callable[[str], bool],
        destinations: Callable[[], Sequence[str]],
        ca: LocalCA,
        upstream_ca_file: str | None = None,
        limits: ProxyLimits | None = None,
        decrypt: RequestDecryption | None = None,
    ) -> None:
        self._decryptor = decryptor
        # The emulator passes its DecryptPool's, which sends large requests to a worker process.
        self.decrypt_request = decrypt or functools.partial(decrypt_request, decryptor)
        self._authorize = authorize
        self._destinations = destinations
        self._ca = ca
        self._limits = limits or ProxyLimits()
        self._upstream_context = _upstream_context(upstream_ca_file)
        self._slots = threading.BoundedSemaphore(self._limits.max_connections)
        # Not yet authenticated, oldest first (their deadlines are in the same order).
        self._pending: OrderedDict[ClientConnection, None] = OrderedDict()
        self._accept_errors = AcceptErrorLog(self._limits.accept_error_log_interval, "Relay proxy")
        self.dropped_unauthenticated = 0
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._own_context: ssl.SSLContext | None = None
        self._acceptor: threading.Thread | None = None
        self._open: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self.url: str | None = None

    def __repr__(self) -> str:
        return f"RelayProxy(url={self.url!r})"

    def __enter__(self) -> RelayProxy:
        if self.url is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- lifecycle ---------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0 = any free port) and serve in background threads."""
        if self._listener is not None:
            raise ConfigurationError(
                "This RelayProxy is already running; stop() it before starting it again."
            )
        listener = socket.create_server((host, port))
        listener.settimeout(_SWEEP_INTERVAL)  # the accept loop re-checks deadlines this often
        self._listener = listener
        self._stopping.clear()
        names = ["127.0.0.1", "localhost", host]
        self._own_context = self._ca.server_context(names)
        bound_host, bound_port = listener.getsockname()[:2]
        self.url = f"https://{_url_host(bound_host)}:{bound_port}"
        self._acceptor = threading.Thread(target=self._accept_loop, name="relay-proxy-accept", daemon=True)
        self._acceptor.start()
        logger.info("Relay proxy listening on %s", self.url)
        return self.url

    def stop(self) -> None:
        """Stop accepting, close every open connection and wait for the worker threads."""
        self._stopping.set()
        if self._acceptor is not None:
            self._acceptor.join()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            sockets, workers = list(self._open), list(self._workers)
        for sock in sockets:
            _shutdown(sock)
        for worker in workers:
            worker.join(timeout=5)
        self._listener = None
        self._acceptor = None

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stopping.is_set():
            self._drop_expired()
            self._accept_errors.flush()
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError as error:
                if self._stopping.is_set():
                    return
                if error.errno in RESOURCE_ERRNOS:  # out of descriptors: log (rate-limited), back off
                    self._accept_errors.record(error)
                    self._stopping.wait(_ACCEPT_RETRY_DELAY)
                continue
            self._admit(client)

    def _admit(self, client: socket.socket) -> None:
        """Serve ``client`` on its own thread; if the unauthenticated slots are full, drop the oldest."""
        connection = ClientConnection(client, time.monotonic() + self._limits.auth_timeout)
        with self._lock:
            while len(self._pending) >= self._limits.max_pending:
                oldest, _ = self._pending.popitem(last=False)
                self.dropped_unauthenticated += 1
                oldest.drop()
            self._pending[connection] = None
        worker = threading.Thread(
            target=self._serve, args=(connection,), name="relay-proxy-conn", daemon=True
        )
        with self._lock:
            self._workers.add(worker)
        worker.start()

    def _drop_expired(self) -> None:
        """Drop the clients still unauthenticated past their deadline."""
        now = time.monotonic()
        with self._lock:
            while self._pending:
                oldest = next(iter(self._pending))
                if oldest.deadline > now:
                    break
                del self._pending[oldest]
                self.dropped_unauthenticated += 1
                oldest.drop()

    def authenticated(self, connection: ClientConnection) -> bool:
        """Move ``connection`` to an authenticated slot; ``False`` when none is free (answer 503)."""
        with self._lock:
            if connection.authenticated:
                return True
            if connection not in self._pending:
                return False  # dropped meanwhile (deadline passed, or evicted)
            del self._pending[connection]
            if not self._slots.acquire(blocking=False):
                return False
            connection.authenticated = True
        connection.sock.settimeout(self._limits.idle_timeout)
        return True

    def _serve(self, connection: ClientConnection) -> None:
        context = self._own_context
        assert context is not None
        client = connection.sock
        try:
            with self._tracked(client):
                client.settimeout(min(self._limits.handshake_timeout, self._limits.auth_timeout))
                tls = context.wrap_socket(client, server_side=True)
            # Wrapping detached ``client``: from here on, ``tls`` owns the descriptor.
            with self._lock:
                connection.sock = tls
            if connection not in self._pending:  # dropped during the handshake
                tls.close()
                return
            with self._tracked(tls), tls:
                tls.settimeout(self._limits.auth_timeout)
                Session(self, tls, connection).run()
        except (OSError, h11.ProtocolError) as error:
            logger.debug("Relay proxy connection ended: %s", type(error).__name__)
        except Exception:  # a bug must end this one connection, never the server
            logger.exception("Relay proxy: unexpected error on a connection")
        finally:
            client.close()
            with self._lock:
                self._workers.discard(threading.current_thread())
                self._pending.pop(connection, None)
                if connection.authenticated:
                    self._slots.release()

    @contextmanager
    def _tracked(self, sock: socket.socket) -> Iterator[socket.socket]:
        """Register ``sock`` so :meth:`stop` can shut it down to unblock its worker."""
        with self._lock:
            self._open.add(sock)
        try:
            yield sock
        finally:
            with self._lock:
                self._open.discard(sock)

    # --- used by sessions ----------------------------------------------------------------

    def is_authorised(self, credential: str) -> bool:
        try:
            return bool(self._authorize(credential))
        except Exception:  # a failing check refuses, it does not crash the connection
            logger.exception("Relay proxy: the authorize callback failed")
            return False

    def is_destination(self, endpoint: Endpoint) -> bool:
        policy, rejected = RelayPolicy().with_domains(self._destinations())
        if rejected:
            logger.warning("Relay proxy: ignoring %d unusable destination domain(s)", len(rejected))
        return policy.matches(endpoint)

    def leaf_context(self, names: Sequence[str]) -> ssl.SSLContext:
        return self._ca.server_context(names)

    def unauthenticated_leaf_names(self, endpoint: Endpoint) -> list[str]:
        """The names of the leaf for a tunnel not yet authenticated: the destination it matched.

        ``*.example.com`` for a wildcard destination (one label deep, as TLS wildcards are),
        so however many host names clients try, there is one leaf per configured destination.
        """
        for domain in self._destinations():
            try:
                rule = DomainRule.parse(domain)
            except InvalidArgumentError:
                continue  # unusable destinations are reported by is_destination
            if not rule.matches(endpoint):
                continue
            suffix = rule.host.lstrip(".")
            if not rule.wildcard or endpoint.host == suffix:
                return [endpoint.host]
            return ["*." + suffix]
        return [endpoint.host]

    @contextmanager
    def upstream(self, endpoint: Endpoint, *, tls: bool) -> Iterator[socket.socket]:
        """A connection to the destination (verified TLS when ``tls``), closed on exit."""
        sock = socket.create_connection(
            (endpoint.host, endpoint.port), timeout=self._limits.upstream_connect_timeout
        )
        try:
            sock.settimeout(self._limits.upstream_read_timeout)
            if tls:
                sock = self._upstream_context.wrap_socket(sock, server_hostname=endpoint.host)
            with self._tracked(sock):
                yield sock
        finally:
            sock.close()

    @property
    def limits(self) -> ProxyLimits:
        return self._limits

    @property
    def decryptor(self) -> Decryptor:
        return self._decryptor


# --- one client connection ----------------------------------------------------------------


class Session:
    """Reads the ``CONNECT``, then either intercepts or tunnels (one connection)."""

    def __init__(self, proxy: RelayProxy, tls: ssl.SSLSocket, connection: ClientConnection) -> None:
        self._proxy = proxy
        self._tls = tls
        self._connection = connection
        self._http = h11.Connection(h11.SERVER, max_incomplete_event_size=proxy.limits.max_header_bytes)

    def run(self) -> None:
        try:
            request = _read_request_head(self._http, self._tls)
        except h11.RemoteProtocolError:
            _send_error(self._http, self._tls, 400, "Malformed proxy request.")
            return
        if request is None:
            return
        if request.method != b"CONNECT":
            allow = [(b"allow", b"CONNECT")]
            _send_error(self._http, self._tls, 405, "This relay only accepts CONNECT.", allow)
            return
        endpoint = parse_connect_target(request.target)
        if endpoint is None:
            _send_error(self._http, self._tls, 400, "CONNECT needs a host:port target.")
            return
        self._connect(request, endpoint)

    def _connect(self, request: h11.Request, endpoint: Endpoint) -> None:
        credential = header_value(request.headers, b"proxy-authorization")
        authorised = credential is not None and self._proxy.is_authorised(credential_from_header(credential))
        intercept = self._proxy.is_destination(endpoint)
        # Without a credential on the CONNECT, only an intercepted tunnel can still be
        # authorised (on each inner request); a wrong credential is refused at once.
        if (credential is not None and not authorised) or (not intercept and not authorised):
            _send_proxy_auth_required(self._http, self._tls)
            return
        if not _finish_request(self._http, self._tls):
            return
        if authorised and not self._proxy.authenticated(self._connection):
            _send_busy(self._http, self._tls, self._proxy.limits.max_connections)
            return
        if intercept:
            logger.info("Relay proxy: intercepting %s:%d", endpoint.host, endpoint.port)
            self._accept_tunnel()
            Interceptor(self._proxy, endpoint, self._tunnel_stream(), self._connection).run()
        else:
            self._tunnel(endpoint)

    def _accept_tunnel(self) -> None:
        established = h11.Response(status_code=200, headers=[], reason=b"Connection established")
        _send(self._http, self._tls, established)

    def _tunnel_stream(self) -> Stream:
        leftover, _ = self._http.trailing_data
        return PrefixedStream(leftover, self._tls) if leftover else self._tls

    def _tunnel(self, endpoint: Endpoint) -> None:
        try:
            with self._proxy.upstream(endpoint, tls=False) as upstream:
                logger.info("Relay proxy: tunnelling %s:%d untouched", endpoint.host, endpoint.port)
                self._tunnel_through(upstream)
        except OSError as error:
            _send_error(self._http, self._tls, 502, _unreachable(endpoint, error))

    def _tunnel_through(self, upstream: socket.socket) -> None:
        self._accept_tunnel()
        leftover, _ = self._http.trailing_data
        if leftover:
            upstream.sendall(leftover)
        pump(self._tls, upstream, self._proxy.limits.idle_timeout)


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


# --- intercepted tunnels ------------------------------------------------------------------


class Interceptor:
    """Serves the app's requests inside an intercepted tunnel, one at a time."""

    def __init__(
        self, proxy: RelayProxy, endpoint: Endpoint, tunnel: Stream, connection: ClientConnection
    ) -> None:
        self._proxy = proxy
        self._endpoint = endpoint
        self._connection = connection
        self._authorised_tunnel = connection.authenticated
        # A leaf for the host itself only once authenticated (see the module docstring).
        names = [endpoint.host] if connection.authenticated else proxy.unauthenticated_leaf_names(endpoint)
        self._inner = TlsStream(tunnel, proxy.leaf_context(names), server_side=True)
        self._http = h11.Connection(h11.SERVER, max_incomplete_event_size=proxy.limits.max_header_bytes)

    def run(self) -> None:
        try:
            self._inner.handshake()
        except (ssl.SSLError, OSError) as error:
            host, reason = self._endpoint.host, type(error).__name__
            logger.info("Relay proxy: the app's TLS to %s failed (%s)", host, reason)
            return
        try:
            while self._exchange():
                self._http.start_next_cycle()
        finally:
            self._inner.close()

    def _exchange(self) -> bool:
        """Relay one request/response; ``True`` when the connection can carry another."""
        try:
            request = _read_request_head(self._http, self._inner)
            if request is None:
                return False
            body = _read_body(self._http, self._inner, self._proxy.limits.max_body_bytes)
        except h11.RemoteProtocolError:
            _send_error(self._http, self._inner, 400, "Malformed HTTP request.")
            return False
        except BodyTooLarge:
            _send_error(self._http, self._inner, 413, "The request body is larger than the relay accepts.")
            return False
        if not self._credential_ok(request):
            _send_proxy_auth_required(self._http, self._inner)
            return False
        if not self._proxy.authenticated(self._connection):
            _send_busy(self._http, self._inner, self._proxy.limits.max_connections)
            return False
        headers, body = self._proxy.decrypt_request(list(request.headers), body)
        # One upstream connection per request, so tell the destination not to keep it open.
        upstream_headers = [*headers, (b"connection", b"close")]
        forwarded = h11.Request(method=request.method, target=request.target, headers=upstream_headers)
        self._forward(forwarded, body)
        return self._http.our_state is h11.DONE and self._http.their_state is h11.DONE

    def _credential_ok(self, request: h11.Request) -> bool:
        credential = header_value(request.headers, b"proxy-authorization")
        if credential is None:
            return self._authorised_tunnel
        return self._proxy.is_authorised(credential_from_header(credential))

    def _forward(self, request: h11.Request, body: bytes) -> None:
        try:
            with self._proxy.upstream(self._endpoint, tls=True) as upstream:
                self._relay_response(upstream, request, body)
        except (OSError, h11.RemoteProtocolError) as error:
            # Once part of the response went back, closing the connection is the only honest
            # signal left; _send_error sends nothing in that state.
            _send_error(self._http, self._inner, 502, _unreachable(self._endpoint, error))
            if self._http.our_state is not h11.DONE:
                raise

    def _relay_response(self, upstream: socket.socket, request: h11.Request, body: bytes) -> None:
        """Send the request to the destination and stream its response back to the app."""
        client = h11.Connection(h11.CLIENT, max_incomplete_event_size=self._proxy.limits.max_header_bytes)
        _send(client, upstream, request)
        if body:
            _send(client, upstream, h11.Data(data=body))
        _send(client, upstream, h11.EndOfMessage())
        while True:
            event = _next_event(client, upstream)
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                headers = [(name, value) for name, value in event.headers if name not in HOP_BY_HOP]
                response = h11.Response(status_code=event.status_code, headers=headers, reason=event.reason)
                _send(self._http, self._inner, response)
            elif isinstance(event, h11.Data):
                _send(self._http, self._inner, h11.Data(data=event.data))
            elif isinstance(event, h11.EndOfMessage):
                _send(self._http, self._inner, h11.EndOfMessage())
                return
            else:
                raise h11.RemoteProtocolError("the destination closed the connection early")


# --- credentials and targets ------------------------------------------------------------------


def credential_from_header(value: str) -> str:
    """The API key in a ``Proxy-Authorization`` value: raw, or the password of ``Basic id:key``."""
    value = value.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() != "basic" or not rest.strip():
        return value
    try:
        decoded = base64.b64decode(rest.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return value
    _, separator, password = decoded.partition(":")
    return password if separator else decoded


def parse_connect_target(target: bytes) -> Endpoint | None:
    """``host:port`` or ``[v6]:port`` of a ``CONNECT`` request; ``None`` if malformed."""
    try:
        text = target.decode("ascii")
    except UnicodeDecodeError:
        return None
    host, separator, port = text.rpartition(":")
    if not separator or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    if host.startswith("["):
        if not host.endswith("]"):
            return None
    elif ":" in host:
        return None
    host = normalise_host(host)
    if not host or any(ch in host for ch in "/@?# \t"):
        return None
    return Endpoint(host, int(port))


# --- h11 plumbing ------------------------------------------------------------------------------


class BodyTooLarge(Exception):
    """The request body exceeded :attr:`ProxyLimits.max_body_bytes`."""


def _next_event(connection: h11.Connection, stream: Stream) -> Any:
    while True:
        event = connection.next_event()
        if event is not h11.NEED_DATA:
            return event
        connection.receive_data(stream.recv(READ_CHUNK))


def _send(connection: h11.Connection, stream: Stream, event: Any) -> None:
    data = connection.send(event)
    if data:
        stream.sendall(data)


def _read_request_head(connection: h11.Connection, stream: Stream) -> h11.Request | None:
    """The next request's head, or ``None`` when the client closed the connection."""
    try:
        event = _next_event(connection, stream)
    except (OSError, ssl.SSLError):
        return None
    if isinstance(event, h11.Request):
        return event
    if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
        return None
    raise h11.RemoteProtocolError(f"unexpected {type(event).__name__}")


def _read_body(connection: h11.Connection, stream: Stream, limit: int) -> bytes:
    if connection.they_are_waiting_for_100_continue:
        _send(connection, stream, h11.InformationalResponse(status_code=100, headers=[]))
    chunks: list[bytes] = []
    size = 0
    while True:
        event = _next_event(connection, stream)
        if isinstance(event, h11.Data):
            size += len(event.data)
            if size > limit:
                raise BodyTooLarge
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            return b"".join(chunks)
        else:
            raise h11.RemoteProtocolError("the request ended before its body")


def _finish_request(connection: h11.Connection, stream: Stream) -> bool:
    """Consume the (empty) rest of a CONNECT request; ``False`` if the client went away."""
    try:
        event = _next_event(connection, stream)
    except h11.RemoteProtocolError:
        _send_error(connection, stream, 400, "Malformed CONNECT request.")
        return False
    return isinstance(event, h11.EndOfMessage)


def _send_error(
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
        _send(connection, stream, h11.Response(status_code=status, headers=headers, reason=reason))
        _send(connection, stream, h11.Data(data=body))
        _send(connection, stream, h11.EndOfMessage())
    except (OSError, h11.LocalProtocolError) as error:
        logger.debug("Relay proxy: could not send a %d response (%s)", status, type(error).__name__)


def _send_proxy_auth_required(connection: h11.Connection, stream: Stream) -> None:
    _send_error(
        connection,
        stream,
        407,
        "Proxy-Authorization must carry the app's API key (raw, or Basic <app id>:<api key>).",
        [(b"proxy-authenticate", PROXY_REALM)],
    )


def _send_busy(connection: h11.Connection, stream: Stream, max_connections: int) -> None:
    _send_error(
        connection,
        stream,
        503,
        f"The relay already serves its maximum of {max_connections} authenticated connections "
        "(serve --relay-max-connections); retry shortly.",
        [(b"retry-after", b"1")],
    )


def _unreachable(endpoint: Endpoint, error: BaseException) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS to {endpoint.host} failed certificate verification ({error.verify_message})."
    return f"The relay could not reach {endpoint.host}:{endpoint.port} ({type(error).__name__})."


# --- streams -------------------------------------------------------------------------------------


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


# --- helpers ----------------------------------------------------------------------------------


def _upstream_context(upstream_ca_file: str | None) -> ssl.SSLContext:
    """System trust plus, optionally, a CA for local test destinations; always verifying."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    if upstream_ca_file is not None:
        try:
            context.load_verify_locations(cafile=upstream_ca_file)
        except OSError as error:  # also ssl.SSLError: a file that holds no certificate
            reason = error.strerror or type(error).__name__
            raise ConfigurationError(
                f"Cannot load the relay's upstream CA file {upstream_ca_file} ({reason}); "
                "pass a readable PEM file of CA certificates."
            ) from None
    return context


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        return

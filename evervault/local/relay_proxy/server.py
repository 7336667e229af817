"""The relay proxy's server: listening, accepting, one bounded worker thread per connection, stopping.

The server is thread-based (one daemon thread per connection, bounded by the slots of
:mod:`.slots`), so it runs next to an asyncio application such as the emulator's aiohttp
server. The accept loop wakes every ``_SWEEP_INTERVAL`` seconds to drop clients past their
authentication deadline; out of descriptors, it logs (rate-limited) and backs off. A bug on
one connection ends that connection, never the server.
"""

from __future__ import annotations

import functools
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager

import h11

from evervault.domain.decryption import Decryptor
from evervault.domain.errors import ConfigurationError
from evervault.domain.relay import Endpoint
from evervault.local.connection_limits import RESOURCE_ERRNOS, AcceptErrorLog
from evervault.local.pki import LocalCA
from evervault.local.relay_decryption import decrypt_request
from evervault.local.relay_proxy.context import RequestDecryption
from evervault.local.relay_proxy.policy import AccessPolicy
from evervault.local.relay_proxy.session import Session
from evervault.local.relay_proxy.slots import ClientConnection, ConnectionSlots, ProxyLimits
from evervault.local.relay_proxy.streams import shutdown
from evervault.local.relay_targets import ResolvedAddress, connect_to_any

logger = logging.getLogger("evervault.local.relay")

# The accept loop wakes this often to drop clients past their authentication deadline.
_SWEEP_INTERVAL = 0.1
# After accept() ran out of resources (EMFILE...), wait this long before the next try.
_ACCEPT_RETRY_DELAY = 0.1


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
        app_id: str,
        may_decrypt: Callable[[str], bool],
        allow_any_destination: bool = False,
        own_ports: Callable[[], Collection[int]] = frozenset,
    ) -> None:
        """``authorize(key)``: is it a key of app ``app_id``; ``may_decrypt(key)``: does it hold
        ``decrypt``. ``own_ports``: the emulator's other listening ports, never a tunnel target
        on this machine (the proxy's own port never is either)."""
        self._decryptor = decryptor
        # The emulator passes its DecryptPool's, which sends large requests to a worker process.
        self.decrypt_request: RequestDecryption = decrypt or functools.partial(decrypt_request, decryptor)
        self._own_ports = own_ports
        self._port: int | None = None  # where this proxy listens: never a tunnel target either
        self._policy = AccessPolicy(
            authorize=authorize,
            app_id=app_id,
            may_decrypt=may_decrypt,
            destinations=destinations,
            ca=ca,
            allow_any_destination=allow_any_destination,
            refused_ports=self._refused_ports,
        )
        self._ca = ca
        self._limits = limits or ProxyLimits()
        self._upstream_context = _upstream_context(upstream_ca_file)
        self._slots = ConnectionSlots(self._limits)
        self._accept_errors = AcceptErrorLog(self._limits.accept_error_log_interval, "Relay proxy")
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

    @property
    def dropped_unauthenticated(self) -> int:
        """How many clients were dropped before authenticating (deadline passed, or evicted)."""
        return self._slots.dropped_unauthenticated

    @property
    def allow_any_destination(self) -> bool:
        """Whether hosts that are not destinations are tunnelled untouched (else refused)."""
        return self._policy.allow_any_destination

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
        self._port = int(bound_port)
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
            shutdown(sock)
        for worker in workers:
            worker.join(timeout=5)
        self._listener = None
        self._acceptor = None

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stopping.is_set():
            self._slots.drop_expired()
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
        connection = self._slots.admit(client)
        worker = threading.Thread(
            target=self._serve, args=(connection,), name="relay-proxy-conn", daemon=True
        )
        with self._lock:
            self._workers.add(worker)
        worker.start()

    def _serve(self, connection: ClientConnection) -> None:
        context = self._own_context
        assert context is not None
        client = connection.sock
        try:
            with self._tracked(client):
                client.settimeout(min(self._limits.handshake_timeout, self._limits.auth_timeout))
                tls = context.wrap_socket(client, server_side=True)
            # Wrapping detached ``client``: from here on, ``tls`` owns the descriptor.
            if not self._slots.upgrade(connection, tls):  # dropped during the handshake
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
            self._slots.release(connection)

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

    # --- used by sessions (see ProxyContext) ----------------------------------------------

    def authenticated(self, connection: ClientConnection) -> bool:
        """Move ``connection`` to an authenticated slot; ``False`` when none is free (answer 503)."""
        return self._slots.authenticated(connection)

    def _refused_ports(self) -> Collection[int]:
        own = set() if self._port is None else {self._port}
        return own | set(self._own_ports())

    @contextmanager
    def upstream(
        self, endpoint: Endpoint, addresses: Sequence[ResolvedAddress], *, tls: bool
    ) -> Iterator[socket.socket]:
        """A connection to the destination's checked ``addresses`` (verified TLS when ``tls``)."""
        sock = connect_to_any(addresses, timeout=self._limits.upstream_connect_timeout)
        try:
            sock.settimeout(self._limits.upstream_read_timeout)
            if tls:
                sock = self._upstream_context.wrap_socket(sock, server_hostname=endpoint.host)
            with self._tracked(sock):
                yield sock
        finally:
            sock.close()

    @property
    def policy(self) -> AccessPolicy:
        return self._policy

    @property
    def limits(self) -> ProxyLimits:
        return self._limits

    @property
    def decryptor(self) -> Decryptor:
        return self._decryptor


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

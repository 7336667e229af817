"""The relay proxy's limits and connection slots: authentication deadlines, pending and busy.

A client must be authenticated within ``auth_timeout`` seconds of connecting or it is
dropped. Unauthenticated clients have their own ``max_pending`` slots; when they are full
the oldest one is dropped, so idle connections can never keep an authenticated client out.
Authenticated tunnels hold one of ``max_connections`` slots; beyond it a client gets a 503.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from evervault.domain.errors import ConfigurationError
from evervault.local.relay_proxy.streams import shutdown


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


class ClientConnection:
    """One accepted client: its current socket (raw, then TLS) and authentication deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.authenticated = False

    def drop(self) -> None:
        """Shut the socket down, so the worker blocked on it returns."""
        shutdown(self.sock)


class ConnectionSlots:
    """The pending (unauthenticated) clients, oldest first, and the authenticated slots."""

    def __init__(self, limits: ProxyLimits) -> None:
        self._limits = limits
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        # Not yet authenticated, oldest first (their deadlines are in the same order).
        self._pending: OrderedDict[ClientConnection, None] = OrderedDict()
        self._lock = threading.Lock()
        self.dropped_unauthenticated = 0

    def admit(self, client: socket.socket) -> ClientConnection:
        """A pending connection for ``client``; if the pending slots are full, drop the oldest."""
        connection = ClientConnection(client, time.monotonic() + self._limits.auth_timeout)
        with self._lock:
            while len(self._pending) >= self._limits.max_pending:
                oldest, _ = self._pending.popitem(last=False)
                self.dropped_unauthenticated += 1
                oldest.drop()
            self._pending[connection] = None
        return connection

    def drop_expired(self) -> None:
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

    def upgrade(self, connection: ClientConnection, tls: socket.socket) -> bool:
        """Record the TLS socket now owning the connection; ``False`` if it was dropped meanwhile."""
        with self._lock:
            connection.sock = tls
            return connection in self._pending

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

    def release(self, connection: ClientConnection) -> None:
        """The connection ended: free whichever slot it held."""
        with self._lock:
            self._pending.pop(connection, None)
            if connection.authenticated:
                self._slots.release()

"""What the per-connection code needs from the running proxy: the seam between server and sessions.

:class:`~.session.Session` and :class:`~.interception.Interceptor` see the proxy only
through :class:`ProxyContext`, which :class:`~.server.RelayProxy` implements, so they do not
import the server module (which imports them).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from evervault.domain.relay import Endpoint
from evervault.local.relay_proxy.policy import AccessPolicy
from evervault.local.relay_proxy.slots import ClientConnection, ProxyLimits
from evervault.local.relay_targets import ResolvedAddress

# (headers, body) -> (headers, body) with every ev-string decrypted: the interception hook.
RequestDecryption = Callable[[list[tuple[bytes, bytes]], bytes], tuple[list[tuple[bytes, bytes]], bytes]]


class ProxyContext(Protocol):
    """The running proxy, as one client connection uses it."""

    @property
    def policy(self) -> AccessPolicy: ...

    @property
    def limits(self) -> ProxyLimits: ...

    @property
    def decrypt_request(self) -> RequestDecryption: ...

    def authenticated(self, connection: ClientConnection) -> bool: ...

    def upstream(
        self, endpoint: Endpoint, addresses: Sequence[ResolvedAddress], *, tls: bool
    ) -> AbstractContextManager[socket.socket]: ...

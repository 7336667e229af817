"""One client connection: read the ``CONNECT``, authenticate, check the target, then intercept or tunnel.

When ``Proxy-Authorization`` is on the ``CONNECT`` it is checked there (407 if wrong);
without it only a tunnel to a destination domain can still be authorised, on each inner
request (see :mod:`.interception`). Decrypting needs a key with the ``decrypt``
permission: a valid key without it gets 403 for a destination and may only use raw
tunnels. An authenticated ``CONNECT`` has its target resolved and checked at once and takes
one of the authenticated slots (503 when none is free).
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Sequence

import h11

from evervault.domain.relay import Endpoint
from evervault.local.relay_decryption import header_value
from evervault.local.relay_proxy.context import ProxyContext
from evervault.local.relay_proxy.interception import Interceptor
from evervault.local.relay_proxy.messages import (
    finish_request,
    read_request_head,
    send,
    send_busy,
    send_error,
    send_proxy_auth_required,
    send_refused,
    unreachable,
)
from evervault.local.relay_proxy.policy import Access, parse_connect_target
from evervault.local.relay_proxy.slots import ClientConnection
from evervault.local.relay_proxy.streams import PrefixedStream, Stream, pump
from evervault.local.relay_targets import RefusedTarget, ResolvedAddress

logger = logging.getLogger("evervault.local.relay")


class Session:
    """Reads the ``CONNECT``, then either intercepts or tunnels (one connection)."""

    def __init__(self, proxy: ProxyContext, tls: ssl.SSLSocket, connection: ClientConnection) -> None:
        self._proxy = proxy
        self._tls = tls
        self._connection = connection
        self._http = h11.Connection(h11.SERVER, max_incomplete_event_size=proxy.limits.max_header_bytes)

    def run(self) -> None:
        try:
            request = read_request_head(self._http, self._tls)
        except h11.RemoteProtocolError:
            send_error(self._http, self._tls, 400, "Malformed proxy request.")
            return
        if request is None:
            return
        if request.method != b"CONNECT":
            allow = [(b"allow", b"CONNECT")]
            send_error(self._http, self._tls, 405, "This relay only accepts CONNECT.", allow)
            return
        endpoint = parse_connect_target(request.target)
        if endpoint is None:
            send_error(self._http, self._tls, 400, "CONNECT needs a host:port target.")
            return
        self._connect(request, endpoint)

    def _connect(self, request: h11.Request, endpoint: Endpoint) -> None:
        policy = self._proxy.policy
        access = policy.access(header_value(request.headers, b"proxy-authorization"))
        intercept = policy.is_destination(endpoint)
        # Without a credential on the CONNECT, only an intercepted tunnel can still be
        # authorised (on each inner request); a wrong credential is refused at once.
        if access is Access.REFUSED or (access is Access.ABSENT and not intercept):
            send_proxy_auth_required(self._http, self._tls)
            return
        refusal = policy.refusal(access, intercept=intercept)
        if refusal is not None:
            send_error(self._http, self._tls, 403, refusal)
            return
        addresses = None
        if access is not Access.ABSENT:  # authenticated: check the target now, on the CONNECT
            try:
                addresses = policy.resolve(endpoint)
            except RefusedTarget as refused:
                send_refused(self._http, self._tls, endpoint, refused)
                return
            except (OSError, UnicodeError) as error:
                if not intercept:
                    send_error(self._http, self._tls, 502, unreachable(endpoint, error))
                    return
                # A destination that does not resolve still gets its tunnel, and a 502 for each
                # request inside it (resolved again then), as when it is down.
        if not finish_request(self._http, self._tls):
            return
        if access is not Access.ABSENT and not self._proxy.authenticated(self._connection):
            send_busy(self._http, self._tls, self._proxy.limits.max_connections)
            return
        if intercept:
            logger.info("Relay proxy: intercepting %s:%d", endpoint.host, endpoint.port)
            self._accept_tunnel()
            tunnel = self._tunnel_stream()
            Interceptor(self._proxy, endpoint, tunnel, self._connection, access, addresses).run()
        elif addresses is not None:
            self._tunnel(endpoint, addresses)

    def _accept_tunnel(self) -> None:
        established = h11.Response(status_code=200, headers=[], reason=b"Connection established")
        send(self._http, self._tls, established)

    def _tunnel_stream(self) -> Stream:
        leftover, _ = self._http.trailing_data
        return PrefixedStream(leftover, self._tls) if leftover else self._tls

    def _tunnel(self, endpoint: Endpoint, addresses: Sequence[ResolvedAddress]) -> None:
        try:
            with self._proxy.upstream(endpoint, addresses, tls=False) as upstream:
                logger.info("Relay proxy: tunnelling %s:%d untouched", endpoint.host, endpoint.port)
                self._tunnel_through(upstream)
        except OSError as error:
            send_error(self._http, self._tls, 502, unreachable(endpoint, error))

    def _tunnel_through(self, upstream: socket.socket) -> None:
        self._accept_tunnel()
        leftover, _ = self._http.trailing_data
        if leftover:
            upstream.sendall(leftover)
        pump(self._tls, upstream, self._proxy.limits.idle_timeout)

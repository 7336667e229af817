"""Intercepted tunnels: the app's requests inside its inner TLS, decrypted and forwarded.

For a destination domain the proxy terminates the app's inner TLS (over memory BIOs, see
:mod:`.streams`) with a leaf for the host, reads each HTTP/1.1 request with h11, checks the
credential (on the ``CONNECT``, or on every inner request when the SDK sends it only inside
the tunnel, where it is stripped), decrypts every ev-string in headers and body through the
proxy's decryption hook, forwards the request to the real destination over verified TLS and
streams the response back without its hop-by-hop headers.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Sequence

import h11

from evervault.domain.relay import Endpoint
from evervault.local.relay_decryption import HOP_BY_HOP, header_value
from evervault.local.relay_proxy.context import ProxyContext
from evervault.local.relay_proxy.messages import (
    NO_DECRYPT,
    BodyTooLarge,
    next_event,
    read_body,
    read_request_head,
    send,
    send_busy,
    send_error,
    send_proxy_auth_required,
    unreachable,
)
from evervault.local.relay_proxy.policy import Access, resolve_or_answer
from evervault.local.relay_proxy.slots import ClientConnection
from evervault.local.relay_proxy.streams import Stream, TlsStream
from evervault.local.relay_targets import ResolvedAddress

logger = logging.getLogger("evervault.local.relay")


class Interceptor:
    """Serves the app's requests inside an intercepted tunnel, one at a time."""

    def __init__(
        self,
        proxy: ProxyContext,
        endpoint: Endpoint,
        tunnel: Stream,
        connection: ClientConnection,
        access: Access,
        addresses: tuple[ResolvedAddress, ...] | None,
    ) -> None:
        self._proxy = proxy
        self._endpoint = endpoint
        self._connection = connection
        self._tunnel_access = access
        # Resolved and checked once per tunnel (on the CONNECT, or at the first authorised
        # request when the key comes inside): every request goes to the addresses checked.
        self._addresses = addresses
        # A leaf for the host itself only once authenticated: a tunnel still waiting for
        # credentials sees the certificate of the destination it matched, so unauthenticated
        # clients cannot make the CA issue a leaf per random host name.
        policy = proxy.policy
        names = [endpoint.host] if connection.authenticated else policy.unauthenticated_leaf_names(endpoint)
        self._inner = TlsStream(tunnel, policy.leaf_context(names), server_side=True)
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
            request = read_request_head(self._http, self._inner)
            if request is None:
                return False
            body = read_body(self._http, self._inner, self._proxy.limits.max_body_bytes)
        except h11.RemoteProtocolError:
            send_error(self._http, self._inner, 400, "Malformed HTTP request.")
            return False
        except BodyTooLarge:
            send_error(self._http, self._inner, 413, "The request body is larger than the relay accepts.")
            return False
        addresses = self._authorised_addresses(request)
        if addresses is None:
            return False
        if not self._proxy.authenticated(self._connection):
            send_busy(self._http, self._inner, self._proxy.limits.max_connections)
            return False
        headers, body = self._proxy.decrypt_request(list(request.headers), body)
        # One upstream connection per request, so tell the destination not to keep it open.
        upstream_headers = [*headers, (b"connection", b"close")]
        forwarded = h11.Request(method=request.method, target=request.target, headers=upstream_headers)
        self._forward(forwarded, body, addresses)
        return self._http.our_state is h11.DONE and self._http.their_state is h11.DONE

    def _authorised_addresses(self, request: h11.Request) -> tuple[ResolvedAddress, ...] | None:
        """Where to forward ``request``, or ``None`` after answering 407, 403 or 502."""
        header = header_value(request.headers, b"proxy-authorization")
        access = self._tunnel_access if header is None else self._proxy.policy.access(header)
        if access in (Access.ABSENT, Access.REFUSED):
            send_proxy_auth_required(self._http, self._inner)
            return None
        if access is not Access.DECRYPT:
            send_error(self._http, self._inner, 403, NO_DECRYPT)
            return None
        if self._addresses is None:
            self._addresses = resolve_or_answer(self._proxy.policy, self._endpoint, self._http, self._inner)
        return self._addresses

    def _forward(self, request: h11.Request, body: bytes, addresses: Sequence[ResolvedAddress]) -> None:
        try:
            with self._proxy.upstream(self._endpoint, addresses, tls=True) as upstream:
                self._relay_response(upstream, request, body)
        except (OSError, h11.RemoteProtocolError) as error:
            # Once part of the response went back, closing the connection is the only honest
            # signal left; send_error sends nothing in that state.
            send_error(self._http, self._inner, 502, unreachable(self._endpoint, error))
            if self._http.our_state is not h11.DONE:
                raise

    def _relay_response(self, upstream: socket.socket, request: h11.Request, body: bytes) -> None:
        """Send the request to the destination and stream its response back to the app."""
        client = h11.Connection(h11.CLIENT, max_incomplete_event_size=self._proxy.limits.max_header_bytes)
        send(client, upstream, request)
        if body:
            send(client, upstream, h11.Data(data=body))
        send(client, upstream, h11.EndOfMessage())
        while True:
            event = next_event(client, upstream)
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                headers = [(name, value) for name, value in event.headers if name not in HOP_BY_HOP]
                response = h11.Response(status_code=event.status_code, headers=headers, reason=event.reason)
                send(self._http, self._inner, response)
            elif isinstance(event, h11.Data):
                send(self._http, self._inner, h11.Data(data=event.data))
            elif isinstance(event, h11.EndOfMessage):
                send(self._http, self._inner, h11.EndOfMessage())
                return
            else:
                raise h11.RemoteProtocolError("the destination closed the connection early")

"""urllib3: a ``PoolManager`` that sends matching ``https`` requests through the Outbound Relay.

:class:`RelayPoolManager` is a drop-in ``urllib3.PoolManager``: requests whose host is a
decryption domain are tunnelled through the relay (``CONNECT`` carrying
``Proxy-Authorization: <api key>``, TLS verified against the relay CA); every other request
uses this manager's own settings, exactly as a plain ``PoolManager`` would, and never
carries the key. Redirects are followed hop by hop, each hop routed on its own.

Which requests are relayed is the :class:`~evervault.ports.relay.RelayRouter`'s decision:
this module knows only the routes it hands out.
"""

from __future__ import annotations

import threading
from typing import Any

import urllib3
from urllib3.connectionpool import HTTPConnectionPool

from evervault.ports.relay import RelayRoute, RelayRouter


def relay_proxy_manager(route: RelayRoute, **connection_pool_kw: Any) -> urllib3.ProxyManager:
    """A ``ProxyManager`` that tunnels through the relay; the credential goes on ``CONNECT`` only."""
    return urllib3.ProxyManager(
        route.proxy_url,
        proxy_headers=dict(route.proxy_headers),
        proxy_ssl_context=route.ssl_context,
        ssl_context=route.ssl_context,
        cert_reqs="CERT_REQUIRED",
        **connection_pool_kw,
    )


class RelayProxyManagers:
    """One ``ProxyManager`` per relay route, replaced when the relay CA is refreshed."""

    def __init__(self, **connection_pool_kw: Any) -> None:
        self._lock = threading.Lock()
        self._current: tuple[RelayRoute, urllib3.ProxyManager] | None = None
        self._pool_kw = connection_pool_kw

    def for_route(self, route: RelayRoute) -> urllib3.ProxyManager:
        current = self._current
        if current is not None and same_route(current[0], route):
            return current[1]
        with self._lock:
            if self._current is None or not same_route(self._current[0], route):
                if self._current is not None:
                    self._current[1].clear()
                self._current = (route, relay_proxy_manager(route, **self._pool_kw))
            return self._current[1]

    def clear(self) -> None:
        with self._lock:
            current, self._current = self._current, None
        if current is not None:
            current[1].clear()


class RelayPoolManager(urllib3.PoolManager):
    """A ``PoolManager`` that relays the requests ``router`` routes through the relay.

    ``router`` is asked for every connection, with the connection's origin; any other
    request uses this manager's own settings. (``evervault.RelayPoolManager`` is this
    class with the enabled relay as its default router.)
    """

    def __init__(
        self,
        num_pools: int = 10,
        headers: dict[str, str] | None = None,
        *,
        router: RelayRouter,
        **connection_pool_kw: Any,
    ) -> None:
        super().__init__(num_pools, headers, **connection_pool_kw)
        self._router = router
        self._relay_managers = RelayProxyManagers(timeout=connection_pool_kw.get("timeout"))

    def connection_from_host(
        self,
        host: str | None,
        port: int | None = None,
        scheme: str | None = "http",
        pool_kwargs: dict[str, Any] | None = None,
    ) -> HTTPConnectionPool:
        route = self._router.route(_origin(scheme, host, port)) if host else None
        if route is None:
            return super().connection_from_host(host, port, scheme, pool_kwargs)
        # The caller's TLS options do not apply: the relay terminates TLS with its own CA.
        return self._relay_managers.for_route(route).connection_from_host(host, port, scheme)

    def clear(self) -> None:
        super().clear()
        self._relay_managers.clear()


def _origin(scheme: str | None, host: str, port: int | None) -> str:
    bracketed = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{scheme or 'http'}://{bracketed}" + (f":{port}" if port else "") + "/"


def same_route(first: RelayRoute, second: RelayRoute) -> bool:
    return first.proxy_url == second.proxy_url and first.ssl_context is second.ssl_context

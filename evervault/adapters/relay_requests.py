"""requests: send matching ``https`` requests through the Outbound Relay, reversibly.

The hook sits at the transport-adapter depth: ``requests.adapters.HTTPAdapter.send``
is replaced by a function that asks the installed
:class:`~evervault.ports.relay.RelayRouter` (the enabled ``OutboundRelay``) where the
request goes. That one
attribute covers module-level calls (``requests.post``), Sessions created before or after
enabling, and adapters subclassing ``HTTPAdapter``.

* Matching requests are sent by a dedicated relay adapter: a ``CONNECT`` to the relay
  carrying ``Proxy-Authorization: <api key>`` (never a header of the request itself), TLS
  verified against the relay CA. The caller's ``verify``/``cert``/``proxies`` cannot apply
  to them, because the relay terminates their TLS.
* Every other request is passed to the original ``send`` with exactly the caller's
  arguments, so its proxies, verify and cert settings are untouched.
* Adapters with a true ``never_relayed`` attribute (the attested sessions' adapter) are
  never relayed: the relay terminates TLS, so their connections could not be attested.

:func:`uninstall` puts the original function object back, so ``HTTPAdapter.send`` is again
exactly what it was. Installing, switching relays and uninstalling are thread-safe: the
hook reads one module-level reference per request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool

from evervault.adapters.relay_urllib3 import RelayProxyManagers, same_route
from evervault.ports.relay import RelayRoute, RelayRouter

logger = logging.getLogger("evervault.relay")

SendFunction = Callable[..., Response]

_lock = threading.Lock()
_router: _Routing | None = None
# HTTPAdapter.send as found when the hook was installed; kept after uninstalling so a
# request that entered the hook just before uninstall still completes.
_original_send: SendFunction = HTTPAdapter.send


class RelayHTTPAdapter(HTTPAdapter):
    """Sends every request it gets through the relay described by a :class:`RelayRoute`."""

    def __init__(self, managers: RelayProxyManagers, route: RelayRoute, send: SendFunction) -> None:
        super().__init__()
        self._managers = managers
        self.route = route
        self._send = send

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> Response:
        # verify/cert/proxies are the relay's: the relay CA verifies, no client certificate.
        return self._send(self, request, stream=stream, timeout=timeout, verify=True, cert=None, proxies=None)

    def get_connection_with_tls_context(
        self,
        request: PreparedRequest,
        verify: Any,
        proxies: Mapping[str, str] | None = None,
        cert: Any = None,
    ) -> HTTPConnectionPool:
        return self._managers.for_route(self.route).connection_from_url(str(request.url))

    def get_connection(self, url: str, proxies: Mapping[str, str] | None = None) -> HTTPConnectionPool:
        """What requests < 2.32 calls instead of ``get_connection_with_tls_context``."""
        return self._managers.for_route(self.route).connection_from_url(url)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        """The pool's ``ssl_context`` (default trust plus relay CA) already verifies."""


class _Routing:
    """Asks the router per request; owns the relay's connection pools."""

    def __init__(self, router: RelayRouter) -> None:
        self.router = router
        self._managers = RelayProxyManagers()
        self._adapter: RelayHTTPAdapter | None = None
        self._lock = threading.Lock()

    def adapter_for(self, url: str) -> RelayHTTPAdapter | None:
        route = self.router.route(url)
        if route is None:
            return None
        adapter = self._adapter
        if adapter is None or not same_route(adapter.route, route):
            with self._lock:
                adapter = self._adapter = RelayHTTPAdapter(self._managers, route, _original_send)
        return adapter

    def close(self) -> None:
        self._managers.clear()


def _relaying_send(
    self: HTTPAdapter,
    request: PreparedRequest,
    stream: bool = False,
    timeout: Any = None,
    verify: Any = True,
    cert: Any = None,
    proxies: Mapping[str, str] | None = None,
) -> Response:
    router = _router
    # Adapters that attest their connections (attested sessions) declare ``never_relayed``:
    # the relay terminates TLS, so a relayed request would reach the enclave unattested.
    adapter = None
    if router is not None and not getattr(self, "never_relayed", False):
        adapter = router.adapter_for(str(request.url))
    if adapter is None:
        return _original_send(
            self, request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
        )
    return adapter.send(request, stream=stream, timeout=timeout)


def install(router: RelayRouter) -> None:
    """Route ``requests`` as ``router`` decides (replacing any router installed before)."""
    global _router, _original_send
    with _lock:
        current = HTTPAdapter.__dict__["send"]
        if current is not _relaying_send:
            _original_send = current
            HTTPAdapter.send = _relaying_send  # type: ignore[method-assign]
        previous, _router = _router, _Routing(router)
    if previous is not None:
        previous.close()


def uninstall() -> None:
    """Restore the original ``HTTPAdapter.send`` object; idempotent."""
    global _router
    with _lock:
        previous, _router = _router, None
        current = HTTPAdapter.__dict__["send"]
        if current is _relaying_send:
            HTTPAdapter.send = _original_send  # type: ignore[method-assign]
        elif current is not _original_send:
            # Someone patched send after us: restoring would undo their change. Our hook,
            # still in their chain, now passes everything through.
            logger.warning("Outbound Relay: HTTPAdapter.send was replaced by other code; left as is")
    if previous is not None:
        previous.close()


def is_installed() -> bool:
    return HTTPAdapter.__dict__["send"] is _relaying_send

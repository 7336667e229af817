"""Outbound Relay wiring: the process-wide enabled relay and the hooks that route through it.

:func:`enable_outbound_relay` builds an :class:`~evervault.services.relay.OutboundRelay`
from a client's settings, starts it, and installs it as the router of the HTTP hooks:
``requests`` process-wide (when ``requests`` is installed) and one ``aiohttp.ClientSession``
when given. :func:`disable_outbound_relay` undoes exactly that. urllib3 users opt in per
manager with :class:`RelayPoolManager`, which by default follows whichever relay is enabled
at request time (:data:`ENABLED_RELAY`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evervault.adapters import relay_urllib3
from evervault.domain.errors import InvalidArgumentError
from evervault.ports.relay import RelayRoute, RelayRouter
from evervault.services.client import Client
from evervault.services.relay import OutboundRelay

if TYPE_CHECKING:
    from evervault.adapters.relay_aiohttp import AiohttpRelay

__all__ = [
    "ENABLED_RELAY",
    "OutboundRelay",
    "RelayPoolManager",
    "active_relay",
    "disable_outbound_relay",
    "enable_outbound_relay",
    "outbound_relay_for",
]

logger = logging.getLogger("evervault.relay")


@dataclass
class _Enabled:
    client: Client
    relay: OutboundRelay
    requests_installed: bool
    aiohttp: AiohttpRelay | None


_state_lock = threading.Lock()
_enabled: _Enabled | None = None


def outbound_relay_for(
    client: Client,
    decryption_domains: Iterable[str] | None = None,
    debug_requests: bool = False,
    clock: Callable[[], float] = time.time,
) -> OutboundRelay:
    """An :class:`OutboundRelay` (not started) for ``client``'s app, credential and endpoints."""
    config = client.config
    return OutboundRelay(
        client,
        api_key=config.api_key,
        tunnel_url=config.relay.tunnel_url,
        cert_url=config.relay.cert_url,
        api_url=config.api_url,
        decryption_domains=decryption_domains,
        debug_requests=debug_requests,
        clock=clock,
    )


def enable_outbound_relay(
    client: Client,
    decryption_domains: Iterable[str] | None = None,
    debug_requests: bool = False,
    client_session: Any = None,
) -> OutboundRelay:
    """Relay matching ``https`` requests made with ``requests`` (and ``client_session``).

    With ``decryption_domains`` those domains are used; without, the app's Outbound Relay
    configuration is fetched and polled. Enabling again replaces the previous setup.
    """
    if decryption_domains is not None and isinstance(decryption_domains, (str, bytes)):
        raise InvalidArgumentError(
            "decryption_domains must be a list of host names such as ['api.example.com'], "
            "not a single string."
        )
    relay = outbound_relay_for(client, decryption_domains, debug_requests)
    session_relay = _session_relay(client_session, relay)  # validates before any thread starts
    relay.start()
    global _enabled
    try:
        with _state_lock:
            previous, _enabled = _enabled, _install(client, relay, session_relay)
    except BaseException:
        relay.stop()
        raise
    if previous is not None:
        _uninstall(previous, keep_requests=True)
    return relay


def disable_outbound_relay(client: Client | None = None) -> None:
    """Undo :func:`enable_outbound_relay`: original ``requests``/session behaviour, no poller.

    Without ``client`` the active relay is disabled whichever client enabled it; with one,
    only if that client enabled it (so re-initialising can drop the old client's relay).
    Calling it when nothing is enabled does nothing.
    """
    global _enabled
    with _state_lock:
        previous = _enabled
        if previous is None or (client is not None and previous.client is not client):
            return
        _enabled = None
    _uninstall(previous, keep_requests=False)


def active_relay() -> OutboundRelay | None:
    enabled = _enabled
    return enabled.relay if enabled is not None else None


class _EnabledRelayRouter:
    """The :class:`RelayRouter` that follows whichever relay is enabled at request time."""

    def route(self, url: str) -> RelayRoute | None:
        relay = active_relay()
        return relay.route(url) if relay is not None else None

    def __repr__(self) -> str:
        return "<the enabled Outbound Relay>"


ENABLED_RELAY: RelayRouter = _EnabledRelayRouter()


class RelayPoolManager(relay_urllib3.RelayPoolManager):
    """A ``urllib3.PoolManager`` that relays requests to decryption domains.

    ``relay`` is the :class:`~evervault.services.relay.OutboundRelay` returned by
    ``enable_outbound_relay`` (or any :class:`~evervault.ports.relay.RelayRouter`); when
    omitted, whichever relay is enabled at request time is used (none enabled: every
    request goes out directly).
    """

    def __init__(
        self,
        relay: RelayRouter | None = None,
        num_pools: int = 10,
        headers: dict[str, str] | None = None,
        **connection_pool_kw: Any,
    ) -> None:
        router = ENABLED_RELAY if relay is None else relay
        super().__init__(num_pools, headers, router=router, **connection_pool_kw)


def _session_relay(client_session: Any, relay: OutboundRelay) -> AiohttpRelay | None:
    if client_session is None:
        return None
    from evervault.adapters.relay_aiohttp import AiohttpRelay

    return AiohttpRelay(client_session, relay)


def _install(client: Client, relay: OutboundRelay, session_relay: AiohttpRelay | None) -> _Enabled:
    requests_installed = _install_requests(relay)
    if session_relay is not None:
        session_relay.install()
    return _Enabled(client, relay, requests_installed, session_relay)


def _install_requests(relay: OutboundRelay) -> bool:
    try:
        from evervault.adapters import relay_requests
    except ImportError:  # requests is optional; nothing to route then
        logger.debug("Outbound Relay: requests is not installed, only aiohttp/urllib3 can be relayed")
        return False
    relay_requests.install(relay)
    return True


def _uninstall(enabled: _Enabled, *, keep_requests: bool) -> None:
    if enabled.aiohttp is not None:
        enabled.aiohttp.uninstall()
    if enabled.requests_installed and not keep_requests:
        from evervault.adapters import relay_requests

        relay_requests.uninstall()
    enabled.relay.stop()

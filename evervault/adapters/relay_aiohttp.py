"""aiohttp: relay one ``ClientSession``'s matching ``https`` requests, reversibly.

Only the session given to ``enable_outbound_relay(client_session=...)`` is affected: its
request method is wrapped (as an instance attribute, so no other session and not the class
change). A matching request gets ``proxy=<relay URL>``, ``proxy_headers`` carrying the
API key (sent on the ``CONNECT`` only) and ``ssl=<relay CA context>``; every other request
keeps exactly the caller's arguments. A redirect from a relayed request is followed through
the relay, which tunnels non-destination hosts untouched; the key only ever reaches the relay.
aiohttp needs Python 3.11+ for TLS inside an HTTPS proxy connection.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from yarl import URL

from evervault.domain.errors import UnsupportedTypeError
from evervault.services.relay import OutboundRelay

_MISSING = object()
# Per-request TLS/proxy options of aiohttp that the relay's settings replace.
_REPLACED_OPTIONS = ("proxy_auth", "verify_ssl", "ssl_context", "fingerprint")

RequestMethod = Callable[..., Awaitable[aiohttp.ClientResponse]]


class AiohttpRelay:
    """The relay hook of one ``aiohttp.ClientSession``."""

    def __init__(self, session: aiohttp.ClientSession, relay: OutboundRelay) -> None:
        if not isinstance(session, aiohttp.ClientSession):
            raise UnsupportedTypeError(
                f"client_session must be an aiohttp.ClientSession, not {type(session).__name__}."
            )
        self._session = session
        self._relay = relay
        self._previous: Any = _MISSING
        self._wrapper: RequestMethod | None = None

    def install(self) -> None:
        if sys.version_info < (3, 11):
            warnings.warn(
                "Outbound Relay for aiohttp needs Python 3.11 or later (TLS inside an HTTPS proxy "
                "connection); relayed requests of this session will fail on this version.",
                RuntimeWarning,
                stacklevel=3,
            )
        attributes = vars(self._session)
        self._previous = attributes.get("_request", _MISSING)
        original: RequestMethod = self._session._request
        relay = self._relay
        session = self._session

        async def relayed_request(method: str, str_or_url: Any, **kwargs: Any) -> aiohttp.ClientResponse:
            route = relay.route(str(_absolute(session, str_or_url)))
            if route is not None:
                for option in _REPLACED_OPTIONS:
                    kwargs.pop(option, None)
                kwargs.update(
                    proxy=route.proxy_url, proxy_headers=dict(route.proxy_headers), ssl=route.ssl_context
                )
            return await original(method, str_or_url, **kwargs)

        self._wrapper = relayed_request
        # Writing the instance dict directly skips ClientSession.__setattr__'s debug warning.
        attributes["_request"] = relayed_request

    def uninstall(self) -> None:
        attributes = vars(self._session)
        if self._wrapper is None or attributes.get("_request") is not self._wrapper:
            return
        if self._previous is _MISSING:
            del attributes["_request"]
        else:
            attributes["_request"] = self._previous
        self._wrapper = None


def _absolute(session: aiohttp.ClientSession, str_or_url: Any) -> URL:
    url = URL(str_or_url)
    base = getattr(session, "_base_url", None)
    if not url.absolute and isinstance(base, URL):
        return base.join(url)
    return url

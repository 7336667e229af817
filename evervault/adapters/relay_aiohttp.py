"""aiohttp: relay one ``ClientSession``'s matching ``https`` requests, reversibly, hop by hop.

Only the session given to ``enable_outbound_relay(client_session=...)`` is affected: the
factory it builds each outgoing ``ClientRequest`` with (``ClientSession._request_class``,
an instance attribute, so no other session and not the class change) is wrapped. aiohttp
builds one ``ClientRequest`` per hop of a redirect chain, so every hop is routed on its
own URL, exactly as the ``requests`` and ``urllib3`` hooks do:

* a hop whose URL matches gets ``proxy=<relay URL>``, ``proxy_headers`` carrying the API
  key (sent on the ``CONNECT`` only) and ``ssl=<relay CA context>``;
* every other hop keeps exactly the caller's arguments: its ``ssl=``, ``proxy=`` and the
  session's connector. A redirect from a relayed host to a non-relayed one therefore leaves
  the relay, and the caller's own TLS settings verify it.

aiohttp itself still follows the redirects (history, cookies, credential stripping across
origins, body replay for 307/308, cumulative timeout). aiohttp needs Python 3.11+ for TLS
inside an HTTPS proxy connection.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from evervault.domain.errors import UnsupportedTypeError
from evervault.ports.relay import RelayRouter

_MISSING = object()


class AiohttpRelay:
    """The relay hook of one ``aiohttp.ClientSession``: ``router`` decides each hop."""

    def __init__(self, session: aiohttp.ClientSession, router: RelayRouter) -> None:
        if not isinstance(session, aiohttp.ClientSession):
            raise UnsupportedTypeError(
                f"client_session must be an aiohttp.ClientSession, not {type(session).__name__}."
            )
        self._session = session
        self._router = router
        self._previous: Any = _MISSING
        self._wrapper: Any = None

    def install(self) -> None:
        if sys.version_info < (3, 11):
            warnings.warn(
                "Outbound Relay for aiohttp needs Python 3.11 or later (TLS inside an HTTPS proxy "
                "connection); relayed requests of this session will fail on this version.",
                RuntimeWarning,
                stacklevel=3,
            )
        attributes = vars(self._session)
        self._previous = attributes.get("_request_class", _MISSING)
        original: Any = self._session._request_class
        router = self._router

        def relayed_request(method: str, url: URL, **options: Any) -> Any:
            # Called once per hop, with the hop's URL: route each hop on its own.
            route = router.route(str(url))
            if route is not None:
                options.update(
                    proxy=URL(route.proxy_url),
                    proxy_auth=None,
                    proxy_headers=CIMultiDict(route.proxy_headers),
                    ssl=route.ssl_context,
                )
            return original(method, url, **options)

        self._wrapper = relayed_request
        # Writing the instance dict directly skips ClientSession.__setattr__'s debug warning.
        attributes["_request_class"] = relayed_request

    def uninstall(self) -> None:
        attributes = vars(self._session)
        if self._wrapper is None or attributes.get("_request_class") is not self._wrapper:
            return
        if self._previous is _MISSING:
            del attributes["_request_class"]
        else:
            attributes["_request_class"] = self._previous
        self._wrapper = None

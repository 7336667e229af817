"""Outbound Relay ports: the route a request takes, who decides it, and what the relay reads.

* The HTTP hooks (requests, aiohttp, urllib3) ask a :class:`RelayRouter` for each request's
  :class:`RelayRoute` and know nothing else about the relay: any object with a ``route``
  method will do (the enabled ``OutboundRelay``, the process-wide "whichever relay is
  enabled" router of the composition root, a fixed route in tests).
* ``OutboundRelay`` reads its configuration and its CA from a :class:`RelayConfigSource`
  (``evervault.Client`` is one), so it never touches a client's transport or settings.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Protocol

from evervault.domain.relay import RelayOutboundConfig


@dataclass(frozen=True)
class RelayRoute:
    """How to send one request through the relay. The credential is kept out of ``repr``."""

    proxy_url: str
    proxy_headers: dict[str, str] = field(repr=False)
    ssl_context: ssl.SSLContext = field(repr=False)


class RelayRouter(Protocol):
    """Decides, per request URL, whether (and how) it goes through the relay."""

    def route(self, url: str) -> RelayRoute | None:
        """The relay route for ``url``, or ``None`` when it must go out directly."""


class RelayConfigSource(Protocol):
    """Where an Outbound Relay reads its destinations and its CA (``evervault.Client``)."""

    def fetch_relay_outbound_config(self) -> RelayOutboundConfig:
        """``GET v2/relay-outbound``: the decryption domains and the suggested poll interval."""

    def fetch_relay_ca(self) -> bytes:
        """The relay CA certificate (PEM), fetched without any credential; ``RelayError`` on failure."""

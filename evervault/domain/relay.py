"""Outbound Relay configuration as the API reports it (wire-format 7.3.8), parsed purely."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from evervault.domain.errors import RelayError


@dataclass(frozen=True)
class RelayOutboundConfig:
    """The decryption domains configured in the dashboard and how often to re-read them.

    ``poll_interval`` is the ``X-Poll-Interval`` header in seconds, or ``None`` when the
    API did not send a usable one (the caller then keeps its current interval).
    """

    decryption_domains: tuple[str, ...]
    poll_interval: float | None = None


def parse_relay_outbound_config(body: object, poll_interval_header: str | None) -> RelayOutboundConfig:
    """Build the config from the JSON body of ``GET v2/relay-outbound`` and its poll header."""
    if not isinstance(body, Mapping):
        raise RelayError(
            "The Outbound Relay configuration is not a JSON object; check EV_API_URL points to "
            "the Evervault API."
        )
    destinations = body.get("outboundDestinations", {})
    if destinations is None:
        destinations = {}
    if not isinstance(destinations, Mapping):
        raise RelayError("The Outbound Relay configuration's 'outboundDestinations' is not an object.")
    return RelayOutboundConfig(
        decryption_domains=tuple(_domain(key, value) for key, value in destinations.items()),
        poll_interval=parse_poll_interval(poll_interval_header),
    )


def parse_poll_interval(value: str | None) -> float | None:
    """Seconds from ``X-Poll-Interval`` (may be fractional); ``None`` if absent or not positive."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def _domain(key: object, destination: object) -> str:
    """A destination's ``destinationDomain``; the map key (the same domain) when it is missing."""
    domain = destination.get("destinationDomain") if isinstance(destination, Mapping) else None
    if domain is None:
        domain = key
    if not isinstance(domain, str) or not domain.strip():
        raise RelayError(
            f"An Outbound Relay destination has no usable domain ({type(domain).__name__}); "
            "check the destinations in the Evervault dashboard."
        )
    return domain.strip()

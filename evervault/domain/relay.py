"""Outbound Relay configuration as the API reports it (docs/protocol.md §7.3.8), parsed purely."""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from evervault.domain.errors import InvalidArgumentError, RelayError


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


# --- which requests go through the relay (docs/protocol.md §7.6) ----------------------------

HTTPS_DEFAULT_PORT = 443
_DEFAULT_PORTS = {"https": 443, "http": 80}
_FORBIDDEN_IN_RULE = ("/", "@", "?", "#", " ", "\t", "\r", "\n")


class RelayReason(enum.Enum):
    """Why a request was or was not sent through the relay (shown by ``debug_requests``)."""

    RELAYED = "matches a decryption domain"
    NO_MATCH = "matches no decryption domain"
    NOT_HTTPS = "only https:// requests are relayed"
    EVERVAULT_ENDPOINT = "Evervault API/CA/relay endpoints are never relayed"
    INVALID_URL = "the URL has no usable host or port"


@dataclass(frozen=True)
class Endpoint:
    """A host name (lower case, no trailing dot, IPv6 without brackets) and a port."""

    host: str
    port: int

    @classmethod
    def from_url(cls, url: str) -> tuple[str, Endpoint] | None:
        """``(scheme, endpoint)`` of an absolute http(s) URL; ``None`` if it has no usable host.

        The port is the explicit one or the scheme's default; user info is ignored.
        """
        try:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            port = parts.port
        except ValueError:
            return None
        host = normalise_host(parts.hostname or "")
        if port is None:
            port = _DEFAULT_PORTS.get(scheme)
        if not host or port is None:
            return None
        return scheme, cls(host, port)


def normalise_host(host: str) -> str:
    """Lower case, without IPv6 brackets or the trailing dot of a fully qualified name."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host[:-1] if host.endswith(".") else host


@dataclass(frozen=True)
class DomainRule:
    """One decryption domain: an exact host, or ``*suffix`` (plain suffix test), maybe with a port.

    Rules match the host name only (case-insensitive, user info and port of the URL
    ignored) unless the rule itself names a port (``api.example.com:8443``), in which case
    the URL's effective port (explicit, or 443 for https) must equal it.
    """

    host: str
    wildcard: bool = False
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> DomainRule:
        if not isinstance(text, str):
            raise InvalidArgumentError(f"A decryption domain must be a string, got {type(text).__name__}.")
        rule = text.strip().lower()
        if not rule or "://" in rule or any(ch in rule for ch in _FORBIDDEN_IN_RULE):
            raise InvalidArgumentError(
                f"Decryption domain {text!r} is not a host name: use 'api.example.com', "
                "'*.example.com' or 'api.example.com:8443' (no scheme, path or user info)."
            )
        wildcard = rule.startswith("*")
        host, port = _split_port(rule[1:] if wildcard else rule, text)
        # Normalised first: "*." would otherwise become the empty suffix, matching every host.
        host = normalise_host(host)
        if not host or "*" in host:
            raise InvalidArgumentError(
                f"Decryption domain {text!r} has no usable host: a wildcard is a leading '*' "
                "followed by a domain suffix, such as '*.example.com'."
            )
        return cls(host=host, wildcard=wildcard, port=port)

    def matches(self, endpoint: Endpoint) -> bool:
        if self.port is not None and self.port != endpoint.port:
            return False
        if self.wildcard:
            return endpoint.host.endswith(self.host)
        return endpoint.host == self.host

    def __str__(self) -> str:
        text = ("*" if self.wildcard else "") + (f"[{self.host}]" if ":" in self.host else self.host)
        return text if self.port is None else f"{text}:{self.port}"


def _split_port(rule: str, original: str) -> tuple[str, int | None]:
    """``host[:port]`` or ``[ipv6][:port]`` -> (host, port or None)."""
    if rule.startswith("["):
        end = rule.find("]")
        if end < 0:
            raise InvalidArgumentError(f"Decryption domain {original!r} has an unclosed '['.")
        host, rest = rule[1:end], rule[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise InvalidArgumentError(f"Decryption domain {original!r} has text after ']'.")
        return host, _port(rest[1:], original)
    if rule.count(":") == 1:
        host, _, port_text = rule.partition(":")
        return host, _port(port_text, original)
    return rule, None  # no port, or a bare IPv6 address


def _port(text: str, original: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InvalidArgumentError(
            f"Decryption domain {original!r} has an invalid port; use a number from 1 to 65535."
        )
    return int(text)


@dataclass(frozen=True)
class RelayDecision:
    """The routing of one URL: ``relayed`` says whether it goes through the relay."""

    reason: RelayReason
    host: str = ""

    @property
    def relayed(self) -> bool:
        return self.reason is RelayReason.RELAYED


@dataclass(frozen=True)
class RelayPolicy:
    """Immutable routing rules: decryption domains and the endpoints that are never relayed.

    Only ``https`` URLs are relayed: the relay credential travels on a TLS ``CONNECT``, so
    an ``http://`` URL is never proxied and never carries the API key (docs/protocol.md
    §9.7). ``never_relayed`` holds the Evervault API, CA and relay endpoints.
    """

    rules: tuple[DomainRule, ...] = ()
    never_relayed: frozenset[Endpoint] = frozenset()

    @classmethod
    def build(cls, domains: Iterable[str], never_relayed_urls: Iterable[str] = ()) -> RelayPolicy:
        """Parse every domain strictly (:class:`InvalidArgumentError` on the first bad one)."""
        return cls(tuple(DomainRule.parse(domain) for domain in domains), _endpoints(never_relayed_urls))

    def with_domains(self, domains: Iterable[str]) -> tuple[RelayPolicy, tuple[str, ...]]:
        """A copy using ``domains`` instead; unusable ones are skipped and returned (API config)."""
        rules: list[DomainRule] = []
        rejected: list[str] = []
        for domain in domains:
            try:
                rules.append(DomainRule.parse(domain))
            except InvalidArgumentError:
                rejected.append(str(domain))
        return RelayPolicy(tuple(rules), self.never_relayed), tuple(rejected)

    def decide(self, url: str) -> RelayDecision:
        located = Endpoint.from_url(url)
        if located is None:
            return RelayDecision(RelayReason.INVALID_URL)
        scheme, endpoint = located
        if scheme != "https":
            return RelayDecision(RelayReason.NOT_HTTPS, endpoint.host)
        if endpoint in self.never_relayed:
            return RelayDecision(RelayReason.EVERVAULT_ENDPOINT, endpoint.host)
        if self.matches(endpoint):
            return RelayDecision(RelayReason.RELAYED, endpoint.host)
        return RelayDecision(RelayReason.NO_MATCH, endpoint.host)

    def matches(self, endpoint: Endpoint) -> bool:
        """Whether a (host, port) is a decryption domain (the relay proxy's intercept test)."""
        return any(rule.matches(endpoint) for rule in self.rules)

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(str(rule) for rule in self.rules)


def _endpoints(urls: Iterable[str]) -> frozenset[Endpoint]:
    located = (Endpoint.from_url(url) for url in urls)
    return frozenset(found[1] for found in located if found is not None)

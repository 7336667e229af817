"""Who may use the relay proxy, and for which targets: credentials, destinations, target checks.

``Proxy-Authorization`` holds the raw API key or ``Basic app_id:key``; :class:`AccessPolicy`
turns it into an :class:`Access` level, decides whether a ``CONNECT`` target is one of the
app's destinations (intercepted) or another host (refused, or tunnelled untouched when
``allow_any_destination``), and resolves targets through
:class:`~evervault.local.relay_targets.TargetPolicy`, which refuses metadata services,
link-local addresses and the emulator's own listeners.
"""

from __future__ import annotations

import base64
import binascii
import enum
import logging
import ssl
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import h11

from evervault.domain.errors import InvalidArgumentError
from evervault.domain.relay import DomainRule, Endpoint, RelayPolicy, normalise_host
from evervault.local.pki import LocalCA
from evervault.local.relay_proxy.messages import NO_DECRYPT, send_error, send_refused, unreachable
from evervault.local.relay_proxy.streams import Stream
from evervault.local.relay_targets import RefusedTarget, ResolvedAddress, TargetPolicy

logger = logging.getLogger("evervault.local.relay")


class Access(enum.Enum):
    """What the ``Proxy-Authorization`` of one request allows."""

    ABSENT = "absent"  # no credential on this request
    REFUSED = "refused"  # unreadable, another app's, or no key of this app: 407
    TUNNEL = "tunnel"  # a key of this app without the decrypt permission: raw tunnels only
    DECRYPT = "decrypt"  # a key of this app that may decrypt


class AccessPolicy:
    """The app's credentials checks, its relay destinations and the target checks."""

    def __init__(
        self,
        *,
        authorize: Callable[[str], bool],
        app_id: str,
        may_decrypt: Callable[[str], bool],
        destinations: Callable[[], Sequence[str]],
        ca: LocalCA,
        allow_any_destination: bool,
        refused_ports: Callable[[], Collection[int]],
    ) -> None:
        """``authorize(key)``: is it a key of app ``app_id``; ``may_decrypt(key)``: does it hold
        ``decrypt``; ``refused_ports()``: the local ports never to tunnel to."""
        self._authorize = authorize
        self._app_id = app_id
        self._may_decrypt = may_decrypt
        self._destinations = destinations
        self._ca = ca
        self.allow_any_destination = allow_any_destination
        self._targets = TargetPolicy(refused_ports)

    def access(self, header: str | None) -> Access:
        """What a ``Proxy-Authorization`` value (``None``: absent) allows."""
        if header is None:
            return Access.ABSENT
        credential = parse_proxy_credential(header)
        if credential is None or credential.app_id not in (None, self._app_id):
            return Access.REFUSED
        if not self._check("authorize", self._authorize, credential.api_key):
            return Access.REFUSED
        if self._check("may_decrypt", self._may_decrypt, credential.api_key):
            return Access.DECRYPT
        return Access.TUNNEL

    def _check(self, name: str, check: Callable[[str], bool], api_key: str) -> bool:
        try:
            return bool(check(api_key))
        except Exception:  # a failing check refuses, it does not crash the connection
            logger.exception("Relay proxy: the %s callback failed", name)
            return False

    def resolve(self, endpoint: Endpoint) -> tuple[ResolvedAddress, ...]:
        """The checked addresses of ``endpoint`` (:class:`RefusedTarget`, ``OSError``)."""
        return self._targets.resolve(endpoint)

    def is_destination(self, endpoint: Endpoint) -> bool:
        policy, rejected = RelayPolicy().with_domains(self._destinations())
        if rejected:
            logger.warning("Relay proxy: ignoring %d unusable destination domain(s)", len(rejected))
        return policy.matches(endpoint)

    def refusal(self, access: Access, *, intercept: bool) -> str | None:
        """Why an authorised (or, for a destination, not yet authorised) tunnel is refused."""
        if not intercept and not self.allow_any_destination:
            return (
                "This host is not one of the app's Outbound Relay destinations; add it (serve "
                "--relay-destination, or PUT _local/relay-destinations), or start the emulator with "
                "--relay-allow-any-destination to tunnel other hosts untouched."
            )
        if intercept and access is Access.TUNNEL:
            return NO_DECRYPT
        return None

    def leaf_context(self, names: Sequence[str]) -> ssl.SSLContext:
        return self._ca.server_context(names)

    def unauthenticated_leaf_names(self, endpoint: Endpoint) -> list[str]:
        """The names of the leaf for a tunnel not yet authenticated: the destination it matched.

        ``*.example.com`` for a wildcard destination (one label deep, as TLS wildcards are),
        so however many host names clients try, there is one leaf per configured destination.
        """
        for domain in self._destinations():
            try:
                rule = DomainRule.parse(domain)
            except InvalidArgumentError:
                continue  # unusable destinations are reported by is_destination
            if not rule.matches(endpoint):
                continue
            suffix = rule.host.lstrip(".")
            if not rule.wildcard or endpoint.host == suffix:
                return [endpoint.host]
            return ["*." + suffix]
        return [endpoint.host]


def resolve_or_answer(
    policy: AccessPolicy, endpoint: Endpoint, connection: h11.Connection, stream: Stream
) -> tuple[ResolvedAddress, ...] | None:
    """The target's checked addresses, or ``None`` after answering 403 (refused) or 502."""
    try:
        return policy.resolve(endpoint)
    except RefusedTarget as refused:
        send_refused(connection, stream, endpoint, refused)
    except (OSError, UnicodeError) as error:
        send_error(connection, stream, 502, unreachable(endpoint, error))
    return None


@dataclass(frozen=True)
class ProxyCredential:
    """A ``Proxy-Authorization`` value: an API key and, for ``Basic``, the app ID it names."""

    api_key: str = field(repr=False)
    app_id: str | None = None


def parse_proxy_credential(value: str) -> ProxyCredential | None:
    """The raw API key, or ``Basic base64(app_id:key)`` (or ``base64(key)``); ``None`` if unreadable.

    Never raises: every byte a client may send (h11 hands over Latin-1 text) ends in a
    credential or ``None``, which the proxy answers with 407.
    """
    value = value.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "basic" and rest.strip():
        try:
            value = base64.b64decode(rest.strip().encode("ascii"), validate=True).decode("ascii")
        except (UnicodeError, binascii.Error, ValueError):
            return None
        app_id, separator, api_key = value.partition(":")
        if separator:
            return ProxyCredential(api_key, app_id) if _printable_ascii(api_key + app_id) else None
    return ProxyCredential(value) if value and _printable_ascii(value) else None


def _printable_ascii(text: str) -> bool:
    return all(" " <= character <= "~" for character in text)


def parse_connect_target(target: bytes) -> Endpoint | None:
    """``host:port`` or ``[v6]:port`` of a ``CONNECT`` request; ``None`` if malformed."""
    try:
        text = target.decode("ascii")
    except UnicodeDecodeError:
        return None
    host, separator, port = text.rpartition(":")
    if not separator or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    if host.startswith("["):
        if not host.endswith("]"):
            return None
    elif ":" in host:
        return None
    host = normalise_host(host)
    if not host or any(ch in host for ch in "/@?# \t"):
        return None
    return Endpoint(host, int(port))

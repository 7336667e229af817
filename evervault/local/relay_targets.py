"""Where the emulator's relay proxy may connect: never to metadata, link-local or itself.

A relay is a proxy that holds the app's decryption keys, so it must not be a way to reach
what the app could not reach directly: cloud metadata services (instance credentials),
link-local addresses, or the emulator's own listeners (its API would then be called from
the relay's address, and a tunnel to the relay itself loops). :class:`TargetPolicy`
resolves a ``CONNECT`` target **once** and checks every address it resolves to, so a DNS
name pointing at a refused address is refused too; the proxy then connects to exactly the
addresses checked, never to a second, possibly different, resolution of the name.

Refused, whatever the configured destinations say:

* metadata host names (``metadata.google.internal`` ...), checked before any lookup;
* link-local addresses (169.254.0.0/16, which holds 169.254.169.254, and fe80::/10);
* other metadata addresses (AWS ``fd00:ec2::/32``, Alibaba 100.100.100.200, Oracle
  192.0.0.192), unspecified, multicast and broadcast addresses, IPv4 written as IPv6
  (``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``) checked as the IPv4 address it stands for;
* on any address of this machine (loopback, unspecified, or one of its interfaces): the
  emulator's own listening ports. Other loopback ports stay allowed, so a test server on
  127.0.0.1 can be a relay destination.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from evervault.domain.relay import Endpoint, normalise_host

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., Sequence[tuple[Any, ...]]]

METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.internal",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
    }
)
METADATA_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "169.254.169.254/32",  # AWS, GCP, Azure, DigitalOcean... (and link-local, refused as such)
        "fd00:ec2::/32",  # AWS IPv6 metadata (fd00:ec2::254), DNS and time services
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "192.0.0.192/32",  # Oracle Cloud metadata
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class RefusedTarget(Exception):
    """The relay will not connect there; the message says why (safe to send to the client)."""


@dataclass(frozen=True)
class ResolvedAddress:
    """One address a target resolved to, ready for ``socket.connect``."""

    family: int
    sockaddr: tuple[Any, ...]


class TargetPolicy:
    """Resolves and checks ``CONNECT`` targets (thread-safe, keeps no state of its own)."""

    def __init__(
        self, own_ports: Callable[[], Collection[int]], resolver: Resolver = socket.getaddrinfo
    ) -> None:
        self._own_ports = own_ports
        self._resolver = resolver

    def resolve(self, endpoint: Endpoint) -> tuple[ResolvedAddress, ...]:
        """Every address of ``endpoint``, each allowed; :class:`RefusedTarget` or ``OSError`` otherwise."""
        host = normalise_host(endpoint.host)
        shown = f"[{host}]:{endpoint.port}" if ":" in host else f"{host}:{endpoint.port}"
        if host in METADATA_NAMES or host.endswith((".metadata.google.internal", ".metadata.goog")):
            raise RefusedTarget(f"{host} is a cloud metadata service; the relay never connects to it.")
        infos = self._resolver(host, endpoint.port, type=socket.SOCK_STREAM)
        addresses = tuple(ResolvedAddress(info[0], tuple(info[4])) for info in infos)
        if not addresses:
            raise OSError(errno.EHOSTUNREACH, f"{host} resolved to no address")
        for address in addresses:
            reason = self.refusal(ipaddress.ip_address(str(address.sockaddr[0]).split("%")[0]), endpoint.port)
            if reason is not None:
                raise RefusedTarget(f"{shown} resolves to {reason}; the relay never connects there.")
        return addresses

    def refusal(self, address: IpAddress, port: int) -> str | None:
        """Why ``address:port`` is refused, or ``None`` when it is allowed."""
        address = _embedded_ipv4(address)
        if address.is_link_local:
            return f"a link-local address ({address})"
        if any(address in network for network in METADATA_NETWORKS if network.version == address.version):
            return f"a cloud metadata address ({address})"
        if (
            address.is_unspecified
            or address.is_multicast
            or address == ipaddress.IPv4Address("255.255.255.255")
        ):
            return f"an unspecified, multicast or broadcast address ({address})"
        if port in self._own_ports() and is_this_host(address):
            return f"the emulator's own listener ({address} port {port})"
        return None


def _embedded_ipv4(address: IpAddress) -> IpAddress:
    """The IPv4 address an IPv6 address stands for (mapped or NAT64), else ``address``."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def is_this_host(address: IpAddress) -> bool:
    """Loopback, unspecified, or an address of one of this machine's interfaces.

    An address is this machine's exactly when a socket can be bound to it; any error
    other than "not available here" counts as this machine's (fail closed).
    """
    if address.is_loopback or address.is_unspecified:
        return True
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((str(address), 0))
    except OSError as error:
        return error.errno != errno.EADDRNOTAVAIL
    return True


def connect_to_any(addresses: Sequence[ResolvedAddress], timeout: float) -> socket.socket:
    """A TCP connection to the first of ``addresses`` that accepts (as ``socket.create_connection``)."""
    last_error: OSError = OSError(errno.EHOSTUNREACH, "no address to connect to")
    for address in addresses:
        sock = socket.socket(address.family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(address.sockaddr)
        except OSError as error:
            sock.close()
            last_error = error
            continue
        return sock
    raise last_error

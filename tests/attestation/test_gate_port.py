"""The adapters' seam: any object implementing ``ports.attestation.AttestationGate`` is enforced.

The attested requests, urllib3 and aiohttp adapters are given small, real gates that are not
the SDK's (no Nitro documents, no PCRs) and talk over real TLS sockets to the enclave
simulator, used here only as a TLS echo server that records every request it receives. A gate
that refuses must cost the server every byte of the request; a gate that admits must let the
request through unchanged; a gate refusing before dialling must cost not even a TCP
connection; and closing the client must close the gate.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from typing import Literal

import aiohttp
import pytest
import requests
from cryptography.hazmat.primitives import serialization

from evervault.adapters.attested_aiohttp import AttestedTCPConnector
from evervault.adapters.attested_requests import AttestedHTTPAdapter
from evervault.adapters.attested_urllib3 import AttestedPoolManager
from evervault.domain.attestation.failures import attestation_failure
from evervault.domain.errors import AttestationError
from evervault.local.enclave import EnclaveInfo, EnclaveSimulator
from evervault.ports.attestation import AttestationGate, PeerCertificateReader

SECRET = b'{"card": "4242 4242 4242 4242"}'
CLIENTS = ["requests", "urllib3", "aiohttp"]
Client = Literal["requests", "urllib3", "aiohttp"]


class PinnedCertificateGate:
    """Admits a connection to ``host`` only when it presented exactly ``pinned`` (DER).

    A complete, if simple, gate: certificate pinning instead of attestation. It records what
    the adapters asked, so the tests can check the order of the calls and what was passed.
    """

    def __init__(self, host: str, pinned: bytes, *, refuse_before_dialling: bool = False) -> None:
        self.host = host
        self.pinned = pinned
        self.refuse_before_dialling = refuse_before_dialling
        self.calls: list[str] = []
        self.presented: list[bytes | None] = []
        self.closed = False

    def covers(self, host: str) -> bool:
        return host == self.host

    def require_policy(self, host: str, port: int) -> None:
        self.calls.append("require_policy")
        if self.refuse_before_dialling:
            raise attestation_failure("pcr-mismatch", f"{host}:{port} may not be dialled (test gate).")

    def attest(self, host: str, port: int, peer: PeerCertificateReader) -> object:
        self.calls.append("attest")
        presented = peer.getpeercert(binary_form=True)
        self.presented.append(presented)
        if presented != self.pinned:
            raise attestation_failure(
                "untrusted-chain", f"{host} presented a certificate that is not pinned."
            )
        return presented

    def close(self) -> None:
        self.closed = True


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[EnclaveSimulator, EnclaveInfo]]:
    simulator = EnclaveSimulator()
    with simulator as info:
        yield simulator, info


@pytest.fixture
def simulator(server: tuple[EnclaveSimulator, EnclaveInfo]) -> EnclaveSimulator:
    server[0].received.clear()
    return server[0]


@pytest.fixture
def info(server: tuple[EnclaveSimulator, EnclaveInfo]) -> EnclaveInfo:
    return server[1]


def server_der(simulator: EnclaveSimulator) -> bytes:
    return simulator.tls_certificate.public_bytes(serialization.Encoding.DER)


def post(
    client: str, gate: AttestationGate, info: EnclaveInfo, *, address: tuple[str, int] | None = None
) -> bytes:
    """POST SECRET to the simulator's host through ``client``'s attested adapter and ``gate``."""
    address = address or info.address
    override = {info.hostname: address}
    url = f"https://{info.hostname}:{address[1]}/echo"
    if client == "requests":
        with requests.Session() as session:
            session.mount(
                "https://",
                AttestedHTTPAdapter(gate, address_override=override, ca_bundle=info.ca_bundle_path),
            )
            return session.post(url, data=SECRET, timeout=30).content
    if client == "urllib3":
        with AttestedPoolManager(gate, address_override=override, ca_certs=info.ca_bundle_path) as manager:
            return bytes(manager.request("POST", url, body=SECRET, timeout=30, retries=False).data)
    return asyncio.run(_post_with_aiohttp(gate, override, info.ca_bundle_path, url))


async def _post_with_aiohttp(
    gate: AttestationGate, override: dict[str, tuple[str, int]], ca_bundle: str, url: str
) -> bytes:
    connector = AttestedTCPConnector(
        gate, address_override=override, ssl=ssl.create_default_context(cafile=ca_bundle)
    )
    async with (
        aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session,
        session.post(url, data=SECRET) as response,
    ):
        return await response.read()


@pytest.mark.parametrize("client", CLIENTS)
def test_a_gate_that_admits_the_connection_lets_the_request_through(
    client: str, simulator: EnclaveSimulator, info: EnclaveInfo
) -> None:
    gate = PinnedCertificateGate(info.hostname, server_der(simulator))
    assert post(client, gate, info) == SECRET
    assert gate.calls == ["require_policy", "attest"]
    assert gate.presented == [server_der(simulator)], "the gate saw the certificate of that very connection"
    assert [request.body for request in simulator.received] == [SECRET]
    assert gate.closed, "closing the client closes its gate"


@pytest.mark.parametrize("client", CLIENTS)
def test_a_gate_that_refuses_after_the_handshake_keeps_every_request_byte(
    client: str, simulator: EnclaveSimulator, info: EnclaveInfo
) -> None:
    gate = PinnedCertificateGate(info.hostname, pinned=b"some other certificate")
    with pytest.raises(AttestationError) as caught:
        post(client, gate, info)
    assert caught.value.kind == "untrusted-chain"
    assert caught.value.reason == f"{info.hostname} presented a certificate that is not pinned."
    assert gate.calls == ["require_policy", "attest"]
    assert gate.presented == [server_der(simulator)]
    assert simulator.received == [], "the request reached the server"
    assert gate.closed


@pytest.mark.parametrize("client", CLIENTS)
def test_a_gate_that_refuses_before_dialling_costs_not_even_a_tcp_connection(
    client: str, info: EnclaveInfo, silent_listener: socket.socket
) -> None:
    gate = PinnedCertificateGate(info.hostname, b"", refuse_before_dialling=True)
    with pytest.raises(AttestationError) as caught:
        post(client, gate, info, address=silent_listener.getsockname())
    assert caught.value.kind == "pcr-mismatch"
    assert gate.calls == ["require_policy"]
    with pytest.raises(BlockingIOError):
        silent_listener.accept()  # nothing connected


@pytest.mark.parametrize("client", CLIENTS)
def test_hosts_the_gate_does_not_cover_are_plain_verified_https(
    client: str, simulator: EnclaveSimulator, info: EnclaveInfo
) -> None:
    gate = PinnedCertificateGate("another.host.example", b"", refuse_before_dialling=True)
    assert post(client, gate, info) == SECRET
    assert gate.calls == [], "the gate is not asked about hosts it does not cover"
    assert [request.body for request in simulator.received] == [SECRET]


@pytest.mark.parametrize("client", CLIENTS)
def test_a_gate_is_not_bypassed_over_plain_http(
    client: str, simulator: EnclaveSimulator, info: EnclaveInfo
) -> None:
    gate = PinnedCertificateGate(info.hostname, server_der(simulator))
    url = f"http://{info.hostname}:{info.address[1]}/echo"
    override = info.address_override
    with pytest.raises(AttestationError) as caught:
        if client == "requests":
            with requests.Session() as session:
                session.mount("http://", AttestedHTTPAdapter(gate, address_override=override))
                session.post(url, data=SECRET, timeout=30)
        elif client == "urllib3":
            with AttestedPoolManager(gate, address_override=override) as manager:
                manager.request("POST", url, body=SECRET, timeout=30, retries=False)
        else:
            asyncio.run(_post_with_aiohttp(gate, override, info.ca_bundle_path, url))
    assert caught.value.kind == "no-attestation-doc"
    assert gate.calls == [] and simulator.received == []

"""Attestation ports: the gate every new connection passes, the enclave's document, the peer.

The attested adapters (requests, urllib3, aiohttp) take an ``AttestationGate``: for each new
connection to a host the gate covers, they ask it before dialling (``require_policy``) and
again after the TLS handshake with the certificate the server presented on THAT connection
(``attest``); an exception from either keeps the connection unused. The gate the SDK wires
(``evervault.services.attestation.AttestationGate``, built by ``evervault.bootstrap``) hands
the certificate, with the enclave's target, to a document source: the certificate itself
(seed-era SAN) or an HTTPS fetch of ``/.well-known/attestation``.
"""

from __future__ import annotations

from typing import Literal, Protocol

from cryptography import x509

from evervault.domain.attestation.hosts import EnclaveTarget


class AttestationDocumentSource(Protocol):
    """Supplies the COSE_Sign1 bytes an enclave presents for one connection."""

    @property
    def refreshable(self) -> bool:
        """True when asking again with ``refresh=True`` can yield a newer document."""

    def document(self, target: EnclaveTarget, peer_certificate: x509.Certificate, *, refresh: bool) -> bytes:
        """The document for ``target``; ``refresh`` bypasses (and replaces) any cached copy.

        Raises ``AttestationError`` (kind ``no-attestation-doc`` or a SAN kind) when none
        can be obtained.
        """


class PeerCertificateReader(Protocol):
    """The TLS session of one connection (``ssl.SSLSocket`` or ``ssl.SSLObject``)."""

    def getpeercert(self, binary_form: Literal[True]) -> bytes | None:
        """The peer's leaf certificate as DER bytes, or ``None`` when it sent none."""


class AttestationGate(Protocol):
    """Decides whether a freshly opened TLS connection may carry a request.

    Fail closed: every method signals refusal by raising (``AttestationError`` in the SDK's
    gate); the adapters then close the connection before any request byte is written.
    """

    def covers(self, host: str) -> bool:
        """True when connections to ``host`` must be attested; others are plain HTTPS."""

    def require_policy(self, host: str, port: int) -> None:
        """Raise when ``host`` may not be connected to at all (called before the socket opens)."""

    def attest(self, host: str, port: int, peer: PeerCertificateReader) -> object:
        """Verify the connection whose TLS session is ``peer``; raise to keep it unused.

        Returns what was verified (the SDK's gate: the ``AttestationDocument``); the adapters
        ignore it. May block (CPU, network): the asyncio adapter calls it in an executor.
        """

    def close(self) -> None:
        """Release what the gate holds (the SDK's gate: its PCR provider poller)."""

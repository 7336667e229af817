"""Attestation ports: where an enclave's document comes from, and the peer's certificate.

The attested adapters (requests, urllib3, aiohttp) read the certificate the server
presented on the connection being attested and hand it, with the enclave's target, to a
document source: the certificate itself (seed-era SAN) or an HTTPS fetch of
``/.well-known/attestation``.
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

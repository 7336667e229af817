"""Fixtures: a throwaway Nitro-like PKI and documents signed by it (no network)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from evervault.domain.attestation import NitroTrustRoot
from evervault.local.enclave import (
    NitroLikePki,
    make_nitro_like_pki,
    sign_attestation_document,
    simulated_pcrs,
)

NOW = datetime(2026, 1, 15, 12, 0, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class SignedFixture:
    """A document bound to ``tls_key``, signed under ``pki``, valid at ``NOW``."""

    pki: NitroLikePki
    document: bytes
    tls_key: ec.EllipticCurvePrivateKey
    trust_root: NitroTrustRoot

    @property
    def tls_spki(self) -> bytes:
        return spki(self.tls_key)


def spki(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def tls_certificate_for(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    """A self-signed stand-in for the server's TLS certificate (only its key matters here)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tls")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def make_signed(pki: NitroLikePki | None = None) -> SignedFixture:
    pki = pki or make_nitro_like_pki(NOW)
    tls_key = ec.generate_private_key(ec.SECP384R1())
    document = sign_attestation_document(
        pki, pcrs=simulated_pcrs(), user_data=spki(tls_key), timestamp_ms=int(NOW.timestamp() * 1e3)
    )
    root_pem = pki.root.certificate.public_bytes(serialization.Encoding.PEM)
    return SignedFixture(pki, document, tls_key, NitroTrustRoot.for_testing_only(root_pem))


@pytest.fixture(scope="session")
def signed() -> SignedFixture:
    return make_signed()


@pytest.fixture
def silent_listener() -> Iterator[socket.socket]:
    """A TCP port that accepts nothing by itself: any connection attempt stays in its backlog."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    try:
        yield listener
    finally:
        listener.close()


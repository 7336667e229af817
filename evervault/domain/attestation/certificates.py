"""Loading X.509 certificates (PEM or DER, autodetected) and extracting their SPKI."""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evervault.domain.attestation.failures import attestation_failure

PEM_MARKER = b"-----BEGIN"


def load_certificate(data: bytes, *, what: str = "the certificate") -> x509.Certificate:
    """Parse one certificate; PEM when it starts with a PEM header, DER otherwise."""
    try:
        if data.lstrip().startswith(PEM_MARKER):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except (ValueError, x509.InvalidVersion) as exc:
        raise attestation_failure(
            "malformed-cert",
            f"{what} ({len(data)} bytes) is not a parsable X.509 certificate: {exc}",
        ) from exc


def subject_public_key_info(certificate: x509.Certificate) -> bytes:
    """The DER SubjectPublicKeyInfo, the value a Nitro document's user_data binds to."""
    try:
        return certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise attestation_failure(
            "malformed-cert",
            f"the TLS certificate's public key cannot be read ({exc}).",
        ) from exc

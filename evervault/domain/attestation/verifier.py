"""The one entry point: is this document, for this TLS certificate, acceptable at this instant?

Order (as the reference validator): decode + structure -> chain -> COSE signature ->
binding (user_data == DER SPKI of the TLS certificate) -> PCRs. Every failure is an
``AttestationError`` whose ``kind`` names the first check that failed.
"""

from __future__ import annotations

from datetime import datetime

from cryptography import x509

from evervault.domain.attestation.certificates import load_certificate, subject_public_key_info
from evervault.domain.attestation.chain import NitroTrustRoot, verify_chain
from evervault.domain.attestation.cose import decode_cose_sign1, verify_es384
from evervault.domain.attestation.document import AttestationDocument, parse_document
from evervault.domain.attestation.failures import attestation_failure
from evervault.domain.attestation.policy import PcrPolicy

_AWS_ROOT = NitroTrustRoot.aws()


def verify_document(
    document: bytes, *, at: datetime, trust_root: NitroTrustRoot = _AWS_ROOT
) -> AttestationDocument:
    """Check a document on its own: structure, chain to ``trust_root`` and COSE signature."""
    message = decode_cose_sign1(document)
    parsed = parse_document(message.payload)
    signing_certificate = verify_chain(parsed, at, trust_root)
    verify_es384(message, signing_certificate.public_key())
    return parsed


def verify(
    document: bytes,
    tls_certificate: bytes | x509.Certificate,
    *,
    at: datetime,
    policy: PcrPolicy,
    trust_root: NitroTrustRoot = _AWS_ROOT,
) -> AttestationDocument:
    """Verify ``document`` and bind it to ``tls_certificate`` (PEM/DER bytes or parsed).

    ``policy`` is required: expected PCR sets (``pcr_policy_from(...)``), or
    ``UnsafeSkipPcrChecks()`` to accept any measurements on purpose.
    """
    certificate = (
        tls_certificate
        if isinstance(tls_certificate, x509.Certificate)
        else load_certificate(tls_certificate, what="the TLS certificate")
    )
    verified = verify_document(document, at=at, trust_root=trust_root)
    require_binding(verified, subject_public_key_info(certificate))
    policy.check(verified)
    return verified


def require_binding(document: AttestationDocument, tls_spki: bytes) -> None:
    """The enclave must have vouched for exactly the key this TLS connection uses."""
    if document.user_data is None:
        raise attestation_failure(
            "missing-user-data",
            "the document has no user_data, so it is not bound to any TLS key; "
            "the server is not an attested enclave endpoint.",
        )
    if document.user_data != tls_spki:
        raise attestation_failure(
            "user-data-mismatch",
            f"user_data ({len(document.user_data)} bytes, starting "
            f"{document.user_data[:8].hex()}) is not the TLS certificate's public key "
            f"({len(tls_spki)} bytes, starting {tls_spki[:8].hex()}). The document belongs to "
            "another certificate: the connection may be intercepted.",
        )

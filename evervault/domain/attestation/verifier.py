"""The one entry point: is this document, for this TLS certificate, acceptable at this instant?

Order (as the reference validator): decode + structure -> chain -> COSE signature ->
binding (user_data == DER SPKI of the TLS certificate) -> PCRs. Every failure is an
``AttestationError`` whose ``kind`` names the first check that failed.

A session verifies the same document on every new connection, and five ECDSA P-384
signatures (four in the chain, one over the document) are almost all of that cost. A
:class:`VerifiedDocuments` cache remembers documents that passed every time-independent
check; on a hit only the certificates' validity windows are checked again, at the new
instant and in the same order, before binding and PCRs, so a cached document is accepted
exactly when the uncached path would accept it.
"""

from __future__ import annotations

from datetime import datetime

from cryptography import x509

from evervault.domain.attestation.certificates import load_certificate, subject_public_key_info
from evervault.domain.attestation.chain import (
    NitroTrustRoot,
    VerifiedChain,
    require_aware,
    verify_chain_windows,
)
from evervault.domain.attestation.cose import decode_cose_sign1, verify_es384
from evervault.domain.attestation.document import AttestationDocument, parse_document
from evervault.domain.attestation.failures import attestation_failure
from evervault.domain.attestation.policy import PcrPolicy
from evervault.domain.errors import InvalidArgumentError

_AWS_ROOT = NitroTrustRoot.aws()


DEFAULT_CACHE_ENTRIES = 32
_Verified = tuple[AttestationDocument, VerifiedChain]


class VerifiedDocuments:
    """A bounded cache of documents that passed structure, chain and COSE checks.

    Keyed by the trust root and the exact document bytes (which contain the exact
    certificate bytes); a document that failed any check is never stored. Entries are
    evicted oldest first. Every operation is a single ``dict`` operation, so concurrent
    use from several threads can at worst turn a hit into a miss (and a re-verification).
    """

    def __init__(self, max_entries: int = DEFAULT_CACHE_ENTRIES) -> None:
        if max_entries < 1:
            raise InvalidArgumentError(f"max_entries must be at least 1, got {max_entries}.")
        self._max_entries = max_entries
        self._entries: dict[tuple[str, bytes], _Verified] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"VerifiedDocuments({len(self._entries)}/{self._max_entries} entries)"

    def get(self, trust_root: NitroTrustRoot, document: bytes) -> _Verified | None:
        return self._entries.get((trust_root.sha256_fingerprint, bytes(document)))

    def put(self, trust_root: NitroTrustRoot, document: bytes, verified: _Verified) -> None:
        while len(self._entries) >= self._max_entries:
            try:
                del self._entries[next(iter(self._entries))]
            except (KeyError, RuntimeError, StopIteration):  # another thread changed it first
                break
        self._entries[(trust_root.sha256_fingerprint, bytes(document))] = verified


def verify_document(
    document: bytes,
    *,
    at: datetime,
    trust_root: NitroTrustRoot = _AWS_ROOT,
    cache: VerifiedDocuments | None = None,
) -> AttestationDocument:
    """Check a document on its own: structure, chain to ``trust_root`` and COSE signature."""
    instant = require_aware(at)
    cached = cache.get(trust_root, document) if cache is not None else None
    if cached is not None:
        parsed, chain = cached
        chain.require_valid_at(instant)
        return parsed
    message = decode_cose_sign1(document)
    parsed = parse_document(message.payload)
    chain = verify_chain_windows(parsed, instant, trust_root)
    verify_es384(message, chain.signing_certificate.public_key())
    if cache is not None:
        cache.put(trust_root, document, (parsed, chain))
    return parsed


def verify(
    document: bytes,
    tls_certificate: bytes | x509.Certificate,
    *,
    at: datetime,
    policy: PcrPolicy,
    trust_root: NitroTrustRoot = _AWS_ROOT,
    cache: VerifiedDocuments | None = None,
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
    verified = verify_document(document, at=at, trust_root=trust_root, cache=cache)
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

"""The certificate chain of a Nitro document: signing cert <- cabundle <- pinned AWS root.

``cabundle[0]`` must be the trusted root, recognised by the SHA-256 of its DER encoding (AWS
ships that root inside every document, so the pin is a constant, not a file). Expiry and
not-yet-valid are classified here first, so callers learn which certificate is out of its
window; signatures, CA constraints and path lengths are then checked by ``cryptography``'s
RFC 5280 path validation at the same instant. Validity is inclusive at both ends.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import verification

from evervault.domain.attestation.certificates import load_certificate
from evervault.domain.attestation.document import AttestationDocument
from evervault.domain.attestation.failures import attestation_failure
from evervault.domain.errors import AttestationError, InvalidArgumentError

AWS_NITRO_ROOT_SHA256 = "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"


@dataclass(frozen=True)
class NitroTrustRoot:
    """The one root certificate a document's chain must end in, pinned by DER SHA-256."""

    sha256_fingerprint: str
    for_testing: bool = False

    @classmethod
    def aws(cls) -> NitroTrustRoot:
        """The AWS Nitro Enclaves root (CN=aws.nitro-enclaves), the only production anchor."""
        return cls(AWS_NITRO_ROOT_SHA256)

    @classmethod
    def for_testing_only(cls, root_certificate: bytes | x509.Certificate) -> NitroTrustRoot:
        """Trust a throwaway root (e.g. the enclave simulator's). Never use in production."""
        certificate = (
            root_certificate
            if isinstance(root_certificate, x509.Certificate)
            else load_certificate(root_certificate, what="the test trust root")
        )
        return cls(_fingerprint(certificate), for_testing=True)

    def __repr__(self) -> str:
        label = "TEST-ONLY root" if self.for_testing else "AWS Nitro root"
        return f"NitroTrustRoot({label}, sha256={self.sha256_fingerprint})"


@dataclass(frozen=True)
class ValidityWindow:
    """When one certificate of a chain is valid (inclusive at both ends), and its name in messages."""

    name: str
    not_before: datetime
    not_after: datetime

    def require_contains(self, instant: datetime) -> None:
        window = f"valid {self.not_before.isoformat()} to {self.not_after.isoformat()}"
        if instant > self.not_after:
            raise attestation_failure(
                "expired",
                f"{self.name} ({window}) expired before the verification instant "
                f"{instant.isoformat()}. Fetch a fresh attestation document.",
            )
        if instant < self.not_before:
            raise attestation_failure(
                "not-yet-valid",
                f"{self.name} ({window}) is not valid yet at {instant.isoformat()}. Check the local clock.",
            )


@dataclass(frozen=True)
class VerifiedChain:
    """A chain that passed every check at one instant: its signing certificate and the windows.

    Everything checked except the windows is independent of time, so the same chain is
    valid at another instant exactly when :meth:`require_valid_at` passes there.
    """

    signing_certificate: x509.Certificate
    windows: tuple[ValidityWindow, ...]  # signing certificate first, then cabundle root-last

    def require_valid_at(self, at: datetime) -> None:
        instant = require_aware(at)
        for window in self.windows:
            window.require_contains(instant)


def verify_chain(document: AttestationDocument, at: datetime, trust_root: NitroTrustRoot) -> x509.Certificate:
    """Validate the document's chain at ``at``; return the signing certificate."""
    return verify_chain_windows(document, at, trust_root).signing_certificate


def verify_chain_windows(
    document: AttestationDocument, at: datetime, trust_root: NitroTrustRoot
) -> VerifiedChain:
    """Validate the document's chain at ``at``; return it with every certificate's window."""
    instant = require_aware(at)
    leaf = load_certificate(document.certificate, what="the signing certificate")
    bundle = [
        load_certificate(der, what=f"cabundle[{position}]") for position, der in enumerate(document.cabundle)
    ]
    root, intermediates = bundle[0], bundle[1:]
    _require_pinned_root(root, trust_root)
    chain = VerifiedChain(leaf, tuple(_window(name, cert) for name, cert in _leaf_first(leaf, bundle)))
    chain.require_valid_at(instant)
    _verify_path(leaf, root, intermediates, instant)
    return chain


def require_aware(at: datetime) -> datetime:
    """Reject naive datetimes: a verification instant must not depend on the host's zone."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidArgumentError(
            "The verification instant is a naive datetime; pass a timezone-aware one, "
            "e.g. datetime.now(timezone.utc)."
        )
    return at.astimezone(timezone.utc)


def _fingerprint(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()


def _require_pinned_root(root: x509.Certificate, trust_root: NitroTrustRoot) -> None:
    received = _fingerprint(root)
    if received != trust_root.sha256_fingerprint:
        raise attestation_failure(
            "untrusted-chain",
            f"cabundle[0] has SHA-256 {received}, expected the trusted root {trust_root!r}. "
            "The document was not issued under the configured Nitro root.",
        )


def _leaf_first(leaf: x509.Certificate, bundle: list[x509.Certificate]) -> list[tuple[str, x509.Certificate]]:
    named = [(f"cabundle[{position}]", cert) for position, cert in enumerate(bundle)]
    return [("the signing certificate", leaf), *reversed(named)]


def _window(name: str, certificate: x509.Certificate) -> ValidityWindow:
    return ValidityWindow(name, certificate.not_valid_before_utc, certificate.not_valid_after_utc)


def _verify_path(
    leaf: x509.Certificate,
    root: x509.Certificate,
    intermediates: list[x509.Certificate],
    instant: datetime,
) -> None:
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store([root]))
        .time(instant)
        .extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=_signing_certificate_policy(),
        )
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, intermediates)
    except verification.VerificationError as exc:
        raise attestation_failure(
            "invalid-chain",
            f"the signing certificate does not chain to the trusted root through cabundle "
            f"({exc}). The document is forged or corrupted.",
        ) from exc


def _signing_certificate_policy() -> verification.ExtensionPolicy:
    """Nitro signing certificates carry no SAN/EKU; require only what signing needs."""
    agnostic = verification.Criticality.AGNOSTIC
    return (
        verification.ExtensionPolicy.permit_all()
        .may_be_present(x509.BasicConstraints, agnostic, _must_not_be_ca)
        .may_be_present(x509.KeyUsage, agnostic, _must_allow_signing)
    )


def _must_not_be_ca(
    _policy: verification.Policy,
    _certificate: x509.Certificate,
    constraints: x509.BasicConstraints | None,
) -> None:
    if constraints is not None and constraints.ca:
        raise AttestationError("the signing certificate is a CA certificate", kind="invalid-chain")


def _must_allow_signing(
    _policy: verification.Policy,
    _certificate: x509.Certificate,
    usage: x509.KeyUsage | None,
) -> None:
    if usage is not None and not usage.digital_signature:
        raise AttestationError("the signing certificate's key usage forbids signatures", kind="invalid-chain")

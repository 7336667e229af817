"""Seed-era Cages: the attestation document hex-encoded in a DNS SubjectAltName label.

The certificate carries ``<hex(COSE_Sign1)>.<name>.<app>.cages.evervault.com``; the rule (the
reference validator's) is: take the longest DNS SAN, hex-decode its first label.
"""

from __future__ import annotations

import binascii

from cryptography import x509

from evervault.domain.attestation.failures import attestation_failure


def document_from_certificate(certificate: x509.Certificate) -> bytes:
    """Return the COSE_Sign1 bytes embedded in the certificate's SAN."""
    label = _first_label_of_longest(_dns_names(certificate))
    if not label:
        raise attestation_failure(
            "no-attestation-doc",
            "the certificate has no DNS SubjectAltName carrying an attestation document. "
            "Check that the host is a seed-era Cage, or fetch /.well-known/attestation instead.",
        )
    try:
        return binascii.unhexlify(label)
    except (binascii.Error, ValueError) as exc:
        raise attestation_failure(
            "malformed-san-hex",
            f"the longest SAN label ({len(label)} characters) is not valid hex: {exc}.",
        ) from exc


def _dns_names(certificate: x509.Certificate) -> list[str]:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    except ValueError as exc:
        raise attestation_failure(
            "malformed-cert", f"the certificate's extensions cannot be parsed ({exc})."
        ) from exc
    return list(extension.value.get_values_for_type(x509.DNSName))


def _first_label_of_longest(names: list[str]) -> str:
    return max(names, key=len, default="").split(".", 1)[0]


MAX_DNS_LABEL_LENGTH = 63


def has_embedded_document(certificate: x509.Certificate) -> bool:
    """True when the longest SAN starts with a label too long for DNS: an embedded document."""
    return len(_first_label_of_longest(_dns_names(certificate))) > MAX_DNS_LABEL_LENGTH

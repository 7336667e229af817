"""The chain: pinned root, validity windows (inclusive), CA constraints, linkage."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import cbor2
import pytest
from cryptography.hazmat.primitives import serialization

from evervault.domain.attestation import AWS_NITRO_ROOT_SHA256, NitroTrustRoot
from evervault.domain.attestation.chain import verify_chain
from evervault.domain.attestation.document import AttestationDocument, parse_document
from evervault.domain.attestation.verifier import verify_document
from evervault.domain.errors import AttestationError, InvalidArgumentError
from evervault.local.enclave import IssuedCertificate, issue_certificate, make_nitro_like_pki
from tests.attestation.conftest import NOW, SignedFixture, make_signed


def _document(signed: SignedFixture) -> AttestationDocument:
    return parse_document(cbor2.loads(signed.document)[2])


def _kind(document: AttestationDocument, instant: datetime, root: NitroTrustRoot) -> str:
    with pytest.raises(AttestationError) as caught:
        verify_chain(document, instant, root)
    return caught.value.kind


def test_valid_chain_returns_the_signing_certificate(signed: SignedFixture) -> None:
    leaf = verify_chain(_document(signed), NOW, signed.trust_root)
    assert leaf == signed.pki.signing.certificate


def test_default_trust_root_is_the_pinned_aws_root(signed: SignedFixture) -> None:
    assert NitroTrustRoot.aws().sha256_fingerprint == AWS_NITRO_ROOT_SHA256
    assert _kind(_document(signed), NOW, NitroTrustRoot.aws()) == "untrusted-chain"


def test_test_only_root_says_so_in_its_repr(signed: SignedFixture) -> None:
    assert "TEST-ONLY" in repr(signed.trust_root)
    assert "AWS" in repr(NitroTrustRoot.aws())


def test_test_only_root_accepts_der_and_parsed_certificates(signed: SignedFixture) -> None:
    root = signed.pki.root.certificate
    from_der = NitroTrustRoot.for_testing_only(root.public_bytes(serialization.Encoding.DER))
    assert from_der == NitroTrustRoot.for_testing_only(root) == signed.trust_root


def test_unparsable_test_root_is_malformed_cert() -> None:
    with pytest.raises(AttestationError) as caught:
        NitroTrustRoot.for_testing_only(b"not a certificate")
    assert caught.value.kind == "malformed-cert"


def test_another_pkis_root_is_untrusted(signed: SignedFixture) -> None:
    other = make_signed()
    assert _kind(_document(signed), NOW, other.trust_root) == "untrusted-chain"


def test_validity_is_inclusive_at_both_ends() -> None:
    start, end = NOW - timedelta(hours=1), NOW + timedelta(hours=2)
    fixture = make_signed(make_nitro_like_pki(NOW, signing_validity=(start, end)))
    document = _document(fixture)
    for instant in (start, end):
        verify_chain(document, instant, fixture.trust_root)
    assert _kind(document, end + timedelta(seconds=1), fixture.trust_root) == "expired"
    assert _kind(document, start - timedelta(seconds=1), fixture.trust_root) == "not-yet-valid"


def test_an_expired_intermediate_is_reported(signed: SignedFixture) -> None:
    # Intermediates live 7 days, the root 30 years: 10 days on only intermediates expired
    # (the 3-hour signing certificate too, and it is reported first).
    with pytest.raises(AttestationError) as caught:
        verify_chain(_document(signed), NOW + timedelta(days=10), signed.trust_root)
    assert caught.value.kind == "expired"
    assert "signing certificate" in str(caught.value)


def test_naive_instants_are_refused(signed: SignedFixture) -> None:
    with pytest.raises(InvalidArgumentError):
        verify_chain(_document(signed), NOW.replace(tzinfo=None), signed.trust_root)


def _with_bundle(document: AttestationDocument, *bundle: bytes) -> AttestationDocument:
    return dataclasses.replace(document, cabundle=bundle)


def test_missing_intermediate_breaks_the_chain(signed: SignedFixture) -> None:
    document = _document(signed)
    broken = _with_bundle(document, document.cabundle[0], document.cabundle[2])
    assert _kind(broken, NOW, signed.trust_root) == "invalid-chain"


def test_intermediate_from_another_pki_breaks_the_chain(signed: SignedFixture) -> None:
    document = _document(signed)
    stranger = make_nitro_like_pki(NOW).intermediates[0].der
    broken = _with_bundle(document, document.cabundle[0], stranger, document.cabundle[2])
    assert _kind(broken, NOW, signed.trust_root) == "invalid-chain"


def test_a_ca_certificate_cannot_sign_documents(signed: SignedFixture) -> None:
    issuer = signed.pki.intermediates[-1]
    window = (NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    ca_leaf = issue_certificate("rogue-ca-leaf", issuer, window, ca_path_length=0)
    document = dataclasses.replace(_document(signed), certificate=ca_leaf.der)
    assert _kind(document, NOW, signed.trust_root) == "invalid-chain"


def test_path_length_constraints_are_honoured(signed: SignedFixture) -> None:
    # The last intermediate has pathLen 0: a CA below it may not issue the signing cert.
    last = signed.pki.intermediates[-1]
    window = (NOW - timedelta(hours=1), NOW + timedelta(days=1))
    extra_ca = issue_certificate("too-deep-ca", last, window, ca_path_length=0)
    leaf: IssuedCertificate = issue_certificate("deep-leaf", extra_ca, window, end_entity=True)
    document = dataclasses.replace(
        _document(signed), certificate=leaf.der, cabundle=(*_document(signed).cabundle, extra_ca.der)
    )
    assert _kind(document, NOW, signed.trust_root) == "invalid-chain"


def test_garbage_certificate_bytes_are_malformed_cert(signed: SignedFixture) -> None:
    document = dataclasses.replace(_document(signed), certificate=b"\x30\x03\x02\x01\x01")
    assert _kind(document, NOW, signed.trust_root) == "malformed-cert"


def test_full_document_check_order_chain_before_signature(signed: SignedFixture) -> None:
    with pytest.raises(AttestationError) as caught:
        verify_document(signed.document, at=NOW + timedelta(days=1), trust_root=signed.trust_root)
    assert caught.value.kind == "expired"

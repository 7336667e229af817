"""Hypothesis: any byte flip, truncation or insertion of a valid document or certificate is
rejected with a typed ``AttestationError`` - no other exception ever escapes the verifier.

Two mutations are not rejections, by design, and are checked precisely instead:
* prefixing the document with ``0xd2`` yields the CBOR tag-18 form of the same COSE_Sign1,
  which is accepted (COSE allows both forms);
* a certificate mutation that leaves both its public key and its embedded document intact
  (e.g. inside the TLS CA's own signature) does not change what attestation vouches for;
  the TLS layer, not attestation, verifies that signature on a real connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evervault.domain.attestation import (
    NitroTrustRoot,
    UnsafeSkipPcrChecks,
    document_from_certificate,
    verify,
)
from evervault.domain.attestation.certificates import load_certificate, subject_public_key_info
from evervault.domain.errors import AttestationError
from evervault.local.enclave import EnclaveSimulator
from tests.attestation.support import BETA_DER, BETA_INSTANT, at, ga_vector, require_vectors

TAG_18 = b"\xd2"


@dataclass(frozen=True)
class Mutation:
    kind: str
    position: int
    value: int

    def apply(self, data: bytes) -> bytes:
        position = self.position % (len(data) + 1)
        if self.kind == "flip":
            position %= len(data)
            flipped = data[position] ^ (self.value or 1)
            return data[:position] + bytes([flipped]) + data[position + 1 :]
        if self.kind == "truncate":
            return data[: position % len(data)]
        return data[:position] + bytes([self.value]) + data[position:]


mutations = st.builds(
    Mutation,
    kind=st.sampled_from(["flip", "truncate", "insert"]),
    position=st.integers(min_value=0, max_value=1 << 16),
    value=st.integers(min_value=0, max_value=255),
)
_settings = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@dataclass(frozen=True)
class Subject:
    document: bytes
    certificate_der: bytes
    instant: datetime
    trust_root: NitroTrustRoot


@pytest.fixture(scope="module")
def simulated() -> Subject:
    simulator = EnclaveSimulator()
    return Subject(
        document=simulator.document,
        certificate_der=simulator.tls_certificate.public_bytes(serialization.Encoding.DER),
        # Ten minutes into the signing certificate's three-hour window.
        instant=simulator.pki.signing.certificate.not_valid_before_utc + timedelta(minutes=10),
        trust_root=NitroTrustRoot.for_testing_only(simulator.root_certificate_pem),
    )


def _attest_document(subject: Subject, document: bytes) -> None:
    verify(
        document,
        subject.certificate_der,
        at=subject.instant,
        policy=UnsafeSkipPcrChecks(),
        trust_root=subject.trust_root,
    )


def _attest_certificate(subject: Subject, certificate_der: bytes) -> None:
    certificate = load_certificate(certificate_der)
    document = document_from_certificate(certificate)
    verify(
        document, certificate, at=subject.instant, policy=UnsafeSkipPcrChecks(), trust_root=subject.trust_root
    )


def _check_document_mutation(subject: Subject, mutation: Mutation) -> None:
    mutated = mutation.apply(subject.document)
    try:
        _attest_document(subject, mutated)
    except AttestationError:
        return
    assert mutated == TAG_18 + subject.document, f"{mutation} was accepted"


def _check_certificate_mutation(subject: Subject, mutation: Mutation) -> None:
    mutated = mutation.apply(subject.certificate_der)
    try:
        _attest_certificate(subject, mutated)
    except AttestationError:
        return
    original, accepted = load_certificate(subject.certificate_der), load_certificate(mutated)
    assert subject_public_key_info(accepted) == subject_public_key_info(original)
    assert document_from_certificate(accepted) == document_from_certificate(original)


def test_unmutated_subjects_verify(simulated: Subject) -> None:
    _attest_document(simulated, simulated.document)
    _attest_certificate(simulated, simulated.certificate_der)
    _attest_document(simulated, TAG_18 + simulated.document)


@_settings
@given(mutation=mutations)
def test_mutated_simulator_documents_are_rejected(simulated: Subject, mutation: Mutation) -> None:
    _check_document_mutation(simulated, mutation)


@_settings
@given(mutation=mutations)
def test_mutated_simulator_certificates_are_rejected(simulated: Subject, mutation: Mutation) -> None:
    _check_certificate_mutation(simulated, mutation)


@pytest.fixture(scope="module")
def ga() -> Subject:
    vector = ga_vector()
    return Subject(vector.document, vector.certificate_der, vector.instant, NitroTrustRoot.aws())


@pytest.fixture(scope="module")
def beta() -> Subject:
    certificate = (require_vectors() / BETA_DER).read_bytes()
    return Subject(b"", certificate, at(BETA_INSTANT), NitroTrustRoot.aws())


@_settings
@given(mutation=mutations)
def test_mutated_real_aws_documents_are_rejected(ga: Subject, mutation: Mutation) -> None:
    _check_document_mutation(ga, mutation)


@_settings
@given(mutation=mutations)
def test_mutated_real_seed_certificates_are_rejected(beta: Subject, mutation: Mutation) -> None:
    _check_certificate_mutation(beta, mutation)


def test_unknown_certificate_version_is_malformed_cert(simulated: Subject) -> None:
    """Regression: cryptography raises InvalidVersion (not a ValueError) for this one."""
    version_v3 = bytes.fromhex("a003020102")
    assert version_v3 in simulated.certificate_der
    mutated = simulated.certificate_der.replace(version_v3, bytes.fromhex("a003020158"), 1)
    with pytest.raises(AttestationError) as caught:
        _attest_certificate(simulated, mutated)
    assert caught.value.kind == "malformed-cert"

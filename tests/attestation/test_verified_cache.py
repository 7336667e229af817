"""The verified-document cache never accepts what the uncached verifier rejects.

A hit skips only the time-independent checks (structure, chain signatures and constraints,
COSE signature); the certificates' validity windows are checked again at every instant, in
the same order, so expiry between two connections is caught exactly as without a cache.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evervault.domain.attestation import NitroTrustRoot, VerifiedDocuments, pcr_policy_from, verify
from evervault.domain.attestation.verifier import verify_document
from evervault.domain.errors import AttestationError, InvalidArgumentError
from evervault.local.enclave import simulated_pcrs
from tests.attestation.conftest import NOW, SignedFixture, make_signed, tls_certificate_for
from tests.attestation.support import ga_vector


def _outcome(signed: SignedFixture, at: datetime, cache: VerifiedDocuments | None) -> str:
    try:
        verify_document(signed.document, at=at, trust_root=signed.trust_root, cache=cache)
    except AttestationError as failure:
        return failure.kind
    return "valid"


def _signing_window(signed: SignedFixture) -> tuple[datetime, datetime]:
    certificate = signed.pki.signing.certificate
    return certificate.not_valid_before_utc, certificate.not_valid_after_utc


def test_a_hit_returns_the_same_document_without_reverifying(signed: SignedFixture) -> None:
    cache = VerifiedDocuments()
    first = verify_document(signed.document, at=NOW, trust_root=signed.trust_root, cache=cache)
    assert len(cache) == 1
    again = verify_document(signed.document, at=NOW, trust_root=signed.trust_root, cache=cache)
    assert again is first


def test_expiry_between_two_connections_is_caught(signed: SignedFixture) -> None:
    cache = VerifiedDocuments()
    _, not_after = _signing_window(signed)
    assert _outcome(signed, NOW, cache) == "valid"
    later = not_after + timedelta(seconds=1)
    assert _outcome(signed, later, cache) == "expired" == _outcome(signed, later, None)
    # Inclusive at the end, as uncached.
    assert _outcome(signed, not_after, cache) == "valid" == _outcome(signed, not_after, None)


def test_not_yet_valid_is_caught_on_a_hit(signed: SignedFixture) -> None:
    cache = VerifiedDocuments()
    not_before, _ = _signing_window(signed)
    assert _outcome(signed, NOW, cache) == "valid"
    earlier = not_before - timedelta(seconds=1)
    assert _outcome(signed, earlier, cache) == "not-yet-valid" == _outcome(signed, earlier, None)


def test_a_failed_document_is_never_cached(signed: SignedFixture) -> None:
    cache = VerifiedDocuments()
    forged = bytearray(signed.document)
    forged[-1] ^= 0x01  # the last byte of the COSE signature
    for _ in range(2):
        with pytest.raises(AttestationError) as caught:
            verify_document(bytes(forged), at=NOW, trust_root=signed.trust_root, cache=cache)
        assert caught.value.kind == "bad-signature"
    assert len(cache) == 0


def test_a_document_one_byte_away_from_a_cached_one_is_verified_in_full(signed: SignedFixture) -> None:
    cache = VerifiedDocuments()
    assert _outcome(signed, NOW, cache) == "valid"
    forged = bytearray(signed.document)
    forged[-1] ^= 0x01
    with pytest.raises(AttestationError) as caught:
        verify_document(bytes(forged), at=NOW, trust_root=signed.trust_root, cache=cache)
    assert caught.value.kind == "bad-signature"


def test_the_trust_root_is_part_of_the_key(signed: SignedFixture) -> None:
    cache = VerifiedDocuments()
    assert _outcome(signed, NOW, cache) == "valid"
    with pytest.raises(AttestationError) as caught:
        verify_document(signed.document, at=NOW, trust_root=NitroTrustRoot.aws(), cache=cache)
    assert caught.value.kind == "untrusted-chain"


def test_binding_and_pcrs_are_checked_on_every_hit(signed: SignedFixture) -> None:
    cache = VerifiedDocuments()
    own = tls_certificate_for(signed.tls_key)
    good = pcr_policy_from({"pcr_8": simulated_pcrs()[8].hex()})
    verify(signed.document, own, at=NOW, policy=good, trust_root=signed.trust_root, cache=cache)
    other = make_signed(signed.pki)  # same PKI, another TLS key
    with pytest.raises(AttestationError) as wrong_key:
        verify(signed.document, tls_certificate_for(other.tls_key), at=NOW, policy=good,
               trust_root=signed.trust_root, cache=cache)
    assert wrong_key.value.kind == "user-data-mismatch"
    bad = pcr_policy_from({"pcr_8": "ab" * 48})
    with pytest.raises(AttestationError) as wrong_pcrs:
        verify(signed.document, own, at=NOW, policy=bad, trust_root=signed.trust_root, cache=cache)
    assert wrong_pcrs.value.kind == "pcr-mismatch"


def test_the_cache_is_bounded() -> None:
    cache = VerifiedDocuments(max_entries=3)
    fixtures = [make_signed() for _ in range(5)]
    for fixture in fixtures:
        verify_document(fixture.document, at=NOW, trust_root=fixture.trust_root, cache=cache)
        assert len(cache) <= 3
    assert len(cache) == 3
    # The newest are kept, the oldest evicted.
    assert cache.get(fixtures[-1].trust_root, fixtures[-1].document) is not None
    assert cache.get(fixtures[0].trust_root, fixtures[0].document) is None


def test_a_cache_needs_room_for_one_entry() -> None:
    with pytest.raises(InvalidArgumentError):
        VerifiedDocuments(max_entries=0)


def test_a_naive_instant_is_refused_on_a_hit_too(signed: SignedFixture) -> None:
    cache = VerifiedDocuments()
    assert _outcome(signed, NOW, cache) == "valid"
    with pytest.raises(InvalidArgumentError):
        naive = NOW.replace(tzinfo=None)
        verify_document(signed.document, at=naive, trust_root=signed.trust_root, cache=cache)


SECONDS_AROUND = 40 * 24 * 3600  # wider than every certificate of the simulator's PKI


@settings(max_examples=60)
@given(offsets=st.lists(st.integers(-SECONDS_AROUND, SECONDS_AROUND), min_size=1, max_size=6))
def test_cached_and_uncached_agree_at_any_instants(signed: SignedFixture, offsets: list[int]) -> None:
    cache = VerifiedDocuments()
    _outcome(signed, NOW, cache)  # warm
    for offset in offsets:
        instant = NOW + timedelta(seconds=offset)
        assert _outcome(signed, instant, cache) == _outcome(signed, instant, None)


def test_real_aws_document_hit_keeps_every_check() -> None:
    vector = ga_vector()
    cache = VerifiedDocuments()
    zero = "0" * 96
    policy = pcr_policy_from({"pcr_0": zero, "pcr_1": zero, "pcr_2": zero, "pcr_8": zero})
    verify(vector.document, vector.certificate_der, at=vector.instant, policy=policy, cache=cache)
    assert len(cache) == 1
    with pytest.raises(AttestationError) as caught:
        verify(vector.document, vector.certificate_der, at=vector.instant + timedelta(hours=3),
               policy=policy, cache=cache)
    assert caught.value.kind == "expired"

"""The application layer: PCR policy registry (providers, polling) and the attestation gate."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Literal

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given

from evervault.domain.attestation import AnyOf, PCRs, UnsafeSkipPcrChecks
from evervault.domain.attestation.hosts import EnclaveEndpoint
from evervault.domain.errors import AttestationError, InvalidArgumentError, InvalidPCRsError
from evervault.local.enclave import expected_pcrs_of, sign_attestation_document, simulated_pcrs
from evervault.services.attestation import (
    AttestationGate,
    CertificateSanDocuments,
    PcrPolicyRegistry,
    WellKnownDocuments,
    provided_policy,
    static_policy,
)
from tests.attestation.conftest import NOW, SignedFixture, make_signed, spki, tls_certificate_for
from tests.attestation.pcr_strategies import CARELESS_VALUES

GOOD = expected_pcrs_of(simulated_pcrs())
ZERO = "00" * 48
HOST = "hello.app-1.enclave.evervault.com"


class FixedClock:
    def time(self) -> float:
        return NOW.timestamp()

    def monotonic(self) -> float:
        return 0.0


# --- PcrPolicyRegistry -----------------------------------------------------------------


def test_static_policies_by_name() -> None:
    registry = PcrPolicyRegistry({"a": GOOD, "b": [{"pcr_8": ZERO}, {"pcr_0": ZERO}]}, poll_interval=60)
    assert registry.policy_for("a") == AnyOf((PCRs(**GOOD),))
    assert len(registry.policy_for("b").alternatives) == 2
    assert registry.names == frozenset({"a", "b"})


def test_unconfigured_names_fail_closed_with_a_hint() -> None:
    registry = PcrPolicyRegistry({"a": {}}, poll_interval=60)
    with pytest.raises(AttestationError) as caught:
        registry.policy_for("other")
    assert caught.value.kind == "pcr-mismatch"
    assert "'other'" in str(caught.value) and "{'other': UnsafeSkipPcrChecks()}" in str(caught.value)
    with pytest.raises(AttestationError):
        PcrPolicyRegistry(None, poll_interval=60).policy_for("a")


def test_top_level_list_of_dicts_rolls_over_per_name() -> None:
    registry = PcrPolicyRegistry([{"a": {"pcr_8": ZERO}}, {"a": GOOD}], poll_interval=60)
    assert registry.policy_for("a").alternatives == (PCRs(pcr_8=ZERO), PCRs(**GOOD))


@pytest.mark.parametrize("bad", [["not a mapping"], "a", 42])
def test_unusable_attestation_data_is_refused(bad: object) -> None:
    with pytest.raises(InvalidArgumentError):
        PcrPolicyRegistry(bad, poll_interval=60)


def test_invalid_static_pcrs_are_refused_at_construction() -> None:
    with pytest.raises(InvalidPCRsError):
        PcrPolicyRegistry({"a": {"pcr_8": "nope"}}, poll_interval=60)


# --- fail closed: values that check nothing ---------------------------------------------------


@given(CARELESS_VALUES)
def test_static_values_built_from_empties_are_refused_except_the_published_opt_out(value: object) -> None:
    """Only exactly ``{}`` (the published SDK's opt-out) skips PCR checks, and it says so by type."""
    if isinstance(value, dict) and not value:
        assert isinstance(static_policy(value), UnsafeSkipPcrChecks)
        return
    with pytest.raises(InvalidPCRsError):
        static_policy(value)


@given(CARELESS_VALUES)
def test_provider_answers_built_from_empties_are_always_refused(value: object) -> None:
    with pytest.raises(InvalidPCRsError):
        provided_policy(value)


def test_a_provider_cannot_answer_the_opt_out() -> None:
    with pytest.raises(InvalidPCRsError, match="cannot switch PCR checks off"):
        provided_policy(UnsafeSkipPcrChecks())


@pytest.mark.parametrize(
    "data",
    [
        [{"a": {}}, {"a": GOOD}],
        [{"a": GOOD}, {"a": UnsafeSkipPcrChecks()}],
        [{"a": UnsafeSkipPcrChecks()}, {"a": {}}],
    ],
    ids=["legacy-then-set", "set-then-opt-out", "opt-out-twice"],
)
def test_rolling_over_to_no_check_is_refused(data: object) -> None:
    with pytest.raises(InvalidPCRsError, match="listed twice, once without PCR checks"):
        PcrPolicyRegistry(data, poll_interval=60)


def test_every_registry_without_pcr_checks_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="evervault.attestation"):
        for _ in range(3):
            registry = PcrPolicyRegistry({"a": UnsafeSkipPcrChecks(), "b": {}, "c": GOOD}, poll_interval=60)
    assert isinstance(registry.policy_for("a"), UnsafeSkipPcrChecks)
    assert isinstance(registry.policy_for("b"), UnsafeSkipPcrChecks)
    messages = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(messages) == 6
    assert sum("'a'" in message for message in messages) == 3
    assert sum("'b'" in message and "published SDK" in message for message in messages) == 3
    assert not any("'c'" in message for message in messages)


def test_a_provider_never_worked_message_carries_only_our_own_detail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret_url = "https://user:hunter2@registry.example/pcrs"
    with caplog.at_level(logging.WARNING, logger="evervault.attestation"):
        failing = PcrPolicyRegistry({"a": ScriptedProvider([RuntimeError(secret_url)])}, poll_interval=60)
        careless = PcrPolicyRegistry({"a": ScriptedProvider([{"pcr_8": None}])}, poll_interval=60)
    with pytest.raises(AttestationError) as failed:
        failing.policy_for("a")
    with pytest.raises(AttestationError) as refused:
        careless.policy_for("a")
    assert "hunter2" not in str(failed.value) and "hunter2" not in caplog.text
    assert "RuntimeError" in str(failed.value)
    assert "['pcr_8'] are None" in str(refused.value)


@pytest.mark.parametrize("interval", [0, -1, float("nan")])
def test_poll_interval_must_be_positive(interval: float) -> None:
    with pytest.raises(InvalidArgumentError):
        PcrPolicyRegistry({}, poll_interval=interval)


@dataclass
class ScriptedProvider:
    """Returns queued values (or raises queued exceptions) and signals each call."""

    results: list[object]
    calls: int = 0
    called: threading.Event = field(default_factory=threading.Event)

    def __call__(self) -> object:
        self.calls += 1
        self.called.set()
        result = self.results[min(self.calls, len(self.results)) - 1]
        if isinstance(result, Exception):
            raise result
        return result


def test_provider_value_is_used_and_failures_keep_the_last_good_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = ScriptedProvider([GOOD, RuntimeError("registry down"), {"pcr_8": "bad hex"}])
    registry = PcrPolicyRegistry({"a": provider}, poll_interval=60)
    assert registry.policy_for("a") == AnyOf((PCRs(**GOOD),))
    with caplog.at_level(logging.WARNING, logger="evervault.attestation"):
        registry.poll_once()
        registry.poll_once()
    assert registry.policy_for("a") == AnyOf((PCRs(**GOOD),))
    assert provider.calls == 3
    assert [r.getMessage().count("keeping its last good value") for r in caplog.records] == [1, 1]


def test_a_provider_that_never_worked_fails_closed_at_connection_time() -> None:
    provider = ScriptedProvider([RuntimeError("down"), RuntimeError("still down"), [GOOD]])
    registry = PcrPolicyRegistry({"a": provider}, poll_interval=60)
    with pytest.raises(AttestationError) as caught:
        registry.policy_for("a")
    assert caught.value.kind == "pcr-mismatch" and "RuntimeError" in str(caught.value)
    assert registry.policy_for("a") == AnyOf((PCRs(**GOOD),))


def test_a_provider_answering_no_pcr_sets_never_switches_the_check_off() -> None:
    provider = ScriptedProvider([[], [], GOOD, []])  # construction, first use, second use, poll
    registry = PcrPolicyRegistry({"a": provider}, poll_interval=60)
    with pytest.raises(AttestationError) as caught:
        registry.policy_for("a")  # never produced PCRs: fail closed, not "any PCRs"
    assert caught.value.kind == "pcr-mismatch"
    assert registry.policy_for("a") == AnyOf((PCRs(**GOOD),))
    registry.poll_once()  # [] again: the last good value stays
    assert registry.policy_for("a") == AnyOf((PCRs(**GOOD),))


def test_polling_thread_polls_survives_errors_and_stops() -> None:
    provider = ScriptedProvider([GOOD, RuntimeError("flaky"), {"pcr_8": ZERO}])
    registry = PcrPolicyRegistry({"a": provider}, poll_interval=0.001)
    registry.start_polling()
    while provider.calls < 3:
        provider.called.clear()
        assert provider.called.wait(30), "the poller stopped polling"
    registry.stop()
    assert registry.policy_for("a") == AnyOf((PCRs(pcr_8=ZERO),))
    threads = [t for t in threading.enumerate() if t.name == "evervault-pcr-provider-poller"]
    assert threads == []


def test_no_thread_without_providers() -> None:
    registry = PcrPolicyRegistry({"a": GOOD}, poll_interval=60)
    registry.start_polling()
    assert registry._thread is None
    registry.stop()


# --- documents and the gate ---------------------------------------------------------------


@dataclass
class CountingFetch:
    """A well-known fetch over a list of documents (the last one repeats)."""

    documents: list[bytes]
    urls: list[str] = field(default_factory=list)

    def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        return self.documents[min(len(self.urls), len(self.documents)) - 1]


def _gate(signed: SignedFixture, documents: object, data: object = None) -> AttestationGate:
    return AttestationGate(
        EnclaveEndpoint.enclaves("app_1"),
        PcrPolicyRegistry(data if data is not None else {"hello": GOOD}, poll_interval=60),
        documents,  # type: ignore[arg-type]
        trust_root=signed.trust_root,
        clock=FixedClock(),
    )


@dataclass(frozen=True)
class PresentedCertificate:
    """A TLS session stand-in: the certificate a server presented (or None)."""

    der: bytes | None

    def getpeercert(self, binary_form: Literal[True]) -> bytes | None:
        return self.der


def _der(signed: SignedFixture) -> PresentedCertificate:
    der = tls_certificate_for(signed.tls_key).public_bytes(serialization.Encoding.DER)
    return PresentedCertificate(der)


def test_well_known_documents_are_cached_per_host(signed: SignedFixture) -> None:
    fetch = CountingFetch([signed.document])
    gate = _gate(signed, WellKnownDocuments(fetch))
    for _ in range(3):
        assert gate.attest(HOST, 443, _der(signed)).user_data == signed.tls_spki
    assert fetch.urls == [f"https://{HOST}/.well-known/attestation"]


def test_a_failing_cached_document_is_refreshed_once_and_the_fresh_one_kept(
    signed: SignedFixture,
) -> None:
    stale = make_signed().document  # another PKI: untrusted under this gate's root
    fetch = CountingFetch([stale, signed.document])
    gate = _gate(signed, WellKnownDocuments(fetch))
    gate.attest(HOST, 443, _der(signed))
    gate.attest(HOST, 443, _der(signed))
    assert len(fetch.urls) == 2  # the refreshed document was stored, not re-downloaded


def test_refresh_happens_only_once(signed: SignedFixture) -> None:
    other_key = ec.generate_private_key(ec.SECP384R1())
    wrong_binding = sign_attestation_document(
        signed.pki, pcrs=simulated_pcrs(), user_data=spki(other_key), timestamp_ms=1
    )
    fetch = CountingFetch([wrong_binding])
    with pytest.raises(AttestationError) as caught:
        _gate(signed, WellKnownDocuments(fetch)).attest(HOST, 443, _der(signed))
    assert caught.value.kind == "user-data-mismatch"
    assert len(fetch.urls) == 2


def test_gate_checks_the_policy_of_the_named_enclave(signed: SignedFixture) -> None:
    gate = _gate(signed, WellKnownDocuments(CountingFetch([signed.document])), {"hello": {"pcr_0": ZERO}})
    with pytest.raises(AttestationError) as caught:
        gate.attest(HOST, 443, _der(signed))
    assert caught.value.kind == "pcr-mismatch"


def test_unconfigured_enclave_is_refused_before_any_fetch(signed: SignedFixture) -> None:
    fetch = CountingFetch([signed.document])
    gate = _gate(signed, WellKnownDocuments(fetch), {"another": {}})
    with pytest.raises(AttestationError):
        gate.attest(HOST, 443, _der(signed))
    assert fetch.urls == []


@pytest.mark.parametrize("certificate", [None, b""])
def test_a_missing_peer_certificate_is_refused(signed: SignedFixture, certificate: bytes | None) -> None:
    gate = _gate(signed, WellKnownDocuments(CountingFetch([signed.document])))
    with pytest.raises(AttestationError) as caught:
        gate.attest(HOST, 443, PresentedCertificate(certificate))
    assert caught.value.kind == "malformed-cert"


def test_certificate_documents_are_not_refreshed(signed: SignedFixture) -> None:
    source = CertificateSanDocuments()
    assert source.refreshable is False
    gate = _gate(signed, source)
    with pytest.raises(AttestationError) as caught:
        gate.attest(HOST, 443, _der(signed))  # this stand-in certificate has no SAN
    assert caught.value.kind == "no-attestation-doc"


def test_covers_delegates_to_the_endpoint(signed: SignedFixture) -> None:
    gate = _gate(signed, CertificateSanDocuments())
    assert gate.covers(HOST) and not gate.covers("example.com")
    gate.close()


def test_the_opt_out_class_without_parentheses_is_no_provider() -> None:
    with pytest.raises(InvalidPCRsError, match=r"UnsafeSkipPcrChecks\(\), not the class"):
        PcrPolicyRegistry({"a": UnsafeSkipPcrChecks}, poll_interval=60)
